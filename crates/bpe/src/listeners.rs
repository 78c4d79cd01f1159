//! The listeners the engine service adds to every process, as the reference's parse listener
//! does: at a message start event the incoming Task becomes the start Task; at a message catch
//! event it joins the Tasks received in that scope; at an end event the Tasks of the ending
//! scope (and the start Task at the process's end) are set to completed.

use dsf_bpmn::deploy::{AddedListener, ListenerTarget};
use dsf_bpmn::value::{Value, Variables};
use serde_json::json;

use crate::activity::{ActivityContext, DelegateError};
use crate::api::ProcessPluginApi;
use crate::client::ClientError;
use crate::task;
use crate::variables::{self, INCOMING_TASK, START_TASK};

const START: &str = "dsf.bpe.StartListener";
const CONTINUE: &str = "dsf.bpe.ContinueListener";
const END: &str = "dsf.bpe.EndListener";

/// The listeners to configure the engine with.
pub fn added() -> Vec<AddedListener> {
    let listener = |target, event: &str, class: &str| AddedListener {
        target,
        event: event.to_owned(),
        class: class.to_owned(),
    };
    vec![
        listener(ListenerTarget::MessageStartEvents, "start", START),
        listener(ListenerTarget::MessageCatches, "end", CONTINUE),
        listener(ListenerTarget::EndEvents, "end", END),
    ]
}

/// The class names of the built-in listeners (known to every deployment).
pub fn class_names() -> [&'static str; 3] {
    [START, CONTINUE, END]
}

/// One of the built-in listeners.
pub enum Builtin {
    /// Message start event.
    Start,
    /// Message catch event.
    Continue,
    /// End event.
    End,
}

/// The built-in listener of `class`, if it is one.
pub fn builtin(class: &str) -> Option<Builtin> {
    match class {
        START => Some(Builtin::Start),
        CONTINUE => Some(Builtin::Continue),
        END => Some(Builtin::End),
        _ => None,
    }
}

impl Builtin {
    /// Runs the listener.
    pub async fn run(&self, ctx: &mut ActivityContext) -> Result<(), DelegateError> {
        match self {
            Builtin::Start => {
                if let Some(task) = ctx.variable(INCOMING_TASK).cloned() {
                    ctx.remove_variable(INCOMING_TASK);
                    ctx.set_variable(START_TASK, task);
                }
                Ok(())
            }
            Builtin::Continue => {
                let name = variables::incoming_name(ctx.string(variables::CORRELATION_KEY));
                if let Some(Value::Fhir(task)) = ctx.variable(&name).cloned() {
                    ctx.remove_variable(&name);
                    let mut tasks = ctx.received_tasks();
                    tasks.push(task);
                    let name = variables::received_name(ctx.work().scope);
                    ctx.set_variable(&name, Value::Json(json!(tasks)));
                }
                Ok(())
            }
            Builtin::End => end(ctx).await,
        }
    }
}

/// Completes the in-progress Tasks of the ending scope, newest first.
async fn end(ctx: &mut ActivityContext) -> Result<(), DelegateError> {
    let scope = ctx.work().scope;
    let mut tasks = ctx.received_tasks();
    let start = ctx
        .work()
        .top_level
        .then(|| ctx.start_task().cloned())
        .flatten();
    let had_received = !tasks.is_empty();
    for received in tasks.iter_mut().rev() {
        complete(ctx.api(), received).await?;
    }
    if had_received {
        ctx.remove_variable(&variables::received_name(scope));
    }
    if let Some(mut start) = start {
        complete(ctx.api(), &mut start).await?;
        ctx.update_start_task(start);
    }
    Ok(())
}

async fn complete(
    api: &ProcessPluginApi,
    task: &mut serde_json::Value,
) -> Result<(), DelegateError> {
    if task::status(task) != Some("in-progress") {
        return Ok(());
    }
    task["status"] = json!("completed");
    *task = put_task(api, task)
        .await
        .map_err(|e| DelegateError::Failed(format!("completing the Task: {e}")))?;
    Ok(())
}

/// Writes a Task changed by the process to the local server. When it changed there meanwhile
/// (412), the status is applied to the current version and the outputs it lacks are added, so
/// that outputs written meanwhile (e.g. by an activity before it failed) are kept.
pub async fn put_task(
    api: &ProcessPluginApi,
    task: &serde_json::Value,
) -> Result<serde_json::Value, ClientError> {
    match api.local().update(task).await {
        Err(e) if e.status().is_some_and(|s| s.as_u16() == 412) => {
            let id = task.get("id").and_then(|i| i.as_str()).unwrap_or_default();
            let mut current = api.local().read(&format!("Task/{id}")).await?;
            current["status"] = task["status"].clone();
            let outputs = task.get("output").and_then(|o| o.as_array());
            for output in outputs.into_iter().flatten() {
                let known = current
                    .get("output")
                    .and_then(|o| o.as_array())
                    .is_some_and(|known| known.contains(output));
                if !known {
                    task::push(&mut current, "output", output.clone());
                }
            }
            api.local().update(&current).await
        }
        other => other,
    }
}

/// Fails every in-progress Task an instance holds (start Task and received ones) with
/// `reason`.
pub async fn fail_tasks(api: &ProcessPluginApi, variables: &Variables, reason: &str) {
    let mut tasks: Vec<serde_json::Value> = variables
        .iter()
        .filter(|(name, _)| name.starts_with(variables::RECEIVED_TASKS))
        .filter_map(|(_, value)| variables::json(Some(value)))
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .cloned()
        .collect();
    tasks.extend(variables::json(variables.get(START_TASK)).cloned());
    for mut task in tasks {
        if task::status(&task) != Some("in-progress") {
            continue;
        }
        task::fail(&mut task, reason);
        if let Err(e) = put_task(api, &task).await {
            tracing::error!("failing a Task of a failed process: {e}");
        }
    }
}
