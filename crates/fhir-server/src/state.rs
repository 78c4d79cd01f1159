//! What every handler shares.

use std::sync::Arc;

use dsf_fhir_store::{Store, Transaction};

use crate::allow_list::{ALLOW_LIST_TYPES, AllowListCache};
use crate::authz::definitions::DefinitionCache;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::identity::AuthMode;
use crate::subscriptions::subscribers::Subscribers;
use crate::validation::{CONFORMANCE_TYPES, Profiles};

/// The server's shared state: the store, the settings, the allow list and the websocket clients.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The resource store.
    pub store: Store,
    /// The settings.
    pub config: Arc<ServerConfig>,
    /// How callers are authenticated.
    pub auth: AuthMode,
    /// The federation's organizations, for authentication and authorization.
    pub allow_list: Arc<AllowListCache>,
    /// The ActivityDefinitions Tasks are authorized by.
    pub definitions: Arc<DefinitionCache>,
    /// The websocket clients bound to Subscriptions.
    pub subscribers: Arc<Subscribers>,
    /// The profiles writes are validated against.
    pub profiles: Arc<Profiles>,
}

impl AppState {
    /// The state of a server over `store`.
    pub fn new(store: Store, config: ServerConfig, auth: AuthMode) -> AppState {
        AppState {
            allow_list: Arc::new(AllowListCache::new(store.clone())),
            definitions: Arc::new(DefinitionCache::new(store.clone())),
            profiles: Arc::new(Profiles::new(store.clone())),
            subscribers: Arc::default(),
            store,
            config: Arc::new(config),
            auth,
        }
    }

    /// Commits `tx`; the allow list is read again when the transaction changed it.
    pub async fn commit(&self, tx: Transaction) -> Result<(), ApiError> {
        let allow_list_changed = ALLOW_LIST_TYPES.iter().any(|t| tx.touches(t));
        let definitions_changed = tx.touches("ActivityDefinition");
        let profiles_changed = CONFORMANCE_TYPES.iter().any(|t| tx.touches(t));
        tx.commit().await?;
        if allow_list_changed {
            self.allow_list.invalidate();
        }
        if definitions_changed {
            self.definitions.invalidate();
        }
        if profiles_changed {
            self.profiles.invalidate();
        }
        Ok(())
    }
}
