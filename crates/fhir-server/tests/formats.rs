//! XML is the default format; JSON and XML are interchangeable on the wire.

mod common;

use common::*;
use dsf_testkit::{Backend, TestServer, both_backends};
use reqwest::StatusCode;

both_backends!(
    xml_by_default_and_on_request,
    metadata_lists_what_is_supported
);

/// A draft Task of the local organization in XML, with a decimal input.
fn task_xml() -> String {
    let organization = format!(
        r#"<type value="Organization"/><identifier><system value="{ORG_SYSTEM}"/><value value="{LOCAL_ORG}"/></identifier>"#
    );
    format!(
        r#"<Task xmlns="http://hl7.org/fhir"><meta><profile value="{TASK_PROFILE}"/></meta><identifier><system value="{TASK_IDENTIFIER}"/><value value="{PROCESS_URL}/xml"/></identifier><instantiatesCanonical value="{PROCESS_URL}|{PROCESS_VERSION}"/><status value="draft"/><intent value="order"/><requester>{organization}</requester><restriction><recipient>{organization}</recipient></restriction><input><type><text value="amount"/></type><valueDecimal value="1.50"/></input><input><type><coding><system value="{BPMN_MESSAGE}"/><code value="message-name"/></coding></type><valueString value="{MESSAGE}"/></input></Task>"#
    )
}

async fn xml_by_default_and_on_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let response = c
        .post(server.url("Task"))
        .header("content-type", XML)
        .body(task_xml())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response);
    assert!(
        header(response.headers(), "content-type").starts_with("application/fhir+xml"),
        "XML when nothing is asked for"
    );
    let xml = response.text().await.expect("body");
    assert!(xml.contains("<valueDecimal value=\"1.50\"/>"), "{xml}");
    let id = xml
        .split("<id value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("id")
        .to_owned();

    let (status, _, json) = send(c.get(server.url(&format!("Task/{id}?_format=json")))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json["input"][0]["valueDecimal"].to_string(),
        "1.50",
        "decimals keep their digits"
    );
    let pretty = c
        .get(server.url(&format!("Task/{id}?_format=xml&_pretty=true")))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(pretty.contains("\n  <"), "{pretty}");
    let via_accept = c
        .get(server.url(&format!("Task/{id}")))
        .header("accept", "application/xml")
        .send()
        .await
        .expect("sent");
    assert!(header(via_accept.headers(), "content-type").starts_with("application/fhir+xml"));
    let outcome = c
        .get(server.url("Task/nope"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(
        outcome.starts_with("<OperationOutcome")
            || outcome.contains("<OperationOutcome xmlns=\"http://hl7.org/fhir\">"),
        "{outcome}"
    );
}

async fn metadata_lists_what_is_supported(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, _, statement) =
        send(client().get(server.url("metadata")).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let resources = statement["rest"][0]["resource"]
        .as_array()
        .expect("resources");
    assert_eq!(resources.len(), 26);
    let task = resources
        .iter()
        .find(|r| r["type"] == "Task")
        .expect("Task");
    let params: Vec<_> = task["searchParam"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        params,
        vec![
            "_id",
            "_lastUpdated",
            "_profile",
            "authored-on",
            "identifier",
            "modified",
            "requester",
            "status"
        ]
    );
    assert_eq!(task["updateCreate"], false);
    assert_eq!(task["conditionalDelete"], "single");
}
