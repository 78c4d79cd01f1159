//! The site's TLS client: its client certificate for mutual TLS, and the CAs it trusts for
//! FHIR servers, as rustls configurations for HTTPS (HTTP/2 or 1.1) and for the websocket
//! (HTTP/1.1 only).

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::error::BpeError;

/// Where the site's client identity and trusted server CAs are.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Client certificate (PEM), leaf first.
    pub certificate: std::path::PathBuf,
    /// Its private key (PEM).
    pub key: std::path::PathBuf,
    /// The key's password, if it is encrypted.
    pub key_password: Option<String>,
    /// CA certificates that FHIR servers' certificates must chain to (PEM).
    pub trusted_server_cas: std::path::PathBuf,
}

/// rustls configurations of one client identity.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// For HTTPS requests: offers HTTP/2 and HTTP/1.1.
    pub https: Arc<ClientConfig>,
    /// For websockets: HTTP/1.1 only.
    pub websocket: Arc<ClientConfig>,
}

impl ClientTls {
    /// Loads the certificate, key and CAs of `identity`; each failure names its file.
    pub fn load(identity: &ClientIdentity) -> Result<ClientTls, BpeError> {
        let certificates = dsf_pki::load_certificates(&identity.certificate)?;
        let key = dsf_pki::load_private_key(&identity.key, identity.key_password.as_deref())?;
        let roots = root_store(&identity.trusted_server_cas)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BpeError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certificates, key)
            .map_err(|e| {
                BpeError::Tls(format!(
                    "client certificate {}: {e}",
                    identity.certificate.display()
                ))
            })?;
        let mut https = config.clone();
        https.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ClientTls {
            https: Arc::new(https),
            websocket: Arc::new(config),
        })
    }
}

fn root_store(path: &Path) -> Result<RootCertStore, BpeError> {
    let mut roots = RootCertStore::empty();
    for certificate in dsf_pki::load_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|e| BpeError::Tls(format!("trusted CA {}: {e}", path.display())))?;
    }
    Ok(roots)
}
