//! Helpers shared by the HTTP tests: a client and JSON shortcuts.

#![allow(dead_code)]

use dsf_testkit::TestServer;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub const JSON: &str = "application/fhir+json";
pub const XML: &str = "application/fhir+xml";

pub fn client() -> Client {
    // reqwest is built without a TLS crypto provider; the process's TLS uses ring. Installing
    // twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().expect("HTTP client")
}

/// A request with a JSON body and JSON wanted back.
pub fn json_request(client: &Client, method: Method, url: &str, body: &Value) -> RequestBuilder {
    client
        .request(method, url)
        .header("content-type", JSON)
        .header("accept", JSON)
        .body(body.to_string())
}

pub async fn send(request: RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response: Response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, headers, body)
}

pub fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("header {name} missing"))
}

/// The diagnostics of an OperationOutcome, joined.
pub fn diagnostics(outcome: &Value) -> String {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .filter_map(|i| i["diagnostics"].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

pub const ORG_SYSTEM: &str = "http://dsf.dev/sid/organization-identifier";
pub const READ_ACCESS_TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";
pub const TASK_IDENTIFIER: &str = "http://dsf.dev/sid/task-identifier";
pub const BPMN_MESSAGE: &str = "http://dsf.dev/fhir/CodeSystem/bpmn-message";
/// The organization identifier of a test server: the host of its base URL.
pub const LOCAL_ORG: &str = "127.0.0.1";
/// The process the test Tasks instantiate, its version and the message they carry.
pub const PROCESS_URL: &str = "http://dsf.dev/bpe/Process/test";
pub const PROCESS_VERSION: &str = "1.0";
pub const MESSAGE: &str = "testMessage";
pub const TASK_PROFILE: &str = "http://dsf.dev/fhir/StructureDefinition/task-test|1.0";

/// `resource` with the read-access tag `ALL` added to `meta.tag`: every resource but Task and
/// QuestionnaireResponse needs a read-access tag to be written.
pub fn readable_by_all(mut resource: Value) -> Value {
    let tag = json!({"system": READ_ACCESS_TAG, "code": "ALL"});
    let meta = resource
        .as_object_mut()
        .expect("a resource is a JSON object")
        .entry("meta")
        .or_insert_with(|| json!({}));
    match meta.get_mut("tag").and_then(Value::as_array_mut) {
        Some(tags) => tags.push(tag),
        None => meta["tag"] = json!([tag]),
    }
    resource
}

/// A logical reference to the organization with identifier value `identifier`.
pub fn organization_reference(identifier: &str) -> Value {
    json!({"type": "Organization", "identifier": {"system": ORG_SYSTEM, "value": identifier}})
}

/// An active Organization with identifier value `identifier`, readable by all.
pub fn organization(identifier: &str) -> Value {
    readable_by_all(json!({
        "resourceType": "Organization", "active": true,
        "identifier": [{"system": ORG_SYSTEM, "value": identifier}]
    }))
}

/// A Task of the test process from the local organization to itself. Draft Tasks get a
/// task-identifier of their own; requested Tasks need [`install_process`] first.
pub fn task(status: &str) -> Value {
    let mut task = json!({
        "resourceType": "Task",
        "meta": {"profile": [TASK_PROFILE]},
        "instantiatesCanonical": format!("{PROCESS_URL}|{PROCESS_VERSION}"),
        "status": status,
        "intent": "order",
        "requester": organization_reference(LOCAL_ORG),
        "restriction": {"recipient": [organization_reference(LOCAL_ORG)]},
        "input": [{"type": {"coding": [{"system": BPMN_MESSAGE, "code": "message-name"}]},
                   "valueString": MESSAGE}]
    });
    if status == "draft" {
        task["identifier"] = json!([{"system": TASK_IDENTIFIER,
            "value": format!("{PROCESS_URL}/{}", uuid::Uuid::new_v4())}]);
    }
    task
}

/// The ActivityDefinition of the test process: the local organization may send [`MESSAGE`] to
/// itself.
pub fn process_definition() -> Value {
    let coding = json!({"system": "http://dsf.dev/fhir/CodeSystem/process-authorization",
        "code": "LOCAL_ALL"});
    readable_by_all(json!({
        "resourceType": "ActivityDefinition",
        "url": PROCESS_URL, "version": PROCESS_VERSION, "status": "active", "kind": "Task",
        "extension": [{
            "url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization",
            "extension": [
                {"url": "message-name", "valueString": MESSAGE},
                {"url": "task-profile", "valueCanonical": TASK_PROFILE},
                {"url": "requester", "valueCoding": coding},
                {"url": "recipient", "valueCoding": coding}
            ]
        }]
    }))
}

/// Creates the local Organization and the test process's ActivityDefinition, so that the local
/// organization may create requested [`task`]s.
pub async fn install_process(server: &TestServer) {
    let c = client();
    for (path, resource) in [
        ("Organization", organization(LOCAL_ORG)),
        ("ActivityDefinition", process_definition()),
    ] {
        let (status, _, body) =
            send(json_request(&c, Method::POST, &server.url(path), &resource)).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    }
}
