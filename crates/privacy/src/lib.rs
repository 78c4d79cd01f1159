//! Privacy primitives for DSF processes: what hospitals need to answer research questions across
//! sites without exposing patients.
//!
//! - **Record linkage with Bloom filters.** [`LinkageSchema`] reads clkhash's linkage schema (v3
//!   JSON) and [`ClkEncoder`] encodes records into [`BloomFilter`]s bit-identical to clkhash's.
//!   [`record_filter`] builds record-level filters in the HiGHmed design. [`linkage`] matches
//!   filters at the linking party: Dice similarity, popcount pruning, greedy one-to-one and
//!   multi-party grouping, and precision/recall/F1 against known matches; [`blocking`] lets it
//!   compare far fewer pairs at a documented risk of missing some.
//! - **Pseudonyms and encryption.** [`pseudonym`] derives site pseudonyms and delivers per-study
//!   cross-site pseudonyms; [`envelope`] seals data between sites with AES-256-GCM and RSA-OAEP
//!   key wrapping, bound to `sender|receiver`.
//! - **Aggregates.** [`obfuscation`] applies the MII feasibility Laplace obfuscation and the
//!   minimum-sites rule; [`secure_sum`] adds counts by additive secret sharing modulo `2^31 - 1`.
//! - **CLI.** [`cli`] holds the `dsf privacy` command line.
//!
//! ```
//! use dsf_privacy::{ClkEncoder, LinkageSchema};
//! use dsf_privacy::linkage::{link, LinkOptions};
//!
//! let schema = LinkageSchema::from_json(r#"{
//!   "version": 3,
//!   "clkConfig": {"l": 1024, "kdf": {"type": "HKDF"}},
//!   "features": [
//!     {"identifier": "name", "format": {"type": "string"},
//!      "hashing": {"comparison": {"type": "ngram", "n": 2},
//!                  "strategy": {"bitsPerToken": 30}, "hash": {"type": "doubleHash"}}}
//!   ]}"#)?;
//! let mut encoder = ClkEncoder::new(&schema, b"secret shared by the sites")?;
//! let site_a = vec![encoder.encode(&["Johanna Schmidt"])?, encoder.encode(&["Peter Weber"])?];
//! let site_b = vec![encoder.encode(&["Petr Weber"])?, encoder.encode(&["Johana Schmidt"])?];
//! let linkage = link(&[site_a, site_b], LinkOptions { threshold: 0.8, threads: 1, blocking: None })?;
//! assert_eq!(linkage.groups.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod blocking;
pub mod cli;
pub mod clk;
pub mod envelope;
pub mod filter;
pub mod format;
pub mod linkage;
pub mod obfuscation;
pub mod pseudonym;
mod random;
pub mod record_filter;
pub mod schema;
pub mod secure_sum;
mod tokens;

pub use clk::{ClkEncoder, EncodeError};
pub use filter::{BloomFilter, FilterError};
pub use random::RandomError;
pub use schema::{LinkageSchema, SchemaError};
