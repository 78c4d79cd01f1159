//! Websocket subscriptions over real mutual TLS: the bind/bound handshake, JSON, XML and id-only
//! payloads, no events for unmatched or rolled-back writes, commit order under concurrent
//! writers, refusals, slow clients, catch-up after a reconnect, and several server processes on
//! one PostgreSQL database.

use std::collections::HashSet;
use std::time::Duration;

use dsf_fhir_server::init_bundle;
use dsf_pki::IssuedCertificate;
use dsf_testkit::secure::{SecureServer, TestPki, WebSocket, call, member};
use dsf_testkit::{Backend, both_backends};
use futures::{SinkExt, StreamExt};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const JSON: &str = "application/fhir+json";
const ORG: &str = "http://dsf.dev/sid/organization-identifier";
const TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";

/// dic1 runs the server (and its process engine binds); dic2 is a remote member.
struct Site {
    server: SecureServer,
    pki: TestPki,
    local: IssuedCertificate,
    remote: IssuedCertificate,
    dic1: Client,
}

async fn site(backend: Backend) -> Site {
    let pki = TestPki::new();
    let (local, remote) = (
        pki.client_certificate("dic1"),
        pki.client_certificate("dic2"),
    );
    let members = [
        member("dic1", &local, &["DIC"]),
        member("dic2", &remote, &["DIC"]),
    ];
    let server = SecureServer::start(backend, &pki, "dic1.dsf.test", &members, None).await;
    init_bundle::load_default_subscriptions(&server.state)
        .await
        .expect("default Subscriptions");
    Site {
        dic1: pki.client(Some(&local)),
        server,
        pki,
        local,
        remote,
    }
}

fn library(status: &str, description: &str) -> Value {
    json!({"resourceType": "Library", "meta": {"tag": [{"system": TAG, "code": "ALL"}]},
           "status": status, "description": description,
           "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type", "code": "logic-library"}]}})
}

impl Site {
    /// Creates a websocket Subscription; returns its id.
    async fn subscribe(&self, criteria: &str, payload: Option<&str>) -> String {
        let mut channel = json!({"type": "websocket"});
        if let Some(payload) = payload {
            channel["payload"] = json!(payload);
        }
        let subscription = json!({"resourceType": "Subscription",
            "meta": {"tag": [{"system": TAG, "code": "LOCAL"}]}, "status": "active",
            "reason": "test", "criteria": criteria, "channel": channel});
        let (status, body) = call(
            &self.dic1,
            Method::POST,
            &self.server.url("Subscription"),
            Some(&subscription),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates `resource` as dic1; returns it as stored.
    async fn create(&self, resource: &Value) -> Value {
        let url = self
            .server
            .url(resource["resourceType"].as_str().expect("type"));
        let (status, body) = call(&self.dic1, Method::POST, &url, Some(resource)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// A websocket of dic1 bound to `subscription`.
    async fn bind(&self, subscription: &str) -> WebSocket {
        bind(&self.pki, &self.local, &self.server, subscription).await
    }
}

async fn bind(
    pki: &TestPki,
    certificate: &IssuedCertificate,
    server: &SecureServer,
    subscription: &str,
) -> WebSocket {
    let mut socket = pki
        .websocket(certificate, &server.websocket_url())
        .await
        .expect("websocket connects");
    socket
        .send(Message::text(format!("bind {subscription}")))
        .await
        .expect("bind sent");
    assert_eq!(
        next_text(&mut socket).await,
        format!("bound {subscription}")
    );
    socket
}

/// The next text frame, skipping pings.
async fn next_text(socket: &mut WebSocket) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The id of the resource in the next JSON frame.
async fn next_id(socket: &mut WebSocket) -> String {
    let text = next_text(socket).await;
    let resource: Value = serde_json::from_str(&text).expect("JSON resource");
    resource["id"].as_str().expect("id").to_owned()
}

/// Asserts that no text frame comes for a while.
async fn quiet(socket: &mut WebSocket) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
        assert!(
            !matches!(frame, Some(Ok(Message::Text(_)))),
            "no event expected, got {frame:?}"
        );
    }
}

/// The close code the server ends the socket with.
async fn close_code(socket: &mut WebSocket) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code),
            Ok(Some(Ok(_))) => {}
            Ok(_) => return None,
            Err(_) => panic!("the server did not close the socket"),
        }
    }
}

async fn handshake_and_payloads(backend: Backend) {
    let s = site(backend).await;
    // The default Subscriptions exist once, however often the server starts.
    init_bundle::load_default_subscriptions(&s.server.state)
        .await
        .expect("again");
    let engine_query = s.server.url(
        "Subscription?criteria:exact=Task%3Fstatus%3Drequested&status=active&type=websocket&payload=application/fhir%2Bjson",
    );
    let (status, found) = call(&s.dic1, Method::GET, &engine_query, None).await;
    assert_eq!((status, found["total"].clone()), (StatusCode::OK, json!(1)));

    let criteria = "Library?status=active";
    let json_id = s.subscribe(criteria, Some(JSON)).await;
    let xml_id = s.subscribe(criteria, Some("application/fhir+xml")).await;
    let ping_id = s.subscribe(criteria, None).await;
    let (mut json_socket, mut xml_socket, mut ping_socket) = (
        s.bind(&json_id).await,
        s.bind(&xml_id).await,
        s.bind(&ping_id).await,
    );

    let created = s.create(&library("active", "one")).await;
    let id = created["id"].as_str().expect("id");
    let event: Value = serde_json::from_str(&next_text(&mut json_socket).await).expect("JSON");
    assert_eq!(event, created, "the full resource as stored");
    let xml = next_text(&mut xml_socket).await;
    assert!(xml.contains("<Library") && xml.contains(id), "{xml}");
    assert_eq!(next_text(&mut ping_socket).await, format!("ping {ping_id}"));

    // Unmatched writes, rolled-back transactions and deletions bring nothing.
    let draft = s.create(&library("draft", "two")).await;
    let failing = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:8d6c1f0e-7f7e-4c55-9a7e-1a2b3c4d5e6f", "resource": library("active", "rolled back"),
         "request": {"method": "POST", "url": "Library"}},
        {"request": {"method": "DELETE", "url": "Library/not-a-uuid"}}]});
    let (status, _) = call(&s.dic1, Method::POST, &s.server.base_url, Some(&failing)).await;
    assert!(status.is_client_error(), "the transaction fails: {status}");
    let (status, _) = call(
        &s.dic1,
        Method::DELETE,
        &s.server.url(&format!("Library/{id}")),
        None,
    )
    .await;
    assert!(status.is_success());
    for socket in [&mut json_socket, &mut xml_socket, &mut ping_socket] {
        quiet(socket).await;
    }

    // An update that comes to match is delivered, as the new version.
    let mut active = draft.clone();
    active["status"] = json!("active");
    let draft_url = s
        .server
        .url(&format!("Library/{}", draft["id"].as_str().expect("id")));
    let (status, updated) = call(&s.dic1, Method::PUT, &draft_url, Some(&active)).await;
    assert_eq!(status, StatusCode::OK);
    let event: Value = serde_json::from_str(&next_text(&mut json_socket).await).expect("JSON");
    assert_eq!(event["meta"]["versionId"], updated["meta"]["versionId"]);
    assert_eq!(event["meta"]["versionId"], json!("2"));

    // The default Subscription for answered user tasks.
    let qr_id = {
        let query = s
            .server
            .url("Subscription?criteria:exact=QuestionnaireResponse%3Fstatus%3Dcompleted");
        let (_, found) = call(&s.dic1, Method::GET, &query, None).await;
        found["entry"][0]["resource"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let mut qr_socket = s.bind(&qr_id).await;
    let response = json!({"resourceType": "QuestionnaireResponse", "status": "in-progress",
        "questionnaire": "http://dsf.dev/fhir/Questionnaire/hello-user|1.0",
        "item": [{"linkId": "user-task-id", "text": "The user task", "answer": [{"valueString": "42"}]},
                 {"linkId": "approve", "text": "Approve?"}]});
    let mut answered = s.create(&response).await;
    quiet(&mut qr_socket).await;
    answered["status"] = json!("completed");
    answered["item"][1]["answer"] = json!([{"valueBoolean": true}]);
    answered["author"] =
        json!({"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}});
    answered["authored"] = json!("2026-11-30T11:00:00+01:00");
    let url = s.server.url(&format!(
        "QuestionnaireResponse/{}",
        answered["id"].as_str().expect("id")
    ));
    let (status, body) = call(&s.dic1, Method::PUT, &url, Some(&answered)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        next_id(&mut qr_socket).await,
        answered["id"].as_str().expect("id")
    );
}

async fn refusals(backend: Backend) {
    let s = site(backend).await;
    let id = s.subscribe("Library?status=active", Some(JSON)).await;
    let url = s.server.websocket_url();

    let mut remote = s
        .pki
        .websocket(&s.remote, &url)
        .await
        .expect("TLS and upgrade succeed");
    let _ = remote.send(Message::text(format!("bind {id}"))).await;
    assert_eq!(
        close_code(&mut remote).await,
        Some(CloseCode::Policy),
        "remote organization: 1008"
    );

    for unknown in [uuid::Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let mut socket = s.pki.websocket(&s.local, &url).await.expect("connects");
        socket
            .send(Message::text(format!("bind {unknown}")))
            .await
            .expect("sent");
        assert_eq!(
            close_code(&mut socket).await,
            Some(CloseCode::Unsupported),
            "unknown: 1003"
        );
    }
}

async fn commit_order_under_concurrent_writers(backend: Backend) {
    let s = site(backend).await;
    let id = s.subscribe("Library?status=active", Some(JSON)).await;
    let mut socket = s.bind(&id).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url) = (s.dic1.clone(), s.server.url("Library"));
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..15 {
                    let (status, body) = call(
                        &client,
                        Method::POST,
                        &url,
                        Some(&library("active", &format!("{w}-{i}"))),
                    )
                    .await;
                    assert_eq!(status, StatusCode::CREATED);
                    ids.push(body["id"].as_str().expect("id").to_owned());
                }
                ids
            })
        })
        .collect();
    let mut per_writer = Vec::new();
    for writer in writers {
        per_writer.push(writer.await.expect("writer"));
    }
    let mut received = Vec::new();
    for _ in 0..60 {
        received.push(next_id(&mut socket).await);
    }
    quiet(&mut socket).await;
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), 60, "every commit once");
    // Each writer's creates committed one after the other: they arrive in that order.
    for ids in per_writer {
        let positions: Vec<usize> = ids
            .iter()
            .map(|id| received.iter().position(|r| r == id).expect("delivered"))
            .collect();
        assert!(positions.windows(2).all(|p| p[0] < p[1]), "in commit order");
    }
}

async fn stalled_client_is_disconnected(backend: Backend) {
    let s = site(backend).await;
    let id = s.subscribe("Library?status=active", Some(JSON)).await;
    let mut stalled = s.bind(&id).await;
    let mut healthy = s.bind(&id).await;
    let total = 400;
    let reader = tokio::spawn(async move {
        for _ in 0..total {
            next_id(&mut healthy).await;
        }
        healthy
    });
    // Large resources fill the stalled client's queue and socket buffers quickly.
    let filler = "x".repeat(64 * 1024);
    let started = std::time::Instant::now();
    for _ in 0..total {
        s.create(&library("active", &filler)).await;
    }
    let writing = started.elapsed();
    let mut healthy = reader
        .await
        .expect("the healthy client received every event");
    quiet(&mut healthy).await;
    assert!(
        writing < Duration::from_secs(120),
        "writes went on: {writing:?}"
    );

    // The stalled client finds what was buffered for it, then the end of the connection.
    let mut buffered = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stalled.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => buffered += 1,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break,
            Err(_) => panic!("the stalled client was not disconnected ({buffered} frames read)"),
        }
    }
    assert!(
        buffered < total,
        "it fell behind and was dropped ({buffered} of {total})"
    );
}

async fn catch_up_after_reconnect(backend: Backend) {
    let s = site(backend).await;
    let id = s.subscribe("Library?status=active", Some(JSON)).await;
    let mut created = Vec::new();
    let mut seen = HashSet::new();
    let mut last_seen = String::new();
    let mut socket = s.bind(&id).await;
    for i in 0..5 {
        let body = s.create(&library("active", &format!("before {i}"))).await;
        created.push(body["id"].as_str().expect("id").to_owned());
        let event: Value = serde_json::from_str(&next_text(&mut socket).await).expect("JSON");
        seen.insert(event["id"].as_str().expect("id").to_owned());
        last_seen = event["meta"]["lastUpdated"]
            .as_str()
            .expect("lastUpdated")
            .to_owned();
    }
    drop(socket);
    for i in 0..5 {
        let body = s
            .create(&library("active", &format!("while away {i}")))
            .await;
        created.push(body["id"].as_str().expect("id").to_owned());
    }
    // Reconnect first, then search from the last event seen on (ge: same-millisecond writes).
    let mut socket = s.bind(&id).await;
    let mut page = s.server.url(&format!(
        "Library?status=active&_lastUpdated=ge{}&_sort=_lastUpdated&_count=3",
        last_seen.replace('+', "%2B")
    ));
    loop {
        let (status, bundle) = call(&s.dic1, Method::GET, &page, None).await;
        assert_eq!(status, StatusCode::OK, "{bundle}");
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            seen.insert(entry["resource"]["id"].as_str().expect("id").to_owned());
        }
        let next = bundle["link"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str());
        match next {
            Some(next) => page = next.to_owned(),
            None => break,
        }
    }
    let after = s.create(&library("active", "after")).await;
    created.push(after["id"].as_str().expect("id").to_owned());
    seen.insert(next_id(&mut socket).await);
    let created: HashSet<String> = created.into_iter().collect();
    assert_eq!(seen, created, "nothing lost");
}

both_backends!(
    handshake_and_payloads,
    refusals,
    commit_order_under_concurrent_writers,
    stalled_client_is_disconnected,
    catch_up_after_reconnect,
);

/// Two server processes on one PostgreSQL database: a client bound to either hears the writes
/// made through both, in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_deliver_each_others_events() {
    let s = site(Backend::Postgres).await;
    let members = [
        member("dic1", &s.local, &["DIC"]),
        member("dic2", &s.remote, &["DIC"]),
    ];
    let beside = s
        .server
        .start_beside(&s.pki, "dic1.dsf.test", &members)
        .await;
    let dic1_beside = s.pki.client(Some(&s.local));
    let id = s.subscribe("Library?status=active", Some(JSON)).await;
    let mut on_first = s.bind(&id).await;
    let mut on_second = bind(&s.pki, &s.local, &beside, &id).await;
    let mut written = Vec::new();
    for i in 0..10 {
        let (client, server) = if i % 2 == 0 {
            (&s.dic1, &s.server)
        } else {
            (&dic1_beside, &beside)
        };
        let (status, body) = call(
            client,
            Method::POST,
            &server.url("Library"),
            Some(&library("active", &i.to_string())),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        written.push(body["id"].as_str().expect("id").to_owned());
    }
    for socket in [&mut on_first, &mut on_second] {
        let mut received = Vec::new();
        for _ in 0..10 {
            received.push(next_id(socket).await);
        }
        assert_eq!(received, written, "all of them, in commit order");
        quiet(socket).await;
    }
}
