//! Websocket subscriptions: resources that match an active Subscription's criteria are pushed to
//! the websocket clients bound to it, after their commit and in commit order.
//!
//! One task per server process follows the store's change feed ([`dsf_fhir_store::Store::changes`]):
//! for each committed create or update it loads the version, matches it against the active
//! Subscriptions of its type ([`registry`]) with the search's own SQL
//! ([`dsf_fhir_store::Store::matches`]), and queues a frame for each bound client that may read
//! the resource ([`subscribers`]). Deletions are not delivered. A Subscription write reloads the
//! active Subscriptions. When changes may have been missed (the feed lagged or its database
//! connection was lost), every client is disconnected: clients catch up by searching with
//! `_lastUpdated`, as they do after any reconnect. The endpoint is in [`websocket`].

pub mod registry;
pub mod subscribers;
pub mod websocket;

use dsf_fhir_store::{Change, Store, StoreError, Written};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::authz::read::may_read;
use crate::state::AppState;
use registry::Registry;

/// Starts delivering the store's changes to the bound websocket clients of `state`; the task ends
/// when the store's feed does or it is aborted.
pub fn start(state: &AppState) -> JoinHandle<()> {
    let mut feed = state.store.changes();
    let state = state.clone();
    tokio::spawn(async move {
        let mut registry = Registry::default();
        loop {
            let delivered = match feed.recv().await {
                Ok(Change::Written(written)) => deliver(&state, &mut registry, &written).await,
                Ok(Change::Missed) | Err(RecvError::Lagged(_)) => {
                    registry.invalidate();
                    state.subscribers.disconnect_all();
                    Ok(())
                }
                Err(RecvError::Closed) => return,
            };
            if let Err(e) = delivered {
                tracing::error!("websocket subscriptions: {e}");
                registry.invalidate();
                state.subscribers.disconnect_all();
            }
        }
    })
}

/// Pushes the version `written` to the clients of the Subscriptions it matches.
async fn deliver(
    state: &AppState,
    registry: &mut Registry,
    written: &Written,
) -> Result<(), StoreError> {
    if written.resource_type == "Subscription" {
        registry.invalidate();
    }
    let subscribers = &state.subscribers;
    if written.deleted || subscribers.is_empty() {
        return Ok(());
    }
    let active = registry.active(&state.store).await?;
    let candidates: Vec<_> = active
        .iter()
        .filter(|s| s.query.resource_type == written.resource_type && subscribers.has(&s.id))
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let store: &Store = &state.store;
    let Some(stored) = store
        .vread(&written.resource_type, &written.id, written.version)
        .await?
    else {
        return Ok(());
    };
    let resource = stored.clone().into_full_resource();
    for subscription in candidates {
        if !store.matches(&subscription.query, &stored).await? {
            continue;
        }
        let mut readers = Vec::new();
        for (key, caller) in subscribers.callers(&subscription.id) {
            if may_read(&caller, store, &stored).await.unwrap_or(false) {
                readers.push(key);
            }
        }
        if !readers.is_empty() {
            let text = subscription.payload.message(&subscription.id, &resource);
            subscribers.send(&subscription.id, &readers, text);
        }
    }
    Ok(())
}
