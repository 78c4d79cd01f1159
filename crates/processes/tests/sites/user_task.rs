//! A user task: hello-user creates a QuestionnaireResponse on the site's FHIR server, a person
//! of the site completes it, and the process continues with the answers.

use std::time::{Duration, Instant};

use dsf_testkit::Backend;
use dsf_testkit::federation::TestFederation;
use dsf_testkit::secure::call;
use reqwest::Method;
use serde_json::{Value, json};

use std::sync::Arc;

use dsf_bpe::ProcessPlugin;

use super::{engine_with, finished};

fn hello_user(identifier: &str) -> Value {
    let organization = json!({"type": "Organization", "identifier": {"system": "http://dsf.dev/sid/organization-identifier", "value": identifier}});
    json!({"resourceType": "Task",
        "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-hello-user|1.5"]},
        "instantiatesCanonical": "http://dsf.dev/bpe/Process/helloUser|1.5",
        "status": "requested", "intent": "order", "authoredOn": "2026-11-30T10:00:00+01:00",
        "requester": organization, "restriction": {"recipient": [organization]},
        "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]}, "valueString": "helloUser"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_answers_the_hello_user_questionnaire() {
    answer_hello_user(dsf_processes::all).await;
}

/// Starts hello-user at a site running `plugins`, answers its questionnaire as a person of the
/// site, and checks that the process finishes.
pub async fn answer_hello_user(plugins: fn() -> Vec<Arc<dyn ProcessPlugin>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(Backend::Sqlite, &["dic1"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let site = federation.site("dic1");
    let bpe = engine_with(&federation, site, dir.path(), plugins(), Vec::new()).await;
    let client = federation.pki.client(Some(&site.certificate));
    let (code, created) = call(
        &client,
        Method::POST,
        &site.server.url("Task"),
        Some(&hello_user(&site.identifier)),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut response = loop {
        let (_, found) = call(
            &client,
            Method::GET,
            &site.server.url("QuestionnaireResponse?status=in-progress"),
            None,
        )
        .await;
        if let Some(response) = found["entry"][0]["resource"].as_object() {
            break Value::Object(response.clone());
        }
        assert!(
            Instant::now() < deadline,
            "no QuestionnaireResponse: {found}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        response["questionnaire"],
        "http://dsf.dev/fhir/Questionnaire/hello-user|1.5"
    );
    let items = response["item"].as_array().expect("items").clone();
    let link_ids: Vec<&str> = items.iter().filter_map(|i| i["linkId"].as_str()).collect();
    assert_eq!(
        &link_ids[..4],
        [
            "business-key",
            "user-task-id",
            "display-example",
            "string-example"
        ]
    );
    assert!(
        items[0]["answer"][0]["valueString"].is_string(),
        "{response}"
    );
    assert!(items[3].get("answer").is_none(), "{response}");
    // The person answers and completes it.
    for item in response["item"].as_array_mut().expect("items") {
        match item["linkId"].as_str() {
            Some("string-example") => item["answer"] = json!([{"valueString": "Hello"}]),
            Some("text-example") => item["answer"] = json!([{"valueString": "a longer text"}]),
            Some("boolean-example") => item["answer"] = json!([{"valueBoolean": true}]),
            _ => {}
        }
    }
    response["status"] = json!("completed");
    let id = response["id"].as_str().expect("id").to_owned();
    let (code, updated) = call(
        &client,
        Method::PUT,
        &site.server.url(&format!("QuestionnaireResponse/{id}")),
        Some(&response),
    )
    .await;
    assert_eq!(code, 200, "{updated}");
    let task = finished(&federation, site, created["id"].as_str().expect("id")).await;
    assert_eq!(task["status"], "completed", "{task}");
    let (_, read) = call(
        &client,
        Method::GET,
        &site.server.url(&format!("QuestionnaireResponse/{id}")),
        None,
    )
    .await;
    assert_eq!(read["status"], "amended", "{read}");
    bpe.stop().await;
}
