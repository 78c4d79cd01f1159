//! The DSF conformance resources: every start loads them once, and they mean what the DSF core
//! definitions mean.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{client, send};
use dsf_fhir_server::settings::{Resolved, SettingsError, Transport};
use dsf_fhir_server::{AppState, AuthMode, ServerConfig, conformance, startup};
use dsf_testkit::{Backend, TestDb};
use reqwest::StatusCode;
use serde_json::Value;

/// The resource types of the conformance resources, in load order.
const TYPES: [&str; 4] = [
    "CodeSystem",
    "ValueSet",
    "NamingSystem",
    "StructureDefinition",
];

/// A server started the way the `dsf` binary starts it: settings in, store seeded, API served.
struct RunningServer {
    base_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), SettingsError>>>,
}

impl RunningServer {
    async fn start(db: &TestDb) -> RunningServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let base_url = format!("http://127.0.0.1:{port}/fhir");
        let settings = Resolved {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            store: db.config.clone(),
            data_dir: None,
            server: ServerConfig::new(&base_url).expect("server config"),
            transport: Transport::DevInsecure,
            trusted_client_cas: None,
            client_certificate_crls: None,
            client_certificate: None,
            organization_thumbprint: None,
            init_bundle: None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // On its own runtime, as the binary runs it.
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(startup::run(settings, async {
                    let _ = rx.await;
                }))
        });
        let server = RunningServer {
            base_url,
            shutdown: Some(tx),
            thread: Some(thread),
        };
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                !server.thread.as_ref().is_some_and(|t| t.is_finished()),
                "server stopped during start-up"
            );
            if let Ok(response) = http.get(server.url("metadata")).send().await
                && response.status() == StatusCode::OK
            {
                return server;
            }
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let thread = self.thread.take().expect("server thread");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("joined")
            .expect("server thread")
            .expect("server ran");
    }

    /// Every stored resource of `resource_type`: id → version id.
    async fn versions(&self, resource_type: &str) -> BTreeMap<String, String> {
        let url = self.url(&format!("{resource_type}?_count=1000"));
        let (status, _, bundle) = send(client().get(url).header("accept", common::JSON)).await;
        assert_eq!(status, StatusCode::OK, "{bundle}");
        assert!(
            bundle["link"]
                .as_array()
                .is_none_or(|links| links.iter().all(|l| l["relation"] != "next"))
        );
        bundle["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let r = &e["resource"];
                let id = r["id"].as_str().expect("id").to_owned();
                (
                    id,
                    r["meta"]["versionId"]
                        .as_str()
                        .expect("versionId")
                        .to_owned(),
                )
            })
            .collect()
    }
}

async fn search_one(server: &RunningServer, query: &str) {
    let url = server.url(query);
    let (status, _, bundle) = send(client().get(url).header("accept", common::JSON)).await;
    assert_eq!(status, StatusCode::OK, "{query}: {bundle}");
    let matches = bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .count();
    assert_eq!(matches, 1, "{query}: {bundle}");
}

async fn a_started_server_has_them_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let started = Instant::now();
    let server = RunningServer::start(&db).await;
    eprintln!("{backend:?}: first start {:?}", started.elapsed());
    for query in [
        "StructureDefinition?url=http://dsf.dev/fhir/StructureDefinition/task&version=2.1.0",
        "StructureDefinition?url=http://dsf.dev/fhir/StructureDefinition/organization&version=2.0.0",
        "StructureDefinition?url=http://dsf.dev/fhir/StructureDefinition/extension-process-authorization&version=2.0.0",
        "CodeSystem?url=http://dsf.dev/fhir/CodeSystem/read-access-tag&version=2.0.0",
        "CodeSystem?url=urn:ietf:bcp:13&version=4.0.1",
        "ValueSet?url=http://hl7.org/fhir/ValueSet/mimetypes&version=4.0.1",
        "ValueSet?url=http://dsf.dev/fhir/ValueSet/bpmn-message&version=2.0.0",
        "NamingSystem?name=DsfOrganizationIdentifier",
        "NamingSystem?name=DsfTaskIdentifier",
    ] {
        search_one(&server, query).await;
    }
    let mut before = BTreeMap::new();
    for resource_type in TYPES {
        before.insert(resource_type, server.versions(resource_type).await);
    }
    let stored: usize = before.values().map(BTreeMap::len).sum();
    assert_eq!(stored, conformance::FILES.len());
    assert!(before.values().flat_map(BTreeMap::values).all(|v| v == "1"));
    server.stop().await;

    let started = Instant::now();
    let server = RunningServer::start(&db).await;
    eprintln!("{backend:?}: second start {:?}", started.elapsed());
    for resource_type in TYPES {
        assert_eq!(
            server.versions(resource_type).await,
            before[resource_type],
            "{resource_type} changed on restart"
        );
    }
    server.stop().await;
}

async fn loading_again_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = dsf_fhir_store::Store::open(&db.config)
        .await
        .expect("open store");
    let config = ServerConfig::new("http://127.0.0.1:1/fhir").expect("config");
    let state = AppState::new(store.clone(), config, AuthMode::DevInsecure);
    for pass in ["first", "second"] {
        let started = Instant::now();
        startup::load_conformance(&state).await.expect("loaded");
        eprintln!("{backend:?}: {pass} load {:?}", started.elapsed());
    }
    store.close().await;
}

dsf_testkit::both_backends!(
    a_started_server_has_them_once,
    loading_again_changes_nothing
);

// --- compatibility with the DSF core definitions ---

/// The reference's DSF core definitions.
fn fixtures() -> Option<PathBuf> {
    dsf_testkit::fixtures::dir().map(|d| d.join("dsf-core/fhir"))
}

/// The key pairing a definition with its counterpart: type and url|version, or name.
fn key(resource: &Value) -> String {
    let text = |k: &str| resource[k].as_str().unwrap_or_default().to_owned();
    match text("resourceType").as_str() {
        "NamingSystem" => format!("NamingSystem?name={}", text("name")),
        t => format!("{t}?url={}&version={}", text("url"), text("version")),
    }
}

fn reference_definitions(dir: &Path) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for resource_type in TYPES {
        for (file, json) in
            dsf_testkit::fixtures::xml_resources(&dir.join(resource_type), str::to_owned)
        {
            assert!(
                found.insert(key(&json), json).is_none(),
                "{} repeats a canonical",
                file.display()
            );
        }
    }
    found
}

/// `value[field]` with only the members in `keep`.
fn only(value: &Value, keep: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| only(i, keep)).collect()),
        other => other.clone(),
    }
}

fn elements(sd: &Value) -> Vec<(String, &Value)> {
    sd["differential"]["element"]
        .as_array()
        .expect("differential elements")
        .iter()
        .map(|e| {
            let id = e["id"].as_str().or(e["path"].as_str()).expect("id or path");
            (id.to_owned(), e)
        })
        .collect()
}

fn fixed_and_pattern(element: &Value) -> BTreeMap<String, Value> {
    element
        .as_object()
        .expect("element")
        .iter()
        .filter(|(k, _)| k.starts_with("fixed") || k.starts_with("pattern"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn same_structure_definition(key: &str, ours: &Value, theirs: &Value) {
    for field in [
        "name",
        "type",
        "kind",
        "abstract",
        "baseDefinition",
        "derivation",
        "context",
        "contextInvariant",
        "fhirVersion",
    ] {
        assert_eq!(ours[field], theirs[field], "{key}: {field}");
    }
    assert!(ours.get("snapshot").is_none(), "{key}: snapshot");
    let (our_elements, their_elements) = (elements(ours), elements(theirs));
    let ids = |e: &[(String, &Value)]| e.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&our_elements),
        ids(&their_elements),
        "{key}: element ids"
    );
    for ((id, o), (_, t)) in our_elements.iter().zip(&their_elements) {
        let at = format!("{key}: {id}");
        for field in [
            "path",
            "sliceName",
            "min",
            "max",
            "isModifier",
            "mustSupport",
        ] {
            assert_eq!(o[field], t[field], "{at}: {field}");
        }
        assert_eq!(
            fixed_and_pattern(o),
            fixed_and_pattern(t),
            "{at}: fixed/pattern"
        );
        let types = [
            "code",
            "profile",
            "targetProfile",
            "aggregation",
            "versioning",
        ];
        assert_eq!(
            only(&o["type"], &types),
            only(&t["type"], &types),
            "{at}: type"
        );
        assert_eq!(
            only(&o["slicing"], &["discriminator", "rules", "ordered"]),
            only(&t["slicing"], &["discriminator", "rules", "ordered"]),
            "{at}: slicing"
        );
        assert_eq!(
            only(&o["binding"], &["strength", "valueSet"]),
            only(&t["binding"], &["strength", "valueSet"]),
            "{at}: binding"
        );
        assert_eq!(
            only(&o["constraint"], &["key", "severity", "expression"]),
            only(&t["constraint"], &["key", "severity", "expression"]),
            "{at}: constraint"
        );
        if let Some(human) = o["constraint"].as_array() {
            assert!(human.iter().all(|c| c["human"].is_string()), "{at}: human");
        }
    }
}

fn same_code_system(key: &str, ours: &Value, theirs: &Value) {
    for field in [
        "name",
        "url",
        "version",
        "content",
        "caseSensitive",
        "count",
    ] {
        assert_eq!(ours[field], theirs[field], "{key}: {field}");
    }
    assert_eq!(
        only(&ours["concept"], &["code", "display"]),
        only(&theirs["concept"], &["code", "display"]),
        "{key}: concepts"
    );
}

fn same_value_set(key: &str, ours: &Value, theirs: &Value) {
    for field in ["name", "url", "version", "compose"] {
        assert_eq!(ours[field], theirs[field], "{key}: {field}");
    }
}

fn same_naming_system(key: &str, ours: &Value, theirs: &Value) {
    for field in ["name", "kind", "uniqueId"] {
        assert_eq!(ours[field], theirs[field], "{key}: {field}");
    }
}

#[test]
fn the_resources_mean_what_the_dsf_core_definitions_mean() {
    let Some(dir) = fixtures() else {
        return;
    };
    let theirs = reference_definitions(&dir);
    let mut ours = BTreeMap::new();
    for resource in conformance::resources() {
        assert!(
            ours.insert(key(&resource), resource).is_none(),
            "a canonical repeats"
        );
    }
    assert_eq!(
        ours.keys().collect::<BTreeSet<_>>(),
        theirs.keys().collect::<BTreeSet<_>>(),
        "the canonicals differ"
    );
    for (key, our) in &ours {
        let their = &theirs[key];
        assert_eq!(our["status"], their["status"], "{key}: status");
        assert_eq!(our["meta"]["tag"], their["meta"]["tag"], "{key}: tags");
        assert_eq!(
            our["meta"]["profile"], their["meta"]["profile"],
            "{key}: profile"
        );
        match our["resourceType"].as_str().expect("resourceType") {
            "StructureDefinition" => same_structure_definition(key, our, their),
            "CodeSystem" => same_code_system(key, our, their),
            "ValueSet" => same_value_set(key, our, their),
            "NamingSystem" => same_naming_system(key, our, their),
            other => panic!("{key}: unexpected {other}"),
        }
    }
}

#[test]
fn the_bundle_uses_the_reference_criteria() {
    let Some(dir) = fixtures() else {
        return;
    };
    let mut expected = BTreeSet::new();
    for resource_type in TYPES {
        for entry in std::fs::read_dir(dir.join(resource_type)).expect("fixture folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|x| x == "post") {
                let criteria = std::fs::read_to_string(&path).expect("criteria");
                expected.insert(format!("{resource_type}?{}", criteria.trim()));
            }
        }
    }
    let bundle = conformance::bundle();
    let actual: BTreeSet<String> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            assert_eq!(e["request"]["method"], "POST");
            format!(
                "{}?{}",
                e["request"]["url"].as_str().expect("url"),
                e["request"]["ifNoneExist"].as_str().expect("criteria")
            )
        })
        .collect();
    assert_eq!(actual, expected);
}
