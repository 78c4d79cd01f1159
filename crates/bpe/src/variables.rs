//! The process variables the engine service keeps for every process: the Tasks an instance
//! started with and received, the last completed QuestionnaireResponse, and the targets of
//! messages (`target`, `targets` as the reference's models name them).

use dsf_bpmn::value::{Value, Variables};
use serde::{Deserialize, Serialize};

/// The Task being handed to the process (taken by the start and continue listeners); with a
/// correlation key, [`incoming_name`] names it.
pub const INCOMING_TASK: &str = "dsf.task";
/// The Task that started the process.
pub const START_TASK: &str = "dsf.startTask";
/// Prefix of the lists of Tasks received per scope: `dsf.tasks.<scope>`.
pub const RECEIVED_TASKS: &str = "dsf.tasks.";
/// The QuestionnaireResponse that completed the last user task.
pub const QUESTIONNAIRE_RESPONSE: &str = "dsf.questionnaireResponse";
/// The message target of a send (`${target...}`).
pub const TARGET: &str = "target";
/// The message targets of a multi-instance send (`${targets.entries}`).
pub const TARGETS: &str = "targets";
/// Matches the correlation key of a Task with the waiting execution (set by the process).
pub const CORRELATION_KEY: &str = "correlationKey";

/// Where a message goes: an organization, its endpoint, and a correlation key that tells the
/// branches of one process instance apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The organization's identifier value.
    pub organization_identifier_value: String,
    /// The endpoint's identifier value.
    pub endpoint_identifier_value: String,
    /// The endpoint's address (FHIR base URL).
    pub endpoint_url: String,
    /// The correlation key of the branch for this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_key: Option<String>,
}

/// The variable value of one target.
pub fn target_value(target: &Target) -> Value {
    Value::Json(serde_json::to_value(target).unwrap_or_default())
}

/// The variable value of a target list: `{"entries": [...]}`.
pub fn targets_value(targets: &[Target]) -> Value {
    Value::Json(serde_json::json!({ "entries": targets }))
}

/// The JSON of a JSON or FHIR variable.
pub fn json(value: Option<&Value>) -> Option<&serde_json::Value> {
    match value {
        Some(Value::Json(json) | Value::Fhir(json)) => Some(json),
        _ => None,
    }
}

/// The variable a Task with `correlation_key` is handed over in: branches waiting at the same
/// time each take their own, however their listeners interleave.
pub fn incoming_name(correlation_key: Option<&str>) -> String {
    match correlation_key {
        Some(key) => format!("{INCOMING_TASK}.{key}"),
        None => INCOMING_TASK.to_owned(),
    }
}

/// The name of the list of Tasks received in `scope`.
pub fn received_name(scope: u64) -> String {
    format!("{RECEIVED_TASKS}{scope}")
}

/// The Tasks received in `scope`, oldest first.
pub fn tasks_of(variables: &Variables, scope: u64) -> Vec<serde_json::Value> {
    json(variables.get(&received_name(scope)))
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Whether the variables of an instance hold the Task `id` (as start Task or received).
pub fn holds_task(variables: &Variables, id: &str) -> bool {
    let is = |task: &serde_json::Value| task.get("id").and_then(|i| i.as_str()) == Some(id);
    variables.iter().any(|(name, value)| {
        (name == START_TASK && json(Some(value)).is_some_and(is))
            || (name.starts_with(RECEIVED_TASKS)
                && json(Some(value))
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|tasks| tasks.iter().any(is)))
    })
}
