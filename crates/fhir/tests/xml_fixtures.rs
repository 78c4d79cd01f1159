//! FHIR XML written by other implementations (HL7 test cases, the DSF core profiles and the
//! process plugins' resources, read from `../shared/fixtures`, never copied) parses, and
//! XML → JSON → XML → JSON is stable.

mod common;

use std::path::{Path, PathBuf};

use dsf_fhir::{Format, parse, serialize};
use serde_json::Value;

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            xml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "xml") {
            out.push(p);
        }
    }
}

#[test]
fn fixture_xml_round_trips() {
    let Some(fixtures) = common::fixtures_dir() else {
        return;
    };
    let mut files = Vec::new();
    xml_files(&fixtures.join("fhir-xml"), &mut files);
    xml_files(&fixtures.join("dsf-core/fhir"), &mut files);
    if let Ok(plugins) = std::fs::read_dir(fixtures.join("plugins")) {
        for p in plugins.flatten() {
            xml_files(&p.path().join("fhir"), &mut files);
        }
    }
    files.sort();
    assert!(
        files.len() >= 100,
        "expected the fixture XML files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read fixture");
        // Plugin resources carry placeholders that are filled in when a plugin is deployed.
        let text = text
            .replace("#{version}", "1.0")
            .replace("#{date}", "2026-01-01")
            .replace("#{organization}", "organization.example.org");
        let name = path
            .strip_prefix(&fixtures)
            .unwrap_or(path)
            .display()
            .to_string();
        let first = match parse(text.as_bytes(), Format::Xml) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let json1 = Value::Object(first.as_json().clone());
        for pretty in [false, true] {
            let xml = serialize(&first, Format::Xml, pretty);
            match parse(&xml, Format::Xml) {
                Ok(second) if Value::Object(second.as_json().clone()) == json1 => {}
                Ok(_) => failures.push(format!("{name}: XML → JSON → XML → JSON differs")),
                Err(e) => failures.push(format!("{name}: written XML not readable: {e}")),
            }
            let json = serialize(&first, Format::Json, pretty);
            match parse(&json, Format::Json) {
                Ok(second) if Value::Object(second.as_json().clone()) == json1 => {}
                Ok(_) => failures.push(format!("{name}: XML → JSON → JSON differs")),
                Err(e) => failures.push(format!("{name}: written JSON not readable: {e}")),
            }
        }
    }
    println!(
        "fixture XML files: {}, failures: {}",
        files.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The HL7 test-case XML of the Patient example and the official JSON of it are the same resource.
#[test]
fn fixture_xml_matches_official_json() {
    let (Some(fixtures), Some(examples)) = (common::fixtures_dir(), common::examples_dir()) else {
        return;
    };
    let text = std::fs::read(fixtures.join("fhir-xml/patient-example.xml")).expect("fixture");
    let from_xml = parse(&text, Format::Xml).expect("fixture parses");
    let official: Value = serde_json::from_slice(
        &std::fs::read(examples.join("Patient-example.json")).expect("example"),
    )
    .expect("JSON");
    assert_eq!(Value::Object(from_xml.into_json()), official);
}
