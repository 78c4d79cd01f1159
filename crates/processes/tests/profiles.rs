//! The built-in plugins' FHIR resources are valid against the DSF profiles a site loads at
//! start-up, as the FHIR server will check them when the engine deploys them.

use dsf_fhir_validation::{Conformance, Validator};
use serde_json::Value;

/// Every plugin's resources with the placeholders filled as deployment fills them.
fn plugin_resources() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for plugin in dsf_processes::all() {
        let version = plugin.resource_version();
        for process in plugin.resources() {
            for file in process.files {
                let text = file
                    .content
                    .replace("#{version}", &version)
                    .replace("#{date}", "2026-11-30")
                    .replace("#{organization}", "dic1.dsf.test")
                    .replace(
                        "#{dev.dsf.bpe.allow.list.organization:hs-heilbronn.de}",
                        "hs-heilbronn.de",
                    );
                let value: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.file));
                out.push((file.file.to_string(), value));
            }
        }
    }
    out
}

#[test]
fn plugin_resources_conform_to_the_dsf_profiles() {
    let resources = plugin_resources();
    let mut conformance = Conformance::new();
    for r in dsf_fhir_server::conformance::resources() {
        conformance.add(r);
    }
    for (_, r) in &resources {
        conformance.add(r.clone());
    }
    let validator = Validator::new(conformance);
    let mut failures = Vec::new();
    for (file, value) in resources {
        let mut resource =
            dsf_fhir::Resource::from_json_value(value).unwrap_or_else(|e| panic!("{file}: {e}"));
        dsf_fhir_server::validation::add_default_profile(&validator, &mut resource);
        let json = Value::Object(resource.into_json());
        let errors: Vec<String> = validator
            .validate(&json)
            .into_iter()
            .filter(|i| i.is_error())
            .map(|i| format!("{file}: {}: {}", i.location, i.message))
            .collect();
        failures.extend(errors);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
