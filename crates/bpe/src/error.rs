//! Errors of the process engine service.

use thiserror::Error;

/// What went wrong in the process engine service.
#[derive(Debug, Error)]
pub enum BpeError {
    /// A certificate or key could not be loaded.
    #[error(transparent)]
    Pki(#[from] dsf_pki::PkiError),
    /// The TLS configuration is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A FHIR server answered with an error or could not be reached.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// The engine failed.
    #[error("process engine: {0}")]
    Engine(#[from] dsf_bpmn::error::EngineError),
    /// The engine's database failed.
    #[error("process engine database: {0}")]
    Store(#[from] dsf_bpmn_store::SqlStoreError),
    /// The service's own tables failed.
    #[error("process engine database: {0}")]
    Database(#[from] sqlx::Error),
    /// A process plugin is invalid.
    #[error("process plugin {plugin}: {message}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
}
