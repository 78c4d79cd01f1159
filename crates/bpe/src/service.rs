//! The engine service of one site: opens its database, deploys the plugins, and follows the
//! local FHIR server's Task and QuestionnaireResponse subscriptions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dsf_bpmn::engine::{Engine, EngineConfig};
use dsf_bpmn_store::{Durability, SqlStore};
use tokio::task::JoinHandle;

use crate::activity::Activities;
use crate::api::ProcessPluginApi;
use crate::client::FhirClients;
use crate::connector::{self, QUESTIONNAIRE_RESPONSE_CRITERIA, TASK_CRITERIA};
use crate::engine::ProcessEngine;
use crate::error::BpeError;
use crate::handler::Handler;
use crate::listeners;
use crate::plugin::ProcessPlugin;
use crate::plugin::deploy::{self, Deployment, PluginConfig};
use crate::state::ServiceState;
use crate::tls::{ClientIdentity, ClientTls};

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub enum Database {
    /// Embedded SQLite files in this directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database (it may be the FHIR server's).
    Postgres(String),
}

/// The settings of a site's engine service.
#[derive(Debug, Clone)]
pub struct BpeConfig {
    /// The local FHIR server's base URL.
    pub fhir_base_url: String,
    /// The local organization's identifier value.
    pub organization_identifier: String,
    /// The site's client certificate and the CAs of FHIR servers.
    pub identity: ClientIdentity,
    /// The database.
    pub database: Database,
    /// Process states and placeholder values.
    pub plugins: PluginConfig,
}

/// A running engine service.
pub struct Bpe {
    engine: Arc<ProcessEngine>,
    handler: Arc<Handler>,
    deployment: Deployment,
    connectors: Vec<JoinHandle<()>>,
}

/// How long start-up waits for the local FHIR server.
const FHIR_WAIT: Duration = Duration::from_secs(120);

impl Bpe {
    /// Starts the service with `plugins`: waits for the local FHIR server, deploys, recovers
    /// claimed Tasks and connects the subscriptions.
    pub async fn start(
        config: BpeConfig,
        plugins: Vec<Arc<dyn ProcessPlugin>>,
    ) -> Result<Bpe, BpeError> {
        let tls = ClientTls::load(&config.identity)?;
        let clients = FhirClients::new(&tls)?;
        let api = Arc::new(ProcessPluginApi::new(
            clients,
            &config.fhir_base_url,
            &config.organization_identifier,
        ));
        let (store, state) = match &config.database {
            Database::Sqlite(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    BpeError::Config(format!("data directory {}: {e}", dir.display()))
                })?;
                (
                    SqlStore::open_sqlite(&dir.join("bpe.db"), Durability::ProcessCrash).await?,
                    ServiceState::open_sqlite(&dir.join("bpe-service.db")).await?,
                )
            }
            Database::Postgres(url) => (
                SqlStore::open_postgres(url).await?,
                ServiceState::open_postgres(url).await?,
            ),
        };
        let engine_config = EngineConfig {
            listeners: listeners::added(),
            ..EngineConfig::default()
        };
        let engine = Engine::open(store, engine_config).await?;
        let mut activities = Activities::new();
        for plugin in &plugins {
            activities.extend(&plugin.activities());
        }
        let engine = ProcessEngine::new(engine, activities, api.clone());
        wait_for_server(&api).await?;
        let deployment = deploy::deploy(&engine, &plugins, &config.plugins).await?;
        for warning in &deployment.warnings {
            tracing::warn!("{warning}");
        }
        engine.start().await;
        let handler = Handler::new(engine.clone(), state, deployment.states.clone());
        handler.recover().await?;
        let connectors = [TASK_CRITERIA, QUESTIONNAIRE_RESPONSE_CRITERIA]
            .into_iter()
            .map(|criteria| {
                tokio::spawn(connector::follow(
                    api.local().clone(),
                    tls.clone(),
                    handler.clone(),
                    criteria,
                ))
            })
            .collect();
        Ok(Bpe {
            engine,
            handler,
            deployment,
            connectors,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<ProcessEngine> {
        &self.engine
    }

    /// What deploying the plugins did.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Stops following the subscriptions and closes the service's database.
    pub async fn stop(self) {
        for connector in &self.connectors {
            connector.abort();
        }
        self.handler.state().close().await;
    }
}

/// Waits until the local FHIR server answers (it may start after the engine service).
async fn wait_for_server(api: &ProcessPluginApi) -> Result<(), BpeError> {
    let deadline = tokio::time::Instant::now() + FHIR_WAIT;
    loop {
        match api.local().search("metadata").await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!("waiting for the local FHIR server: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
