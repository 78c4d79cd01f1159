//! The REST interactions over HTTP, on SQLite and PostgreSQL.

mod common;

use common::*;
use dsf_testkit::{Backend, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    create_read_update_delete,
    conditional_create_update_and_delete,
    permanent_delete,
    history_at_three_levels,
    prefer_return,
    conditional_read,
);

async fn create_read_update_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, headers, created) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("requested"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        header(&headers, "location"),
        server.url(&format!("Task/{id}/_history/1"))
    );
    assert_eq!(header(&headers, "etag"), "W/\"1\"");
    assert!(header(&headers, "last-modified").ends_with("GMT"));
    assert_eq!(created["meta"]["versionId"], "1");

    let (status, headers, read) = send(
        c.get(server.url(&format!("Task/{id}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    assert_eq!(header(&headers, "etag"), "W/\"1\"");
    assert!(header(&headers, "content-type").starts_with("application/fhir+json"));

    let mut changed = read.clone();
    changed["status"] = json!("in-progress");
    let url = server.url(&format!("Task/{id}"));
    let (status, _, outcome) =
        send(json_request(&c, Method::PUT, &url, &changed).header("if-match", "W/\"5\"")).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{outcome}");
    let (status, headers, updated) =
        send(json_request(&c, Method::PUT, &url, &changed).header("if-match", "W/\"1\"")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["status"], "in-progress");
    assert_eq!(header(&headers, "etag"), "W/\"2\"");
    assert_eq!(
        header(&headers, "location"),
        server.url(&format!("Task/{id}/_history/2"))
    );

    let (status, _, v1) = send(
        c.get(server.url(&format!("Task/{id}/_history/1")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v1["status"], "requested");

    let mut wrong_id = changed.clone();
    wrong_id["id"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, _, outcome) = send(json_request(&c, Method::PUT, &url, &wrong_id)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");
    assert!(diagnostics(&outcome).contains("does not match"));

    let unknown = uuid::Uuid::new_v4().to_string();
    let mut as_create = changed.clone();
    as_create["id"] = json!(unknown);
    let (status, _, outcome) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Task/{unknown}")),
        &as_create,
    ))
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{outcome}");
    assert!(diagnostics(&outcome).contains("Update as create not allowed"));

    let (status, _, outcome) = send(c.delete(&url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(diagnostics(&outcome).contains("deleted"));
    let (status, headers, outcome) = send(c.get(&url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::GONE, "{outcome}");
    assert_eq!(header(&headers, "etag"), "W/\"3\"");
    let (status, _, _) = send(json_request(&c, Method::PUT, &url, &changed)).await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "a deleted resource cannot be updated"
    );
    let (status, _, outcome) = send(c.delete(&url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK, "deleting again is fine");
    assert!(diagnostics(&outcome).contains("already deleted"));
}

async fn conditional_create_update_and_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let org = json!({"resourceType": "Organization", "active": true,
        "identifier": [{"system": "http://dsf.dev/sid/organization-identifier", "value": "dic1.dsf.test"}]});
    let criteria = "identifier=http://dsf.dev/sid/organization-identifier|dic1.dsf.test";
    let (status, headers, _) = send(
        json_request(&c, Method::POST, &server.url("Organization"), &org)
            .header("if-none-exist", criteria),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let location = header(&headers, "location").to_owned();
    let (status, headers, outcome) = send(
        json_request(&c, Method::POST, &server.url("Organization"), &org)
            .header("if-none-exist", format!("?{criteria}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(
        header(&headers, "location"),
        location,
        "points at the existing resource"
    );
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let (status, _, outcome) = send(
        json_request(&c, Method::POST, &server.url("Organization"), &org)
            .header("if-none-exist", "foo=bar"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");

    // Conditional update: one match updates it, no match creates.
    let mut renamed = org.clone();
    renamed["name"] = json!("DIC 1");
    let encoded = "identifier=http%3A%2F%2Fdsf.dev%2Fsid%2Forganization-identifier%7Cdic1.dsf.test";
    let (status, _, updated) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Organization?{encoded}")),
        &renamed,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["meta"]["versionId"], "2");
    let mut other = org.clone();
    other["identifier"][0]["value"] = json!("dic2.dsf.test");
    let encoded2 = encoded.replace("dic1", "dic2");
    let (status, _, created) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Organization?{encoded2}")),
        &other,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Two matches: 412 for create, update and delete.
    let (status, _, _) = send(json_request(
        &c,
        Method::POST,
        &server.url("Organization"),
        &org,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = send(
        json_request(&c, Method::POST, &server.url("Organization"), &org)
            .header("if-none-exist", criteria),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Organization?{encoded}")),
        &org,
    ))
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = send(
        c.delete(server.url(&format!("Organization?{encoded}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = send(
        c.delete(server.url(&format!("Organization?{encoded2}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = send(
        c.delete(server.url(&format!("Organization?{encoded2}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn permanent_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (_, _, created) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("draft"),
    ))
    .await;
    let id = created["id"].as_str().expect("id");
    let op = server.url(&format!("Task/{id}/$permanent-delete"));
    let (status, _, outcome) = send(c.post(&op).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");
    let (status, _, _) = send(
        c.delete(server.url(&format!("Task/{id}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, outcome) = send(c.post(format!("{op}/")).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let (status, _, _) = send(
        c.get(server.url(&format!("Task/{id}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, history) = send(
        c.get(server.url(&format!("Task/{id}/_history")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["total"], 0);
}

async fn history_at_three_levels(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (_, _, a) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("requested"),
    ))
    .await;
    let id = a["id"].as_str().expect("id");
    // Distinct milliseconds, so that `_at` can tell the versions apart.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut b = a.clone();
    b["status"] = json!("in-progress");
    send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Task/{id}")),
        &b,
    ))
    .await;
    send(
        c.delete(server.url(&format!("Task/{id}")))
            .header("accept", JSON),
    )
    .await;
    send(json_request(
        &c,
        Method::POST,
        &server.url("Patient"),
        &json!({"resourceType": "Patient"}),
    ))
    .await;

    let (status, _, history) = send(
        c.get(server.url(&format!("Task/{id}/_history")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["type"], "history");
    assert_eq!(history["total"], 3);
    let methods: Vec<_> = history["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(methods, vec!["DELETE", "PUT", "POST"]);
    assert_eq!(history["entry"][2]["response"]["status"], "201 Created");
    assert_eq!(history["entry"][2]["response"]["etag"], "W/\"1\"");
    assert!(history["entry"][0].get("resource").is_none());

    let (_, _, typed) = send(c.get(server.url("Task/_history")).header("accept", JSON)).await;
    assert_eq!(typed["total"], 3);
    let (_, _, system) = send(
        c.get(server.url("_history?_count=2"))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(system["total"], 4);
    assert_eq!(system["entry"].as_array().map(Vec::len), Some(2));
    let relations: Vec<_> = system["link"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["relation"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(relations, vec!["self", "first", "next", "last"]);

    let since = b["meta"]["lastUpdated"].as_str().unwrap_or_default();
    let (status, _, recent) = send(
        c.get(server.url("_history"))
            .query(&[("_since", "2999-01-01")])
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recent["total"], 0);
    let (_, _, recent) = send(
        c.get(server.url("Task/_history"))
            .query(&[("_since", since)])
            .header("accept", JSON),
    )
    .await;
    assert!(recent["total"].as_i64().unwrap_or(0) >= 1);
    let at = a["meta"]["lastUpdated"].as_str().unwrap_or_default();
    let (status, _, then) = send(
        c.get(server.url(&format!("Task/{id}/_history")))
            .query(&[("_at", at)])
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<_> = then["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["meta"]["versionId"].as_str())
        .collect();
    assert_eq!(
        versions,
        vec!["1"],
        "_at: the version current at that instant"
    );
    let (status, _, outcome) = send(
        c.get(server.url("_history"))
            .query(&[("_since", "yesterday")])
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");
}

async fn prefer_return(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, headers, body) = send(
        json_request(&c, Method::POST, &server.url("Task"), &task("requested"))
            .header("prefer", "return=minimal"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body.is_null(), "no body with return=minimal");
    assert!(headers.get("location").is_some());
    let (status, _, body) = send(
        json_request(&c, Method::POST, &server.url("Task"), &task("requested"))
            .header("prefer", "return=OperationOutcome"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(diagnostics(&body).contains("created at location"));
}

async fn conditional_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (_, headers, created) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("requested"),
    ))
    .await;
    let url = server.url(&format!("Task/{}", created["id"].as_str().expect("id")));
    let response = c
        .get(&url)
        .header("if-none-match", "W/\"1\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = c
        .get(&url)
        .header("if-modified-since", header(&headers, "last-modified"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = c
        .get(&url)
        .header("if-none-match", "W/\"0\"")
        .header("accept", JSON)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
}
