//! The validator: profiles resolved from a [`Conformance`] set, snapshots generated and compiled
//! once, ValueSets expanded once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::base::{self, CORE};
use crate::conformance::Conformance;
use crate::issue::Issue;
use crate::profile::Profile;
use crate::snapshot::{self, Generated};
use crate::terminology::{self, Expansion};
use crate::walk::Walk;

/// Profiles on profiles nest at most this deep (a cycle ends here too).
const MAX_BASE_DEPTH: usize = 16;

type Cache<T> = Mutex<HashMap<String, Arc<Result<T, String>>>>;

/// Validates resources against the R4 base and the profiles in their `meta.profile`.
///
/// Built over a fixed set of conformance resources; build a new one when they change (its
/// caches go with it).
#[derive(Debug, Default)]
pub struct Validator {
    conformance: Conformance,
    snapshots: Cache<Arc<Vec<Value>>>,
    profiles: Cache<Arc<Profile>>,
    expansions: Cache<Expansion>,
}

impl Validator {
    /// A validator over `conformance`.
    pub fn new(conformance: Conformance) -> Validator {
        Validator {
            conformance,
            ..Validator::default()
        }
    }

    /// The conformance resources it resolves profiles and terminology from.
    pub fn conformance(&self) -> &Conformance {
        &self.conformance
    }

    /// Every issue of `resource` (a FHIR JSON object that passed the R4 structure check) against
    /// each profile in its `meta.profile`, or against its base definition when it names none.
    pub fn validate(&self, resource: &Value) -> Vec<Issue> {
        let resource_type = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let profiles: Vec<&str> = resource
            .pointer("/meta/profile")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut walk = Walk::new(self, resource);
        if profiles.is_empty() {
            walk.check_profile(
                &format!("{CORE}{resource_type}"),
                resource,
                resource_type,
                resource_type,
                resource_type,
            );
        }
        for (i, canonical) in profiles.iter().enumerate() {
            walk.check_profile(
                canonical,
                resource,
                resource_type,
                &format!("{resource_type}.meta.profile[{i}]"),
                resource_type,
            );
        }
        walk.into_issues()
    }

    /// The snapshot of a StructureDefinition (its differential over its base's snapshot); an
    /// error says why it cannot be made.
    pub fn snapshot(&self, structure_definition: &Value) -> Result<Generated, String> {
        self.generate(structure_definition, 0)
    }

    fn generate(&self, sd: &Value, depth: usize) -> Result<Generated, String> {
        let field = |k: &str| sd.get(k).and_then(Value::as_str);
        let name = field("url").unwrap_or("StructureDefinition");
        let differential = sd
            .pointer("/differential/element")
            .and_then(Value::as_array);
        let Some(differential) = differential else {
            return sd
                .pointer("/snapshot/element")
                .and_then(Value::as_array)
                .map(|elements| Generated {
                    elements: elements.clone(),
                    skipped: Vec::new(),
                })
                .ok_or_else(|| format!("{name} has neither differential nor snapshot"));
        };
        if field("derivation") == Some("specialization") {
            return Err(format!("{name}: only constraining profiles are supported"));
        }
        let base_url =
            field("baseDefinition").ok_or_else(|| format!("{name} has no baseDefinition"))?;
        let base = self.base_snapshot(base_url, depth + 1)?;
        snapshot::generate(base.as_ref().clone(), differential).map_err(|e| format!("{name}: {e}"))
    }

    fn base_snapshot(&self, canonical: &str, depth: usize) -> Result<Arc<Vec<Value>>, String> {
        if depth > MAX_BASE_DEPTH {
            return Err(format!("{canonical}: base definitions nest too deep"));
        }
        if let Some(hit) = lock(&self.snapshots).get(canonical) {
            return hit.as_ref().clone();
        }
        let made = match canonical.strip_prefix(CORE) {
            Some(type_name) => {
                base::snapshot(type_name).ok_or_else(|| format!("{canonical} is not an R4 type"))
            }
            None => match self.conformance.structure_definition(canonical) {
                Some(sd) => self.generate(sd, depth).map(|g| g.elements),
                None => Err(format!("Profile {canonical} not found")),
            },
        }
        .map(Arc::new);
        lock(&self.snapshots).insert(canonical.to_owned(), Arc::new(made.clone()));
        made
    }

    /// The compiled profile `canonical` (cached).
    pub(crate) fn profile(&self, canonical: &str) -> Arc<Result<Arc<Profile>, String>> {
        if let Some(hit) = lock(&self.profiles).get(canonical) {
            return hit.clone();
        }
        let made = self
            .base_snapshot(canonical, 0)
            .and_then(|elements| Profile::compile(canonical.to_owned(), &elements))
            .map(Arc::new);
        let made = Arc::new(made);
        lock(&self.profiles).insert(canonical.to_owned(), made.clone());
        made
    }

    /// The expansion of ValueSet `canonical` (cached).
    pub(crate) fn expansion(&self, canonical: &str) -> Arc<Result<Expansion, String>> {
        if let Some(hit) = lock(&self.expansions).get(canonical) {
            return hit.clone();
        }
        let made = Arc::new(terminology::expand(&self.conformance, canonical));
        lock(&self.expansions).insert(canonical.to_owned(), made.clone());
        made
    }
}

/// Caches stay usable after a panic elsewhere: they hold only finished results.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
