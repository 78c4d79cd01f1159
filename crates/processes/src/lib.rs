//! The process plugins that come with every site, wire-compatible with the reference's: the same
//! process ids, canonical URLs, message names, Task profiles and outputs, with models and
//! resources authored here.
//!
//! - [`ping_pong`]: `dsfdev_ping` and `dsfdev_pong`, the federation's connection test, and
//!   `dsfdev_pingAutostart`, which starts a ping of the local organization at an interval until
//!   it is stopped;
//! - [`hello_world`]: `dsfdev_helloWorld` and `dsfdev_helloUser`, examples for plugin authors,
//!   the second with a user task;
//! - [`allow_list`]: `dsfdev_updateAllowList`, which publishes the federation's allow list as a
//!   Bundle at the organization that manages it, and `dsfdev_downloadAllowList`, which downloads,
//!   checks and inserts it at every site.
//!
//! Each plugin registers its activities under this project's class names and under the
//! reference's (`dev.dsf.bpe...`), so that the reference's own models run unchanged.

#![warn(missing_docs)]

/// A FHIR resource file of a plugin, `resources/<plugin>/fhir/<file>`.
macro_rules! fhir {
    ($plugin:literal, $file:literal) => {
        dsf_bpe::FhirFile {
            file: $file.into(),
            content: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/resources/",
                $plugin,
                "/fhir/",
                $file
            ))
            .into(),
        }
    };
}

/// A BPMN model of a plugin, `resources/<plugin>/bpe/<file>`.
macro_rules! model {
    ($plugin:literal, $file:literal) => {
        dsf_bpe::ProcessModel {
            file: $file.into(),
            xml: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/resources/",
                $plugin,
                "/bpe/",
                $file
            ))
            .into(),
        }
    };
}

pub mod allow_list;
pub mod hello_world;
pub mod ping_pong;
mod support;

use std::sync::Arc;

use dsf_bpe::ProcessPlugin;

/// Every built-in plugin.
pub fn all() -> Vec<Arc<dyn ProcessPlugin>> {
    vec![
        Arc::new(ping_pong::PingPong),
        Arc::new(hello_world::HelloWorld),
        Arc::new(allow_list::AllowList),
    ]
}
