//! SQLite and PostgreSQL persistence for the [`dsf_bpmn`] process engine.
//!
//! [`SqlStore`] implements [`dsf_bpmn::store::Store`] on either database. Its tables carry the
//! prefix `bpmn_` so that they can live in the same PostgreSQL database as the FHIR store; its
//! migrations are recorded in their own table, `bpmn_migrations`, so that the two schemas migrate
//! independently and in either order. On SQLite the engine gets a file of its own (`bpe.db`).
//!
//! - `bpmn_definitions` holds deployed BPMN XML by key and engine version;
//! - `bpmn_instances` holds each process instance as JSON with the columns the engine queries:
//!   definition, business key, state, next due time, revision and lease.
//!
//! Every engine commit is one SQL transaction. A record is written only if the stored revision is
//! the one the engine read (`UPDATE ... WHERE revision = $old`); otherwise nothing of the commit is
//! written and the engine sees [`dsf_bpmn::store::CommitError::Conflict`]. Due instances are
//! leased to one engine with an expiry: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so that
//! engines sharing the database never block each other; on SQLite inside `BEGIN IMMEDIATE`, the
//! database's single writer.

#![warn(missing_docs)]

mod columns;
mod db;
mod error;
mod migrations;
mod store;

pub use db::Durability;
pub use error::SqlStoreError;
pub use store::SqlStore;
