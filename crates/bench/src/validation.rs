//! `dsf bench validation`: what profile validation costs Task creates.
//!
//! Per store, two servers on the same store, one validating writes and one not, both with the DSF
//! core profiles and the resources of the ping/pong plugin's pong process. The Task created is the
//! ping Task exactly as the process engine sends it (profile `task-ping` on the DSF Task profile,
//! slices on `input`). Before measuring, the validating server must accept it and refuse a copy
//! without its `endpoint-identifier` input that the other server accepts. Rounds alternate
//! between the servers; each side's rate is its creates over its time in all rounds, its
//! latencies the median round's. Beside them: validations per second of the same Task in this
//! process, on one core.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use dsf_bpe::api::{Message, ProcessPluginApi};
use dsf_bpe::client::FhirClients;
use dsf_bpe::task::{ENDPOINT_IDENTIFIER, parameter};
use dsf_bpe::tls::ClientTls;
use dsf_bpe::{ProcessPlugin, Target};
use dsf_fhir::Resource;
use dsf_fhir_server::state::AppState;
use dsf_fhir_server::{AuthMode, ServerConfig, init_bundle, startup};
use dsf_fhir_store::{Store, StoreConfig};
use dsf_processes::ping_pong::{PING, PingPong};
use serde_json::{Value, json};

use crate::fhir::{check, ms};
use crate::load::{self, Stats};
use crate::stores::{self, StoreArgs};

/// The local organization of the benchmark servers, sender and recipient of the pings.
const LOCAL: &str = "dic1.dsf.test";
/// The process the pong's resources belong to.
const PONG_PROCESS: &str = "dsfdev_pong";

/// Settings of `dsf bench validation`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidationBenchArgs {
    /// Concurrent HTTP clients creating Tasks.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Creates per side (validated, unvalidated) over all rounds.
    #[arg(long, default_value_t = 5_000)]
    pub creates: usize,
    /// Alternating rounds per side.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Validations of the Task in this process.
    #[arg(long, default_value_t = 20_000)]
    pub validations: usize,
    /// The stores measured.
    #[command(flatten)]
    pub stores: StoreArgs,
}

/// The figures of one store.
#[derive(Debug, Clone)]
pub struct Figures {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Creates on the validating server.
    pub validated: Stats,
    /// Creates on the server that does not validate.
    pub unvalidated: Stats,
    /// `Validator::validate` of the Task per second, one core.
    pub validations_per_second: f64,
}

impl Figures {
    /// The share of the create rate validation costs, in percent.
    pub fn cost(&self) -> f64 {
        100.0 * (1.0 - self.validated.per_second / self.unvalidated.per_second)
    }
}

/// The ping Tasks the process engine sends: through its own [`ProcessPluginApi::message_task`].
struct Pings {
    api: ProcessPluginApi,
    version: String,
}

impl Pings {
    fn new() -> anyhow::Result<Pings> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let tls = ClientTls {
            https: Arc::new(tls.clone()),
            websocket: Arc::new(tls),
        };
        let clients = FhirClients::new(&tls)?;
        Ok(Pings {
            api: ProcessPluginApi::new(clients, &format!("https://{LOCAL}/fhir"), LOCAL),
            version: PingPong.resource_version(),
        })
    }

    /// The `i`th ping of this site to itself, as `SendPing` sends it.
    fn task(&self, i: usize) -> Value {
        let message = Message {
            instantiates_canonical: format!("http://dsf.dev/bpe/Process/pong|{}", self.version),
            message_name: "ping".to_owned(),
            profile: format!(
                "http://dsf.dev/fhir/StructureDefinition/task-ping|{}",
                self.version
            ),
            business_key: Some(uuid::Uuid::from_u128(i as u128).to_string()),
            inputs: vec![parameter(
                PING,
                "endpoint-identifier",
                "valueReference",
                json!({"type": "Endpoint", "identifier": {"system": ENDPOINT_IDENTIFIER, "value": LOCAL}}),
            )],
        };
        let target = Target {
            organization_identifier_value: LOCAL.to_owned(),
            endpoint_identifier_value: LOCAL.to_owned(),
            endpoint_url: format!("https://{LOCAL}/fhir"),
            correlation_key: Some(uuid::Uuid::new_v4().to_string()),
        };
        self.api.message_task(&message, &target)
    }
}

/// The pong process's resources as deploying writes them (placeholders filled, active), and the
/// local Organization, as a transaction Bundle.
fn plugin_bundle() -> anyhow::Result<Resource> {
    let properties = HashMap::from([
        ("version".to_owned(), PingPong.resource_version()),
        ("date".to_owned(), PingPong.release_date().to_owned()),
        ("organization".to_owned(), LOCAL.to_owned()),
    ]);
    let files = PingPong
        .resources()
        .into_iter()
        .find(|p| p.process_id == PONG_PROCESS)
        .context("the ping/pong plugin has no pong process")?
        .files;
    let mut resources = vec![json!({"resourceType": "Organization", "active": true,
        "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
        "identifier": [{"system": "http://dsf.dev/sid/organization-identifier", "value": LOCAL}]})];
    for file in files {
        let filled = dsf_bpmn::parse::placeholders::fill(&file.content, &properties)
            .map_err(|p| anyhow::anyhow!("{}: placeholders left: {p:?}", file.file))?;
        let mut resource: Value =
            serde_json::from_str(&filled).with_context(|| file.file.to_string())?;
        // Deploying an active process makes its definitions active.
        resource["status"] = json!("active");
        resources.push(resource);
    }
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = r["resourceType"].clone();
            json!({"resource": r, "request": {"method": "POST", "url": url}})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    Resource::from_json_value(bundle).map_err(anyhow::Error::msg)
}

/// Starts a development server of [`LOCAL`] on `store`, validating writes or not; returns its
/// state and base URL.
async fn start_server(store: Store, validation: bool) -> anyhow::Result<(AppState, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let mut config = ServerConfig::new(&base).map_err(anyhow::Error::msg)?;
    config.organization_identifier = LOCAL.to_owned();
    config.validation = validation;
    let state = AppState::new(store, config, AuthMode::DevInsecure);
    let served = state.clone();
    tokio::spawn(async move {
        let _ = dsf_fhir_server::serve_state(listener, served, std::future::pending()).await;
    });
    Ok((state, base))
}

/// POSTs `task` to `base`; the status and the body.
async fn create(
    client: &reqwest::Client,
    base: &str,
    task: &Value,
) -> anyhow::Result<(u16, String)> {
    let response = load::post_task(client, format!("{base}/Task"), task.to_string()).await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// Fails unless the validating server accepts the ping and refuses it without its
/// `endpoint-identifier` input, which the other server accepts.
async fn verify(
    client: &reqwest::Client,
    pings: &Pings,
    validating: &str,
    plain: &str,
) -> anyhow::Result<()> {
    let task = pings.task(0);
    let (status, body) = create(client, validating, &task).await?;
    if status != 201 {
        bail!("the validating server answers the ping Task with {status}, not 201: {body}");
    }
    let mut mutated = task;
    if let Some(inputs) = mutated["input"].as_array_mut() {
        inputs.retain(|i| i["type"]["coding"][0]["code"] != "endpoint-identifier");
    }
    let (status, body) = create(client, validating, &mutated).await?;
    if status != 403 {
        bail!("the validating server answers an invalid ping Task with {status}, not 403: {body}");
    }
    let (status, body) = create(client, plain, &mutated).await?;
    if status != 201 {
        bail!("the server without validation answers the invalid ping Task with {status}: {body}");
    }
    Ok(())
}

/// Creates pings `from..from + total` at `base` on `clients` connections.
async fn creates(
    client: &reqwest::Client,
    pings: &Arc<Pings>,
    base: &str,
    clients: usize,
    from: usize,
    total: usize,
) -> anyhow::Result<Stats> {
    let (client, pings, url) = (client.clone(), pings.clone(), format!("{base}/Task"));
    load::run(clients, total, move |i| {
        let (client, url, body) = (
            client.clone(),
            url.clone(),
            pings.task(from + i).to_string(),
        );
        async move {
            let response = load::post_task(&client, url, body).await?;
            check(&response, 201)?;
            response.bytes().await?;
            Ok(())
        }
    })
    .await
}

/// All rounds of one side as one: creates over the time they took, latencies of the median
/// round.
fn combine(mut rounds: Vec<Stats>, per_round: usize) -> Stats {
    let seconds: f64 = rounds.iter().map(|r| per_round as f64 / r.per_second).sum();
    rounds.sort_by_key(|r| r.p50);
    let median = rounds[rounds.len() / 2];
    Stats {
        per_second: (per_round * rounds.len()) as f64 / seconds.max(f64::EPSILON),
        ..median
    }
}

/// `Validator::validate` of the ping Task per second on one core, with the validating server's
/// validator (its profiles compiled by the creates before).
async fn validations_per_second(
    state: &AppState,
    task: Value,
    total: usize,
) -> anyhow::Result<f64> {
    let validator = state.profiles.latest().await?;
    let issues = validator.validate(&task);
    if let Some(error) = issues.iter().find(|i| i.is_error()) {
        bail!("the ping Task is invalid in-process: {}", error.message);
    }
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        for _ in 0..total {
            std::hint::black_box(validator.validate(std::hint::black_box(&task)));
        }
        total as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON)
    })
    .await
    .map_err(anyhow::Error::from)
}

async fn measure(
    args: &ValidationBenchArgs,
    name: &'static str,
    config: StoreConfig,
) -> anyhow::Result<Figures> {
    let store = Store::open(&config).await?;
    let (validating, validating_base) = start_server(store.clone(), true).await?;
    let (_, plain_base) = start_server(store.clone(), false).await?;
    startup::load_conformance(&validating).await?;
    init_bundle::load(&validating, plugin_bundle()?)
        .await
        .map_err(|e| anyhow::anyhow!("plugin resources: {} {:?}", e.status, e.issues))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .http1_only()
        .build()?;
    let pings = Arc::new(Pings::new()?);
    verify(&client, &pings, &validating_base, &plain_base).await?;
    // Warm up connections and caches.
    for base in [&validating_base, &plain_base] {
        creates(&client, &pings, base, args.clients, 0, args.clients * 20).await?;
    }
    let rounds = args.rounds.max(1);
    let per_round = (args.creates / rounds).max(1);
    let (mut validated, mut unvalidated) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!(
            "{name}: round {}/{rounds}: creates validated, then unvalidated ...",
            round + 1
        );
        let from = 1_000_000 * (round + 1);
        validated.push(
            creates(
                &client,
                &pings,
                &validating_base,
                args.clients,
                from,
                per_round,
            )
            .await?,
        );
        unvalidated.push(
            creates(
                &client,
                &pings,
                &plain_base,
                args.clients,
                from + 500_000,
                per_round,
            )
            .await?,
        );
    }
    eprintln!("{name}: validations in-process ...");
    let validations_per_second =
        validations_per_second(&validating, pings.task(0), args.validations).await?;
    store.close().await;
    Ok(Figures {
        store: name,
        validated: combine(validated, per_round),
        unvalidated: combine(unvalidated, per_round),
        validations_per_second,
    })
}

fn print(args: &ValidationBenchArgs, figures: &[Figures]) {
    println!();
    println!(
        "dsf bench validation: ping Task creates (task-ping on the DSF Task profile) on {} \
         keep-alive HTTP/1.1 clients, {} alternating rounds, loopback, {} cores",
        args.clients,
        args.rounds.max(1),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<9} {:>14} {:>10} {:>10} {:>16} {:>10} {:>10} {:>7} {:>22}",
        "store",
        "validated/s",
        "p50",
        "p99",
        "unvalidated/s",
        "p50",
        "p99",
        "cost",
        "validations/s, 1 core"
    );
    for f in figures {
        println!(
            "{:<9} {:>14.0} {:>10} {:>10} {:>16.0} {:>10} {:>10} {:>6.1}% {:>22.0}",
            f.store,
            f.validated.per_second,
            ms(f.validated.p50),
            ms(f.validated.p99),
            f.unvalidated.per_second,
            ms(f.unvalidated.p50),
            ms(f.unvalidated.p99),
            f.cost(),
            f.validations_per_second
        );
    }
}

/// Runs the benchmark on SQLite and PostgreSQL and prints the figures.
pub async fn run(args: &ValidationBenchArgs) -> anyhow::Result<Vec<Figures>> {
    let figures = stores::on_each(&args.stores, |name, config| measure(args, name, config)).await?;
    print(args, &figures);
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_small_scale() {
        crate::install_crypto_provider();
        let args = ValidationBenchArgs {
            clients: 2,
            creates: 20,
            rounds: 2,
            validations: 10,
            stores: StoreArgs {
                postgres_url: String::new(),
                sqlite_only: true,
            },
        };
        let figures = run(&args).await.expect("benchmark runs");
        assert!(figures[0].validated.per_second > 0.0);
        assert!(figures[0].validations_per_second > 0.0);
    }
}
