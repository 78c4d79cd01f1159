//! The persistent state of a process instance: scopes, tokens, waits, work items and history.
//!
//! Everything here is plain data (serde), so a store can save an instance as one document and a
//! restarted engine continues from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::ElementIdx;
use crate::value::{Value, Variables};

/// Identifies a deployed process definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DefinitionId {
    /// The process id (definition key).
    pub key: String,
    /// The engine version number, counting deployments of the key from 1.
    pub version: u32,
}

/// Identifies an item (work item, user task) inside a process instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemId {
    /// The process instance.
    pub instance: Uuid,
    /// The item's number inside the instance.
    pub seq: u64,
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.instance, self.seq)
    }
}

/// Lifecycle of a process instance.
///
/// | from | to | by |
/// |---|---|---|
/// | Active | Suspended | `suspend` |
/// | Suspended | Active | `activate` |
/// | Active | Completed | the last token ends |
/// | Active, Suspended | Deleted | `delete` |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceState {
    /// Running or waiting.
    Active,
    /// Suspended: no work runs, no event is delivered.
    Suspended,
    /// Ended normally.
    Completed,
    /// Deleted, with the reason given.
    Deleted(String),
}

/// A process instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id.
    pub id: Uuid,
    /// Its definition.
    pub definition: DefinitionId,
    /// The business key.
    pub business_key: Option<String>,
    /// Lifecycle state.
    pub state: InstanceState,
    /// When it started.
    pub started: OffsetDateTime,
    /// When it ended.
    pub ended: Option<OffsetDateTime>,
    /// What ran when.
    pub history: Vec<HistoryEntry>,
    /// Failures waiting for an operator.
    pub incidents: Vec<Incident>,
    pub(crate) scopes: BTreeMap<u64, Scope>,
    pub(crate) tokens: BTreeMap<u64, Token>,
    pub(crate) waits: BTreeMap<u64, Wait>,
    pub(crate) works: BTreeMap<u64, Work>,
    pub(crate) user_tasks: BTreeMap<u64, UserTaskState>,
    pub(crate) next_id: u64,
    /// Commits so far (optimistic locking).
    #[serde(default)]
    pub(crate) revision: u64,
}

impl Instance {
    pub(crate) fn new(
        id: Uuid,
        definition: DefinitionId,
        business_key: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        Instance {
            id,
            definition,
            business_key,
            state: InstanceState::Active,
            started: now,
            ended: None,
            history: Vec::new(),
            incidents: Vec::new(),
            scopes: BTreeMap::new(),
            tokens: BTreeMap::new(),
            waits: BTreeMap::new(),
            works: BTreeMap::new(),
            user_tasks: BTreeMap::new(),
            next_id: 1,
            revision: 0,
        }
    }

    pub(crate) fn next(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The scope a token is in, and whether it is the root scope (the process instance itself).
    pub(crate) fn scope_of_token(&self, token: u64) -> (u64, bool) {
        let scope = self.tokens.get(&token).map_or(0, |t| t.scope);
        let top_level = self.scopes.get(&scope).is_none_or(|s| s.parent.is_none());
        (scope, top_level)
    }

    /// The variables of the instance's root scope.
    pub fn variables(&self) -> Variables {
        self.scopes
            .values()
            .find(|s| s.parent.is_none())
            .map(|s| s.variables.clone())
            .unwrap_or_default()
    }

    /// A variable of the root scope.
    pub fn root_variable(&self, name: &str) -> Option<&Value> {
        self.scopes
            .values()
            .find(|s| s.parent.is_none())
            .and_then(|s| s.variables.get(name))
    }

    /// Whether the instance has ended (completed or deleted).
    pub fn is_ended(&self) -> bool {
        matches!(
            self.state,
            InstanceState::Completed | InstanceState::Deleted(_)
        )
    }

    /// The earliest due time of its timers and jobs, and of the locks of work items handed out
    /// (when engines share a store).
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        let waits = self.waits.values().filter_map(|w| w.due);
        let locks = self.works.values().filter_map(|w| w.locked_until);
        waits.chain(locks).min()
    }

    /// Ids of the elements where tokens currently are, sorted.
    pub fn active_elements(&self) -> Vec<ElementIdx> {
        let mut out: Vec<ElementIdx> = self.tokens.values().map(|t| t.element).collect();
        out.sort_unstable();
        out
    }
}

/// What happened at an element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HistoryEvent {
    /// A token entered the element.
    Started,
    /// The element completed.
    Completed,
    /// The element was interrupted (boundary event, terminate, deletion).
    Cancelled,
    /// A BPMN error was thrown at the element.
    ErrorThrown(String),
    /// An incident was raised at the element.
    Incident(String),
}

/// One line of an instance's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: OffsetDateTime,
    /// The element id.
    pub element: String,
    /// What.
    pub event: HistoryEvent,
}

/// A failure that stopped a token; it stays until resolved or the instance is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// When it was raised.
    pub at: OffsetDateTime,
    /// The element id.
    pub element: String,
    /// The work item that failed, if any.
    pub work: Option<ItemId>,
    /// The error message.
    pub message: String,
}

/// What a scope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ScopeKind {
    /// The process instance itself.
    Root,
    /// An embedded sub-process or event sub-process instance.
    SubProcess,
    /// One instance of a multi-instance activity.
    MultiInstance,
}

/// A variable scope holding tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Scope {
    pub(crate) parent: Option<u64>,
    /// The container whose children run here (`None` for the process level).
    pub(crate) container: Option<ElementIdx>,
    /// The token in the parent scope that waits for this scope to complete.
    pub(crate) owner: Option<u64>,
    pub(crate) kind: ScopeKind,
    pub(crate) variables: Variables,
}

/// How far a token got in its element's lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Phase {
    /// Arrived: async-before, input mapping, history.
    Enter,
    /// Calling execution listeners `start` from this index.
    StartListener(usize),
    /// Running the element's behaviour.
    Execute,
    /// Waiting for an event, work item, job, user task, child scope or join.
    Wait,
    /// Behaviour done: output mapping.
    Complete,
    /// Calling execution listeners `end` from this index.
    EndListener(usize),
    /// Taking the outgoing flows.
    Leave,
    /// Stopped by an incident; retrying resumes at the phase held.
    Failed(Box<Phase>),
}

/// The multi-instance role of a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum MiRole {
    /// Not multi-instance.
    None,
    /// The multi-instance body: spawns and counts instances.
    Body {
        items: Vec<Value>,
        started: usize,
        completed: usize,
        children: Vec<u64>,
    },
    /// One instance of the activity.
    Inner,
}

/// A token: an execution at one element.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Token {
    pub(crate) scope: u64,
    pub(crate) element: ElementIdx,
    pub(crate) phase: Phase,
    /// Variables of the activity itself (input parameters, local variables).
    pub(crate) locals: Variables,
    pub(crate) mi: MiRole,
    /// The catch event already fired (event-based gateway, boundary or event sub-process start).
    pub(crate) triggered: bool,
    pub(crate) async_before_done: bool,
    pub(crate) async_after_done: bool,
    /// The child scope this token waits for.
    pub(crate) child: Option<u64>,
}

impl Token {
    pub(crate) fn at(scope: u64, element: ElementIdx) -> Self {
        Token {
            scope,
            element,
            phase: Phase::Enter,
            locals: Variables::new(),
            mi: MiRole::None,
            triggered: false,
            async_before_done: false,
            async_after_done: false,
            child: None,
        }
    }
}

/// How a wait relates to its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WaitRole {
    /// The token's own element waits (catch event, receive task).
    Catch,
    /// An event after an event-based gateway where the token waits.
    Gateway,
    /// A boundary event of the token's activity.
    Boundary,
    /// The start event of an event sub-process of the scope.
    EventSubStart,
    /// An async continuation or retry of the token.
    Job,
}

/// What a wait waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WaitKind {
    Message {
        name: String,
    },
    Signal {
        name: String,
    },
    /// Fires at `Wait::due`; a cycle then schedules its next firing.
    Timer {
        cycle: Option<crate::timer::Repeat>,
    },
    Conditional,
    /// Continue the token at `resume` (async continuation).
    Continue {
        resume: Phase,
    },
    /// Issue the work item again.
    Retry {
        work: u64,
    },
}

/// A subscription or job of a token or scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Wait {
    pub(crate) token: Option<u64>,
    pub(crate) scope: u64,
    /// The catching element (event, boundary event, receive task, event sub-process start).
    pub(crate) element: ElementIdx,
    pub(crate) role: WaitRole,
    pub(crate) kind: WaitKind,
    pub(crate) due: Option<OffsetDateTime>,
}

/// What a work item calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkKind {
    /// A service task.
    ServiceTask,
    /// A send task.
    SendTask,
    /// A message intermediate throw event or message end event.
    MessageThrow,
    /// An execution listener for `event` (`start`, `end`).
    ExecutionListener(String),
    /// A task listener for `event` (`create`) of a user task.
    TaskListener(String),
}

/// A pending call of a `camunda:class`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Work {
    pub(crate) token: u64,
    pub(crate) element: ElementIdx,
    pub(crate) class: String,
    pub(crate) kind: WorkKind,
    pub(crate) fields: Vec<(String, Value)>,
    /// The phase the token continues with; `None` when the token does not wait for this work.
    pub(crate) resume: Option<Phase>,
    pub(crate) attempts: u32,
    pub(crate) failed: Option<String>,
    pub(crate) retrying: bool,
    pub(crate) user_task: Option<u64>,
    /// Until when the engine that handed the work out owns it (engines sharing a store).
    #[serde(default)]
    pub(crate) locked_until: Option<OffsetDateTime>,
}

/// An open user task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserTaskState {
    pub(crate) token: u64,
    pub(crate) element: ElementIdx,
    pub(crate) form_key: Option<String>,
    pub(crate) created: OffsetDateTime,
}
