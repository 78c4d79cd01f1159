//! The read-access index: who may read a resource, as tokens written beside its search index.
//!
//! A resource's tokens follow from the resource alone (its read-access tags, a Task's requester
//! and recipient, a Binary's security context); a caller's tokens follow from who the caller is
//! (its organization and that organization's roles). A remote caller may read a resource when the
//! two sets share a token, so a search filters in SQL with exactly the rule a read applies.

use serde_json::{Map, Value};

use super::index::values_at;

/// The read-access tag CodeSystem.
pub const READ_ACCESS_TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";
/// Extension on an `ORGANIZATION` tag: the organization that may read.
pub const READ_ACCESS_ORGANIZATION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-read-access-organization";
/// Extension on a `ROLE` tag: members of a parent organization with a role may read.
pub const READ_ACCESS_PARENT_ORGANIZATION_ROLE: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-read-access-parent-organization-role";
/// The naming system of organization identifiers.
pub const ORGANIZATION_IDENTIFIER: &str = "http://dsf.dev/sid/organization-identifier";

/// Name of the index rows holding the tokens.
pub(crate) const ACCESS_PARAM: &str = "_access";

/// Readable by every organization of the federation.
pub fn all() -> String {
    "ALL".to_owned()
}

/// Readable by the organization with this identifier value.
pub fn organization(identifier: &str) -> String {
    format!("ORGANIZATION|{identifier}")
}

/// Readable by members of parent organization `parent` holding role `system|code`.
pub fn role(parent: &str, system: &str, code: &str) -> String {
    format!("ROLE|{parent}|{system}|{code}")
}

/// A Task readable by its requester, the organization with this identifier value.
pub fn task_requester(identifier: &str) -> String {
    format!("TASK-REQUESTER|{identifier}")
}

/// Prefix of a security-context token.
pub(crate) const CONTEXT_PREFIX: &str = "CONTEXT|";

/// A Binary readable by whoever may read its security context, `Type/id`.
pub fn security_context(reference: &str) -> String {
    format!("{CONTEXT_PREFIX}{reference}")
}

/// The security context a token names, if it names one.
pub fn context_of(token: &str) -> Option<&str> {
    token.strip_prefix(CONTEXT_PREFIX)
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The value of an Identifier with the organization-identifier system.
pub fn organization_identifier(identifier: Option<&Value>) -> Option<&str> {
    let identifier = identifier?;
    (str_at(identifier, "system") == Some(ORGANIZATION_IDENTIFIER))
        .then(|| str_at(identifier, "value"))
        .flatten()
}

fn extensions<'a>(value: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    value
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |e| str_at(e, "url") == Some(url))
}

/// The tokens of one read-access tag (a Coding in `meta.tag`); none for other tags.
fn tag_tokens(tag: &Value, tokens: &mut Vec<String>) {
    if str_at(tag, "system") != Some(READ_ACCESS_TAG) {
        return;
    }
    match str_at(tag, "code") {
        Some("ALL") => tokens.push(all()),
        Some("LOCAL") => tokens.push("LOCAL".to_owned()),
        Some("ORGANIZATION") => {
            for ext in extensions(tag, READ_ACCESS_ORGANIZATION) {
                if let Some(id) = organization_identifier(ext.get("valueIdentifier")) {
                    tokens.push(organization(id));
                }
            }
        }
        Some("ROLE") => {
            for ext in extensions(tag, READ_ACCESS_PARENT_ORGANIZATION_ROLE) {
                let parent = extensions(ext, "parent-organization")
                    .find_map(|e| organization_identifier(e.get("valueIdentifier")));
                let role_coding = extensions(ext, "organization-role")
                    .find_map(|e| e.get("valueCoding"))
                    .and_then(|c| Some((str_at(c, "system")?, str_at(c, "code")?)));
                if let (Some(parent), Some((system, code))) = (parent, role_coding) {
                    tokens.push(role(parent, system, code));
                }
            }
        }
        _ => {}
    }
}

/// The read-access tokens of `resource`, a resource of `resource_type`.
pub fn access_tokens(resource_type: &str, resource: &Map<String, Value>) -> Vec<String> {
    let mut tokens = Vec::new();
    match resource_type {
        "Task" => {
            // The recipient is always the local organization, which reads everything anyway.
            for requester in values_at(resource, "requester.identifier") {
                if let Some(id) = organization_identifier(Some(requester)) {
                    tokens.push(task_requester(id));
                }
            }
        }
        // Local organizations only.
        "QuestionnaireResponse" => tokens.push("LOCAL".to_owned()),
        _ => {
            for tag in values_at(resource, "meta.tag") {
                tag_tokens(tag, &mut tokens);
            }
            if resource_type == "Binary"
                && let Some(reference) = values_at(resource, "securityContext.reference")
                    .first()
                    .and_then(|v| v.as_str())
            {
                tokens.push(security_context(reference));
            }
        }
    }
    tokens.sort();
    tokens.dedup();
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tokens(v: Value) -> Vec<String> {
        let Value::Object(map) = v else {
            panic!("object")
        };
        let t = map["resourceType"].as_str().unwrap_or_default().to_owned();
        access_tokens(&t, &map)
    }

    #[test]
    fn tags_give_tokens() {
        let t = tokens(json!({
            "resourceType": "Library",
            "meta": {"tag": [
                {"system": READ_ACCESS_TAG, "code": "LOCAL"},
                {"system": READ_ACCESS_TAG, "code": "ORGANIZATION", "extension": [{
                    "url": READ_ACCESS_ORGANIZATION,
                    "valueIdentifier": {"system": ORGANIZATION_IDENTIFIER, "value": "dic2.dsf.test"}}]},
                {"system": READ_ACCESS_TAG, "code": "ROLE", "extension": [{
                    "url": READ_ACCESS_PARENT_ORGANIZATION_ROLE,
                    "extension": [
                        {"url": "parent-organization", "valueIdentifier": {"system": ORGANIZATION_IDENTIFIER, "value": "net.test"}},
                        {"url": "organization-role", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/organization-role", "code": "TTP"}}
                    ]}]},
                {"system": "other", "code": "ALL"}
            ]}
        }));
        assert_eq!(
            t,
            vec![
                "LOCAL".to_owned(),
                organization("dic2.dsf.test"),
                role(
                    "net.test",
                    "http://dsf.dev/fhir/CodeSystem/organization-role",
                    "TTP"
                ),
            ]
        );
    }

    #[test]
    fn task_binary_and_questionnaire_response() {
        let task = tokens(
            json!({"resourceType": "Task", "meta": {"tag": [{"system": READ_ACCESS_TAG, "code": "ALL"}]},
            "requester": {"type": "Organization", "identifier": {"system": ORGANIZATION_IDENTIFIER, "value": "dic1.dsf.test"}}}),
        );
        assert_eq!(task, vec![task_requester("dic1.dsf.test")]);
        let binary = tokens(
            json!({"resourceType": "Binary", "securityContext": {"reference": "DocumentReference/1"}}),
        );
        assert_eq!(binary, vec![security_context("DocumentReference/1")]);
        assert_eq!(context_of(&binary[0]), Some("DocumentReference/1"));
        let qr = tokens(json!({"resourceType": "QuestionnaireResponse"}));
        assert_eq!(qr, vec!["LOCAL".to_owned()]);
    }
}
