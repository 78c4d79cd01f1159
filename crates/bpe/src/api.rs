//! The services of the process engine that activities use (the reference's `ProcessPluginApi`):
//! FHIR clients for the local and remote servers, organization and endpoint lookup in the allow
//! list on the local server, and sending Tasks to other sites.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{ClientError, FhirClient, FhirClients};
use crate::task::{self, BPMN_MESSAGE, ENDPOINT_IDENTIFIER, ORGANIZATION_IDENTIFIER};
use crate::variables::Target;

/// The services of a site's process engine.
#[derive(Debug, Clone)]
pub struct ProcessPluginApi {
    clients: FhirClients,
    local: FhirClient,
    organization_identifier: String,
}

/// A Task message to another site (or this one): what the send activity's fields and the
/// process say.
#[derive(Debug, Clone)]
pub struct Message {
    /// `instantiatesCanonical` of the Task: the process it starts or continues at the target.
    pub instantiates_canonical: String,
    /// The message name input.
    pub message_name: String,
    /// The Task profile (`meta.profile`).
    pub profile: String,
    /// The business key input (the sending instance's).
    pub business_key: Option<String>,
    /// Further inputs.
    pub inputs: Vec<Value>,
}

impl ProcessPluginApi {
    /// The services of the site `organization_identifier` whose FHIR server is at
    /// `local_base_url`.
    pub fn new(clients: FhirClients, local_base_url: &str, organization_identifier: &str) -> Self {
        ProcessPluginApi {
            local: clients.at(local_base_url),
            clients,
            organization_identifier: organization_identifier.to_owned(),
        }
    }

    /// The client of the site's own FHIR server.
    pub fn local(&self) -> &FhirClient {
        &self.local
    }

    /// A client of the FHIR server at `base_url`.
    pub fn remote(&self, base_url: &str) -> FhirClient {
        self.clients.at(base_url)
    }

    /// The local organization's identifier value.
    pub fn local_organization_identifier(&self) -> &str {
        &self.organization_identifier
    }

    /// The local FHIR server's base URL (the local endpoint's address).
    pub fn local_endpoint_address(&self) -> &str {
        self.local.base_url()
    }

    /// The active Endpoint with identifier `value`, from the allow list.
    pub async fn endpoint(&self, value: &str) -> Result<Option<Value>, ClientError> {
        let query = format!(
            "Endpoint?status=active&identifier={}",
            encode(&format!("{ENDPOINT_IDENTIFIER}|{value}"))
        );
        Ok(self.local.search_all(&query).await?.into_iter().next())
    }

    /// The local organization's Endpoint: the active one whose address is the local base URL.
    pub async fn local_endpoint(&self) -> Result<Option<Value>, ClientError> {
        let query = format!(
            "Endpoint?status=active&address={}",
            encode(self.local.base_url())
        );
        Ok(self.local.search_all(&query).await?.into_iter().next())
    }

    /// Active Organizations of the allow list other than the local one, with their Endpoints
    /// (`_include=Organization:endpoint`).
    pub async fn remote_organizations(&self) -> Result<Vec<Value>, ClientError> {
        let query = format!(
            "Organization?active=true&identifier={}&_include=Organization:endpoint",
            encode(&format!("{ORGANIZATION_IDENTIFIER}|"))
        );
        Ok(self
            .local
            .search_all(&query)
            .await?
            .into_iter()
            .filter(|r| {
                r.get("resourceType") == Some(&json!("Organization"))
                    && identifier_value(r, ORGANIZATION_IDENTIFIER)
                        .is_some_and(|v| v != self.organization_identifier)
            })
            .collect())
    }

    /// Creates the Task of `message` at `target`'s FHIR server: status requested, requester the
    /// local organization, recipient the target's, with the message name, business key and the
    /// target's correlation key as inputs. Returns the Task as created.
    pub async fn send(&self, message: &Message, target: &Target) -> Result<Value, ClientError> {
        let task = self.message_task(message, target);
        self.remote(&target.endpoint_url).create(&task).await
    }

    /// The Task [`ProcessPluginApi::send`] creates.
    pub fn message_task(&self, message: &Message, target: &Target) -> Value {
        let mut inputs = vec![task::parameter(
            BPMN_MESSAGE,
            "message-name",
            "valueString",
            json!(message.message_name),
        )];
        if let Some(key) = &message.business_key {
            inputs.push(task::parameter(
                BPMN_MESSAGE,
                "business-key",
                "valueString",
                json!(key),
            ));
        }
        if let Some(key) = &target.correlation_key {
            inputs.push(task::parameter(
                BPMN_MESSAGE,
                "correlation-key",
                "valueString",
                json!(key),
            ));
        }
        inputs.extend(message.inputs.iter().cloned());
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        json!({
            "resourceType": "Task",
            "meta": {"profile": [message.profile]},
            "instantiatesCanonical": message.instantiates_canonical,
            "status": "requested",
            "intent": "order",
            "authoredOn": now,
            "requester": task::organization_reference(&self.organization_identifier),
            "restriction": {"recipient": [task::organization_reference(&target.organization_identifier_value)]},
            "input": inputs,
        })
    }
}

/// The value of a resource's identifier of `system`.
pub fn identifier_value<'a>(resource: &'a Value, system: &str) -> Option<&'a str> {
    resource
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|i| i.get("system").and_then(Value::as_str) == Some(system))?
        .get("value")?
        .as_str()
}

/// Percent-encodes a search parameter value.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
