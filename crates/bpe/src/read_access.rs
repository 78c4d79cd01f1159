//! Read-access tags (`meta.tag` of system `http://dsf.dev/fhir/CodeSystem/read-access-tag`), as
//! the reference's `ReadAccessHelper` writes them: who may read a resource a process writes to a
//! FHIR server. `ALL` stands alone; `LOCAL` comes with every other tag, and `ORGANIZATION` and
//! `ROLE` name organizations or the members of a parent organization with a role.

use serde_json::{Value, json};

use crate::task::{ORGANIZATION_IDENTIFIER, READ_ACCESS_TAG};

/// The extension naming the organization of an `ORGANIZATION` tag.
pub const ORGANIZATION_EXTENSION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-read-access-organization";
/// The extension naming parent organization and role of a `ROLE` tag.
pub const ROLE_EXTENSION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-read-access-parent-organization-role";

fn identifier(value: &str) -> Value {
    json!({"system": ORGANIZATION_IDENTIFIER, "value": value})
}

/// The read-access tags of `resource`.
fn tags(resource: &Value) -> impl Iterator<Item = &Value> {
    resource
        .pointer("/meta/tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("system").and_then(Value::as_str) == Some(READ_ACCESS_TAG))
}

/// Adds `tag` unless the resource has it; a tag other than `ALL` also adds `LOCAL` and removes
/// `ALL`, `ALL` replaces every other read-access tag.
fn add(resource: &mut Value, tag: Value) {
    let is_all = tag.get("code") == Some(&json!("ALL"));
    if !resource.get("meta").is_some_and(Value::is_object) {
        resource["meta"] = json!({});
    }
    let meta = &mut resource["meta"];
    if !meta.get("tag").is_some_and(Value::is_array) {
        meta["tag"] = json!([]);
    }
    let Some(list) = meta["tag"].as_array_mut() else {
        return;
    };
    let read_access = |t: &Value| t.get("system").and_then(Value::as_str) == Some(READ_ACCESS_TAG);
    if is_all {
        list.retain(|t| !read_access(t));
    } else {
        list.retain(|t| !(read_access(t) && t.get("code") == Some(&json!("ALL"))));
        let local = json!({"system": READ_ACCESS_TAG, "code": "LOCAL"});
        if !list.contains(&local) {
            list.push(local);
        }
    }
    if !list.contains(&tag) {
        list.push(tag);
    }
}

/// Everybody may read the resource.
pub fn add_all(resource: &mut Value) {
    add(resource, json!({"system": READ_ACCESS_TAG, "code": "ALL"}));
}

/// The local organization may read the resource.
pub fn add_local(resource: &mut Value) {
    add(
        resource,
        json!({"system": READ_ACCESS_TAG, "code": "LOCAL"}),
    );
}

/// The organization `organization` (identifier value) may read the resource.
pub fn add_organization(resource: &mut Value, organization: &str) {
    add(
        resource,
        json!({"extension": [{"url": ORGANIZATION_EXTENSION, "valueIdentifier": identifier(organization)}],
               "system": READ_ACCESS_TAG, "code": "ORGANIZATION"}),
    );
}

/// Members of the parent organization `parent` with the role `system|code` may read the
/// resource.
pub fn add_role(resource: &mut Value, parent: &str, system: &str, code: &str) {
    add(
        resource,
        json!({"extension": [{"url": ROLE_EXTENSION, "extension": [
                   {"url": "parent-organization", "valueIdentifier": identifier(parent)},
                   {"url": "organization-role", "valueCoding": {"system": system, "code": code}}]}],
               "system": READ_ACCESS_TAG, "code": "ROLE"}),
    );
}

/// Whether the resource has the read-access tag `code` (`ALL`, `LOCAL`, `ORGANIZATION`, `ROLE`).
pub fn has(resource: &Value, code: &str) -> bool {
    tags(resource).any(|t| t.get("code").and_then(Value::as_str) == Some(code))
}

/// Whether the tags are as the FHIR server expects them: `ALL` alone, or `LOCAL` with any
/// others.
pub fn is_valid(resource: &Value) -> bool {
    let count = tags(resource).count();
    (has(resource, "ALL") && count == 1)
        || (count > 0 && has(resource, "LOCAL") && !has(resource, "ALL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_combine_as_the_reference_writes_them() {
        let mut resource = json!({"resourceType": "Binary"});
        assert!(!is_valid(&resource));
        add_organization(&mut resource, "dic2.dsf.test");
        assert!(has(&resource, "LOCAL") && has(&resource, "ORGANIZATION"));
        add_role(
            &mut resource,
            "dsf.test",
            "http://dsf.dev/fhir/CodeSystem/organization-role",
            "TTP",
        );
        add_organization(&mut resource, "dic2.dsf.test");
        assert_eq!(tags(&resource).count(), 3);
        assert!(is_valid(&resource));
        add_all(&mut resource);
        assert_eq!(tags(&resource).count(), 1);
        assert!(is_valid(&resource));
        add_local(&mut resource);
        assert!(!has(&resource, "ALL") && has(&resource, "LOCAL"));
        assert!(is_valid(&resource));
    }
}
