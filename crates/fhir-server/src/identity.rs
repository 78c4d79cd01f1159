//! Who is calling: the authentication middleware maps the caller's client certificate to an
//! organization of the allow list and hands every handler the caller's [`Identity`].
//!
//! The certificate comes from the TLS connection ([`AuthMode::MutualTls`]) or, behind a
//! TLS-terminating reverse proxy, from a request header that only configured proxy addresses may
//! set ([`AuthMode::Proxy`]). A certificate whose thumbprint belongs to no active organization is
//! answered with a bare 401, and the refusal is logged once with its reason.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderName, StatusCode};
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;

use crate::allow_list::AllowList;
use crate::authz::Caller;
use crate::error::ApiError;
use crate::practitioners::Practitioner;
use crate::state::AppState;
use crate::tls::{PeerCertificate, remote_address, verify_client_certificate};

/// The authenticated caller of a request: an organization of the allow list, or a local user
/// of the site's role configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Whether the caller belongs to this site (its own organization or one of its users).
    pub local: bool,
    /// The caller's organization identifier value (`http://dsf.dev/sid/organization-identifier`).
    pub organization: String,
    /// Thumbprint of the caller's certificate; `None` for the server's own start-up work and for
    /// development mode.
    pub thumbprint: Option<String>,
    /// For a local user: who they are and what they may do.
    pub practitioner: Option<Arc<Practitioner>>,
}

impl Identity {
    /// The local organization acting through the server itself (initial data, development).
    pub fn local(organization: &str) -> Identity {
        Identity {
            local: true,
            organization: organization.to_owned(),
            thumbprint: None,
            practitioner: None,
        }
    }

    /// Whether the caller is an organization or a DSF administrator (who may do what the local
    /// organization may in the Task and QuestionnaireResponse rules).
    pub fn is_organization_or_admin(&self) -> bool {
        self.practitioner.as_ref().is_none_or(|p| p.is_admin())
    }
}

/// Certificates forwarded by a TLS-terminating reverse proxy.
#[derive(Clone)]
pub struct ProxyAuth {
    /// The header carrying the client certificate as PEM (the reference's `X-ClientCert`).
    pub header: HeaderName,
    /// Addresses of the proxies allowed to set it; requests from elsewhere are refused.
    pub proxies: Vec<IpAddr>,
    /// Checks a forwarded certificate against the trusted CAs, as a handshake would.
    pub verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("header", &self.header)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Development only: plain HTTP on loopback, every caller is the local organization.
    DevInsecure,
    /// The server terminates TLS (with this configuration) and requires a client certificate.
    MutualTls(Arc<rustls::ServerConfig>),
    /// Plain HTTP behind a reverse proxy that forwards the client certificate.
    Proxy(ProxyAuth),
}

/// Why a request was not authenticated; the reason is logged, never sent.
enum Refusal {
    Unauthorized(String),
    Failed(ApiError),
}

/// Middleware: establishes the caller's identity and hands it to the handlers.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // What the request proves is read before any await: a request is not shared across threads.
    let certificate = match presented_certificate(&state.auth, &request) {
        Ok(certificate) => certificate,
        Err(refusal) => return refuse(&request, refusal),
    };
    match identify(&state, certificate).await {
        Ok((identity, allow_list)) => {
            request.extensions_mut().insert(Caller {
                identity: identity.clone(),
                allow_list,
                config: state.config.clone(),
                definitions: state.definitions.clone(),
                profiles: state.config.validation.then(|| state.profiles.clone()),
            });
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(refusal) => refuse(&request, refusal),
    }
}

fn refuse(request: &Request, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Unauthorized(reason) => {
            tracing::warn!(
                method = %request.method(),
                uri = %request.uri(),
                "request refused (401): {reason}"
            );
            StatusCode::UNAUTHORIZED.into_response()
        }
        Refusal::Failed(error) => error.into_response(),
    }
}

/// The client certificate the request presents; `None` in development mode.
fn presented_certificate(
    auth: &AuthMode,
    request: &Request,
) -> Result<Option<PeerCertificate>, Refusal> {
    match auth {
        AuthMode::DevInsecure => Ok(None),
        AuthMode::MutualTls(_) => request
            .extensions()
            .get::<PeerCertificate>()
            .cloned()
            .map(Some)
            .ok_or_else(|| Refusal::Unauthorized("no client certificate".into())),
        AuthMode::Proxy(proxy) => forwarded_certificate(proxy, request).map(Some),
    }
}

async fn identify(
    state: &AppState,
    certificate: Option<PeerCertificate>,
) -> Result<(Identity, Arc<AllowList>), Refusal> {
    let local = state.config.organization_identifier.as_str();
    let allow_list = state
        .allow_list
        .get()
        .await
        .map_err(|e| Refusal::Failed(e.into()))?;
    let Some(certificate) = certificate else {
        return Ok((Identity::local(local), allow_list));
    };
    if let Some(user) = state
        .config
        .users
        .iter()
        .find(|u| u.thumbprints.contains(&certificate.thumbprint))
        && allow_list.by_thumbprint(&certificate.thumbprint).is_none()
    {
        let identity = Identity {
            local: true,
            organization: local.to_owned(),
            practitioner: Some(user.practitioner_for(&certificate.thumbprint)),
            thumbprint: Some(certificate.thumbprint),
        };
        return Ok((identity, allow_list));
    }
    let organization = allow_list
        .by_thumbprint(&certificate.thumbprint)
        .ok_or_else(|| {
            Refusal::Unauthorized(format!(
                "certificate {} ({}) is not part of the allow list",
                certificate.subject(),
                certificate.thumbprint
            ))
        })?;
    let identifier = organization.identifier.clone().ok_or_else(|| {
        Refusal::Unauthorized(format!(
            "Organization/{} of certificate {} has no organization identifier",
            organization.id,
            certificate.subject()
        ))
    })?;
    if !organization.active {
        return Err(Refusal::Unauthorized(format!(
            "organization {identifier} of certificate {} is not active",
            certificate.subject()
        )));
    }
    let identity = Identity {
        local: identifier == local,
        organization: identifier,
        thumbprint: Some(certificate.thumbprint),
        practitioner: None,
    };
    Ok((identity, allow_list))
}

/// The certificate a trusted proxy forwarded in its header, checked against the trusted CAs.
fn forwarded_certificate(proxy: &ProxyAuth, request: &Request) -> Result<PeerCertificate, Refusal> {
    let from = remote_address(request).map(|a| a.ip());
    if !from.is_some_and(|ip| proxy.proxies.contains(&ip)) {
        return Err(Refusal::Unauthorized(format!(
            "request from {} which is not a configured proxy",
            from.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string())
        )));
    }
    let value = request
        .headers()
        .get(&proxy.header)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::Unauthorized(format!("no {} header", proxy.header)))?;
    let chain = parse_forwarded_pem(value)
        .map_err(|e| Refusal::Unauthorized(format!("{} header unreadable: {e}", proxy.header)))?;
    verify_client_certificate(proxy.verifier.as_ref(), &chain)
        .map_err(|e| Refusal::Unauthorized(format!("forwarded certificate refused: {e}")))?;
    chain
        .first()
        .map(|der| PeerCertificate::from_der(der))
        .ok_or_else(|| Refusal::Unauthorized("no certificate in the header".into()))
}

/// Reads PEM certificates as proxies forward them: URL-encoded, or with the line breaks replaced
/// by spaces (Apache's `%{SSL_CLIENT_CERT}s`), or as plain PEM.
pub fn parse_forwarded_pem(value: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let decoded = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map_err(|_| "not UTF-8 after URL decoding".to_owned())?;
    let mut rest = decoded.as_ref();
    let mut chain = Vec::new();
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let end = rest[body_start..]
            .find(END)
            .ok_or_else(|| "unterminated PEM certificate".to_owned())?;
        let body: String = rest[body_start..body_start + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("bad base64: {e}"))?;
        chain.push(CertificateDer::from(der));
        rest = &rest[body_start + end + END.len()..];
    }
    if chain.is_empty() {
        return Err("no PEM certificate".into());
    }
    Ok(chain)
}
