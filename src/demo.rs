//! `dsf demo`: a federation on localhost with generated certificates, every site a FHIR server
//! with mutual TLS and a process engine in this one process; every site pings every other with
//! the ping/pong processes, and the results are printed as a table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Client;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::federation::{self, InitArgs};
use crate::site;

/// Settings of `dsf demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The sites; names starting with dic, ttp, hrp, cos or dms get those roles.
    #[arg(long, value_delimiter = ',', default_value = "dic1,dic2,dic3,ttp,hrp")]
    pub sites: Vec<String>,
    /// FHIR port of the first site; the others follow in steps of 10.
    #[arg(long, default_value_t = 8001)]
    pub base_port: u16,
    /// Directory for the federation's certificates, configuration and databases
    /// [default: a temporary directory, removed at the end].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Stay up after the pings and print how to reach each site, until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

const ORG: &str = "http://dsf.dev/sid/organization-identifier";
const BPMN_MESSAGE: &str = "http://dsf.dev/fhir/CodeSystem/bpmn-message";
const JSON: &str = "application/fhir+json";
/// How long the sites may take to come up, and the pings to finish.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One site of the demo.
pub(crate) struct DemoSite {
    pub(crate) name: String,
    pub(crate) identifier: String,
    pub(crate) base_url: String,
    client: Client,
}

impl DemoSite {
    fn new(dir: &Path, name: &str, port: u16) -> anyhow::Result<DemoSite> {
        let read = |p: &str| {
            std::fs::read(dir.join(p)).with_context(|| format!("reading {}", dir.join(p).display()))
        };
        let identity = [
            read(&format!("{name}/client.crt"))?,
            read(&format!("{name}/client.key"))?,
        ]
        .concat();
        let client = Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&read("ca/ca.crt")?)?])
            .identity(reqwest::Identity::from_pem(&identity)?)
            .build()?;
        Ok(DemoSite {
            name: name.to_owned(),
            identifier: format!("{name}.dsf.test"),
            base_url: format!("https://localhost:{port}/fhir"),
            client,
        })
    }

    /// `GET` or `POST` (with `body`) of `path` as JSON; fails unless the answer is a success.
    pub(crate) async fn call(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}/{path}", self.base_url);
        let request = match body {
            Some(body) => self
                .client
                .post(&url)
                .header("content-type", JSON)
                .body(body.to_string()),
            None => self.client.get(&url),
        };
        let response = request.header("accept", JSON).send().await?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{url}: {status}: {body}");
        }
        Ok(body)
    }

    /// Every Task of the site the demo's client may read.
    async fn tasks(&self) -> anyhow::Result<Vec<Value>> {
        let bundle = self.call("Task?_count=1000", None).await?;
        Ok(bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["resource"].clone())
            .collect())
    }
}

/// A start-ping Task of `site` to itself: ping every other site.
pub(crate) fn start_ping(site: &DemoSite) -> Value {
    let organization =
        json!({"type": "Organization", "identifier": {"system": ORG, "value": site.identifier}});
    json!({
        "resourceType": "Task",
        "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-start-ping|1.0"]},
        "instantiatesCanonical": "http://dsf.dev/bpe/Process/ping|1.0",
        "status": "requested",
        "intent": "order",
        "authoredOn": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "requester": organization,
        "restriction": {"recipient": [organization]},
        "input": [{"type": {"coding": [{"system": BPMN_MESSAGE, "code": "message-name"}]}, "valueString": "startPing"}]
    })
}

/// Sites started in this process (FHIR server and engine each), up and with ping deployed.
pub(crate) struct RunningFederation {
    /// The sites, in the order given.
    pub(crate) sites: Vec<DemoSite>,
    /// Where their files are.
    pub(crate) dir: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    running: std::thread::JoinHandle<anyhow::Result<()>>,
    _temporary: tempfile::TempDir,
}

impl RunningFederation {
    /// Writes a federation of `names` into `dir` (a temporary directory if `None`), starts every
    /// site and waits until each has deployed the ping process.
    pub(crate) async fn start(
        names: &[String],
        base_port: u16,
        dir: Option<PathBuf>,
        started: Instant,
    ) -> anyhow::Result<RunningFederation> {
        let temporary = tempfile::tempdir()?;
        let dir = dir.unwrap_or_else(|| temporary.path().join("federation"));
        federation::init(&InitArgs {
            dir: dir.clone(),
            sites: names.to_vec(),
            roles: Vec::new(),
            base_port,
            parent: "dsf.test".to_owned(),
            key_password_file: None,
            days: 30,
            force: true,
        })?;
        let sites = names
            .iter()
            .zip((base_port..).step_by(10))
            .map(|(name, port)| DemoSite::new(&dir, name, port))
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!(
            "Starting {} sites (FHIR server and process engine each) in {}",
            sites.len(),
            dir.display()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let configs: Vec<PathBuf> = sites
            .iter()
            .map(|s| dir.join(&s.name).join("site.toml"))
            .collect();
        // The sites run on a runtime of their own, in a thread of their own.
        let running = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().context("starting the sites' runtime")?;
            runtime.block_on(async move {
                let sites = configs.iter().map(|config| {
                    let mut stopped = stopped.clone();
                    async move {
                        site::run_site(config, async move {
                            let _ = stopped.changed().await;
                        })
                        .await
                        .with_context(|| format!("site {}", config.display()))
                    }
                });
                futures::future::join_all(sites)
                    .await
                    .into_iter()
                    .collect::<anyhow::Result<Vec<()>>>()
                    .map(|_| ())
            })
        });
        let federation = RunningFederation {
            sites,
            dir,
            stop,
            running,
            _temporary: temporary,
        };
        if let Err(e) = federation.wait_until_up(started).await {
            return Err(federation.stop().await.err().unwrap_or(e));
        }
        Ok(federation)
    }

    /// Waits until every site's engine has deployed the ping process on its FHIR server.
    async fn wait_until_up(&self, started: Instant) -> anyhow::Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        for site in &self.sites {
            loop {
                let found = site
                    .call(
                        "ActivityDefinition?url=http://dsf.dev/bpe/Process/ping&status=active&_summary=count",
                        None,
                    )
                    .await;
                if found.is_ok_and(|b| b["total"].as_u64().unwrap_or(0) > 0) {
                    break;
                }
                if Instant::now() > deadline || self.running.is_finished() {
                    bail!("site {} did not come up", site.name);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            println!(
                "  {:<6} up at {} ({:.1} s)",
                site.name,
                site.base_url,
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    /// Stops every site; the first site's failure, if any.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let running = self.running;
        tokio::task::spawn_blocking(move || running.join())
            .await
            .context("waiting for the sites")?
            .map_err(|_| anyhow::anyhow!("a site panicked"))?
    }
}

/// Runs the demo.
pub async fn run(
    args: &DemoArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let federation =
        RunningFederation::start(&args.sites, args.base_port, args.dir.clone(), started).await?;
    let result = pings(&federation.sites, started).await;
    if result.is_ok() && args.keep {
        print_access(&federation.dir, &federation.sites);
        shutdown.await;
    }
    let stopped = federation.stop().await;
    result.and(stopped)
}

/// Starts a ping at `site` and waits until its start Task has finished.
pub(crate) async fn ping(site: &DemoSite, deadline: Instant) -> anyhow::Result<Value> {
    let task = site.call("Task", Some(&start_ping(site))).await?;
    let id = task["id"].as_str().context("Task id")?.to_owned();
    finished(site, &id, deadline).await
}

/// Polls Task `id` of `site` until it is neither requested nor in progress.
pub(crate) async fn finished(
    site: &DemoSite,
    id: &str,
    deadline: Instant,
) -> anyhow::Result<Value> {
    loop {
        let task = site.call(&format!("Task/{id}"), None).await?;
        if !matches!(task["status"].as_str(), Some("requested" | "in-progress")) {
            return Ok(task);
        }
        if Instant::now() > deadline {
            bail!("the ping of {} did not finish", site.name);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Pings every other site from each, prints the table; fails if any ping did not come back.
async fn pings(sites: &[DemoSite], started: Instant) -> anyhow::Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    println!("Every site pings every other site ...");
    let tasks = futures::future::try_join_all(sites.iter().map(|s| ping(s, deadline))).await?;
    let mut results = BTreeMap::new();
    for (site, task) in sites.iter().zip(&tasks) {
        for (target, status, key) in ping_statuses(task) {
            let rtt = round_trip(site, sites, &target, &key).await.ok();
            results.insert((site.name.clone(), target), (status, rtt));
        }
    }
    print_table(sites, &results);
    println!(
        "\nFrom start to the full table: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let failed = results
        .values()
        .filter(|(status, _)| status != "pong-received")
        .count();
    let expected = sites.len() * sites.len().saturating_sub(1);
    if failed > 0 || results.len() != expected {
        bail!(
            "{failed} of {expected} pings failed, {} have no result",
            expected.saturating_sub(results.len())
        );
    }
    Ok(())
}

/// `(target organization, status, correlation key)` of every ping-status output.
pub(crate) fn ping_statuses(task: &Value) -> Vec<(String, String, String)> {
    task["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["valueCoding"]["system"] == "http://dsf.dev/fhir/CodeSystem/ping-status")
        .map(|o| {
            let detail = |url: &str| {
                o["extension"][0]["extension"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["url"] == url)
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            (
                detail("organization-identifier")["valueIdentifier"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                o["valueCoding"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                detail("correlation-key")["valueString"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// The value of a Task's `correlation-key` input.
fn correlation_key(task: &Value) -> Option<&str> {
    task["input"].as_array()?.iter().find_map(|i| {
        (i["type"]["coding"][0]["code"] == "correlation-key")
            .then(|| i["valueString"].as_str())
            .flatten()
    })
}

/// From the ping Task's `authoredOn` (set by the pinging site when it sent it) to the pong
/// Task's arrival at the pinging site (its first version), found by correlation key.
pub(crate) async fn round_trip(
    origin: &DemoSite,
    sites: &[DemoSite],
    target: &str,
    key: &str,
) -> anyhow::Result<Duration> {
    let target = sites
        .iter()
        .find(|s| s.identifier == target)
        .context("target site")?;
    let ping = target
        .tasks()
        .await?
        .into_iter()
        .find(|t| correlation_key(t) == Some(key))
        .context("ping Task")?;
    let pong = origin
        .tasks()
        .await?
        .into_iter()
        .find(|t| {
            correlation_key(t) == Some(key)
                && t["instantiatesCanonical"] == "http://dsf.dev/bpe/Process/ping|1.0"
        })
        .context("pong Task")?;
    let id = pong["id"].as_str().context("pong Task id")?;
    let history = origin.call(&format!("Task/{id}/_history"), None).await?;
    let arrived = history["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["meta"]["lastUpdated"].as_str())
        .filter_map(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .min()
        .context("pong arrival")?;
    let sent = OffsetDateTime::parse(ping["authoredOn"].as_str().unwrap_or_default(), &Rfc3339)?;
    Ok(Duration::try_from(arrived - sent).unwrap_or_default())
}

fn print_table(
    sites: &[DemoSite],
    results: &BTreeMap<(String, String), (String, Option<Duration>)>,
) {
    println!();
    print!("{:<10}", "from \\ to");
    for site in sites {
        print!("{:>18}", site.name);
    }
    println!();
    for from in sites {
        print!("{:<10}", from.name);
        for to in sites {
            let cell = if from.name == to.name {
                "-".to_owned()
            } else {
                match results.get(&(from.name.clone(), to.identifier.clone())) {
                    Some((status, Some(rtt))) => {
                        format!("{} {:.0} ms", short(status), rtt.as_secs_f64() * 1000.0)
                    }
                    Some((status, None)) => short(status).to_owned(),
                    None => "no result".to_owned(),
                }
            };
            print!("{cell:>18}");
        }
        println!();
    }
}

/// The table's word for a ping status.
fn short(status: &str) -> &str {
    match status {
        "pong-received" => "pong",
        other => other,
    }
}

fn print_access(dir: &Path, sites: &[DemoSite]) {
    println!("\nThe sites stay up until Ctrl-C. Call a site with its client certificate:");
    for site in sites {
        println!(
            "  curl --cacert {d}/ca/ca.crt --cert {d}/{n}/client.crt --key {d}/{n}/client.key \\\n       -H 'Accept: application/fhir+json' '{}/Task?_sort=-_lastUpdated&_pretty=true'",
            site.base_url,
            d = dir.display(),
            n = site.name
        );
    }
}
