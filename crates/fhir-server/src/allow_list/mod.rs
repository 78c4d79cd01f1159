//! The federation as this server knows it: its Organizations (with their certificate thumbprints),
//! OrganizationAffiliations (roles in parent organizations) and Endpoints, read from the store.
//!
//! Authentication maps a client certificate's thumbprint to an organization here, and role-based
//! authorization asks which roles an organization holds. The snapshot is cached and reloaded when
//! this process writes one of the three types, and at the latest after [`MAX_AGE`], so that
//! changes written through another server process on the same database are seen too.

pub mod bundle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dsf_fhir_store::search::access::ORGANIZATION_IDENTIFIER;
use dsf_fhir_store::{SearchQuery, Store, StoreError};
use serde_json::Value;

/// The certificate thumbprint extension on Organizations (and Endpoints).
pub const THUMBPRINT_EXTENSION: &str =
    "http://dsf.dev/fhir/StructureDefinition/extension-certificate-thumbprint";
/// The naming system of endpoint identifiers.
pub const ENDPOINT_IDENTIFIER: &str = "http://dsf.dev/sid/endpoint-identifier";
/// The resource types the allow list is made of.
pub const ALLOW_LIST_TYPES: [&str; 3] = ["Organization", "OrganizationAffiliation", "Endpoint"];

/// How long a snapshot is used before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// Upper bound of resources of one type read into a snapshot.
const MAX_ENTRIES: i64 = 100_000;

/// One Organization of the allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Logical id on this server.
    pub id: String,
    /// Its `http://dsf.dev/sid/organization-identifier` value.
    pub identifier: Option<String>,
    /// `Organization.active`.
    pub active: bool,
    /// Lower-case SHA-512 thumbprints of its client certificates.
    pub thumbprints: Vec<String>,
    /// `Organization.name`.
    pub name: Option<String>,
}

/// Membership of an organization in a parent organization, with roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affiliation {
    /// Identifier value of the parent organization.
    pub parent: String,
    /// Identifier value of the member organization.
    pub member: String,
    /// Role codings, `(system, code)`.
    pub roles: Vec<(String, String)>,
    /// `OrganizationAffiliation.active`.
    pub active: bool,
}

/// A snapshot of the allow list.
#[derive(Debug, Default, Clone)]
pub struct AllowList {
    organizations: Vec<Organization>,
    by_thumbprint: HashMap<String, usize>,
    by_identifier: HashMap<String, usize>,
    affiliations: Vec<Affiliation>,
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The values of identifiers with `system` in `identifiers` (an array of Identifier).
pub fn identifier_values<'a>(
    identifiers: Option<&'a Value>,
    system: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    identifiers
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |i| str_at(i, "system") == Some(system))
        .filter_map(|i| str_at(i, "value"))
}

/// The thumbprint extension values of a resource.
pub fn thumbprints(resource: &serde_json::Map<String, Value>) -> Vec<String> {
    resource
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| str_at(e, "url") == Some(THUMBPRINT_EXTENSION))
        .filter_map(|e| str_at(e, "valueString"))
        .map(str::to_ascii_lowercase)
        .collect()
}

fn is_active(resource: &serde_json::Map<String, Value>) -> bool {
    // `active` absent means active, as FHIR defines for both types.
    resource
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The logical id of a literal reference `Type/id` (relative or absolute).
fn referenced_id<'a>(reference: Option<&'a Value>, resource_type: &str) -> Option<&'a str> {
    let reference = reference.and_then(|r| str_at(r, "reference"))?;
    let (_, found_type, id) = dsf_fhir_store::search::split_reference(reference)?;
    (found_type == resource_type).then_some(id)
}

impl AllowList {
    /// Builds a snapshot from current Organizations and OrganizationAffiliations.
    pub fn from_resources(
        organizations: impl IntoIterator<Item = (String, serde_json::Map<String, Value>)>,
        affiliations: impl IntoIterator<Item = serde_json::Map<String, Value>>,
    ) -> AllowList {
        let mut list = AllowList::default();
        for (id, org) in organizations {
            let index = list.organizations.len();
            let identifier = identifier_values(org.get("identifier"), ORGANIZATION_IDENTIFIER)
                .next()
                .map(str::to_owned);
            let entry = Organization {
                id: id.clone(),
                identifier: identifier.clone(),
                active: is_active(&org),
                thumbprints: thumbprints(&org),
                name: org.get("name").and_then(Value::as_str).map(str::to_owned),
            };
            for thumbprint in &entry.thumbprints {
                list.by_thumbprint.insert(thumbprint.clone(), index);
            }
            if let Some(identifier) = identifier {
                list.by_identifier.insert(identifier, index);
            }
            list.organizations.push(entry);
        }
        let identifier_of = |reference: Option<&Value>| -> Option<String> {
            // Logical references carry the identifier; literal ones name an Organization here.
            if let Some(value) = reference
                .and_then(|r| r.get("identifier"))
                .filter(|i| str_at(i, "system") == Some(ORGANIZATION_IDENTIFIER))
                .and_then(|i| str_at(i, "value"))
            {
                return Some(value.to_owned());
            }
            let id = referenced_id(reference, "Organization")?;
            list.organizations
                .iter()
                .find(|o| o.id == id)
                .and_then(|o| o.identifier.clone())
        };
        let mut parsed = Vec::new();
        for affiliation in affiliations {
            let (Some(parent), Some(member)) = (
                identifier_of(affiliation.get("organization")),
                identifier_of(affiliation.get("participatingOrganization")),
            ) else {
                continue;
            };
            let roles = affiliation
                .get("code")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("coding").and_then(Value::as_array))
                .flatten()
                .filter_map(|c| {
                    Some((
                        str_at(c, "system")?.to_owned(),
                        str_at(c, "code")?.to_owned(),
                    ))
                })
                .collect();
            parsed.push(Affiliation {
                parent,
                member,
                roles,
                active: is_active(&affiliation),
            });
        }
        list.affiliations = parsed;
        list
    }

    /// The organization whose client certificate has `thumbprint`.
    pub fn by_thumbprint(&self, thumbprint: &str) -> Option<&Organization> {
        self.by_thumbprint
            .get(&thumbprint.to_ascii_lowercase())
            .map(|i| &self.organizations[*i])
    }

    /// The organization with identifier value `identifier`.
    pub fn by_identifier(&self, identifier: &str) -> Option<&Organization> {
        self.by_identifier
            .get(identifier)
            .map(|i| &self.organizations[*i])
    }

    /// The active roles `(parent identifier, role system, role code)` of an organization.
    pub fn roles_of<'a>(
        &'a self,
        member: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> + 'a {
        let parent_active = |parent: &str| self.by_identifier(parent).is_none_or(|p| p.active);
        self.affiliations
            .iter()
            .filter(move |a| a.active && a.member == member && parent_active(&a.parent))
            .flat_map(|a| {
                a.roles
                    .iter()
                    .map(|(system, code)| (a.parent.as_str(), system.as_str(), code.as_str()))
            })
    }

    /// Whether organization `member` holds role `system|code` in parent `parent`.
    pub fn has_role(&self, member: &str, parent: &str, system: &str, code: &str) -> bool {
        self.roles_of(member)
            .any(|(p, s, c)| p == parent && s == system && c == code)
    }
}

/// The cached snapshot of the allow list, shared by all requests.
#[derive(Debug)]
pub struct AllowListCache {
    store: Store,
    current: RwLock<Option<(Instant, Arc<AllowList>)>>,
    /// Counts invalidations, so that a snapshot read before one is not kept after it.
    generation: AtomicU64,
}

impl AllowListCache {
    /// A cache over `store`, loaded on first use.
    pub fn new(store: Store) -> AllowListCache {
        AllowListCache {
            store,
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// The current snapshot, reading the store when the cached one is stale.
    pub async fn get(&self) -> Result<Arc<AllowList>, StoreError> {
        if let Ok(current) = self.current.read()
            && let Some((loaded, list)) = current.as_ref()
            && loaded.elapsed() < MAX_AGE
        {
            return Ok(list.clone());
        }
        let (started, generation) = (Instant::now(), self.generation.load(Ordering::SeqCst));
        let list = Arc::new(self.load().await?);
        if let Ok(mut current) = self.current.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            *current = Some((started, list.clone()));
        }
        Ok(list)
    }

    /// Forgets the snapshot: the next request reads the store again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut current) = self.current.write() {
            *current = None;
        }
    }

    async fn load(&self) -> Result<AllowList, StoreError> {
        let all = |resource_type: &str| {
            let params = [("_count".to_owned(), MAX_ENTRIES.to_string())];
            SearchQuery::parse(resource_type, &params, "").0
        };
        let organizations = self.store.search(&all("Organization"), MAX_ENTRIES).await?;
        let affiliations = self
            .store
            .search(&all("OrganizationAffiliation"), MAX_ENTRIES)
            .await?;
        Ok(AllowList::from_resources(
            organizations
                .matches
                .into_iter()
                .map(|s| (s.id().to_owned(), s.resource.into_json())),
            affiliations
                .matches
                .into_iter()
                .map(|s| s.resource.into_json()),
        ))
    }
}
