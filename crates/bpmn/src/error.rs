//! Errors of deployment (model problems) and of engine commands.

use std::fmt;

use thiserror::Error;

use crate::expr::ExprError;
use crate::timer::TimerError;

/// One problem found in a model, with the id of the element it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The process id, if the problem lies inside a process.
    pub process: Option<String>,
    /// The id of the element (or sequence flow, message, ...) concerned.
    pub element: Option<String>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.process, &self.element) {
            (Some(p), Some(e)) => write!(f, "{p}/{e}: {}", self.kind),
            (Some(p), None) => write!(f, "{p}: {}", self.kind),
            (None, Some(e)) => write!(f, "{e}: {}", self.kind),
            (None, None) => write!(f, "{}", self.kind),
        }
    }
}

/// The kinds of model problem.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file is not well-formed XML.
    #[error("XML error: {0}")]
    Xml(String),
    /// The file has no `definitions` root or no executable process.
    #[error("{0}")]
    Structure(String),
    /// An element or event definition the engine does not execute.
    #[error("unsupported element '{0}'")]
    Unsupported(String),
    /// A reference (sequence flow end, `messageRef`, `attachedToRef`, `default`, ...) names nothing.
    #[error("{what} '{target}' not found")]
    Dangling {
        /// The kind of reference.
        what: &'static str,
        /// The id referred to.
        target: String,
    },
    /// A required attribute or child element is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A `camunda:class` the class registry does not know.
    #[error("unknown camunda:class '{0}'")]
    UnknownClass(String),
    /// An expression that does not parse.
    #[error("bad expression '{source_text}': {error}")]
    Expression {
        /// The expression text.
        source_text: String,
        /// The parse error.
        error: ExprError,
    },
    /// A literal timer or retry cycle that does not parse.
    #[error("{0}")]
    Timer(TimerError),
    /// A `#{...}` placeholder without a value.
    #[error("placeholder '#{{{0}}}' has no value")]
    Placeholder(String),
    /// Any other inconsistency.
    #[error("{0}")]
    Invalid(String),
}

/// A model that cannot be deployed, with every problem found.
#[derive(Debug, Clone, PartialEq, Error)]
pub struct DeployError {
    /// All problems, in document order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "model not deployable ({} problem(s))",
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// An error of an engine command.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The model is not deployable.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// No deployed definition matches.
    #[error("process definition '{key}' (version tag {version_tag:?}) not found")]
    DefinitionNotFound {
        /// The definition key (process id).
        key: String,
        /// The version tag asked for.
        version_tag: Option<String>,
    },
    /// The definition has no start event for the message.
    #[error("process '{key}' has no start event for message '{message}'")]
    NoStartEvent {
        /// The definition key.
        key: String,
        /// The message name (empty for a none start event).
        message: String,
    },
    /// A definition cannot be removed while instances of it run.
    #[error("definition '{key}' version {version} has {running} running instance(s)")]
    DefinitionInUse {
        /// The definition key.
        key: String,
        /// The engine version number.
        version: u32,
        /// How many instances run.
        running: usize,
    },
    /// A message matched no waiting execution, or more than one.
    #[error(
        "message '{message}' matched {matches} waiting executions (business key {business_key:?}, correlation key {correlation_key:?})"
    )]
    Correlation {
        /// The message name.
        message: String,
        /// The business key given.
        business_key: Option<String>,
        /// The correlation key given.
        correlation_key: Option<String>,
        /// How many executions matched (0 or more than 1).
        matches: usize,
    },
    /// No process instance with that id.
    #[error("process instance {0} not found")]
    InstanceNotFound(uuid::Uuid),
    /// The instance is suspended.
    #[error("process instance {0} is suspended")]
    Suspended(uuid::Uuid),
    /// The instance is not in the state the command needs.
    #[error("process instance {id} is {state:?}")]
    InvalidState {
        /// The instance.
        id: uuid::Uuid,
        /// Its state.
        state: crate::exec::InstanceState,
    },
    /// No open work item with that id.
    #[error("work item {0} not found")]
    WorkNotFound(crate::exec::ItemId),
    /// No open user task with that id.
    #[error("user task {0} not found")]
    UserTaskNotFound(crate::exec::ItemId),
    /// The definition has no element with that id.
    #[error("element '{0}' not found")]
    ElementNotFound(String),
    /// Another engine changed the instance meanwhile; nothing of this command was kept. Retry it.
    #[error("process instance {0} was changed by another engine")]
    Conflict(uuid::Uuid),
    /// The store failed.
    #[error("store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
}

/// A failure while executing an element, recorded as an incident of the instance.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{element}: {message}")]
pub struct ExecutionError {
    /// The element being executed.
    pub element: String,
    /// What went wrong.
    pub message: String,
}
