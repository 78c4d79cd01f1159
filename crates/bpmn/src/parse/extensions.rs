//! Camunda 7 extension elements and attributes.

use roxmltree::Node;

use super::{Builder, CAMUNDA_NS, camunda_attr, is_bpmn, text_of};
use crate::error::ProblemKind;
use crate::model::{
    Element, Field, FieldValue, Implementation, Listener, MultiInstance, Parameter,
};
use crate::timer;

fn is_camunda(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(CAMUNDA_NS)
}

fn extension_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(|n| is_bpmn(*n, "extensionElements"))
        .flat_map(|n| n.children())
        .filter(Node::is_element)
}

impl Builder<'_> {
    /// `camunda:class` plus `camunda:field`s; other implementation kinds are unsupported.
    pub(super) fn implementation(
        &mut self,
        node: Node<'_, '_>,
        id: &str,
    ) -> Option<Implementation> {
        for unsupported in ["expression", "delegateExpression", "type", "topic"] {
            if camunda_attr(node, unsupported).is_some() {
                self.problem(
                    Some(id),
                    ProblemKind::Unsupported(format!("camunda:{unsupported} implementation")),
                );
            }
        }
        let class = camunda_attr(node, "class")?;
        Some(Implementation {
            class: class.to_owned(),
            fields: self.fields(node, id),
        })
    }

    fn fields(&mut self, node: Node<'_, '_>, id: &str) -> Vec<Field> {
        let mut out = Vec::new();
        let field_nodes: Vec<Node<'_, '_>> =
            if is_camunda(node, "executionListener") || is_camunda(node, "taskListener") {
                node.children()
                    .filter(|n| is_camunda(*n, "field"))
                    .collect()
            } else {
                extension_children(node)
                    .filter(|n| is_camunda(*n, "field"))
                    .collect()
            };
        for f in field_nodes {
            let name = f.attribute("name").unwrap_or_default().to_owned();
            let value = if let Some(s) = f.attribute("stringValue") {
                FieldValue::String(s.to_owned())
            } else if let Some(e) = f.attribute("expression") {
                match self.expression(id, e) {
                    Some(e) => FieldValue::Expression(e),
                    None => continue,
                }
            } else if let Some(s) = f.children().find(|n| is_camunda(*n, "string")) {
                FieldValue::String(s.text().unwrap_or_default().to_owned())
            } else if let Some(e) = f.children().find(|n| is_camunda(*n, "expression")) {
                match self.expression(id, &text_of(e)) {
                    Some(e) => FieldValue::Expression(e),
                    None => continue,
                }
            } else {
                self.problem(Some(id), ProblemKind::Missing("value of camunda:field"));
                continue;
            };
            out.push(Field { name, value });
        }
        out
    }

    /// `camunda:executionListener` or `camunda:taskListener` entries.
    pub(super) fn listeners(&mut self, node: Node<'_, '_>, id: &str, tag: &str) -> Vec<Listener> {
        let mut out = Vec::new();
        let nodes: Vec<Node<'_, '_>> = extension_children(node)
            .filter(|n| is_camunda(*n, tag))
            .collect();
        for l in nodes {
            let event = l.attribute("event").unwrap_or_default().to_owned();
            let supported: &[&str] = if tag == "taskListener" {
                &["create"]
            } else {
                &["start", "end"]
            };
            if !supported.contains(&event.as_str()) {
                self.problem(
                    Some(id),
                    ProblemKind::Unsupported(format!("{tag} for event '{event}'")),
                );
                continue;
            }
            let Some(class) = l.attribute("class") else {
                self.problem(
                    Some(id),
                    ProblemKind::Unsupported(format!("{tag} without a class")),
                );
                continue;
            };
            let fields = self.fields(l, id);
            out.push(Listener {
                event,
                class: class.to_owned(),
                fields,
            });
        }
        out
    }

    fn retry_cycle(&mut self, node: Node<'_, '_>, id: &str) -> Option<timer::Cycle> {
        let text = extension_children(node)
            .find(|n| is_camunda(*n, "failedJobRetryTimeCycle"))
            .map(text_of)?;
        match timer::parse_cycle(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                self.problem(Some(id), ProblemKind::Timer(e));
                None
            }
        }
    }

    /// Listeners, input/output parameters and the retry cycle of an element.
    pub(super) fn common_extensions(&mut self, node: Node<'_, '_>, element: &mut Element) {
        let id = element.id.clone();
        element.execution_listeners = self.listeners(node, &id, "executionListener");
        element.retry_cycle = self.retry_cycle(node, &id);
        let io: Vec<Node<'_, '_>> = extension_children(node)
            .filter(|n| is_camunda(*n, "inputOutput"))
            .flat_map(|n| n.children())
            .filter(Node::is_element)
            .collect();
        for p in io {
            let is_input = is_camunda(p, "inputParameter");
            if !is_input && !is_camunda(p, "outputParameter") {
                continue;
            }
            if p.children().any(|c| c.is_element()) {
                self.problem(
                    Some(&id),
                    ProblemKind::Unsupported("list, map or script parameter values".into()),
                );
                continue;
            }
            let name = p.attribute("name").unwrap_or_default().to_owned();
            let text = p.text().unwrap_or_default().trim().to_owned();
            let Some(value) = self.expression(&id, &text) else {
                continue;
            };
            let param = Parameter { name, value };
            if is_input {
                element.inputs.push(param);
            } else {
                element.outputs.push(param);
            }
        }
        for other in extension_children(node) {
            let known = [
                "executionListener",
                "taskListener",
                "inputOutput",
                "failedJobRetryTimeCycle",
                "field",
                "properties",
            ];
            if other.tag_name().namespace() == Some(CAMUNDA_NS)
                && !known.contains(&other.tag_name().name())
            {
                self.problem(
                    Some(&id),
                    ProblemKind::Unsupported(format!("camunda:{}", other.tag_name().name())),
                );
            }
        }
    }

    /// `multiInstanceLoopCharacteristics`.
    pub(super) fn multi_instance(&mut self, node: Node<'_, '_>, id: &str) -> Option<MultiInstance> {
        let collection = match camunda_attr(node, "collection") {
            Some(text) => Some(self.expression(id, text)?),
            None => None,
        };
        let cardinality = match node.children().find(|n| is_bpmn(*n, "loopCardinality")) {
            Some(n) => Some(self.expression(id, &text_of(n))?),
            None => None,
        };
        let completion_condition =
            match node.children().find(|n| is_bpmn(*n, "completionCondition")) {
                Some(n) => Some(self.expression(id, &text_of(n))?),
                None => None,
            };
        if collection.is_none() && cardinality.is_none() {
            self.problem(
                Some(id),
                ProblemKind::Missing("camunda:collection or loopCardinality"),
            );
            return None;
        }
        Some(MultiInstance {
            sequential: node.attribute("isSequential") == Some("true"),
            collection,
            element_variable: camunda_attr(node, "elementVariable").map(str::to_owned),
            cardinality,
            completion_condition,
            async_before: camunda_attr(node, "asyncBefore") == Some("true"),
            async_after: camunda_attr(node, "asyncAfter") == Some("true"),
            exclusive: camunda_attr(node, "exclusive") != Some("false"),
            retry_cycle: self.retry_cycle(node, id),
        })
    }
}
