//! The connection to the site's FHIR server as the reference's BPE keeps it (dsf-bpe.md §1.3):
//! find the Subscription, open the websocket with the site's client certificate, `bind` it, then
//! catch up by searching what was missed since the last resource handled, and handle every
//! resource the server pushes. A lost connection is opened again, with a catch-up each time, so
//! nothing is missed while it was down.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;

use crate::api::encode;
use crate::client::FhirClient;
use crate::error::BpeError;
use crate::handler::Handler;
use crate::tls::ClientTls;

/// The criteria of the Subscription for Tasks.
pub const TASK_CRITERIA: &str = "Task?status=requested";
/// The criteria of the Subscription for QuestionnaireResponses.
pub const QUESTIONNAIRE_RESPONSE_CRITERIA: &str = "QuestionnaireResponse?status=completed";
/// How far before the last handled resource a catch-up searches: a version's `lastUpdated` is
/// set when it is written, so one committed late may carry an earlier time.
const CATCH_UP_OVERLAP: time::Duration = time::Duration::seconds(5);
/// Resources handled at the same time.
const CONCURRENT: usize = 32;
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Follows the Subscription with `criteria` on `local` until the task is aborted.
pub async fn follow(
    local: FhirClient,
    tls: ClientTls,
    handler: Arc<Handler>,
    criteria: &'static str,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match connect_and_follow(&local, &tls, &handler, criteria).await {
            Ok(()) => {
                tracing::info!(criteria, "websocket closed, reconnecting");
                backoff = Duration::from_millis(200);
            }
            Err(e) => tracing::warn!(criteria, "websocket: {e}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: returns when it closes.
async fn connect_and_follow(
    local: &FhirClient,
    tls: &ClientTls,
    handler: &Arc<Handler>,
    criteria: &str,
) -> Result<(), BpeError> {
    let subscription = subscription_id(local, criteria).await?;
    let url = local.websocket_url();
    let connector = Connector::Rustls(tls.websocket.clone());
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        false,
        Some(connector),
    )
    .await
    .map_err(|e| BpeError::Config(format!("websocket {url}: {e}")))?;
    let closed = |e: tokio_tungstenite::tungstenite::Error| {
        BpeError::Config(format!("websocket {url}: {e}"))
    };
    socket
        .send(Message::text(format!("bind {subscription}")))
        .await
        .map_err(closed)?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.as_str() == format!("bound {subscription}") => {}
        other => {
            return Err(BpeError::Config(format!(
                "websocket {url}: bind {subscription} answered with {other:?}"
            )));
        }
    }
    tracing::info!(criteria, subscription, "websocket bound");
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    catch_up(local, handler, criteria).await?;
    while let Some(frame) = socket.next().await {
        match frame.map_err(closed)? {
            Message::Text(text) if text.as_str().starts_with("ping ") => {
                catch_up(local, handler, criteria).await?;
            }
            Message::Text(text) => match serde_json::from_str::<Value>(text.as_str()) {
                // Handled concurrently, at most `CONCURRENT` at a time, as the reference hands
                // each resource to a thread pool.
                Ok(resource) => {
                    let permit = permits
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| BpeError::Config(e.to_string()))?;
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        handle(&handler, resource).await;
                        drop(permit);
                    });
                }
                Err(e) => tracing::warn!(criteria, "unreadable websocket frame: {e}"),
            },
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// The id of the active websocket Subscription with `criteria` and a JSON payload.
async fn subscription_id(local: &FhirClient, criteria: &str) -> Result<String, BpeError> {
    let query = format!(
        "Subscription?criteria={}&status=active&type=websocket&payload={}",
        encode(criteria),
        encode("application/fhir+json")
    );
    local
        .search_all(&query)
        .await?
        .into_iter()
        .find(|s| s.get("criteria").and_then(Value::as_str) == Some(criteria))
        .and_then(|s| s.get("id").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| BpeError::Config(format!("no active websocket Subscription for {criteria}")))
}

/// Handles what matches `criteria` and was updated since (shortly before) the last resource
/// handled, oldest first.
async fn catch_up(local: &FhirClient, handler: &Handler, criteria: &str) -> Result<(), BpeError> {
    let resource_type = criteria.split('?').next().unwrap_or(criteria);
    let mut query = format!("{criteria}&_sort=_lastUpdated&_count=100");
    if let Some(last) = handler.state().last_event(resource_type).await?
        && let Ok(last) = OffsetDateTime::parse(&last, &Rfc3339)
    {
        let since = (last - CATCH_UP_OVERLAP)
            .format(&Rfc3339)
            .unwrap_or_default();
        query.push_str(&format!("&_lastUpdated=ge{}", encode(&since)));
    }
    let found = local.search_all(&query).await?;
    if !found.is_empty() {
        tracing::info!(criteria, count = found.len(), "catching up");
    }
    for resource in found {
        if resource.get("resourceType").and_then(Value::as_str) == Some(resource_type) {
            handle(handler, resource).await;
        }
    }
    Ok(())
}

async fn handle(handler: &Handler, resource: Value) {
    if let Err(e) = handler.handle(resource).await {
        tracing::error!("handling a delivered resource: {e}");
    }
}
