//! The ActivityDefinitions Tasks are authorized by, cached: every Task create and update looks
//! one up, and reading it inside the writing transaction would hold the (SQLite) writer longer.
//!
//! An entry is dropped when this process commits a write to an ActivityDefinition and at the
//! latest after [`MAX_AGE`], so that changes written through another server process on the same
//! database are seen too. A transaction that itself writes ActivityDefinitions does not use the
//! cache (see [`super::task`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dsf_fhir_store::{SearchQuery, SearchResult, Store, StoreError};
use serde_json::Value;

use super::{json_of, str_at};

/// How long an entry is used before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// `(url, version)`
type Key = (String, String);
/// When an entry was read, and the definition found (if any).
type Entry = (Instant, Option<Arc<Value>>);

/// The active or draft ActivityDefinition of a `url|version`, if there is one.
pub fn usable(found: SearchResult) -> Option<Value> {
    found
        .matches
        .into_iter()
        .map(|s| json_of(&s.resource))
        .find(|ad| matches!(str_at(ad, "status"), Some("draft" | "active")))
}

/// The search for the ActivityDefinition of `url|version`.
pub fn query(url: &str, version: &str) -> SearchQuery {
    let params = [
        ("url".to_owned(), url.to_owned()),
        ("version".to_owned(), version.to_owned()),
    ];
    SearchQuery::parse("ActivityDefinition", &params, "").0
}

/// Cached lookups of ActivityDefinitions by `url|version`.
#[derive(Debug)]
pub struct DefinitionCache {
    store: Store,
    entries: RwLock<HashMap<Key, Entry>>,
    /// Counts invalidations, so that a lookup read before one is not kept after it.
    generation: AtomicU64,
}

impl DefinitionCache {
    /// A cache over `store`.
    pub fn new(store: Store) -> DefinitionCache {
        DefinitionCache {
            store,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The active or draft ActivityDefinition of `url|version`, from the cache or the store.
    pub async fn get(&self, url: &str, version: &str) -> Result<Option<Arc<Value>>, StoreError> {
        let key = (url.to_owned(), version.to_owned());
        if let Ok(entries) = self.entries.read()
            && let Some((loaded, definition)) = entries.get(&key)
            && loaded.elapsed() < MAX_AGE
        {
            return Ok(definition.clone());
        }
        let (started, generation) = (Instant::now(), self.generation.load(Ordering::SeqCst));
        let definition = usable(self.store.search(&query(url, version), 10).await?).map(Arc::new);
        if let Ok(mut entries) = self.entries.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            entries.insert(key, (started, definition.clone()));
        }
        Ok(definition)
    }

    /// Forgets every entry.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}
