//! Privacy primitives for DSF processes.

pub mod clk;
pub mod filter;
pub mod format;
pub mod schema;
mod tokens;

pub use clk::{ClkEncoder, EncodeError};
pub use filter::{BloomFilter, FilterError};
pub use schema::{LinkageSchema, SchemaError};
