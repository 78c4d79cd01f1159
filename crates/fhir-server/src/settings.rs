//! Command-line and environment settings of `dsf fhir`, resolved into a running server.

use std::net::SocketAddr;
use std::path::PathBuf;

use dsf_fhir_store::{Store, StoreConfig};
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::identity::AuthMode;

/// Settings of the FHIR server. Every flag can also be set by an environment variable; where the
/// reference implementation has a name for the setting, that name is accepted.
#[derive(Debug, Clone, clap::Args)]
pub struct FhirSettings {
    /// External base URL of the FHIR API, e.g. https://dic1.example.org/fhir.
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_BASE_URL")]
    pub base_url: String,

    /// Address to listen on.
    #[arg(long, env = "DSF_FHIR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of the embedded SQLite database (used unless --database-url is given).
    #[arg(long, env = "DSF_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// PostgreSQL database instead of embedded SQLite: postgres://user:password@host:5432/db
    /// (the reference's jdbc:postgresql://host/db form is accepted too).
    #[arg(long, env = "DEV_DSF_FHIR_DB_URL")]
    pub database_url: Option<String>,

    /// Default page size of searches and histories.
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_PAGE_COUNT", default_value_t = 20)]
    pub page_count: i64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DSF_FHIR_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Development only: plain HTTP without client authentication, every caller treated as the
    /// local organization. Refuses any listen address but loopback.
    #[arg(long, env = "DSF_DEV_INSECURE_HTTP")]
    pub dev_insecure_http: bool,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A setting has an unusable value.
    #[error("{0}")]
    Invalid(String),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] dsf_fhir_store::StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl FhirSettings {
    /// The store these settings name.
    pub fn store_config(&self) -> Result<StoreConfig, SettingsError> {
        Ok(match &self.database_url {
            Some(url) => StoreConfig::Postgres {
                url: postgres_url(url)?,
            },
            None => StoreConfig::Sqlite {
                path: self.data_dir.join("fhir.db"),
            },
        })
    }

    /// The server configuration these settings name.
    pub fn server_config(&self) -> Result<ServerConfig, SettingsError> {
        let mut config = ServerConfig::new(&self.base_url).map_err(SettingsError::Invalid)?;
        if self.page_count < 1 {
            return Err(SettingsError::Invalid(
                "DEV_DSF_FHIR_SERVER_PAGE_COUNT (--page-count) must be at least 1".into(),
            ));
        }
        config.page_count = self.page_count;
        config.max_body_bytes = self.max_body_bytes;
        Ok(config)
    }

    fn auth_mode(&self) -> Result<AuthMode, SettingsError> {
        if !self.dev_insecure_http {
            return Err(SettingsError::Invalid(
                "mutual TLS is not configured: pass --dev-insecure-http for a development server on loopback".into(),
            ));
        }
        if !self.listen.ip().is_loopback() {
            return Err(SettingsError::Invalid(format!(
                "--dev-insecure-http refuses to listen on {}: only loopback addresses are allowed",
                self.listen
            )));
        }
        Ok(AuthMode::DevInsecure)
    }

    /// Opens the store, binds the listener and serves until `shutdown` completes.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SettingsError> {
        let auth = self.auth_mode()?;
        let config = self.server_config()?;
        let store_config = self.store_config()?;
        if let StoreConfig::Sqlite { .. } = store_config {
            std::fs::create_dir_all(&self.data_dir).map_err(|e| {
                SettingsError::Invalid(format!("data directory {}: {e}", self.data_dir.display()))
            })?;
        }
        let store = Store::open(&store_config).await?;
        let listener =
            TcpListener::bind(self.listen)
                .await
                .map_err(|source| SettingsError::Listen {
                    address: self.listen,
                    source,
                })?;
        tracing::info!(base_url = %config.base_url, listen = %self.listen, postgres = store.is_postgres(), "FHIR server listening");
        crate::serve(listener, store.clone(), config, auth, shutdown)
            .await
            .map_err(|source| SettingsError::Listen {
                address: self.listen,
                source,
            })?;
        store.close().await;
        Ok(())
    }
}

/// Accepts `postgres://...`, `postgresql://...` and the reference's `jdbc:postgresql://...`.
fn postgres_url(url: &str) -> Result<String, SettingsError> {
    let url = url.strip_prefix("jdbc:").unwrap_or(url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_owned())
    } else {
        Err(SettingsError::Invalid(format!(
            "database URL {url} is not a postgres:// URL"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: FhirSettings,
    }

    fn parse(args: &[&str]) -> FhirSettings {
        let mut all = vec!["dsf", "--base-url", "http://127.0.0.1:8080/fhir"];
        all.extend_from_slice(args);
        Cli::parse_from(all).settings
    }

    #[test]
    fn insecure_http_is_for_loopback_only() {
        assert!(parse(&["--dev-insecure-http"]).auth_mode().is_ok());
        assert!(
            parse(&["--dev-insecure-http", "--listen", "[::1]:8080"])
                .auth_mode()
                .is_ok()
        );
        let err = parse(&["--dev-insecure-http", "--listen", "0.0.0.0:8080"]).auth_mode();
        assert!(matches!(err, Err(SettingsError::Invalid(m)) if m.contains("loopback")));
        assert!(
            parse(&[]).auth_mode().is_err(),
            "no TLS configured and no dev flag"
        );
    }

    #[test]
    fn stores_from_flags_and_reference_urls() {
        let sqlite = parse(&["--data-dir", "/srv/dsf"])
            .store_config()
            .expect("sqlite");
        assert_eq!(
            sqlite,
            StoreConfig::Sqlite {
                path: "/srv/dsf/fhir.db".into()
            }
        );
        let jdbc = parse(&["--database-url", "jdbc:postgresql://db/fhir"])
            .store_config()
            .expect("pg");
        assert_eq!(
            jdbc,
            StoreConfig::Postgres {
                url: "postgresql://db/fhir".into()
            }
        );
        assert!(
            parse(&["--database-url", "mysql://db/fhir"])
                .store_config()
                .is_err()
        );
    }

    #[test]
    fn unusable_values_are_named() {
        assert!(parse(&["--page-count", "0"]).server_config().is_err());
        let mut bad = parse(&[]);
        bad.base_url = "ftp://host/fhir".into();
        assert!(bad.server_config().is_err());
        let config = parse(&["--page-count", "50"])
            .server_config()
            .expect("config");
        assert_eq!(
            (config.page_count, config.base_path.as_str()),
            (50, "/fhir")
        );
    }
}
