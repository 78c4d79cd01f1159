//! The start-up bundle: a transaction run at every start, as the reference runs its
//! `conf/bundle.xml`, so that a site comes up knowing itself (and, with a federation's allow
//! list, every other site).
//!
//! The bundle text may use the reference's placeholders, filled from the configuration:
//! `${dev.dsf.fhir.server.organization.identifier.value}`,
//! `${dev.dsf.fhir.server.organization.thumbprint}`, `${dev.dsf.fhir.server.endpoint.address}` and
//! `${dev.dsf.fhir.server.endpoint.identifier.value}`. Without a configured bundle the server
//! loads its own Organization and Endpoint as conditional updates.
//!
//! The reference's two Subscriptions, through which the process engine learns of requested Tasks
//! and completed QuestionnaireResponses, are created at every start as conditional creates
//! ([`load_default_subscriptions`]).

use dsf_fhir::{Format, Resource};
use serde_json::{Value, json};

use crate::allow_list::{ENDPOINT_IDENTIFIER, THUMBPRINT_EXTENSION};
use crate::authz::Caller;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::prefer::{Prefer, Return};
use crate::state::AppState;
use dsf_fhir_store::search::access::{ORGANIZATION_IDENTIFIER, READ_ACCESS_TAG};

/// The values the placeholders stand for.
#[derive(Debug, Clone)]
pub struct Placeholders {
    /// The local organization identifier value.
    pub organization_identifier: String,
    /// The local organization's certificate thumbprint.
    pub organization_thumbprint: Option<String>,
    /// The local Endpoint's address: the base URL.
    pub endpoint_address: String,
    /// The local Endpoint's identifier value: the base URL's host.
    pub endpoint_identifier: String,
}

impl Placeholders {
    /// The values for a server with `config` and the local `thumbprint`.
    pub fn new(config: &ServerConfig, thumbprint: Option<String>) -> Placeholders {
        let host = url::Url::parse(&config.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        Placeholders {
            organization_identifier: config.organization_identifier.clone(),
            organization_thumbprint: thumbprint,
            endpoint_address: config.base_url.clone(),
            endpoint_identifier: host,
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        match name {
            "dev.dsf.fhir.server.organization.identifier.value" => {
                Some(&self.organization_identifier)
            }
            "dev.dsf.fhir.server.organization.thumbprint" => {
                self.organization_thumbprint.as_deref()
            }
            "dev.dsf.fhir.server.endpoint.address" => Some(&self.endpoint_address),
            "dev.dsf.fhir.server.endpoint.identifier.value" => Some(&self.endpoint_identifier),
            _ => None,
        }
    }

    /// Replaces every `${name}` in `text`; an unknown or unset name is an error.
    pub fn fill(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| "unterminated ${ placeholder".to_owned())?;
            let name = &rest[start + 2..start + end];
            let value = self
                .value(name)
                .ok_or_else(|| format!("placeholder ${{{name}}} is unknown or not configured"))?;
            out.push_str(value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The default start-up bundle: the local Organization and its Endpoint.
pub fn default_bundle(placeholders: &Placeholders, thumbprint: &str) -> Value {
    let tag = json!([{"system": READ_ACCESS_TAG, "code": "ALL"}]);
    let org_identifier = &placeholders.organization_identifier;
    let endpoint_identifier = &placeholders.endpoint_identifier;
    let (org_urn, endpoint_urn) = (
        format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        format!("urn:uuid:{}", uuid::Uuid::new_v4()),
    );
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": org_urn,
                "resource": {
                    "resourceType": "Organization",
                    "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/organization"], "tag": tag},
                    "extension": [{"url": THUMBPRINT_EXTENSION, "valueString": thumbprint}],
                    "identifier": [{"system": ORGANIZATION_IDENTIFIER, "value": org_identifier}],
                    "active": true,
                    "endpoint": [{"reference": endpoint_urn, "type": "Endpoint"}]
                },
                "request": {"method": "PUT", "url": format!("Organization?identifier={ORGANIZATION_IDENTIFIER}|{org_identifier}")}
            },
            {
                "fullUrl": endpoint_urn,
                "resource": {
                    "resourceType": "Endpoint",
                    "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/endpoint"], "tag": tag},
                    "identifier": [{"system": ENDPOINT_IDENTIFIER, "value": endpoint_identifier}],
                    "status": "active",
                    "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                    "managingOrganization": {"reference": org_urn, "type": "Organization"},
                    "payloadType": [{"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Task"}]}],
                    "payloadMimeType": ["application/fhir+xml", "application/fhir+json"],
                    "address": placeholders.endpoint_address
                },
                "request": {"method": "PUT", "url": format!("Endpoint?identifier={ENDPOINT_IDENTIFIER}|{endpoint_identifier}")}
            }
        ]
    })
}

/// The criteria of the Subscriptions every server has (process engine: Tasks to run, answered
/// user tasks).
pub const DEFAULT_SUBSCRIPTIONS: [&str; 2] = [
    "Task?status=requested",
    "QuestionnaireResponse?status=completed",
];

/// The reference's default Subscriptions as a transaction of conditional creates: read access
/// `LOCAL`, active, websocket, JSON payload.
pub fn default_subscriptions() -> Value {
    let entries: Vec<Value> = DEFAULT_SUBSCRIPTIONS
        .iter()
        .map(|criteria| {
            let exists: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("criteria:exact", criteria)
                .append_pair("type", "websocket")
                .append_pair("payload", "application/fhir+json")
                .finish();
            json!({
                "resource": {
                    "resourceType": "Subscription",
                    "meta": {"tag": [{"system": READ_ACCESS_TAG, "code": "LOCAL"}]},
                    "status": "active",
                    "reason": "Business Process Engine",
                    "criteria": criteria,
                    "channel": {"type": "websocket", "payload": "application/fhir+json"}
                },
                "request": {"method": "POST", "url": "Subscription", "ifNoneExist": exists}
            })
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// Creates the default Subscriptions unless they exist.
pub async fn load_default_subscriptions(state: &AppState) -> Result<(), ApiError> {
    let bundle = Resource::from_json_value(default_subscriptions())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    load(state, bundle).await
}

/// Reads a start-up bundle file (JSON or XML) and fills its placeholders.
pub fn read(path: &std::path::Path, placeholders: &Placeholders) -> Result<Resource, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("start-up bundle {}: {e}", path.display()))?;
    let filled = placeholders
        .fill(&text)
        .map_err(|e| format!("start-up bundle {}: {e}", path.display()))?;
    let format = if filled.trim_start().starts_with('<') {
        Format::Xml
    } else {
        Format::Json
    };
    dsf_fhir::parse(filled.as_bytes(), format)
        .map_err(|e| format!("start-up bundle {}: {e}", path.display()))
}

/// Runs `bundle` as the local organization; any failing entry fails the whole bundle.
pub async fn load(state: &AppState, bundle: Resource) -> Result<(), ApiError> {
    let caller = Caller {
        identity: Identity::local(&state.config.organization_identifier),
        allow_list: state.allow_list.get().await?,
        config: state.config.clone(),
        definitions: state.definitions.clone(),
        profiles: None,
    };
    let prefer = Prefer {
        strict: true,
        return_: Return::Minimal,
    };
    crate::transaction::process(state, &caller, prefer, bundle).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders() -> Placeholders {
        let mut config = ServerConfig::new("https://dic1.dsf.test/fhir").expect("config");
        config.organization_identifier = "dic1.dsf.test".into();
        Placeholders::new(&config, Some("ab".repeat(64)))
    }

    #[test]
    fn placeholders_are_filled() {
        let p = placeholders();
        assert_eq!(
            p.fill("x ${dev.dsf.fhir.server.endpoint.identifier.value} ${dev.dsf.fhir.server.endpoint.address}")
                .expect("filled"),
            "x dic1.dsf.test https://dic1.dsf.test/fhir"
        );
        assert!(p.fill("${dev.dsf.unknown}").is_err());
        assert!(p.fill("${dev.dsf").is_err());
    }
}
