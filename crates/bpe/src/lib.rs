//! The DSF business process engine service (dsf-bpe): it follows the site's FHIR server over a
//! websocket subscription, hands requested Tasks to the BPMN engine (start or correlate),
//! runs the processes' activities, sends Tasks to other sites, turns user tasks into
//! QuestionnaireResponses, and loads process plugins.

#![warn(missing_docs)]

pub mod activity;
pub mod api;
pub mod client;
pub mod connector;
pub mod engine;
pub mod error;
pub mod handler;
pub mod listeners;
pub mod plugin;
pub mod read_access;
pub mod service;
pub mod state;
pub mod task;
pub mod tls;
pub mod user_task;
pub mod variables;

pub use activity::{Activities, Activity, ActivityContext, DelegateError};
pub use api::{Message, ProcessPluginApi};
pub use error::BpeError;
pub use plugin::{FhirFile, ProcessModel, ProcessPlugin, ProcessResources};
pub use service::{Bpe, BpeConfig, Database};
pub use variables::Target;
