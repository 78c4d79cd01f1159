//! The activities of update and download allow list.

use std::collections::HashMap;

use dsf_bpe::activity::{Activity, ActivityContext, DelegateError};
use dsf_bpe::api::{encode, identifier_value};
use dsf_bpe::listeners;
use dsf_bpe::task::{
    self, BPMN_MESSAGE, ENDPOINT_IDENTIFIER, ORGANIZATION_IDENTIFIER, READ_ACCESS_TAG,
};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::support::{failed, start_task};

/// Code system of the allow list Task input and output.
pub const ALLOW_LIST: &str = "http://dsf.dev/fhir/CodeSystem/allow-list";
/// Code of the allow list Task input and output, and the value of the Bundle's identifier.
pub const ALLOW_LIST_CODE: &str = "allow_list";

/// Process variable with the downloaded Bundle.
const BUNDLE: &str = "bundle";
/// Process variable with the URL the Bundle was downloaded from.
const BUNDLE_URL: &str = "bundleUrl";
/// Resource types an allow list Bundle may write or remove.
const ALLOWED_TYPES: [&str; 3] = ["Organization", "OrganizationAffiliation", "Endpoint"];

/// Writes the allow list (active Organizations with an organization identifier, their Endpoints
/// and the OrganizationAffiliations they take part in) as a transaction Bundle of conditional
/// updates, stores it under the identifier `allow-list|allow_list` readable by all, and adds a
/// versioned reference to it to the start Task.
pub struct UpdateAllowList;

impl Activity for UpdateAllowList {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let mut start = start_task(ctx)?;
            let local = ctx.api().local();
            let query = format!(
                "Organization?active=true&identifier={}&_include=Organization:endpoint\
                 &_revinclude=OrganizationAffiliation:participating-organization",
                encode(&format!("{ORGANIZATION_IDENTIFIER}|"))
            );
            let found = local
                .search_all(&query)
                .await
                .map_err(|e| failed("reading the allow list", e))?;
            let bundle = allow_list_bundle(&found);
            let entries = bundle["entry"].as_array().map_or(0, Vec::len);
            let identifier = encode(&format!("{ALLOW_LIST}|{ALLOW_LIST_CODE}"));
            let stored = local
                .update_where(&format!("Bundle?identifier={identifier}"), &bundle)
                .await
                .map_err(|e| failed("storing the allow list Bundle", e))?;
            let id = stored.get("id").and_then(Value::as_str);
            let version = stored.pointer("/meta/versionId").and_then(Value::as_str);
            let (Some(id), Some(version)) = (id, version) else {
                return Err(DelegateError::Failed(
                    "the stored allow list Bundle has no id or version".into(),
                ));
            };
            let reference = format!("{}/Bundle/{id}/_history/{version}", local.base_url());
            tracing::info!(entries, reference, "allow list Bundle written");
            task::push(
                &mut start,
                "output",
                task::parameter(
                    ALLOW_LIST,
                    ALLOW_LIST_CODE,
                    "valueReference",
                    json!({"reference": reference}),
                ),
            );
            ctx.update_start_task(start);
            Ok(())
        })
    }
}

/// The transaction Bundle of the allow list `found` (Organizations, included Endpoints and
/// OrganizationAffiliations): each resource without its server-specific id and version, as a
/// conditional update on its identifiers, referring to the others by `urn:uuid` full URLs.
fn allow_list_bundle(found: &[Value]) -> Value {
    let members = Members::of(found);
    let of_type = |t: &'static str| {
        found
            .iter()
            .filter(move |r| r.get("resourceType").and_then(Value::as_str) == Some(t))
    };
    let mut entries = Vec::new();
    for (resource_type, system) in [
        ("Organization", ORGANIZATION_IDENTIFIER),
        ("Endpoint", ENDPOINT_IDENTIFIER),
    ] {
        for resource in of_type(resource_type) {
            let Some(member) = resource_key(resource).and_then(|k| members.by_key.get(&k)) else {
                continue;
            };
            let url = format!(
                "{resource_type}?identifier={}",
                encode(&format!("{system}|{}", member.identifier))
            );
            entries.push(put_entry(&member.full_url, members.portable(resource), url));
        }
    }
    for affiliation in of_type("OrganizationAffiliation") {
        let target = |pointer: &str| {
            affiliation
                .pointer(pointer)
                .and_then(|r| members.resolve(r))
        };
        let (Some(parent), Some(member)) = (
            target("/organization"),
            target("/participatingOrganization"),
        ) else {
            continue;
        };
        let mut url = format!(
            "OrganizationAffiliation?primary-organization:identifier={}\
             &participating-organization:identifier={}",
            encode(&format!("{ORGANIZATION_IDENTIFIER}|{}", parent.identifier)),
            encode(&format!("{ORGANIZATION_IDENTIFIER}|{}", member.identifier)),
        );
        if let Some(endpoint) = target("/endpoint/0") {
            url.push_str(&format!(
                "&endpoint:identifier={}",
                encode(&format!("{ENDPOINT_IDENTIFIER}|{}", endpoint.identifier))
            ));
        }
        let full_url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        entries.push(put_entry(&full_url, members.portable(affiliation), url));
    }
    json!({
        "resourceType": "Bundle",
        "meta": {"tag": [{"system": READ_ACCESS_TAG, "code": "ALL"}]},
        "identifier": {"system": ALLOW_LIST, "value": ALLOW_LIST_CODE},
        "type": "transaction",
        "entry": entries,
    })
}

fn put_entry(full_url: &str, resource: Value, url: String) -> Value {
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "PUT", "url": url}})
}

/// An Organization or Endpoint of the allow list Bundle.
struct Member {
    /// Its `urn:uuid` full URL in the Bundle.
    full_url: String,
    /// Its organization or endpoint identifier value.
    identifier: String,
}

/// The Organizations and Endpoints of the allow list, by `Type/id` and by identifier.
struct Members {
    by_key: HashMap<String, Member>,
    /// `(system, value)` -> `Type/id`.
    by_identifier: HashMap<(String, String), String>,
}

impl Members {
    /// The Organizations and Endpoints of `found` that have an identifier of their kind.
    fn of(found: &[Value]) -> Members {
        let mut members = Members {
            by_key: HashMap::new(),
            by_identifier: HashMap::new(),
        };
        for resource in found {
            let system = match resource.get("resourceType").and_then(Value::as_str) {
                Some("Organization") => ORGANIZATION_IDENTIFIER,
                Some("Endpoint") => ENDPOINT_IDENTIFIER,
                _ => continue,
            };
            let (Some(key), Some(identifier)) =
                (resource_key(resource), identifier_value(resource, system))
            else {
                continue;
            };
            members
                .by_identifier
                .insert((system.to_owned(), identifier.to_owned()), key.clone());
            members.by_key.insert(
                key,
                Member {
                    full_url: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                    identifier: identifier.to_owned(),
                },
            );
        }
        members
    }

    /// The member a Reference names: literally (relative or absolute, versioned or not) or
    /// logically by its identifier.
    fn resolve(&self, reference: &Value) -> Option<&Member> {
        let literal = reference
            .get("reference")
            .and_then(Value::as_str)
            .and_then(reference_key)
            .and_then(|key| self.by_key.get(&key));
        literal.or_else(|| {
            let system = reference.pointer("/identifier/system")?.as_str()?;
            let value = reference.pointer("/identifier/value")?.as_str()?;
            let key = self
                .by_identifier
                .get(&(system.to_owned(), value.to_owned()))?;
            self.by_key.get(key)
        })
    }

    /// `resource` for another server: no id, version or update time; references to members
    /// point at their full URLs only (a reference that also carries an identifier is returned
    /// by servers without its literal part), other references stay only where they are logical
    /// (carry an identifier).
    fn portable(&self, resource: &Value) -> Value {
        let mut resource = resource.clone();
        if let Value::Object(object) = &mut resource {
            object.remove("id");
            if let Some(Value::Object(meta)) = object.get_mut("meta") {
                meta.remove("versionId");
                meta.remove("lastUpdated");
            }
        }
        self.rewrite_references(&mut resource);
        resource
    }

    /// Rewrites the references below `value`; false when `value` is a reference to drop.
    fn rewrite_references(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(object) => {
                // A Reference: a literal `reference`, or a single `identifier` (a resource's
                // identifiers are a list).
                let is_reference = object.get("reference").is_some_and(Value::is_string)
                    || object.get("identifier").is_some_and(Value::is_object);
                if is_reference && !object.contains_key("resourceType") {
                    let reference = Value::Object(object.clone());
                    if let Some(member) = self.resolve(&reference) {
                        object.remove("identifier");
                        object.insert("reference".into(), json!(member.full_url));
                        return true;
                    }
                    let literal = object.get("reference").and_then(Value::as_str);
                    if literal.is_some_and(|r| !r.starts_with("urn:")) {
                        object.remove("reference");
                    }
                    return object.contains_key("reference") || object.contains_key("identifier");
                }
                let mut dropped = Vec::new();
                for (key, child) in object.iter_mut() {
                    if !self.rewrite_references(child) {
                        dropped.push(key.clone());
                    }
                }
                for key in dropped {
                    object.remove(&key);
                }
                true
            }
            Value::Array(items) => {
                items.retain_mut(|item| self.rewrite_references(item));
                true
            }
            _ => true,
        }
    }
}

/// `Type/id` of a resource.
fn resource_key(resource: &Value) -> Option<String> {
    Some(format!(
        "{}/{}",
        resource.get("resourceType")?.as_str()?,
        resource.get("id")?.as_str()?
    ))
}

/// `Type/id` of a literal reference, relative or absolute, with or without `_history`.
fn reference_key(reference: &str) -> Option<String> {
    let path = reference.split("/_history/").next()?;
    let mut parts = path.rsplit('/');
    let id = parts.next()?;
    let kind = parts.next()?;
    (!id.is_empty() && kind.starts_with(|c: char| c.is_ascii_uppercase()))
        .then(|| format!("{kind}/{id}"))
}

/// Downloads the Bundle named by the start Task's `allow-list#allow_list` input (an absolute
/// URL, versioned or not) from its FHIR server, with the site's client certificate.
pub struct DownloadAllowList;

impl Activity for DownloadAllowList {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let start = start_task(ctx)?;
            let url = task::input(&start, ALLOW_LIST, ALLOW_LIST_CODE)
                .and_then(|i| i.pointer("/valueReference/reference"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    DelegateError::Failed(format!(
                        "the Task has no {ALLOW_LIST}|{ALLOW_LIST_CODE} input with a reference"
                    ))
                })?
                .to_owned();
            let base = url
                .split_once("/Bundle/")
                .map(|(base, _)| base)
                .filter(|base| base.starts_with("https://") || base.starts_with("http://"))
                .ok_or_else(|| {
                    DelegateError::Failed(format!(
                        "the allow list reference {url} is not an absolute URL of a Bundle"
                    ))
                })?;
            let bundle = ctx
                .api()
                .remote(base)
                .read(&url)
                .await
                .map_err(|e| failed("downloading the allow list", e))?;
            if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
                return Err(DelegateError::Failed(format!(
                    "the allow list at {url} is not a Bundle"
                )));
            }
            tracing::info!(url, "allow list downloaded");
            ctx.set_fhir_variable(BUNDLE, bundle);
            ctx.set_variable(BUNDLE_URL, url);
            Ok(())
        })
    }
}

/// The Bundle [`DownloadAllowList`] downloaded.
fn downloaded(ctx: &ActivityContext) -> Result<&Value, DelegateError> {
    ctx.fhir_variable(BUNDLE)
        .ok_or_else(|| DelegateError::Failed("no allow list was downloaded".into()))
}

/// Checks the downloaded Bundle: a transaction or batch whose entries only write (`PUT`) or
/// remove (`DELETE`) Organizations, OrganizationAffiliations and Endpoints. Each violation
/// becomes an `error` output of the start Task, and the process fails.
pub struct CheckAllowList;

impl Activity for CheckAllowList {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let bundle = downloaded(ctx)?;
            let problems = violations(bundle);
            if problems.is_empty() {
                return Ok(());
            }
            let url = ctx.string(BUNDLE_URL).unwrap_or("?").to_owned();
            let mut start = start_task(ctx)?;
            for problem in &problems {
                task::push(
                    &mut start,
                    "output",
                    task::parameter(BPMN_MESSAGE, "error", "valueString", json!(problem)),
                );
            }
            listeners::put_task(ctx.api(), &start)
                .await
                .map_err(|e| failed("writing the allow list errors to the Task", e))?;
            Err(DelegateError::Failed(format!(
                "the allow list {url} was refused: {}",
                problems.join("; ")
            )))
        })
    }
}

/// What makes `bundle` unfit to be an allow list, one message each.
fn violations(bundle: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = bundle.get("type").and_then(Value::as_str).unwrap_or("none");
    if !matches!(kind, "transaction" | "batch") {
        problems.push(format!("Bundle type {kind} is not transaction or batch"));
    }
    let entries = bundle.get("entry").and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let method = entry
            .pointer("/request/method")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let url_type = entry
            .pointer("/request/url")
            .and_then(Value::as_str)
            .map(|url| url.split(['?', '/']).next().unwrap_or_default());
        let resource_type = entry
            .pointer("/resource/resourceType")
            .and_then(Value::as_str);
        let kind = resource_type.or(url_type).unwrap_or("none");
        if !ALLOWED_TYPES.contains(&kind) {
            problems.push(format!(
                "entry {i}: resource type {kind} is not Organization, OrganizationAffiliation or Endpoint"
            ));
        } else if url_type.is_some_and(|t| t != kind) {
            problems.push(format!(
                "entry {i}: the request URL is not one of the resource type {kind}"
            ));
        }
        if !matches!(method, "PUT" | "DELETE") {
            problems.push(format!(
                "entry {i}: request method {method} is not PUT or DELETE"
            ));
        }
    }
    problems
}

/// Runs the checked Bundle on the local FHIR server.
pub struct InsertAllowList;

impl Activity for InsertAllowList {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let bundle = downloaded(ctx)?;
            let bundle = with_reference_identifiers(bundle);
            let response = ctx
                .api()
                .local()
                .transaction(&bundle)
                .await
                .map_err(|e| failed("inserting the allow list", e))?;
            let entries = response
                .get("entry")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            tracing::info!(entries, url = ctx.string(BUNDLE_URL), "allow list inserted");
            Ok(())
        })
    }
}

/// `bundle` with the identifier of the target added to each reference to an Organization or
/// Endpoint of the Bundle, as the federation's first allow list carries them: the local server
/// then finds the affiliations again by `primary-organization:identifier`,
/// `participating-organization:identifier` and `endpoint:identifier` when the next allow list
/// arrives, whether it matches those on the reference's identifier or on the target's.
fn with_reference_identifiers(bundle: &Value) -> Value {
    let mut identifiers = HashMap::new();
    let entries = bundle.get("entry").and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let (Some(full_url), Some(resource)) = (
            entry.get("fullUrl").and_then(Value::as_str),
            entry.get("resource"),
        ) else {
            continue;
        };
        let system = match resource.get("resourceType").and_then(Value::as_str) {
            Some("Organization") => ORGANIZATION_IDENTIFIER,
            Some("Endpoint") => ENDPOINT_IDENTIFIER,
            _ => continue,
        };
        if let Some(value) = identifier_value(resource, system) {
            identifiers.insert(
                full_url.to_owned(),
                json!({"system": system, "value": value}),
            );
        }
    }
    let mut bundle = bundle.clone();
    if let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) {
        for entry in entries {
            if let Some(resource) = entry.get_mut("resource") {
                add_identifiers(resource, &identifiers);
            }
        }
    }
    bundle
}

fn add_identifiers(value: &mut Value, identifiers: &HashMap<String, Value>) {
    match value {
        Value::Object(object) => {
            let target = object
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| identifiers.get(r));
            if let Some(identifier) = target
                && !object.contains_key("identifier")
            {
                object.insert("identifier".into(), identifier.clone());
            }
            object
                .values_mut()
                .for_each(|v| add_identifiers(v, identifiers));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| add_identifiers(v, identifiers)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(reference_key("Endpoint/1").as_deref(), Some("Endpoint/1"));
        assert_eq!(
            reference_key("https://a.b/fhir/Organization/7/_history/2").as_deref(),
            Some("Organization/7")
        );
        assert_eq!(reference_key("urn:uuid:1234"), None);
        let endpoint = json!({"resourceType": "Endpoint", "id": "1",
            "identifier": [{"system": ENDPOINT_IDENTIFIER, "value": "e.test"}]});
        let other = json!({"resourceType": "Endpoint", "id": "4",
            "identifier": [{"system": ENDPOINT_IDENTIFIER, "value": "f.test"}]});
        let members = Members::of(&[endpoint, other]);
        let full_url = |key: &str| json!(members.by_key[key].full_url);
        let organization = json!({"resourceType": "Organization", "id": "o",
            "meta": {"versionId": "3", "profile": ["p"]},
            "endpoint": [{"reference": "Endpoint/1"}, {"reference": "Endpoint/2"},
                         {"reference": "Endpoint/3", "identifier": {"value": "x"}},
                         {"type": "Endpoint", "identifier": {"system": ENDPOINT_IDENTIFIER, "value": "f.test"}}],
            "partOf": {"reference": "Organization/9"}});
        assert_eq!(
            members.portable(&organization),
            json!({"resourceType": "Organization", "meta": {"profile": ["p"]},
                "endpoint": [{"reference": full_url("Endpoint/1")}, {"identifier": {"value": "x"}},
                             {"type": "Endpoint", "reference": full_url("Endpoint/4")}]})
        );
    }

    #[test]
    fn only_allow_list_writes_pass() {
        let entry = |method: &str, url: &str, resource: Option<&str>| {
            let mut e = json!({"request": {"method": method, "url": url}});
            if let Some(t) = resource {
                e["resource"] = json!({"resourceType": t});
            }
            e
        };
        let good = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry("PUT", "Organization?identifier=a", Some("Organization")),
            entry("PUT", "Endpoint?identifier=a", Some("Endpoint")),
            entry("DELETE", "OrganizationAffiliation?x=y", None)]});
        assert!(violations(&good).is_empty());
        let bad = json!({"resourceType": "Bundle", "type": "collection", "entry": [
            entry("POST", "Organization", Some("Organization")),
            entry("PUT", "Patient?identifier=a", Some("Patient")),
            entry("PUT", "Endpoint?identifier=a", Some("Organization"))]});
        assert_eq!(
            violations(&bad),
            vec![
                "Bundle type collection is not transaction or batch",
                "entry 0: request method POST is not PUT or DELETE",
                "entry 1: resource type Patient is not Organization, OrganizationAffiliation or Endpoint",
                "entry 2: the request URL is not one of the resource type Organization",
            ]
        );
    }
}
