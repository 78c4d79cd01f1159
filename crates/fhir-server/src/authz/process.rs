//! The process-authorization extension of ActivityDefinitions: which organizations may start or
//! continue a process by sending which message, and which may receive it.
//!
//! Each `extension-process-authorization` names a message, a Task profile, requester codings and
//! recipient codings from `http://dsf.dev/fhir/CodeSystem/process-authorization`. A Task is
//! authorized when one block matches its message name and profile, one requester coding admits the
//! requester and one recipient coding admits the local organization.

use serde_json::Value;

use super::tags::is_organization_role;
use super::{array_at, extensions, str_at};
use crate::allow_list::AllowList;
use crate::identity::Identity;
use crate::practitioners::Practitioner;
use dsf_fhir_store::search::access::organization_identifier;

/// The extension on ActivityDefinition.
pub const PROCESS_AUTHORIZATION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization";
/// The CodeSystem of requester and recipient codes.
pub const PROCESS_AUTHORIZATION_CODES: &str =
    "http://dsf.dev/fhir/CodeSystem/process-authorization";
const ORGANIZATION_EXTENSION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-organization";
const ROLE_EXTENSION: &str = "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-parent-organization-role";
const PRACTITIONER_EXTENSION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-practitioner";
const ORGANIZATION_PRACTITIONER_EXTENSION: &str = "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-organization-practitioner";
const ROLE_PRACTITIONER_EXTENSION: &str = "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-parent-organization-role-practitioner";

/// Who asks to be authorized: an organization, local or remote, or a local user.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    /// Whether it belongs to this site.
    pub local: bool,
    /// Its organization identifier value.
    pub organization: &'a str,
    /// For a local user: their practitioner roles.
    pub practitioner: Option<&'a Practitioner>,
}

impl<'a> Party<'a> {
    /// The caller of a request.
    pub fn caller(identity: &'a Identity) -> Party<'a> {
        Party {
            local: identity.local,
            organization: &identity.organization,
            practitioner: identity.practitioner.as_deref(),
        }
    }

    /// The local organization itself.
    pub fn local_organization(organization: &'a str) -> Party<'a> {
        Party {
            local: true,
            organization,
            practitioner: None,
        }
    }
}

/// The codes, whether each may be a recipient, and the extension its coding needs.
const CODES: [(&str, bool, Option<&str>); 9] = [
    ("LOCAL_ALL", true, None),
    (
        "LOCAL_ALL_PRACTITIONER",
        false,
        Some(PRACTITIONER_EXTENSION),
    ),
    ("LOCAL_ORGANIZATION", true, Some(ORGANIZATION_EXTENSION)),
    (
        "LOCAL_ORGANIZATION_PRACTITIONER",
        false,
        Some(ORGANIZATION_PRACTITIONER_EXTENSION),
    ),
    ("LOCAL_ROLE", true, Some(ROLE_EXTENSION)),
    (
        "LOCAL_ROLE_PRACTITIONER",
        false,
        Some(ROLE_PRACTITIONER_EXTENSION),
    ),
    ("REMOTE_ALL", false, None),
    ("REMOTE_ORGANIZATION", false, Some(ORGANIZATION_EXTENSION)),
    ("REMOTE_ROLE", false, Some(ROLE_EXTENSION)),
];

/// The `(parent, role coding)` of a parent-organization-role extension.
fn parent_and_role(ext: &Value) -> Option<(&str, &Value)> {
    let parent = extensions(ext, "parent-organization")
        .find_map(|e| organization_identifier(e.get("valueIdentifier")))?;
    let role = extensions(ext, "organization-role").find_map(|e| e.get("valueCoding"))?;
    Some((parent, role))
}

/// Checks one requester or recipient coding of a definition.
fn check_coding(coding: &Value, recipient: bool) -> Result<(), String> {
    if str_at(coding, "system") != Some(PROCESS_AUTHORIZATION_CODES) {
        return Err(format!(
            "process-authorization coding must use {PROCESS_AUTHORIZATION_CODES}"
        ));
    }
    let code = str_at(coding, "code").unwrap_or_default();
    let (_, may_receive, needed) = CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .ok_or_else(|| format!("unknown process-authorization code {code}"))?;
    if recipient && !may_receive {
        return Err(format!("{code} cannot be a recipient"));
    }
    let Some(needed) = needed else {
        return Ok(());
    };
    let ext = extensions(coding, needed)
        .next()
        .ok_or_else(|| format!("{code} needs extension {needed}"))?;
    let valid = match *needed {
        ORGANIZATION_EXTENSION => organization_identifier(ext.get("valueIdentifier")).is_some(),
        ROLE_EXTENSION => {
            parent_and_role(ext).is_some_and(|(_, role)| is_organization_role(Some(role)))
        }
        _ => true,
    };
    if valid {
        Ok(())
    } else {
        Err(format!("{code}: extension {needed} is incomplete"))
    }
}

/// Checks the process-authorization extensions of an ActivityDefinition: at least one, each
/// complete, message names unique.
pub fn check_definition(definition: &Value) -> Result<(), String> {
    let mut messages = Vec::new();
    for block in extensions(definition, PROCESS_AUTHORIZATION) {
        let message = extensions(block, "message-name")
            .find_map(|e| str_at(e, "valueString"))
            .ok_or("process-authorization without message-name")?;
        if messages.contains(&message) {
            return Err(format!(
                "process-authorization message-name {message} repeats"
            ));
        }
        messages.push(message);
        if !extensions(block, "task-profile").any(|e| str_at(e, "valueCanonical").is_some()) {
            return Err(format!(
                "process-authorization {message} without task-profile"
            ));
        }
        for (role, recipient) in [("requester", false), ("recipient", true)] {
            let codings: Vec<&Value> = extensions(block, role)
                .filter_map(|e| e.get("valueCoding"))
                .collect();
            if codings.is_empty() {
                return Err(format!("process-authorization {message} without {role}"));
            }
            for coding in codings {
                check_coding(coding, recipient)?;
            }
        }
    }
    if messages.is_empty() {
        return Err("ActivityDefinition without process-authorization extension".into());
    }
    Ok(())
}

/// Whether `party` is admitted by `coding`.
fn admits(coding: &Value, party: Party<'_>, allow_list: &AllowList) -> bool {
    if str_at(coding, "system") != Some(PROCESS_AUTHORIZATION_CODES) {
        return false;
    }
    let active = allow_list
        .by_identifier(party.organization)
        .is_some_and(|o| o.active);
    let Some(code) = str_at(coding, "code") else {
        return false;
    };
    let (local, rest) = match code.split_once('_') {
        Some(("LOCAL", rest)) => (true, rest),
        Some(("REMOTE", rest)) => (false, rest),
        _ => return false,
    };
    if !active || local != party.local {
        return false;
    }
    if let Some(practitioner) = party.practitioner {
        return practitioner_admitted(coding, rest, party.organization, practitioner, allow_list);
    }
    match rest {
        "ALL" => true,
        "ORGANIZATION" => extensions(coding, ORGANIZATION_EXTENSION)
            .any(|e| organization_identifier(e.get("valueIdentifier")) == Some(party.organization)),
        "ROLE" => extensions(coding, ROLE_EXTENSION).any(|e| {
            parent_and_role(e).is_some_and(|(parent, role)| {
                let (system, code) = (str_at(role, "system"), str_at(role, "code"));
                system.zip(code).is_some_and(|(system, code)| {
                    allow_list.has_role(party.organization, parent, system, code)
                })
            })
        }),
        // Practitioner codes admit people with a practitioner role, never an organization.
        _ => false,
    }
}

/// Whether the practitioner code `rest` (without `LOCAL_`) of `coding` admits `practitioner` of
/// `organization`; a DSF administrator passes every local code.
fn practitioner_admitted(
    coding: &Value,
    rest: &str,
    organization: &str,
    practitioner: &Practitioner,
    allow_list: &AllowList,
) -> bool {
    if practitioner.is_admin() {
        return true;
    }
    let has_role = |ext: &Value| {
        extensions(ext, "practitioner-role")
            .filter_map(|e| e.get("valueCoding"))
            .chain(ext.get("valueCoding"))
            .any(|c| {
                str_at(c, "system")
                    .zip(str_at(c, "code"))
                    .is_some_and(|(s, code)| practitioner.has_role(s, code))
            })
    };
    match rest {
        "ALL_PRACTITIONER" => extensions(coding, PRACTITIONER_EXTENSION).any(has_role),
        "ORGANIZATION_PRACTITIONER" => {
            extensions(coding, ORGANIZATION_PRACTITIONER_EXTENSION).any(|ext| {
                extensions(ext, "organization").any(|e| {
                    organization_identifier(e.get("valueIdentifier")) == Some(organization)
                }) && has_role(ext)
            })
        }
        "ROLE_PRACTITIONER" => extensions(coding, ROLE_PRACTITIONER_EXTENSION).any(|ext| {
            parent_and_role(ext).is_some_and(|(parent, role)| {
                str_at(role, "system")
                    .zip(str_at(role, "code"))
                    .is_some_and(|(system, code)| {
                        allow_list.has_role(organization, parent, system, code)
                    })
            }) && has_role(ext)
        }),
        // Codes for organizations do not admit people.
        _ => false,
    }
}

/// Whether a Task profile matches a definition's `task-profile`: equal, or the Task's profile
/// without version equals the definition's without version.
fn profile_matches(task_profile: &str, defined: &str) -> bool {
    let unversioned = |p: &str| p.split_once('|').map_or(p, |(url, _)| url).to_owned();
    task_profile == defined || (!task_profile.contains('|') && task_profile == unversioned(defined))
}

/// The process-authorization blocks of `definition` for `message` and one of `profiles`.
fn blocks_for<'a>(
    definition: &'a Value,
    message: &'a str,
    profiles: &'a [&'a str],
) -> impl Iterator<Item = &'a Value> {
    extensions(definition, PROCESS_AUTHORIZATION).filter(move |block| {
        extensions(block, "message-name").any(|e| str_at(e, "valueString") == Some(message))
            && extensions(block, "task-profile")
                .filter_map(|e| str_at(e, "valueCanonical"))
                .any(|defined| profiles.iter().any(|p| profile_matches(p, defined)))
    })
}

/// Whether one `role` ("requester" or "recipient") coding of `block` admits `party`.
fn block_admits(block: &Value, role: &str, party: Party<'_>, allow_list: &AllowList) -> bool {
    extensions(block, role)
        .filter_map(|e| e.get("valueCoding"))
        .any(|c| admits(c, party, allow_list))
}

/// Whether `definition` authorizes `requester` to send `message` with one of `profiles` to
/// `recipient`.
pub fn is_authorized(
    definition: &Value,
    message: &str,
    profiles: &[&str],
    requester: Party<'_>,
    recipient: Party<'_>,
    allow_list: &AllowList,
) -> bool {
    blocks_for(definition, message, profiles).any(|block| {
        block_admits(block, "requester", requester, allow_list)
            && block_admits(block, "recipient", recipient, allow_list)
    })
}

/// Whether `definition` lets `recipient` receive `message` (Task updates check only this side).
pub fn admits_recipient(
    definition: &Value,
    message: &str,
    profiles: &[&str],
    recipient: Party<'_>,
    allow_list: &AllowList,
) -> bool {
    blocks_for(definition, message, profiles)
        .any(|block| block_admits(block, "recipient", recipient, allow_list))
}

/// The Task profiles in `meta.profile`.
pub fn profiles_of(task: &Value) -> Vec<&str> {
    array_at(task.get("meta").unwrap_or(&Value::Null), "profile")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::profile_matches;

    #[test]
    fn profiles() {
        let defined = "http://dsf.dev/fhir/StructureDefinition/task-ping|1.0";
        assert!(profile_matches(defined, defined));
        assert!(profile_matches(
            "http://dsf.dev/fhir/StructureDefinition/task-ping",
            defined
        ));
        assert!(!profile_matches(
            "http://dsf.dev/fhir/StructureDefinition/task-ping|2.0",
            defined
        ));
        assert!(!profile_matches(
            "http://dsf.dev/fhir/StructureDefinition/task-pong",
            defined
        ));
    }
}
