//! Mutual TLS and the DSF authorization rules, over real TLS on loopback: refused connections,
//! identities from certificate thumbprints, read-access tags, uniqueness, Task process
//! authorization and status transitions, QuestionnaireResponse and Subscription rules.

use dsf_pki::Validity;
use dsf_testkit::secure::{PARENT, SecureServer, TestPki, call, member, post};
use dsf_testkit::{Backend, both_backends};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const ORG: &str = "http://dsf.dev/sid/organization-identifier";
const TAG: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";
const ROLE: &str = "http://dsf.dev/fhir/CodeSystem/organization-role";
const AUTH: &str = "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization";
const CODES: &str = "http://dsf.dev/fhir/CodeSystem/process-authorization";

/// The federation of every test: dic1 runs the server; dic2 and ttp are remote members.
struct Federation {
    server: SecureServer,
    dic1: Client,
    dic2: Client,
    ttp: Client,
    pki: TestPki,
}

async fn federation(backend: Backend) -> Federation {
    let pki = TestPki::new();
    let (dic1, dic2, ttp) = (
        pki.client_certificate("dic1"),
        pki.client_certificate("dic2"),
        pki.client_certificate("ttp"),
    );
    let members = [
        member("dic1", &dic1, &["DIC"]),
        member("dic2", &dic2, &["DIC"]),
        member("ttp", &ttp, &["TTP"]),
    ];
    let server = SecureServer::start(backend, &pki, "dic1.dsf.test", &members, None).await;
    Federation {
        dic1: pki.client(Some(&dic1)),
        dic2: pki.client(Some(&dic2)),
        ttp: pki.client(Some(&ttp)),
        server,
        pki,
    }
}

fn all_tag() -> Value {
    json!([{"system": TAG, "code": "ALL"}])
}

fn library(tags: Value) -> Value {
    json!({"resourceType": "Library", "meta": {"tag": tags}, "status": "active",
           "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type", "code": "logic-library"}]}})
}

fn organization_tag(identifier: &str) -> Value {
    json!({"system": TAG, "code": "ORGANIZATION", "extension": [{
        "url": "http://dsf.dev/fhir/StructureDefinition/extension-read-access-organization",
        "valueIdentifier": {"system": ORG, "value": identifier}}]})
}

fn role_tag(role: &str) -> Value {
    json!({"system": TAG, "code": "ROLE", "extension": [{
        "url": "http://dsf.dev/fhir/StructureDefinition/extension-read-access-parent-organization-role",
        "extension": [
            {"url": "parent-organization", "valueIdentifier": {"system": ORG, "value": PARENT}},
            {"url": "organization-role", "valueCoding": {"system": ROLE, "code": role}}]}]})
}

fn coding(code: &str, extension: Option<Value>) -> Value {
    let mut coding = json!({"system": CODES, "code": code});
    if let Some(extension) = extension {
        coding["extension"] = json!([extension]);
    }
    coding
}

fn organization_extension(identifier: &str) -> Value {
    json!({"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-organization",
           "valueIdentifier": {"system": ORG, "value": identifier}})
}

fn role_extension(role: &str) -> Value {
    json!({"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-parent-organization-role",
           "extension": [
               {"url": "parent-organization", "valueIdentifier": {"system": ORG, "value": PARENT}},
               {"url": "organization-role", "valueCoding": {"system": ROLE, "code": role}}]})
}

/// An ActivityDefinition for process `name` 1.0 whose message `start` may be sent by `requester`
/// to a recipient admitted by `recipient`, with Task profile `task-<name>|1.0`.
fn activity_definition(name: &str, requester: Value, recipient: Value) -> Value {
    json!({"resourceType": "ActivityDefinition", "meta": {"tag": all_tag()},
           "url": format!("http://dsf.dev/bpe/Process/{name}"), "version": "1.0", "status": "active",
           "kind": "Task", "date": "2026-11-30",
           "extension": [{"url": AUTH, "extension": [
               {"url": "message-name", "valueString": "start"},
               {"url": "task-profile", "valueCanonical": format!("http://dsf.dev/fhir/StructureDefinition/task-{name}|1.0")},
               {"url": "requester", "valueCoding": requester},
               {"url": "recipient", "valueCoding": recipient}]}]})
}

fn task(process: &str, requester: &str, recipient: &str, message: &str) -> Value {
    json!({"resourceType": "Task",
           "meta": {"profile": [format!("http://dsf.dev/fhir/StructureDefinition/task-{process}|1.0")]},
           "instantiatesCanonical": format!("http://dsf.dev/bpe/Process/{process}|1.0"),
           "status": "requested", "intent": "order", "authoredOn": "2026-11-30T10:00:00+01:00",
           "requester": {"type": "Organization", "identifier": {"system": ORG, "value": requester}},
           "restriction": {"recipient": [{"type": "Organization", "identifier": {"system": ORG, "value": recipient}}]},
           "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                      "valueString": message}]})
}

async fn tls_refusals(backend: Backend) {
    let f = federation(backend).await;
    let metadata = f.server.url("metadata");
    let (status, _) = call(&f.dic2, Method::GET, &metadata, None).await;
    assert_eq!(status, StatusCode::OK, "a member's certificate is accepted");

    let anonymous = f.pki.client(None);
    assert!(
        anonymous.get(&metadata).send().await.is_err(),
        "no client certificate: the handshake fails"
    );
    let other_ca = TestPki::new();
    let stranger = other_ca.client_certificate("dic2");
    let foreign = dsf_testkit::secure::https_client(
        &f.pki.ca.cert_pem(),
        Some((&stranger.cert_pem, &stranger.key_pem)),
    );
    assert!(
        foreign.get(&metadata).send().await.is_err(),
        "a certificate from another CA is refused"
    );
    let now = time::OffsetDateTime::now_utc();
    let expired = f
        .pki
        .ca
        .issue_client(
            "dic2",
            Validity {
                not_before: now - time::Duration::days(10),
                not_after: now - time::Duration::days(1),
            },
            None,
        )
        .expect("expired certificate");
    assert!(
        f.pki
            .client(Some(&expired))
            .get(&metadata)
            .send()
            .await
            .is_err(),
        "an expired certificate is refused"
    );

    let unknown = f.pki.client_certificate("dic9");
    let response = f
        .pki
        .client(Some(&unknown))
        .get(&metadata)
        .send()
        .await
        .expect("TLS accepts a valid chain");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.bytes().await.expect("body").is_empty(),
        "401 and nothing else"
    );

    // Deactivating dic2's Organization locks it out at once.
    let search = f
        .server
        .url(&format!("Organization?identifier={ORG}|dic2.dsf.test"));
    let (_, found) = call(&f.dic1, Method::GET, &search, None).await;
    let mut org = found["entry"][0]["resource"].clone();
    org["active"] = json!(false);
    let id = org["id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &f.dic1,
        Method::PUT,
        &f.server.url(&format!("Organization/{id}")),
        Some(&org),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&f.dic2, Method::GET, &metadata, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a deactivated organization is refused"
    );
}

async fn revoked_certificate(backend: Backend) {
    let pki = TestPki::new();
    let (dic1, dic2) = (
        pki.client_certificate("dic1"),
        pki.client_certificate("dic2"),
    );
    let now = time::OffsetDateTime::now_utc();
    let crl = pki
        .ca
        .revocation_list(
            std::slice::from_ref(&dic2.serial),
            now,
            now + time::Duration::days(7),
        )
        .expect("CRL");
    let members = [
        member("dic1", &dic1, &["DIC"]),
        member("dic2", &dic2, &["DIC"]),
    ];
    let server = SecureServer::start(backend, &pki, "dic1.dsf.test", &members, Some(&crl)).await;
    let metadata = server.url("metadata");
    assert!(
        pki.client(Some(&dic2)).get(&metadata).send().await.is_err(),
        "a revoked certificate is refused"
    );
    let (status, _) = call(&pki.client(Some(&dic1)), Method::GET, &metadata, None).await;
    assert_eq!(status, StatusCode::OK, "others still get in");
}

async fn roles_and_read_access(backend: Backend) {
    let f = federation(backend).await;
    let lib = f.server.url("Library");
    // Remote organizations create Tasks only, and never update or delete.
    let (status, body) = call(&f.dic2, Method::POST, &lib, Some(&library(all_tag()))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["issue"][0]["code"], "forbidden");
    assert_eq!(
        body["issue"][0]["diagnostics"], "Operation create forbidden",
        "remote callers learn no reason"
    );

    // Tag validity.
    for (tags, why) in [
        (json!([]), "no tag"),
        (
            json!([{"system": TAG, "code": "ALL"}, {"system": TAG, "code": "LOCAL"}]),
            "ALL with LOCAL",
        ),
        (
            json!([{"system": TAG, "code": "LOCAL"}, {"system": TAG, "code": "LOCAL"}]),
            "two LOCAL",
        ),
        (
            json!([{"system": TAG, "code": "LOCAL"}, organization_tag("nowhere.dsf.test")]),
            "unknown organization",
        ),
        (
            json!([organization_tag("dic2.dsf.test")]),
            "ORGANIZATION without LOCAL",
        ),
    ] {
        let (status, _) = post(&f.dic1, &lib, &library(tags)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
    }

    // Who reads what.
    let mut ids = Vec::new();
    for tags in [
        all_tag(),
        json!([{"system": TAG, "code": "LOCAL"}]),
        json!([{"system": TAG, "code": "LOCAL"}, organization_tag("dic2.dsf.test")]),
        json!([{"system": TAG, "code": "LOCAL"}, role_tag("TTP")]),
    ] {
        let (status, created) = post(&f.dic1, &lib, &library(tags)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    let expected = [
        ("ALL", [true, true, true]),
        ("LOCAL", [true, false, false]),
        ("ORGANIZATION dic2", [true, true, false]),
        ("ROLE TTP", [true, false, true]),
    ];
    for ((tag, readers), id) in expected.iter().zip(&ids) {
        for (client, may, who) in [
            (&f.dic1, readers[0], "dic1"),
            (&f.dic2, readers[1], "dic2"),
            (&f.ttp, readers[2], "ttp"),
        ] {
            let (status, _) = call(
                client,
                Method::GET,
                &f.server.url(&format!("Library/{id}")),
                None,
            )
            .await;
            let want = if may {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, want, "{who} reading a Library tagged {tag}");
        }
    }
    for (client, count, who) in [
        (&f.dic1, 4, "dic1"),
        (&f.dic2, 2, "dic2"),
        (&f.ttp, 2, "ttp"),
    ] {
        let (_, bundle) = call(
            client,
            Method::GET,
            &f.server.url("Library?_summary=count"),
            None,
        )
        .await;
        assert_eq!(bundle["total"], count, "{who} counts only what it may read");
        let (_, page) = call(client, Method::GET, &f.server.url("Library?_count=1"), None).await;
        assert_eq!(page["total"], count, "{who}'s search total");
    }
    let (_, history) = call(
        &f.dic2,
        Method::GET,
        &f.server.url("Library/_history"),
        None,
    )
    .await;
    assert_eq!(history["total"], 2, "dic2's history shows what it may read");
    let (status, _) = call(
        &f.dic2,
        Method::DELETE,
        &f.server.url(&format!("Library/{}", ids[0])),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "remote delete");
    let (status, _) = call(
        &f.dic2,
        Method::POST,
        &f.server
            .url(&format!("Library/{}/$permanent-delete", ids[0])),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "remote permanent delete");
}

async fn uniqueness(backend: Backend) {
    let f = federation(backend).await;
    let (_, found) = call(
        &f.dic1,
        Method::GET,
        &f.server
            .url(&format!("Organization?identifier={ORG}|ttp.dsf.test")),
        None,
    )
    .await;
    let mut copy = found["entry"][0]["resource"].clone();
    copy.as_object_mut().expect("object").remove("id");
    let (status, body) = post(&f.dic1, &f.server.url("Organization"), &copy).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["issue"][0]["code"], "duplicate", "{body}");

    let ad = activity_definition(
        "ping",
        coding("REMOTE_ALL", None),
        coding("LOCAL_ALL", None),
    );
    let (status, _) = post(&f.dic1, &f.server.url("ActivityDefinition"), &ad).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = post(&f.dic1, &f.server.url("ActivityDefinition"), &ad).await;
    assert_eq!(
        (status, body["issue"][0]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("duplicate"))
    );

    let bad_sub = json!({"resourceType": "Subscription", "meta": {"tag": all_tag()}, "status": "active",
        "reason": "x", "criteria": "Task?status=requested", "channel": {"type": "rest-hook"}});
    let (status, _) = post(&f.dic1, &f.server.url("Subscription"), &bad_sub).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only websocket subscriptions"
    );
    let mut sub = bad_sub.clone();
    sub["channel"] = json!({"type": "websocket", "payload": "application/fhir+json"});
    let (status, _) = post(&f.dic1, &f.server.url("Subscription"), &sub).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(&f.dic1, &f.server.url("Subscription"), &sub).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "same criteria, type and payload"
    );
}

async fn task_authorization(backend: Backend) {
    let f = federation(backend).await;
    let ads = [
        activity_definition(
            "remoteAll",
            coding("REMOTE_ALL", None),
            coding("LOCAL_ALL", None),
        ),
        activity_definition(
            "remoteOrg",
            coding(
                "REMOTE_ORGANIZATION",
                Some(organization_extension("ttp.dsf.test")),
            ),
            coding(
                "LOCAL_ORGANIZATION",
                Some(organization_extension("dic1.dsf.test")),
            ),
        ),
        activity_definition(
            "remoteRole",
            coding("REMOTE_ROLE", Some(role_extension("TTP"))),
            coding("LOCAL_ROLE", Some(role_extension("DIC"))),
        ),
        activity_definition(
            "localAll",
            coding("LOCAL_ALL", None),
            coding("LOCAL_ALL", None),
        ),
        activity_definition(
            "localOrg",
            coding(
                "LOCAL_ORGANIZATION",
                Some(organization_extension("dic1.dsf.test")),
            ),
            coding("LOCAL_ALL", None),
        ),
        activity_definition(
            "localRole",
            coding("LOCAL_ROLE", Some(role_extension("DIC"))),
            coding("LOCAL_ALL", None),
        ),
        activity_definition(
            "practitioner",
            coding(
                "LOCAL_ALL_PRACTITIONER",
                Some(json!({
                "url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-practitioner",
                "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/practitioner-role", "code": "DSF_ADMIN"}})),
            ),
            coding("LOCAL_ALL", None),
        ),
        activity_definition(
            "wrongRecipient",
            coding("REMOTE_ALL", None),
            coding(
                "LOCAL_ORGANIZATION",
                Some(organization_extension("dic2.dsf.test")),
            ),
        ),
    ];
    for ad in &ads {
        let (status, body) = post(&f.dic1, &f.server.url("ActivityDefinition"), ad).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut retired = activity_definition(
        "retired",
        coding("REMOTE_ALL", None),
        coding("LOCAL_ALL", None),
    );
    retired["status"] = json!("retired");
    post(&f.dic1, &f.server.url("ActivityDefinition"), &retired).await;

    let invalid_ad = activity_definition(
        "broken",
        coding("REMOTE_ALL", None),
        coding("REMOTE_ALL", None),
    );
    let (status, _) = post(&f.dic1, &f.server.url("ActivityDefinition"), &invalid_ad).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "REMOTE_ALL cannot be a recipient"
    );

    let dic1 = "dic1.dsf.test";
    let (dic2, ttp) = ("dic2.dsf.test", "ttp.dsf.test");
    let cases: Vec<(&str, &Client, Value, StatusCode)> = vec![
        (
            "REMOTE_ALL admits dic2",
            &f.dic2,
            task("remoteAll", dic2, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "REMOTE_ALL admits ttp",
            &f.ttp,
            task("remoteAll", ttp, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "REMOTE_ALL refuses the local organization",
            &f.dic1,
            task("remoteAll", dic1, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "REMOTE_ORGANIZATION ttp admits ttp",
            &f.ttp,
            task("remoteOrg", ttp, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "REMOTE_ORGANIZATION ttp refuses dic2",
            &f.dic2,
            task("remoteOrg", dic2, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "REMOTE_ROLE TTP admits ttp",
            &f.ttp,
            task("remoteRole", ttp, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "REMOTE_ROLE TTP refuses dic2",
            &f.dic2,
            task("remoteRole", dic2, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "LOCAL_ALL admits the local organization",
            &f.dic1,
            task("localAll", dic1, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "LOCAL_ALL refuses remote",
            &f.dic2,
            task("localAll", dic2, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "LOCAL_ORGANIZATION dic1 admits dic1",
            &f.dic1,
            task("localOrg", dic1, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "LOCAL_ROLE DIC admits dic1",
            &f.dic1,
            task("localRole", dic1, dic1, "start"),
            StatusCode::CREATED,
        ),
        (
            "practitioner codes refuse organizations",
            &f.dic1,
            task("practitioner", dic1, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "recipient must be admitted",
            &f.dic2,
            task("wrongRecipient", dic2, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "requester must be the caller",
            &f.dic2,
            task("remoteAll", ttp, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "recipient must be the local organization",
            &f.dic2,
            task("remoteAll", dic2, ttp, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "unknown message",
            &f.dic2,
            task("remoteAll", dic2, dic1, "other"),
            StatusCode::FORBIDDEN,
        ),
        (
            "retired process",
            &f.dic2,
            task("retired", dic2, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
        (
            "unknown process",
            &f.dic2,
            task("nowhere", dic2, dic1, "start"),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (why, client, body, want) in &cases {
        let (status, answer) = post(client, &f.server.url("Task"), body).await;
        assert_eq!(status, *want, "{why}: {answer}");
    }
    let mut wrong_profile = task("remoteAll", dic2, dic1, "start");
    wrong_profile["meta"]["profile"] =
        json!(["http://dsf.dev/fhir/StructureDefinition/task-other|1.0"]);
    let mut in_progress = task("remoteAll", dic2, dic1, "start");
    in_progress["status"] = json!("in-progress");
    let mut bad_canonical = task("remoteAll", dic2, dic1, "start");
    bad_canonical["instantiatesCanonical"] = json!("http://dsf.dev/bpe/Process/remoteAll");
    let mut with_output = task("remoteAll", dic2, dic1, "start");
    with_output["output"] = json!([{"type": {"text": "x"}, "valueString": "y"}]);
    for (why, body) in [
        ("wrong profile", wrong_profile),
        ("created in-progress", in_progress),
        ("instantiatesCanonical without version", bad_canonical),
        ("outputs on a new Task", with_output),
    ] {
        let (status, _) = post(&f.dic2, &f.server.url("Task"), &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
    }

    // Reading Tasks: the requester and the local organization.
    let (_, mine) = call(
        &f.dic2,
        Method::GET,
        &f.server.url("Task?_summary=count"),
        None,
    )
    .await;
    assert_eq!(mine["total"], 1, "dic2 sees the one Task it sent");
    let (_, all) = call(
        &f.dic1,
        Method::GET,
        &f.server.url("Task?_summary=count"),
        None,
    )
    .await;
    assert_eq!(all["total"], 7, "the local organization sees every Task");
    let (_, found) = call(&f.dic2, Method::GET, &f.server.url("Task"), None).await;
    let id = found["entry"][0]["resource"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let url = f.server.url(&format!("Task/{id}"));
    let (status, _) = call(&f.ttp, Method::GET, &url, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "ttp may not read dic2's Task"
    );
}

async fn task_transitions(backend: Backend) {
    let f = federation(backend).await;
    let ad = activity_definition(
        "ping",
        coding("REMOTE_ALL", None),
        coding("LOCAL_ALL", None),
    );
    post(&f.dic1, &f.server.url("ActivityDefinition"), &ad).await;
    let (status, created) = post(
        &f.dic2,
        &f.server.url("Task"),
        &task("ping", "dic2.dsf.test", "dic1.dsf.test", "start"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = f
        .server
        .url(&format!("Task/{}", created["id"].as_str().expect("id")));
    let put = |client: &Client, body: Value| {
        let (client, url) = (client.clone(), url.clone());
        async move { call(&client, Method::PUT, &url, Some(&body)).await.0 }
    };
    let business_key = json!({"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "business-key"}]},
                              "valueString": "5b2c7e4e-7d5b-4a4e-9d53-1f2b3c4d5e6f"});

    let mut completed = created.clone();
    completed["status"] = json!("completed");
    assert_eq!(
        put(&f.dic1, completed).await,
        StatusCode::FORBIDDEN,
        "requested → completed"
    );
    let mut started = created.clone();
    started["status"] = json!("in-progress");
    started["input"]
        .as_array_mut()
        .expect("inputs")
        .push(business_key.clone());
    assert_eq!(
        put(&f.dic2, started.clone()).await,
        StatusCode::FORBIDDEN,
        "remote update"
    );
    let mut changed = started.clone();
    changed["input"][0]["valueString"] = json!("other");
    assert_eq!(
        put(&f.dic1, changed).await,
        StatusCode::FORBIDDEN,
        "inputs changed"
    );
    assert_eq!(
        put(&f.dic1, started.clone()).await,
        StatusCode::OK,
        "requested → in-progress with a business key"
    );
    let mut second_key = started.clone();
    second_key["input"]
        .as_array_mut()
        .expect("inputs")
        .push(business_key);
    assert_eq!(
        put(&f.dic1, second_key).await,
        StatusCode::FORBIDDEN,
        "a second business key"
    );
    let mut done = started.clone();
    done["status"] = json!("completed");
    done["output"] = json!([{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "error"}]}, "valueString": "none"}]);
    assert_eq!(
        put(&f.dic1, done.clone()).await,
        StatusCode::OK,
        "in-progress → completed"
    );
    let mut reopened = done.clone();
    reopened["status"] = json!("in-progress");
    assert_eq!(
        put(&f.dic1, reopened).await,
        StatusCode::FORBIDDEN,
        "completed → in-progress"
    );
    let (status, _) = call(&f.dic1, Method::DELETE, &url, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only draft Tasks are deleted"
    );

    // A Task may fail from requested, even when its process is gone.
    let (_, second) = post(
        &f.dic2,
        &f.server.url("Task"),
        &task("ping", "dic2.dsf.test", "dic1.dsf.test", "start"),
    )
    .await;
    let second_url = f
        .server
        .url(&format!("Task/{}", second["id"].as_str().expect("id")));
    let (_, definitions) = call(
        &f.dic1,
        Method::GET,
        &f.server.url("ActivityDefinition"),
        None,
    )
    .await;
    let definition_id = definitions["entry"][0]["resource"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = call(
        &f.dic1,
        Method::DELETE,
        &f.server.url(&format!("ActivityDefinition/{definition_id}")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut failed = second.clone();
    failed["status"] = json!("failed");
    failed["output"] = json!([{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "error"}]},
                               "valueString": "process not deployed"}]);
    let (status, body) = call(&f.dic1, Method::PUT, &second_url, Some(&failed)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "requested → failed without its process: {body}"
    );
    let mut restarted = second.clone();
    restarted["status"] = json!("in-progress");
    let (status, _) = call(&f.dic1, Method::PUT, &second_url, Some(&restarted)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "failed → in-progress");
}

async fn binary_security_context(backend: Backend) {
    let f = federation(backend).await;
    let tags = json!([{"system": TAG, "code": "LOCAL"}, organization_tag("dic2.dsf.test")]);
    let (status, context) = post(&f.dic1, &f.server.url("Library"), &library(tags)).await;
    assert_eq!(status, StatusCode::CREATED);
    let reference = format!("Library/{}", context["id"].as_str().expect("id"));
    let binary = json!({"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8=",
                        "securityContext": {"reference": reference}});
    let (status, created) = post(&f.dic1, &f.server.url("Binary"), &binary).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let url = f
        .server
        .url(&format!("Binary/{}", created["id"].as_str().expect("id")));
    for (client, want, who) in [
        (&f.dic2, StatusCode::OK, "dic2"),
        (&f.ttp, StatusCode::FORBIDDEN, "ttp"),
    ] {
        let (status, _) = call(client, Method::GET, &format!("{url}?_format=json"), None).await;
        assert_eq!(status, want, "{who} reads the Binary as its context allows");
    }
    for (client, total, who) in [
        (&f.dic1, 1, "dic1"),
        (&f.dic2, 1, "dic2"),
        (&f.ttp, 0, "ttp"),
    ] {
        let (_, found) = call(
            client,
            Method::GET,
            &f.server.url("Binary?_summary=count"),
            None,
        )
        .await;
        assert_eq!(
            found["total"], total,
            "{who} finds the Binary as its context allows"
        );
    }
    let mut both = binary.clone();
    both["meta"] = json!({"tag": all_tag()});
    let (status, _) = post(&f.dic1, &f.server.url("Binary"), &both).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "tag and security context together"
    );
    let mut task_context = binary.clone();
    task_context["securityContext"] =
        json!({"reference": "Task/00000000-0000-4000-8000-000000000001"});
    let (status, _) = post(&f.dic1, &f.server.url("Binary"), &task_context).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a Task is no security context"
    );
}

async fn questionnaire_responses(backend: Backend) {
    let f = federation(backend).await;
    let response = json!({"resourceType": "QuestionnaireResponse", "status": "in-progress",
        "questionnaire": "http://dsf.dev/fhir/Questionnaire/hello-user|1.0",
        "item": [{"linkId": "user-task-id", "text": "The user task", "answer": [{"valueString": "42"}]},
                 {"linkId": "approve", "text": "Approve?"}]});
    let url = f.server.url("QuestionnaireResponse");
    let (status, _) = post(&f.dic2, &url, &response).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "remote create");
    let mut completed_new = response.clone();
    completed_new["status"] = json!("completed");
    let (status, _) = post(&f.dic1, &url, &completed_new).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "created completed");
    let (status, created) = post(&f.dic1, &url, &response).await;
    assert_eq!(status, StatusCode::CREATED);
    let item = f.server.url(&format!(
        "QuestionnaireResponse/{}",
        created["id"].as_str().expect("id")
    ));
    let (status, _) = call(&f.dic2, Method::GET, &item, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "remote read");
    let mut answered = created.clone();
    answered["status"] = json!("completed");
    answered["item"][1]["answer"] = json!([{"valueBoolean": true}]);
    let (status, _) = call(&f.dic1, Method::PUT, &item, Some(&answered)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "completed without author");
    answered["author"] =
        json!({"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}});
    answered["authored"] = json!("2026-11-30T11:00:00+01:00");
    let (status, body) = call(&f.dic1, Method::PUT, &item, Some(&answered)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

both_backends!(
    tls_refusals,
    revoked_certificate,
    roles_and_read_access,
    uniqueness,
    task_authorization,
    task_transitions,
    questionnaire_responses,
    binary_security_context,
);
