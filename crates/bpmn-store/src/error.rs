//! Errors of the SQL store.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlStoreError {
    /// The database reported an error or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The transaction shared by several commits failed; none of them was written.
    #[error("{0}")]
    Batch(std::sync::Arc<SqlStoreError>),
    /// A stored row holds a value the engine cannot read.
    #[error("invalid stored value: {0}")]
    Invalid(String),
}
