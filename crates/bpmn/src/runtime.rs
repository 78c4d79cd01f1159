//! A simple host for the engine: classes registered by name run in-process.
//!
//! The engine itself only hands out [`WorkItem`]s. [`Runtime`] pairs it with a [`Registry`] of
//! [`Delegate`]s, the Rust implementations of `camunda:class` names, which the engine then runs in
//! place inside each command ([`crate::engine::InlineClasses`]; handed out instead when engines
//! share the store), and runs handed-out work items, due timers and jobs until nothing is left to
//! do. Tests and simple hosts use it; the process engine service drives the engine itself to run
//! classes asynchronously.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use thiserror::Error;

use crate::changes::VariableChanges;
use crate::deploy::DeployOptions;
use crate::engine::{DefinitionInfo, Engine, InlineClasses};
use crate::error::EngineError;
use crate::exec::{Effect, WorkItem, WorkOutcome, WorkResult};
use crate::store::Store;
use crate::value::{Value, Variables};

/// How a delegate failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DelegateError {
    /// A BPMN error, caught by error boundary events or error event sub-processes.
    #[error("BPMN error '{code}'")]
    Bpmn {
        /// The error code.
        code: String,
        /// The error message.
        message: Option<String>,
    },
    /// A technical failure: retried, then an incident.
    #[error("{0}")]
    Failed(String),
}

/// What a delegate sees and changes: the variables visible at its element, its fields.
pub struct DelegateContext<'a> {
    work: &'a WorkItem,
    variables: VariableChanges,
}

impl DelegateContext<'_> {
    /// The work item being run.
    pub fn work(&self) -> &WorkItem {
        self.work
    }

    /// The instance's business key.
    pub fn business_key(&self) -> Option<&str> {
        self.work.business_key.as_deref()
    }

    /// A visible variable (including changes made by this delegate).
    pub fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }

    /// A field injection.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.work
            .fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// `execution.setVariable`.
    pub fn set_variable(&mut self, name: &str, value: impl Into<Value>) {
        self.variables.set(name, value);
    }

    /// `execution.setVariableLocal`.
    pub fn set_variable_local(&mut self, name: &str, value: impl Into<Value>) {
        self.variables.set_local(name, value);
    }

    /// `execution.removeVariable`.
    pub fn remove_variable(&mut self, name: &str) {
        self.variables.remove(name);
    }
}

/// The implementation of a `camunda:class`.
pub trait Delegate: Send + Sync {
    /// Runs the class for one work item.
    fn execute(&self, ctx: &mut DelegateContext<'_>) -> Result<(), DelegateError>;
}

impl<F> Delegate for F
where
    F: Fn(&mut DelegateContext<'_>) -> Result<(), DelegateError> + Send + Sync,
{
    fn execute(&self, ctx: &mut DelegateContext<'_>) -> Result<(), DelegateError> {
        self(ctx)
    }
}

/// Delegates by class name.
#[derive(Clone, Default)]
pub struct Registry {
    delegates: HashMap<String, Arc<dyn Delegate>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the implementation of a class name.
    pub fn register(&mut self, class: &str, delegate: impl Delegate + 'static) -> &mut Self {
        self.delegates.insert(class.to_owned(), Arc::new(delegate));
        self
    }

    /// The registered class names.
    pub fn names(&self) -> HashSet<String> {
        self.delegates.keys().cloned().collect()
    }
}

impl InlineClasses for Registry {
    fn run(&self, work: &WorkItem, variables: Variables) -> WorkResult {
        let mut ctx = DelegateContext {
            work,
            variables: VariableChanges::new(variables),
        };
        let outcome = match self.delegates.get(&work.class) {
            None => WorkOutcome::Failed(format!("no implementation for class '{}'", work.class)),
            Some(delegate) => match delegate.execute(&mut ctx) {
                Ok(()) => WorkOutcome::Completed,
                Err(DelegateError::Bpmn { code, message }) => {
                    WorkOutcome::BpmnError { code, message }
                }
                Err(DelegateError::Failed(m)) => WorkOutcome::Failed(m),
            },
        };
        WorkResult {
            variables: ctx.variables.into_changes(),
            outcome,
        }
    }
}

/// An engine with in-process delegates.
pub struct Runtime<S: Store> {
    engine: Engine<S>,
    registry: Arc<Registry>,
    events: Vec<Effect>,
}

impl<S: Store> Runtime<S> {
    /// Pairs an engine with a registry, whose classes the engine then runs in place
    /// ([`Engine::run_classes_inline`]).
    pub fn new(engine: Engine<S>, registry: Registry) -> Self {
        let mut runtime = Self::handing_out(engine, registry);
        runtime.engine.run_classes_inline(runtime.registry.clone());
        runtime
    }

    /// Pairs an engine with a registry whose classes run only as work items the engine hands
    /// out, as a host that calls classes asynchronously does: each call is committed before it
    /// runs, and its result in a commit of its own.
    pub fn handing_out(engine: Engine<S>, registry: Registry) -> Self {
        Runtime {
            engine,
            registry: Arc::new(registry),
            events: Vec::new(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<S> {
        &self.engine
    }

    /// The engine, for commands.
    pub fn engine_mut(&mut self) -> &mut Engine<S> {
        &mut self.engine
    }

    /// Deploys a model, checking its class names against the registry.
    pub async fn deploy(
        &mut self,
        xml: &str,
        properties: &HashMap<String, String>,
    ) -> Result<Vec<DefinitionInfo>, EngineError> {
        let options = DeployOptions {
            properties: properties.clone(),
            known_classes: self.registry.names(),
            allow_unknown_classes: false,
        };
        self.engine.deploy(xml, &options).await
    }

    /// Runs handed-out work items, due timers and jobs until none is left; returns how many
    /// handed-out work items ran (classes the engine ran in place are not counted).
    pub async fn run(&mut self) -> Result<usize, EngineError> {
        let mut ran = 0;
        loop {
            self.engine.run_due().await?;
            let effects = self.engine.take_effects();
            if effects.is_empty() {
                return Ok(ran);
            }
            for effect in effects {
                match effect {
                    Effect::Work(work) => {
                        ran += 1;
                        self.execute(&work).await?;
                    }
                    other => self.events.push(other),
                }
            }
        }
    }

    async fn execute(&mut self, work: &WorkItem) -> Result<(), EngineError> {
        let Ok(variables) = self.engine.work_variables(work.id) else {
            // cancelled meanwhile (boundary event, deletion)
            return Ok(());
        };
        let result = self.registry.run(work, variables);
        match self.engine.complete_work(work.id, result).await {
            // cancelled, suspended or ended (by another engine sharing the store) meanwhile
            Err(EngineError::WorkNotFound(_))
            | Err(EngineError::Suspended(_))
            | Err(EngineError::InstanceNotFound(_)) => Ok(()),
            other => other,
        }
    }

    /// Takes the effects other than work items (user tasks, ended instances, incidents) seen by
    /// [`Runtime::run`].
    pub fn take_events(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.events)
    }
}
