//! Ping autostart between real sites: with a short timer interval, dic1 starts ping after ping
//! of dic2 until it is stopped; a newer autostart replaces a running one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dsf_bpe::ProcessPlugin;
use dsf_testkit::Backend;
use dsf_testkit::federation::{TestFederation, TestSite};
use reqwest::Method;
use serde_json::{Value, json};

use super::{create_task, engine_with, finished, local_task, ping_statuses, run_task, site_call};

const PING: &str = "http://dsf.dev/fhir/CodeSystem/ping";

fn start_autostart(site: &TestSite, interval: &str) -> Value {
    local_task(
        site,
        "pingAutostart|1.0",
        "start-ping-autostart|1.0",
        "startPingAutostart",
        vec![
            json!({"type": {"coding": [{"system": PING, "code": "target-endpoints"}]},
                   "valueString": "Endpoint?identifier=http://dsf.dev/sid/endpoint-identifier|dic2.dsf.test"}),
            json!({"type": {"coding": [{"system": PING, "code": "timer-interval"}]},
                   "valueString": interval}),
        ],
    )
}

fn stop_autostart(site: &TestSite) -> Value {
    local_task(
        site,
        "pingAutostart|1.0",
        "stop-ping-autostart|1.0",
        "stopPingAutostart",
        Vec::new(),
    )
}

/// The startPing Tasks on `site` (not the draft).
async fn start_pings(federation: &TestFederation, site: &TestSite) -> Vec<Value> {
    let (status, found) = site_call(federation, site, Method::GET, "Task?_count=1000", None).await;
    assert_eq!(status, 200, "{found}");
    found["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["resource"].clone())
        .filter(|t| {
            t["meta"]["profile"][0] == "http://dsf.dev/fhir/StructureDefinition/task-start-ping|1.0"
                && t["status"] != "draft"
        })
        .collect()
}

/// Waits until `site` has at least `n` startPing Tasks.
async fn await_start_pings(federation: &TestFederation, site: &TestSite, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pings = start_pings(federation, site).await;
        if pings.len() >= n {
            return pings;
        }
        assert!(
            Instant::now() < deadline,
            "{} startPing Tasks, {n} expected",
            pings.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Task `id` on `site` as it is now.
async fn task(federation: &TestFederation, site: &TestSite, id: &str) -> Value {
    let (status, task) =
        site_call(federation, site, Method::GET, &format!("Task/{id}"), None).await;
    assert_eq!(status, 200, "{task}");
    task
}

/// Starts autostart at dic1 with an interval of 2 s, replaces it with a second one, and stops
/// that; every site runs `plugins`.
pub async fn autostart_pings_until_stopped(plugins: fn() -> Vec<Arc<dyn ProcessPlugin>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(Backend::Sqlite, &["dic1", "dic2"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut engines = Vec::new();
    for site in &federation.sites {
        let engine = engine_with(&federation, site, dir.path(), plugins(), Vec::new()).await;
        assert!(
            engine.deployment().warnings.is_empty(),
            "{:?}",
            engine.deployment().warnings
        );
        engines.push(engine);
    }
    let dic1 = federation.site("dic1");
    let first_id = create_task(&federation, dic1, &start_autostart(dic1, "PT2S")).await;

    // A startPing at once and one after every interval, each a ping of its own.
    let pings = await_start_pings(&federation, dic1, 3).await;
    assert_eq!(
        task(&federation, dic1, &first_id).await["status"],
        "in-progress"
    );
    let mut business_keys = std::collections::HashSet::new();
    for ping in &pings[..3] {
        assert_eq!(ping["requester"]["identifier"]["value"], "dic1.dsf.test");
        assert_eq!(
            ping["instantiatesCanonical"],
            "http://dsf.dev/bpe/Process/ping|1.0"
        );
        assert!(
            ping.to_string()
                .contains("endpoint-identifier|dic2.dsf.test"),
            "the target-endpoints input is passed on: {ping}"
        );
        let ping = finished(&federation, dic1, ping["id"].as_str().expect("id")).await;
        assert_eq!(
            ping_statuses(&ping),
            vec![("dic2.dsf.test".to_owned(), "pong-received".to_owned())],
            "{ping}"
        );
        business_keys.extend(
            ping["input"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["type"]["coding"][0]["code"] == "business-key")
                .filter_map(|i| i["valueString"].as_str().map(str::to_owned)),
        );
    }
    assert_eq!(
        business_keys.len(),
        3,
        "every startPing starts a ping of its own"
    );

    // A newer autostart stops the running one.
    let second_id = create_task(&federation, dic1, &start_autostart(dic1, "PT2S")).await;
    let first = finished(&federation, dic1, &first_id).await;
    assert_eq!(first["status"], "completed", "{first}");
    let before = start_pings(&federation, dic1).await.len();
    await_start_pings(&federation, dic1, before + 1).await;
    assert_eq!(
        task(&federation, dic1, &second_id).await["status"],
        "in-progress"
    );

    // Stopping ends it: no more startPing Tasks.
    let stopped = run_task(&federation, dic1, &stop_autostart(dic1)).await;
    assert_eq!(stopped["status"], "completed", "{stopped}");
    let second = finished(&federation, dic1, &second_id).await;
    assert_eq!(second["status"], "completed", "{second}");
    let after_stop = start_pings(&federation, dic1).await.len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(start_pings(&federation, dic1).await.len(), after_stop);
    for engine in engines {
        engine.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_pings_at_the_interval_until_stopped() {
    autostart_pings_until_stopped(dsf_processes::all).await;
}
