//! Integration tests of `dsf-privacy` through its public API, one module per topic:
//! - `clkhash`: bit-identity with clkhash (committed reference encodings and a live run), and
//!   encodings independent of the encoder's caches;
//! - `schema`: linkage schema parsing and record validation errors;
//! - `linkage`: Dice, pruning, one-to-one and multi-party grouping, quality figures;
//! - `record_filter`: HiGHmed-style record-level Bloom filters;
//! - `envelope`: sealing and opening, with tampering, wrong keys and malformed input;
//! - `pseudonym`: site and study pseudonyms;
//! - `aggregates`: count obfuscation, minimum sites and secure sums;
//! - `cli`: the `dsf privacy` subcommands end to end on files.

mod aggregates;
mod cli;
mod clkhash;
mod envelope;
mod linkage;
mod pseudonym;
mod record_filter;
mod schema;

/// Path of a file under `tests/data`.
pub fn data(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Contents of a text file under `tests/data`.
pub fn read_data(path: &str) -> String {
    std::fs::read_to_string(data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}
