//! The parsed, validated form of BPMN process definitions.
//!
//! A [`Process`] holds its elements and sequence flows in flat vectors, nested sub-processes
//! included; elements refer to each other by index ([`ElementIdx`], [`FlowIdx`]), which keeps the
//! graph cheap to walk during execution.

mod element;
mod extensions;

pub use element::{Element, ElementKind, GatewayKind, TaskKind, TimerDefinition, Trigger};
pub use extensions::{Field, FieldValue, Implementation, Listener, MultiInstance, Parameter};

use std::collections::HashMap;

use crate::expr::Expression;
use crate::timer::Cycle;

/// Index of an element in [`Process::elements`].
pub type ElementIdx = usize;

/// Index of a sequence flow in [`Process::flows`].
pub type FlowIdx = usize;

/// The content of one BPMN file.
#[derive(Debug, Clone)]
pub struct Definitions {
    /// The executable processes of the file.
    pub processes: Vec<Process>,
    /// Oddities that do not prevent deployment (reported by checks).
    pub warnings: Vec<crate::error::Problem>,
}

/// One process definition.
#[derive(Debug, Clone)]
pub struct Process {
    /// The process id, which is the definition key.
    pub id: String,
    /// The display name.
    pub name: Option<String>,
    /// `camunda:versionTag`.
    pub version_tag: Option<String>,
    /// All elements, those of nested sub-processes included.
    pub elements: Vec<Element>,
    /// All sequence flows.
    pub flows: Vec<SequenceFlow>,
    pub(crate) by_id: HashMap<String, ElementIdx>,
}

impl Process {
    /// The element with the given id.
    pub fn element(&self, id: &str) -> Option<&Element> {
        self.by_id.get(id).map(|&i| &self.elements[i])
    }

    /// The index of the element with the given id.
    pub fn element_index(&self, id: &str) -> Option<ElementIdx> {
        self.by_id.get(id).copied()
    }

    /// The elements directly inside a container: the process (`None`) or a sub-process.
    pub fn children(&self, container: Option<ElementIdx>) -> impl Iterator<Item = ElementIdx> + '_ {
        self.elements
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.parent == container)
            .map(|(i, _)| i)
    }

    /// Start events of a container that begin its normal flow (not those of event sub-processes).
    pub fn start_events(&self, container: Option<ElementIdx>) -> Vec<ElementIdx> {
        self.children(container)
            .filter(|&i| matches!(self.elements[i].kind, ElementKind::StartEvent { .. }))
            .collect()
    }

    /// Event sub-processes directly inside a container.
    pub fn event_sub_processes(&self, container: Option<ElementIdx>) -> Vec<ElementIdx> {
        self.children(container)
            .filter(|&i| {
                matches!(
                    self.elements[i].kind,
                    ElementKind::SubProcess {
                        triggered_by_event: true
                    }
                )
            })
            .collect()
    }

    /// Message names of the process's top-level message start events.
    pub fn start_messages(&self) -> Vec<&str> {
        self.start_events(None)
            .into_iter()
            .filter_map(|i| match &self.elements[i].kind {
                ElementKind::StartEvent {
                    trigger: Trigger::Message { name, .. },
                    ..
                } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Counts elements by their BPMN tag name (`serviceTask`, `boundaryEvent`, ...).
    pub fn element_counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for e in &self.elements {
            *counts.entry(e.kind.tag()).or_insert(0) += 1;
        }
        counts
    }

    /// Every `camunda:class` name the process refers to, with the id of the element naming it.
    pub fn class_references(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for e in &self.elements {
            for class in e.class_names() {
                out.push((e.id.as_str(), class));
            }
        }
        out
    }

    /// The retry cycle for failed work at an element: its own `failedJobRetryTimeCycle`, else that
    /// of the nearest enclosing element (or multi-instance body) that has one.
    pub fn retry_cycle(&self, element: ElementIdx) -> Option<Cycle> {
        let mut current = Some(element);
        while let Some(i) = current {
            let e = &self.elements[i];
            if let Some(c) = e.retry_cycle {
                return Some(c);
            }
            if let Some(c) = e.multi_instance.as_ref().and_then(|m| m.retry_cycle) {
                return Some(c);
            }
            current = e.parent;
        }
        None
    }
}

/// A sequence flow.
#[derive(Debug, Clone)]
pub struct SequenceFlow {
    /// The flow id.
    pub id: String,
    /// The source element.
    pub source: ElementIdx,
    /// The target element.
    pub target: ElementIdx,
    /// The `conditionExpression`, if any.
    pub condition: Option<Expression>,
}
