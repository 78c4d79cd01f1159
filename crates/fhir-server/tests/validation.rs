//! No write without validation, over mutual TLS on a validating server: the reference's own DSF
//! core resources (`../shared/fixtures/dsf-core`) load as the conditional creates of their `.post`
//! files and find ours, the reference's process plugins load on top and their draft Tasks are
//! accepted, mutated copies are refused with 403 and the issue that names what is wrong, and
//! nothing invalid is stored.

use std::path::Path;

use dsf_testkit::fixtures::{self, plugin_placeholders};
use dsf_testkit::secure::{SecureServer, TestPki, call, member, post};
use dsf_testkit::{Backend, both_backends};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const LOCAL: &str = "dic1.dsf.test";
const READ_ACCESS_TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";

/// The XML resources below `dir` (Subscriptions left out: the server makes its own) with the
/// conditional-create criteria of their `.post` files, plugin placeholders filled.
fn resources(dir: &Path) -> Vec<(Value, Option<String>)> {
    let fill = plugin_placeholders(LOCAL);
    fixtures::xml_resources(dir, &fill)
        .into_iter()
        .filter(|(path, _)| !path.to_string_lossy().contains("/Subscription/"))
        .map(|(path, resource)| {
            let criteria = std::fs::read_to_string(path.with_extension("xml.post"))
                .ok()
                .map(|c| fill(c.trim()));
            (resource, criteria)
        })
        .collect()
}

/// The criteria a plugin resource is loaded with: by `url` and `version`, Tasks by identifier.
fn plugin_criteria(resource: &Value) -> String {
    match (resource["url"].as_str(), resource["version"].as_str()) {
        (Some(url), Some(version)) => format!("url={url}&version={version}"),
        _ => {
            let identifier = &resource["identifier"][0];
            format!(
                "identifier={}|{}",
                identifier["system"].as_str().unwrap_or_default(),
                identifier["value"].as_str().unwrap_or_default()
            )
        }
    }
}

fn transaction(entries: Vec<(Value, String)>) -> Value {
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(resource, criteria)| {
            let url = resource["resourceType"].clone();
            json!({"fullUrl": format!("urn:uuid:{}", uuid()), "resource": resource,
                   "request": {"method": "POST", "url": url, "ifNoneExist": criteria}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// A random UUID from the clock and a counter: unique within the test.
fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

struct Site {
    server: SecureServer,
    local: Client,
}

async fn start(backend: Backend, validation: bool) -> Site {
    let pki = TestPki::new();
    let dic1 = pki.client_certificate("dic1");
    let members = [member("dic1", &dic1, &["DIC"])];
    let server = SecureServer::start_with(backend, &pki, LOCAL, &members, None, |c| {
        c.validation = validation;
    })
    .await;
    Site {
        local: pki.client(Some(&dic1)),
        server,
    }
}

/// The issues of an OperationOutcome as `location: diagnostics` lines.
fn issues(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            format!(
                "{}: {}",
                i["location"][0].as_str().unwrap_or_default(),
                i["diagnostics"]
            )
        })
        .collect()
}

/// Posts `task` and expects 403 with an issue at `location` saying `words`.
async fn refused(site: &Site, task: &Value, location: &str, words: &str) {
    let (status, outcome) = post(&site.local, &site.server.url("Task"), task).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issues = issues(&outcome);
    assert!(
        issues
            .iter()
            .any(|i| i.starts_with(location) && i.contains(words)),
        "expected {words:?} at {location}: {issues:#?}"
    );
}

async fn reference_resources_load_and_mutations_are_refused(backend: Backend) {
    let Some(dir) = fixtures::dir() else { return };
    let site = start(backend, true).await;
    let base = site.server.url("");

    // The reference's core resources find ours: every conditional create matches one.
    let core: Vec<(Value, String)> = resources(&dir.join("dsf-core/fhir"))
        .into_iter()
        .map(|(r, c)| {
            let criteria = c.expect(".post criteria");
            (r, criteria)
        })
        .collect();
    let count = core.len();
    let (status, response) = post(&site.local, &base, &transaction(core)).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let statuses: Vec<&str> = response["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["response"]["status"].as_str())
        .collect();
    assert_eq!(statuses.len(), count);
    assert!(
        statuses.iter().all(|s| s.starts_with("200")),
        "{statuses:?}"
    );

    // The reference's plugins load on top, validated: profiles, definitions, terminology, drafts.
    for plugin in ["ping-pong", "hello-world", "allow-list"] {
        let loaded: Vec<(Value, String)> =
            resources(&dir.join("plugins").join(plugin).join("fhir"))
                .into_iter()
                .map(|(mut r, _)| {
                    // The engine sets the status it manages when it deploys a plugin.
                    if r["status"] == "unknown" {
                        r["status"] = json!("active");
                    }
                    let criteria = plugin_criteria(&r);
                    (r, criteria)
                })
                .collect();
        let (status, response) = post(&site.local, &base, &transaction(loaded)).await;
        assert_eq!(status, StatusCode::OK, "{plugin}: {:#?}", issues(&response));
    }
    let (_, found) = call(
        &site.local,
        Method::GET,
        &site.server.url("Task?status=draft&_count=50"),
        None,
    )
    .await;
    assert_eq!(found["total"], 7, "the plugins' draft Tasks are stored");

    let task = resources(&dir.join("plugins/ping-pong/fhir/Task"))
        .into_iter()
        .map(|(r, _)| r)
        .find(|r| {
            r["identifier"][0]["value"]
                .as_str()
                .is_some_and(|v| v.ends_with("/task-start-ping"))
        })
        .expect("the start-ping draft Task");
    let mut valid = task.clone();
    valid["identifier"][0]["value"] = json!("http://dsf.dev/bpe/Process/ping/1.0/another");
    let (status, created) = post(&site.local, &site.server.url("Task"), &valid).await;
    assert_eq!(status, StatusCode::CREATED, "{:#?}", issues(&created));

    let mut missing = task.clone();
    missing["input"].as_array_mut().expect("inputs").remove(0);
    refused(&site, &missing, "Task.input", "minimum required = 1").await;

    let mut twice = task.clone();
    let first = twice["input"][0].clone();
    twice["input"].as_array_mut().expect("inputs").push(first);
    refused(&site, &twice, "Task.input", "max allowed = 1").await;

    let mut wrong_code = task.clone();
    wrong_code["output"] = json!([{
        "type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/ping", "code": "ping-status"}]},
        "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/ping-status", "code": "no-such-code"}
    }]);
    refused(
        &site,
        &wrong_code,
        "Task.output[0].value.ofType(Coding)",
        "no-such-code",
    )
    .await;

    let mut unknown_extension = task.clone();
    unknown_extension["extension"] =
        json!([{"url": "http://example.org/unknown", "valueString": "x"}]);
    refused(
        &site,
        &unknown_extension,
        "Task.extension[0]",
        "Unknown extension",
    )
    .await;

    let mut no_identifier = task.clone();
    no_identifier
        .as_object_mut()
        .expect("task")
        .remove("identifier");
    refused(&site, &no_identifier, "Task", "identifier-if-status-draft").await;

    // Nothing refused was stored.
    let (_, found) = call(
        &site.local,
        Method::GET,
        &site.server.url("Task?_summary=count"),
        None,
    )
    .await;
    assert_eq!(found["total"], 8, "{found}");
}

async fn default_profiles_and_transactions(backend: Backend) {
    let site = start(backend, true).await;
    let tag = json!({"tag": [{"system": READ_ACCESS_TAG, "code": "ALL"}]});
    // An Organization naming no profile is validated against the DSF organization profile, and
    // stored naming it.
    let bare = json!({"resourceType": "Organization", "meta": tag, "active": true, "name": "x"});
    let (status, outcome) = post(&site.local, &site.server.url("Organization"), &bare).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert!(
        issues(&outcome)
            .iter()
            .any(|i| i.contains("StructureDefinition/organization")),
        "{outcome}"
    );
    let organization = json!({"resourceType": "Organization", "meta": tag, "active": true, "name": "dic8",
        "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-certificate-thumbprint",
                       "valueString": "a".repeat(128)}],
        "identifier": [{"system": "http://dsf.dev/sid/organization-identifier", "value": "dic8.dsf.test"}],
        "endpoint": [{"reference": "Endpoint/8b7d8e36-5d3b-4b46-9c3b-5a2a3e9f8e01"}]});
    let (status, created) =
        post(&site.local, &site.server.url("Organization"), &organization).await;
    assert_eq!(status, StatusCode::CREATED, "{:#?}", issues(&created));
    assert_eq!(
        created["meta"]["profile"][0],
        "http://dsf.dev/fhir/StructureDefinition/organization"
    );

    // One invalid entry refuses the whole transaction.
    let mut other = organization.clone();
    other["identifier"][0]["value"] = json!("dic7.dsf.test");
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6c1b3a4e-0f0e-4c55-9b61-3f1c0f4d1a01", "resource": other,
         "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:6c1b3a4e-0f0e-4c55-9b61-3f1c0f4d1a02", "resource": bare,
         "request": {"method": "POST", "url": "Organization"}}]});
    let (status, outcome) = post(&site.local, &site.server.url(""), &bundle).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    let (_, found) = call(
        &site.local,
        Method::GET,
        &site.server.url(
            "Organization?identifier=http://dsf.dev/sid/organization-identifier|dic7.dsf.test",
        ),
        None,
    )
    .await;
    assert_eq!(found["total"], 0, "{found}");
}

async fn validation_can_be_switched_off(backend: Backend) {
    let site = start(backend, false).await;
    let tag = json!({"tag": [{"system": READ_ACCESS_TAG, "code": "ALL"}]});
    // No thumbprint and no endpoint, as the DSF organization profile requires.
    let bare = json!({"resourceType": "Organization", "meta": tag, "active": true, "name": "x",
        "identifier": [{"system": "http://dsf.dev/sid/organization-identifier", "value": "dic6.dsf.test"}]});
    let (status, created) = post(&site.local, &site.server.url("Organization"), &bare).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["meta"].get("profile").is_none(), "{created}");
}

both_backends!(
    reference_resources_load_and_mutations_are_refused,
    default_profiles_and_transactions,
    validation_can_be_switched_off,
);
