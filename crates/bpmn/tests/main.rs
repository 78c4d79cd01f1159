//! Integration tests of `dsf-bpmn` through its public API.
//!
//! - `file_store`: a directory-backed store for the process-kill test.
//! - `fixtures`: every community and plugin model of `../shared/fixtures` parses and deploys.
//! - `plugins`: the DSF plugin processes run end to end with test delegates.
//! - `elements`: one focused model per element kind or extension, from `tests/models/`.
//! - `inline`: classes run inside the command that reaches them; commits fall at wait states.
//! - `recovery`: instances resume from the store after the engine stops between commits.
//! - `shared`: two engines on one store (leases, work locks, revisions).

mod common;
mod elements;
mod file_store;
mod fixtures;
mod inline;
mod plugins;
mod recovery;
mod shared;
