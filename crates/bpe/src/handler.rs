//! Handling what the subscriptions deliver, as the reference's Task and QuestionnaireResponse
//! handlers do (dsf-bpe.md §1.4, §3):
//!
//! - a requested Task gets a business key if it has none, is set in progress (with `If-Match`,
//!   so that of several engines on one server only one takes it) and handed to the process its
//!   `instantiatesCanonical` names: started at the message start event, or correlated with the
//!   waiting instance of its business key (and correlation key). A Task for an unknown, retired
//!   or excluded process, without message name, or that correlates with nothing is failed with
//!   an `error` output saying why.
//! - a completed QuestionnaireResponse completes the user task its `user-task-id` names and is
//!   set to amended.
//!
//! A Task is claimed in the service's database before it is set in progress and released once
//! the engine has it, so that a crash between the two is repaired at the next start
//! ([`Handler::recover`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dsf_bpmn::error::EngineError;
use serde_json::{Value, json};

use crate::engine::ProcessEngine;
use crate::error::BpeError;
use crate::listeners::put_task;
use crate::plugin::deploy::ProcessState;
use crate::state::ServiceState;
use crate::task::{self, BPMN_MESSAGE, ProcessUrl};
use crate::user_task::{self, USER_TASK_ID_ITEM};

/// The first wait before a failed correlation is tried again; it doubles each time.
const CORRELATION_RETRY: Duration = Duration::from_millis(25);
/// Correlation is not retried after waits this long.
const CORRELATION_WAIT: Duration = Duration::from_secs(4);

/// Hands delivered Tasks and QuestionnaireResponses to the engine.
pub struct Handler {
    engine: Arc<ProcessEngine>,
    state: ServiceState,
    processes: BTreeMap<(String, String), ProcessState>,
}

/// What became of a delivered resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Handed to the engine.
    Handed,
    /// Failed, with this reason.
    Failed(String),
    /// Not for this engine, or taken by another one.
    Skipped,
}

impl Handler {
    /// A handler for `engine` with the deployed `processes`.
    pub fn new(
        engine: Arc<ProcessEngine>,
        state: ServiceState,
        processes: BTreeMap<(String, String), ProcessState>,
    ) -> Arc<Handler> {
        Arc::new(Handler {
            engine,
            state,
            processes,
        })
    }

    /// The service's database.
    pub fn state(&self) -> &ServiceState {
        &self.state
    }

    /// Handles a delivered resource, then notes its `meta.lastUpdated`.
    pub async fn handle(&self, resource: Value) -> Result<Handled, BpeError> {
        let resource_type = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let last_updated = resource
            .pointer("/meta/lastUpdated")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let handled = match resource_type.as_str() {
            "Task" => self.task(resource).await?,
            "QuestionnaireResponse" => self.questionnaire_response(resource).await?,
            _ => Handled::Skipped,
        };
        if let Some(at) = last_updated {
            self.state.set_last_event(&resource_type, &at).await?;
        }
        Ok(handled)
    }

    async fn task(&self, mut task: Value) -> Result<Handled, BpeError> {
        if task::status(&task) != Some("requested") {
            return Ok(Handled::Skipped);
        }
        let id = task
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let business_key = match task::business_key(&task) {
            Some(key) => key.to_owned(),
            None => {
                let key = uuid::Uuid::new_v4().to_string();
                task::push(
                    &mut task,
                    "input",
                    task::parameter(BPMN_MESSAGE, "business-key", "valueString", json!(key)),
                );
                key
            }
        };
        let (process, state, message) = match self.route(&task) {
            Ok(route) => route,
            Err(reason) => return self.fail(task, &reason).await,
        };
        self.state.claim(&id, &business_key).await?;
        task["status"] = json!("in-progress");
        let task = match self.engine.api().local().update(&task).await {
            Ok(task) => task,
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 412) => {
                // Another engine took it.
                self.state.release(&id).await?;
                return Ok(Handled::Skipped);
            }
            Err(e) => {
                self.state.release(&id).await?;
                return Err(e.into());
            }
        };
        let handled = self.hand_over(task, &process, state, &message).await;
        self.state.release(&id).await?;
        handled
    }

    /// The deployed process, its state and the message name a Task is for; why the Task is
    /// refused otherwise.
    fn route(&self, task: &Value) -> Result<(ProcessUrl, ProcessState, String), String> {
        let canonical = task
            .get("instantiatesCanonical")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let not_found = || format!("Process {canonical} not found");
        let process = ProcessUrl::parse(canonical).ok_or_else(not_found)?;
        let state = self
            .processes
            .get(&(process.process_key(), process.version.clone()))
            .copied()
            .filter(|s| *s != ProcessState::Excluded)
            .ok_or_else(not_found)?;
        let message = task::message_name(task)
            .ok_or("Task has no message-name input")?
            .to_owned();
        Ok((process, state, message))
    }

    /// Hands an in-progress Task of `process` to the engine.
    async fn hand_over(
        &self,
        task: Value,
        process: &ProcessUrl,
        state: ProcessState,
        message: &str,
    ) -> Result<Handled, BpeError> {
        let business_key = task::business_key(&task).unwrap_or_default().to_owned();
        let correlation_key = task::correlation_key(&task).map(str::to_owned);
        let key = process.process_key();
        if state == ProcessState::Retired && !self.engine.runs(&key, &business_key).await? {
            let reason = format!("Process {}|{} is retired", process.url, process.version);
            return self.fail(task, &reason).await;
        }
        // A message may arrive before the instance that waits for it has committed the step that
        // sent the request (the answer came back that fast): correlation is retried for a while.
        let mut delay = CORRELATION_RETRY;
        let result = loop {
            let result = self
                .engine
                .hand_over(
                    &key,
                    &process.version,
                    message,
                    &business_key,
                    correlation_key.as_deref(),
                    task.clone(),
                )
                .await;
            match result {
                Err(EngineError::Correlation { matches: 0, .. }) if delay < CORRELATION_WAIT => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => break other,
            }
        };
        match result {
            Ok(_) => Ok(Handled::Handed),
            Err(EngineError::Correlation { .. }) => {
                self.fail(task, "Unable to correlate Task").await
            }
            Err(e) => self.fail(task, &e.to_string()).await,
        }
    }

    async fn fail(&self, mut task: Value, reason: &str) -> Result<Handled, BpeError> {
        let id = task.get("id").and_then(Value::as_str).unwrap_or_default();
        tracing::warn!(task = id, "Task failed: {reason}");
        task::fail(&mut task, reason);
        put_task(self.engine.api(), &task).await?;
        Ok(Handled::Failed(reason.to_owned()))
    }

    async fn questionnaire_response(&self, mut response: Value) -> Result<Handled, BpeError> {
        if response.get("status").and_then(Value::as_str) != Some("completed") {
            return Ok(Handled::Skipped);
        }
        let Some(id) =
            user_task::answer(&response, USER_TASK_ID_ITEM).and_then(user_task::parse_user_task_id)
        else {
            tracing::warn!("QuestionnaireResponse without a user-task-id answer ignored");
            return Ok(Handled::Skipped);
        };
        response["status"] = json!("amended");
        // As the reference does: a response that cannot be marked is still taken over.
        let response = match self.engine.api().local().update(&response).await {
            Ok(updated) => updated,
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 412) => {
                return Ok(Handled::Skipped);
            }
            Err(e) => {
                tracing::warn!("marking the QuestionnaireResponse amended: {e}");
                response
            }
        };
        match self.engine.complete_user_task(id, response).await {
            Ok(()) => Ok(Handled::Handed),
            Err(EngineError::UserTaskNotFound(_)) => {
                tracing::warn!(user_task = %user_task::user_task_id(id), "QuestionnaireResponse for an unknown user task");
                Ok(Handled::Skipped)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Hands over the Tasks claimed before a crash that the engine does not hold.
    pub async fn recover(&self) -> Result<(), BpeError> {
        for (id, business_key) in self.state.claims().await? {
            let task = match self.engine.api().local().read(&format!("Task/{id}")).await {
                Ok(task) => task,
                Err(e) => {
                    tracing::warn!(task = id, "recovering a claimed Task: {e}");
                    continue;
                }
            };
            match task::status(&task) {
                Some("requested") => {
                    self.state.release(&id).await?;
                    self.handle(task).await?;
                }
                Some("in-progress") if !self.engine.holds_task(&business_key, &id).await? => {
                    match self.route(&task) {
                        Ok((process, state, message)) => {
                            self.hand_over(task, &process, state, &message).await?;
                        }
                        Err(reason) => {
                            self.fail(task, &reason).await?;
                        }
                    }
                    self.state.release(&id).await?;
                }
                _ => self.state.release(&id).await?,
            }
        }
        Ok(())
    }
}
