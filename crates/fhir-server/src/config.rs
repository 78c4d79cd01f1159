//! Server settings, resolved once at start-up.

/// The settings of a running FHIR server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The external base URL, e.g. `https://dic1.dsf.test/fhir`, without a trailing slash.
    pub base_url: String,
    /// The path the API is served under, taken from the base URL (e.g. `/fhir`).
    pub base_path: String,
    /// Default page size of searches and histories (`_count`).
    pub page_count: i64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The local organization's identifier value (`http://dsf.dev/sid/organization-identifier`);
    /// a caller of this organization is local.
    pub organization_identifier: String,
    /// Local users identified by their certificates, with what they may do.
    pub users: Vec<crate::practitioners::User>,
    /// Whether writes are validated against their profiles (the default; off only for
    /// measuring what validation costs).
    pub validation: bool,
}

impl ServerConfig {
    /// Settings for `base_url` with the reference's defaults (20 per page, 64 MiB bodies); the
    /// organization identifier defaults to the base URL's host.
    pub fn new(base_url: &str) -> Result<ServerConfig, String> {
        let trimmed = base_url.trim_end_matches('/');
        let parsed = url::Url::parse(trimmed).map_err(|e| format!("base URL {base_url}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("base URL {base_url} must be http(s)"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "base URL {base_url} must not have a query or fragment"
            ));
        }
        Ok(ServerConfig {
            base_url: trimmed.to_owned(),
            base_path: parsed.path().trim_end_matches('/').to_owned(),
            page_count: 20,
            max_body_bytes: 64 * 1024 * 1024,
            organization_identifier: parsed.host_str().unwrap_or("localhost").to_owned(),
            users: Vec::new(),
            validation: true,
        })
    }

    /// `{base}/{type}/{id}`
    pub fn url_of(&self, resource_type: &str, id: &str) -> String {
        format!("{}/{resource_type}/{id}", self.base_url)
    }

    /// `{base}/{type}/{id}/_history/{version}`
    pub fn version_url(&self, resource_type: &str, id: &str, version: i64) -> String {
        format!("{}/{resource_type}/{id}/_history/{version}", self.base_url)
    }
}
