//! The write rules per resource type: who may create, update and delete, which elements must be
//! present and valid, what must be unique and what may not change.

use dsf_fhir::Resource;
use dsf_fhir_store::search::access::ORGANIZATION_IDENTIFIER;
use dsf_fhir_store::{SearchQuery, Stored, Transaction};
use serde_json::Value;

use super::unique::{all_current, duplicate, exists_other};
use super::{
    Caller, Operation, array_at, json_of, process, questionnaire_response, str_at, tags, task,
};
use crate::allow_list::{ENDPOINT_IDENTIFIER, identifier_values, thumbprints};
use crate::error::ApiError;

/// The definitional types whose `url|version` is unique.
const CANONICAL_TYPES: [&str; 4] = [
    "ActivityDefinition",
    "CodeSystem",
    "StructureDefinition",
    "ValueSet",
];

/// A reason a resource breaks a rule.
type Rule = Result<(), String>;

/// Checks that `caller` may create `resource` inside `tx`.
pub async fn check_create(
    caller: &Caller,
    tx: &mut Transaction,
    resource: &Resource,
) -> Result<(), ApiError> {
    let resource_type = resource.resource_type();
    caller.permits(Operation::Create, resource_type)?;
    match resource_type {
        "Task" => task::check_create(caller, tx, resource).await,
        "QuestionnaireResponse" => questionnaire_response::check_create(caller, resource),
        _ => {
            let json = json_of(resource);
            check_content(caller, tx, &json, None)
                .await?
                .map_err(|reason| caller.forbidden(Operation::Create, reason))?;
            check_unique(tx, &json, None).await
        }
    }
}

/// Checks that `caller` may replace `old` with `new` inside `tx`.
pub async fn check_update(
    caller: &Caller,
    tx: &mut Transaction,
    old: &Stored,
    new: &Resource,
) -> Result<(), ApiError> {
    let resource_type = new.resource_type();
    caller.permits(Operation::Update, resource_type)?;
    match resource_type {
        "Task" => task::check_update(caller, tx, old, new).await,
        "QuestionnaireResponse" => questionnaire_response::check_update(caller, old, new),
        _ => {
            let json = json_of(new);
            let old_json = json_of(&old.resource);
            let result = match check_content(caller, tx, &json, Some(&old_json)).await? {
                Ok(()) => check_immutable(&old_json, &json),
                Err(reason) => Err(reason),
            };
            result.map_err(|reason| caller.forbidden(Operation::Update, reason))?;
            check_unique(tx, &json, Some(old.id())).await
        }
    }
}

/// Checks that `caller` may delete `old`.
pub fn check_delete(caller: &Caller, old: &Stored) -> Result<(), ApiError> {
    caller.permits(Operation::Delete, old.resource_type())?;
    if old.resource_type() == "Task"
        && !old.deleted
        && str_at(&json_of(&old.resource), "status") != Some("draft")
    {
        return Err(caller.forbidden(Operation::Delete, "only draft Tasks may be deleted"));
    }
    Ok(())
}

/// The rules on a resource's content (everything but uniqueness); `Err` names the broken rule.
async fn check_content(
    caller: &Caller,
    tx: &mut Transaction,
    resource: &Value,
    old: Option<&Value>,
) -> Result<Rule, ApiError> {
    let resource_type = str_at(resource, "resourceType").unwrap_or_default();
    if resource_type == "Binary" {
        return check_binary(caller, tx, resource).await;
    }
    if let Err(reason) = tags::check(resource, &caller.allow_list, true) {
        return Ok(Err(reason));
    }
    Ok(match resource_type {
        "Organization" => check_organization(resource),
        "Endpoint" => check_endpoint(resource),
        "OrganizationAffiliation" => check_affiliation(resource),
        "ActivityDefinition" => {
            check_definition(resource, false).and_then(|()| process::check_definition(resource))
        }
        "StructureDefinition" => check_definition(resource, true),
        "CodeSystem" | "ValueSet" => check_definition(resource, false),
        "NamingSystem" => check_naming_system(resource),
        "Subscription" => check_subscription(resource, old),
        _ => Ok(()),
    })
}

/// Exactly one value of an identifier system.
fn one_identifier<'a>(resource: &'a Value, system: &'a str, what: &str) -> Result<&'a str, String> {
    let mut values = identifier_values(resource.get("identifier"), system);
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        _ => Err(format!("{what} needs exactly one identifier of {system}")),
    }
}

fn check_organization(org: &Value) -> Rule {
    one_identifier(org, ORGANIZATION_IDENTIFIER, "Organization")?;
    let map = org.as_object().ok_or("not an object")?;
    for thumbprint in thumbprints(map) {
        if thumbprint.len() != 128 || !thumbprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "certificate thumbprint {thumbprint} is not 128 hexadecimal digits"
            ));
        }
    }
    Ok(())
}

/// `https://[0-9a-zA-Z.-]+(:\d{1,4})?[-\w/]*`, the reference's Endpoint address pattern.
fn valid_endpoint_address(address: &str) -> bool {
    let Some(rest) = address.strip_prefix("https://") else {
        return false;
    };
    let host_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    if host_end == 0 {
        return false;
    }
    let mut rest = &rest[host_end..];
    if let Some(port_and_path) = rest.strip_prefix(':') {
        let digits = port_and_path
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(port_and_path.len());
        if digits == 0 {
            return false;
        }
        // `\d{1,4}` then `[-\w/]*`, which takes further digits too.
        rest = &port_and_path[digits.min(4)..];
    }
    rest.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '/')
}

fn check_endpoint(endpoint: &Value) -> Rule {
    one_identifier(endpoint, ENDPOINT_IDENTIFIER, "Endpoint")?;
    let address = str_at(endpoint, "address").ok_or("Endpoint address missing")?;
    if !valid_endpoint_address(address) {
        return Err(format!("Endpoint address {address} is not an https URL"));
    }
    Ok(())
}

/// The literal `reference` of the Reference at `key`.
fn literal_reference<'a>(resource: &'a Value, key: &str) -> Option<&'a str> {
    resource.get(key).and_then(|r| str_at(r, "reference"))
}

fn check_affiliation(affiliation: &Value) -> Rule {
    for key in ["organization", "participatingOrganization"] {
        if literal_reference(affiliation, key).is_none() {
            return Err(format!(
                "OrganizationAffiliation.{key} must be a literal reference"
            ));
        }
    }
    let endpoints = array_at(affiliation, "endpoint");
    if endpoints.len() != 1 || str_at(&endpoints[0], "reference").is_none() {
        return Err("OrganizationAffiliation needs exactly one literal endpoint reference".into());
    }
    let has_coding = array_at(affiliation, "code")
        .iter()
        .any(|c| !array_at(c, "coding").is_empty());
    if !has_coding {
        return Err("OrganizationAffiliation needs a role code".into());
    }
    Ok(())
}

fn check_status(resource: &Value) -> Rule {
    match str_at(resource, "status") {
        Some("draft" | "active" | "retired") => Ok(()),
        other => Err(format!(
            "status must be draft, active or retired, not {}",
            other.unwrap_or("(missing)")
        )),
    }
}

fn check_definition(resource: &Value, needs_base: bool) -> Rule {
    check_status(resource)?;
    for key in ["url", "version"] {
        if str_at(resource, key).is_none_or(str::is_empty) {
            return Err(format!("{key} missing"));
        }
    }
    if needs_base && str_at(resource, "baseDefinition").is_none() {
        return Err("baseDefinition missing".into());
    }
    Ok(())
}

fn unique_ids(naming_system: &Value) -> Vec<&str> {
    array_at(naming_system, "uniqueId")
        .iter()
        .filter_map(|u| str_at(u, "value"))
        .collect()
}

fn check_naming_system(naming_system: &Value) -> Rule {
    check_status(naming_system)?;
    if str_at(naming_system, "name").is_none() {
        return Err("NamingSystem name missing".into());
    }
    let mut ids = unique_ids(naming_system);
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err("NamingSystem uniqueId values repeat".into());
    }
    Ok(())
}

/// The Subscription elements that identify it and may not change.
fn subscription_key(subscription: &Value) -> (Option<&str>, Option<&str>, Option<&str>) {
    let channel = subscription.get("channel").unwrap_or(&Value::Null);
    (
        str_at(subscription, "criteria"),
        str_at(channel, "type"),
        str_at(channel, "payload"),
    )
}

fn check_subscription(subscription: &Value, old: Option<&Value>) -> Rule {
    let (criteria, channel_type, payload) = subscription_key(subscription);
    if channel_type != Some("websocket") {
        return Err("Subscription channel.type must be websocket".into());
    }
    if !matches!(
        payload,
        None | Some("application/fhir+json" | "application/fhir+xml")
    ) {
        return Err("Subscription channel.payload must be application/fhir+json or application/fhir+xml, or absent".into());
    }
    let criteria = criteria.ok_or("Subscription criteria missing")?;
    let (resource_type, params) = criteria.split_once('?').unwrap_or((criteria, ""));
    if !dsf_fhir_store::search::params::is_served(resource_type) {
        return Err(format!(
            "Subscription criteria: resource type {resource_type} not supported"
        ));
    }
    let pairs = crate::negotiate::query_pairs(Some(params));
    let (_, issues) = SearchQuery::parse(resource_type, &pairs, "");
    if let Some(issue) = issues.first() {
        return Err(format!(
            "Subscription criteria: parameter {}: {}",
            issue.parameter, issue.message
        ));
    }
    if let Some(old) = old
        && subscription_key(old) != subscription_key(subscription)
    {
        return Err("Subscription criteria, channel type and payload may not change".into());
    }
    Ok(())
}

async fn check_binary(
    caller: &Caller,
    tx: &mut Transaction,
    binary: &Value,
) -> Result<Rule, ApiError> {
    let context = binary.get("securityContext");
    let has_tags = tags::check(binary, &caller.allow_list, false);
    let tagged = array_at(binary.get("meta").unwrap_or(&Value::Null), "tag")
        .iter()
        .any(|t| str_at(t, "system") == Some(dsf_fhir_store::search::access::READ_ACCESS_TAG));
    Ok(match (tagged, context) {
        (true, Some(_)) => {
            Err("Binary needs a read-access tag or a securityContext, not both".into())
        }
        (true, None) => has_tags,
        (false, None) => Err("Binary needs a read-access tag or a securityContext".into()),
        (false, Some(context)) => {
            let target = str_at(context, "reference")
                .and_then(dsf_fhir_store::search::split_reference)
                .filter(|(base, _, _)| base.is_none());
            match target {
                None => Err("Binary securityContext must be a literal reference Type/id".into()),
                Some((_, "Task" | "Binary", _)) => {
                    Err("a Task or Binary cannot be a Binary's securityContext".into())
                }
                Some((_, resource_type, id)) => match tx.read(resource_type, id).await? {
                    Some(found) if !found.deleted => Ok(()),
                    _ => Err(format!(
                        "Binary securityContext {resource_type}/{id} does not exist"
                    )),
                },
            }
        }
    })
}

/// Elements that may not change in an update.
fn check_immutable(old: &Value, new: &Value) -> Rule {
    let resource_type = str_at(new, "resourceType").unwrap_or_default();
    let keys: &[&str] = match resource_type {
        "Organization" => &["identifier"],
        "Endpoint" => &["identifier", "address"],
        "OrganizationAffiliation" => &["organization", "participatingOrganization", "endpoint"],
        t if CANONICAL_TYPES.contains(&t) => &["url", "version"],
        _ => &[],
    };
    for key in keys {
        if old.get(key) != new.get(key) {
            return Err(format!("{resource_type}.{key} may not change"));
        }
    }
    Ok(())
}

/// The uniqueness rules: violated ones are answered with 403 `duplicate`.
async fn check_unique(
    tx: &mut Transaction,
    resource: &Value,
    id: Option<&str>,
) -> Result<(), ApiError> {
    let resource_type = str_at(resource, "resourceType").unwrap_or_default();
    match resource_type {
        "Organization" => {
            let identifier = one_identifier(resource, ORGANIZATION_IDENTIFIER, "Organization")
                .map_err(ApiError::bad_request)?;
            let token = format!("{ORGANIZATION_IDENTIFIER}|{identifier}");
            if exists_other(tx, resource_type, &[("identifier", &token)], id).await? {
                return Err(duplicate(
                    resource_type,
                    &format!("identifier {identifier}"),
                ));
            }
            let mine = resource.as_object().map(thumbprints).unwrap_or_default();
            if !mine.is_empty() {
                for other in all_current(tx, resource_type).await? {
                    if Some(other.id()) != id
                        && thumbprints(other.resource.as_json())
                            .iter()
                            .any(|t| mine.contains(t))
                    {
                        return Err(duplicate(resource_type, "certificate thumbprint"));
                    }
                }
            }
        }
        "Endpoint" => {
            let identifier = one_identifier(resource, ENDPOINT_IDENTIFIER, "Endpoint")
                .map_err(ApiError::bad_request)?;
            let token = format!("{ENDPOINT_IDENTIFIER}|{identifier}");
            if exists_other(tx, resource_type, &[("identifier", &token)], id).await? {
                return Err(duplicate(
                    resource_type,
                    &format!("identifier {identifier}"),
                ));
            }
            let address = str_at(resource, "address").unwrap_or_default();
            if exists_other(tx, resource_type, &[("address", address)], id).await? {
                return Err(duplicate(resource_type, &format!("address {address}")));
            }
        }
        "OrganizationAffiliation" => {
            let key = |a: &Value| {
                (
                    literal_reference(a, "organization").map(str::to_owned),
                    literal_reference(a, "participatingOrganization").map(str::to_owned),
                )
            };
            let roles = |a: &Value| -> Vec<(String, String)> {
                array_at(a, "code")
                    .iter()
                    .flat_map(|c| array_at(c, "coding"))
                    .filter_map(|c| {
                        Some((
                            str_at(c, "system")?.to_owned(),
                            str_at(c, "code")?.to_owned(),
                        ))
                    })
                    .collect()
            };
            let (mine, my_roles) = (key(resource), roles(resource));
            for other in all_current(tx, resource_type).await? {
                let other_json = json_of(&other.resource);
                if Some(other.id()) == id || key(&other_json) != mine {
                    continue;
                }
                if other_json.get("endpoint") == resource.get("endpoint") {
                    return Err(duplicate(
                        resource_type,
                        "organization, member and endpoint",
                    ));
                }
                if roles(&other_json).iter().any(|r| my_roles.contains(r)) {
                    return Err(duplicate(resource_type, "organization, member and role"));
                }
            }
        }
        "NamingSystem" => {
            let name = str_at(resource, "name").unwrap_or_default();
            let ids = unique_ids(resource);
            for other in all_current(tx, resource_type).await? {
                if Some(other.id()) == id {
                    continue;
                }
                let other_json = json_of(&other.resource);
                if str_at(&other_json, "name") == Some(name) {
                    return Err(duplicate(resource_type, &format!("name {name}")));
                }
                if unique_ids(&other_json).iter().any(|u| ids.contains(u)) {
                    return Err(duplicate(resource_type, "uniqueId"));
                }
            }
        }
        "Subscription" => {
            let key = subscription_key(resource);
            for other in all_current(tx, resource_type).await? {
                if Some(other.id()) != id && subscription_key(&json_of(&other.resource)) == key {
                    return Err(duplicate(resource_type, "criteria, type and payload"));
                }
            }
        }
        t if CANONICAL_TYPES.contains(&t) => {
            let url = str_at(resource, "url").unwrap_or_default();
            let version = str_at(resource, "version").unwrap_or_default();
            if exists_other(tx, t, &[("url", url), ("version", version)], id).await? {
                return Err(duplicate(t, &format!("url {url} and version {version}")));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_endpoint_address;

    #[test]
    fn endpoint_addresses() {
        assert!(valid_endpoint_address("https://dic1.dsf.test/fhir"));
        assert!(valid_endpoint_address("https://localhost:8001/fhir"));
        assert!(!valid_endpoint_address("http://dic1.dsf.test/fhir"));
        assert!(!valid_endpoint_address("https://:80/fhir"));
        assert!(valid_endpoint_address("https://localhost:23001/fhir"));
        assert!(!valid_endpoint_address("https://h:/fhir"));
        assert!(!valid_endpoint_address("https://h/fhir?x=1"));
    }
}
