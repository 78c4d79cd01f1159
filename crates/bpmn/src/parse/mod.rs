//! Reading BPMN 2.0 XML in the Camunda 7 dialect into [`crate::model`] types.
//!
//! Parsing collects every problem it finds (with element ids) instead of stopping at the first, so
//! that a deployment or `check` reports them all together.

mod events;
mod extensions;
pub mod placeholders;

use std::collections::HashMap;

use roxmltree::{Document, Node};

use crate::error::{DeployError, Problem, ProblemKind};
use crate::expr::Expression;
use crate::model::{
    Definitions, Element, ElementIdx, ElementKind, GatewayKind, Process, SequenceFlow, TaskKind,
};

/// The BPMN 2.0 model namespace.
pub const BPMN_NS: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
/// The Camunda 7 extension namespace.
pub const CAMUNDA_NS: &str = "http://camunda.org/schema/1.0/bpmn";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Parses a BPMN file, returning its executable processes (with warnings about tolerated oddities)
/// or every problem found.
pub fn parse(xml: &str) -> Result<Definitions, DeployError> {
    let doc = Document::parse(xml).map_err(|e| DeployError {
        problems: vec![Problem {
            process: None,
            element: None,
            kind: ProblemKind::Xml(e.to_string()),
        }],
    })?;
    let root = doc.root_element();
    let mut problems = Vec::new();
    if !is_bpmn(root, "definitions") {
        problems.push(Problem {
            process: None,
            element: None,
            kind: ProblemKind::Structure("root element is not bpmn:definitions".into()),
        });
        return Err(DeployError { problems });
    }
    let globals = Globals::read(root);
    let mut processes = Vec::new();
    let mut warnings = Vec::new();
    for node in root.children().filter(|n| is_bpmn(*n, "process")) {
        if node.attribute("isExecutable") == Some("false") {
            continue;
        }
        let mut builder = Builder::new(node.attribute("id").unwrap_or_default(), &globals);
        builder.container(node, None);
        let (process, mut found, mut warned) = builder.finish(node);
        problems.append(&mut found);
        warnings.append(&mut warned);
        processes.push(process);
    }
    if processes.is_empty() && problems.is_empty() {
        problems.push(Problem {
            process: None,
            element: None,
            kind: ProblemKind::Structure("no executable process".into()),
        });
    }
    if problems.is_empty() {
        Ok(Definitions {
            processes,
            warnings,
        })
    } else {
        Err(DeployError { problems })
    }
}

pub(crate) fn is_bpmn(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(BPMN_NS)
}

pub(crate) fn camunda_attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute((CAMUNDA_NS, name))
}

fn text_of(node: Node<'_, '_>) -> String {
    node.text().unwrap_or_default().trim().to_owned()
}

/// Messages, errors and signals declared at the definitions level.
struct Globals {
    messages: HashMap<String, String>,
    errors: HashMap<String, (Option<String>, Option<String>)>,
    signals: HashMap<String, String>,
}

impl Globals {
    fn read(root: Node<'_, '_>) -> Self {
        let mut g = Globals {
            messages: HashMap::new(),
            errors: HashMap::new(),
            signals: HashMap::new(),
        };
        for n in root.children().filter(Node::is_element) {
            let Some(id) = n.attribute("id") else {
                continue;
            };
            let name = n.attribute("name").map(str::to_owned);
            if is_bpmn(n, "message") {
                g.messages
                    .insert(id.into(), name.unwrap_or_else(|| id.into()));
            } else if is_bpmn(n, "signal") {
                g.signals
                    .insert(id.into(), name.unwrap_or_else(|| id.into()));
            } else if is_bpmn(n, "error") {
                let code = n.attribute("errorCode").map(str::to_owned);
                let message = camunda_attr(n, "errorMessage").map(str::to_owned);
                g.errors.insert(id.into(), (code, message));
            }
        }
        g
    }
}

struct RawFlow {
    id: String,
    source: String,
    target: String,
    condition: Option<Expression>,
    container: Option<ElementIdx>,
}

/// Builds one process, collecting problems.
pub(crate) struct Builder<'g> {
    process_id: String,
    globals: &'g Globals,
    elements: Vec<Element>,
    by_id: HashMap<String, ElementIdx>,
    flows: Vec<RawFlow>,
    attached: Vec<(ElementIdx, String)>,
    defaults: Vec<(ElementIdx, String)>,
    pub(crate) problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl<'g> Builder<'g> {
    fn new(process_id: &str, globals: &'g Globals) -> Self {
        Builder {
            process_id: process_id.to_owned(),
            globals,
            elements: Vec::new(),
            by_id: HashMap::new(),
            flows: Vec::new(),
            attached: Vec::new(),
            defaults: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn problem(&mut self, element: Option<&str>, kind: ProblemKind) {
        self.problems.push(Problem {
            process: Some(self.process_id.clone()),
            element: element.map(str::to_owned),
            kind,
        });
    }

    /// Parses an expression text, recording a problem when it does not parse.
    pub(crate) fn expression(&mut self, element: &str, text: &str) -> Option<Expression> {
        match Expression::parse(text) {
            Ok(e) => Some(e),
            Err(error) => {
                self.problem(
                    Some(element),
                    ProblemKind::Expression {
                        source_text: text.to_owned(),
                        error,
                    },
                );
                None
            }
        }
    }

    fn container(&mut self, node: Node<'_, '_>, parent: Option<ElementIdx>) {
        for child in node.children().filter(Node::is_element) {
            if child.tag_name().namespace() != Some(BPMN_NS) {
                continue;
            }
            let tag = child.tag_name().name();
            match tag {
                "sequenceFlow" => self.sequence_flow(child, parent),
                "extensionElements"
                | "laneSet"
                | "textAnnotation"
                | "association"
                | "group"
                | "documentation"
                | "dataObject"
                | "dataObjectReference"
                | "dataStoreReference"
                | "incoming"
                | "outgoing"
                | "property"
                | "ioSpecification"
                | "multiInstanceLoopCharacteristics" => {}
                _ => self.element(child, tag, parent),
            }
        }
    }

    fn sequence_flow(&mut self, node: Node<'_, '_>, container: Option<ElementIdx>) {
        let id = node.attribute("id").unwrap_or_default().to_owned();
        let condition = node
            .children()
            .find(|n| is_bpmn(*n, "conditionExpression"))
            .and_then(|c| {
                if c.attribute((XSI_NS, "type"))
                    .is_some_and(|t| !t.ends_with("tFormalExpression"))
                {
                    self.problem(Some(&id), ProblemKind::Unsupported("condition type".into()));
                }
                if c.attribute("language").is_some() {
                    self.problem(
                        Some(&id),
                        ProblemKind::Unsupported("script condition".into()),
                    );
                }
                let text = text_of(c);
                self.expression(&id, &text)
            });
        let source = node.attribute("sourceRef").unwrap_or_default().to_owned();
        let target = node.attribute("targetRef").unwrap_or_default().to_owned();
        self.flows.push(RawFlow {
            id,
            source,
            target,
            condition,
            container,
        });
    }

    fn element(&mut self, node: Node<'_, '_>, tag: &str, parent: Option<ElementIdx>) {
        let id = node.attribute("id").unwrap_or_default().to_owned();
        if id.is_empty() {
            self.problem(None, ProblemKind::Missing("id attribute"));
            return;
        }
        let kind = match tag {
            "startEvent" => {
                let trigger = self.trigger(node, &id, false);
                ElementKind::StartEvent {
                    trigger,
                    interrupting: node.attribute("isInterrupting") != Some("false"),
                }
            }
            "endEvent" => ElementKind::EndEvent {
                trigger: self.trigger(node, &id, true),
            },
            "intermediateCatchEvent" => ElementKind::IntermediateCatchEvent {
                trigger: self.trigger(node, &id, false),
            },
            "intermediateThrowEvent" => ElementKind::IntermediateThrowEvent {
                trigger: self.trigger(node, &id, true),
            },
            "boundaryEvent" => {
                let trigger = self.trigger(node, &id, false);
                let idx = self.elements.len();
                self.attached.push((
                    idx,
                    node.attribute("attachedToRef")
                        .unwrap_or_default()
                        .to_owned(),
                ));
                ElementKind::BoundaryEvent {
                    attached_to: usize::MAX,
                    trigger,
                    cancel_activity: node.attribute("cancelActivity") != Some("false"),
                }
            }
            "serviceTask" | "sendTask" => {
                let implementation = self.implementation(node, &id);
                if tag == "serviceTask" {
                    ElementKind::Task(TaskKind::Service { implementation })
                } else {
                    ElementKind::Task(TaskKind::Send { implementation })
                }
            }
            "receiveTask" => {
                let message = self.message_ref(node, &id).unwrap_or_default();
                ElementKind::Task(TaskKind::Receive { message })
            }
            "userTask" => ElementKind::Task(TaskKind::User {
                form_key: camunda_attr(node, "formKey").map(str::to_owned),
                task_listeners: self.listeners(node, &id, "taskListener"),
            }),
            "task" => ElementKind::Task(TaskKind::Plain),
            "manualTask" => ElementKind::Task(TaskKind::Manual),
            "subProcess" => ElementKind::SubProcess {
                triggered_by_event: node.attribute("triggeredByEvent") == Some("true"),
            },
            "exclusiveGateway" => ElementKind::Gateway(GatewayKind::Exclusive),
            "parallelGateway" => ElementKind::Gateway(GatewayKind::Parallel),
            "inclusiveGateway" => ElementKind::Gateway(GatewayKind::Inclusive),
            "eventBasedGateway" => ElementKind::Gateway(GatewayKind::EventBased),
            other => {
                self.problem(Some(&id), ProblemKind::Unsupported(other.to_owned()));
                return;
            }
        };
        if let Some(default) = node.attribute("default") {
            self.defaults
                .push((self.elements.len(), default.to_owned()));
        }
        let mut element = Element {
            id: id.clone(),
            name: node.attribute("name").map(str::to_owned),
            kind,
            parent,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            default_flow: None,
            boundary_events: Vec::new(),
            async_before: camunda_attr(node, "asyncBefore") == Some("true")
                || camunda_attr(node, "async") == Some("true"),
            async_after: camunda_attr(node, "asyncAfter") == Some("true"),
            exclusive: camunda_attr(node, "exclusive") != Some("false"),
            retry_cycle: None,
            execution_listeners: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            multi_instance: None,
        };
        self.common_extensions(node, &mut element);
        if node
            .children()
            .any(|n| is_bpmn(n, "standardLoopCharacteristics"))
        {
            self.problem(
                Some(&id),
                ProblemKind::Unsupported("standardLoopCharacteristics".into()),
            );
        }
        element.multi_instance = node
            .children()
            .find(|n| is_bpmn(*n, "multiInstanceLoopCharacteristics"))
            .and_then(|n| self.multi_instance(n, &id));
        if self.by_id.contains_key(&id) {
            self.problem(
                Some(&id),
                ProblemKind::Invalid("duplicate element id".into()),
            );
        }
        let idx = self.elements.len();
        self.by_id.insert(id, idx);
        self.elements.push(element);
        if tag == "subProcess" {
            self.container(node, Some(idx));
        }
    }

    fn finish(mut self, node: Node<'_, '_>) -> (Process, Vec<Problem>, Vec<Problem>) {
        // sequence flows
        let mut flows = Vec::new();
        for raw in std::mem::take(&mut self.flows) {
            let source = self.by_id.get(&raw.source).copied();
            let target = self.by_id.get(&raw.target).copied();
            let (Some(source), Some(target)) = (source, target) else {
                let missing = if source.is_none() {
                    raw.source
                } else {
                    raw.target
                };
                self.problem(
                    Some(&raw.id),
                    ProblemKind::Dangling {
                        what: "flow node",
                        target: missing,
                    },
                );
                continue;
            };
            if self.elements[source].parent != raw.container
                || self.elements[target].parent != raw.container
            {
                self.problem(
                    Some(&raw.id),
                    ProblemKind::Invalid("sequence flow crosses a sub-process boundary".into()),
                );
                continue;
            }
            let idx = flows.len();
            self.elements[source].outgoing.push(idx);
            self.elements[target].incoming.push(idx);
            flows.push(SequenceFlow {
                id: raw.id,
                source,
                target,
                condition: raw.condition,
            });
        }
        for (idx, flow_id) in std::mem::take(&mut self.defaults) {
            match flows.iter().position(|f| f.id == flow_id) {
                Some(f) if flows[f].source == idx => self.elements[idx].default_flow = Some(f),
                _ => {
                    let id = self.elements[idx].id.clone();
                    self.problem(
                        Some(&id),
                        ProblemKind::Dangling {
                            what: "outgoing default flow",
                            target: flow_id,
                        },
                    );
                }
            }
        }
        for (idx, target) in std::mem::take(&mut self.attached) {
            let id = self.elements[idx].id.clone();
            match self.by_id.get(&target).copied() {
                Some(activity) if self.elements[activity].is_activity() => {
                    if let ElementKind::BoundaryEvent { attached_to, .. } =
                        &mut self.elements[idx].kind
                    {
                        *attached_to = activity;
                    }
                    self.elements[activity].boundary_events.push(idx);
                }
                _ => self.problem(
                    Some(&id),
                    ProblemKind::Dangling {
                        what: "activity (attachedToRef)",
                        target,
                    },
                ),
            }
        }
        let process = Process {
            id: self.process_id.clone(),
            name: node.attribute("name").map(str::to_owned),
            version_tag: camunda_attr(node, "versionTag").map(str::to_owned),
            elements: std::mem::take(&mut self.elements),
            flows,
            by_id: std::mem::take(&mut self.by_id),
        };
        let mut problems = std::mem::take(&mut self.problems);
        problems.extend(validate::structure(&process));
        (process, problems, self.warnings)
    }
}

mod validate;
