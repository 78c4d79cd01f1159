//! Integration tests of `dsf-bpmn-store` on SQLite and PostgreSQL.
//!
//! - `behaviour`: the engine on each database: wait states, failed jobs, restarts, revisions and
//!   leases;
//! - `migrations`: the store's schema beside the FHIR store's in one database;
//! - `shared`: two engines on one PostgreSQL database;
//! - `crash`: an engine process killed with SIGKILL resumes from the database;
//! - `start_timers`: timer start events fire once per due time across engines and restarts;
//! - `bench`: throughput figures per store (ignored by default).

mod behaviour;
mod bench;
mod common;
mod crash;
mod migrations;
mod shared;
mod start_timers;
