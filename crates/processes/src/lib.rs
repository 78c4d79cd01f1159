//! The process plugins that come with every site, wire-compatible with the reference's: the same
//! process ids, canonical URLs, message names, Task profiles and outputs, with models and
//! resources authored here.
//!
//! - [`ping_pong`]: `dsfdev_ping` and `dsfdev_pong`, the federation's connection test.
//!
//! Each plugin registers its activities under this project's class names and under the
//! reference's (`dev.dsf.bpe...`), so that the reference's own models run unchanged.

#![warn(missing_docs)]

pub mod ping_pong;

use std::sync::Arc;

use dsf_bpe::ProcessPlugin;

/// Every built-in plugin.
pub fn all() -> Vec<Arc<dyn ProcessPlugin>> {
    vec![Arc::new(ping_pong::PingPong)]
}
