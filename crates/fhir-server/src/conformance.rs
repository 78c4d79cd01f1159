//! The DSF core conformance resources: the profiles (StructureDefinitions, extensions included),
//! CodeSystems, ValueSets and NamingSystems every DSF site loads at start-up, so that resources
//! written to it can be checked against them and process plugins can build on them.
//!
//! They carry the canonical URLs and versions of the DSF core definitions (profiles 2.0.0, the Task
//! profile 2.1.0, the IANA media types as `urn:ietf:bcp:13` with the value set
//! `http://hl7.org/fhir/ValueSet/mimetypes`), are differential-only and readable by everyone (read
//! access tag `ALL`). They are compiled into the server from `resources/conformance`.
//!
//! [`bundle`] is a transaction of conditional creates, run at every start before the start-up
//! bundle: StructureDefinitions, CodeSystems and ValueSets are matched by `url` and `version`,
//! NamingSystems by `name`, so loading them again changes nothing.

use serde_json::{Value, json};

/// Embeds the listed files of `resources/conformance`, keeping their paths.
macro_rules! embedded {
    ($($file:literal,)*) => {
        &[$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/resources/conformance/", $file))),)*]
    };
}

/// Every conformance resource as (path below `resources/conformance`, JSON text), in load order:
/// CodeSystems, ValueSets, NamingSystems, StructureDefinitions.
pub const FILES: &[(&str, &str)] = embedded![
    "CodeSystem/bcp-13-4.0.1.json",
    "CodeSystem/bpmn-message-2.0.0.json",
    "CodeSystem/organization-role-2.0.0.json",
    "CodeSystem/practitioner-role-2.0.0.json",
    "CodeSystem/process-authorization-2.0.0.json",
    "CodeSystem/read-access-tag-2.0.0.json",
    "ValueSet/bpmn-message-2.0.0.json",
    "ValueSet/mimetypes-4.0.1.json",
    "ValueSet/organization-role-2.0.0.json",
    "ValueSet/practitioner-role-2.0.0.json",
    "ValueSet/process-authorization-recipient-2.0.0.json",
    "ValueSet/process-authorization-requester-2.0.0.json",
    "ValueSet/read-access-tag-2.0.0.json",
    "NamingSystem/endpoint-identifier.json",
    "NamingSystem/organization-identifier.json",
    "NamingSystem/practitioner-identifier.json",
    "NamingSystem/task-identifier.json",
    "StructureDefinition/activity-definition-2.0.0.json",
    "StructureDefinition/binary-2.0.0.json",
    "StructureDefinition/bundle-2.0.0.json",
    "StructureDefinition/code-system-2.0.0.json",
    "StructureDefinition/coding-process-authorization-local-all-2.0.0.json",
    "StructureDefinition/coding-process-authorization-local-all-practitioner-2.0.0.json",
    "StructureDefinition/coding-process-authorization-local-organization-2.0.0.json",
    "StructureDefinition/coding-process-authorization-local-organization-practitioner-2.0.0.json",
    "StructureDefinition/coding-process-authorization-local-parent-organization-role-2.0.0.json",
    "StructureDefinition/coding-process-authorization-local-parent-organization-role-practitioner-2.0.0.json",
    "StructureDefinition/coding-process-authorization-remote-all-2.0.0.json",
    "StructureDefinition/coding-process-authorization-remote-organization-2.0.0.json",
    "StructureDefinition/coding-process-authorization-remote-parent-organization-role-2.0.0.json",
    "StructureDefinition/document-reference-2.0.0.json",
    "StructureDefinition/endpoint-2.0.0.json",
    "StructureDefinition/extension-certificate-thumbprint-2.0.0.json",
    "StructureDefinition/extension-check-logical-reference-2.0.0.json",
    "StructureDefinition/extension-process-authorization-2.0.0.json",
    "StructureDefinition/extension-process-authorization-organization-2.0.0.json",
    "StructureDefinition/extension-process-authorization-organization-practitioner-2.0.0.json",
    "StructureDefinition/extension-process-authorization-parent-organization-role-2.0.0.json",
    "StructureDefinition/extension-process-authorization-parent-organization-role-practitioner-2.0.0.json",
    "StructureDefinition/extension-process-authorization-practitioner-2.0.0.json",
    "StructureDefinition/extension-questionnaire-authorization-2.0.0.json",
    "StructureDefinition/extension-read-access-organization-2.0.0.json",
    "StructureDefinition/extension-read-access-parent-organization-role-2.0.0.json",
    "StructureDefinition/group-2.0.0.json",
    "StructureDefinition/healthcare-service-2.0.0.json",
    "StructureDefinition/library-2.0.0.json",
    "StructureDefinition/location-2.0.0.json",
    "StructureDefinition/measure-2.0.0.json",
    "StructureDefinition/measure-report-2.0.0.json",
    "StructureDefinition/meta-2.0.0.json",
    "StructureDefinition/naming-system-2.0.0.json",
    "StructureDefinition/organization-2.0.0.json",
    "StructureDefinition/organization-affiliation-2.0.0.json",
    "StructureDefinition/organization-parent-2.0.0.json",
    "StructureDefinition/patient-2.0.0.json",
    "StructureDefinition/practitioner-2.0.0.json",
    "StructureDefinition/practitioner-role-2.0.0.json",
    "StructureDefinition/provenance-2.0.0.json",
    "StructureDefinition/questionnaire-2.0.0.json",
    "StructureDefinition/questionnaire-response-2.0.0.json",
    "StructureDefinition/research-study-2.0.0.json",
    "StructureDefinition/structure-definition-2.0.0.json",
    "StructureDefinition/subscription-2.0.0.json",
    "StructureDefinition/task-2.1.0.json",
    "StructureDefinition/value-set-2.0.0.json",
];

/// The conformance resources, parsed, in load order (CodeSystems, ValueSets, NamingSystems,
/// StructureDefinitions).
///
/// # Panics
/// Never for the resources compiled in: the crate's tests parse every one of them.
pub fn resources() -> Vec<Value> {
    FILES
        .iter()
        .map(|(path, text)| {
            serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("conformance resource {path} is not JSON: {e}"))
        })
        .collect()
}

/// The If-None-Exist criteria that find `resource` once it is stored: `name=` for a
/// NamingSystem, `url=&version=` for the others.
fn if_none_exist(resource: &Value) -> String {
    let text = |key: &str| {
        resource
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    if text("resourceType") == "NamingSystem" {
        format!("name={}", text("name"))
    } else {
        format!("url={}&version={}", text("url"), text("version"))
    }
}

/// The conformance resources as a transaction Bundle of conditional creates, one POST entry per
/// resource in load order.
pub fn bundle() -> Value {
    let entries: Vec<Value> = resources()
        .into_iter()
        .map(|resource| {
            let resource_type = resource
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let criteria = if_none_exist(&resource);
            json!({
                "resource": resource,
                "request": {"method": "POST", "url": resource_type, "ifNoneExist": criteria}
            })
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOAD_ORDER: [&str; 4] = [
        "CodeSystem",
        "ValueSet",
        "NamingSystem",
        "StructureDefinition",
    ];

    #[test]
    fn every_resource_is_valid_fhir_in_its_folder_and_load_order() {
        let mut last_rank = 0;
        for (path, text) in FILES {
            let resource = dsf_fhir::parse(text.as_bytes(), dsf_fhir::Format::Json)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            let folder = path.split('/').next().expect("folder");
            assert_eq!(resource.resource_type(), folder, "{path}");
            let rank = LOAD_ORDER
                .iter()
                .position(|t| *t == folder)
                .expect("a conformance resource type");
            assert!(rank >= last_rank, "{path} is out of load order");
            last_rank = rank;
            let json = resource.as_json();
            assert_eq!(
                json["meta"]["tag"],
                json!([{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]),
                "{path}"
            );
            assert_eq!(json["status"], "active", "{path}");
            if folder == "StructureDefinition" {
                assert!(json.get("snapshot").is_none(), "{path} has a snapshot");
                assert!(
                    json.get("differential").is_some(),
                    "{path} has no differential"
                );
            }
        }
        assert_eq!(resources().len(), FILES.len());
    }

    #[test]
    fn every_file_of_the_folder_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("resources/conformance");
        let mut on_disk = Vec::new();
        for folder in LOAD_ORDER {
            for entry in std::fs::read_dir(root.join(folder)).expect("folder") {
                let name = entry.expect("entry").file_name();
                on_disk.push(format!("{folder}/{}", name.to_string_lossy()));
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(path, _)| (*path).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn canonicals_are_unique_and_the_bundle_creates_each_once() {
        let bundle = bundle();
        let entries = bundle["entry"].as_array().expect("entries");
        assert_eq!(entries.len(), FILES.len());
        let mut criteria: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{}?{}",
                    e["request"]["url"].as_str().expect("url"),
                    e["request"]["ifNoneExist"].as_str().expect("criteria")
                )
            })
            .collect();
        assert!(criteria.contains(
            &"StructureDefinition?url=http://dsf.dev/fhir/StructureDefinition/task&version=2.1.0"
                .to_owned()
        ));
        assert!(criteria.contains(&"NamingSystem?name=DsfOrganizationIdentifier".to_owned()));
        assert!(criteria.contains(&"CodeSystem?url=urn:ietf:bcp:13&version=4.0.1".to_owned()));
        criteria.sort();
        criteria.dedup();
        assert_eq!(criteria.len(), FILES.len(), "criteria repeat");
        dsf_fhir::Resource::from_json_value(bundle).expect("a valid transaction Bundle");
    }
}
