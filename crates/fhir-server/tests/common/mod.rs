//! Helpers shared by the HTTP tests: a client and JSON shortcuts.

#![allow(dead_code)]

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

pub const JSON: &str = "application/fhir+json";
pub const XML: &str = "application/fhir+xml";

pub fn client() -> Client {
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

pub fn task(status: &str) -> Value {
    serde_json::json!({"resourceType": "Task", "status": status, "intent": "order"})
}
