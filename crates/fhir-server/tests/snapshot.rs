//! `$snapshot` on StructureDefinitions over mutual TLS: by id, by canonical URL and inline, its
//! errors, and the read access it honours.

use dsf_testkit::secure::{SecureServer, TestPki, call, member, post};
use dsf_testkit::{Backend, both_backends};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const PROFILE: &str = "http://dsf.dev/fhir/StructureDefinition/task-snapshot-test";
const BPMN_MESSAGE: &str = "http://dsf.dev/fhir/CodeSystem/bpmn-message";
const READ_ACCESS_TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";

/// A Task profile on `base` with a `message-name` slice on `Task.input`, readable by `access`
/// (`ALL` or `LOCAL`).
fn profile(url: &str, base: &str, access: &str) -> Value {
    json!({
        "resourceType": "StructureDefinition",
        "meta": {"tag": [{"system": READ_ACCESS_TAG, "code": access}]},
        "url": url, "version": "1.0", "name": "TaskSnapshotTest", "status": "active",
        "date": "2026-11-30", "fhirVersion": "4.0.1", "kind": "resource", "abstract": false,
        "type": "Task", "baseDefinition": base, "derivation": "constraint",
        "differential": {"element": [
            {"id": "Task.input", "path": "Task.input", "min": 1,
             "slicing": {"discriminator": [{"type": "pattern", "path": "type"}], "rules": "open"}},
            {"id": "Task.input:message-name", "path": "Task.input", "sliceName": "message-name",
             "min": 1, "max": "1"},
            {"id": "Task.input:message-name.type", "path": "Task.input.type",
             "patternCodeableConcept": {"coding": [{"system": BPMN_MESSAGE, "code": "message-name"}]}},
            {"id": "Task.input:message-name.value[x]", "path": "Task.input.value[x]",
             "type": [{"code": "string"}]}
        ]}
    })
}

fn task_profile(url: &str, access: &str) -> Value {
    profile(url, "http://hl7.org/fhir/StructureDefinition/Task", access)
}

/// Fails unless `sd` is the test profile with a snapshot holding the slice.
fn assert_snapshot(sd: &Value, url: &str) {
    assert_eq!(sd["resourceType"], "StructureDefinition", "{sd}");
    assert_eq!(sd["url"], url, "{sd}");
    let elements = sd["snapshot"]["element"].as_array().expect("snapshot");
    let element = |id: &str| {
        elements
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("no element {id} in the snapshot"))
    };
    assert_eq!(elements[0]["id"], "Task");
    assert_eq!(element("Task.input:message-name")["max"], "1");
    assert_eq!(
        element("Task.input:message-name.value[x]")["type"],
        json!([{"code": "string"}])
    );
    assert!(element("Task.status")["min"] == 1);
}

fn parameters(parameter: Value) -> Value {
    json!({"resourceType": "Parameters", "parameter": [parameter]})
}

struct Site {
    server: SecureServer,
    local: Client,
    remote: Client,
}

async fn start(backend: Backend) -> Site {
    let pki = TestPki::new();
    let (dic1, dic2) = (
        pki.client_certificate("dic1"),
        pki.client_certificate("dic2"),
    );
    let members = [
        member("dic1", &dic1, &["DIC"]),
        member("dic2", &dic2, &["DIC"]),
    ];
    let server = SecureServer::start(backend, &pki, "dic1.dsf.test", &members, None).await;
    Site {
        local: pki.client(Some(&dic1)),
        remote: pki.client(Some(&dic2)),
        server,
    }
}

/// Creates `sd` as the local organization; returns its id.
async fn create(site: &Site, sd: &Value) -> String {
    let (status, created) = post(&site.local, &site.server.url("StructureDefinition"), sd).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

async fn by_id(backend: Backend) {
    let site = start(backend).await;
    let id = create(&site, &task_profile(PROFILE, "ALL")).await;
    let url = site
        .server
        .url(&format!("StructureDefinition/{id}/$snapshot"));
    for method in [Method::GET, Method::POST] {
        let (status, sd) = call(&site.remote, method.clone(), &url, None).await;
        assert_eq!(status, StatusCode::OK, "{method}: {sd}");
        assert_snapshot(&sd, PROFILE);
        assert_eq!(sd["id"], id.as_str());
    }
    let xml = site
        .local
        .get(&url)
        .header("accept", "application/fhir+xml")
        .send()
        .await
        .expect("sent");
    assert_eq!(xml.status(), StatusCode::OK);
    let text = xml.text().await.expect("body");
    assert!(
        text.contains("<snapshot>") && text.contains("<sliceName value=\"message-name\"/>"),
        "{text}"
    );
    // The routes beside it are unchanged.
    let sd_url = site.server.url(&format!("StructureDefinition/{id}"));
    let (status, stored) = call(&site.local, Method::GET, &sd_url, None).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert!(stored.get("snapshot").is_none(), "{stored}");
    let history = site.server.url("StructureDefinition/_history");
    let (status, _) = call(&site.local, Method::GET, &history, None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn by_url_and_inline(backend: Backend) {
    let site = start(backend).await;
    create(&site, &task_profile(PROFILE, "ALL")).await;
    let operation = site.server.url("StructureDefinition/$snapshot");
    for canonical in [PROFILE.to_owned(), format!("{PROFILE}|1.0")] {
        let get = format!("{operation}?url={}", canonical.replace('|', "%7C"));
        let (status, sd) = call(&site.remote, Method::GET, &get, None).await;
        assert_eq!(status, StatusCode::OK, "{canonical}: {sd}");
        assert_snapshot(&sd, PROFILE);
    }
    for key in ["valueUri", "valueString", "valueCanonical"] {
        let body = parameters(json!({"name": "url", key: PROFILE}));
        let (status, sd) = post(&site.remote, &operation, &body).await;
        assert_eq!(status, StatusCode::OK, "{key}: {sd}");
        assert_snapshot(&sd, PROFILE);
    }
    let inline_url = "http://dsf.dev/fhir/StructureDefinition/task-inline";
    let body = parameters(json!({"name": "resource", "resource": task_profile(inline_url, "ALL")}));
    let (status, sd) = post(&site.remote, &operation, &body).await;
    assert_eq!(status, StatusCode::OK, "{sd}");
    assert_snapshot(&sd, inline_url);
    let search = site
        .server
        .url(&format!("StructureDefinition?url={inline_url}"));
    let (_, found) = call(&site.local, Method::GET, &search, None).await;
    assert_eq!(found["total"], 0, "an inline profile is not stored");
}

async fn errors(backend: Backend) {
    let site = start(backend).await;
    let operation = site.server.url("StructureDefinition/$snapshot");
    let unknown = site.server.url(&format!(
        "StructureDefinition/{}/$snapshot",
        uuid::Uuid::new_v4()
    ));
    let not_found = [
        (Method::GET, unknown, None),
        (
            Method::GET,
            site.server.url("StructureDefinition/not-a-uuid/$snapshot"),
            None,
        ),
        (
            Method::GET,
            format!("{operation}?url=http://dsf.dev/fhir/StructureDefinition/none"),
            None,
        ),
        (
            Method::POST,
            operation.clone(),
            Some(parameters(json!({"name": "url",
                "valueUri": "http://dsf.dev/fhir/StructureDefinition/none"}))),
        ),
    ];
    for (method, url, body) in not_found {
        let (status, outcome) = call(&site.local, method, &url, body.as_ref()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let bad = [
        (Method::GET, operation.clone(), None),
        (
            Method::POST,
            operation.clone(),
            Some(parameters(json!({"name": "other", "valueString": "x"}))),
        ),
        (
            Method::POST,
            operation.clone(),
            Some(json!({"resourceType": "Patient", "active": true})),
        ),
        (
            Method::POST,
            operation.clone(),
            Some(parameters(json!({"name": "resource",
                "resource": {"resourceType": "Patient", "active": true}}))),
        ),
        (
            Method::POST,
            operation.clone(),
            Some(parameters(json!({"name": "url", "valueBoolean": true}))),
        ),
    ];
    for (method, url, body) in bad {
        let (status, outcome) = call(&site.local, method, &url, body.as_ref()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let unresolvable = profile(
        "http://dsf.dev/fhir/StructureDefinition/task-orphan",
        "http://dsf.dev/fhir/StructureDefinition/no-such-base",
        "ALL",
    );
    let body = parameters(json!({"name": "resource", "resource": unresolvable}));
    let (status, outcome) = post(&site.local, &operation, &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap_or("");
    assert!(diagnostics.contains("no-such-base"), "{outcome}");

    // A stored profile that is its own base ends in 422, not in endless recursion.
    let cyclic_url = "http://dsf.dev/fhir/StructureDefinition/task-cyclic";
    let id = create(&site, &profile(cyclic_url, cyclic_url, "ALL")).await;
    let url = site
        .server
        .url(&format!("StructureDefinition/{id}/$snapshot"));
    let (status, outcome) = call(&site.local, Method::GET, &url, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");

    // Bytes that are no FHIR resource at all: 403, as the reference answers unreadable bodies.
    let response = site
        .local
        .post(&operation)
        .header("content-type", "application/fhir+json")
        .header("accept", "application/fhir+json")
        .body("{\"resourceType\": \"Parameters\", ")
        .send()
        .await
        .expect("answer");
    let status = response.status();
    let outcome: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("OperationOutcome");
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
}

async fn read_access(backend: Backend) {
    let site = start(backend).await;
    let id = create(&site, &task_profile(PROFILE, "LOCAL")).await;
    let by_id = site
        .server
        .url(&format!("StructureDefinition/{id}/$snapshot"));
    let by_url = format!(
        "{}?url={PROFILE}",
        site.server.url("StructureDefinition/$snapshot")
    );
    for url in [&by_id, &by_url] {
        let (status, sd) = call(&site.local, Method::GET, url, None).await;
        assert_eq!(status, StatusCode::OK, "{url}: {sd}");
        assert_snapshot(&sd, PROFILE);
    }
    let (status, _) = call(&site.remote, Method::GET, &by_id, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "remote by id");
    let (status, _) = call(&site.remote, Method::GET, &by_url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "remote by url");
}

/// A profile on the DSF Task profile (loaded as at every start): its slices and the base's.
async fn on_dsf_task(backend: Backend) {
    let site = start(backend).await;
    dsf_fhir_server::startup::load_conformance(&site.server.state)
        .await
        .expect("conformance resources load");
    let dsf_task = "http://dsf.dev/fhir/StructureDefinition/task";
    let id = create(&site, &profile(PROFILE, dsf_task, "ALL")).await;
    let url = site
        .server
        .url(&format!("StructureDefinition/{id}/$snapshot"));
    let (status, sd) = call(&site.remote, Method::GET, &url, None).await;
    assert_eq!(status, StatusCode::OK, "{sd}");
    assert_snapshot(&sd, PROFILE);
    let elements = sd["snapshot"]["element"].as_array().expect("snapshot");
    assert!(
        elements
            .iter()
            .any(|e| e["id"] == "Task.input:business-key"),
        "the DSF Task profile's slices are in the snapshot"
    );
    let base = format!(
        "{}?url={dsf_task}",
        site.server.url("StructureDefinition/$snapshot")
    );
    let (status, sd) = call(&site.remote, Method::GET, &base, None).await;
    assert_eq!(status, StatusCode::OK, "{sd}");
    assert_eq!(sd["version"], "2.1.0");
}

async fn capability_statement(backend: Backend) {
    let site = start(backend).await;
    let (status, statement) = call(
        &site.remote,
        Method::GET,
        &site.server.url("metadata"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let resources = statement["rest"][0]["resource"].as_array().expect("types");
    let sd = resources
        .iter()
        .find(|r| r["type"] == "StructureDefinition")
        .expect("StructureDefinition");
    assert_eq!(sd["operation"][0]["name"], "snapshot");
}

both_backends!(
    by_id,
    by_url_and_inline,
    errors,
    read_access,
    on_dsf_task,
    capability_statement
);
