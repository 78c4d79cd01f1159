//! Settings of `dsf fhir`: command-line flags and environment variables (with the reference
//! implementation's names where it has them) over the site configuration file, resolved into a
//! running server by [`crate::startup`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use dsf_fhir_store::StoreConfig;

use crate::config::ServerConfig;
use crate::site_file::{self, FhirTable};

/// Settings of the FHIR server. Every flag can also be set by an environment variable, and most
/// in the `[fhir]` table of a site configuration file (`--config`); flags and variables win.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FhirSettings {
    /// Site configuration file (TOML), e.g. one written by `dsf federation init`.
    #[arg(long, env = "DSF_CONFIG")]
    pub config: Option<PathBuf>,

    /// External base URL of the FHIR API, e.g. https://dic1.example.org/fhir.
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_BASE_URL")]
    pub base_url: Option<String>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DSF_FHIR_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Directory of the embedded SQLite database (used unless --database-url is given) [default: data].
    #[arg(long, env = "DSF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// PostgreSQL database instead of embedded SQLite: postgres://user:password@host:5432/db
    /// (the reference's jdbc:postgresql://host/db form is accepted too).
    #[arg(long, env = "DEV_DSF_FHIR_DB_URL")]
    pub database_url: Option<String>,

    /// Default page size of searches and histories [default: 20].
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_PAGE_COUNT")]
    pub page_count: Option<i64>,

    /// Largest request body accepted, in bytes [default: 64 MiB].
    #[arg(long, env = "DSF_FHIR_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,

    /// The local organization's identifier value (http://dsf.dev/sid/organization-identifier).
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_ORGANIZATION_IDENTIFIER_VALUE")]
    pub organization_identifier: Option<String>,

    /// The local organization's certificate thumbprint [default: computed from --client-certificate].
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_ORGANIZATION_THUMBPRINT")]
    pub organization_thumbprint: Option<String>,

    /// Server certificate (PEM) for TLS.
    #[arg(long, env = "DEV_DSF_SERVER_CERTIFICATE")]
    pub server_certificate: Option<PathBuf>,

    /// Intermediate CA certificates sent with the server certificate (PEM).
    #[arg(long, env = "DEV_DSF_SERVER_CERTIFICATE_CHAIN")]
    pub server_certificate_chain: Option<PathBuf>,

    /// Private key of the server certificate (PEM, optionally encrypted PKCS#8).
    #[arg(long, env = "DEV_DSF_SERVER_CERTIFICATE_KEY")]
    pub server_certificate_key: Option<PathBuf>,

    /// Password of the server certificate's key.
    #[arg(
        long,
        env = "DEV_DSF_SERVER_CERTIFICATE_KEY_PASSWORD",
        hide_env_values = true
    )]
    pub server_certificate_key_password: Option<String>,

    /// File holding the password of the server certificate's key.
    #[arg(long, env = "DEV_DSF_SERVER_CERTIFICATE_KEY_PASSWORD_FILE")]
    pub server_certificate_key_password_file: Option<PathBuf>,

    /// The site's client certificate (PEM): its thumbprint identifies the local organization.
    #[arg(long, env = "DEV_DSF_FHIR_CLIENT_CERTIFICATE")]
    pub client_certificate: Option<PathBuf>,

    /// Private key of the client certificate (PEM, optionally encrypted PKCS#8).
    #[arg(long, env = "DEV_DSF_FHIR_CLIENT_CERTIFICATE_PRIVATE_KEY")]
    pub client_certificate_key: Option<PathBuf>,

    /// Password of the client certificate's key.
    #[arg(
        long,
        env = "DEV_DSF_FHIR_CLIENT_CERTIFICATE_PRIVATE_KEY_PASSWORD",
        hide_env_values = true
    )]
    pub client_certificate_key_password: Option<String>,

    /// File holding the password of the client certificate's key.
    #[arg(
        long,
        env = "DEV_DSF_FHIR_CLIENT_CERTIFICATE_PRIVATE_KEY_PASSWORD_FILE"
    )]
    pub client_certificate_key_password_file: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "DEV_DSF_SERVER_AUTH_TRUST_CLIENT_CERTIFICATE_CAS")]
    pub trusted_client_cas: Option<PathBuf>,

    /// Certificate revocation lists (PEM) checked for client certificates.
    #[arg(long, env = "DSF_SERVER_AUTH_CLIENT_CERTIFICATE_CRLS")]
    pub client_certificate_crls: Option<PathBuf>,

    /// Transaction Bundle (JSON or XML, with ${...} placeholders) run at every start-up
    /// [default: the local Organization and Endpoint].
    #[arg(long, env = "DEV_DSF_FHIR_SERVER_INIT_BUNDLE")]
    pub init_bundle: Option<PathBuf>,

    /// Header in which a reverse proxy forwards the client certificate [default: X-ClientCert].
    #[arg(long, env = "DEV_DSF_SERVER_AUTH_CLIENT_CERTIFICATE_HEADER")]
    pub client_certificate_header: Option<String>,

    /// Serve plain HTTP behind these reverse proxies (comma-separated addresses), taking the
    /// client certificate from their header; requests from other addresses are refused.
    #[arg(long, env = "DSF_SERVER_AUTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// Development only: plain HTTP without client authentication, every caller treated as the
    /// local organization. Refuses any listen address but loopback.
    #[arg(long, env = "DSF_DEV_INSECURE_HTTP")]
    pub dev_insecure_http: bool,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A setting has an unusable value, or a file cannot be used.
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

/// How the server authenticates callers, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP on loopback, no authentication.
    DevInsecure,
    /// TLS with client certificates.
    MutualTls {
        /// Server certificate.
        certificate: PathBuf,
        /// Intermediates.
        chain: Option<PathBuf>,
        /// Its key.
        key: PathBuf,
        /// The key's password.
        key_password: Option<String>,
    },
    /// Plain HTTP behind trusted proxies.
    Proxy {
        /// Header with the client certificate.
        header: String,
        /// Proxy addresses.
        proxies: Vec<IpAddr>,
    },
}

/// Settings with file, variables and flags merged and defaults applied.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the data is.
    pub store: StoreConfig,
    /// The SQLite directory to create, when SQLite is used.
    pub data_dir: Option<PathBuf>,
    /// The server's configuration.
    pub server: ServerConfig,
    /// How callers are authenticated.
    pub transport: Transport,
    /// Trusted client CAs (required unless in development mode).
    pub trusted_client_cas: Option<PathBuf>,
    /// Revocation lists.
    pub client_certificate_crls: Option<PathBuf>,
    /// The site's client certificate and key (and password), if configured.
    pub client_certificate: Option<(PathBuf, Option<PathBuf>, Option<String>)>,
    /// The local organization's thumbprint, if given explicitly.
    pub organization_thumbprint: Option<String>,
    /// The start-up bundle, if one is configured.
    pub init_bundle: Option<PathBuf>,
}

fn invalid(message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid(message.into())
}

/// A password given directly or in a file (first line).
fn password(
    direct: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<String>, SettingsError> {
    match (direct, file) {
        (Some(password), _) => Ok(Some(password)),
        (None, Some(file)) => std::fs::read_to_string(&file)
            .map(|text| Some(text.lines().next().unwrap_or_default().to_owned()))
            .map_err(|e| invalid(format!("password file {}: {e}", file.display()))),
        (None, None) => Ok(None),
    }
}

impl FhirSettings {
    /// Merges flags and environment variables over the configuration file and applies defaults.
    pub fn resolve(&self) -> Result<Resolved, SettingsError> {
        let file = match &self.config {
            Some(path) => site_file::read(path).map_err(SettingsError::Invalid)?,
            None => FhirTable::default(),
        };
        let s = self.clone();
        let base_url = s.base_url.or(file.base_url).ok_or_else(|| {
            invalid("the base URL is not set: --base-url, DEV_DSF_FHIR_SERVER_BASE_URL or base_url in the site file")
        })?;
        let mut server = ServerConfig::new(&base_url).map_err(SettingsError::Invalid)?;
        let page_count = s
            .page_count
            .or(file.page_count)
            .unwrap_or(server.page_count);
        if page_count < 1 {
            return Err(invalid(
                "DEV_DSF_FHIR_SERVER_PAGE_COUNT (--page-count) must be at least 1",
            ));
        }
        server.page_count = page_count;
        if let Some(max) = s.max_body_bytes.or(file.max_body_bytes) {
            server.max_body_bytes = max;
        }
        if let Some(identifier) = s.organization_identifier.or(file.organization_identifier) {
            server.organization_identifier = identifier;
        }
        server.users = crate::practitioners::users(&file.users).map_err(|e| {
            invalid(format!(
                "site configuration {}: {e}",
                self.config
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            ))
        })?;
        let listen = s
            .listen
            .or(file.listen)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let database_url = s.database_url.or(file.database_url);
        let data_dir = s
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| "data".into());
        let (store, data_dir) = match database_url {
            Some(url) => (
                StoreConfig::Postgres {
                    url: postgres_url(&url)?,
                },
                None,
            ),
            None => (
                StoreConfig::Sqlite {
                    path: data_dir.join("fhir.db"),
                },
                Some(data_dir),
            ),
        };
        let proxies = if s.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            s.trusted_proxies
        };
        let transport = if s.dev_insecure_http {
            if !listen.ip().is_loopback() {
                return Err(invalid(format!(
                    "--dev-insecure-http refuses to listen on {listen}: only loopback addresses are allowed"
                )));
            }
            Transport::DevInsecure
        } else if !proxies.is_empty() {
            Transport::Proxy {
                header: s
                    .client_certificate_header
                    .or(file.client_certificate_header)
                    .unwrap_or_else(|| "X-ClientCert".to_owned()),
                proxies,
            }
        } else {
            let certificate = s.server_certificate.or(file.server_certificate);
            let key = s.server_certificate_key.or(file.server_certificate_key);
            let (Some(certificate), Some(key)) = (certificate, key) else {
                return Err(invalid(
                    "TLS is not configured: set the server certificate and key (DEV_DSF_SERVER_CERTIFICATE, DEV_DSF_SERVER_CERTIFICATE_KEY), or --trusted-proxies behind a reverse proxy, or --dev-insecure-http for development on loopback",
                ));
            };
            Transport::MutualTls {
                certificate,
                chain: s.server_certificate_chain.or(file.server_certificate_chain),
                key,
                key_password: password(
                    s.server_certificate_key_password
                        .or(file.server_certificate_key_password),
                    s.server_certificate_key_password_file
                        .or(file.server_certificate_key_password_file),
                )?,
            }
        };
        let trusted_client_cas = s.trusted_client_cas.or(file.trusted_client_cas);
        if transport != Transport::DevInsecure && trusted_client_cas.is_none() {
            return Err(invalid(
                "no trusted client CAs: set DEV_DSF_SERVER_AUTH_TRUST_CLIENT_CERTIFICATE_CAS (--trusted-client-cas)",
            ));
        }
        let client_certificate = match s.client_certificate.or(file.client_certificate) {
            Some(certificate) => Some((
                certificate,
                s.client_certificate_key.or(file.client_certificate_key),
                password(
                    s.client_certificate_key_password
                        .or(file.client_certificate_key_password),
                    s.client_certificate_key_password_file
                        .or(file.client_certificate_key_password_file),
                )?,
            )),
            None => None,
        };
        Ok(Resolved {
            listen,
            store,
            data_dir,
            server,
            transport,
            trusted_client_cas,
            client_certificate_crls: s.client_certificate_crls.or(file.client_certificate_crls),
            client_certificate,
            organization_thumbprint: s.organization_thumbprint.or(file.organization_thumbprint),
            init_bundle: s.init_bundle.or(file.init_bundle),
        })
    }

    /// Resolves the settings, opens the store, seeds it and serves until `shutdown` completes.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SettingsError> {
        crate::startup::run(self.resolve()?, shutdown).await
    }
}

/// Accepts `postgres://...`, `postgresql://...` and the reference's `jdbc:postgresql://...`.
fn postgres_url(url: &str) -> Result<String, SettingsError> {
    let url = url.strip_prefix("jdbc:").unwrap_or(url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_owned())
    } else {
        Err(invalid(format!(
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
        assert!(parse(&["--dev-insecure-http"]).resolve().is_ok());
        assert!(
            parse(&["--dev-insecure-http", "--listen", "[::1]:8080"])
                .resolve()
                .is_ok()
        );
        let err = parse(&["--dev-insecure-http", "--listen", "0.0.0.0:8080"]).resolve();
        assert!(matches!(err, Err(SettingsError::Invalid(m)) if m.contains("loopback")));
        let err = parse(&[]).resolve();
        assert!(
            matches!(err, Err(SettingsError::Invalid(m)) if m.contains("TLS is not configured"))
        );
    }

    #[test]
    fn stores_from_flags_and_reference_urls() {
        let sqlite = parse(&["--dev-insecure-http", "--data-dir", "/srv/dsf"])
            .resolve()
            .expect("sqlite");
        assert_eq!(
            sqlite.store,
            StoreConfig::Sqlite {
                path: "/srv/dsf/fhir.db".into()
            }
        );
        let jdbc = parse(&[
            "--dev-insecure-http",
            "--database-url",
            "jdbc:postgresql://db/fhir",
        ])
        .resolve()
        .expect("pg");
        assert_eq!(
            jdbc.store,
            StoreConfig::Postgres {
                url: "postgresql://db/fhir".into()
            }
        );
        assert!(
            parse(&["--dev-insecure-http", "--database-url", "mysql://db/fhir"])
                .resolve()
                .is_err()
        );
    }

    #[test]
    fn unusable_values_are_named() {
        assert!(
            parse(&["--dev-insecure-http", "--page-count", "0"])
                .resolve()
                .is_err()
        );
        let mut bad = parse(&["--dev-insecure-http"]);
        bad.base_url = Some("ftp://host/fhir".into());
        assert!(bad.resolve().is_err());
        let config = parse(&["--dev-insecure-http", "--page-count", "50"])
            .resolve()
            .expect("config");
        assert_eq!(
            (config.server.page_count, config.server.base_path.as_str()),
            (50, "/fhir")
        );
    }

    #[test]
    fn site_file_under_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("site.toml");
        std::fs::write(
            &file,
            format!(
                "[fhir]\nbase_url = \"https://localhost:8001/fhir\"\nlisten = \"127.0.0.1:8001\"\norganization_identifier = \"dic1.dsf.test\"\ndata_dir = \"data\"\nserver_certificate = \"server.crt\"\nserver_certificate_key = \"server.key\"\ntrusted_client_cas = \"../ca/ca.crt\"\n[[fhir.users]]\nname = \"admin\"\nthumbprints = [\"{}\"]\ndsf_roles = [\"READ\", \"CREATE:Task\"]\npractitioner_roles = [\"DSF_ADMIN\"]\n",
                "ab".repeat(64)
            ),
        )
        .expect("write");
        let config = Some(file.clone());
        let settings = FhirSettings {
            config: config.clone(),
            ..FhirSettings::default()
        };
        let resolved = settings.resolve().expect("resolved");
        assert_eq!(resolved.server.organization_identifier, "dic1.dsf.test");
        assert_eq!(resolved.server.users.len(), 1, "[[fhir.users]]");
        assert!(resolved.server.users[0].practitioner.is_admin());
        assert_eq!(resolved.listen, "127.0.0.1:8001".parse().expect("addr"));
        assert_eq!(
            resolved.transport,
            Transport::MutualTls {
                certificate: dir.path().join("server.crt"),
                chain: None,
                key: dir.path().join("server.key"),
                key_password: None,
            }
        );
        assert_eq!(
            resolved.trusted_client_cas,
            Some(dir.path().join("../ca/ca.crt"))
        );
        let overridden = FhirSettings {
            config,
            listen: Some("127.0.0.1:9000".parse().expect("addr")),
            ..FhirSettings::default()
        };
        assert_eq!(overridden.resolve().expect("resolved").listen.port(), 9000);
        std::fs::write(&file, "[fhir]\nbase_urll = \"x\"\n").expect("write");
        let typo = FhirSettings {
            config: Some(file),
            ..FhirSettings::default()
        };
        assert!(
            matches!(typo.resolve(), Err(SettingsError::Invalid(m)) if m.contains("base_urll"))
        );
    }
}
