//! The DSF FHIR server: the REST API other sites and the local process engine call.
//!
//! [`router`] builds the axum router over a [`dsf_fhir_store::Store`]; [`serve`] runs it on a
//! listener. Requests pass the authentication middleware ([`identity`], which hands every handler
//! the caller's [`Identity`]) and content negotiation ([`negotiate`]), then a route handler, which
//! parses the request and calls an interaction ([`interactions`]). Interactions are shared with
//! batch and transaction Bundles ([`transaction`]) and return a [`Reply`] that is written as an HTTP
//! response or a Bundle entry. Errors are [`ApiError`]s: a status code and an OperationOutcome,
//! with the status codes the reference implementation uses.

pub mod allow_list;
pub mod authz;
pub mod body;
pub mod bundles;
pub mod capability;
pub mod config;
pub mod conformance;
pub mod error;
pub mod identity;
pub mod init_bundle;
pub mod interactions;
pub mod negotiate;
pub mod outcome;
pub mod practitioners;
pub mod prefer;
pub mod reply;
pub mod routes;
pub mod settings;
pub mod site_file;
pub mod startup;
pub mod state;
pub mod subscriptions;
pub mod tls;
pub mod transaction;
pub mod validation;

pub use config::ServerConfig;
pub use error::ApiError;
pub use identity::{AuthMode, Identity};
pub use reply::Reply;
pub use routes::router;
pub use settings::FhirSettings;
pub use state::AppState;

use axum::ServiceExt;
use axum::serve::ListenerExt;
use dsf_fhir_store::Store;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// Serves the FHIR API for `store` on `listener` until `shutdown` completes: over mutual TLS, or
/// over plain HTTP behind a proxy or for development, as `auth` says. The DSF profiles are
/// loaded first, as at every start of a site.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: ServerConfig,
    auth: AuthMode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(store, config, auth);
    startup::load_conformance(&state)
        .await
        .map_err(std::io::Error::other)?;
    serve_state(listener, state, shutdown).await
}

/// [`serve`] with a prepared state.
pub async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = match &state.auth {
        AuthMode::MutualTls(tls) => Some(tls.clone()),
        AuthMode::DevInsecure | AuthMode::Proxy(_) => None,
    };
    let subscriptions = subscriptions::start(&state);
    // Websocket connections are not requests a graceful shutdown waits for: they are closed.
    let subscribers = state.subscribers.clone();
    let shutdown = async move {
        shutdown.await;
        let clients = subscribers.disconnect_all();
        tracing::info!(clients, "server stopping: websocket clients disconnected");
    };
    // Trailing slashes are trimmed before routing, so `{base}/` and `{base}` are the same.
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(state));
    let served = match tls {
        Some(tls) => tls::serve(listener, tls, app, shutdown).await,
        None => {
            // Small frames (websocket events) go out at once, not after the peer's delayed ACK.
            let listener = listener.tap_io(|stream| {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!("TCP_NODELAY: {e}");
                }
            });
            axum::serve(
                listener,
                ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    std::net::SocketAddr,
                >(app),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
    };
    subscriptions.abort();
    served
}
