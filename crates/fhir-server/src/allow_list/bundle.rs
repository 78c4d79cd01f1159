//! A federation's allow list as a FHIR transaction Bundle: member Organizations with their
//! certificate thumbprints, their Endpoints, the parent organization and the
//! OrganizationAffiliations that give members their roles.
//!
//! Every entry is a conditional update on its identifiers and entries reference each other by
//! `urn:uuid` full URLs derived from those identifiers, so the same list can be loaded at every
//! start-up without creating copies.

use dsf_fhir_store::search::access::{ORGANIZATION_IDENTIFIER, READ_ACCESS_TAG};
use serde_json::{Value, json};

use super::{ENDPOINT_IDENTIFIER, THUMBPRINT_EXTENSION};
use crate::authz::tags::ORGANIZATION_ROLE;

const PROFILE: &str = "http://dsf.dev/fhir/StructureDefinition/";

/// A member organization of the federation.
#[derive(Debug, Clone)]
pub struct Member {
    /// Organization identifier value, e.g. `dic1.dsf.test`.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// SHA-512 thumbprints of the organization's client certificates.
    pub thumbprints: Vec<String>,
    /// Endpoint identifier value.
    pub endpoint_identifier: String,
    /// The FHIR base URL.
    pub address: String,
    /// Role codes from [`ORGANIZATION_ROLE`] ([`crate::authz::tags::ORGANIZATION_ROLES`]).
    pub roles: Vec<String>,
}

/// A parent organization (consortium) and its members.
#[derive(Debug, Clone)]
pub struct Federation {
    /// Parent organization identifier value.
    pub parent_identifier: String,
    /// Parent organization display name.
    pub parent_name: String,
    /// The members.
    pub members: Vec<Member>,
}

/// A stable, name-based `urn:uuid` for a resource named by its type and identifier.
fn full_url(kind: &str, identifier: &str) -> String {
    let name = format!("{kind}?identifier={identifier}");
    format!(
        "urn:uuid:{}",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes())
    )
}

fn meta(profile: &str) -> Value {
    json!({
        "profile": [format!("{PROFILE}{profile}")],
        "tag": [{"system": READ_ACCESS_TAG, "code": "ALL"}]
    })
}

fn reference(url: &str, kind: &str) -> Value {
    json!({"reference": url, "type": kind})
}

/// A reference to an Organization carrying its identifier too: servers that match
/// `primary-organization:identifier` / `participating-organization:identifier` on the reference's
/// own identifier (FHIR R4 `:identifier` semantics) and servers that match on the target's
/// identifier both find the affiliation, so its conditional update stays idempotent.
fn organization_reference(url: &str, identifier: &str) -> Value {
    json!({"reference": url, "type": "Organization",
           "identifier": {"system": ORGANIZATION_IDENTIFIER, "value": identifier}})
}

/// A reference to an Endpoint carrying its identifier too, for `endpoint:identifier` in the
/// affiliations' conditional updates (as for [`organization_reference`]); the allow list
/// process's Bundle names affiliations that way.
fn endpoint_reference(url: &str, identifier: &str) -> Value {
    json!({"reference": url, "type": "Endpoint",
           "identifier": {"system": ENDPOINT_IDENTIFIER, "value": identifier}})
}

fn entry(full_url: &str, resource: Value, url: String) -> Value {
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "PUT", "url": url}})
}

impl Federation {
    /// The transaction Bundle.
    pub fn to_bundle(&self) -> Value {
        let parent = full_url("Organization", &self.parent_identifier);
        let mut entries = vec![entry(
            &parent,
            json!({"resourceType": "Organization", "meta": meta("organization-parent"),
                   "identifier": [{"system": ORGANIZATION_IDENTIFIER, "value": self.parent_identifier}],
                   "active": true, "name": self.parent_name}),
            format!(
                "Organization?identifier={ORGANIZATION_IDENTIFIER}|{}",
                self.parent_identifier
            ),
        )];
        for member in &self.members {
            let org = full_url("Organization", &member.identifier);
            let endpoint = full_url("Endpoint", &member.endpoint_identifier);
            let mut organization =
                json!({"resourceType": "Organization", "meta": meta("organization")});
            if !member.thumbprints.is_empty() {
                organization["extension"] = member
                    .thumbprints
                    .iter()
                    .map(|t| json!({"url": THUMBPRINT_EXTENSION, "valueString": t}))
                    .collect();
            }
            organization["identifier"] =
                json!([{"system": ORGANIZATION_IDENTIFIER, "value": member.identifier}]);
            organization["active"] = json!(true);
            organization["name"] = json!(member.name);
            organization["endpoint"] = json!([reference(&endpoint, "Endpoint")]);
            entries.push(entry(
                &org,
                organization,
                format!(
                    "Organization?identifier={ORGANIZATION_IDENTIFIER}|{}",
                    member.identifier
                ),
            ));
            entries.push(entry(
                &endpoint,
                json!({"resourceType": "Endpoint", "meta": meta("endpoint"),
                       "identifier": [{"system": ENDPOINT_IDENTIFIER, "value": member.endpoint_identifier}],
                       "status": "active",
                       "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                       "managingOrganization": reference(&org, "Organization"),
                       "payloadType": [{"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Task"}]}],
                       "payloadMimeType": ["application/fhir+json", "application/fhir+xml"],
                       "address": member.address}),
                format!(
                    "Endpoint?identifier={ENDPOINT_IDENTIFIER}|{}",
                    member.endpoint_identifier
                ),
            ));
            let codes: Vec<Value> = member
                .roles
                .iter()
                .map(|code| json!({"coding": [{"system": ORGANIZATION_ROLE, "code": code}]}))
                .collect();
            entries.push(entry(
                &full_url(
                    "OrganizationAffiliation",
                    &format!("{}/{}", self.parent_identifier, member.identifier),
                ),
                json!({"resourceType": "OrganizationAffiliation", "meta": meta("organization-affiliation"),
                       "active": true,
                       "organization": organization_reference(&parent, &self.parent_identifier),
                       "participatingOrganization": organization_reference(&org, &member.identifier),
                       "code": codes,
                       "endpoint": [endpoint_reference(&endpoint, &member.endpoint_identifier)]}),
                format!(
                    "OrganizationAffiliation?primary-organization:identifier={ORGANIZATION_IDENTIFIER}|{}\
                     &participating-organization:identifier={ORGANIZATION_IDENTIFIER}|{}",
                    self.parent_identifier, member.identifier
                ),
            ));
        }
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }
}
