//! Runs the BPMN engine for the site: hands Tasks to it, runs the activities of the work it hands
//! out (concurrently, outside the engine's lock), fires due timers, creates QuestionnaireResponses
//! for user tasks, and fails the Tasks of processes that fail.

use std::sync::Arc;
use std::time::Duration;

use dsf_bpmn::engine::{Correlation, Engine};
use dsf_bpmn::error::EngineError;
use dsf_bpmn::exec::{Effect, Incident, ItemId, UserTask, WorkItem, WorkOutcome, WorkResult};
use dsf_bpmn::value::{Value, Variables};
use dsf_bpmn_store::SqlStore;
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

use crate::activity::{Activities, ActivityContext, DelegateError};
use crate::api::ProcessPluginApi;
use crate::listeners;
use crate::user_task;
use crate::variables;

/// The longest the timer loop sleeps: engines sharing a database see each other's due timers
/// at least this often.
const TIMER_POLL: Duration = Duration::from_secs(1);

/// The site's engine with its activities and services.
pub struct ProcessEngine {
    engine: Mutex<Engine<SqlStore>>,
    activities: Activities,
    api: Arc<ProcessPluginApi>,
    wake: Arc<Notify>,
}

/// How the engine takes a Task.
#[derive(Debug)]
pub enum Handover {
    /// A new instance started.
    Started(Uuid),
    /// A waiting execution received it.
    Correlated(Uuid),
}

impl ProcessEngine {
    /// The engine `engine` with `activities` and `api`.
    pub fn new(
        engine: Engine<SqlStore>,
        activities: Activities,
        api: Arc<ProcessPluginApi>,
    ) -> Arc<Self> {
        Arc::new(ProcessEngine {
            engine: Mutex::new(engine),
            activities,
            api,
            wake: Arc::new(Notify::new()),
        })
    }

    /// The services activities get.
    pub fn api(&self) -> &Arc<ProcessPluginApi> {
        &self.api
    }

    /// The engine, for deployment and queries.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Engine<SqlStore>> {
        self.engine.lock().await
    }

    /// Starts the timer loop and runs the work left over from before a restart.
    pub async fn start(self: &Arc<Self>) {
        let pending = self.lock().await.pending_work();
        for work in pending {
            self.spawn_work(work);
        }
        let engine = Arc::downgrade(self);
        let notify = self.wake.clone();
        tokio::spawn(async move {
            while let Some(engine) = engine.upgrade() {
                let next = engine.fire_due().await;
                let sleep = next.map_or(TIMER_POLL, |d| d.min(TIMER_POLL));
                drop(engine);
                let wake = notify.notified();
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = wake => {}
                }
            }
        });
    }

    /// Fires due timers and jobs; returns how long until the next is due.
    async fn fire_due(self: &Arc<Self>) -> Option<Duration> {
        let (effects, next) = {
            let mut engine = self.lock().await;
            if let Err(e) = engine.run_due().await {
                tracing::error!("process engine timers: {e}");
            }
            let now = engine.now();
            let next = engine
                .next_due()
                .map(|due| Duration::try_from(due - now).unwrap_or(Duration::ZERO));
            (engine.take_effects(), next)
        };
        self.handle(effects);
        next
    }

    /// Hands `task` (in progress) to the latest active definition `key`|`version`: correlates
    /// with an instance of it with the business key, else starts one at the message start event.
    pub async fn hand_over(
        self: &Arc<Self>,
        key: &str,
        version: &str,
        message: &str,
        business_key: &str,
        correlation_key: Option<&str>,
        task: serde_json::Value,
    ) -> Result<Handover, EngineError> {
        let (result, effects) = {
            let mut engine = self.lock().await;
            let running = runs(&engine, key, business_key).await?;
            // A start takes the Task as the start Task; a correlation under its correlation key.
            let name = if running {
                variables::incoming_name(correlation_key)
            } else {
                variables::INCOMING_TASK.to_owned()
            };
            let vars = Variables::from([(name, Value::Fhir(task))]);
            let result = if running {
                engine
                    .correlate(Correlation {
                        message: message.to_owned(),
                        business_key: Some(business_key.to_owned()),
                        correlation_key: correlation_key.map(str::to_owned),
                        variables: vars,
                    })
                    .await
                    .map(Handover::Correlated)
            } else {
                engine
                    .start_by_message(
                        message,
                        key,
                        Some(version),
                        Some(business_key.to_owned()),
                        vars,
                    )
                    .await
                    .map(Handover::Started)
            };
            (result, engine.take_effects())
        };
        self.handle(effects);
        self.wake.notify_one();
        result
    }

    /// Completes the user task `id` with the QuestionnaireResponse that answers it.
    pub async fn complete_user_task(
        self: &Arc<Self>,
        id: ItemId,
        response: serde_json::Value,
    ) -> Result<(), EngineError> {
        let mut vars = Variables::new();
        vars.insert(
            variables::QUESTIONNAIRE_RESPONSE.to_owned(),
            Value::Fhir(response),
        );
        let (result, effects) = {
            let mut engine = self.lock().await;
            let result = engine.complete_user_task(id, vars).await;
            (result, engine.take_effects())
        };
        self.handle(effects);
        self.wake.notify_one();
        result
    }

    /// Whether an instance of definition `key` with `business_key` runs.
    pub async fn runs(&self, key: &str, business_key: &str) -> Result<bool, EngineError> {
        runs(&*self.lock().await, key, business_key).await
    }

    /// Whether a running instance with `business_key` holds the Task `task_id`.
    pub async fn holds_task(&self, business_key: &str, task_id: &str) -> Result<bool, EngineError> {
        let engine = self.lock().await;
        for id in engine.instances_by_business_key(business_key) {
            if let Some(info) = engine.instance(id).await?
                && variables::holds_task(&info.variables, task_id)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn handle(self: &Arc<Self>, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Work(work) => self.spawn_work(work),
                Effect::UserTaskCreated(task) => self.spawn_user_task(task),
                Effect::Incident { instance, incident } => self.spawn_failure(instance, incident),
                Effect::InstanceEnded { instance, state } => {
                    tracing::debug!(%instance, ?state, "process instance ended");
                }
            }
        }
    }

    fn spawn_work(self: &Arc<Self>, work: WorkItem) {
        let engine = self.clone();
        tokio::spawn(async move { engine.run_work(work).await });
    }

    fn spawn_user_task(self: &Arc<Self>, task: UserTask) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = user_task::create_response(&engine.api, &task).await {
                tracing::error!(element = task.element, "user task: {e}");
            }
        });
    }

    fn spawn_failure(self: &Arc<Self>, instance: Uuid, incident: Incident) {
        let engine = self.clone();
        tokio::spawn(async move { engine.fail_instance(instance, incident).await });
    }

    async fn run_work(self: Arc<Self>, work: WorkItem) {
        let variables = match self.lock().await.work_variables(work.id) {
            Ok(variables) => variables,
            // cancelled meanwhile (boundary event, deletion)
            Err(_) => return,
        };
        let mut ctx = ActivityContext::new(work.clone(), variables, self.api.clone());
        let outcome = match listeners::builtin(&work.class) {
            Some(listener) => listener.run(&mut ctx).await,
            None => match self.activities.get(&work.class) {
                Some(activity) => activity.execute(&mut ctx).await,
                None => Err(DelegateError::Failed(format!(
                    "no activity for class '{}'",
                    work.class
                ))),
            },
        };
        let outcome = match outcome {
            Ok(()) => WorkOutcome::Completed,
            Err(DelegateError::Bpmn { code, message }) => WorkOutcome::BpmnError { code, message },
            Err(DelegateError::Failed(message)) => {
                tracing::warn!(
                    element = work.element,
                    class = work.class,
                    attempt = work.attempt,
                    "activity failed: {message}"
                );
                WorkOutcome::Failed(message)
            }
        };
        let result = WorkResult {
            variables: ctx.into_changes(),
            outcome,
        };
        let effects = {
            let mut engine = self.lock().await;
            match engine.complete_work(work.id, result).await {
                Ok(())
                | Err(EngineError::WorkNotFound(_))
                | Err(EngineError::Suspended(_))
                | Err(EngineError::InstanceNotFound(_)) => {}
                Err(e) => tracing::error!(element = work.element, "process engine: {e}"),
            }
            engine.take_effects()
        };
        self.handle(effects);
        self.wake.notify_one();
    }

    /// A process failed for good: its in-progress Tasks are failed with the reason and the
    /// instance is deleted, as the reference does.
    async fn fail_instance(self: Arc<Self>, id: Uuid, incident: Incident) {
        let info = match self.lock().await.instance(id).await {
            Ok(Some(info)) => info,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%id, "process engine: {e}");
                return;
            }
        };
        let reason = format!(
            "Process {}|{} has fatal error in step {}, reason: {}",
            info.definition.key, info.definition.version, incident.element, incident.message
        );
        tracing::error!(%id, "{reason}");
        listeners::fail_tasks(&self.api, &info.variables, &reason).await;
        let effects = {
            let mut engine = self.lock().await;
            if let Err(e) = engine.delete(id, &reason).await {
                tracing::error!(%id, "deleting the failed process instance: {e}");
            }
            engine.take_effects()
        };
        self.handle(effects);
    }
}

/// Whether an instance of definition `key` with `business_key` runs on `engine`.
async fn runs(
    engine: &Engine<SqlStore>,
    key: &str,
    business_key: &str,
) -> Result<bool, EngineError> {
    for id in engine.instances_by_business_key(business_key) {
        if let Some(info) = engine.instance(id).await?
            && info.definition.key == key
            && info.ended.is_none()
        {
            return Ok(true);
        }
    }
    Ok(false)
}
