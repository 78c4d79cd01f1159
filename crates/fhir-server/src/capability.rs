//! The CapabilityStatement (`GET /metadata`): exactly what this server supports.

use dsf_fhir::Resource;
use dsf_fhir_store::format_instant;
use dsf_fhir_store::search::params::{INCLUDES, ParamKind, RESOURCE_TYPES, REVINCLUDES, params_of};
use serde_json::{Value, json};

use crate::config::ServerConfig;

fn kind_code(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Token => "token",
        ParamKind::String => "string",
        ParamKind::Uri => "uri",
        ParamKind::Date => "date",
        ParamKind::Reference | ParamKind::Canonical => "reference",
    }
}

const INTERACTIONS: [&str; 8] = [
    "create",
    "read",
    "vread",
    "update",
    "delete",
    "search-type",
    "history-instance",
    "history-type",
];

/// Builds the CapabilityStatement of a server with `config`.
pub fn capability_statement(config: &ServerConfig) -> Resource {
    let resources: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|t| {
            let mut params = vec![
                json!({"name": "_id", "type": "token"}),
                json!({"name": "_lastUpdated", "type": "date"}),
                json!({"name": "_profile", "type": "uri"}),
            ];
            params.extend(
                params_of(t)
                    .iter()
                    .map(|p| json!({"name": p.name, "type": kind_code(p.kind)})),
            );
            let includes: Vec<String> = INCLUDES
                .iter()
                .filter(|(s, _, _)| s == t)
                .map(|(s, p, target)| format!("{s}:{p}:{target}"))
                .collect();
            let revincludes: Vec<String> = REVINCLUDES
                .iter()
                .filter(|(searched, _, _)| searched == t)
                .map(|(_, s, p)| format!("{s}:{p}"))
                .collect();
            let interactions: Vec<Value> =
                INTERACTIONS.iter().map(|c| json!({"code": c})).collect();
            let mut resource = json!({
                "type": t,
                "interaction": interactions,
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": false,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "logical"],
            });
            if let Value::Object(map) = &mut resource {
                if !includes.is_empty() {
                    map.insert("searchInclude".into(), json!(includes));
                }
                if !revincludes.is_empty() {
                    map.insert("searchRevInclude".into(), json!(revincludes));
                }
                map.insert("searchParam".into(), Value::Array(params));
                if *t == "StructureDefinition" {
                    // See crate::routes::snapshot.
                    map.insert(
                        "operation".into(),
                        json!([{"name": "snapshot",
                            "definition": "http://hl7.org/fhir/OperationDefinition/StructureDefinition-snapshot"}]),
                    );
                }
            }
            resource
        })
        .collect();
    let statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": format_instant(time::OffsetDateTime::now_utc()),
        "publisher": "Data Sharing Framework",
        "kind": "instance",
        "software": {"name": "Data Sharing Framework", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "DSF FHIR server", "url": config.base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+xml", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
        }],
    });
    let Value::Object(map) = statement else {
        return Resource::trusted(serde_json::Map::new());
    };
    Resource::trusted(map)
}
