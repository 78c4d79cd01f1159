//! Helpers shared by the test modules.

use std::collections::HashMap;
use std::path::PathBuf;

/// The shared fixtures directory beside the checkout.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// All `.bpmn` files below a fixtures sub-directory, sorted.
pub fn bpmn_files(sub: &str) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read fixtures directory {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "bpmn") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures_dir().join(sub), &mut out);
    out.sort();
    out
}

/// The placeholder values a plugin deployment fills in (`#{version}` is `1.0`).
pub fn deployment_properties() -> HashMap<String, String> {
    dsf_bpmn::deploy::sample_properties()
}

/// Reads a test model from `tests/models`.
pub fn model(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/models")
        .join(format!("{name}.bpmn"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

use std::sync::{Arc, Mutex};

use dsf_bpmn::clock::ManualClock;
use dsf_bpmn::engine::Engine;
use dsf_bpmn::runtime::{Registry, Runtime};
use dsf_bpmn::store::MemoryStore;
use time::macros::datetime;

/// A runtime over a fresh in-memory store, with a manual clock at 2026-11-30T08:00Z; the engine
/// runs the registry's classes in place.
pub async fn runtime(registry: Registry) -> (Runtime<MemoryStore>, ManualClock) {
    let (engine, clock) = engine().await;
    (Runtime::new(engine, registry), clock)
}

/// Like [`runtime`], but the engine hands every class call out as a work item.
pub async fn handing_out(registry: Registry) -> (Runtime<MemoryStore>, ManualClock) {
    let (engine, clock) = engine().await;
    (Runtime::handing_out(engine, registry), clock)
}

async fn engine() -> (Engine<MemoryStore>, ManualClock) {
    let clock = ManualClock::new(datetime!(2026-11-30 08:00 UTC));
    let engine = Engine::with_clock(MemoryStore::new(), Arc::new(clock.clone()))
        .await
        .unwrap_or_else(|e| panic!("engine: {e}"));
    (engine, clock)
}

/// Reads a plugin model from the fixtures (`ping-pong/bpe/ping.bpmn`, ...).
pub fn plugin_model(path: &str) -> String {
    let path = fixtures_dir().join("plugins").join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A shared log of what test delegates did.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Appends an entry.
    pub fn push(&self, entry: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry.into());
    }

    /// All entries so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Entries starting with a prefix.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter(|e| e.starts_with(prefix))
            .collect()
    }
}
