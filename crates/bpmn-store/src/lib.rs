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
//! Engine commits that arrive at the same time share one SQL transaction (group commit, see
//! `group_commit`), so that one WAL flush serves many of them; each is acknowledged only once that
//! transaction has committed. A record is written only if it carries the revision after the
//! stored one; otherwise nothing of its commit is written and the engine sees
//! [`dsf_bpmn::store::CommitError::Conflict`], while the other commits of the transaction are
//! written. Due instances are leased to one engine with an expiry: on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so that engines sharing the database never block each other; on
//! SQLite inside `BEGIN IMMEDIATE`, the database's single writer.

#![warn(missing_docs)]

mod columns;
mod db;
mod error;
mod group_commit;
mod migrations;
mod store;

pub use db::Durability;
pub use error::SqlStoreError;
pub use store::SqlStore;
