//! Every resource type the server serves against every interaction, as the local organization
//! and as a remote one, over mutual TLS: the reference's roles as a table.

use dsf_fhir_store::search::params::RESOURCE_TYPES;
use dsf_testkit::secure::{SecureServer, TestPki, call, member, post};
use dsf_testkit::{Backend, both_backends};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const ORG: &str = "http://dsf.dev/sid/organization-identifier";

/// A minimal resource of `resource_type` that the DSF write rules accept, readable by all.
fn minimal(resource_type: &str) -> Value {
    let mut resource = match resource_type {
        "ActivityDefinition" => json!({
            "url": "http://dsf.dev/bpe/Process/table", "version": "1.0", "status": "active", "kind": "Task",
            "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization", "extension": [
                {"url": "message-name", "valueString": "start"},
                {"url": "task-profile", "valueCanonical": "http://dsf.dev/fhir/StructureDefinition/task-table|1.0"},
                {"url": "requester", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "REMOTE_ALL"}},
                {"url": "recipient", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "LOCAL_ALL"}}]}]}),
        "Binary" => json!({"contentType": "text/plain", "data": "aGVsbG8="}),
        "CodeSystem" | "ValueSet" | "Questionnaire" | "Library" | "Measure" => {
            let mut r = json!({"url": format!("http://dsf.dev/fhir/{resource_type}/table"), "version": "1.0", "status": "active"});
            match resource_type {
                "CodeSystem" => r["content"] = json!("complete"),
                "Library" => {
                    r["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type", "code": "logic-library"}]})
                }
                _ => {}
            }
            r
        }
        "StructureDefinition" => json!({
            "url": "http://dsf.dev/fhir/StructureDefinition/table", "version": "1.0", "status": "active",
            "name": "Table", "kind": "resource", "abstract": false, "type": "Task",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Task"}),
        "NamingSystem" => {
            json!({"name": "table", "status": "active", "kind": "identifier", "date": "2026-11-30",
                                 "uniqueId": [{"type": "uri", "value": "http://dsf.dev/sid/table"}]})
        }
        "Organization" => {
            json!({"identifier": [{"system": ORG, "value": "table.dsf.test"}], "active": true})
        }
        "Endpoint" => {
            json!({"identifier": [{"system": "http://dsf.dev/sid/endpoint-identifier", "value": "table.dsf.test"}],
                             "status": "active", "address": "https://table.dsf.test/fhir",
                             "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                             "payloadType": [{"text": "Task"}]})
        }
        "OrganizationAffiliation" => json!({"active": true,
            "organization": {"reference": "Organization/00000000-0000-4000-8000-000000000001"},
            "participatingOrganization": {"reference": "Organization/00000000-0000-4000-8000-000000000002"},
            "endpoint": [{"reference": "Endpoint/00000000-0000-4000-8000-000000000003"}],
            "code": [{"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/organization-role", "code": "DIC"}]}]}),
        "Subscription" => {
            json!({"status": "active", "reason": "table", "criteria": "Patient?active=true",
                                 "channel": {"type": "websocket"}})
        }
        "MeasureReport" => json!({"status": "complete", "type": "summary",
                                  "measure": "http://dsf.dev/fhir/Measure/table", "period": {"start": "2026-01-01"}}),
        "Provenance" => {
            json!({"target": [{"reference": "Patient/00000000-0000-4000-8000-000000000004"}],
                               "recorded": "2026-11-30T10:00:00Z", "agent": [{"who": {"display": "table"}}]})
        }
        "ResearchStudy" => json!({"status": "active"}),
        "DocumentReference" => {
            json!({"status": "current", "content": [{"attachment": {"contentType": "text/plain"}}]})
        }
        "Group" => json!({"type": "person", "actual": true}),
        "Bundle" => json!({"type": "collection"}),
        _ => json!({}),
    };
    resource["resourceType"] = json!(resource_type);
    resource["meta"] = json!({"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]});
    resource
}

/// The types whose rules are generic (Task and QuestionnaireResponse have their own tests).
fn generic_types() -> impl Iterator<Item = &'static str> {
    RESOURCE_TYPES
        .into_iter()
        .filter(|t| !matches!(*t, "Task" | "QuestionnaireResponse"))
}

async fn every_type_and_interaction(backend: Backend) {
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
    let (local, remote) = (pki.client(Some(&dic1)), pki.client(Some(&dic2)));
    let forbidden = StatusCode::FORBIDDEN;

    for resource_type in generic_types() {
        let resource = minimal(resource_type);
        let type_url = server.url(resource_type);
        let (status, _) = post(&remote, &type_url, &resource).await;
        assert_eq!(status, forbidden, "remote create {resource_type}");
        let (status, created) = post(&local, &type_url, &resource).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "local create {resource_type}: {created}"
        );
        let id = created["id"].as_str().expect("id").to_owned();
        let url = server.url(&format!("{resource_type}/{id}"));

        let (status, _) = call(&remote, Method::GET, &format!("{url}?_format=json"), None).await;
        assert_eq!(status, StatusCode::OK, "remote read {resource_type}");
        let (status, _) = call(
            &remote,
            Method::GET,
            &format!("{url}/_history/1?_format=json"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "remote vread {resource_type}");
        let (_, found) = call(&remote, Method::GET, &format!("{type_url}?_id={id}"), None).await;
        assert_eq!(found["total"], 1, "remote search {resource_type}");
        let (status, history) = call(&remote, Method::GET, &format!("{url}/_history"), None).await;
        assert_eq!(
            (status, history["total"].clone()),
            (StatusCode::OK, json!(1)),
            "remote history {resource_type}"
        );

        let (status, _) = call(&remote, Method::PUT, &url, Some(&created)).await;
        assert_eq!(status, forbidden, "remote update {resource_type}");
        let (status, _) = call(&remote, Method::DELETE, &url, None).await;
        assert_eq!(status, forbidden, "remote delete {resource_type}");
        let (status, updated) = call(&local, Method::PUT, &url, Some(&created)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "local update {resource_type}: {updated}"
        );
        let (status, _) = call(&local, Method::DELETE, &url, None).await;
        assert_eq!(status, StatusCode::OK, "local delete {resource_type}");
        let permanent = format!("{url}/$permanent-delete");
        let (status, _) = call(&remote, Method::POST, &permanent, None).await;
        assert_eq!(status, forbidden, "remote permanent delete {resource_type}");
        let (status, _) = call(&local, Method::POST, &permanent, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "local permanent delete {resource_type}"
        );
    }
}

async fn tls_versions(backend: Backend) {
    let pki = TestPki::new();
    let dic1 = pki.client_certificate("dic1");
    let server = SecureServer::start(
        backend,
        &pki,
        "dic1.dsf.test",
        &[member("dic1", &dic1, &["DIC"])],
        None,
    )
    .await;
    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = format!("{}{}", dic1.cert_pem, dic1.key_pem);
        let client = Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(pki.ca.cert_pem().as_bytes()).expect("CA")
            ])
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"))
            .tls_version_min(version)
            .tls_version_max(version)
            .build()
            .expect("client");
        let (status, _) = call(&client, Method::GET, &server.url("metadata"), None).await;
        assert_eq!(status, StatusCode::OK, "{version:?}");
    }
}

both_backends!(every_type_and_interaction, tls_versions);
