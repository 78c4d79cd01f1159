//! `dsf demo`: a local DSF site's FHIR server with a small federation allow list, exercised
//! through its REST API and then left running to be explored.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use dsf_fhir_server::{AuthMode, ServerConfig};
use dsf_fhir_store::{Store, StoreConfig};
use serde_json::{Value, json};

use dsf_fhir_server::allow_list::bundle::{Federation, Member};

/// Settings of `dsf demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Loopback address the demo's FHIR server listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Stop after the walkthrough instead of serving until Ctrl-C.
    #[arg(long)]
    pub no_wait: bool,
}

const ORG: &str = dsf_fhir_store::search::access::ORGANIZATION_IDENTIFIER;
const JSON: &str = "application/fhir+json";

/// The allow list of a small federation (a parent organization with three members), as a
/// transaction Bundle with temporary ids.
fn allow_list(base_url: &str) -> Value {
    let members = [("dic1", "DIC"), ("dic2", "DIC"), ("ttp", "TTP")]
        .iter()
        .enumerate()
        .map(|(i, (site, role))| Member {
            identifier: format!("{site}.dsf.test"),
            name: format!("{} site", site.to_uppercase()),
            thumbprints: Vec::new(),
            endpoint_identifier: format!("{site}.dsf.test"),
            address: if i == 0 {
                base_url.to_owned()
            } else {
                format!("https://{site}.dsf.test/fhir")
            },
            roles: vec![(*role).to_owned()],
        })
        .collect();
    Federation {
        parent_identifier: "network.dsf.test".into(),
        parent_name: "Demo Network".into(),
        members,
    }
    .to_bundle()
}

/// A ping Task from dic1 to dic2, as the ping process sends it.
fn ping_task() -> Value {
    json!({
        "resourceType": "Task",
        "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"]},
        "instantiatesCanonical": "http://dsf.dev/bpe/Process/ping|1.0",
        "status": "requested",
        "intent": "order",
        "authoredOn": "2026-11-30T10:00:00+01:00",
        "requester": {"type": "Organization", "identifier": {"system": ORG, "value": "dic1.dsf.test"}},
        "restriction": {"recipient": [{"type": "Organization", "identifier": {"system": ORG, "value": "dic2.dsf.test"}}]},
        "input": [{"type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                   "valueString": "pingMessage"}]
    })
}

/// Sends a request asking for JSON; fails unless the answer is a success.
async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.header("accept", JSON).send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// Runs the demo.
pub async fn run(
    args: &DemoArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!("the demo serves plain HTTP and listens on loopback addresses only");
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&StoreConfig::Sqlite {
        path: dir.path().join("fhir.db"),
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (choose another with --listen)",
                args.listen
            )
        })?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let config = ServerConfig::new(&base).map_err(anyhow::Error::msg)?;
    let server = tokio::spawn(dsf_fhir_server::serve(
        listener,
        store.clone(),
        config,
        AuthMode::DevInsecure,
        shutdown,
    ));

    let client = reqwest::Client::new();
    println!(
        "DSF demo: a site's FHIR server on {base} (embedded SQLite in {})\n",
        dir.path().display()
    );
    let response = call(
        client
            .post(&base)
            .header("content-type", JSON)
            .body(allow_list(&base).to_string()),
    )
    .await?;
    let statuses: Vec<&str> = response["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["response"]["status"].as_str())
                .collect()
        })
        .unwrap_or_default();
    println!(
        "1. Loaded the federation's allow list as one transaction: {} entries ({})",
        statuses.len(),
        statuses.join(", ")
    );
    let task = call(
        client
            .post(format!("{base}/Task"))
            .header("content-type", JSON)
            .body(ping_task().to_string()),
    )
    .await?;
    let task_id = task["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "2. Received a ping Task from dic1.dsf.test: Task/{task_id}, version {}",
        task["meta"]["versionId"]
    );
    let found =
        call(client.get(format!("{base}/Task?status=requested&_sort=-_lastUpdated"))).await?;
    println!("3. Task?status=requested finds {} Task(s)", found["total"]);
    let members = call(client.get(format!(
        "{base}/Organization?_include=Organization:endpoint"
    )))
    .await?;
    let endpoints: Vec<String> = members["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|x| x["search"]["mode"] == "include")
                .filter_map(|x| x["resource"]["address"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "4. Organization?_include=Organization:endpoint: {} organizations, endpoints {}",
        members["total"],
        endpoints.join(", ")
    );
    let mut in_progress = task.clone();
    in_progress["status"] = json!("in-progress");
    let updated = call(
        client
            .put(format!("{base}/Task/{task_id}"))
            .header("content-type", JSON)
            .header("if-match", "W/\"1\"")
            .body(in_progress.to_string()),
    )
    .await?;
    println!(
        "5. Updated the Task to {} (If-Match W/\"1\"), now version {}",
        updated["status"], updated["meta"]["versionId"]
    );
    let history = call(client.get(format!("{base}/Task/{task_id}/_history"))).await?;
    println!(
        "6. Task/{task_id}/_history holds {} versions\n",
        history["total"]
    );
    println!("Try it yourself (XML unless you ask for JSON):");
    println!("  curl '{base}/metadata?_format=json&_pretty=true'");
    println!("  curl -H 'Accept: application/fhir+json' '{base}/Task?status=in-progress'");
    println!("  curl '{base}/Organization?_include=Organization:endpoint&_pretty=true'");
    if args.no_wait {
        server.abort();
        return Ok(());
    }
    println!("\nServing until Ctrl-C.");
    server.await??;
    Ok(())
}
