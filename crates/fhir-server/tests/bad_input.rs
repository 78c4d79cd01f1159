//! Hostile and malformed requests get the reference's status code and an OperationOutcome, never
//! a panic, a 500, or stored data.

mod common;

use common::*;
use dsf_testkit::{Backend, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    malformed_bodies,
    wrong_types_and_ids,
    oversized_bodies,
    unsupported_formats
);

/// Only the DSF profiles a server loads at start-up are stored.
async fn assert_nothing_stored(server: &TestServer) {
    let c = client();
    let (_, _, history) = send(c.get(server.url("_history")).header("accept", JSON)).await;
    let loaded = dsf_fhir_server::conformance::FILES.len();
    assert_eq!(history["total"], loaded, "nothing may be stored: {history}");
}

async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let c = client();
    let (status, _, outcome) = send(
        c.post(server.url(path))
            .header("content-type", content_type)
            .header("accept", JSON)
            .body(body),
    )
    .await;
    (status, outcome)
}

async fn malformed_bodies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let deep = format!("{}{}", "{\"a\":[".repeat(5000), "]}".repeat(5000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (JSON, b"{not json".to_vec()),
        (JSON, b"".to_vec()),
        (JSON, b"[]".to_vec()),
        (JSON, br#"{"resourceType":"Task","status":"requested","intent":"order","bogus":1}"#.to_vec()),
        (JSON, br#"{"resourceType":"Task","status":["requested"],"intent":"order"}"#.to_vec()),
        (JSON, br#"{"resourceType":"Task","status":"requested","intent":"order","priority":""}"#.to_vec()),
        (JSON, br#"{"resourceType":"Foo"}"#.to_vec()),
        (JSON, deep.into_bytes()),
        (JSON, vec![0xff, 0xfe, 0x00]),
        (XML, b"<Task xmlns=\"http://hl7.org/fhir\"><status value=\"requested\"/>".to_vec()),
        (XML, b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Task xmlns=\"http://hl7.org/fhir\"><status value=\"&e;\"/></Task>".to_vec()),
        (XML, b"<Task xmlns=\"http://hl7.org/fhir\"><unknown value=\"x\"/></Task>".to_vec()),
    ];
    for (content_type, body) in cases {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(80)
            .collect::<String>();
        let (status, outcome) = post_raw(&server, "Task", content_type, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{shown}: {outcome}");
        let reason = diagnostics(&outcome);
        assert!(!reason.is_empty(), "{shown}: says what is wrong");
        assert!(
            !reason.contains("Operation create forbidden"),
            "{shown}: refused as malformed, before the authorization rules: {outcome}"
        );
    }
    let (status, outcome) = post_raw(&server, "", JSON, "{\"resourceType\":\"Bundle\"").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert_nothing_stored(&server).await;
}

async fn wrong_types_and_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, _, outcome) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &json!({"resourceType": "Patient"}),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");
    assert!(diagnostics(&outcome).contains("does not match"));
    let (status, _, outcome) = send(json_request(
        &c,
        Method::POST,
        &server.url("Observation"),
        &json!({"resourceType": "Observation"}),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{outcome}");
    for path in [
        "Task/not-a-uuid",
        "Task/1/_history/1",
        "Observation/1",
        "Task/_history/x",
    ] {
        let (status, _, outcome) = send(c.get(server.url(path)).header("accept", JSON)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let outside = server.base_url.replace("/fhir", "/elsewhere");
    let (status, _, outcome) = send(c.get(outside).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "paths outside the base URL");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let id = uuid::Uuid::new_v4();
    let (status, _, _) = send(
        c.get(server.url(&format!("Task/{id}/_history/abc")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        c.patch(server.url(&format!("Task/{id}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = send(
        json_request(
            &c,
            Method::PUT,
            &server.url(&format!("Task/{id}")),
            &task("requested"),
        )
        .header("if-match", "\"1\""),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "strong ETags are refused");
    let (status, _, _) = send(
        c.put(server.url("Task"))
            .header("content-type", JSON)
            .header("accept", JSON)
            .body(task("requested").to_string()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "conditional update without criteria"
    );
    assert_nothing_stored(&server).await;
}

async fn oversized_bodies(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.max_body_bytes = 1024).await;
    let mut big = task("requested");
    big["description"] = json!("x".repeat(4096));
    let (status, outcome) = post_raw(&server, "Task", JSON, big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{outcome}");
    assert_nothing_stored(&server).await;
}

async fn unsupported_formats(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, outcome) =
        post_raw(&server, "Task", "text/plain", task("requested").to_string()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{outcome}");
    let (status, _, _) = send(
        c.post(server.url("Task"))
            .header("accept", JSON)
            .body(task("requested").to_string()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no Content-Type"
    );
    let response = c
        .get(server.url("Task?_format=yaml"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("OperationOutcome")
    );
    assert_nothing_stored(&server).await;
}
