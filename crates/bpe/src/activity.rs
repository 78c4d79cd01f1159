//! Activities: the Rust implementations of a process model's `camunda:class` names, and what
//! they see while they run ([`ActivityContext`]).

use std::collections::HashMap;
use std::sync::Arc;

use dsf_bpmn::changes::VariableChanges;
use dsf_bpmn::exec::{VariableChange, WorkItem};
pub use dsf_bpmn::runtime::DelegateError;
use dsf_bpmn::value::{Value, Variables};
use futures::future::BoxFuture;

use crate::api::{Message, ProcessPluginApi};
use crate::variables::{self, Target};

/// The implementation of a `camunda:class`: a service task, a message send (send task, message
/// throw or end event), an execution listener or a user task's task listener.
///
/// A [`DelegateError::Bpmn`] continues at the matching error boundary event; a
/// [`DelegateError::Failed`] is retried as the model's `failedJobRetryTimeCycle` says, and then
/// fails the process: its Tasks are set to `failed` and the instance is deleted, as the
/// reference does.
pub trait Activity: Send + Sync {
    /// Runs the activity for one work item.
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>>;
}

/// Activities by class name.
#[derive(Clone, Default)]
pub struct Activities {
    by_class: HashMap<String, Arc<dyn Activity>>,
}

impl Activities {
    /// No activities.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `activity` under `class` (and replaces an earlier one).
    pub fn register(&mut self, class: &str, activity: impl Activity + 'static) -> &mut Self {
        self.by_class.insert(class.to_owned(), Arc::new(activity));
        self
    }

    /// Registers one implementation under several class names (e.g. this project's and the
    /// reference's).
    pub fn register_as(&mut self, classes: &[&str], activity: Arc<dyn Activity>) -> &mut Self {
        for class in classes {
            self.by_class.insert((*class).to_owned(), activity.clone());
        }
        self
    }

    /// The implementation of `class`.
    pub fn get(&self, class: &str) -> Option<Arc<dyn Activity>> {
        self.by_class.get(class).cloned()
    }

    /// The registered class names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_class.keys().map(String::as_str)
    }

    /// Adds every activity of `other`.
    pub fn extend(&mut self, other: &Activities) {
        for (class, activity) in &other.by_class {
            self.by_class.insert(class.clone(), activity.clone());
        }
    }
}

impl std::fmt::Debug for Activities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// What an activity sees and changes: its work item, the variables visible at its element, its
/// fields, and the services of the process engine.
pub struct ActivityContext {
    work: WorkItem,
    variables: VariableChanges,
    api: Arc<ProcessPluginApi>,
}

impl ActivityContext {
    pub(crate) fn new(work: WorkItem, variables: Variables, api: Arc<ProcessPluginApi>) -> Self {
        ActivityContext {
            work,
            variables: VariableChanges::new(variables),
            api,
        }
    }

    pub(crate) fn into_changes(self) -> Vec<VariableChange> {
        self.variables.into_changes()
    }

    /// The work item: element, class, definition, attempt.
    pub fn work(&self) -> &WorkItem {
        &self.work
    }

    /// The services of the process engine.
    pub fn api(&self) -> &ProcessPluginApi {
        &self.api
    }

    /// The process instance's business key.
    pub fn business_key(&self) -> Option<&str> {
        self.work.business_key.as_deref()
    }

    /// A visible variable, with the changes made so far.
    pub fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }

    /// A visible string variable.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.variables.get(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// A visible variable holding a FHIR resource or JSON.
    pub fn fhir_variable(&self, name: &str) -> Option<&serde_json::Value> {
        fhir(self.variables.get(name))
    }

    /// Sets the variable `name` to a FHIR resource, as [`ActivityContext::set_variable`] does.
    pub fn set_fhir_variable(&mut self, name: &str, resource: serde_json::Value) {
        self.set_variable(name, Value::Fhir(resource));
    }

    /// `execution.setVariable`: where the variable exists, else on the process instance.
    pub fn set_variable(&mut self, name: &str, value: impl Into<Value>) {
        self.variables.set(name, value);
    }

    /// `execution.setVariableLocal`: on the element's own scope.
    pub fn set_variable_local(&mut self, name: &str, value: impl Into<Value>) {
        self.variables.set_local(name, value);
    }

    /// `execution.removeVariable`.
    pub fn remove_variable(&mut self, name: &str) {
        self.variables.remove(name);
    }

    /// A field injection as a string (`camunda:field`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.work
            .fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
    }

    /// The message of a send activity: its fields `instantiatesCanonical`, `messageName` and
    /// `profile`, the instance's business key, and `inputs`.
    pub fn message(&self, inputs: Vec<serde_json::Value>) -> Result<Message, DelegateError> {
        let field = |name: &str| {
            self.field(name)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| DelegateError::Failed(format!("the field '{name}' is not set")))
        };
        Ok(Message {
            instantiates_canonical: field("instantiatesCanonical")?,
            message_name: field("messageName")?,
            profile: field("profile")?,
            business_key: self.business_key().map(str::to_owned),
            inputs,
        })
    }

    /// The Task that started the process.
    pub fn start_task(&self) -> Option<&serde_json::Value> {
        fhir(self.variables.get(variables::START_TASK))
    }

    /// Replaces the kept copy of the start Task (e.g. with outputs added): the end of the process
    /// writes it to the FHIR server.
    pub fn update_start_task(&mut self, task: serde_json::Value) {
        self.set_variable(variables::START_TASK, Value::Fhir(task));
    }

    /// The Tasks received by message catch events in this activity's scope, oldest first.
    pub fn received_tasks(&self) -> Vec<serde_json::Value> {
        variables::tasks_of(self.variables.all(), self.work.scope)
    }

    /// The most recently received Task: the last one received in this scope, else the start
    /// Task.
    pub fn latest_task(&self) -> Option<serde_json::Value> {
        self.received_tasks()
            .pop()
            .or_else(|| self.start_task().cloned())
    }

    /// The QuestionnaireResponse that completed the last user task.
    pub fn questionnaire_response(&self) -> Option<&serde_json::Value> {
        fhir(self.variables.get(variables::QUESTIONNAIRE_RESPONSE))
    }

    /// The variable `target` (one element of a multi-instance over `targets.entries`).
    pub fn target(&self) -> Option<Target> {
        variables::json(self.variables.get(variables::TARGET))
            .and_then(|j| serde_json::from_value(j.clone()).ok())
    }

    /// Sets the variable `target`.
    pub fn set_target(&mut self, target: &Target) {
        self.set_variable(variables::TARGET, variables::target_value(target));
    }

    /// The variable `targets`.
    pub fn targets(&self) -> Vec<Target> {
        variables::json(self.variables.get(variables::TARGETS))
            .and_then(|j| j.get("entries"))
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default()
    }

    /// Sets the variable `targets` (`${targets.entries}` in multi-instance collections).
    pub fn set_targets(&mut self, targets: &[Target]) {
        self.set_variable(variables::TARGETS, variables::targets_value(targets));
    }
}

fn fhir(value: Option<&Value>) -> Option<&serde_json::Value> {
    match value {
        Some(Value::Fhir(json) | Value::Json(json)) => Some(json),
        _ => None,
    }
}
