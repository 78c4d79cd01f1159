//! Local users from the role configuration, calling with their own certificates: what their
//! granted operations allow, and the practitioner codes of process authorization.

use dsf_fhir_server::practitioners::{UserRule, users};
use dsf_pki::IssuedCertificate;
use dsf_testkit::secure::{PARENT, SecureServer, TestPki, call, member, post};
use dsf_testkit::{Backend, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ORG: &str = "http://dsf.dev/sid/organization-identifier";
const PRACTITIONER: &str = "http://dsf.dev/sid/practitioner-identifier";
const PRACTITIONER_ROLE: &str = "http://dsf.dev/fhir/CodeSystem/practitioner-role";
const CODES: &str = "http://dsf.dev/fhir/CodeSystem/process-authorization";
const EXT: &str = "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization";

fn rule(
    name: &str,
    certificate: &IssuedCertificate,
    dsf_roles: &[&str],
    roles: &[&str],
) -> UserRule {
    UserRule {
        name: name.to_owned(),
        thumbprints: vec![dsf_pki::thumbprint(&certificate.der)],
        email: Some(format!("{name}@dic1.dsf.test")),
        dsf_roles: dsf_roles.iter().map(|r| (*r).to_owned()).collect(),
        practitioner_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn role(code: &str) -> Value {
    json!({"system": PRACTITIONER_ROLE, "code": code})
}

fn definition(name: &str, requester: Value) -> Value {
    json!({"resourceType": "ActivityDefinition",
           "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
           "url": format!("http://dsf.dev/bpe/Process/{name}"), "version": "1.0", "status": "active", "kind": "Task",
           "extension": [{"url": EXT, "extension": [
               {"url": "message-name", "valueString": "start"},
               {"url": "task-profile", "valueCanonical": format!("http://dsf.dev/fhir/StructureDefinition/task-{name}|1.0")},
               {"url": "requester", "valueCoding": requester},
               {"url": "recipient", "valueCoding": {"system": CODES, "code": "LOCAL_ALL"}}]}]})
}

fn task(process: &str, requester: Value) -> Value {
    json!({"resourceType": "Task",
           "meta": {"profile": [format!("http://dsf.dev/fhir/StructureDefinition/task-{process}|1.0")]},
           "instantiatesCanonical": format!("http://dsf.dev/bpe/Process/{process}|1.0"),
           "status": "requested", "intent": "order", "authoredOn": "2026-11-30T10:00:00+01:00",
           "requester": requester,
           "restriction": {"recipient": [{"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}}]},
           "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                      "valueString": "start"}]})
}

fn practitioner(email: &str) -> Value {
    json!({"type": "Practitioner", "identifier": {"system": PRACTITIONER, "value": email}})
}

async fn practitioners_and_their_codes(backend: Backend) {
    let pki = TestPki::new();
    let (dic1, dic2) = (
        pki.client_certificate("dic1"),
        pki.client_certificate("dic2"),
    );
    let (admin, alice, bob) = (
        pki.client_certificate("admin"),
        pki.client_certificate("alice"),
        pki.client_certificate("bob"),
    );
    let configured = users(&[
        rule(
            "admin",
            &admin,
            &["CREATE", "READ", "UPDATE", "DELETE", "SEARCH", "HISTORY"],
            &["DSF_ADMIN"],
        ),
        rule(
            "alice",
            &alice,
            &[
                "CREATE:Task",
                "READ",
                "SEARCH",
                "UPDATE:QuestionnaireResponse",
            ],
            &["DIC_USER"],
        ),
        rule(
            "bob",
            &bob,
            &["CREATE:Task", "READ", "UPDATE:QuestionnaireResponse"],
            &["TTP_USER"],
        ),
    ])
    .expect("role configuration");
    let members = [
        member("dic1", &dic1, &["DIC"]),
        member("dic2", &dic2, &["DIC"]),
    ];
    let server = SecureServer::start_with(backend, &pki, "dic1.dsf.test", &members, None, |c| {
        c.users = configured;
    })
    .await;
    let (local, admin, alice, bob) = (
        pki.client(Some(&dic1)),
        pki.client(Some(&admin)),
        pki.client(Some(&alice)),
        pki.client(Some(&bob)),
    );

    let dic_user_ext = |url: &str, extra: Vec<Value>| {
        let mut ext = json!({"url": url, "extension": extra});
        ext["extension"]
            .as_array_mut()
            .expect("array")
            .push(json!({"url": "practitioner-role", "valueCoding": role("DIC_USER")}));
        ext
    };
    let definitions = [
        definition(
            "allPractitioner",
            json!({"system": CODES, "code": "LOCAL_ALL_PRACTITIONER", "extension": [{
            "url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-practitioner",
            "valueCoding": role("DIC_USER")}]}),
        ),
        definition(
            "orgPractitioner",
            json!({"system": CODES, "code": "LOCAL_ORGANIZATION_PRACTITIONER", "extension": [
            dic_user_ext("http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-organization-practitioner",
                vec![json!({"url": "organization", "valueIdentifier": {"system": ORG, "value": "dic1.dsf.test"}})])]}),
        ),
        definition(
            "rolePractitioner",
            json!({"system": CODES, "code": "LOCAL_ROLE_PRACTITIONER", "extension": [
            dic_user_ext("http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-parent-organization-role-practitioner",
                vec![json!({"url": "parent-organization", "valueIdentifier": {"system": ORG, "value": PARENT}}),
                     json!({"url": "organization-role", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/organization-role", "code": "DIC"}})])]}),
        ),
        definition(
            "organizations",
            json!({"system": CODES, "code": "LOCAL_ALL"}),
        ),
    ];
    for d in &definitions {
        let (status, body) = post(&local, &server.url("ActivityDefinition"), d).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let alice_id = practitioner("alice@dic1.dsf.test");
    let bob_id = practitioner("bob@dic1.dsf.test");
    let admin_id = practitioner("admin@dic1.dsf.test");
    let org =
        json!({"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}});
    let cases = [
        (
            "LOCAL_ALL_PRACTITIONER DIC_USER admits alice",
            &alice,
            task("allPractitioner", alice_id.clone()),
            StatusCode::CREATED,
        ),
        (
            "LOCAL_ALL_PRACTITIONER DIC_USER refuses bob (TTP_USER)",
            &bob,
            task("allPractitioner", bob_id.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "LOCAL_ORGANIZATION_PRACTITIONER admits alice",
            &alice,
            task("orgPractitioner", alice_id.clone()),
            StatusCode::CREATED,
        ),
        (
            "LOCAL_ROLE_PRACTITIONER admits alice",
            &alice,
            task("rolePractitioner", alice_id.clone()),
            StatusCode::CREATED,
        ),
        (
            "a practitioner code refuses the organization",
            &local,
            task("allPractitioner", org.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "an organization code refuses alice",
            &alice,
            task("organizations", alice_id.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "DSF_ADMIN passes an organization code",
            &admin,
            task("organizations", admin_id.clone()),
            StatusCode::CREATED,
        ),
        (
            "DSF_ADMIN passes a practitioner code",
            &admin,
            task("rolePractitioner", admin_id),
            StatusCode::CREATED,
        ),
        (
            "alice may not send as her organization",
            &alice,
            task("allPractitioner", org),
            StatusCode::FORBIDDEN,
        ),
        (
            "alice may not send as bob",
            &alice,
            task("allPractitioner", bob_id),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (why, client, body, want) in &cases {
        let (status, answer) = post(client, &server.url("Task"), body).await;
        assert_eq!(status, *want, "{why}: {answer}");
    }

    // Operations come from the configuration.
    let library = json!({"resourceType": "Library", "status": "active",
        "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type", "code": "logic-library"}]}});
    let (status, _) = post(&alice, &server.url("Library"), &library).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "alice may create Tasks only");
    let (status, _) = post(&admin, &server.url("Library"), &library).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the administrator's grants include CREATE"
    );
    let (status, _) = call(&bob, Method::GET, &server.url("Library"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "bob has no SEARCH");

    // Answering a user task: the response names who may answer it.
    let response = json!({"resourceType": "QuestionnaireResponse", "status": "in-progress",
        "questionnaire": "http://dsf.dev/fhir/Questionnaire/release|1.0",
        "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-questionnaire-authorization",
                       "extension": [{"url": "practitioner-role", "valueCoding": role("DIC_USER")}]}],
        "item": [{"linkId": "user-task-id", "text": "User task", "answer": [{"valueString": "7"}]},
                 {"linkId": "release", "text": "Release?"}]});
    let (status, _) = post(&alice, &server.url("QuestionnaireResponse"), &response).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "users do not create QuestionnaireResponses"
    );
    let (status, created) = post(&local, &server.url("QuestionnaireResponse"), &response).await;
    assert_eq!(status, StatusCode::CREATED);
    let url = server.url(&format!(
        "QuestionnaireResponse/{}",
        created["id"].as_str().expect("id")
    ));
    let answered = |author: &str| {
        let mut r = created.clone();
        r["status"] = json!("completed");
        r["item"][1]["answer"] = json!([{"valueBoolean": true}]);
        r["author"] = practitioner(author);
        r["authored"] = json!("2026-11-30T11:00:00+01:00");
        r
    };
    let (status, _) = call(
        &bob,
        Method::PUT,
        &url,
        Some(&answered("bob@dic1.dsf.test")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "bob is not named");
    let (status, _) = call(
        &alice,
        Method::PUT,
        &url,
        Some(&answered("bob@dic1.dsf.test")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "alice must sign as herself");
    let (status, body) = call(
        &alice,
        Method::PUT,
        &url,
        Some(&answered("alice@dic1.dsf.test")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn role_configuration_is_checked() {
    let bad = UserRule {
        name: "x".into(),
        thumbprints: vec!["ab".repeat(64)],
        dsf_roles: vec!["FLY".into()],
        ..UserRule::default()
    };
    assert!(users(&[bad]).is_err());
    let short = UserRule {
        name: "x".into(),
        thumbprints: vec!["abc".into()],
        ..UserRule::default()
    };
    assert!(users(&[short]).is_err());
}

both_backends!(practitioners_and_their_codes);
