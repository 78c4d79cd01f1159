//! The site configuration file: TOML whose `[fhir]` table holds the FHIR server's settings, as
//! `dsf federation init` writes it. Relative paths are relative to the file's directory.
//!
//! ```toml
//! [fhir]
//! base_url = "https://localhost:8001/fhir"
//! listen = "127.0.0.1:8001"
//! organization_identifier = "dic1.dsf.test"
//! data_dir = "data"
//! server_certificate = "server.crt"
//! server_certificate_key = "server.key"
//! client_certificate = "client.crt"
//! client_certificate_key = "client.key"
//! trusted_client_cas = "../ca/ca.crt"
//! init_bundle = "../allow-list.json"
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The `[fhir]` table. Every key is optional here; flags and environment variables override it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirTable {
    /// External base URL.
    pub base_url: Option<String>,
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded SQLite database.
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL.
    pub database_url: Option<String>,
    /// Default page size.
    pub page_count: Option<i64>,
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// The local organization's identifier value.
    pub organization_identifier: Option<String>,
    /// The local organization's certificate thumbprint (computed from the client certificate when
    /// absent).
    pub organization_thumbprint: Option<String>,
    /// Server certificate (PEM).
    pub server_certificate: Option<PathBuf>,
    /// Intermediate certificates sent with it (PEM).
    pub server_certificate_chain: Option<PathBuf>,
    /// Its private key (PEM).
    pub server_certificate_key: Option<PathBuf>,
    /// The key's password.
    pub server_certificate_key_password: Option<String>,
    /// A file holding the key's password.
    pub server_certificate_key_password_file: Option<PathBuf>,
    /// The site's client certificate (PEM): its thumbprint identifies the local organization.
    pub client_certificate: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_certificate_key: Option<PathBuf>,
    /// The key's password.
    pub client_certificate_key_password: Option<String>,
    /// A file holding the key's password.
    pub client_certificate_key_password_file: Option<PathBuf>,
    /// CA certificates client certificates must chain to (PEM).
    pub trusted_client_cas: Option<PathBuf>,
    /// Certificate revocation lists (PEM).
    pub client_certificate_crls: Option<PathBuf>,
    /// Transaction Bundle loaded at every start-up.
    pub init_bundle: Option<PathBuf>,
    /// Header a reverse proxy forwards the client certificate in.
    pub client_certificate_header: Option<String>,
    /// Addresses of reverse proxies trusted to forward client certificates.
    pub trusted_proxies: Option<Vec<IpAddr>>,
    /// Local users (`[[fhir.users]]`), see [`crate::practitioners`].
    #[serde(default)]
    pub users: Vec<crate::practitioners::UserRule>,
}

#[derive(Debug, Deserialize)]
struct SiteFile {
    #[serde(default)]
    fhir: FhirTable,
}

/// Reads the `[fhir]` table of a site file, with paths made relative to the file's directory.
pub fn read(path: &Path) -> Result<FhirTable, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("site configuration {}: {e}", path.display()))?;
    let file: SiteFile =
        toml::from_str(&text).map_err(|e| format!("site configuration {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut fhir = file.fhir;
    for p in [
        &mut fhir.data_dir,
        &mut fhir.server_certificate,
        &mut fhir.server_certificate_chain,
        &mut fhir.server_certificate_key,
        &mut fhir.server_certificate_key_password_file,
        &mut fhir.client_certificate,
        &mut fhir.client_certificate_key,
        &mut fhir.client_certificate_key_password_file,
        &mut fhir.trusted_client_cas,
        &mut fhir.client_certificate_crls,
        &mut fhir.init_bundle,
    ] {
        if let Some(relative) = p.as_ref().filter(|p| p.is_relative()) {
            *p = Some(base.join(relative));
        }
    }
    Ok(fhir)
}
