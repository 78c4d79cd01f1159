//! Walking a resource along a compiled profile: cardinality, types, fixed and pattern values,
//! slices, bindings, invariants, extensions, and the profiles of typed elements.

use dsf_fhir::meta;
use serde_json::{Map, Value};

use crate::base::CORE;
use crate::fhirpath::Focus;
use crate::issue::{Issue, Severity};
use crate::profile::{Child, Node, Strength};
use crate::validator::Validator;
use crate::values::{choice_member, equals, is_choice_member, matches_pattern};

/// The slice that takes the values no other slice matches.
const DEFAULT_SLICE: &str = "@default";

/// Profiles reached through typed elements and extensions nest at most this deep.
const MAX_PROFILE_DEPTH: usize = 32;

/// The state of one validation.
pub(crate) struct Walk<'v> {
    validator: &'v Validator,
    resource: &'v Value,
    issues: Vec<Issue>,
    /// The profile being checked, as issues name it.
    profile: String,
    depth: usize,
}

/// One value of an element.
struct Found<'v> {
    value: &'v Value,
    /// The FHIR type, where the R4 definitions know it.
    type_name: Option<&'static str>,
    location: String,
}

impl<'v> Walk<'v> {
    pub fn new(validator: &'v Validator, resource: &'v Value) -> Walk<'v> {
        Walk {
            validator,
            resource,
            issues: Vec::new(),
            profile: String::new(),
            depth: 0,
        }
    }

    pub fn into_issues(self) -> Vec<Issue> {
        self.issues
    }

    fn issue(&mut self, severity: Severity, code: &'static str, location: &str, message: String) {
        self.issues.push(Issue {
            severity,
            code,
            location: location.to_owned(),
            message,
        });
    }

    /// Checks `value` (of `type_name`, at `location`) against profile `canonical`; `from`
    /// locates the reference to the profile for a "not found" issue. True without new errors.
    pub fn check_profile(
        &mut self,
        canonical: &str,
        value: &'v Value,
        type_name: &str,
        from: &str,
        location: &str,
    ) -> bool {
        let compiled = self.validator.profile(canonical);
        let profile = match compiled.as_ref() {
            Ok(p) => p.clone(),
            Err(e) => {
                self.issue(Severity::Error, "not-found", from, e.clone());
                return false;
            }
        };
        if profile.type_name != type_name {
            self.issue(
                Severity::Error,
                "structure",
                from,
                format!(
                    "Profile {canonical} constrains {}, not {type_name}",
                    profile.type_name
                ),
            );
            return false;
        }
        if self.depth >= MAX_PROFILE_DEPTH {
            self.issue(
                Severity::Error,
                "structure",
                from,
                format!("Profile {canonical} nests too deep"),
            );
            return false;
        }
        let errors = self.error_count();
        let outer = std::mem::replace(&mut self.profile, profile.canonical.clone());
        self.depth += 1;
        let found = Found {
            value,
            type_name: meta::type_name(type_name),
            location: location.to_owned(),
        };
        self.check_value(&profile.root, &found);
        self.depth -= 1;
        self.profile = outer;
        self.error_count() == errors
    }

    fn error_count(&self) -> usize {
        self.issues.iter().filter(|i| i.is_error()).count()
    }

    /// Everything a node says about one value.
    fn check_value(&mut self, node: &Node, found: &Found<'v>) {
        if let Some(fixed) = &node.fixed
            && !equals(found.value, fixed)
        {
            let message = format!(
                "Value is {} but must be {} (fixed by {})",
                found.value, fixed, self.profile
            );
            self.issue(Severity::Error, "value", &found.location, message);
        }
        if let Some(pattern) = &node.pattern
            && !matches_pattern(found.value, pattern)
        {
            let message = format!(
                "Value {} does not match the pattern {} of {}",
                found.value, pattern, self.profile
            );
            self.issue(Severity::Error, "value", &found.location, message);
        }
        if let Some(binding) = &node.binding {
            self.check_binding(binding.strength, &binding.value_set, found);
        }
        self.check_invariants(node, found);
        let mut profiled = false;
        if let Some(type_name) = found.type_name {
            let rule =
                node.types
                    .iter()
                    .find(|t| t.code == type_name)
                    .or(match node.types.as_slice() {
                        [one] => Some(one),
                        _ => None,
                    });
            let profiles = rule.map(|r| r.profiles.as_slice()).unwrap_or_default();
            if !profiles.is_empty() {
                profiled = true;
                let base_type = if type_name.contains('.') {
                    "BackboneElement"
                } else {
                    type_name
                };
                self.check_any_profile(profiles, found, base_type);
            }
        }
        if let Some(object) = found.value.as_object() {
            if !node.children.is_empty() {
                self.check_children(node, object, found);
            } else if !profiled {
                self.check_nested_extensions(found.value, &found.location, 0);
            }
        }
    }

    /// A value of a type with several profiles must conform to one of them (FHIR's rule); the
    /// issues of the closest one are kept when it conforms to none.
    fn check_any_profile(&mut self, profiles: &[String], found: &Found<'v>, type_name: &str) {
        let start = self.issues.len();
        let mut closest: Option<(usize, Vec<Issue>)> = None;
        for canonical in profiles {
            let location = &found.location;
            self.check_profile(canonical, found.value, type_name, location, location);
            let issues = self.issues.split_off(start);
            let errors = issues.iter().filter(|i| i.is_error()).count();
            if errors == 0 {
                self.issues.extend(issues);
                return;
            }
            if closest.as_ref().is_none_or(|(fewest, _)| errors < *fewest) {
                closest = Some((errors, issues));
            }
        }
        if let Some((_, issues)) = closest {
            self.issues.extend(issues);
        }
        if profiles.len() > 1 {
            let message = format!(
                "Value conforms to none of the profiles {}",
                profiles.join(", ")
            );
            self.issue(Severity::Error, "structure", &found.location, message);
        }
    }

    fn check_children(&mut self, node: &Node, object: &'v Map<String, Value>, parent: &Found<'v>) {
        // Primitives' extensions (`_name`) are looked up only when the object has any.
        let extended = object.keys().any(|k| k.starts_with('_'));
        for child in &node.children {
            let values = self.values_of(object, child, parent, extended);
            let count = Self::count_of(object, child, values.len(), extended);
            self.check_count(&child.node, count, &parent.location, &child.name, None);
            if child.slices.is_empty() {
                for found in &values {
                    self.check_unsliced(child, found);
                }
                continue;
            }
            self.check_sliced(child, &values, &parent.location);
        }
    }

    /// Values of a sliced element: each goes to the first slice it matches, slices are counted.
    fn check_sliced(&mut self, child: &Child, values: &[Found<'v>], parent: &str) {
        let mut counts = vec![0u64; child.slices.len()];
        for found in values {
            // `@default` (as the reference's validator supports it) takes what no other slice does.
            let slice = child
                .slices
                .iter()
                .position(|(name, slice)| {
                    name != DEFAULT_SLICE && self.in_slice(child, slice, found)
                })
                .or_else(|| {
                    child
                        .slices
                        .iter()
                        .position(|(name, _)| name == DEFAULT_SLICE)
                });
            match slice {
                Some(i) => {
                    counts[i] += 1;
                    self.check_value(&child.slices[i].1, found);
                }
                None => {
                    if child.node.slicing.as_ref().is_some_and(|s| s.closed) {
                        let message = format!(
                            "{} matches none of the slices of {} in {}, and they are closed",
                            found.location, child.node.path, self.profile
                        );
                        self.issue(Severity::Error, "structure", &found.location, message);
                    }
                    self.check_unsliced(child, found);
                }
            }
        }
        for ((name, slice), count) in child.slices.iter().zip(counts) {
            self.check_count(slice, count, parent, &child.name, Some(name));
        }
    }

    /// A value no slice takes: an extension without a profile on its element is checked against
    /// the StructureDefinition its URL names, anything else against the element.
    fn check_unsliced(&mut self, child: &Child, found: &Found<'v>) {
        if is_extension(&child.name) && child.node.types.iter().all(|t| t.profiles.is_empty()) {
            self.check_extension_by_url(found);
        } else {
            self.check_value(&child.node, found);
        }
    }

    /// Checks the number of values of element `name` under `parent` (of its slice `slice`, if
    /// given) against `node`; location and element name are made only for an issue.
    fn check_count(
        &mut self,
        node: &Node,
        count: u64,
        parent: &str,
        name: &str,
        slice: Option<&str>,
    ) {
        let too_few = count < node.min;
        let too_many = node.max.filter(|max| count > *max);
        if !too_few && too_many.is_none() {
            return;
        }
        let location = format!("{parent}.{name}");
        let what = match slice {
            Some(slice) => format!("{}:{slice}", node.path),
            None => node.path.clone(),
        };
        if too_few {
            let message = format!(
                "{what}: minimum required = {}, but only found {count} (from {})",
                node.min, self.profile
            );
            self.issue(Severity::Error, "structure", &location, message);
        }
        if let Some(max) = too_many {
            let message = format!(
                "{what}: max allowed = {max}, but found {count} (from {})",
                self.profile
            );
            self.issue(Severity::Error, "structure", &location, message);
        }
    }

    /// The values of `child` in `object`, with their types; a choice's values of types the node
    /// does not allow are reported. `extended`: whether `object` has any `_name` member.
    fn values_of(
        &mut self,
        object: &'v Map<String, Value>,
        child: &Child,
        parent: &Found<'v>,
        extended: bool,
    ) -> Vec<Found<'v>> {
        let mut out = Vec::new();
        if child.choice {
            for (key, value) in object {
                if !is_choice_member(key, &child.name) {
                    continue;
                }
                let type_name = parent
                    .type_name
                    .and_then(|t| meta::element_type(&format!("{t}.{key}")));
                let code =
                    type_name.map_or_else(|| key[child.name.len()..].to_owned(), str::to_owned);
                let location = format!("{}.{}.ofType({code})", parent.location, child.name);
                let allowed = child.node.types.is_empty()
                    || child
                        .node
                        .types
                        .iter()
                        .any(|t| choice_member(&child.name, &t.code) == *key);
                if !allowed {
                    let message = format!(
                        "Type {code} is not allowed for {} in {}",
                        child.node.path, self.profile
                    );
                    self.issue(Severity::Error, "structure", &location, message);
                }
                out.push(Found {
                    value,
                    type_name,
                    location,
                });
            }
            return out;
        }
        let value = object.get(&child.name);
        let extras = if extended {
            object.get(&format!("_{}", child.name))
        } else {
            None
        };
        if value.is_none() && extras.is_none() {
            return out;
        }
        let type_name = parent
            .type_name
            .and_then(|t| meta::element_type(&format!("{t}.{}", child.name)));
        let base = format!("{}.{}", parent.location, child.name);
        match value {
            Some(Value::Array(items)) => {
                for (i, value) in items.iter().enumerate().filter(|(_, v)| !v.is_null()) {
                    out.push(Found {
                        value,
                        type_name,
                        location: format!("{base}[{i}]"),
                    });
                }
            }
            Some(value) => out.push(Found {
                value,
                type_name,
                location: base.clone(),
            }),
            None => {}
        }
        if let Some(extras) = extras {
            self.check_nested_extensions(extras, &base, 0);
        }
        out
    }

    /// How many values `child` has in `object`: a primitive given only by its extensions
    /// (`_name`, looked up when `extended`) counts too.
    fn count_of(object: &Map<String, Value>, child: &Child, found: usize, extended: bool) -> u64 {
        if !extended {
            return found as u64;
        }
        let extended = match object.get(&format!("_{}", child.name)) {
            Some(Value::Array(items)) => items.iter().filter(|v| !v.is_null()).count(),
            Some(_) => 1,
            None => 0,
        };
        found.max(extended) as u64
    }

    /// Whether `found` belongs to `slice` of `child` by every discriminator.
    fn in_slice(&mut self, child: &Child, slice: &Node, found: &Found<'v>) -> bool {
        crate::slicing::matches(self, child, slice, found.value, found.type_name)
    }

    /// Checks a value against a profile without keeping issues: for `profile` discriminators.
    pub(crate) fn conforms(&mut self, canonical: &str, value: &'v Value, type_name: &str) -> bool {
        let kept = self.issues.len();
        let ok = self.check_profile(canonical, value, type_name, "", "");
        self.issues.truncate(kept);
        ok
    }

    fn check_binding(&mut self, strength: Strength, value_set: &str, found: &Found<'v>) {
        let codes = codings(found.value, found.type_name);
        if codes.is_empty() {
            return;
        }
        let expansion = self.validator.expansion(value_set);
        let expansion = match expansion.as_ref() {
            Ok(e) => e,
            Err(e) => {
                let message = format!("{e}: codes of {} were not checked", found.location);
                self.issue(Severity::Warning, "not-found", &found.location, message);
                return;
            }
        };
        let ok = codes.iter().any(|(system, code)| match system {
            Some(system) => expansion.contains(system, code),
            None => expansion.contains_code(code),
        });
        if ok {
            return;
        }
        let shown: Vec<String> = codes
            .iter()
            .map(|(s, c)| s.map_or_else(|| format!("'{c}'"), |s| format!("'{s}#{c}'")))
            .collect();
        let (severity, rule) = match strength {
            Strength::Required => (Severity::Error, "required"),
            Strength::Extensible => (Severity::Warning, "extensible"),
        };
        let message = format!(
            "The value {} is not in the value set {value_set}, whose binding is {rule} (from {})",
            shown.join(", "),
            self.profile
        );
        self.issue(severity, "code-invalid", &found.location, message);
    }

    fn check_invariants(&mut self, node: &Node, found: &Found<'v>) {
        for inv in &node.invariants {
            let focus = Focus {
                value: found.value,
                type_name: found.type_name,
            };
            let result = match &inv.expression {
                Ok(expression) => expression
                    .check(focus, self.resource)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            };
            match result {
                Ok(true) => {}
                Ok(false) => {
                    let message = format!(
                        "Constraint failed: {}: '{}' (defined in {})",
                        inv.key, inv.human, self.profile
                    );
                    self.issue(inv.severity, "invariant", &found.location, message);
                }
                Err(e) => {
                    let message = format!(
                        "Constraint {} ({}) of {} could not be evaluated: {e}",
                        inv.key, inv.source, self.profile
                    );
                    self.issue(Severity::Warning, "processing", &found.location, message);
                }
            }
        }
    }

    /// An extension no slice describes: checked against the StructureDefinition its URL names.
    fn check_extension_by_url(&mut self, found: &Found<'v>) {
        let Some(url) = found.value.get("url").and_then(Value::as_str) else {
            return;
        };
        if self
            .validator
            .conformance()
            .structure_definition(url)
            .is_some()
        {
            self.check_profile(
                url,
                found.value,
                "Extension",
                &found.location,
                &found.location,
            );
        } else if !url.starts_with(CORE) {
            let message = format!("Unknown extension {url}");
            self.issue(Severity::Error, "structure", &found.location, message);
        }
    }

    /// Extensions anywhere below a value no profile element describes.
    fn check_nested_extensions(&mut self, value: &'v Value, location: &str, depth: usize) {
        if depth > dsf_fhir::MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(object) => {
                // Primitives hold no extensions: no location is made for them.
                for (key, v) in object.iter().filter(|(_, v)| v.is_object() || v.is_array()) {
                    let at = format!("{location}.{}", key.trim_start_matches('_'));
                    if is_extension(key) {
                        for (i, ext) in v.as_array().into_iter().flatten().enumerate() {
                            let found = Found {
                                value: ext,
                                type_name: Some("Extension"),
                                location: format!("{at}[{i}]"),
                            };
                            self.check_extension_by_url(&found);
                        }
                    } else if key != "contained" && key != "resource" {
                        self.check_nested_extensions(v, &at, depth + 1);
                    }
                }
            }
            Value::Array(items) => {
                let nested = items.iter().enumerate().filter(|(_, v)| v.is_object());
                for (i, v) in nested {
                    self.check_nested_extensions(v, &format!("{location}[{i}]"), depth + 1);
                }
            }
            _ => {}
        }
    }
}

fn is_extension(name: &str) -> bool {
    name == "extension" || name == "modifierExtension"
}

/// The (system, code) pairs a coded value holds: a `code`/`string`/`uri`, a Coding or Quantity,
/// or a CodeableConcept's codings.
fn codings<'v>(value: &'v Value, type_name: Option<&str>) -> Vec<(Option<&'v str>, &'v str)> {
    let pair = |v: &'v Value| -> Option<(Option<&'v str>, &'v str)> {
        let code = v.get("code")?.as_str()?;
        Some((v.get("system").and_then(Value::as_str), code))
    };
    match value {
        Value::String(code) => vec![(None, code.as_str())],
        Value::Object(object) => match object.get("coding").and_then(Value::as_array) {
            Some(codings) => codings.iter().filter_map(pair).collect(),
            None if type_name != Some("CodeableConcept") => pair(value).into_iter().collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}
