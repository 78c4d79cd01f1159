//! From resolved settings to a running server: certificates are loaded and checked, the store is
//! opened and seeded with the DSF conformance resources and the start-up bundle, and the API is
//! served.
//!
//! Anything unusable (a missing or unreadable certificate, a key that does not match, an expired
//! server certificate, a bad start-up bundle) stops start-up with one line naming the file.

use std::sync::Arc;

use dsf_fhir_store::{Store, StoreConfig};
use tokio::net::TcpListener;

use crate::identity::{AuthMode, ProxyAuth};
use crate::init_bundle::{self, Placeholders};
use crate::settings::{Resolved, SettingsError, Transport};
use crate::state::AppState;
use crate::tls;

fn invalid(message: impl std::fmt::Display) -> SettingsError {
    SettingsError::Invalid(message.to_string())
}

/// The client-certificate verifier over the configured CAs and CRLs.
fn client_verifier(
    settings: &Resolved,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, SettingsError> {
    let cas_path = settings
        .trusted_client_cas
        .as_ref()
        .ok_or_else(|| invalid("no trusted client CAs configured"))?;
    let cas = dsf_pki::load_certificates(cas_path).map_err(invalid)?;
    let crls = match &settings.client_certificate_crls {
        Some(path) => dsf_pki::load_crls(path).map_err(invalid)?,
        None => Vec::new(),
    };
    tls::client_verifier(cas, crls).map_err(|e| invalid(format!("{}: {e}", cas_path.display())))
}

/// How callers are authenticated, with every certificate file loaded and checked.
pub fn auth_mode(settings: &Resolved) -> Result<AuthMode, SettingsError> {
    match &settings.transport {
        Transport::DevInsecure => Ok(AuthMode::DevInsecure),
        Transport::Proxy { header, proxies } => Ok(AuthMode::Proxy(ProxyAuth {
            header: http::HeaderName::try_from(header.as_str()).map_err(|_| {
                invalid(format!(
                    "client certificate header {header} is not a header name"
                ))
            })?,
            proxies: proxies.clone(),
            verifier: client_verifier(settings)?,
        })),
        Transport::MutualTls {
            certificate,
            chain,
            key,
            key_password,
        } => {
            let now = time::OffsetDateTime::now_utc();
            dsf_pki::check_certified_key(certificate, key, key_password.as_deref(), now)
                .map_err(invalid)?;
            let mut certificates = dsf_pki::load_certificates(certificate).map_err(invalid)?;
            if let Some(chain) = chain {
                certificates.extend(dsf_pki::load_certificates(chain).map_err(invalid)?);
            }
            let key = dsf_pki::load_private_key(key, key_password.as_deref()).map_err(invalid)?;
            let config = tls::server_config(certificates, key, client_verifier(settings)?)
                .map_err(|e| invalid(format!("{}: {e}", certificate.display())))?;
            Ok(AuthMode::MutualTls(config))
        }
    }
}

/// The local organization's thumbprint: configured, or computed from the client certificate
/// (whose key, when configured, must match it and which must be valid).
pub fn local_thumbprint(settings: &Resolved) -> Result<Option<String>, SettingsError> {
    if let Some(thumbprint) = &settings.organization_thumbprint {
        return Ok(Some(thumbprint.to_ascii_lowercase()));
    }
    let Some((certificate, key, password)) = &settings.client_certificate else {
        return Ok(None);
    };
    let info = match key {
        Some(key) => dsf_pki::check_certified_key(
            certificate,
            key,
            password.as_deref(),
            time::OffsetDateTime::now_utc(),
        )
        .map_err(invalid)?,
        None => {
            let certificates = dsf_pki::load_certificates(certificate).map_err(invalid)?;
            let first = certificates
                .first()
                .ok_or_else(|| invalid(format!("{}: no certificate", certificate.display())))?;
            dsf_pki::certificate_info(first).ok_or_else(|| {
                invalid(format!("{}: unreadable certificate", certificate.display()))
            })?
        }
    };
    Ok(Some(info.thumbprint))
}

/// Opens the store, creating the SQLite directory when needed.
pub async fn open_store(settings: &Resolved) -> Result<Store, SettingsError> {
    if let (StoreConfig::Sqlite { .. }, Some(dir)) = (&settings.store, &settings.data_dir) {
        std::fs::create_dir_all(dir)
            .map_err(|e| invalid(format!("data directory {}: {e}", dir.display())))?;
    }
    Ok(Store::open(&settings.store).await?)
}

/// Loads the DSF conformance resources ([`crate::conformance`]), runs the start-up bundle (the
/// configured file, or the local Organization and Endpoint when the local thumbprint is known) and
/// creates the default Subscriptions. All of them are conditional, so every start may run them.
pub async fn seed(
    state: &AppState,
    settings: &Resolved,
    thumbprint: Option<String>,
) -> Result<(), SettingsError> {
    load_conformance(state).await?;
    let placeholders = Placeholders::new(&state.config, thumbprint.clone());
    let source = settings.init_bundle.as_ref().map_or_else(
        || "the default start-up bundle".to_owned(),
        |p| p.display().to_string(),
    );
    let bundle = match (&settings.init_bundle, &thumbprint) {
        (Some(path), _) => Some(init_bundle::read(path, &placeholders).map_err(invalid)?),
        (None, Some(thumbprint)) => {
            let value = init_bundle::default_bundle(&placeholders, thumbprint);
            Some(dsf_fhir::Resource::from_json_value(value).map_err(invalid)?)
        }
        (None, None) => {
            tracing::info!("no start-up bundle and no client certificate: nothing to seed");
            None
        }
    };
    if let Some(bundle) = bundle {
        init_bundle::load(state, bundle)
            .await
            .map_err(|e| failed(&source, e))?;
    }
    init_bundle::load_default_subscriptions(state)
        .await
        .map_err(|e| failed("the default Subscriptions", e))
}

/// Creates the conformance resources the store does not have yet.
pub async fn load_conformance(state: &AppState) -> Result<(), SettingsError> {
    const SOURCE: &str = "the DSF conformance resources";
    let started = std::time::Instant::now();
    let bundle = dsf_fhir::Resource::from_json_value(crate::conformance::bundle())
        .map_err(|e| invalid(format!("{SOURCE}: {e}")))?;
    init_bundle::load(state, bundle)
        .await
        .map_err(|e| failed(SOURCE, e))?;
    tracing::info!(
        resources = crate::conformance::FILES.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "conformance resources loaded"
    );
    Ok(())
}

/// A start-up bundle's failure as one line.
fn failed(source: &str, error: crate::error::ApiError) -> SettingsError {
    let detail = error
        .issues
        .iter()
        .map(|i| i.diagnostics.clone())
        .collect::<Vec<_>>()
        .join("; ");
    invalid(format!("{source}: {} {detail}", error.status))
}

/// Starts the server described by `settings` and serves until `shutdown` completes.
pub async fn run(
    settings: Resolved,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SettingsError> {
    let auth = auth_mode(&settings)?;
    let thumbprint = local_thumbprint(&settings)?;
    let store = open_store(&settings).await?;
    let state = AppState::new(store.clone(), settings.server.clone(), auth);
    seed(&state, &settings, thumbprint).await?;
    let listener =
        TcpListener::bind(settings.listen)
            .await
            .map_err(|source| SettingsError::Listen {
                address: settings.listen,
                source,
            })?;
    tracing::info!(
        base_url = %state.config.base_url,
        listen = %settings.listen,
        organization = %state.config.organization_identifier,
        postgres = store.is_postgres(),
        "FHIR server listening"
    );
    crate::serve_state(listener, state, shutdown)
        .await
        .map_err(|source| SettingsError::Listen {
            address: settings.listen,
            source,
        })?;
    store.close().await;
    Ok(())
}
