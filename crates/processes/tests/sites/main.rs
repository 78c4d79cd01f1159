//! Ping and pong across a federation of real sites: FHIR servers with mutual TLS on loopback
//! and an engine service per site, on SQLite and on PostgreSQL; with this project's models and
//! with the reference's own (`reference`); and when sites are down, refuse, or restart
//! (`faults`); a user task (`user_task`); the allow list published and downloaded between sites
//! (`allow_list`); and ping autostart (`autostart`).

mod allow_list;
mod autostart;
mod faults;
mod reference;
mod user_task;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dsf_bpe::plugin::deploy::PluginConfig;
use dsf_bpe::tls::ClientIdentity;
use dsf_bpe::{Bpe, BpeConfig, Database, ProcessPlugin};
use dsf_fhir_store::StoreConfig;
use dsf_testkit::Backend;
use dsf_testkit::federation::{TestFederation, TestSite};
use dsf_testkit::secure::call;
use reqwest::Method;
use serde_json::{Value, json};

const PING_STATUS: &str = "http://dsf.dev/fhir/CodeSystem/ping-status";

/// Starts the engine service of `site` with the built-in plugins.
pub async fn engine(federation: &TestFederation, site: &TestSite, dir: &std::path::Path) -> Bpe {
    engine_with(federation, site, dir, dsf_processes::all(), Vec::new()).await
}

/// Starts the engine service of `site` with `plugins`, the processes `excluded` left out.
pub async fn engine_with(
    federation: &TestFederation,
    site: &TestSite,
    dir: &std::path::Path,
    plugins: Vec<Arc<dyn ProcessPlugin>>,
    excluded: Vec<String>,
) -> Bpe {
    let config = PluginConfig {
        excluded,
        ..PluginConfig::default()
    };
    engine_configured(federation, site, dir, plugins, config).await
}

/// Starts the engine service of `site` with `plugins` and the process states and placeholder
/// values of `config` (its organization is set to the site's).
pub async fn engine_configured(
    federation: &TestFederation,
    site: &TestSite,
    dir: &std::path::Path,
    plugins: Vec<Arc<dyn ProcessPlugin>>,
    config: PluginConfig,
) -> Bpe {
    let database = match site.server.database() {
        StoreConfig::Postgres { url } => Database::Postgres(url.clone()),
        StoreConfig::Sqlite { .. } => Database::Sqlite(dir.join(&site.name)),
    };
    let config = BpeConfig {
        fhir_base_url: site.server.base_url.clone(),
        organization_identifier: site.identifier.clone(),
        identity: ClientIdentity {
            certificate: site.certificate_file.clone(),
            key: site.key_file.clone(),
            key_password: None,
            trusted_server_cas: federation.ca_file.clone(),
        },
        database,
        plugins: PluginConfig {
            organization: site.identifier.clone(),
            ..config
        },
    };
    Bpe::start(config, plugins)
        .await
        .expect("engine service starts")
}

fn organization(identifier: &str) -> Value {
    json!({"type": "Organization", "identifier": {"system": "http://dsf.dev/sid/organization-identifier", "value": identifier}})
}

/// A requested Task of `site` to itself that starts `process` (`ping|1.0`) with `message`,
/// profile `task-<profile>` and further `inputs`.
pub fn local_task(
    site: &TestSite,
    process: &str,
    profile: &str,
    message: &str,
    inputs: Vec<Value>,
) -> Value {
    let mut input = vec![
        json!({"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]}, "valueString": message}),
    ];
    input.extend(inputs);
    json!({"resourceType": "Task",
        "meta": {"profile": [format!("http://dsf.dev/fhir/StructureDefinition/task-{profile}")]},
        "instantiatesCanonical": format!("http://dsf.dev/bpe/Process/{process}"),
        "status": "requested", "intent": "order", "authoredOn": "2026-11-30T10:00:00+01:00",
        "requester": organization(&site.identifier),
        "restriction": {"recipient": [organization(&site.identifier)]},
        "input": input})
}

/// A start-ping Task of `site` to itself.
pub fn start_ping(site: &TestSite) -> Value {
    local_task(site, "ping|1.0", "start-ping|1.0", "startPing", Vec::new())
}

/// `method` on `path` of `site`'s FHIR server as the site itself: status and body.
pub async fn site_call(
    federation: &TestFederation,
    site: &TestSite,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let client = federation.pki.client(Some(&site.certificate));
    let (status, body) = call(&client, method, &site.server.url(path), body).await;
    (status.as_u16(), body)
}

/// Creates `task` on `site`: its id.
pub async fn create_task(federation: &TestFederation, site: &TestSite, task: &Value) -> String {
    let (status, created) = site_call(federation, site, Method::POST, "Task", Some(task)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("Task id").to_owned()
}

/// Creates `task` on `site` and waits until it is finished.
pub async fn run_task(federation: &TestFederation, site: &TestSite, task: &Value) -> Value {
    let id = create_task(federation, site, task).await;
    finished(federation, site, &id).await
}

/// Starts a ping at `site` (to every other site) and waits until its start Task has finished.
pub async fn ping_from(federation: &TestFederation, site: &TestSite) -> Value {
    let id = start_ping_at(federation, site).await;
    finished(federation, site, &id).await
}

/// Creates the start-ping Task at `site`; its id.
pub async fn start_ping_at(federation: &TestFederation, site: &TestSite) -> String {
    let client = federation.pki.client(Some(&site.certificate));
    let (code, created) = call(
        &client,
        Method::POST,
        &site.server.url("Task"),
        Some(&start_ping(site)),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    created["id"].as_str().expect("Task id").to_owned()
}

/// Polls Task `id` on `site` until its status is not requested or in progress.
pub async fn finished(federation: &TestFederation, site: &TestSite, id: &str) -> Value {
    let client = federation.pki.client(Some(&site.certificate));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, task) = call(
            &client,
            Method::GET,
            &site.server.url(&format!("Task/{id}")),
            None,
        )
        .await;
        assert_eq!(status, 200, "{task}");
        if !matches!(task["status"].as_str(), Some("requested" | "in-progress")) {
            return task;
        }
        assert!(Instant::now() < deadline, "Task still {}", task["status"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(organization, status)` of every ping-status output, sorted.
pub fn ping_statuses(task: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = task["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["valueCoding"]["system"] == PING_STATUS)
        .map(|o| {
            let organization = o["extension"][0]["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["url"] == "organization-identifier")
                .map(|e| {
                    e["valueIdentifier"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .unwrap_or_default();
            (
                organization,
                o["valueCoding"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Fails unless the ping `task` completed with these `(organization, status)` ping statuses.
pub fn assert_pinged(task: &Value, expected: &[(&str, &str)]) {
    assert_eq!(task["status"], "completed", "{task}");
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(o, s)| ((*o).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(ping_statuses(task), expected, "{task}");
}

/// Pings dic2 and dic3 from dic1, every site running `plugins`.
pub async fn ping_every_other_site(backend: Backend, plugins: fn() -> Vec<Arc<dyn ProcessPlugin>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(backend, &["dic1", "dic2", "dic3"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut engines = Vec::new();
    for site in &federation.sites {
        engines.push(engine_with(&federation, site, dir.path(), plugins(), Vec::new()).await);
    }
    let dic1 = federation.site("dic1");
    // The engine announced the ping process only after the profiles its Tasks need were stored.
    let (_, history) =
        site_call(&federation, dic1, Method::GET, "_history?_count=1000", None).await;
    let newest_first: Vec<String> = history["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["url"].as_str().map(str::to_owned))
        .collect();
    let written = |url: &str| newest_first.iter().position(|u| u == url);
    let announced = written("http://dsf.dev/bpe/Process/ping").expect("ping ActivityDefinition");
    for profile in ["task-start-ping", "task-ping", "task-pong"] {
        let url = format!("http://dsf.dev/fhir/StructureDefinition/{profile}");
        assert!(written(&url).expect("profile") > announced, "{profile}");
    }
    let task = ping_from(&federation, dic1).await;
    assert_pinged(
        &task,
        &[
            ("dic2.dsf.test", "pong-received"),
            ("dic3.dsf.test", "pong-received"),
        ],
    );
    // The pinged sites completed the ping Tasks they received, with a pong-send output.
    let dic2 = federation.site("dic2");
    let client = federation.pki.client(Some(&dic2.certificate));
    let (_, found) = call(
        &client,
        Method::GET,
        &dic2.server.url("Task?status=completed"),
        None,
    )
    .await;
    let pings: Vec<&Value> = found["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|t| t["instantiatesCanonical"] == "http://dsf.dev/bpe/Process/pong|1.0")
        .collect();
    assert_eq!(pings.len(), 1, "{found}");
    assert!(
        pings[0]["output"].to_string().contains("pong-send"),
        "{}",
        pings[0]
    );
    for engine in engines {
        engine.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reaches_every_other_site_sqlite() {
    ping_every_other_site(Backend::Sqlite, dsf_processes::all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reaches_every_other_site_postgres() {
    ping_every_other_site(Backend::Postgres, dsf_processes::all).await;
}
