//! The change feed: every committed write, in commit order, for whoever follows the store
//! ([`crate::Store::changes`]), e.g. the server's subscriptions.
//!
//! A change is announced only after the transaction holding it committed, never for one that
//! rolled back. With embedded SQLite the group commit announces the writes of each real commit in
//! the order they were made (`group_commit.rs`). With PostgreSQL every transaction sends a
//! `NOTIFY` (type, id, version) before it commits; PostgreSQL delivers notifications at commit, in
//! commit order, to every listening connection, so each server process on one database learns of
//! the writes of all of them, its own included, in the same order.
//!
//! Followers hold a [`tokio::sync::broadcast`] receiver. One that falls too far behind gets
//! `RecvError::Lagged`, and a lost PostgreSQL connection is announced as [`Change::Missed`]:
//! either way changes were missed, and the follower has to catch up by searching.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgNotification};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::db::Session;
use crate::{StoreError, Stored};

/// The PostgreSQL notification channel of the change feed.
const CHANNEL: &str = "dsf_changes";
/// Changes kept for followers that are behind; past that they lag.
const BUFFERED: usize = 8192;
/// Most bytes of one notification's payload (PostgreSQL allows just under 8000).
const MAX_PAYLOAD: usize = 7000;

/// A committed version of a resource.
#[derive(Debug, Clone)]
pub struct Written {
    /// The resource type.
    pub resource_type: String,
    /// The resource id.
    pub id: String,
    /// The committed version (for a permanent delete, the deletion it removed).
    pub version: i64,
    /// Whether the version is a deletion.
    pub deleted: bool,
    /// The version as written, when this process wrote it with embedded SQLite (not for
    /// Binaries): followers need not read it back.
    pub stored: Option<Arc<Stored>>,
}

impl PartialEq for Written {
    /// The same version of the same resource.
    fn eq(&self, other: &Self) -> bool {
        (&self.resource_type, &self.id, self.version, self.deleted)
            == (
                &other.resource_type,
                &other.id,
                other.version,
                other.deleted,
            )
    }
}

impl Eq for Written {}

/// One event of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A version was committed.
    Written(Written),
    /// Changes may have been missed (the database connection that listens was lost).
    Missed,
}

impl Written {
    /// `type id version d|w`: the notification line of this change.
    fn to_line(&self) -> String {
        let kind = if self.deleted { 'd' } else { 'w' };
        format!("{} {} {} {kind}", self.resource_type, self.id, self.version)
    }

    fn from_line(line: &str) -> Option<Written> {
        let mut parts = line.split(' ');
        let resource_type = parts.next()?.to_owned();
        let id = parts.next()?.to_owned();
        let version = parts.next()?.parse().ok()?;
        let deleted = match parts.next()? {
            "d" => true,
            "w" => false,
            _ => return None,
        };
        Some(Written {
            resource_type,
            id,
            version,
            deleted,
            stored: None,
        })
    }
}

/// Type, id and version of a resource version.
type VersionKey = (String, String, i64);

/// The kept versions, and their keys oldest first.
#[derive(Debug, Default)]
struct Kept {
    by_key: HashMap<VersionKey, Arc<Stored>>,
    order: VecDeque<VersionKey>,
}

/// Versions this process wrote to PostgreSQL, kept until their notification comes back.
const RECENT: usize = 4096;

/// The versions this process committed lately, by type, id and version, so that followers of
/// a notification of one of them need not read it back ([`crate::Store::written_version`]).
/// Filled after the commit, so only committed versions are found (a version number is never
/// reused once committed).
#[derive(Debug, Default)]
pub(crate) struct Recent {
    versions: Mutex<Kept>,
}

impl Recent {
    /// Keeps the versions of `changes`.
    pub(crate) fn keep(&self, changes: &[Written]) {
        let Ok(mut guard) = self.versions.lock() else {
            return;
        };
        let Kept { by_key, order } = &mut *guard;
        for change in changes {
            if let Some(stored) = &change.stored {
                let key = (
                    change.resource_type.clone(),
                    change.id.clone(),
                    change.version,
                );
                if by_key.insert(key.clone(), stored.clone()).is_none() {
                    order.push_back(key);
                }
            }
        }
        while order.len() > RECENT {
            if let Some(old) = order.pop_front() {
                by_key.remove(&old);
            }
        }
    }

    /// The version `change` announces, if this process wrote it lately.
    pub(crate) fn get(&self, change: &Written) -> Option<Arc<Stored>> {
        let guard = self.versions.lock().ok()?;
        let key = (
            change.resource_type.clone(),
            change.id.clone(),
            change.version,
        );
        guard.by_key.get(&key).cloned()
    }
}

/// The sending side of the feed, shared by every clone of a store; stops the PostgreSQL listener
/// when the last clone is gone.
#[derive(Debug)]
pub(crate) struct Feed {
    sender: broadcast::Sender<Change>,
    listener: Option<JoinHandle<()>>,
    /// PostgreSQL: the versions this process committed lately.
    pub(crate) recent: Arc<Recent>,
}

impl Feed {
    /// A feed that the store's own commits feed (embedded SQLite).
    pub(crate) fn local() -> Feed {
        Feed {
            sender: broadcast::channel(BUFFERED).0,
            listener: None,
            recent: Arc::default(),
        }
    }

    /// A feed fed by the database's notifications (PostgreSQL at `url`). Listening has begun when
    /// this returns, so no commit after it is missed.
    pub(crate) async fn postgres(url: &str) -> Result<Feed, StoreError> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        let sender = broadcast::channel(BUFFERED).0;
        let listener = tokio::spawn(follow(listener, sender.clone()));
        Ok(Feed {
            sender,
            listener: Some(listener),
            recent: Arc::default(),
        })
    }

    /// The sender the group commit announces committed writes with.
    pub(crate) fn sender(&self) -> broadcast::Sender<Change> {
        self.sender.clone()
    }

    /// A new follower: it receives every change announced from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}

impl Feed {
    /// Stops listening (PostgreSQL); followers get no more changes.
    pub(crate) fn close(&self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.close();
    }
}

/// Announces `changes` (nobody listening is fine).
pub(crate) fn publish(sender: &broadcast::Sender<Change>, changes: Vec<Written>) {
    for change in changes {
        let _ = sender.send(Change::Written(change));
    }
}

/// Sends the PostgreSQL notifications for `changes`, to be delivered when `session` commits.
pub(crate) async fn notify(session: &mut Session, changes: &[Written]) -> Result<(), StoreError> {
    let mut payload = String::new();
    for change in changes {
        let line = change.to_line();
        if !payload.is_empty() && payload.len() + line.len() >= MAX_PAYLOAD {
            send_notification(session, std::mem::take(&mut payload)).await?;
        }
        if !payload.is_empty() {
            payload.push('\n');
        }
        payload.push_str(&line);
    }
    if !payload.is_empty() {
        send_notification(session, payload).await?;
    }
    Ok(())
}

async fn send_notification(session: &mut Session, payload: String) -> Result<(), StoreError> {
    let mut sql = session.sql();
    sql.push("SELECT pg_notify(")
        .bind(CHANNEL)
        .push(", ")
        .bind(payload)
        .push(")");
    session.execute(sql).await.map(|_| ())
}

/// Passes the notifications of `listener` on to `sender` until the feed is dropped.
async fn follow(mut listener: PgListener, sender: broadcast::Sender<Change>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => announce(&sender, &notification),
            // The connection was lost and is re-established on the next call.
            Ok(None) => {
                tracing::warn!("change feed: the listening connection was lost");
                let _ = sender.send(Change::Missed);
            }
            Err(e) => {
                tracing::warn!("change feed: {e}");
                let _ = sender.send(Change::Missed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn announce(sender: &broadcast::Sender<Change>, notification: &PgNotification) {
    for line in notification.payload().lines() {
        match Written::from_line(line) {
            Some(change) => {
                let _ = sender.send(Change::Written(change));
            }
            None => tracing::warn!("change feed: unreadable notification {line:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let change = Written {
            resource_type: "Task".into(),
            id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
            version: 3,
            deleted: true,
            stored: None,
        };
        assert_eq!(Written::from_line(&change.to_line()), Some(change));
        assert_eq!(Written::from_line("Task x y w"), None);
    }
}
