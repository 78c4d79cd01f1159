//! An engine process killed with SIGKILL right after a commit resumes from the database: a new
//! engine finishes the instance, firing the timer that fell due meanwhile once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use dsf_bpmn::exec::InstanceState;
use dsf_bpmn::value::Variables;
use dsf_bpmn_store::{Durability, SqlStore};
use dsf_fhir_store::StoreConfig;
use dsf_testkit::{Backend, TestDb, both_backends};
use time::Duration;

use crate::common::{Counts, SUITE, clock, go, open_store, registry, runtime};

/// Where the child finds its database: `sqlite:<path>` or a PostgreSQL URL.
const CHILD_DB: &str = "DSF_BPMN_STORE_CRASH_DB";

async fn open_location(location: &str) -> SqlStore {
    match location.strip_prefix("sqlite:") {
        Some(path) => SqlStore::open_sqlite(path.as_ref(), Durability::ProcessCrash).await,
        None => SqlStore::open_postgres(location).await,
    }
    .expect("open engine store")
}

/// The engine process the crash test kills: it brings an instance to its timer, reports the
/// commit and waits to be killed. Does nothing when run on its own.
#[tokio::test]
#[ignore = "started as a child process by an_engine_killed_after_a_commit_resumes_from_the_database"]
async fn crash_child() {
    let Ok(location) = std::env::var(CHILD_DB) else {
        return;
    };
    let counts = Counts::default();
    let mut rt = runtime(
        open_location(&location).await,
        &clock(),
        None,
        registry(&counts, false),
    )
    .await;
    rt.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    rt.engine_mut()
        .start("storeSuite", None, Some("bk".into()), Variables::new())
        .await
        .expect("start");
    rt.run().await.expect("run");
    rt.engine_mut()
        .correlate(go("bk"))
        .await
        .expect("correlate");
    println!("committed");
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    panic!("the parent test should have killed this process");
}

async fn an_engine_killed_after_a_commit_resumes_from_the_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let location = match &db.config {
        StoreConfig::Sqlite { path } => {
            format!("sqlite:{}", path.with_file_name("bpe.db").display())
        }
        StoreConfig::Postgres { url } => url.clone(),
    };
    let committed = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["crash::crash_child", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_DB, location)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start child");
        let stdout = child.stdout.take().expect("child stdout");
        let committed = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == "committed");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap child");
        committed
    })
    .await
    .expect("child runner");
    assert!(committed, "the child process did not reach its commit");

    let (counts, clock) = (Counts::default(), clock());
    clock.advance(Duration::hours(2));
    let mut rt = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    let ids = rt.engine().instances_by_business_key("bk");
    assert_eq!(ids.len(), 1);
    rt.run().await.expect("run");
    assert_eq!(counts.get("test.Count", "bk"), 0, "done before the crash");
    assert_eq!(counts.get("test.Finish", "bk"), 1);
    let info = rt
        .engine()
        .instance(ids[0])
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(info.state, InstanceState::Completed);
}

both_backends!(an_engine_killed_after_a_commit_resumes_from_the_database);
