//! Errors of the store, by kind, so that the server can answer with the right status code.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No resource with this type and id exists.
    #[error("{resource_type}/{id} not found")]
    NotFound {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
    },
    /// The resource was deleted; `version` is the deletion's version.
    #[error("{resource_type}/{id} is deleted")]
    Gone {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The version the deletion created.
        version: i64,
    },
    /// An update expected another version than the current one.
    #[error("version {expected} expected, but the current version is {current}")]
    VersionConflict {
        /// The version the caller expected (`If-Match`).
        expected: i64,
        /// The current version.
        current: i64,
    },
    /// `$permanent-delete` of a resource that was not deleted first.
    #[error("{resource_type}/{id} must be deleted before it can be deleted permanently")]
    NotDeleted {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
    },
    /// A concurrent write changed the same resource; the transaction was rolled back.
    #[error("a concurrent write changed the same resource, try again")]
    Conflict,
    /// A resource to be written is not usable (e.g. a Binary whose data is not base64).
    #[error("{0}")]
    Invalid(String),
    /// The commit that held this write failed; nothing of it was stored.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Matching versions against a search failed (in-memory SQLite).
    #[error("matching failed: {0}")]
    Matching(String),
    /// Migrating the database at start-up failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // A unique violation on (type, id, version) means two writers raced for one resource.
        if let sqlx::Error::Database(db) = &e
            && db.kind() == sqlx::error::ErrorKind::UniqueViolation
        {
            return StoreError::Conflict;
        }
        StoreError::Database(e)
    }
}
