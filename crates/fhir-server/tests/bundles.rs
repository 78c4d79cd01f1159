//! Batch and transaction Bundles over HTTP.

mod common;

use common::*;
use dsf_testkit::{Backend, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    transaction_resolves_temporary_and_conditional_references,
    failing_transaction_leaves_no_trace,
    batch_reports_each_entry,
    bundle_kind_and_shape_are_checked
);

const ENDPOINT_SYSTEM: &str = "http://dsf.dev/sid/endpoint-identifier";

/// A tagged Endpoint with identifier `identifier` managed by `organization` (a reference).
fn endpoint(identifier: &str, address: &str, organization: &str) -> serde_json::Value {
    readable_by_all(json!({"resourceType": "Endpoint", "status": "active",
        "identifier": [{"system": ENDPOINT_SYSTEM, "value": identifier}], "address": address,
        "managingOrganization": {"reference": organization},
        "connectionType": {"code": "hl7-fhir-rest"}, "payloadType": [{"text": "Task"}]}))
}

async fn transaction_resolves_temporary_and_conditional_references(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, _, parent) = send(json_request(
        &c,
        Method::POST,
        &server.url("Organization"),
        &organization("parent.dsf.test"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{parent}");
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
             "resource": endpoint("dic1.dsf.test", "https://dic1.dsf.test/fhir", "urn:uuid:22222222-2222-4222-8222-222222222222"),
             "request": {"method": "POST", "url": "Endpoint"}},
            {"fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222",
             "resource": readable_by_all(json!({"resourceType": "Organization", "identifier": [{"system": ORG_SYSTEM, "value": "dic1.dsf.test"}],
                          "endpoint": [{"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"}]})),
             "request": {"method": "PUT", "url": format!("Organization?identifier={ORG_SYSTEM}|dic1.dsf.test")}},
            {"fullUrl": "urn:uuid:33333333-3333-4333-8333-333333333333",
             "resource": readable_by_all(json!({"resourceType": "OrganizationAffiliation", "active": true,
                          "organization": {"reference": format!("Organization?identifier={ORG_SYSTEM}|parent.dsf.test")},
                          "participatingOrganization": {"reference": "urn:uuid:22222222-2222-4222-8222-222222222222"},
                          "endpoint": [{"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"}],
                          "code": [{"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/organization-role", "code": "DIC"}]}]})),
             "request": {"method": "POST", "url": "OrganizationAffiliation"}},
            {"request": {"method": "GET", "url": "Organization?identifier=dic1.dsf.test"}}
        ]
    });
    let (status, _, response) =
        send(json_request(&c, Method::POST, &server.base_url, &bundle)).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["type"], "transaction-response");
    let entries = response["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["response"]["status"], "201 Created");
    assert_eq!(entries[1]["response"]["status"], "201 Created");
    let endpoint_id = entries[0]["resource"]["id"].as_str().expect("endpoint id");
    let org_id = entries[1]["resource"]["id"].as_str().expect("org id");
    assert_eq!(
        entries[0]["resource"]["managingOrganization"]["reference"],
        format!("Organization/{org_id}")
    );
    assert_eq!(
        entries[1]["resource"]["endpoint"][0]["reference"],
        format!("Endpoint/{endpoint_id}")
    );
    let affiliation = &entries[2]["resource"];
    assert!(
        affiliation["organization"]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("Organization/"))
    );
    assert_eq!(
        affiliation["participatingOrganization"]["reference"],
        format!("Organization/{org_id}")
    );
    assert_eq!(
        entries[3]["resource"]["total"], 1,
        "GET runs after the writes"
    );

    // The same conditional PUT again updates rather than creates.
    let mut entry = bundle["entry"][1].clone();
    entry["resource"]["endpoint"][0]["reference"] = json!(format!("Endpoint/{endpoint_id}"));
    let (_, _, again) = send(json_request(
        &c,
        Method::POST,
        &server.base_url,
        &json!({
            "resourceType": "Bundle", "type": "transaction", "entry": [entry]
        }),
    ))
    .await;
    assert_eq!(again["entry"][0]["response"]["status"], "200 OK", "{again}");
}

async fn failing_transaction_leaves_no_trace(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let unknown = uuid::Uuid::new_v4();
    let mut update = task("draft");
    update["id"] = json!(unknown.to_string());
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"resource": task("draft"), "request": {"method": "POST", "url": "Task"}},
            {"resource": update,
             "request": {"method": "PUT", "url": format!("Task/{unknown}")}}
        ]
    });
    let (status, _, outcome) =
        send(json_request(&c, Method::POST, &server.base_url, &bundle)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{outcome}");
    assert!(diagnostics(&outcome).contains("entry[1]"));
    let (_, _, tasks) = send(c.get(server.url("Task")).header("accept", JSON)).await;
    assert_eq!(tasks["total"], 0, "the first entry was rolled back");
    let (_, _, history) = send(c.get(server.url("_history")).header("accept", JSON)).await;
    // Only the DSF profiles loaded at start-up.
    assert_eq!(history["total"], dsf_fhir_server::conformance::FILES.len());

    let dangling = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": endpoint("x", "https://x/fhir", "urn:uuid:99999999-9999-4999-8999-999999999999"),
         "request": {"method": "POST", "url": "Endpoint"}}]});
    let (status, _, outcome) =
        send(json_request(&c, Method::POST, &server.base_url, &dangling)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert!(
        diagnostics(&outcome).contains("names no entry"),
        "{outcome}"
    );
    let conditional = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": endpoint("x", "https://x/fhir", "Organization?identifier=nobody"),
         "request": {"method": "POST", "url": "Endpoint"}}]});
    let (status, _, outcome) = send(json_request(
        &c,
        Method::POST,
        &server.base_url,
        &conditional,
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert!(diagnostics(&outcome).contains("matches no resource"));
}

async fn batch_reports_each_entry(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let unknown = uuid::Uuid::new_v4();
    let bundle = json!({
        "resourceType": "Bundle", "type": "batch",
        "entry": [
            {"resource": task("draft"), "request": {"method": "POST", "url": "Task"}},
            {"request": {"method": "GET", "url": format!("Task/{unknown}")}},
            {"request": {"method": "DELETE", "url": format!("Task/{unknown}")}}
        ]
    });
    let (status, _, response) =
        send(json_request(&c, Method::POST, &server.base_url, &bundle)).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["type"], "batch-response");
    assert_eq!(response["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(response["entry"][1]["response"]["status"], "404 Not Found");
    assert_eq!(
        response["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(response["entry"][2]["response"]["status"], "404 Not Found");
    let (_, _, tasks) = send(c.get(server.url("Task")).header("accept", JSON)).await;
    assert_eq!(tasks["total"], 1, "the successful entry stays");
}

async fn bundle_kind_and_shape_are_checked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, _, _) = send(json_request(
        &c,
        Method::POST,
        &server.base_url,
        &json!({"resourceType": "Bundle", "type": "collection"}),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, outcome) = send(json_request(
        &c,
        Method::POST,
        &server.base_url,
        &json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": task("draft")}]}),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");
    let (status, _, _) = send(json_request(&c, Method::POST, &server.base_url, &json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": task("draft"), "request": {"method": "POST", "url": "Patient"}}]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(json_request(
        &c,
        Method::POST,
        &server.base_url,
        &task("draft"),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, headers, _) = send(c.get(&server.base_url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&headers, "allow"), "POST");
}
