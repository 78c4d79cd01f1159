//! `dsf site` and `dsf bpe`: a site's process engine service, configured by the site file's
//! `[bpe]` table on top of its `[fhir]` table, run alone or together with the FHIR server in
//! one process.
//!
//! ```toml
//! [bpe]
//! # Everything is optional: by default the engine uses the FHIR server's base URL, client
//! # certificate, trusted CAs and database (its own tables beside the FHIR server's).
//! fhir_base_url = "https://localhost:8001/fhir"
//! data_dir = "data"
//! database_url = "postgresql://dsf@db/dsf"
//! trusted_server_cas = "../ca/ca.crt"
//! retired = ["dsfdev_ping|1.0"]
//! excluded = ["dsfdev_updateAllowList|1.0"]
//! [bpe.properties]
//! "dev.dsf.bpe.allow.list.organization" = "ttp.dsf.test"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dsf_bpe::plugin::deploy::PluginConfig;
use dsf_bpe::tls::ClientIdentity;
use dsf_bpe::{Bpe, BpeConfig, Database};
use dsf_fhir_server::FhirSettings;
use dsf_fhir_store::StoreConfig;
use serde::Deserialize;

/// Settings of `dsf site` and `dsf bpe`.
#[derive(Debug, Clone, clap::Args)]
pub struct SiteArgs {
    /// The site file (`site.toml` as `dsf federation init` writes it).
    #[arg(long)]
    pub config: PathBuf,
}

/// The `[bpe]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BpeTable {
    fhir_base_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    trusted_server_cas: Option<PathBuf>,
    #[serde(default)]
    retired: Vec<String>,
    #[serde(default)]
    excluded: Vec<String>,
    #[serde(default)]
    properties: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct SiteFile {
    #[serde(default)]
    bpe: BpeTable,
}

/// The engine service's settings from the site file at `path`.
pub fn bpe_config(path: &Path) -> anyhow::Result<BpeConfig> {
    let fhir = FhirSettings {
        config: Some(path.to_owned()),
        ..FhirSettings::default()
    }
    .resolve()
    .context("site configuration")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("site configuration {}", path.display()))?;
    let file: SiteFile =
        toml::from_str(&text).with_context(|| format!("site configuration {}", path.display()))?;
    let table = file.bpe;
    let base = path.parent().unwrap_or(Path::new("."));
    let relative = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
    let (certificate, key, key_password) = fhir
        .client_certificate
        .context("the engine needs the site's client certificate: client_certificate in [fhir]")?;
    let trusted_server_cas = table
        .trusted_server_cas
        .map(relative)
        .or(fhir.trusted_client_cas)
        .context("the engine needs the CAs of FHIR servers: trusted_server_cas in [bpe]")?;
    let database = match (table.database_url, &fhir.store) {
        (Some(url), _) => Database::Postgres(url),
        (None, StoreConfig::Postgres { url }) => Database::Postgres(url.clone()),
        (None, StoreConfig::Sqlite { .. }) => Database::Sqlite(
            table
                .data_dir
                .map(relative)
                .or(fhir.data_dir)
                .unwrap_or_else(|| base.join("data")),
        ),
    };
    let organization = fhir.server.organization_identifier.clone();
    Ok(BpeConfig {
        fhir_base_url: table
            .fhir_base_url
            .unwrap_or_else(|| fhir.server.base_url.clone()),
        organization_identifier: organization.clone(),
        identity: ClientIdentity {
            key: key.unwrap_or_else(|| certificate.clone()),
            certificate,
            key_password,
            trusted_server_cas,
        },
        database,
        plugins: PluginConfig {
            organization,
            properties: table.properties,
            retired: table.retired,
            excluded: table.excluded,
        },
    })
}

/// Runs the engine service of the site file `config` until `shutdown`.
pub async fn run_bpe(
    config: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bpe = Bpe::start(bpe_config(config)?, dsf_processes::all())
        .await
        .context("process engine")?;
    tracing::info!("process engine running");
    shutdown.await;
    bpe.stop().await;
    Ok(())
}

/// Runs the FHIR server and the engine service of the site file `config` in this process until
/// `shutdown`.
pub async fn run_site(
    config: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.changed().await;
    };
    let fhir = FhirSettings {
        config: Some(config.to_owned()),
        ..FhirSettings::default()
    };
    // A server that fails (at start-up, say) stops the engine, which would otherwise wait for it.
    let (failed, server_failed) = tokio::sync::watch::channel(false);
    let server = async {
        let result = fhir.run(signal(stopped.clone())).await;
        if result.is_err() {
            let _ = failed.send(true);
            let _ = stop.send(true);
        }
        result
    };
    let engine = async {
        tokio::select! {
            result = run_bpe(config, signal(stopped.clone())) => {
                // A failed engine stops the server too.
                if result.is_err() {
                    let _ = stop.send(true);
                }
                result
            }
            () = signal(server_failed) => Ok(()),
        }
    };
    let watcher = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    let (server, engine, ()) = tokio::join!(server, engine, async {
        tokio::select! {
            () = watcher => {}
            _ = signal(stopped.clone()) => {}
        }
    });
    server.context("FHIR server")?;
    engine
}
