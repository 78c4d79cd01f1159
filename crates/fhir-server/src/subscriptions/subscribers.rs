//! The websocket clients bound to Subscriptions, each with a bounded queue of frames.
//!
//! Frames are queued without waiting: a client whose queue is full has fallen behind and is
//! disconnected (its queue is closed, and its connection ends), so that a slow or dead client
//! never holds up writes or other clients. It catches up by searching with `_lastUpdated`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, Utf8Bytes};
use tokio::sync::mpsc;

use crate::authz::Caller;

/// Frames queued per client before it counts as fallen behind.
pub const QUEUE: usize = 256;

#[derive(Debug, Clone)]
struct Subscriber {
    key: u64,
    caller: Arc<Caller>,
    queue: mpsc::Sender<Message>,
}

/// The bound clients by Subscription id.
#[derive(Debug, Default)]
pub struct Subscribers {
    next_key: AtomicU64,
    bound: Mutex<HashMap<String, Vec<Subscriber>>>,
}

/// A client's binding to a Subscription; dropping it unbinds the client.
#[derive(Debug)]
pub struct Binding {
    subscribers: Arc<Subscribers>,
    subscription: String,
    key: u64,
    /// The frames to send, in order; `None` once the client was disconnected.
    pub queue: mpsc::Receiver<Message>,
}

impl Drop for Binding {
    fn drop(&mut self) {
        self.subscribers.remove(&self.subscription, &[self.key]);
    }
}

impl Subscribers {
    /// Binds `caller`'s client to Subscription `subscription`.
    pub fn bind(self: &Arc<Self>, subscription: &str, caller: Caller) -> Binding {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (sender, queue) = mpsc::channel(QUEUE);
        if let Ok(mut bound) = self.bound.lock() {
            bound
                .entry(subscription.to_owned())
                .or_default()
                .push(Subscriber {
                    key,
                    caller: Arc::new(caller),
                    queue: sender,
                });
        }
        Binding {
            subscribers: self.clone(),
            subscription: subscription.to_owned(),
            key,
            queue,
        }
    }

    /// Whether any client is bound to Subscription `subscription`.
    pub fn has(&self, subscription: &str) -> bool {
        self.bound
            .lock()
            .is_ok_and(|bound| bound.get(subscription).is_some_and(|s| !s.is_empty()))
    }

    /// Whether any client is bound at all.
    pub fn is_empty(&self) -> bool {
        self.bound.lock().is_ok_and(|bound| bound.is_empty())
    }

    /// The callers of the clients bound to `subscription`, by key.
    pub fn callers(&self, subscription: &str) -> Vec<(u64, Arc<Caller>)> {
        self.bound
            .lock()
            .ok()
            .and_then(|bound| {
                bound.get(subscription).map(|subscribers| {
                    subscribers
                        .iter()
                        .map(|s| (s.key, s.caller.clone()))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Queues `text` for the clients `keys` of `subscription`; disconnects those that fell
    /// behind.
    pub fn send(&self, subscription: &str, keys: &[u64], text: String) {
        let message = Message::Text(Utf8Bytes::from(text));
        let mut behind = Vec::new();
        if let Ok(bound) = self.bound.lock()
            && let Some(subscribers) = bound.get(subscription)
        {
            for subscriber in subscribers.iter().filter(|s| keys.contains(&s.key)) {
                if subscriber.queue.try_send(message.clone()).is_err() {
                    behind.push(subscriber.key);
                }
            }
        }
        if !behind.is_empty() {
            tracing::warn!(
                subscription,
                clients = behind.len(),
                "websocket clients fell behind and are disconnected"
            );
            self.remove(subscription, &behind);
        }
    }

    /// Disconnects every client, e.g. because changes were missed or the server stops; they
    /// catch up by searching after they reconnect. Returns how many were bound.
    pub fn disconnect_all(&self) -> usize {
        let Ok(mut bound) = self.bound.lock() else {
            return 0;
        };
        let clients = bound.values().map(Vec::len).sum();
        bound.clear();
        clients
    }

    fn remove(&self, subscription: &str, keys: &[u64]) {
        if let Ok(mut bound) = self.bound.lock()
            && let Some(subscribers) = bound.get_mut(subscription)
        {
            subscribers.retain(|s| !keys.contains(&s.key));
            if subscribers.is_empty() {
                bound.remove(subscription);
            }
        }
    }
}
