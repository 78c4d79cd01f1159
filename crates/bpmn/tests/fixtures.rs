//! The DSF community's production models parse unchanged.

use std::collections::BTreeMap;

use dsf_bpmn::deploy::{DeployOptions, check};
use dsf_bpmn::engine::Engine;
use dsf_bpmn::error::ProblemKind;
use dsf_bpmn::parse;
use dsf_bpmn::store::MemoryStore;

use crate::common::{bpmn_files, deployment_properties};

#[tokio::test]
async fn all_community_and_plugin_models_parse() {
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

#[tokio::test]
async fn all_fixture_models_pass_the_deployment_check_and_deploy()
-> Result<(), Box<dyn std::error::Error>> {
    let options = DeployOptions {
        properties: deployment_properties(),
        allow_unknown_classes: true,
        ..DeployOptions::default()
    };
    let mut files = bpmn_files("bpmn-community");
    files.extend(bpmn_files("plugins"));
    let mut engine = Engine::new(MemoryStore::new()).await?;
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
        engine.deploy(&xml, &options).await?;
    }
    // every camunda:class reference is listed, as none is registered here
    assert_eq!(unknown_classes, 382 + 6 + 8);
    // the seven plugin models are copies of community ones: identical content keeps its version
    assert_eq!(engine.definitions().len(), 51);
    Ok(())
}

/// Starts every community process at each of its message start events with every class call
/// completing without changes, and drives it until it waits. Conditions, collections and timers
/// read variables the real classes would set, so a run may stop at an incident naming the missing
/// variable (or, for `${execution.getVariable('x') == false}`, at a gateway with no flow to take,
/// as the reference engine does); anything else is a defect.
#[tokio::test]
async fn every_community_process_runs_until_it_waits_with_no_op_classes()
-> Result<(), Box<dyn std::error::Error>> {
    use dsf_bpmn::exec::{Effect, InstanceState, WorkResult};
    use dsf_bpmn::value::Variables;

    let options = DeployOptions {
        properties: deployment_properties(),
        allow_unknown_classes: true,
        ..DeployOptions::default()
    };
    let mut engine = Engine::new(MemoryStore::new()).await?;
    let mut starts = Vec::new();
    for file in bpmn_files("bpmn-community") {
        for info in engine
            .deploy(&std::fs::read_to_string(&file)?, &options)
            .await?
        {
            for message in &info.start_messages {
                starts.push((info.id.clone(), message.clone()));
            }
        }
    }
    assert!(starts.len() >= 51, "{} message start events", starts.len());
    let (mut completed, mut waiting, mut incidents) = (0, 0, 0);
    for (definition, message) in starts {
        let key = format!("{}:{}", definition.key, definition.version);
        let id = engine
            .start_definition(
                &definition,
                &message,
                Some(format!("{key}-{message}")),
                Variables::new(),
            )
            .await?;
        for _ in 0..100 {
            engine.run_due().await?;
            let work: Vec<_> = engine
                .take_effects()
                .into_iter()
                .filter_map(|e| match e {
                    Effect::Work(w) => Some(w.id),
                    _ => None,
                })
                .collect();
            if work.is_empty() {
                break;
            }
            for w in work {
                // a sibling's error may have cancelled this work item meanwhile
                let _ = engine.complete_work(w, WorkResult::completed()).await;
            }
        }
        let info = engine.instance(id).await?.ok_or("instance lost")?;
        match info.state {
            InstanceState::Completed => completed += 1,
            InstanceState::Active if info.incidents.is_empty() => {
                assert!(
                    !info.active_elements.is_empty(),
                    "{key}: active without tokens"
                );
                waiting += 1;
            }
            InstanceState::Active => {
                for incident in &info.incidents {
                    assert!(
                        incident.message.contains("cannot resolve identifier")
                            || incident.message.contains("no outgoing sequence flow"),
                        "{key}/{}: {}",
                        incident.element,
                        incident.message
                    );
                }
                incidents += 1;
            }
            other => panic!("{key}: unexpected state {other:?}"),
        }
    }
    println!(
        "community processes: {completed} completed, {waiting} waiting, {incidents} stopped at an incident"
    );
    assert!(completed + waiting > 0);
    Ok(())
}
