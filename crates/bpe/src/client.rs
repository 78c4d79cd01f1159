//! A FHIR client for the site's own server and the other sites' servers: JSON over HTTPS with
//! the site's client certificate, as the reference's webservice clients do.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use thiserror::Error;

use crate::error::BpeError;
use crate::tls::ClientTls;

const FHIR_JSON: &str = "application/fhir+json";
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take: a site that does not answer is "not reachable" soon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed FHIR request.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No answer: the connection failed or timed out.
    #[error("{method} {url}: not reachable: {message}")]
    Unreachable {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// Why.
        message: String,
    },
    /// An answer with an error status.
    #[error("{method} {url}: {status}{}", diagnostics.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The OperationOutcome's diagnostics, if any.
        diagnostics: Option<String>,
    },
    /// A success whose body is not the FHIR JSON expected.
    #[error("{method} {url}: unreadable answer: {message}")]
    Invalid {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// Why.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The HTTP client shared by every [`FhirClient`] of a site (one connection pool).
#[derive(Debug, Clone)]
pub struct FhirClients {
    http: reqwest::Client,
}

impl FhirClients {
    /// Clients with the site's identity.
    pub fn new(tls: &ClientTls) -> Result<FhirClients, BpeError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls.https).clone())
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| BpeError::Tls(e.to_string()))?;
        Ok(FhirClients { http })
    }

    /// A client of the FHIR server at `base_url`.
    pub fn at(&self, base_url: &str) -> FhirClient {
        FhirClient {
            http: self.http.clone(),
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// A client of one FHIR server.
#[derive(Debug, Clone)]
pub struct FhirClient {
    http: reqwest::Client,
    base: String,
}

impl FhirClient {
    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The server's websocket URL: the base with `wss`/`ws` and `/ws`.
    pub fn websocket_url(&self) -> String {
        let base = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{base}/ws")
    }

    /// `POST {base}/{type}`: creates `resource`, returns it as stored.
    pub async fn create(&self, resource: &Value) -> Result<Value, ClientError> {
        let url = format!("{}/{}", self.base, resource_type(resource));
        self.send(Method::POST, url, Some(resource), None).await
    }

    /// `PUT {base}/{type}/{id}` with `If-Match` on its `meta.versionId` when it has one: updates
    /// `resource`, returns it as stored. A version conflict is a 412.
    pub async fn update(&self, resource: &Value) -> Result<Value, ClientError> {
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = format!("{}/{}/{id}", self.base, resource_type(resource));
        let version = resource
            .pointer("/meta/versionId")
            .and_then(Value::as_str)
            .map(|v| format!("W/\"{v}\""));
        self.send(Method::PUT, url, Some(resource), version).await
    }

    /// `PUT {base}/{query}`, a conditional update such as `Bundle?identifier=<system>|<value>`:
    /// updates the one match of `query` or creates `resource`; returns it as stored.
    pub async fn update_where(&self, query: &str, resource: &Value) -> Result<Value, ClientError> {
        self.send(Method::PUT, self.url_of(query), Some(resource), None)
            .await
    }

    /// `GET` of a reference: relative (`Type/id[/_history/v]`) to this server, or absolute.
    pub async fn read(&self, reference: &str) -> Result<Value, ClientError> {
        self.send(Method::GET, self.url_of(reference), None, None)
            .await
    }

    /// `GET {base}/{query}`, e.g. `Endpoint?status=active`: the searchset Bundle.
    pub async fn search(&self, query: &str) -> Result<Value, ClientError> {
        self.send(Method::GET, self.url_of(query), None, None).await
    }

    /// Every match of `query`, following the Bundles' `next` links (included resources too).
    pub async fn search_all(&self, query: &str) -> Result<Vec<Value>, ClientError> {
        let mut found = Vec::new();
        let mut url = self.url_of(query);
        loop {
            let bundle = self.send(Method::GET, url, None, None).await?;
            if let Some(entries) = bundle.get("entry").and_then(Value::as_array) {
                found.extend(entries.iter().filter_map(|e| e.get("resource")).cloned());
            }
            let next = bundle
                .get("link")
                .and_then(Value::as_array)
                .and_then(|links| {
                    links
                        .iter()
                        .find(|l| l.get("relation") == Some(&json!("next")))
                })
                .and_then(|l| l.get("url"))
                .and_then(Value::as_str);
            match next {
                Some(next) => url = next.to_owned(),
                None => return Ok(found),
            }
        }
    }

    /// `POST {base}` of a batch or transaction Bundle: the response Bundle.
    pub async fn transaction(&self, bundle: &Value) -> Result<Value, ClientError> {
        self.send(Method::POST, self.base.clone(), Some(bundle), None)
            .await
    }

    fn url_of(&self, reference: &str) -> String {
        if reference.starts_with("https://") || reference.starts_with("http://") {
            reference.to_owned()
        } else {
            format!("{}/{}", self.base, reference.trim_start_matches('/'))
        }
    }

    async fn send(
        &self,
        method: Method,
        url: String,
        body: Option<&Value>,
        if_match: Option<String>,
    ) -> Result<Value, ClientError> {
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("accept", FHIR_JSON);
        if let Some(body) = body {
            request = request
                .header("content-type", FHIR_JSON)
                .header("prefer", "return=representation")
                .body(body.to_string());
        }
        if let Some(version) = if_match {
            request = request.header("if-match", version);
        }
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            method: method.clone(),
            url: url.clone(),
            message: error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        let parsed = serde_json::from_slice::<Value>(&bytes);
        if !status.is_success() {
            let diagnostics = parsed.ok().and_then(|outcome| diagnostics(&outcome));
            return Err(ClientError::Status {
                method,
                url,
                status,
                diagnostics,
            });
        }
        parsed.map_err(|e| ClientError::Invalid {
            method,
            url,
            message: e.to_string(),
        })
    }
}

/// The type of a resource, `Resource` when it has none.
fn resource_type(resource: &Value) -> &str {
    resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("Resource")
}

/// The diagnostics of an OperationOutcome's issues, joined.
fn diagnostics(outcome: &Value) -> Option<String> {
    let texts: Vec<&str> = outcome
        .get("issue")?
        .as_array()?
        .iter()
        .filter_map(|i| i.get("diagnostics").and_then(Value::as_str))
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// An error with its causes, e.g. "connection refused" under "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
