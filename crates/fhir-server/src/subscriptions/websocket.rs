//! The websocket endpoint `{base}/ws`, with the reference's protocol: the client sends
//! `bind <subscription-id>`, the server answers `bound <subscription-id>` and then sends a frame
//! per matching resource, and a ping frame every 28 seconds.
//!
//! Refusals close the socket as the reference does: 1008 (policy violation) "Forbidden" for a
//! caller without the websocket role or who may not read the Subscription, 1003 for a Subscription
//! that does not exist. A client that falls behind is dropped without a close frame, as a broken
//! connection (1006), on which clients reconnect and catch up.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::SinkExt;

use crate::authz::{Caller, Operation, permits, read::may_read};
use crate::state::AppState;

/// How often the server pings; a client that has not answered the previous ping by then is
/// dropped.
const PING_EVERY: Duration = Duration::from_secs(28);
/// How long a client may take for `bind`.
const BIND_TIMEOUT: Duration = Duration::from_secs(60);
/// Most queued frames written before one flush.
const MAX_BATCH: usize = 64;
/// How long one frame may take to be sent before the client counts as dead.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET {base}/ws`: upgrades to a websocket and runs the subscription protocol.
pub async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve(socket, state, caller))
}

async fn close(mut socket: WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The Subscription id of the client's `bind` frame; `None` when it went away first.
async fn bind_request(socket: &mut WebSocket) -> Option<String> {
    loop {
        match tokio::time::timeout(BIND_TIMEOUT, socket.recv()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Some(id) = text.as_str().strip_prefix("bind ") {
                    return Some(id.trim().to_owned());
                }
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_)))) => {}
            _ => return None,
        }
    }
}

/// Sends `first` and whatever else is queued already, flushing once: under load, many frames
/// leave in one write.
async fn send_queued(
    socket: &mut WebSocket,
    first: Message,
    queue: &mut tokio::sync::mpsc::Receiver<Message>,
) -> Result<(), axum::Error> {
    socket.feed(first).await?;
    for _ in 1..MAX_BATCH {
        match queue.try_recv() {
            Ok(frame) => socket.feed(frame).await?,
            Err(_) => break,
        }
    }
    socket.flush().await
}

async fn serve(mut socket: WebSocket, state: AppState, caller: Caller) {
    if !permits(&caller.identity, Operation::Websocket, "Subscription") {
        // Logged on the audit target; the client learns only "Forbidden".
        let _ = caller.forbidden(Operation::Websocket, "no websocket role");
        return close(socket, close_code::POLICY, "Forbidden".into()).await;
    }
    let Some(id) = bind_request(&mut socket).await else {
        return;
    };
    let subscription = if uuid::Uuid::try_parse(&id).is_ok() {
        state.store.read("Subscription", &id).await
    } else {
        Ok(None)
    };
    let subscription = match subscription {
        Ok(Some(stored)) if !stored.deleted => stored,
        Ok(_) => {
            let reason = format!("Subscription with id {id} not found");
            return close(socket, close_code::UNSUPPORTED, reason).await;
        }
        Err(e) => {
            tracing::error!("websocket bind: {e}");
            return close(socket, close_code::ERROR, "Internal error".into()).await;
        }
    };
    if !may_read(&caller, &state.store, &subscription)
        .await
        .unwrap_or(false)
    {
        let _ = caller.forbidden(
            Operation::Websocket,
            format!("Subscription/{id} not readable"),
        );
        return close(socket, close_code::POLICY, "Forbidden".into()).await;
    }
    let mut binding = state.subscribers.bind(&id, caller);
    if socket
        .send(Message::Text(format!("bound {id}").into()))
        .await
        .is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut awaited_pong: Option<Vec<u8>> = None;
    loop {
        tokio::select! {
            frame = binding.queue.recv() => {
                // `None`: the client fell behind and was disconnected.
                let Some(frame) = frame else { return };
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, send_queued(&mut socket, frame, &mut binding.queue)).await, Ok(Ok(()))) {
                    return;
                }
            }
            _ = ping.tick() => {
                if awaited_pong.is_some() {
                    return;
                }
                let payload = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
                awaited_pong = Some(payload.clone());
                if socket.send(Message::Ping(payload.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Pong(payload))) => {
                    if awaited_pong.as_deref() == Some(&payload[..]) {
                        awaited_pong = None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
