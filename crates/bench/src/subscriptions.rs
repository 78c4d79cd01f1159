//! `dsf bench subscriptions`: Task creates with and without websocket subscribers.
//!
//! Per store, in alternating rounds (ABBA): the create rate without subscribers, and with 10 clients
//! bound to the default `Task?status=requested` Subscription the create rate and the events
//! delivered per second (each the median round); then the latency from a create's HTTP response to the event at the bound clients
//! (sequential creates, so that the latency is not queueing behind other creates).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dsf_fhir::Resource;
use dsf_fhir_server::allow_list::bundle::{Federation, Member};
use dsf_fhir_server::state::AppState;
use dsf_fhir_server::{AuthMode, ServerConfig, init_bundle};
use dsf_fhir_store::{Store, StoreConfig};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::fhir::{check, ms, task};
use crate::load::{self, Stats, percentile};
use crate::stores::{self, StoreArgs};

/// The local organization of the benchmark server.
const LOCAL: &str = "dic1.dsf.test";

/// Settings of `dsf bench subscriptions`.
#[derive(Debug, Clone, clap::Args)]
pub struct SubscriptionBenchArgs {
    /// Concurrent HTTP clients creating Tasks.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Websocket clients bound to the Subscription.
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// Creates per throughput measurement (each side, over all rounds).
    #[arg(long, default_value_t = 20_000)]
    pub creates: usize,
    /// Alternating rounds without and with subscribers.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Sequential creates for the latency measurement.
    #[arg(long, default_value_t = 500)]
    pub latency_creates: usize,
    /// The stores measured.
    #[command(flatten)]
    pub stores: StoreArgs,
}

/// The figures of one store.
#[derive(Debug, Clone)]
pub struct Figures {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Creates without subscribers.
    pub creates: Stats,
    /// Creates with the subscribers bound.
    pub creates_subscribed: Stats,
    /// Events delivered per second to all subscribers together, in the same run.
    pub events_per_second: f64,
    /// Create response to event at a subscriber: median and 99th percentile.
    pub latency: (Duration, Duration),
}

/// A Task the local organization sends itself, as the process engine starts processes.
fn local_task(i: usize) -> String {
    let mut task = task(i, "requested");
    task["requester"]["identifier"]["value"] = json!(LOCAL);
    task["restriction"]["recipient"][0]["identifier"]["value"] = json!(LOCAL);
    task.to_string()
}

/// The ActivityDefinition that lets the local organization send `pingMessage` Tasks.
fn activity_definition() -> Value {
    let coding = |code: &str| json!({"system": "http://dsf.dev/fhir/CodeSystem/process-authorization", "code": code});
    json!({"resourceType": "ActivityDefinition", "date": "2026-11-30",
        "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
        "url": "http://dsf.dev/bpe/Process/ping", "version": "1.0", "status": "active", "kind": "Task",
        "extension": [{"url": "http://dsf.dev/fhir/StructureDefinition/extension-process-authorization", "extension": [
            {"url": "message-name", "valueString": "pingMessage"},
            {"url": "task-profile", "valueCanonical": "http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"},
            {"url": "requester", "valueCoding": coding("LOCAL_ALL")},
            {"url": "recipient", "valueCoding": coding("LOCAL_ALL")}]}]})
}

/// Starts a development server of [`LOCAL`] with an allow list of itself, the ActivityDefinition and
/// the default Subscriptions; returns its base URL and the Task Subscription's id.
async fn start_server(store: Store) -> anyhow::Result<(String, String)> {
    let Value::Object(definition) = activity_definition() else {
        bail!("ActivityDefinition is an object")
    };
    let mut tx = store.begin().await?;
    tx.create(Resource::trusted(definition), None).await?;
    tx.commit().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let mut config = ServerConfig::new(&base).map_err(anyhow::Error::msg)?;
    config.organization_identifier = LOCAL.to_owned();
    // Delivery figures over minimal Tasks; `bench validation` measures validation.
    config.validation = false;
    let state = AppState::new(store, config, AuthMode::DevInsecure);
    let site = Member {
        identifier: LOCAL.to_owned(),
        name: "dic1".to_owned(),
        thumbprints: vec!["ab".repeat(64)],
        endpoint_identifier: LOCAL.to_owned(),
        address: format!("https://{LOCAL}/fhir"),
        roles: vec!["DIC".to_owned()],
    };
    let allow_list = Federation {
        parent_identifier: "net.dsf.test".to_owned(),
        parent_name: "Benchmark network".to_owned(),
        members: vec![site],
    }
    .to_bundle();
    let allow_list = Resource::from_json_value(allow_list).map_err(anyhow::Error::msg)?;
    init_bundle::load(&state, allow_list)
        .await
        .map_err(|e| anyhow::anyhow!("allow list: {}", e.status))?;
    init_bundle::load_default_subscriptions(&state)
        .await
        .map_err(|e| anyhow::anyhow!("default Subscriptions: {}", e.status))?;
    let (query, _) = dsf_fhir_store::SearchQuery::parse(
        "Subscription",
        &[("criteria".to_owned(), "Task?status=requested".to_owned())],
        "",
    );
    let found = state.store.search(&query, 1).await?;
    let id = found
        .matches
        .first()
        .context("no Task Subscription")?
        .id()
        .to_owned();
    tokio::spawn(async move {
        let _ = dsf_fhir_server::serve_state(listener, state, std::future::pending()).await;
    });
    Ok((base, id))
}

/// When each create's response arrived, by Task id.
type Responses = Arc<Mutex<HashMap<String, Instant>>>;

/// What one websocket client received: the Task id and arrival time of each event. One list per
/// client, so that the clients do not contend for a lock.
type Log = Arc<Mutex<Vec<(String, Instant)>>>;

/// Websocket clients bound to the Subscription; dropping them closes their connections.
struct Bound {
    readers: Vec<JoinHandle<()>>,
    logs: Vec<Log>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

impl Bound {
    /// Waits until every client received `events` events; returns their arrival times by Task id.
    async fn arrivals(&self, events: usize) -> anyhow::Result<HashMap<String, Vec<Instant>>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut complete = true;
            for log in &self.logs {
                complete &= log.lock().map_err(|_| anyhow::anyhow!("lock"))?.len() >= events;
            }
            if complete {
                break;
            }
            if Instant::now() > deadline {
                bail!("events missing after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut arrivals: HashMap<String, Vec<Instant>> = HashMap::new();
        for log in &self.logs {
            for (id, at) in log.lock().map_err(|_| anyhow::anyhow!("lock"))?.iter() {
                arrivals.entry(id.clone()).or_default().push(*at);
            }
        }
        Ok(arrivals)
    }
}

/// The id of a resource as the server writes JSON (`resourceType`, then `id`), without parsing
/// the rest: the subscribers share the cores with the server.
fn resource_id(json: &str) -> &str {
    json.split_once(r#""id":""#)
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_default()
}

/// Binds `count` websocket clients to `subscription`; each notes what it receives.
async fn bind(base: &str, subscription: &str, count: usize) -> anyhow::Result<Bound> {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let mut bound = Bound {
        readers: Vec::with_capacity(count),
        logs: Vec::with_capacity(count),
    };
    for _ in 0..count {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        socket
            .send(Message::text(format!("bind {subscription}")))
            .await?;
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == format!("bound {subscription}") => {}
            other => bail!("bind failed: {other:?}"),
        }
        let log = Log::default();
        bound.logs.push(log.clone());
        bound.readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                let Message::Text(text) = frame else { continue };
                let at = Instant::now();
                let id = resource_id(text.as_str()).to_owned();
                if let Ok(mut log) = log.lock() {
                    log.push((id, at));
                }
            }
        }));
    }
    Ok(bound)
}

/// Creates Tasks `from..from + total` on `clients` connections; notes each response's time in
/// `responses`, if given.
async fn creates(
    client: &reqwest::Client,
    base: &str,
    clients: usize,
    from: usize,
    total: usize,
    responses: Option<&Responses>,
) -> anyhow::Result<Stats> {
    let (client, url, responses) = (client.clone(), format!("{base}/Task"), responses.cloned());
    load::run(clients, total, move |i| {
        let (client, url, responses) = (client.clone(), url.clone(), responses.clone());
        async move {
            let response = load::post_task(&client, url, local_task(from + i)).await?;
            let at = Instant::now();
            check(&response, 201)?;
            let id = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.split("/Task/").nth(1))
                .and_then(|r| r.split('/').next())
                .unwrap_or_default()
                .to_owned();
            response.bytes().await?;
            if let Some(responses) = responses {
                responses
                    .lock()
                    .map_err(|_| anyhow::anyhow!("lock"))?
                    .insert(id, at);
            }
            Ok(())
        }
    })
    .await
}

/// The round with the median create rate.
fn median_round(mut rounds: Vec<Stats>) -> Stats {
    rounds.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    rounds.swap_remove(rounds.len() / 2)
}

async fn measure(
    args: &SubscriptionBenchArgs,
    name: &'static str,
    config: StoreConfig,
) -> anyhow::Result<Figures> {
    let store = Store::open(&config).await?;
    let (base, subscription) = start_server(store.clone()).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .http1_only()
        .build()?;
    // Warm up connections and caches.
    creates(&client, &base, args.clients, 0, args.clients * 20, None).await?;
    // Alternating rounds without and with subscribers, so that load from elsewhere on the
    // machine affects both alike, in the order ABBA (the store grows, and with it the cost of a
    // write); each side's figure is its median round.
    let per_round = (args.creates / args.rounds.max(1)).max(1);
    let (mut plain, mut subscribed, mut event_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        let subscribed_first = round % 2 == 1;
        eprintln!(
            "{name}: round {}/{}: creates {} {} subscribers ...",
            round + 1,
            args.rounds.max(1),
            if subscribed_first {
                "with, then without"
            } else {
                "without, then with"
            },
            args.subscribers
        );
        let from = 1_000_000 * (round + 1);
        if !subscribed_first {
            plain.push(creates(&client, &base, args.clients, from, per_round, None).await?);
        }
        let bound = bind(&base, &subscription, args.subscribers).await?;
        let started = Instant::now();
        let subscribed_from = from + 500_000;
        subscribed.push(
            creates(
                &client,
                &base,
                args.clients,
                subscribed_from,
                per_round,
                None,
            )
            .await?,
        );
        let arrivals = bound.arrivals(per_round).await?;
        drop(bound);
        let last = arrivals
            .values()
            .flatten()
            .max()
            .copied()
            .unwrap_or(started);
        let events = (per_round * args.subscribers) as f64;
        event_rates.push(events / last.duration_since(started).as_secs_f64().max(f64::EPSILON));
        if subscribed_first {
            plain.push(creates(&client, &base, args.clients, from, per_round, None).await?);
        }
    }
    let plain = median_round(plain);
    let subscribed = median_round(subscribed);
    event_rates.sort_by(f64::total_cmp);
    let events_per_second = event_rates[event_rates.len() / 2];

    eprintln!("{name}: latency ...");
    let bound = bind(&base, &subscription, args.subscribers).await?;
    let responses = Responses::default();
    let latency_creates = args.latency_creates;
    creates(
        &client,
        &base,
        1,
        100_000_000,
        latency_creates,
        Some(&responses),
    )
    .await?;
    let arrivals = bound.arrivals(latency_creates).await?;
    drop(bound);
    let mut latencies = Vec::new();
    for (id, response) in responses
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .iter()
    {
        // An event may even arrive before the response is read: that counts as no wait.
        latencies.extend(
            arrivals
                .get(id)
                .into_iter()
                .flatten()
                .map(|e| e.saturating_duration_since(*response)),
        );
    }
    latencies.sort_unstable();
    store.close().await;
    Ok(Figures {
        store: name,
        creates: plain,
        creates_subscribed: subscribed,
        events_per_second,
        latency: (percentile(&latencies, 0.5), percentile(&latencies, 0.99)),
    })
}

fn print(args: &SubscriptionBenchArgs, figures: &[Figures]) {
    println!();
    println!(
        "dsf bench subscriptions: Task creates on {} keep-alive HTTP/1.1 clients, {} websocket \
         clients bound to Task?status=requested (JSON payload), loopback, {} cores",
        args.clients,
        args.subscribers,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<9} {:>16} {:>18} {:>7} {:>14} {:>12} {:>12}",
        "store", "creates/s alone", "creates/s, subs", "loss", "events/s", "latency p50", "p99"
    );
    for f in figures {
        let loss = 100.0 * (1.0 - f.creates_subscribed.per_second / f.creates.per_second);
        println!(
            "{:<9} {:>16.0} {:>18.0} {:>6.1}% {:>14.0} {:>12} {:>12}",
            f.store,
            f.creates.per_second,
            f.creates_subscribed.per_second,
            loss,
            f.events_per_second,
            ms(f.latency.0),
            ms(f.latency.1)
        );
    }
}

/// Runs the benchmark on SQLite and PostgreSQL and prints the figures.
pub async fn run(args: &SubscriptionBenchArgs) -> anyhow::Result<Vec<Figures>> {
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
        let args = SubscriptionBenchArgs {
            clients: 2,
            subscribers: 2,
            creates: 20,
            rounds: 2,
            latency_creates: 5,
            stores: StoreArgs {
                postgres_url: String::new(),
                sqlite_only: true,
            },
        };
        let figures = run(&args).await.expect("benchmark runs");
        assert!(figures[0].events_per_second > 0.0);
    }
}
