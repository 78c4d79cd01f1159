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
    task_status_changes_and_deletes,
);

/// A draft Task: the kind of Task that may be updated (staying draft) and deleted.
async fn create_read_update_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, headers, created) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("draft"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
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
    changed["description"] = json!("changed");
    let url = server.url(&format!("Task/{id}"));
    let (status, _, outcome) =
        send(json_request(&c, Method::PUT, &url, &changed).header("if-match", "W/\"5\"")).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{outcome}");
    let (status, headers, updated) =
        send(json_request(&c, Method::PUT, &url, &changed).header("if-match", "W/\"1\"")).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "changed");
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
    assert!(v1.get("description").is_none(), "{v1}");

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
    assert_eq!(status, StatusCode::OK, "{outcome}");
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

/// Patients: unlike Organizations, their identifiers need not be unique, so that criteria can
/// match several.
async fn conditional_create_update_and_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let patient = readable_by_all(json!({"resourceType": "Patient", "active": true,
        "identifier": [{"system": "http://dsf.dev/sid/test-identifier", "value": "p1"}]}));
    let criteria = "identifier=http://dsf.dev/sid/test-identifier|p1";
    let (status, headers, body) = send(
        json_request(&c, Method::POST, &server.url("Patient"), &patient)
            .header("if-none-exist", criteria),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let location = header(&headers, "location").to_owned();
    let (status, headers, outcome) = send(
        json_request(&c, Method::POST, &server.url("Patient"), &patient)
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
        json_request(&c, Method::POST, &server.url("Patient"), &patient)
            .header("if-none-exist", "foo=bar"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");

    // Conditional update: one match updates it, no match creates.
    let mut renamed = patient.clone();
    renamed["name"] = json!([{"text": "Patient 1"}]);
    let encoded = "identifier=http%3A%2F%2Fdsf.dev%2Fsid%2Ftest-identifier%7Cp1";
    let (status, _, updated) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Patient?{encoded}")),
        &renamed,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["meta"]["versionId"], "2");
    let mut other = patient.clone();
    other["identifier"][0]["value"] = json!("p2");
    let encoded2 = encoded.replace("p1", "p2");
    let (status, _, created) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Patient?{encoded2}")),
        &other,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Two matches: 412 for create, update and delete.
    let (status, _, body) = send(json_request(
        &c,
        Method::POST,
        &server.url("Patient"),
        &patient,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = send(
        json_request(&c, Method::POST, &server.url("Patient"), &patient)
            .header("if-none-exist", criteria),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Patient?{encoded}")),
        &patient,
    ))
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = send(
        c.delete(server.url(&format!("Patient?{encoded}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = send(
        c.delete(server.url(&format!("Patient?{encoded2}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = send(
        c.delete(server.url(&format!("Patient?{encoded2}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Organizations cannot match twice: a second one with the same identifier is refused.
    let org = organization("dic1.dsf.test");
    let (status, _, body) = send(json_request(
        &c,
        Method::POST,
        &server.url("Organization"),
        &org,
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, outcome) = send(json_request(
        &c,
        Method::POST,
        &server.url("Organization"),
        &org,
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "duplicate", "{outcome}");
}

async fn permanent_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, _, created) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("draft"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
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
    let (status, _, a) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("draft"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().expect("id");
    // Distinct milliseconds, so that `_at` can tell the versions apart.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut b = a.clone();
    b["description"] = json!("changed");
    let (status, _, b) = send(json_request(
        &c,
        Method::PUT,
        &server.url(&format!("Task/{id}")),
        &b,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, _, outcome) = send(
        c.delete(server.url(&format!("Task/{id}")))
            .header("accept", JSON),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let (status, _, patient) = send(json_request(
        &c,
        Method::POST,
        &server.url("Patient"),
        &readable_by_all(json!({"resourceType": "Patient"})),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");

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
    // Four writes here, after the DSF profiles every server loads at start-up.
    let loaded = dsf_fhir_server::conformance::FILES.len();
    assert_eq!(system["total"], 4 + loaded);
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
        json_request(&c, Method::POST, &server.url("Task"), &task("draft"))
            .header("prefer", "return=minimal"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body.is_null(), "no body with return=minimal");
    assert!(headers.get("location").is_some());
    let (status, _, body) = send(
        json_request(&c, Method::POST, &server.url("Task"), &task("draft"))
            .header("prefer", "return=OperationOutcome"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(diagnostics(&body).contains("created at location"));
}

async fn conditional_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let (status, headers, created) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("draft"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
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

/// Tasks the process engine works on move requested → in-progress → completed and are never
/// deleted; only draft Tasks may be.
async fn task_status_changes_and_deletes(backend: Backend) {
    let server = TestServer::start(backend).await;
    install_process(&server).await;
    let c = client();
    let (status, _, requested) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("requested"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{requested}");
    let url = server.url(&format!("Task/{}", requested["id"].as_str().expect("id")));
    let put = |from: &serde_json::Value, status: &str| {
        let mut next = from.clone();
        next["status"] = json!(status);
        json_request(&c, Method::PUT, &url, &next)
    };
    let (status, _, in_progress) = send(put(&requested, "in-progress")).await;
    assert_eq!(status, StatusCode::OK, "{in_progress}");
    assert_eq!(in_progress["status"], "in-progress");
    let (status, _, outcome) = send(c.delete(&url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
    assert!(
        diagnostics(&outcome).contains("only draft Tasks"),
        "{outcome}"
    );
    let (status, _, read) = send(c.get(&url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK, "a refused delete leaves the Task");
    assert_eq!(read, in_progress);
    let (status, _, outcome) = send(put(&in_progress, "requested")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    let (status, _, completed) = send(put(&in_progress, "completed")).await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(completed["meta"]["versionId"], "3");

    let (status, _, outcome) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("completed"),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "new Tasks are draft or requested: {outcome}"
    );

    let (status, _, draft) = send(json_request(
        &c,
        Method::POST,
        &server.url("Task"),
        &task("draft"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let draft_url = server.url(&format!("Task/{}", draft["id"].as_str().expect("id")));
    let mut started = draft.clone();
    started["status"] = json!("requested");
    let (status, _, outcome) = send(json_request(&c, Method::PUT, &draft_url, &started)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a draft stays draft: {outcome}"
    );
    let (status, _, outcome) = send(c.delete(&draft_url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
}
