//! Searches over HTTP: paging links, strict and lenient handling, counts, includes.

mod common;

use common::*;
use dsf_testkit::{Backend, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    paging_links,
    strict_and_lenient_handling,
    summary_count_and_includes,
    references_with_identifier_are_cleaned
);

fn links(bundle: &Value) -> Vec<(String, String)> {
    bundle["link"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            (
                l["relation"].as_str().unwrap_or("").to_owned(),
                l["url"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn paging_links(backend: Backend) {
    let server = TestServer::start(backend).await;
    install_process(&server).await;
    let c = client();
    for status in [
        "requested",
        "requested",
        "requested",
        "requested",
        "requested",
        "draft",
    ] {
        let (code, _, body) = send(json_request(
            &c,
            Method::POST,
            &server.url("Task"),
            &task(status),
        ))
        .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let (status, _, page2) =
        send(c.get(server.url("Task?status=requested&_count=2&_page=2&_format=json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page2["type"], "searchset");
    assert_eq!(page2["total"], 5);
    assert_eq!(page2["entry"].as_array().map(Vec::len), Some(2));
    assert_eq!(page2["entry"][0]["search"]["mode"], "match");
    let id = page2["entry"][0]["resource"]["id"].as_str().expect("id");
    assert_eq!(
        page2["entry"][0]["fullUrl"],
        server.url(&format!("Task/{id}"))
    );
    let base = server.url("Task");
    assert_eq!(
        links(&page2),
        vec![
            (
                "self".into(),
                format!("{base}?_count=2&_format=json&_page=2&status=requested")
            ),
            (
                "first".into(),
                format!("{base}?_count=2&_format=json&_page=1&status=requested")
            ),
            (
                "previous".into(),
                format!("{base}?_count=2&_format=json&_page=1&status=requested")
            ),
            (
                "next".into(),
                format!("{base}?_count=2&_format=json&_page=3&status=requested")
            ),
            (
                "last".into(),
                format!("{base}?_count=2&_format=json&_page=3&status=requested")
            ),
        ]
    );
    let (_, _, beyond) = send(
        c.get(server.url("Task?_count=2&_page=9"))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(beyond["total"], 6);
    assert!(beyond.get("entry").is_none());
    assert_eq!(
        links(&beyond),
        vec![("self".into(), format!("{base}?_count=0&_page=1"))]
    );
    let (_, _, default_page) = send(c.get(server.url("Task")).header("accept", JSON)).await;
    assert_eq!(default_page["entry"].as_array().map(Vec::len), Some(6));
}

async fn strict_and_lenient_handling(backend: Backend) {
    let server = TestServer::start(backend).await;
    install_process(&server).await;
    let c = client();
    let (status, _, body) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("requested"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, bundle) = send(
        c.get(server.url("Task?status=requested&bogus=1"))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bundle["total"], 1);
    let entries = bundle["entry"].as_array().expect("entries");
    let outcome = entries
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("outcome entry");
    assert_eq!(outcome["resource"]["issue"][0]["severity"], "warning");
    assert!(diagnostics(&outcome["resource"]).contains("bogus"));
    assert!(
        !links(&bundle)[0].1.contains("bogus"),
        "ignored parameters stay out of the links"
    );

    for bad in [
        "bogus=1",
        "status:exact=x",
        "authored-on=notadate",
        "_count=-1",
        "_sort=nothing",
        "_count=1&_count=2",
        "_include=Task:nothing",
    ] {
        let (status, _, outcome) = send(
            c.get(server.url(&format!("Task?{bad}")))
                .header("accept", JSON)
                .header("prefer", "handling=strict"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {outcome}");
        assert_eq!(outcome["issue"][0]["severity"], "error");
    }
}

async fn summary_count_and_includes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let mut org = organization("dic.dsf.test");
    org["name"] = json!("DIC");
    let (status, _, org) = send(json_request(
        &c,
        Method::POST,
        &server.url("Organization"),
        &org,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_str().expect("id");
    let endpoint = readable_by_all(json!({"resourceType": "Endpoint", "status": "active",
        "identifier": [{"system": "http://dsf.dev/sid/endpoint-identifier", "value": "dic.dsf.test"}],
        "address": "https://dic/fhir",
        "managingOrganization": {"reference": format!("Organization/{org_id}")},
        "connectionType": {"code": "hl7-fhir-rest"}, "payloadType": [{"text": "Task"}]}));
    let (status, _, endpoint) = send(json_request(
        &c,
        Method::POST,
        &server.url("Endpoint"),
        &endpoint,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let (_, _, count) = send(
        c.get(server.url("Endpoint?_summary=count"))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(count["total"], 1);
    assert!(count.get("entry").is_none());
    let (_, _, with_org) = send(
        c.get(server.url("Endpoint?_include=Endpoint:organization"))
            .header("accept", JSON),
    )
    .await;
    let modes: Vec<_> = with_org["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["search"]["mode"].as_str().unwrap_or(""),
                e["resource"]["resourceType"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        modes,
        vec![("match", "Endpoint"), ("include", "Organization")]
    );
    let (_, _, rev) = send(
        c.get(server.url(&format!(
            "Organization?_id={org_id}&_revinclude=Endpoint:organization"
        )))
        .header("accept", JSON),
    )
    .await;
    assert_eq!(rev["entry"][1]["resource"]["id"], endpoint["id"]);
}

async fn references_with_identifier_are_cleaned(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let mut t = task("draft");
    t["requester"] = json!({"reference": "Organization/1", "identifier": {"system": ORG_SYSTEM, "value": LOCAL_ORG}});
    let (status, _, created) = send(json_request(&c, Method::POST, &server.url("Task"), &t)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["requester"].get("reference").is_none(), "{created}");
    assert_eq!(created["requester"]["identifier"]["value"], LOCAL_ORG);
    let (_, _, found) = send(
        c.get(server.url(&format!("Task?requester:identifier={LOCAL_ORG}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(
        found["total"], 1,
        "the stored copy keeps both and is searchable"
    );
}
