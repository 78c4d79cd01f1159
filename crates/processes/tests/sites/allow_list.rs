//! The allow list between real sites: the TTP, which manages the allow list, publishes it as a
//! Bundle; another site downloads it and learns of an organization it did not know; a Bundle
//! that would write anything but the allow list is refused.

use std::collections::HashMap;
use std::sync::Arc;

use dsf_bpe::ProcessPlugin;
use dsf_bpe::plugin::deploy::PluginConfig;
use dsf_processes::allow_list::{ALLOW_LIST, ALLOW_LIST_CODE, ALLOW_LIST_ORGANIZATION};
use dsf_testkit::Backend;
use dsf_testkit::federation::{TestFederation, TestSite};
use reqwest::Method;
use serde_json::{Value, json};

use super::{engine_configured, local_task, run_task, site_call};

const ORGANIZATION_IDENTIFIER: &str = "http://dsf.dev/sid/organization-identifier";
const ENDPOINT_IDENTIFIER: &str = "http://dsf.dev/sid/endpoint-identifier";

fn update_allow_list(site: &TestSite) -> Value {
    local_task(
        site,
        "updateAllowList|1.0",
        "update-allow-list|1.0",
        "updateAllowList",
        Vec::new(),
    )
}

fn download_allow_list(site: &TestSite, reference: &str) -> Value {
    local_task(
        site,
        "downloadAllowList|1.0",
        "download-allow-list|1.0",
        "downloadAllowListMessage",
        vec![
            json!({"type": {"coding": [{"system": ALLOW_LIST, "code": ALLOW_LIST_CODE}]},
                    "valueReference": {"reference": reference}}),
        ],
    )
}

/// The number of matches of `query` on `site`.
async fn count(federation: &TestFederation, site: &TestSite, query: &str) -> u64 {
    let separator = if query.contains('?') { '&' } else { '?' };
    let (status, found) = site_call(
        federation,
        site,
        Method::GET,
        &format!("{query}{separator}_summary=count"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    found["total"].as_u64().expect("total")
}

/// The values of the outputs of `task` typed `system|code`.
fn outputs<'a>(task: &'a Value, system: &'a str, code: &'a str) -> Vec<&'a Value> {
    task["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["type"]["coding"][0]["system"] == system && o["type"]["coding"][0]["code"] == code
        })
        .collect()
}

/// A new member, `dic9.dsf.test`, with its Endpoint, written at `site`.
async fn add_member(federation: &TestFederation, site: &TestSite) {
    let tag = json!({"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]});
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b6f0d1e-9c0e-4a51-8c1e-5b1cf5b0a001",
         "resource": {"resourceType": "Organization", "meta": tag,
            "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-certificate-thumbprint",
                "valueString": "9".repeat(128)}],
            "identifier": [{"system": ORGANIZATION_IDENTIFIER, "value": "dic9.dsf.test"}],
            "active": true, "name": "dic9",
            "endpoint": [{"reference": "urn:uuid:0b6f0d1e-9c0e-4a51-8c1e-5b1cf5b0a002", "type": "Endpoint"}]},
         "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:0b6f0d1e-9c0e-4a51-8c1e-5b1cf5b0a002",
         "resource": {"resourceType": "Endpoint", "meta": tag,
            "identifier": [{"system": ENDPOINT_IDENTIFIER, "value": "dic9.dsf.test"}],
            "status": "active",
            "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
            "managingOrganization": {"reference": "urn:uuid:0b6f0d1e-9c0e-4a51-8c1e-5b1cf5b0a001", "type": "Organization"},
            "payloadType": [{"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Task"}]}],
            "payloadMimeType": ["application/fhir+json", "application/fhir+xml"],
            "address": "https://dic9.dsf.test/fhir"},
         "request": {"method": "POST", "url": "Endpoint"}}]});
    let (status, response) = site_call(federation, site, Method::POST, "", Some(&bundle)).await;
    assert_eq!(status, 200, "{response}");
}

/// Publishes the allow list at the TTP, downloads it at dic1, and refuses a Bundle that writes
/// a Patient with a POST; every site runs `plugins`.
pub async fn publish_and_download(backend: Backend, plugins: fn() -> Vec<Arc<dyn ProcessPlugin>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(backend, &["ttp", "dic1"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let ttp = federation.site("ttp");
    let dic1 = federation.site("dic1");
    let mut engines = Vec::new();
    for site in &federation.sites {
        let config = PluginConfig {
            properties: HashMap::from([(
                ALLOW_LIST_ORGANIZATION.to_owned(),
                ttp.identifier.clone(),
            )]),
            ..PluginConfig::default()
        };
        let engine = engine_configured(&federation, site, dir.path(), plugins(), config).await;
        assert!(
            engine.deployment().warnings.is_empty(),
            "{:?}",
            engine.deployment().warnings
        );
        engines.push(engine);
    }
    add_member(&federation, ttp).await;
    let dic9 = format!("Organization?identifier={ORGANIZATION_IDENTIFIER}|dic9.dsf.test");
    assert_eq!(count(&federation, dic1, &dic9).await, 0);
    let affiliations = count(&federation, dic1, "OrganizationAffiliation").await;
    assert!(affiliations >= 2, "{affiliations} affiliations at dic1");

    // Only the allow list organization may update the allow list.
    let (status, refused) = site_call(
        &federation,
        dic1,
        Method::POST,
        "Task",
        Some(&update_allow_list(dic1)),
    )
    .await;
    assert_eq!(status, 403, "{refused}");

    let updated = run_task(&federation, ttp, &update_allow_list(ttp)).await;
    assert_eq!(updated["status"], "completed", "{updated}");
    let references = outputs(&updated, ALLOW_LIST, ALLOW_LIST_CODE);
    assert_eq!(references.len(), 1, "{updated}");
    let reference = references[0]["valueReference"]["reference"]
        .as_str()
        .expect("a reference to the Bundle");
    let bundle_path = reference
        .strip_prefix(&format!("{}/", ttp.server.base_url))
        .expect("a Bundle on the TTP's server");
    assert!(
        bundle_path.starts_with("Bundle/") && bundle_path.contains("/_history/"),
        "{reference}"
    );
    let (status, bundle) = site_call(&federation, ttp, Method::GET, bundle_path, None).await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["type"], "transaction");
    assert_eq!(bundle["identifier"]["value"], ALLOW_LIST_CODE);
    let entries = bundle["entry"].as_array().expect("entries");
    let types: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(types.contains(&"OrganizationAffiliation"), "{types:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["request"]["method"] == "PUT" && e["resource"].get("id").is_none()),
        "{bundle}"
    );
    assert!(bundle.to_string().contains("dic9.dsf.test"), "{bundle}");

    let downloaded = run_task(&federation, dic1, &download_allow_list(dic1, reference)).await;
    assert_eq!(downloaded["status"], "completed", "{downloaded}");
    assert_eq!(count(&federation, dic1, &dic9).await, 1);
    let endpoint = format!(
        "Endpoint?identifier={ENDPOINT_IDENTIFIER}|dic9.dsf.test&organization:identifier={ORGANIZATION_IDENTIFIER}|dic9.dsf.test"
    );
    assert_eq!(count(&federation, dic1, &endpoint).await, 1);
    // The known members were updated in place, not copied.
    assert_eq!(
        count(&federation, dic1, "OrganizationAffiliation").await,
        affiliations
    );
    assert_eq!(
        count(
            &federation,
            dic1,
            &format!("Organization?identifier={ORGANIZATION_IDENTIFIER}|ttp.dsf.test")
        )
        .await,
        1
    );

    // Downloading a newer allow list again changes what changed and copies nothing.
    let updated = run_task(&federation, ttp, &update_allow_list(ttp)).await;
    let newer = outputs(&updated, ALLOW_LIST, ALLOW_LIST_CODE)[0]["valueReference"]["reference"]
        .as_str()
        .expect("a reference to the Bundle")
        .to_owned();
    assert_ne!(newer, reference);
    let downloaded = run_task(&federation, dic1, &download_allow_list(dic1, &newer)).await;
    assert_eq!(downloaded["status"], "completed", "{downloaded}");
    assert_eq!(count(&federation, dic1, &dic9).await, 1);
    assert_eq!(
        count(&federation, dic1, "OrganizationAffiliation").await,
        affiliations
    );
    assert_eq!(count(&federation, dic1, "Endpoint").await, 3);

    // A Bundle that writes more than the allow list is refused and nothing of it is written.
    let tag = json!({"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]});
    let bad = json!({"resourceType": "Bundle", "meta": tag, "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "Doe"}]},
         "request": {"method": "PUT", "url": "Patient?name=Doe"}},
        {"resource": {"resourceType": "Organization", "meta": tag, "active": true, "name": "extra",
            "identifier": [{"system": ORGANIZATION_IDENTIFIER, "value": "extra.dsf.test"}]},
         "request": {"method": "POST", "url": "Organization"}}]});
    let (status, stored) = site_call(&federation, ttp, Method::POST, "Bundle", Some(&bad)).await;
    assert_eq!(status, 201, "{stored}");
    let bad_reference = format!(
        "{}/Bundle/{}",
        ttp.server.base_url,
        stored["id"].as_str().expect("Bundle id")
    );
    let refused = run_task(
        &federation,
        dic1,
        &download_allow_list(dic1, &bad_reference),
    )
    .await;
    assert_eq!(refused["status"], "failed", "{refused}");
    let errors: Vec<&str> = outputs(
        &refused,
        "http://dsf.dev/fhir/CodeSystem/bpmn-message",
        "error",
    )
    .iter()
    .filter_map(|o| o["valueString"].as_str())
    .collect();
    // One output per violation (written once, though the check ran as often as the model
    // retries it), and the reason the process failed.
    let violations: Vec<&&str> = errors.iter().filter(|e| e.starts_with("entry ")).collect();
    assert_eq!(violations.len(), 2, "{errors:?}");
    assert!(
        violations.iter().any(|e| e.contains("Patient")),
        "{errors:?}"
    );
    assert!(violations.iter().any(|e| e.contains("POST")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("fatal error in step")),
        "{errors:?}"
    );
    assert_eq!(count(&federation, dic1, "Patient").await, 0);
    assert_eq!(
        count(
            &federation,
            dic1,
            &format!("Organization?identifier={ORGANIZATION_IDENTIFIER}|extra.dsf.test")
        )
        .await,
        0
    );
    for engine in engines {
        engine.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_is_published_and_downloaded_sqlite() {
    publish_and_download(Backend::Sqlite, dsf_processes::all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_is_published_and_downloaded_postgres() {
    publish_and_download(Backend::Postgres, dsf_processes::all).await;
}
