//! Ping when things go wrong: a target that is down, a target that refuses the ping, a target
//! that never answers, an engine restarted while its ping waits for the pong, a FHIR server
//! restarted under its engine, and a Task for a process the engine does not run.

use std::time::Duration;

use dsf_testkit::Backend;
use dsf_testkit::federation::{TestFederation, TestSite, task_profile};
use dsf_testkit::secure::call;
use reqwest::Method;
use serde_json::json;

use super::{assert_pinged, engine, engine_with, finished, ping_from, start_ping, start_ping_at};

/// Waits until `site` holds one requested Task (that no engine has taken).
async fn wait_for_requested_task(federation: &TestFederation, site: &TestSite) {
    let client = federation.pki.client(Some(&site.certificate));
    for _ in 0..200 {
        let (_, found) = call(
            &client,
            Method::GET,
            &site.server.url("Task?status=requested"),
            None,
        )
        .await;
        if found["total"].as_u64() == Some(1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no requested Task arrived at {}", site.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_and_refusing_targets_are_reported() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut federation = TestFederation::start(Backend::Sqlite, &["dic1", "dic2", "dic3"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let dic1 = engine(&federation, federation.site("dic1"), dir.path()).await;
    // dic2 runs without the pong process: its server refuses ping Tasks.
    let dic2 = engine_with(
        &federation,
        federation.site("dic2"),
        dir.path(),
        dsf_processes::all(),
        vec!["dsfdev_pong|1.0".to_owned()],
    )
    .await;
    // dic3's server is down.
    federation.sites[2].server.stop();
    let site = federation.site("dic1");
    let task = ping_from(&federation, site).await;
    assert_pinged(
        &task,
        &[
            ("dic2.dsf.test", "not-allowed"),
            ("dic3.dsf.test", "not-reachable"),
        ],
    );
    assert!(task.to_string().contains("error-message"), "{task}");
    dic1.stop().await;
    dic2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pong_times_out() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(Backend::Sqlite, &["dic1", "dic2"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    // dic2 accepts the ping (its resources are there) but its engine is not running.
    let dic2 = engine(&federation, federation.site("dic2"), dir.path()).await;
    dic2.stop().await;
    let dic1 = engine(&federation, federation.site("dic1"), dir.path()).await;
    let site = federation.site("dic1");
    // The model waits 20 s for the pong.
    let task = ping_from(&federation, site).await;
    assert_pinged(&task, &[("dic2.dsf.test", "pong-missing")]);
    dic1.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restarted_while_its_ping_waits_gets_the_pong() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(Backend::Sqlite, &["dic1", "dic2"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let dic2 = engine(&federation, federation.site("dic2"), dir.path()).await;
    dic2.stop().await;
    let site = federation.site("dic1");
    let dic1 = engine(&federation, site, dir.path()).await;
    let id = start_ping_at(&federation, site).await;
    // The ping reached dic2, whose engine is down; dic1's instance waits for the pong.
    let dic2_site = federation.site("dic2");
    wait_for_requested_task(&federation, dic2_site).await;
    dic1.stop().await;
    // dic2 answers while dic1's engine is down; dic1's server keeps the pong Task.
    let dic2 = engine(&federation, dic2_site, dir.path()).await;
    wait_for_requested_task(&federation, site).await;
    // Restarted, dic1's engine catches up on the pong and its ping finishes.
    let dic1 = engine(&federation, site, dir.path()).await;
    let task = finished(&federation, site, &id).await;
    assert_pinged(&task, &[("dic2.dsf.test", "pong-received")]);
    dic1.stop().await;
    dic2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_fhir_server_loses_no_task() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut federation = TestFederation::start(Backend::Sqlite, &["dic1", "dic2"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let dic1 = engine(&federation, federation.site("dic1"), dir.path()).await;
    let dic2 = engine(&federation, federation.site("dic2"), dir.path()).await;
    // dic1's server restarts under its running engine; a ping started right after is handled
    // once the engine has reconnected (catching up on what came meanwhile).
    federation.restart_server("dic1").await;
    let site = federation.site("dic1");
    let task = ping_from(&federation, site).await;
    assert_pinged(&task, &[("dic2.dsf.test", "pong-received")]);
    dic1.stop().await;
    dic2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_for_a_process_the_engine_does_not_run_fails() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let federation = TestFederation::start(Backend::Sqlite, &["dic1"]).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let site = federation.site("dic1");
    let dic1 = engine(&federation, site, dir.path()).await;
    let client = federation.pki.client(Some(&site.certificate));
    // The FHIR server authorizes the process, but no plugin of the engine brings it.
    let coding = |code: &str| json!({"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": code});
    let tag = json!({"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]});
    // Its Task profile, so that the Task passes validation and reaches the engine.
    let profile = task_profile("task-unknown", "http://dsf.dev/bpe/Process/unknown|1.0");
    let (code, body) = call(
        &client,
        Method::POST,
        &site.server.url("StructureDefinition"),
        Some(&profile),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let definition = json!({"resourceType": "ActivityDefinition", "meta": tag,
        "url": "http://dsf.dev/bpe/Process/unknown", "version": "1.0", "status": "active", "kind": "Task",
        "date": "2026-11-30",
        "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization", "extension": [
            {"url": "message-name", "valueString": "start"},
            {"url": "task-profile", "valueCanonical": "http://dsf.dev/fhir/StructureDefinition/task-unknown|1.0"},
            {"url": "requester", "valueCoding": coding("LOCAL_ALL")},
            {"url": "recipient", "valueCoding": coding("LOCAL_ALL")}]}]});
    let (code, body) = call(
        &client,
        Method::POST,
        &site.server.url("ActivityDefinition"),
        Some(&definition),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let mut task = start_ping(site);
    task["meta"]["profile"] = json!(["http://dsf.dev/fhir/StructureDefinition/task-unknown|1.0"]);
    task["instantiatesCanonical"] = json!("http://dsf.dev/bpe/Process/unknown|1.0");
    task["input"][0]["valueString"] = json!("start");
    let (code, created) = call(&client, Method::POST, &site.server.url("Task"), Some(&task)).await;
    assert_eq!(code, 201, "{created}");
    let task = finished(&federation, site, created["id"].as_str().expect("id")).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["output"]
            .to_string()
            .contains("Process http://dsf.dev/bpe/Process/unknown|1.0 not found"),
        "{task}"
    );
    assert!(task["input"].to_string().contains("business-key"), "{task}");
    dic1.stop().await;
}
