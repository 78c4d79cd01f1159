//! A federation written by `dsf federation init`, each site's server started with
//! `dsf fhir --config <site>/site.toml`: sites know each other from the allow list, and a Task
//! from dic2 to dic1 is accepted when dic1's ActivityDefinition authorizes dic2 and refused
//! otherwise; with `dsf bpe --config` beside each server, the sites ping each other.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dsf_testkit::federation::task_profile;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ORG: &str = "http://dsf.dev/sid/organization-identifier";
const JSON: &str = "application/fhir+json";

/// A running site server, killed when dropped.
struct Site(Child);

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dsf federation init DIR --sites SITES --base-port PORT`.
fn init(dir: &Path, sites: &str, base_port: u32) {
    let init = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["federation", "init"])
        .arg(dir)
        .args(["--sites", sites, "--base-port", &base_port.to_string()])
        .output()
        .expect("run dsf federation init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
}

fn client(dir: &Path, site: &str) -> Client {
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).expect("PEM file");
    let (ca, cert, key) = (
        read("ca/ca.crt"),
        read(&format!("{site}/client.crt")),
        read(&format!("{site}/client.key")),
    );
    dsf_testkit::secure::https_client(&ca, Some((&cert, &key)))
}

async fn post(client: &Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .header("content-type", JSON)
        .header("accept", JSON)
        .body(body.to_string())
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn task(requester: &str) -> Value {
    json!({"resourceType": "Task",
           "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"]},
           "instantiatesCanonical": "http://dsf.dev/bpe/Process/ping|1.0",
           "status": "requested", "intent": "order", "authoredOn": "2026-11-30T10:00:00+01:00",
           "requester": {"type": "Organization", "identifier": {"system": ORG, "value": requester}},
           "restriction": {"recipient": [{"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}}]},
           "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                      "valueString": "ping"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_of_a_federation_authorize_each_other() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("federation");
    // Ports away from common services and from other test runs on the machine.
    // Below the ephemeral range (32768 and up), where outgoing connections would collide.
    let base_port = 20_000 + (std::process::id() % 400) * 30;
    init(&dir, "dic1,dic2,ttp", base_port);

    let sites: Vec<Site> = ["dic1", "dic2", "ttp"]
        .iter()
        .map(|site| {
            Site(
                Command::new(env!("CARGO_BIN_EXE_dsf"))
                    .args(["fhir", "--config"])
                    .arg(dir.join(site).join("site.toml"))
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("start site"),
            )
        })
        .collect();
    let base = |i: u32| format!("https://localhost:{}/fhir", base_port + 10 * i);
    let (dic1, dic2, ttp) = (
        client(&dir, "dic1"),
        client(&dir, "dic2"),
        client(&dir, "ttp"),
    );

    // Every site accepts every member once it is up.
    for i in 0..3 {
        let url = format!("{}/metadata", base(i));
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(response) = ttp.get(&url).send().await {
                assert_eq!(response.status(), StatusCode::OK, "{url}");
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(ready, "site {i} did not come up");
    }

    // dic1 authorizes dic2 (and nobody else) to send it ping.
    let definition = json!({"resourceType": "ActivityDefinition", "date": "2026-11-30",
        "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
        "url": "http://dsf.dev/bpe/Process/ping", "version": "1.0", "status": "active", "kind": "Task",
        "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization", "extension": [
            {"url": "message-name", "valueString": "ping"},
            {"url": "task-profile", "valueCanonical": "http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"},
            {"url": "requester", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "REMOTE_ORGANIZATION",
                "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-organization",
                               "valueIdentifier": {"system": ORG, "value": "dic2.dsf.test"}}]}},
            {"url": "recipient", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "LOCAL_ALL"}}]}]});
    let (status, body) = post(
        &dic1,
        &format!("{}/ActivityDefinition", base(0)),
        &definition,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The Task profile the definition names, as a plugin deployment would bring it.
    let profile = task_profile("task-ping", "http://dsf.dev/bpe/Process/ping|1.0");
    let (status, body) = post(&dic1, &format!("{}/StructureDefinition", base(0)), &profile).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = post(
        &dic2,
        &format!("{}/ActivityDefinition", base(0)),
        &definition,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a remote site may not write definitions"
    );

    let (status, body) = post(&dic2, &format!("{}/Task", base(0)), &task("dic2.dsf.test")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "dic2 may send ping to dic1: {body}"
    );
    let (status, _) = post(&ttp, &format!("{}/Task", base(0)), &task("ttp.dsf.test")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "ttp is not authorized");
    drop(sites);
}

#[test]
fn unusable_certificates_stop_start_up_with_one_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("federation");
    let init = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["federation", "init"])
        .arg(&dir)
        .args(["--sites", "dic1,dic2"])
        .output()
        .expect("run dsf federation init");
    assert!(init.status.success());
    let start = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_dsf"))
            .args([command, "--config"])
            .arg(dir.join("dic1/site.toml"))
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run dsf")
    };
    // A key that belongs to another certificate: the server alone, and a whole site, stop at once.
    std::fs::copy(dir.join("dic2/server.key"), dir.join("dic1/server.key")).expect("copy key");
    for command in ["fhir", "site"] {
        let output = start(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "dsf {command}");
        assert!(
            stderr.contains("does not match") && stderr.contains("dic1/server.key"),
            "dsf {command}: {stderr}"
        );
    }
    // A missing certificate.
    std::fs::remove_file(dir.join("dic1/server.crt")).expect("remove certificate");
    let output = start("fhir");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("dic1/server.crt"), "{stderr}");
    // The engine without its client certificate.
    std::fs::remove_file(dir.join("dic1/client.crt")).expect("remove certificate");
    let output = start("bpe");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("dic1/client.crt"), "{stderr}");
}

/// The JSON at `url`; `Null` while the server is not up.
async fn get(client: &Client, url: &str) -> Value {
    let Ok(response) = client.get(url).header("accept", JSON).send().await else {
        return Value::Null;
    };
    serde_json::from_slice(&response.bytes().await.expect("body")).unwrap_or(Value::Null)
}

/// Each site as two processes, `dsf fhir` and `dsf bpe` talking over HTTPS: dic1's ping reaches
/// dic2 and its pong comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_and_engines_apart_ping_each_other() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("federation");
    // Below the ephemeral range, apart from the other test's ports.
    let base_port = 12_000 + (std::process::id() % 400) * 20;
    init(&dir, "dic1,dic2", base_port);
    let mut processes = Vec::new();
    for site in ["dic1", "dic2"] {
        for command in ["bpe", "fhir"] {
            processes.push(Site(
                Command::new(env!("CARGO_BIN_EXE_dsf"))
                    .args([command, "--config"])
                    .arg(dir.join(site).join("site.toml"))
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("start process"),
            ));
        }
    }
    let dic1 = client(&dir, "dic1");
    let base = format!("https://localhost:{base_port}/fhir");
    // Up when both engines have deployed ping/pong on their servers.
    for port in [base_port, base_port + 10] {
        let url = format!(
            "https://localhost:{port}/fhir/ActivityDefinition?url=http://dsf.dev/bpe/Process/pong&_summary=count"
        );
        let mut waited = 0;
        while get(&dic1, &url).await["total"].as_u64().unwrap_or(0) == 0 {
            waited += 1;
            assert!(waited < 300, "the engine of port {port} did not deploy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let organization =
        json!({"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}});
    let start = json!({"resourceType": "Task",
        "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-start-ping|1.0"]},
        "instantiatesCanonical": "http://dsf.dev/bpe/Process/ping|1.0",
        "status": "requested", "intent": "order", "authoredOn": "2026-11-30T10:00:00+01:00",
        "requester": organization, "restriction": {"recipient": [organization]},
        "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                   "valueString": "startPing"}]});
    let (status, created) = post(&dic1, &format!("{base}/Task"), &start).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let url = format!("{base}/Task/{}", created["id"].as_str().expect("id"));
    let mut waited = 0;
    let task = loop {
        let task = get(&dic1, &url).await;
        if task["status"] == "completed" || task["status"] == "failed" {
            break task;
        }
        waited += 1;
        assert!(waited < 600, "the ping did not finish: {task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(task["status"], "completed", "{task}");
    assert!(task.to_string().contains("pong-received"), "{task}");
    drop(processes);
}
