//! BPMN elements and their kinds.

use super::extensions::{Implementation, Listener, MultiInstance, Parameter};
use super::{ElementIdx, FlowIdx};
use crate::expr::Expression;
use crate::timer::Cycle;

/// A flow node: event, activity or gateway.
#[derive(Debug, Clone)]
pub struct Element {
    /// The element id.
    pub id: String,
    /// The display name.
    pub name: Option<String>,
    /// What the element is.
    pub kind: ElementKind,
    /// The sub-process containing the element; `None` at process level.
    pub parent: Option<ElementIdx>,
    /// Incoming sequence flows.
    pub incoming: Vec<FlowIdx>,
    /// Outgoing sequence flows.
    pub outgoing: Vec<FlowIdx>,
    /// The `default` flow of a gateway or activity.
    pub default_flow: Option<FlowIdx>,
    /// Boundary events attached to this activity.
    pub boundary_events: Vec<ElementIdx>,
    /// `camunda:asyncBefore`.
    pub async_before: bool,
    /// `camunda:asyncAfter`.
    pub async_after: bool,
    /// `camunda:exclusive` (defaults to true).
    pub exclusive: bool,
    /// `camunda:failedJobRetryTimeCycle`.
    pub retry_cycle: Option<Cycle>,
    /// `camunda:executionListener`s.
    pub execution_listeners: Vec<Listener>,
    /// `camunda:inputParameter`s.
    pub inputs: Vec<Parameter>,
    /// `camunda:outputParameter`s.
    pub outputs: Vec<Parameter>,
    /// `multiInstanceLoopCharacteristics`.
    pub multi_instance: Option<MultiInstance>,
}

impl Element {
    /// Whether the element is an activity (task or sub-process).
    pub fn is_activity(&self) -> bool {
        matches!(
            self.kind,
            ElementKind::Task(_) | ElementKind::SubProcess { .. }
        )
    }

    /// The `camunda:class` names this element refers to (implementation and listeners).
    pub fn class_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .execution_listeners
            .iter()
            .map(|l| l.class.as_str())
            .collect();
        match &self.kind {
            ElementKind::Task(TaskKind::Service { implementation })
            | ElementKind::Task(TaskKind::Send { implementation }) => {
                out.extend(implementation.as_ref().map(|i| i.class.as_str()));
            }
            ElementKind::Task(TaskKind::User { task_listeners, .. }) => {
                out.extend(task_listeners.iter().map(|l| l.class.as_str()));
            }
            ElementKind::StartEvent { trigger, .. }
            | ElementKind::EndEvent { trigger }
            | ElementKind::IntermediateThrowEvent { trigger }
            | ElementKind::IntermediateCatchEvent { trigger }
            | ElementKind::BoundaryEvent { trigger, .. } => {
                if let Trigger::Message {
                    implementation: Some(i),
                    ..
                } = trigger
                {
                    out.push(i.class.as_str());
                }
            }
            _ => {}
        }
        out
    }
}

/// The kinds of flow node the engine executes.
#[derive(Debug, Clone)]
pub enum ElementKind {
    /// A start event; `interrupting` matters in event sub-processes.
    StartEvent {
        /// What starts it.
        trigger: Trigger,
        /// `isInterrupting` (event sub-processes only).
        interrupting: bool,
    },
    /// An end event.
    EndEvent {
        /// What it throws.
        trigger: Trigger,
    },
    /// An intermediate catch event.
    IntermediateCatchEvent {
        /// What it waits for.
        trigger: Trigger,
    },
    /// An intermediate throw event.
    IntermediateThrowEvent {
        /// What it throws.
        trigger: Trigger,
    },
    /// A boundary event attached to an activity.
    BoundaryEvent {
        /// The activity it is attached to.
        attached_to: ElementIdx,
        /// What it waits for.
        trigger: Trigger,
        /// `cancelActivity`: whether it interrupts the activity.
        cancel_activity: bool,
    },
    /// A task.
    Task(TaskKind),
    /// An embedded sub-process, or an event sub-process when `triggered_by_event`.
    SubProcess {
        /// `triggeredByEvent`.
        triggered_by_event: bool,
    },
    /// A gateway.
    Gateway(GatewayKind),
}

impl ElementKind {
    /// The BPMN tag name of the element.
    pub fn tag(&self) -> &'static str {
        match self {
            ElementKind::StartEvent { .. } => "startEvent",
            ElementKind::EndEvent { .. } => "endEvent",
            ElementKind::IntermediateCatchEvent { .. } => "intermediateCatchEvent",
            ElementKind::IntermediateThrowEvent { .. } => "intermediateThrowEvent",
            ElementKind::BoundaryEvent { .. } => "boundaryEvent",
            ElementKind::Task(TaskKind::Service { .. }) => "serviceTask",
            ElementKind::Task(TaskKind::Send { .. }) => "sendTask",
            ElementKind::Task(TaskKind::Receive { .. }) => "receiveTask",
            ElementKind::Task(TaskKind::User { .. }) => "userTask",
            ElementKind::Task(TaskKind::Manual) => "manualTask",
            ElementKind::Task(TaskKind::Plain) => "task",
            ElementKind::SubProcess { .. } => "subProcess",
            ElementKind::Gateway(GatewayKind::Exclusive) => "exclusiveGateway",
            ElementKind::Gateway(GatewayKind::Parallel) => "parallelGateway",
            ElementKind::Gateway(GatewayKind::Inclusive) => "inclusiveGateway",
            ElementKind::Gateway(GatewayKind::EventBased) => "eventBasedGateway",
        }
    }
}

/// Task kinds.
#[derive(Debug, Clone)]
pub enum TaskKind {
    /// A service task calling a `camunda:class`.
    Service {
        /// The implementation; `None` makes the task a pass-through.
        implementation: Option<Implementation>,
    },
    /// A send task calling a `camunda:class`.
    Send {
        /// The implementation; `None` makes the task a pass-through.
        implementation: Option<Implementation>,
    },
    /// A receive task waiting for a message.
    Receive {
        /// The message name.
        message: String,
    },
    /// A user task.
    User {
        /// `camunda:formKey`.
        form_key: Option<String>,
        /// `camunda:taskListener`s.
        task_listeners: Vec<Listener>,
    },
    /// A manual task (a pass-through).
    Manual,
    /// A plain task (a pass-through).
    Plain,
}

/// Gateway kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// Exclusive (XOR).
    Exclusive,
    /// Parallel (AND).
    Parallel,
    /// Inclusive (OR).
    Inclusive,
    /// Event-based.
    EventBased,
}

/// The event definition of an event.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// No event definition.
    None,
    /// A message, with the class that sends it for throw events.
    Message {
        /// The message name.
        name: String,
        /// `camunda:class` of a throwing message event.
        implementation: Option<Implementation>,
    },
    /// A timer.
    Timer(TimerDefinition),
    /// A signal.
    Signal {
        /// The signal name.
        name: String,
    },
    /// A BPMN error.
    Error {
        /// The error code; `None` catches every error.
        code: Option<String>,
        /// The error message of a throwing error end event (`camunda:errorMessage`).
        message: Option<String>,
        /// `camunda:errorCodeVariable`.
        code_variable: Option<String>,
        /// `camunda:errorMessageVariable`.
        message_variable: Option<String>,
    },
    /// A condition.
    Conditional {
        /// The condition.
        condition: Expression,
    },
    /// A terminate end event.
    Terminate,
}

/// When a timer fires.
#[derive(Debug, Clone)]
pub enum TimerDefinition {
    /// After a duration (`timeDuration`).
    Duration(Expression),
    /// At a date (`timeDate`).
    Date(Expression),
    /// Repeatedly (`timeCycle`).
    Cycle(Expression),
}
