//! `dsf bench fhir`

use std::sync::Arc;

use anyhow::{Context, bail};
use dsf_fhir::Resource;
use dsf_fhir_server::{AuthMode, ServerConfig};
use dsf_fhir_store::{Store, StoreConfig};
use serde_json::{Value, json};

use crate::baseline;
use crate::load::{self, Stats};
use crate::stores::{self, StoreArgs};

/// Settings of `dsf bench fhir`.
#[derive(Debug, Clone, clap::Args)]
pub struct FhirBenchArgs {
    /// Concurrent HTTP clients (keep-alive connections).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Tasks in the store while reads and searches are measured.
    #[arg(long, default_value_t = 100_000)]
    pub tasks: usize,
    /// Creates measured over HTTP (and raw inserts as their baseline).
    #[arg(long, default_value_t = 5_000)]
    pub creates: usize,
    /// Reads measured (and bare-handler requests as their baseline).
    #[arg(long, default_value_t = 20_000)]
    pub reads: usize,
    /// `Task?status=requested&_count=20` searches measured.
    #[arg(long, default_value_t = 2_000)]
    pub searches: usize,
    /// 10-entry transaction Bundles measured.
    #[arg(long, default_value_t = 300)]
    pub transactions: usize,
    /// The stores measured.
    #[command(flatten)]
    pub stores: StoreArgs,
}

/// The figures of one store.
#[derive(Debug, Clone)]
pub struct Figures {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Creates over HTTP.
    pub creates: Stats,
    /// Raw inserts of the same rows.
    pub raw_inserts: Stats,
    /// Reads over HTTP.
    pub reads: Stats,
    /// The bare handler returning the same bytes.
    pub bare: Stats,
    /// Searches for requested Tasks.
    pub searches: Stats,
    /// 10-entry transactions.
    pub transactions: Stats,
}

const ORGANIZATION_IDENTIFIER: &str = "http://dsf.dev/sid/organization-identifier";
const READ_ACCESS_ALL: &str = "http://dsf.dev/fhir/CodeSystem/read-access-tag";
const PROCESS_URL: &str = "http://dsf.dev/bpe/Process/ping";
const PROCESS_VERSION: &str = "1.0";
const TASK_PROFILE: &str = "http://dsf.dev/fhir/StructureDefinition/task-ping|1.0";
const MESSAGE: &str = "pingMessage";
/// The organization identifier of the server under test: the host of its base URL.
const LOCAL_ORGANIZATION: &str = "127.0.0.1";

/// A logical reference to an organization.
fn organization_reference(identifier: &str) -> Value {
    json!({"type": "Organization", "identifier": {"system": ORGANIZATION_IDENTIFIER, "value": identifier}})
}

/// A Task as DSF processes send them (about 1 KiB of JSON), from the local organization to
/// itself, so that the server's authorization rules accept it.
pub(crate) fn task(i: usize, status: &str) -> Value {
    json!({
        "resourceType": "Task",
        "meta": {"profile": [TASK_PROFILE]},
        "instantiatesCanonical": format!("{PROCESS_URL}|{PROCESS_VERSION}"),
        "status": status,
        "intent": "order",
        "authoredOn": "2026-11-30T10:00:00+01:00",
        "requester": organization_reference(LOCAL_ORGANIZATION),
        "restriction": {"recipient": [organization_reference(LOCAL_ORGANIZATION)]},
        "input": [
            {"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]}, "valueString": MESSAGE},
            {"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "business-key"}]}, "valueString": format!("{:08x}-0000-4000-8000-000000000000", i)},
            {"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "correlation-key"}]}, "valueString": format!("{i}")}
        ]
    })
}

/// What requested Tasks need on the server: the local Organization (in the allow list) and the
/// process's ActivityDefinition authorizing it to send [`MESSAGE`] to itself.
fn process_setup() -> [(&'static str, Value); 2] {
    let read_access = json!({"tag": [{"system": READ_ACCESS_ALL, "code": "ALL"}]});
    let local_all = json!({"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": "LOCAL_ALL"});
    [
        (
            "Organization",
            json!({"resourceType": "Organization", "meta": read_access, "active": true,
                "identifier": [{"system": ORGANIZATION_IDENTIFIER, "value": LOCAL_ORGANIZATION}]}),
        ),
        (
            "ActivityDefinition",
            json!({"resourceType": "ActivityDefinition", "date": "2026-11-30", "meta": read_access,
            "url": PROCESS_URL, "version": PROCESS_VERSION, "status": "active", "kind": "Task",
            "extension": [{
                "url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization",
                "extension": [
                    {"url": "message-name", "valueString": MESSAGE},
                    {"url": "task-profile", "valueCanonical": TASK_PROFILE},
                    {"url": "requester", "valueCoding": local_all},
                    {"url": "recipient", "valueCoding": local_all}
                ]
            }]}),
        ),
    ]
}

/// Creates [`process_setup`] over HTTP.
pub(crate) async fn install_process(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for (resource_type, resource) in process_setup() {
        let response = client
            .post(format!("{base}/{resource_type}"))
            .header("content-type", "application/fhir+json")
            .header("accept", "application/fhir+json")
            .body(resource.to_string())
            .send()
            .await?;
        check(&response, 201).with_context(|| format!("creating the {resource_type}"))?;
        response.bytes().await?;
    }
    Ok(())
}

pub(crate) fn check(response: &reqwest::Response, expected: u16) -> anyhow::Result<()> {
    if response.status().as_u16() != expected {
        bail!("expected {expected}, got {}", response.status());
    }
    Ok(())
}

/// Runs `total` GETs of `url(i)` for JSON on `clients` connections; each must answer 200.
async fn gets(
    client: &reqwest::Client,
    clients: usize,
    total: usize,
    url: impl Fn(usize) -> String + Send + Sync + 'static,
) -> anyhow::Result<Stats> {
    let client = client.clone();
    let url = Arc::new(url);
    load::run(clients, total, move |i| {
        let (client, url) = (client.clone(), url(i));
        async move {
            let response = client
                .get(url)
                .header("accept", "application/fhir+json")
                .send()
                .await?;
            check(&response, 200)?;
            response.bytes().await?;
            Ok(())
        }
    })
    .await
}

async fn start_server(store: Store) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind((LOCAL_ORGANIZATION, 0)).await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let mut config = ServerConfig::new(&base).map_err(anyhow::Error::msg)?;
    // The REST and store figures over minimal resources; `bench validation` measures validation.
    config.validation = false;
    if config.organization_identifier != LOCAL_ORGANIZATION {
        bail!(
            "the server's organization is {}, the Tasks name {LOCAL_ORGANIZATION}",
            config.organization_identifier
        );
    }
    tokio::spawn(async move {
        let _ = dsf_fhir_server::serve(
            listener,
            store,
            config,
            AuthMode::DevInsecure,
            std::future::pending(),
        )
        .await;
    });
    Ok(base)
}

/// Fills the store with Tasks up to `total` (10 % requested), in transactions of 500.
async fn populate(store: &Store, from: usize, total: usize) -> anyhow::Result<()> {
    let mut i = from;
    while i < total {
        let mut tx = store.begin().await?;
        for _ in 0..500.min(total - i) {
            let status = if i.is_multiple_of(10) {
                "requested"
            } else {
                "completed"
            };
            let Value::Object(map) = task(i, status) else {
                bail!("task is an object")
            };
            tx.create(Resource::trusted(map), None).await?;
            i += 1;
        }
        tx.commit().await?;
    }
    Ok(())
}

async fn measure(
    args: &FhirBenchArgs,
    name: &'static str,
    config: StoreConfig,
) -> anyhow::Result<Figures> {
    let store = Store::open(&config).await?;
    let base = start_server(store.clone()).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .http1_only()
        .build()?;
    install_process(&client, &base).await?;
    eprintln!("{name}: creates over HTTP ...");
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(args.creates)));
    let creates = {
        let (client, base, ids) = (client.clone(), base.clone(), ids.clone());
        load::run(args.clients, args.creates, move |i| {
            let (client, base, ids) = (client.clone(), base.clone(), ids.clone());
            async move {
                let body = task(i, "requested").to_string();
                let response = client
                    .post(format!("{base}/Task"))
                    .header("content-type", "application/fhir+json")
                    .header("accept", "application/fhir+json")
                    .body(body)
                    .send()
                    .await?;
                check(&response, 201)?;
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let id = location
                    .split("/Task/")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or_default()
                    .to_owned();
                response.bytes().await?;
                ids.lock().map_err(|_| anyhow::anyhow!("lock"))?.push(id);
                Ok(())
            }
        })
        .await?
    };
    eprintln!("{name}: raw inserts ...");
    let raw_inserts = baseline::raw_inserts(
        &config,
        &task(0, "requested").to_string(),
        args.clients,
        args.creates,
    )
    .await?;
    eprintln!("{name}: filling the store to {} Tasks ...", args.tasks);
    populate(&store, args.creates, args.tasks).await?;
    if let StoreConfig::Postgres { url } = &config {
        baseline::settle_postgres(url).await?;
    }
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone());
    let sample = client
        .get(format!(
            "{base}/Task/{}",
            ids.first().context("no Task created")?
        ))
        .header("accept", "application/fhir+json")
        .send()
        .await?
        .bytes()
        .await?
        .to_vec();
    eprintln!("{name}: reads ...");
    let reads = {
        let (base, ids) = (base.clone(), ids.clone());
        gets(&client, args.clients, args.reads, move |i| {
            format!("{base}/Task/{}", ids[i % ids.len()])
        })
        .await?
    };
    let bare_url = baseline::bare_handler(sample).await?;
    let bare = gets(&client, args.clients, args.reads, move |_| bare_url.clone()).await?;
    eprintln!("{name}: searches ...");
    let searches = {
        let url = format!("{base}/Task?status=requested&_count=20");
        gets(&client, args.clients, args.searches, move |_| url.clone()).await?
    };
    eprintln!("{name}: transactions ...");
    let transactions = {
        let (client, base) = (client.clone(), base.clone());
        load::run(args.clients, args.transactions, move |i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let entries: Vec<Value> = (0..10)
                    .map(|k| json!({"fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()), "resource": task(i * 10 + k, "requested"), "request": {"method": "POST", "url": "Task"}}))
                    .collect();
                let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
                let response = client
                    .post(&base)
                    .header("content-type", "application/fhir+json")
                    .header("accept", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .body(bundle.to_string())
                    .send()
                    .await?;
                check(&response, 200)?;
                response.bytes().await?;
                Ok(())
            }
        })
        .await?
    };
    store.close().await;
    Ok(Figures {
        store: name,
        creates,
        raw_inserts,
        reads,
        bare,
        searches,
        transactions,
    })
}

pub(crate) fn ms(d: std::time::Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn print(args: &FhirBenchArgs, figures: &[Figures]) {
    println!();
    println!(
        "dsf bench fhir: {} keep-alive HTTP/1.1 clients on loopback, {} Tasks in the store \
         (PostgreSQL vacuumed after loading, as autovacuum would), {} cores",
        args.clients,
        args.tasks,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<9} {:<34} {:>10} {:>10} {:>10}   {:<24} {:>10} {:>7}",
        "store", "measure", "per s", "p50", "p99", "baseline", "per s", "ratio"
    );
    for f in figures {
        let row = |measure: &str, s: Stats, baseline: Option<(&str, Stats)>| {
            let (b_name, b_rate, ratio) = match baseline {
                Some((n, b)) => (
                    n.to_owned(),
                    format!("{:.0}", b.per_second),
                    format!("{:.0} %", 100.0 * s.per_second / b.per_second),
                ),
                None => (String::new(), String::new(), String::new()),
            };
            println!(
                "{:<9} {:<34} {:>10.0} {:>10} {:>10}   {:<24} {:>10} {:>7}",
                f.store,
                measure,
                s.per_second,
                ms(s.p50),
                ms(s.p99),
                b_name,
                b_rate,
                ratio
            );
        };
        row(
            "create Task",
            f.creates,
            Some(("raw insert, same rows", f.raw_inserts)),
        );
        row(
            "read Task",
            f.reads,
            Some(("bare handler, same bytes", f.bare)),
        );
        row("Task?status=requested&_count=20", f.searches, None);
        row("transaction, 10 creates", f.transactions, None);
    }
}

/// Runs the benchmark on SQLite and PostgreSQL and prints the figures.
pub async fn run(args: &FhirBenchArgs) -> anyhow::Result<Vec<Figures>> {
    // reqwest is built without a TLS crypto provider; the process's TLS uses ring. Installing
    // twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let figures = stores::on_each(&args.stores, |name, config| measure(args, name, config)).await?;
    print(args, &figures);
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_small_scale_on_both_stores() {
        let args = FhirBenchArgs {
            clients: 2,
            tasks: 300,
            creates: 40,
            reads: 40,
            searches: 10,
            transactions: 4,
            stores: StoreArgs {
                postgres_url: std::env::var("DSF_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
                sqlite_only: false,
            },
        };
        let figures = run(&args).await.expect("benchmark runs");
        assert_eq!(figures.len(), 2);
        for f in figures {
            assert!(
                f.creates.per_second > 0.0
                    && f.searches.per_second > 0.0
                    && f.transactions.per_second > 0.0
            );
        }
    }
}
