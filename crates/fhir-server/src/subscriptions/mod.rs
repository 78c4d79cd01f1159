//! Websocket subscriptions: resources that match an active Subscription's criteria are pushed to
//! the websocket clients bound to it, after their commit and in commit order.
//!
//! One task per server process follows the store's change feed ([`dsf_fhir_store::Store::changes`]):
//! it takes the committed creates and updates that arrived meanwhile (up to
//! [`dsf_fhir_store::MATCH_BATCH`]; with clients bound, after letting the tasks of commits under
//! way run first), with the versions themselves when this process wrote them
//! and read back otherwise ([`dsf_fhir_store::Store::written_version`]), matches them against the active Subscriptions of
//! their type ([`registry`]) with the search's own SQL, one statement per Subscription
//! ([`dsf_fhir_store::Store::matching`]), and queues a frame for each bound client that may read
//! the resource ([`subscribers`]), in commit order. Deletions are not delivered. A Subscription write reloads the
//! active Subscriptions. When changes may have been missed (the feed lagged or its database
//! connection was lost), every client is disconnected: clients catch up by searching with
//! `_lastUpdated`, as they do after any reconnect. The endpoint is in [`websocket`].

pub mod registry;
pub mod subscribers;
pub mod websocket;

use std::collections::HashSet;
use std::sync::Arc;

use dsf_fhir_store::{Change, Store, StoreError, Stored, Written};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;

use crate::authz::read::may_read;
use crate::state::AppState;
use registry::Registry;

/// Most changes delivered together: their matching against each Subscription is one statement.
const BATCH: usize = dsf_fhir_store::MATCH_BATCH;

/// How often the delivery task lets other tasks run before it takes the changes committed so far.
const YIELDS: usize = 16;

/// Starts delivering the store's changes to the bound websocket clients of `state`; the task ends
/// when the store's feed does or it is aborted.
pub fn start(state: &AppState) -> JoinHandle<()> {
    let mut feed = state.store.changes();
    let state = state.clone();
    tokio::spawn(async move {
        let mut registry = Registry::default();
        loop {
            // The changes committed meanwhile are delivered together, in commit order.
            let mut batch = Vec::new();
            let mut missed = false;
            let mut next = feed.recv().await;
            // Under load, writes committing at this moment join the batch: one wake-up of each
            // client for several events. Yielding costs nothing when nothing else is runnable.
            if !state.subscribers.is_empty() {
                for _ in 0..YIELDS {
                    tokio::task::yield_now().await;
                }
            }
            loop {
                match next {
                    Ok(Change::Written(written)) => batch.push(written),
                    Ok(Change::Missed) | Err(RecvError::Lagged(_)) => missed = true,
                    Err(RecvError::Closed) => return,
                }
                if batch.len() >= BATCH {
                    break;
                }
                next = match feed.try_recv() {
                    Ok(change) => Ok(change),
                    Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                    Err(TryRecvError::Closed) => Err(RecvError::Closed),
                    Err(TryRecvError::Empty) => break,
                };
            }
            let delivered = if missed {
                Ok(())
            } else {
                deliver(&state, &mut registry, &batch).await
            };
            if let Err(e) = &delivered {
                tracing::error!("websocket subscriptions: {e}");
            }
            if missed || delivered.is_err() {
                registry.invalidate();
                let clients = state.subscribers.disconnect_all();
                if clients > 0 {
                    tracing::warn!(
                        clients,
                        "change feed interrupted: websocket clients disconnected"
                    );
                }
            }
        }
    })
}

/// Pushes the versions `batch` to the clients of the Subscriptions they match, in order.
async fn deliver(
    state: &AppState,
    registry: &mut Registry,
    batch: &[Written],
) -> Result<(), StoreError> {
    if batch.iter().any(|w| w.resource_type == "Subscription") {
        registry.invalidate();
    }
    let subscribers = &state.subscribers;
    if subscribers.is_empty() {
        return Ok(());
    }
    let active = registry.active(&state.store).await?;
    let candidates: Vec<_> = active
        .iter()
        .filter(|s| subscribers.has(&s.id))
        .filter(|s| {
            batch
                .iter()
                .any(|w| s.query.resource_type == w.resource_type)
        })
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let store: &Store = &state.store;
    let mut versions: Vec<Arc<Stored>> = Vec::new();
    for written in batch.iter().filter(|w| !w.deleted) {
        if !candidates
            .iter()
            .any(|s| s.query.resource_type == written.resource_type)
        {
            continue;
        }
        if let Some(stored) = store.written_version(written).await? {
            versions.push(stored);
        }
    }
    let refs: Vec<&Stored> = versions.iter().map(Arc::as_ref).collect();
    let mut matched = Vec::new();
    for subscription in &candidates {
        let seqs: HashSet<i64> = store
            .matching(&subscription.query, &refs)?
            .into_iter()
            .collect();
        matched.push(seqs);
    }
    // Frames are queued once all are made, so that a client wakes once for the whole batch.
    let mut frames = Vec::new();
    for stored in &versions {
        let mut resource = None;
        for (subscription, seqs) in candidates.iter().zip(&matched) {
            if !seqs.contains(&stored.seq) {
                continue;
            }
            let mut readers = Vec::new();
            for (key, caller) in subscribers.callers(&subscription.id) {
                if may_read(&caller, store, stored).await.unwrap_or(false) {
                    readers.push(key);
                }
            }
            if !readers.is_empty() {
                let resource = resource.get_or_insert_with(|| stored.full_resource());
                let text = subscription.payload.message(&subscription.id, resource);
                frames.push((&subscription.id, readers, text));
            }
        }
    }
    for (subscription, readers, text) in frames {
        subscribers.send(subscription, &readers, text);
    }
    Ok(())
}
