//! Execution: the token and scope tree of process instances and the behaviour of each element.
//!
//! Nothing here does I/O. Running an instance yields [`Effect`]s — class calls to make as
//! [`WorkItem`]s, user tasks created, instances ended, incidents — and the caller reports results
//! back ([`WorkResult`]).

mod behavior;
mod context;
mod events;
mod run;
mod scopes;
pub(crate) mod state;
mod subscribe;
pub(crate) mod timers;

pub(crate) use run::{Exec, Outbox};
pub use state::{
    DefinitionId, HistoryEntry, HistoryEvent, Incident, InstanceState, ItemId, WorkKind,
};
pub(crate) use state::{Instance, WaitKind, WaitRole};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::expr::Context;
use crate::model::Process;
use crate::value::{Value, Variables};

/// The `correlationKey` variable visible from a wait's token (or scope).
pub(crate) fn correlation_key(
    process: &Process,
    instance: &Instance,
    wait: &state::Wait,
) -> Option<String> {
    let ctx = wait
        .token
        .and_then(|t| context::TokenContext::of_token(process, instance, t))
        .unwrap_or_else(|| context::TokenContext::of_scope(process, instance, wait.scope));
    match ctx.variable("correlationKey")? {
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// The variables visible from a token: its activity's locals over its scope chain.
pub(crate) fn visible_variables(process: &Process, instance: &Instance, token: u64) -> Variables {
    context::TokenContext::of_token(process, instance, token)
        .map(|ctx| ctx.visible())
        .unwrap_or_default()
}

/// Something the engine asks its host to do or tells it about.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Call a `camunda:class` and report the result with `Engine::complete_work`.
    Work(WorkItem),
    /// A user task was created; complete it with `Engine::complete_user_task`.
    UserTaskCreated(UserTask),
    /// A process instance ended.
    InstanceEnded {
        /// The instance.
        instance: Uuid,
        /// How it ended.
        state: InstanceState,
    },
    /// An incident stopped a token.
    Incident {
        /// The instance.
        instance: Uuid,
        /// The incident.
        incident: Incident,
    },
}

/// A class call the host performs.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// Identifies the work item for its result.
    pub id: ItemId,
    /// The process definition.
    pub definition: DefinitionId,
    /// The instance's business key.
    pub business_key: Option<String>,
    /// The element id.
    pub element: String,
    /// The scope instance (process instance or sub-process instance) the element runs in.
    pub scope: u64,
    /// Whether that scope is the process instance itself, not a sub-process.
    pub top_level: bool,
    /// The `camunda:class` name.
    pub class: String,
    /// What kind of call it is.
    pub kind: WorkKind,
    /// Field injections, expressions evaluated.
    pub fields: Vec<(String, Value)>,
    /// 1 for the first attempt, higher for retries.
    pub attempt: u32,
}

/// An open user task.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTask {
    /// Identifies the task for its completion.
    pub id: ItemId,
    /// The process definition.
    pub definition: DefinitionId,
    /// The instance's business key.
    pub business_key: Option<String>,
    /// The element id.
    pub element: String,
    /// `camunda:formKey`.
    pub form_key: Option<String>,
    /// When it was created.
    pub created: OffsetDateTime,
}

/// A variable change made by a class.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableChange {
    /// `execution.setVariable`: where the variable exists, else at the process instance.
    Set(String, Value),
    /// `execution.setVariableLocal`: on the activity (if it has input parameters) or its scope.
    SetLocal(String, Value),
    /// `execution.removeVariable`.
    Remove(String),
}

/// How a class call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkOutcome {
    /// Normally.
    Completed,
    /// With a BPMN error, to be caught by an error boundary event or error event sub-process.
    BpmnError {
        /// The error code.
        code: String,
        /// The error message.
        message: Option<String>,
    },
    /// With a technical failure: retried per `failedJobRetryTimeCycle`, then an incident.
    Failed(String),
}

/// The result of a work item.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkResult {
    /// Variable changes, applied unless the outcome is a failure.
    pub variables: Vec<VariableChange>,
    /// The outcome.
    pub outcome: WorkOutcome,
}

impl WorkResult {
    /// A normal completion without variable changes.
    pub fn completed() -> Self {
        WorkResult {
            variables: Vec::new(),
            outcome: WorkOutcome::Completed,
        }
    }
}
