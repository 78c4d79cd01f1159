//! What every handler shares.

use std::sync::Arc;

use dsf_fhir_store::Store;

use crate::config::ServerConfig;

/// The server's shared state: the store and the settings.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The resource store.
    pub store: Store,
    /// The settings.
    pub config: Arc<ServerConfig>,
}
