//! Helpers shared by the test modules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dsf_bpmn::clock::ManualClock;
use dsf_bpmn::engine::{Correlation, Engine, EngineConfig};
use dsf_bpmn::runtime::{DelegateContext, DelegateError, Registry, Runtime};
use dsf_bpmn::value::Variables;
use dsf_bpmn_store::{Durability, SqlStore};
use dsf_fhir_store::StoreConfig;
use dsf_testkit::TestDb;
use time::macros::datetime;

/// The test model: a work item, a message, a one-hour timer and an async job with two retries.
pub const SUITE: &str = include_str!("models/store_suite.bpmn");

/// The engine store on a test database; on SQLite its own file `bpe.db` beside the FHIR one.
pub async fn open_store(db: &TestDb) -> SqlStore {
    match &db.config {
        StoreConfig::Sqlite { path } => {
            SqlStore::open_sqlite(&path.with_file_name("bpe.db"), Durability::ProcessCrash)
                .await
                .expect("open SQLite engine store")
        }
        StoreConfig::Postgres { url } => SqlStore::open_postgres(url)
            .await
            .expect("open PostgreSQL engine store"),
    }
}

/// A manual clock at 2026-11-30T08:00Z.
pub fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-11-30 08:00 UTC))
}

/// How often each class ran, per business key: `"test.Count bk-1" -> 1`.
#[derive(Clone, Default)]
pub struct Counts(Arc<Mutex<HashMap<String, u32>>>);

impl Counts {
    fn add(&self, entry: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(entry)
            .or_default() += 1;
    }

    /// How often `class` ran for `business_key`.
    pub fn get(&self, class: &str, business_key: &str) -> u32 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&format!("{class} {business_key}"))
            .copied()
            .unwrap_or(0)
    }

    /// All counts.
    pub fn snapshot(&self) -> HashMap<String, u32> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `test.Count` and `test.Finish` count their runs; `test.Finish` fails while `failing` is set.
pub fn registry(counts: &Counts, failing: bool) -> Registry {
    let mut r = Registry::new();
    for class in ["test.Count", "test.Finish"] {
        let counts = counts.clone();
        r.register(class, move |ctx: &mut DelegateContext<'_>| {
            counts.add(format!(
                "{class} {}",
                ctx.business_key().unwrap_or_default()
            ));
            if failing && class == "test.Finish" {
                return Err(DelegateError::Failed("target unreachable".into()));
            }
            Ok(())
        });
    }
    r
}

/// An engine on `store` with the given clock and lease (`None`: the database's only engine).
pub async fn engine(
    store: SqlStore,
    clock: &ManualClock,
    lease: Option<time::Duration>,
) -> Engine<SqlStore> {
    let config = EngineConfig {
        clock: Arc::new(clock.clone()),
        lease,
        ..EngineConfig::default()
    };
    Engine::open(store, config).await.expect("open engine")
}

/// [`engine`] running the registry's classes.
pub async fn runtime(
    store: SqlStore,
    clock: &ManualClock,
    lease: Option<time::Duration>,
    registry: Registry,
) -> Runtime<SqlStore> {
    Runtime::new(engine(store, clock, lease).await, registry)
}

/// The message `go` for a business key.
pub fn go(business_key: &str) -> Correlation {
    Correlation {
        message: "go".into(),
        business_key: Some(business_key.into()),
        correlation_key: None,
        variables: Variables::new(),
    }
}
