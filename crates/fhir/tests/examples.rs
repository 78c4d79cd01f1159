//! Every resource of the official R4 example package (hl7.fhir.r4.examples 4.0.1) round-trips
//! JSON → model → JSON (byte for byte, member order included) and JSON → XML → JSON to an equal JSON
//! value; the few invalid examples are rejected for the reasons listed here.

mod common;

use std::collections::BTreeMap;

use dsf_fhir::{Format, parse, serialize};
use serde_json::Value;

/// Examples that are genuinely invalid R4, with the reason (the path in the error must match).
const INVALID: &[(&str, &str, &str)] = &[
    (
        "ImplementationGuide-fhir.json",
        "ImplementationGuide.name",
        "name is 1..1 and missing",
    ),
    (
        "Questionnaire-qs1.json",
        "Questionnaire.item[0].item[0].linkId",
        "item.linkId is 1..1 and missing",
    ),
    (
        "ig-r4.json",
        "ImplementationGuide.name",
        "name is 1..1 and missing",
    ),
    (
        "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
        "SearchParameter.id",
        "the id has 65 characters, an id has at most 64",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-author.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-effective.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-end.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-keyword.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-workflow.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-author.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-effective.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-end.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-keyword.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-workflow.json",
        "SearchParameter.base",
        "base is 1..* and missing",
    ),
];

#[test]
fn official_examples_round_trip() {
    let Some(dir) = common::examples_dir() else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read package dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    // The files are independent: check them on all cores.
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| round_trip(p)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let (mut total, mut json_ok, mut xml_ok) = (0, 0, 0);
    let mut rejected: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    for o in results {
        match o {
            Outcome::NotAResource => {}
            Outcome::Rejected(name, why) => {
                total += 1;
                rejected.insert(name, why);
            }
            Outcome::Checked {
                json,
                xml,
                problems,
            } => {
                total += 1;
                json_ok += usize::from(json);
                xml_ok += usize::from(xml);
                failures.extend(problems);
            }
        }
    }
    println!(
        "examples: {total} resources, JSON ok {json_ok}, XML ok {xml_ok}, rejected {}",
        rejected.len()
    );
    for (name, why) in &rejected {
        println!("  rejected {name}: {why}");
    }
    for f in failures.iter().take(40) {
        println!("  FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} round-trip failures",
        failures.len()
    );
    let expected: BTreeMap<String, String> = INVALID
        .iter()
        .map(|(f, path, _)| ((*f).to_owned(), (*path).to_owned()))
        .collect();
    let got: BTreeMap<String, String> = rejected
        .iter()
        .map(|(f, e)| {
            (
                f.clone(),
                e.split(':').next().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got, expected,
        "rejected examples differ from the listed invalid ones"
    );
}

enum Outcome {
    NotAResource,
    Rejected(String, String),
    Checked {
        json: bool,
        xml: bool,
        problems: Vec<String>,
    },
}

/// JSON → model → JSON and JSON → XML → JSON for one file.
fn round_trip(path: &std::path::Path) -> Outcome {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let bytes = std::fs::read(path).expect("read example");
    let original: Value = serde_json::from_slice(&bytes).expect("example is JSON");
    if original.get("resourceType").is_none() {
        return Outcome::NotAResource; // package.json and the like
    }
    let resource = match parse(&bytes, Format::Json) {
        Ok(r) => r,
        Err(e) => return Outcome::Rejected(name, e.to_string()),
    };
    let mut problems = Vec::new();
    // Byte equality with the original value written compactly: equal JSON values, and the same
    // member order too.
    let json = serialize(&resource, Format::Json, false)
        == serde_json::to_vec(&original).expect("JSON output");
    if !json {
        problems.push(format!("{name}: JSON round trip differs"));
    }
    let xml_bytes = serialize(&resource, Format::Xml, true);
    let xml = match parse(&xml_bytes, Format::Xml) {
        Ok(r) if Value::Object(r.as_json().clone()) == original => true,
        Ok(r) => {
            problems.push(format!(
                "{name}: JSON → XML → JSON differs: {}",
                first_difference(&original, &Value::Object(r.into_json()), String::new())
            ));
            false
        }
        Err(e) => {
            problems.push(format!("{name}: XML output not readable: {e}"));
            false
        }
    };
    Outcome::Checked {
        json,
        xml,
        problems,
    }
}

/// Where two JSON values first differ, for messages.
fn first_difference(a: &Value, b: &Value, path: String) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if v == w => {}
                    Some(w) => return first_difference(v, w, format!("{path}.{k}")),
                    None => return format!("{path}.{k} missing"),
                }
            }
            for k in y.keys() {
                if !x.contains_key(k) {
                    return format!("{path}.{k} added");
                }
            }
            format!("{path}: ?")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if v != w {
                    return first_difference(v, w, format!("{path}[{i}]"));
                }
            }
            format!("{path}: ?")
        }
        _ => format!("{path}: {} vs {}", short(a), short(b)),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(120).collect()
}
