//! No write without validation: every resource created or updated through the API is checked
//! against the R4 definitions and the profiles in its `meta.profile`, resolved from the
//! StructureDefinitions, ValueSets and CodeSystems stored on this server (the DSF profiles loaded
//! at start-up and those process plugins bring). An invalid resource is refused with 403 and an
//! OperationOutcome listing every issue, as the reference answers; nothing is stored.
//!
//! Like the reference, the server first adds the DSF default profile of the resource's type
//! (`http://dsf.dev/fhir/StructureDefinition/<type>`, not for Task) when `meta.profile` names
//! none of the DSF profiles for that type, and a Task update to `failed` is stored even when
//! invalid, so that a failing process can always say so.
//!
//! The validator, with its generated snapshots and ValueSet expansions, is built once from the
//! stored conformance resources and kept until this process commits a change to them, and at
//! most [`MAX_AGE`] so that changes written by another server process are seen. A transaction
//! that writes conformance resources validates its later entries against what it wrote.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dsf_fhir::Resource;
use dsf_fhir_store::{SearchQuery, SearchResult, Store, StoreError, Transaction};
use dsf_fhir_validation::{Conformance, Severity as IssueSeverity, Validator};
use http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;
use crate::outcome::{Issue, Severity};

/// How long a validator is used before the conformance resources are read again.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// The resource types validation draws on.
pub const CONFORMANCE_TYPES: [&str; 3] = ["StructureDefinition", "ValueSet", "CodeSystem"];

/// Where the DSF profiles live.
const DSF_PROFILES: &str = "http://dsf.dev/fhir/StructureDefinition/";

/// What is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A new resource.
    Create,
    /// A new version of an existing resource.
    Update,
}

/// The validator over the stored conformance resources, rebuilt when they change.
#[derive(Debug)]
pub struct Profiles {
    store: Store,
    current: RwLock<Option<(Instant, Arc<Validator>)>>,
    /// Counts invalidations, so that a validator loaded before one is not kept after it.
    generation: AtomicU64,
}

impl Profiles {
    /// Profiles read from `store`.
    pub fn new(store: Store) -> Profiles {
        Profiles {
            store,
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Drops the validator: conformance resources changed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut current) = self.current.write() {
            *current = None;
        }
    }

    /// The validator for writes in `tx`: the cached one, or one over what `tx` sees when it
    /// wrote conformance resources itself.
    pub async fn validator(&self, tx: &mut Transaction) -> Result<Arc<Validator>, StoreError> {
        if CONFORMANCE_TYPES.iter().any(|t| tx.touches(t)) {
            let mut conformance = Conformance::new();
            for t in CONFORMANCE_TYPES {
                add_all(&mut conformance, tx.search(&all(t), ALL).await?);
            }
            return Ok(Arc::new(Validator::new(conformance)));
        }
        self.latest().await
    }

    /// The validator over the committed conformance resources (cached).
    pub async fn latest(&self) -> Result<Arc<Validator>, StoreError> {
        if let Ok(current) = self.current.read()
            && let Some((loaded, validator)) = current.as_ref()
            && loaded.elapsed() < MAX_AGE
        {
            return Ok(validator.clone());
        }
        let (started, generation) = (Instant::now(), self.generation.load(Ordering::SeqCst));
        let mut conformance = Conformance::new();
        for t in CONFORMANCE_TYPES {
            add_all(&mut conformance, self.store.search(&all(t), ALL).await?);
        }
        let validator = Arc::new(Validator::new(conformance));
        if let Ok(mut current) = self.current.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            *current = Some((started, validator.clone()));
        }
        Ok(validator)
    }
}

/// The most conformance resources of one type read (far more than a federation has).
const ALL: i64 = 100_000;

fn all(resource_type: &str) -> SearchQuery {
    let params = [("_count".to_owned(), ALL.to_string())];
    SearchQuery::parse(resource_type, &params, "").0
}

fn add_all(conformance: &mut Conformance, found: SearchResult) {
    for stored in found.matches {
        conformance.add(Value::Object(stored.resource.as_json().clone()));
    }
}

/// Adds the default profile and validates `resource`; `Err` is the 403 to answer.
pub async fn check(
    profiles: &Profiles,
    tx: &mut Transaction,
    resource: &mut Resource,
    write: Write,
) -> Result<(), ApiError> {
    let validator = profiles.validator(tx).await?;
    add_default_profile(&validator, resource);
    let json = Value::Object(std::mem::take(resource.as_json_mut()));
    let issues = validator.validate(&json);
    let failing_task = write == Write::Update
        && json.get("resourceType").and_then(Value::as_str) == Some("Task")
        && json.get("status").and_then(Value::as_str) == Some("failed");
    if let Value::Object(map) = json {
        *resource.as_json_mut() = map;
    }
    if failing_task || !issues.iter().any(|i| i.is_error()) {
        return Ok(());
    }
    let issues = issues
        .into_iter()
        .map(|i| {
            let severity = match i.severity {
                IssueSeverity::Fatal | IssueSeverity::Error => Severity::Error,
                IssueSeverity::Warning => Severity::Warning,
                IssueSeverity::Information => Severity::Information,
            };
            Issue::new(severity, i.code, i.message).at(i.location)
        })
        .collect();
    Err(ApiError {
        status: StatusCode::FORBIDDEN,
        issues,
        version: None,
    })
}

/// Prepends `http://dsf.dev/fhir/StructureDefinition/<type>` to `meta.profile` when the type has
/// such a profile and `meta.profile` names none of its type's DSF profiles.
pub fn add_default_profile(validator: &Validator, resource: &mut Resource) {
    let resource_type = resource.resource_type().to_owned();
    if resource_type == "Task" {
        return;
    }
    let default = format!("{DSF_PROFILES}{}", kebab(&resource_type));
    if validator
        .conformance()
        .structure_definition(&default)
        .is_none()
    {
        return;
    }
    let mut accepted = vec![default.clone()];
    if resource_type == "Organization" {
        accepted.push(format!("{DSF_PROFILES}organization-parent"));
    }
    let json = resource.as_json_mut();
    let meta = json
        .entry("meta")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let profiles = meta
        .entry("profile")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(profiles) = profiles.as_array_mut() else {
        return;
    };
    let named = profiles.iter().filter_map(Value::as_str).any(|p| {
        let url = p.split('|').next().unwrap_or(p);
        accepted.iter().any(|a| a == url)
    });
    if !named {
        profiles.insert(0, Value::String(default));
    }
}

/// `QuestionnaireResponse` → `questionnaire-response`.
fn kebab(resource_type: &str) -> String {
    let mut out = String::with_capacity(resource_type.len() + 4);
    for (i, c) in resource_type.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_names() {
        assert_eq!(kebab("QuestionnaireResponse"), "questionnaire-response");
        assert_eq!(kebab("Organization"), "organization");
        assert_eq!(kebab("CodeSystem"), "code-system");
    }
}
