//! QuestionnaireResponse rules: the process engine creates them for user tasks (in progress), a
//! person of the local organization completes them; remote organizations never see them.

use dsf_fhir::Resource;
use dsf_fhir_store::Stored;
use serde_json::Value;

use dsf_fhir_store::search::access::ORGANIZATION_IDENTIFIER;

use super::{Caller, Operation, array_at, extensions, str_at};
use crate::error::ApiError;
use crate::practitioners::PRACTITIONER_IDENTIFIER;

/// Whether an item with `link_id` has a string answer.
fn has_string_answer(response: &Value, link_id: &str) -> bool {
    array_at(response, "item")
        .iter()
        .filter(|i| str_at(i, "linkId") == Some(link_id))
        .flat_map(|i| array_at(i, "answer"))
        .any(|a| str_at(a, "valueString").is_some_and(|s| !s.is_empty()))
}

/// What a new QuestionnaireResponse needs: in progress, a questionnaire, the user task it
/// belongs to.
fn check_new(response: &Value) -> Result<(), String> {
    if str_at(response, "status") != Some("in-progress") {
        return Err("a new QuestionnaireResponse must be in-progress".into());
    }
    if str_at(response, "questionnaire").is_none() {
        return Err("questionnaire missing".into());
    }
    if !has_string_answer(response, "user-task-id") {
        return Err("item user-task-id with a string answer missing".into());
    }
    Ok(())
}

/// Checks that `caller` may create `resource`, a QuestionnaireResponse.
pub fn check_create(caller: &Caller, resource: &Resource) -> Result<(), ApiError> {
    if !caller.identity.local || !caller.identity.is_organization_or_admin() {
        return Err(caller.forbidden(
            Operation::Create,
            "only the local organization and DSF administrators create QuestionnaireResponses",
        ));
    }
    check_new(&Value::Object(resource.as_json().clone()))
        .map_err(|reason| caller.forbidden(Operation::Create, reason))
}

/// The extension naming who may answer a QuestionnaireResponse besides the local organization and
/// DSF administrators.
const AUTHORIZATION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-questionnaire-authorization";

/// Whether the caller may complete `response`: the local organization, a DSF administrator, or a
/// user the response's authorization extension names (by practitioner identifier or role).
fn may_answer(caller: &Caller, response: &Value) -> bool {
    if !caller.identity.local {
        return false;
    }
    let Some(practitioner) = caller.identity.practitioner.as_deref() else {
        return true;
    };
    practitioner.is_admin()
        || extensions(response, AUTHORIZATION).any(|ext| {
            extensions(ext, "practitioner").any(|e| {
                e.get("valueIdentifier").is_some_and(|i| {
                    str_at(i, "system") == Some(PRACTITIONER_IDENTIFIER)
                        && str_at(i, "value") == Some(practitioner.email.as_str())
                })
            }) || extensions(ext, "practitioner-role").any(|e| {
                e.get("valueCoding").is_some_and(|c| {
                    str_at(c, "system")
                        .zip(str_at(c, "code"))
                        .is_some_and(|(s, code)| practitioner.has_role(s, code))
                })
            })
        })
}

/// The item structure without answers: what may not change when a response is completed.
fn questions(response: &Value) -> Vec<(Option<&str>, Option<&str>)> {
    array_at(response, "item")
        .iter()
        .map(|i| (str_at(i, "linkId"), str_at(i, "text")))
        .collect()
}

/// Whether `new` differs from `old` in its status alone (and the server-managed `meta`).
fn only_status_changes(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
            o.remove("meta");
        }
        v
    };
    strip(old) == strip(new)
}

/// Checks that `caller` may replace `old` with `new`: `in-progress → completed` with answers
/// given, author and time of authoring set and the questions as they are; or, as the reference
/// allows, a status change alone from `in-progress` to `stopped` or `completed` to `amended`
/// (the process engine marks the responses it has taken over).
pub fn check_update(caller: &Caller, old: &Stored, new: &Resource) -> Result<(), ApiError> {
    let old = Value::Object(old.resource.as_json().clone());
    let new = Value::Object(new.as_json().clone());
    let refuse = |reason: &str| caller.forbidden(Operation::Update, reason);
    if !may_answer(caller, &old) {
        return Err(refuse(
            "not authorized to answer this QuestionnaireResponse",
        ));
    }
    match (str_at(&old, "status"), str_at(&new, "status")) {
        (Some("in-progress"), Some("completed")) => {}
        (Some("in-progress"), Some("stopped")) | (Some("completed"), Some("amended"))
            if only_status_changes(&old, &new) =>
        {
            return Ok(());
        }
        _ => {
            return Err(refuse(
                "a QuestionnaireResponse may only go from in-progress to completed or stopped, \
                 or from completed to amended",
            ));
        }
    }
    for key in ["questionnaire", "basedOn", "subject", "identifier"] {
        if old.get(key) != new.get(key) {
            return Err(refuse(
                "only the answers of a QuestionnaireResponse may change",
            ));
        }
    }
    if questions(&old) != questions(&new) {
        return Err(refuse(
            "the items of a QuestionnaireResponse may not change",
        ));
    }
    let author = new
        .get("author")
        .and_then(|a| a.get("identifier"))
        .and_then(|i| str_at(i, "system").zip(str_at(i, "value")));
    let me = match &caller.identity.practitioner {
        Some(p) => (PRACTITIONER_IDENTIFIER, p.email.as_str()),
        None => (
            ORGANIZATION_IDENTIFIER,
            caller.identity.organization.as_str(),
        ),
    };
    if author != Some(me) {
        return Err(refuse(
            "a completed QuestionnaireResponse needs the completing identity as author",
        ));
    }
    if str_at(&new, "authored").is_none() {
        return Err(refuse("a completed QuestionnaireResponse needs authored"));
    }
    Ok(())
}
