//! User tasks as the reference runs them: a BPMN user task creates a QuestionnaireResponse
//! (status in-progress) from the Questionnaire named by `camunda:formKey` on the local FHIR
//! server; a person completes it there, and the engine service continues the process with it.

use dsf_bpmn::exec::{ItemId, UserTask};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{ProcessPluginApi, encode};
use crate::client::ClientError;
use crate::task::{READ_ACCESS_TAG, organization_reference};

/// The item holding the business key.
pub const BUSINESS_KEY_ITEM: &str = "business-key";
/// The item identifying the user task.
pub const USER_TASK_ID_ITEM: &str = "user-task-id";

/// The `user-task-id` answer of a user task: `<instance>/<seq>`.
pub fn user_task_id(id: ItemId) -> String {
    format!("{}/{}", id.instance, id.seq)
}

/// The user task a `user-task-id` answer names.
pub fn parse_user_task_id(text: &str) -> Option<ItemId> {
    let (instance, seq) = text.split_once('/')?;
    Some(ItemId {
        instance: uuid::Uuid::try_parse(instance).ok()?,
        seq: seq.parse().ok()?,
    })
}

/// Creates the in-progress QuestionnaireResponse of `task` on the local server.
pub async fn create_response(
    api: &ProcessPluginApi,
    task: &UserTask,
) -> Result<Value, ClientError> {
    let form_key = task.form_key.clone().unwrap_or_default();
    let (url, version) = form_key
        .split_once('|')
        .map_or((form_key.as_str(), None), |(u, v)| (u, Some(v)));
    let mut query = format!("Questionnaire?url={}", encode(url));
    if let Some(version) = version {
        query.push_str(&format!("&version={}", encode(version)));
    }
    let questionnaire = api.local().search_all(&query).await?.into_iter().next();
    let mut items = vec![
        answered(
            BUSINESS_KEY_ITEM,
            "The business-key of the process execution",
            task.business_key.clone().unwrap_or_default(),
        ),
        answered(
            USER_TASK_ID_ITEM,
            "The user-task-id of the process execution",
            user_task_id(task.id),
        ),
    ];
    if let Some(questionnaire) = &questionnaire {
        items.extend(
            questionnaire
                .get("item")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(unanswered),
        );
    } else {
        tracing::warn!(
            form_key,
            "user task: Questionnaire not found on the local server"
        );
    }
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let response = json!({
        "resourceType": "QuestionnaireResponse",
        "meta": {"tag": [{"system": READ_ACCESS_TAG, "code": "LOCAL"}]},
        "questionnaire": form_key,
        "status": "in-progress",
        "authored": now,
        "author": organization_reference(api.local_organization_identifier()),
        "item": items,
    });
    api.local().create(&response).await
}

fn answered(link_id: &str, text: &str, value: String) -> Value {
    json!({"linkId": link_id, "text": text, "answer": [{"valueString": value}]})
}

/// A Questionnaire item as an item without answer; the business key and user task id items are
/// answered by the engine, display items stay as they are.
fn unanswered(item: &Value) -> Option<Value> {
    let link_id = item.get("linkId")?.as_str()?;
    if link_id == BUSINESS_KEY_ITEM || link_id == USER_TASK_ID_ITEM {
        return None;
    }
    let mut out = json!({"linkId": link_id});
    if let Some(text) = item.get("text") {
        out["text"] = text.clone();
    }
    if let Some(children) = item.get("item").and_then(Value::as_array) {
        out["item"] = json!(children.iter().filter_map(unanswered).collect::<Vec<_>>());
    }
    Some(out)
}

/// The string answer of the item `link_id` of a QuestionnaireResponse.
pub fn answer<'a>(response: &'a Value, link_id: &str) -> Option<&'a str> {
    response
        .get("item")?
        .as_array()?
        .iter()
        .find(|i| i.get("linkId").and_then(Value::as_str) == Some(link_id))?
        .pointer("/answer/0/valueString")?
        .as_str()
}
