//! `dsf demo`: a federation of three sites on localhost (dic1, dic2, ttp) with generated
//! certificates, each site's FHIR server speaking mutual TLS, exercised the way sites talk to
//! each other, then left running to be explored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use dsf_fhir_server::FhirSettings;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::federation::{self, InitArgs};

/// Settings of `dsf demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// FHIR port of dic1; dic2 and ttp get the next ports in steps of 10.
    #[arg(long, default_value_t = 8001)]
    pub base_port: u16,
    /// Directory for the federation's certificates, configuration and databases
    /// [default: a temporary directory, removed at the end].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Stop after the walkthrough instead of serving until Ctrl-C.
    #[arg(long)]
    pub no_wait: bool,
}

const ORG: &str = dsf_fhir_store::search::access::ORGANIZATION_IDENTIFIER;
const JSON: &str = "application/fhir+json";
const SITES: [&str; 3] = ["dic1", "dic2", "ttp"];

/// An HTTPS client of `site`: its client certificate, trusting the federation's CA.
fn site_client(dir: &Path, site: &str) -> anyhow::Result<Client> {
    let read = |p: &str| {
        std::fs::read(dir.join(p)).with_context(|| format!("reading {}", dir.join(p).display()))
    };
    let identity = [
        read(&format!("{site}/client.crt"))?,
        read(&format!("{site}/client.key"))?,
    ]
    .concat();
    Ok(Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&read("ca/ca.crt")?)?])
        .identity(reqwest::Identity::from_pem(&identity)?)
        .build()?)
}

/// The ping process's ActivityDefinition at a site: members with the DIC role may send `ping`.
fn ping_definition() -> Value {
    json!({
        "resourceType": "ActivityDefinition",
        "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
        "url": "http://dsf.dev/bpe/Process/ping", "version": "1.0", "status": "active", "kind": "Task",
        "name": "Ping", "date": "2026-11-30",
        "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization", "extension": [
            {"url": "message-name", "valueString": "ping"},
            {"url": "task-profile", "valueCanonical": "http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"},
            {"url": "requester", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "REMOTE_ROLE",
                "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization-parent-organization-role",
                    "extension": [
                        {"url": "parent-organization", "valueIdentifier": {"system": ORG, "value": "dsf.test"}},
                        {"url": "organization-role", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/organization-role", "code": "DIC"}}]}]}},
            {"url": "recipient", "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "LOCAL_ALL"}}]}]
    })
}

/// A ping Task from `requester` to dic2, as the ping process sends it.
fn ping_task(requester: &str) -> Value {
    json!({
        "resourceType": "Task",
        "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"]},
        "instantiatesCanonical": "http://dsf.dev/bpe/Process/ping|1.0",
        "status": "requested",
        "intent": "order",
        "authoredOn": "2026-11-30T10:00:00+01:00",
        "requester": {"type": "Organization", "identifier": {"system": ORG, "value": format!("{requester}.dsf.test")}},
        "restriction": {"recipient": [{"type": "Organization", "identifier": {"system": ORG, "value": "dic2.dsf.test"}}]},
        "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                   "valueString": "ping"}]
    })
}

/// Sends a request asking for JSON; returns the status and the body.
async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = request.header("accept", JSON).send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, body))
}

/// [`call`], failing unless the answer is a success.
async fn ok(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let (status, body) = call(request).await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// Waits until `url` answers.
async fn wait_until_up(client: &Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..150 {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not come up")
}

/// Runs the demo.
pub async fn run(
    args: &DemoArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temporary.path().join("federation"));
    federation::init(&InitArgs {
        dir: dir.clone(),
        sites: SITES.iter().map(|s| (*s).to_owned()).collect(),
        roles: Vec::new(),
        base_port: args.base_port,
        parent: "dsf.test".to_owned(),
        key_password_file: None,
        days: 30,
        force: true,
    })?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = |site: &str| {
        let settings = FhirSettings {
            config: Some(dir.join(site).join("site.toml")),
            ..FhirSettings::default()
        };
        let mut stopped = stopped.clone();
        async move {
            settings
                .run(async move {
                    // The only change is the stop signal.
                    let _ = stopped.changed().await;
                })
                .await
        }
    };
    let walkthrough = async {
        let result = walkthrough(&dir, args.base_port).await;
        if result.is_ok() && !args.no_wait {
            println!("\nServing until Ctrl-C.");
            shutdown.await;
        }
        let _ = stop.send(true);
        result
    };
    let (dic1, dic2, ttp, result) =
        tokio::join!(server("dic1"), server("dic2"), server("ttp"), walkthrough);
    dic1?;
    dic2?;
    ttp?;
    result
}

/// Sites calling each other: reads, an authorized and an unauthorized Task, processing.
async fn walkthrough(dir: &Path, base_port: u16) -> anyhow::Result<()> {
    let base = |i: u16| format!("https://localhost:{}/fhir", base_port + 10 * i);
    let (dic1, dic2, ttp) = (
        site_client(dir, "dic1")?,
        site_client(dir, "dic2")?,
        site_client(dir, "ttp")?,
    );
    for i in 0..3 {
        wait_until_up(&dic1, &format!("{}/metadata", base(i))).await?;
    }
    println!("\nThree sites are up, each knowing the others from the allow list.\n");

    let organizations = ok(dic1.get(format!("{}/Organization?_summary=count", base(1)))).await?;
    println!(
        "1. dic1 asks dic2 for its Organizations with its client certificate: {} found",
        organizations["total"]
    );
    ok(dic2
        .post(format!("{}/ActivityDefinition", base(1)))
        .header("content-type", JSON)
        .body(ping_definition().to_string()))
    .await?;
    println!("2. dic2 installs the ping process: members with the DIC role may send it ping");
    let task = ok(dic1
        .post(format!("{}/Task", base(1)))
        .header("content-type", JSON)
        .body(ping_task("dic1").to_string()))
    .await?;
    let task_id = task["id"].as_str().unwrap_or_default().to_owned();
    println!("3. dic1 sends ping to dic2: accepted as Task/{task_id}");
    let (status, _) = call(
        ttp.post(format!("{}/Task", base(1)))
            .header("content-type", JSON)
            .body(ping_task("ttp").to_string()),
    )
    .await?;
    println!("4. ttp (role TTP) sends ping to dic2: {status}");
    let task_url = format!("{}/Task/{task_id}", base(1));
    let mut in_progress = task.clone();
    in_progress["status"] = json!("in-progress");
    in_progress["input"]
        .as_array_mut()
        .context("Task inputs")?
        .push(json!({"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "business-key"}]},
                     "valueString": uuid::Uuid::new_v4().to_string()}));
    let in_progress = ok(dic2
        .put(&task_url)
        .header("content-type", JSON)
        .body(in_progress.to_string()))
    .await?;
    let mut completed = in_progress.clone();
    completed["status"] = json!("completed");
    ok(dic2
        .put(&task_url)
        .header("content-type", JSON)
        .body(completed.to_string()))
    .await?;
    println!("5. dic2 processes the Task: in-progress with a business key, then completed");
    let seen = ok(dic1.get(&task_url)).await?;
    let (status, _) = call(ttp.get(&task_url)).await?;
    println!(
        "6. dic1, the requester, reads it at dic2: {}, version {}; ttp may not: {status}",
        seen["status"], seen["meta"]["versionId"]
    );
    let history = ok(dic1.get(format!("{task_url}/_history"))).await?;
    println!(
        "7. Task/{task_id}/_history holds {} versions\n",
        history["total"]
    );

    println!(
        "The federation's files are in {}. Call a site as dic1:",
        dir.display()
    );
    println!(
        "  curl --cacert {d}/ca/ca.crt --cert {d}/dic1/client.crt --key {d}/dic1/client.key \\\n       -H 'Accept: application/fhir+json' '{}/Task?_pretty=true'",
        base(1),
        d = dir.display()
    );
    Ok(())
}
