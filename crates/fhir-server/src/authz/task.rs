//! Task rules: Tasks are the messages between sites, so who may create which Task, and how its
//! status may move, is checked against the process's ActivityDefinition.

use dsf_fhir::Resource;
use dsf_fhir_store::search::access::organization_identifier;
use std::sync::Arc;

use dsf_fhir_store::{Stored, Transaction};
use serde_json::Value;

use super::definitions;
use super::process::{self, Party};
use super::unique::exists_other;
use super::{Caller, Operation, array_at, json_of, str_at};
use crate::allow_list::identifier_values;
use crate::error::ApiError;
use crate::practitioners::PRACTITIONER_IDENTIFIER;

/// Identifier system of draft Tasks (templates for starting processes).
pub const TASK_IDENTIFIER: &str = "http://dsf.dev/sid/task-identifier";
/// The CodeSystem of the Task inputs the engine reads.
pub const BPMN_MESSAGE: &str = "http://dsf.dev/fhir/CodeSystem/bpmn-message";

/// `instantiatesCanonical` split into the process URL and its `major.minor` version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessReference<'a> {
    /// `http(s)://<domain>/bpe/Process/<name>`
    pub url: &'a str,
    /// `<major>.<minor>`
    pub version: &'a str,
}

/// Parses `http[s]://<domain>/bpe/Process/<name>|<major>.<minor>` as the reference's pattern
/// defines it (domain labels of letters, digits and inner hyphens, at least two of them).
pub fn parse_instantiates(canonical: &str) -> Option<ProcessReference<'_>> {
    let (url, version) = canonical.split_once('|')?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (domain, name) = rest.split_once("/bpe/Process/")?;
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let version_ok = version.split_once('.').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    (labels.len() >= 2 && labels.iter().all(label_ok) && name_ok && version_ok)
        .then_some(ProcessReference { url, version })
}

/// Whether a Task input is of type `bpmn-message|code`.
fn is_input(input: &Value, code: &str) -> bool {
    input
        .get("type")
        .map(|t| array_at(t, "coding"))
        .unwrap_or_default()
        .iter()
        .any(|c| str_at(c, "system") == Some(BPMN_MESSAGE) && str_at(c, "code") == Some(code))
}

/// The inputs of type `bpmn-message|code`.
pub fn inputs<'a>(task: &'a Value, code: &'a str) -> impl Iterator<Item = &'a Value> {
    array_at(task, "input")
        .iter()
        .filter(move |i| is_input(i, code))
}

/// The one non-blank `message-name` input.
fn message_name(task: &Value) -> Result<&str, String> {
    let names: Vec<&Value> = inputs(task, "message-name").collect();
    match names.as_slice() {
        [one] => str_at(one, "valueString")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| "message-name input is blank".to_owned()),
        _ => Err("a Task needs exactly one message-name input".into()),
    }
}

/// The organization identifier value of a logical reference.
fn organization_of(reference: &Value) -> Option<&str> {
    organization_identifier(reference.get("identifier"))
}

/// The single recipient's organization identifier.
fn recipient(task: &Value) -> Result<&str, String> {
    let recipients = task
        .get("restriction")
        .map(|r| array_at(r, "recipient"))
        .unwrap_or_default();
    match recipients {
        [one] => organization_of(one).ok_or_else(|| {
            "restriction.recipient must be a logical organization reference".to_owned()
        }),
        _ => Err("a Task needs exactly one restriction.recipient".into()),
    }
}

/// Whether the Task's requester is the caller: its organization, or for a local user their
/// practitioner identifier.
fn is_requester(task: &Value, caller: &Caller) -> bool {
    let Some(requester) = task.get("requester") else {
        return false;
    };
    match &caller.identity.practitioner {
        Some(practitioner) => requester.get("identifier").is_some_and(|identifier| {
            str_at(identifier, "system") == Some(PRACTITIONER_IDENTIFIER)
                && str_at(identifier, "value") == Some(practitioner.email.as_str())
        }),
        None => organization_of(requester) == Some(caller.identity.organization.as_str()),
    }
}

/// The requester's organization identifier.
fn requester(task: &Value) -> Result<&str, String> {
    task.get("requester")
        .and_then(organization_of)
        .ok_or_else(|| "requester must be a logical organization reference".to_owned())
}

/// The active or draft ActivityDefinition a Task instantiates.
async fn find_definition(
    caller: &Caller,
    tx: &mut Transaction,
    process: &ProcessReference<'_>,
) -> Result<Option<Arc<Value>>, ApiError> {
    if tx.touches("ActivityDefinition") {
        // This transaction changed definitions the cache cannot know of yet.
        let found = tx
            .search(&definitions::query(process.url, process.version), 10)
            .await?;
        return Ok(definitions::usable(found).map(Arc::new));
    }
    Ok(caller.definitions.get(process.url, process.version).await?)
}

/// The rules every new Task (and every draft update) meets; returns the process and message.
fn check_common(task: &Value) -> Result<(ProcessReference<'_>, &str), String> {
    if !array_at(task, "output").is_empty() {
        return Err("a new Task must not have outputs".into());
    }
    let canonical = str_at(task, "instantiatesCanonical").unwrap_or_default();
    let process = parse_instantiates(canonical).ok_or_else(|| {
        format!("instantiatesCanonical {canonical} is not http(s)://<domain>/bpe/Process/<name>|<major>.<minor>")
    })?;
    Ok((process, message_name(task)?))
}

fn task_identifiers(task: &Value) -> Vec<&str> {
    identifier_values(task.get("identifier"), TASK_IDENTIFIER).collect()
}

/// Checks a draft Task (a process template) of the local organization.
async fn check_draft(
    caller: &Caller,
    tx: &mut Transaction,
    task: &Value,
    id: Option<&str>,
) -> Result<Result<(), String>, ApiError> {
    if !caller.identity.local || !caller.identity.is_organization_or_admin() {
        return Ok(Err(
            "only the local organization and DSF administrators may write draft Tasks".into(),
        ));
    }
    if let Err(reason) = check_common(task) {
        return Ok(Err(reason));
    }
    let local = caller.local_organization();
    if requester(task).ok() != Some(local) || recipient(task).ok() != Some(local) {
        return Ok(Err(
            "a draft Task's requester and recipient must be the local organization".into(),
        ));
    }
    let identifier = match task_identifiers(task).as_slice() {
        [one] if !one.is_empty() => (*one).to_owned(),
        _ => {
            return Ok(Err(format!(
                "a draft Task needs exactly one identifier of {TASK_IDENTIFIER}"
            )));
        }
    };
    let token = format!("{TASK_IDENTIFIER}|{identifier}");
    if exists_other(tx, "Task", &[("identifier", &token)], id).await? {
        return Err(ApiError::new(
            http::StatusCode::FORBIDDEN,
            "duplicate",
            format!("Duplicate Task resources exist: identifier {identifier}"),
        ));
    }
    Ok(Ok(()))
}

/// Checks that `caller` may create `resource`, a Task.
pub async fn check_create(
    caller: &Caller,
    tx: &mut Transaction,
    resource: &Resource,
) -> Result<(), ApiError> {
    let task = json_of(resource);
    let refuse = |reason: String| caller.forbidden(Operation::Create, reason);
    match str_at(&task, "status") {
        Some("draft") => check_draft(caller, tx, &task, None).await?.map_err(refuse),
        Some("requested") => {
            let (process, message) = check_common(&task).map_err(refuse)?;
            if !task_identifiers(&task).is_empty() {
                return Err(refuse(
                    "a requested Task must not have a task-identifier".into(),
                ));
            }
            if !is_requester(&task, caller) {
                return Err(refuse("requester is not the caller".into()));
            }
            if recipient(&task).map_err(refuse)? != caller.local_organization() {
                return Err(refuse("recipient is not the local organization".into()));
            }
            let definition = find_definition(caller, tx, &process)
                .await?
                .ok_or_else(|| {
                    refuse(format!(
                        "no active or draft ActivityDefinition {}|{}",
                        process.url, process.version
                    ))
                })?;
            let requester = Party::caller(&caller.identity);
            let recipient = Party::local_organization(caller.local_organization());
            let profiles = process::profiles_of(&task);
            if process::is_authorized(
                &definition,
                message,
                &profiles,
                requester,
                recipient,
                &caller.allow_list,
            ) {
                Ok(())
            } else {
                Err(refuse(format!(
                    "ActivityDefinition {}|{} does not authorize {} to send {message}",
                    process.url, process.version, caller.identity.organization
                )))
            }
        }
        other => Err(refuse(format!(
            "a new Task must be draft or requested, not {}",
            other.unwrap_or("(missing)")
        ))),
    }
}

/// The inputs without `business-key`, and the business key if there is one.
fn split_business_key(task: &Value) -> (Vec<&Value>, Vec<&Value>) {
    array_at(task, "input")
        .iter()
        .partition(|i| !is_input(i, "business-key"))
}

/// The elements that stay as they are while a Task is processed. `business_key_may_appear`: the
/// engine may add a business key once.
fn check_unchanged(old: &Value, new: &Value, business_key_may_appear: bool) -> Result<(), String> {
    for key in ["requester", "restriction", "instantiatesCanonical"] {
        if old.get(key) != new.get(key) {
            return Err(format!("Task.{key} may not change"));
        }
    }
    let (old_inputs, old_key) = split_business_key(old);
    let (new_inputs, new_key) = split_business_key(new);
    if old_inputs != new_inputs {
        return Err("Task inputs may not change".into());
    }
    let key_ok =
        old_key == new_key || (business_key_may_appear && old_key.is_empty() && new_key.len() == 1);
    if key_ok {
        Ok(())
    } else {
        Err("the business-key input may only be added, once".into())
    }
}

/// Checks that `caller` may replace Task `old` with `new`.
pub async fn check_update(
    caller: &Caller,
    tx: &mut Transaction,
    old: &Stored,
    new: &Resource,
) -> Result<(), ApiError> {
    let (old, new) = (json_of(&old.resource), json_of(new));
    let id = str_at(&old, "id").map(str::to_owned);
    let refuse = |reason: String| caller.forbidden(Operation::Update, reason);
    let transition = (
        str_at(&old, "status").unwrap_or_default(),
        str_at(&new, "status").unwrap_or_default(),
    );
    let needs_authorization = match transition {
        ("draft", "draft") => {
            if task_identifiers(&old) != task_identifiers(&new) {
                return Err(refuse(
                    "a draft Task's task-identifier may not change".into(),
                ));
            }
            return check_draft(caller, tx, &new, id.as_deref())
                .await?
                .map_err(refuse);
        }
        ("requested", "in-progress") => {
            check_unchanged(&old, &new, true).map_err(refuse)?;
            if !array_at(&new, "output").is_empty() {
                return Err(refuse(
                    "a Task going in-progress must not have outputs".into(),
                ));
            }
            true
        }
        ("in-progress", "in-progress" | "completed") => {
            check_unchanged(&old, &new, false).map_err(refuse)?;
            true
        }
        ("requested" | "in-progress", "failed") => {
            // Allowed even when the process is gone, so that its Tasks can still be closed.
            check_unchanged(&old, &new, true).map_err(refuse)?;
            false
        }
        (from, to) => {
            return Err(refuse(format!(
                "Task status may not change from {from} to {to}"
            )));
        }
    };
    if needs_authorization {
        let (process, message) = match (
            parse_instantiates(str_at(&new, "instantiatesCanonical").unwrap_or_default()),
            message_name(&new),
        ) {
            (Some(process), Ok(message)) => (process, message),
            _ => {
                return Err(refuse(
                    "Task has no valid process reference or message".into(),
                ));
            }
        };
        let definition = find_definition(caller, tx, &process).await?;
        let recipient = Party::local_organization(caller.local_organization());
        let profiles = process::profiles_of(&new);
        let authorized = definition.is_some_and(|d| {
            process::admits_recipient(&d, message, &profiles, recipient, &caller.allow_list)
        });
        if !authorized {
            return Err(refuse(format!(
                "process {}|{} is not authorized for the local organization",
                process.url, process.version
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_instantiates;

    #[test]
    fn instantiates_canonical() {
        let p = parse_instantiates("http://dsf.dev/bpe/Process/ping|1.0").expect("valid");
        assert_eq!(p.url, "http://dsf.dev/bpe/Process/ping");
        assert_eq!(p.version, "1.0");
        assert!(
            parse_instantiates("https://medizininformatik-initiative.de/bpe/Process/dataSend|1.1")
                .is_some()
        );
        for bad in [
            "http://dsf.dev/bpe/Process/ping",
            "http://dsf.dev/bpe/Process/ping|1",
            "http://dsf.dev/bpe/Process/ping|1.0.0",
            "http://dsf/bpe/Process/ping|1.0",
            "ftp://dsf.dev/bpe/Process/ping|1.0",
            "http://dsf.dev/bpe/Process/pi_ng|1.0",
            "http://-dsf.dev/bpe/Process/ping|1.0",
        ] {
            assert!(parse_instantiates(bad).is_none(), "{bad}");
        }
    }
}
