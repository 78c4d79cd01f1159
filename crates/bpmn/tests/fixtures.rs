//! The DSF community's production models parse unchanged.

use std::collections::BTreeMap;

use dsf_bpmn::deploy::{DeployOptions, check};
use dsf_bpmn::engine::Engine;
use dsf_bpmn::error::ProblemKind;
use dsf_bpmn::parse;
use dsf_bpmn::store::MemoryStore;

use crate::common::{bpmn_files, deployment_properties};

#[test]
fn all_community_and_plugin_models_parse() {
    let mut files = bpmn_files("bpmn-community");
    assert_eq!(files.len(), 51, "expected the 51 community models");
    files.extend(bpmn_files("plugins"));
    assert_eq!(files.len(), 58);
    let props = deployment_properties();
    let mut totals: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut processes = 0;
    let mut failures = Vec::new();
    for file in &files {
        let xml = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{e}"));
        let filled = match parse::placeholders::fill(&xml, &props) {
            Ok(x) => x,
            Err(p) => {
                failures.push(format!("{}: {p:?}", file.display()));
                continue;
            }
        };
        match parse::parse(&filled) {
            Ok(defs) => {
                for p in &defs.processes {
                    processes += 1;
                    for (k, v) in p.element_counts() {
                        *totals.entry(k).or_default() += v;
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(processes, 58);
    let expected: BTreeMap<&str, usize> = [
        ("boundaryEvent", 79),
        ("endEvent", 94),
        ("eventBasedGateway", 22),
        ("exclusiveGateway", 81),
        ("intermediateCatchEvent", 53),
        ("intermediateThrowEvent", 27),
        ("parallelGateway", 12),
        ("receiveTask", 7),
        ("sendTask", 24),
        ("serviceTask", 321),
        ("startEvent", 74),
        ("subProcess", 10),
        ("task", 1),
        ("userTask", 11),
    ]
    .into_iter()
    .collect();
    assert_eq!(totals, expected);
}

#[test]
fn all_fixture_models_pass_the_deployment_check_and_deploy()
-> Result<(), Box<dyn std::error::Error>> {
    let options = DeployOptions {
        properties: deployment_properties(),
        allow_unknown_classes: true,
        ..DeployOptions::default()
    };
    let mut files = bpmn_files("bpmn-community");
    files.extend(bpmn_files("plugins"));
    let mut engine = Engine::new(MemoryStore::new())?;
    let mut unknown_classes = 0;
    for file in &files {
        let xml = std::fs::read_to_string(file)?;
        let report = check(&xml, &options);
        assert!(
            report.is_deployable(),
            "{}: {:?}",
            file.display(),
            report.errors
        );
        unknown_classes += report
            .warnings
            .iter()
            .filter(|w| matches!(w.kind, ProblemKind::UnknownClass(_)))
            .count();
        engine.deploy(&xml, &options)?;
    }
    // every camunda:class reference is listed, as none is registered here
    assert_eq!(unknown_classes, 382 + 6 + 8);
    // the seven plugin models are copies of community ones: identical content keeps its version
    assert_eq!(engine.definitions().len(), 51);
    Ok(())
}
