//! The active websocket Subscriptions with their parsed criteria, loaded from the store and
//! reloaded after a Subscription changes.

use std::sync::Arc;

use dsf_fhir::{Format, Resource};
use dsf_fhir_store::{SearchQuery, Store, StoreError, Stored};

use crate::authz::str_at;
use crate::negotiate::{fhir_format, query_pairs};

/// What a bound client receives per matching resource (`channel.payload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The resource in this format.
    Resource(Format),
    /// `ping <subscription-id>` only.
    IdOnly,
}

impl Payload {
    /// The payload a Subscription's `channel.payload` asks for.
    pub fn of(payload: Option<&str>) -> Payload {
        payload
            .and_then(fhir_format)
            .map_or(Payload::IdOnly, Payload::Resource)
    }

    /// The text frame announcing `resource` to clients of Subscription `id`.
    pub fn message(self, id: &str, resource: &Resource) -> String {
        match self {
            Payload::Resource(format) => {
                let bytes = dsf_fhir::serialize(resource, format, false);
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
            Payload::IdOnly => format!("ping {id}"),
        }
    }
}

/// An active websocket Subscription.
#[derive(Debug, Clone)]
pub struct Active {
    /// The Subscription's id.
    pub id: String,
    /// Its criteria as a search.
    pub query: SearchQuery,
    /// What its clients receive.
    pub payload: Payload,
}

impl Active {
    /// The Subscription `stored` as it is matched, if its criteria name a searchable type.
    fn from_stored(stored: &Stored) -> Option<Active> {
        let json = serde_json::Value::Object(stored.resource.as_json().clone());
        let criteria = str_at(&json, "criteria")?;
        let (resource_type, params) = criteria.split_once('?').unwrap_or((criteria, ""));
        if !dsf_fhir_store::search::params::is_served(resource_type) {
            return None;
        }
        let (query, _) = SearchQuery::parse(resource_type, &query_pairs(Some(params)), "");
        let payload = json.get("channel").and_then(|c| str_at(c, "payload"));
        Some(Active {
            id: stored.id().to_owned(),
            query,
            payload: Payload::of(payload),
        })
    }
}

/// The active Subscriptions, loaded when first needed after [`Registry::invalidate`].
#[derive(Debug, Default)]
pub struct Registry {
    loaded: Option<Arc<[Active]>>,
}

/// Subscriptions read per page while loading.
const PAGE: i64 = 1000;

impl Registry {
    /// Forgets the loaded Subscriptions (one of them changed).
    pub fn invalidate(&mut self) {
        self.loaded = None;
    }

    /// The active websocket Subscriptions.
    pub async fn active(&mut self, store: &Store) -> Result<Arc<[Active]>, StoreError> {
        if let Some(loaded) = &self.loaded {
            return Ok(loaded.clone());
        }
        let mut active = Vec::new();
        for page in 1.. {
            let params = [
                ("status".to_owned(), "active".to_owned()),
                ("type".to_owned(), "websocket".to_owned()),
                ("_page".to_owned(), page.to_string()),
            ];
            let (query, _) = SearchQuery::parse("Subscription", &params, "");
            let found = store.search(&query, PAGE).await?;
            active.extend(found.matches.iter().filter_map(Active::from_stored));
            if page * PAGE >= found.total {
                break;
            }
        }
        let loaded: Arc<[Active]> = active.into();
        self.loaded = Some(loaded.clone());
        Ok(loaded)
    }
}
