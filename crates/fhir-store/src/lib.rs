//! The FHIR resource store: every version of every resource, soft deletes, history and search
//! indexes, on embedded SQLite (the default) or PostgreSQL (production).
//!
//! [`Store`] is opened from a [`StoreConfig`] and migrates its database at start-up. Writes go
//! through a [`Transaction`], which maintains the search indexes in the same database transaction
//! as the resource rows, so a search never sees a resource without its index or the reverse.
//! Searches are described by [`SearchQuery`], parsed from a request's query string against the
//! search parameters the server supports ([`search::params`]).
//!
//! All storage logic is written once over a small SQL builder; the two backends differ only in
//! their schema files and SQL dialect details (placeholders, JSONB, row locks).

mod cache;
mod changes;
mod db;
mod error;
mod group_commit;
mod matcher;
pub mod search;
mod store;

pub use changes::{Change, Written};
pub use error::StoreError;
pub use search::query::{SearchIssue, SearchQuery};
pub use store::{
    Deleted, HistoryQuery, HistoryResult, MATCH_BATCH, SearchResult, Store, StoreConfig, Stored,
    Transaction, format_instant,
};
