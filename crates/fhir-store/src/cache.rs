//! A cache of current resource versions for reads, kept exact by the store's own writes.
//!
//! Only used where this process is the database's only writer (embedded SQLite); with PostgreSQL
//! other server processes may write, so reads go to the database.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::changes::Written;
use crate::store::Stored;

type Key = (String, String);

/// Current versions by `(type, id)`, most recently used kept.
#[derive(Debug)]
pub(crate) struct ReadCache {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    entries: LruCache<Key, Arc<Stored>>,
    /// Counts committed writes, so that a read that raced with a write does not cache what it
    /// read before the write committed.
    epoch: u64,
}

impl ReadCache {
    pub(crate) fn new(capacity: usize) -> ReadCache {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        ReadCache {
            inner: Mutex::new(Inner {
                entries: LruCache::new(capacity),
                epoch: 0,
            }),
        }
    }

    /// The cached current version and the epoch to pass to [`ReadCache::fill`] on a miss.
    pub(crate) fn get(&self, resource_type: &str, id: &str) -> (Option<Arc<Stored>>, u64) {
        let Ok(mut inner) = self.inner.lock() else {
            return (None, u64::MAX);
        };
        let key = (resource_type.to_owned(), id.to_owned());
        (inner.entries.get(&key).cloned(), inner.epoch)
    }

    /// Caches a version read from the database, unless a write committed since `epoch`.
    pub(crate) fn fill(&self, epoch: u64, stored: Arc<Stored>) {
        if let Ok(mut inner) = self.inner.lock()
            && inner.epoch == epoch
        {
            let key = (stored.resource_type().to_owned(), stored.id().to_owned());
            inner.entries.put(key, stored);
        }
    }

    /// Forgets the resources a committed transaction changed; the next read fills them again.
    /// (Committed writes may report back in any order, so they never put versions in.)
    pub(crate) fn invalidate(&self, changes: &[Written]) {
        if changes.is_empty() {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            inner.epoch += 1;
            for change in changes {
                inner
                    .entries
                    .pop(&(change.resource_type.clone(), change.id.clone()));
            }
        }
    }
}
