//! The reference's own conformance resources and process plugin resources (`../shared/fixtures`)
//! load into a validator, the draft Tasks the plugins ship validate against their profiles, and
//! mutated copies are refused with the issue that names what is wrong.

use std::path::Path;

use dsf_fhir_validation::{Conformance, Issue, Validator};
use dsf_testkit::fixtures::{self, plugin_placeholders};
use serde_json::{Value, json};

/// Every XML resource below `dir`, with the plugin placeholders filled in.
fn load(dir: &Path) -> Vec<Value> {
    fixtures::xml_resources(dir, plugin_placeholders("Test_DIC"))
        .into_iter()
        .map(|(_, resource)| resource)
        .collect()
}

struct Loaded {
    validator: Validator,
    resources: Vec<Value>,
}

fn loaded() -> Option<Loaded> {
    let dir = fixtures::dir()?;
    let mut conformance = Conformance::new();
    let mut resources = load(&dir.join("dsf-core/fhir"));
    for plugin in ["ping-pong", "hello-world", "allow-list"] {
        resources.extend(load(&dir.join("plugins").join(plugin).join("fhir")));
    }
    for r in &resources {
        conformance.add(r.clone());
    }
    Some(Loaded {
        validator: Validator::new(conformance),
        resources,
    })
}

fn errors(issues: &[Issue]) -> Vec<&Issue> {
    issues.iter().filter(|i| i.is_error()).collect()
}

fn draft_task(loaded: &Loaded, identifier_suffix: &str) -> Value {
    loaded
        .resources
        .iter()
        .find(|r| {
            r["resourceType"] == "Task"
                && r["identifier"][0]["value"]
                    .as_str()
                    .is_some_and(|v| v.ends_with(identifier_suffix))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no draft Task {identifier_suffix}"))
}

#[test]
fn every_profile_has_a_snapshot() {
    let Some(loaded) = loaded() else { return };
    let mut count = 0;
    for sd in loaded
        .resources
        .iter()
        .filter(|r| r["resourceType"] == "StructureDefinition")
    {
        let snapshot = loaded.validator.snapshot(sd);
        assert!(snapshot.is_ok(), "{}: {:?}", sd["url"], snapshot.err());
        let skipped = snapshot.map(|s| s.skipped).unwrap_or_default();
        // The reference's hello-world profile constrains `identifier` inside an Identifier.
        assert!(
            skipped.is_empty()
                || sd["url"] == "http://dsf.dev/fhir/StructureDefinition/task-hello-world",
            "{}: {skipped:?}",
            sd["url"]
        );
        count += 1;
    }
    assert!(count > 50, "{count} StructureDefinitions");
}

#[test]
fn plugin_draft_tasks_and_definitions_are_valid() {
    let Some(loaded) = loaded() else { return };
    let mut checked = 0;
    for r in loaded
        .resources
        .iter()
        .filter(|r| r.pointer("/meta/profile").is_some())
    {
        let issues = loaded.validator.validate(r);
        assert!(
            errors(&issues).is_empty(),
            "{} {}: {:#?}",
            r["resourceType"],
            r["url"]
                .as_str()
                .or(r["identifier"][0]["value"].as_str())
                .unwrap_or_default(),
            issues
        );
        checked += 1;
    }
    assert!(checked > 10, "{checked} resources checked");
}

#[test]
fn mutated_tasks_are_refused_with_the_right_issue() {
    let Some(loaded) = loaded() else { return };
    let task = draft_task(&loaded, "task-start-ping");
    assert!(errors(&loaded.validator.validate(&task)).is_empty());

    let expect = |task: &Value, location: &str, words: &str| {
        let issues = loaded.validator.validate(task);
        let errors = errors(&issues);
        assert!(
            errors
                .iter()
                .any(|i| i.location.starts_with(location) && i.message.contains(words)),
            "expected an error at {location} saying {words:?}, got {errors:#?}"
        );
    };

    let mut missing = task.clone();
    missing["input"].as_array_mut().expect("inputs").remove(0);
    expect(&missing, "Task.input", "minimum required = 1");

    let mut twice = task.clone();
    let first = twice["input"][0].clone();
    twice["input"].as_array_mut().expect("inputs").push(first);
    expect(&twice, "Task.input", "max allowed = 1");

    let mut wrong_code = task.clone();
    wrong_code["output"] = json!([{
        "type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/ping", "code": "ping-status"}]},
        "valueCoding": {"system": "http://dsf.dev/fhir/CodeSystem/ping-status", "code": "no-such-code"}
    }]);
    expect(
        &wrong_code,
        "Task.output[0].value.ofType(Coding)",
        "no-such-code",
    );

    let mut unknown_extension = task.clone();
    unknown_extension["extension"] =
        json!([{"url": "http://example.org/unknown", "valueString": "x"}]);
    expect(
        &unknown_extension,
        "Task.extension[0]",
        "Unknown extension http://example.org/unknown",
    );

    let mut wrong_fixed = task.clone();
    wrong_fixed["instantiatesCanonical"] = json!("http://dsf.dev/bpe/Process/pong|1.0");
    expect(&wrong_fixed, "Task.instantiatesCanonical", "must be");

    let mut no_identifier = task.clone();
    no_identifier
        .as_object_mut()
        .expect("task")
        .remove("identifier");
    expect(&no_identifier, "Task", "identifier-if-status-draft");

    let mut unknown_profile = task.clone();
    unknown_profile["meta"]["profile"] = json!(["http://example.org/StructureDefinition/none"]);
    expect(&unknown_profile, "Task.meta.profile[0]", "not found");
}

#[test]
fn any_mutation_gives_issues_not_panics() {
    let Some(loaded) = loaded() else { return };
    let odd = [
        json!(null),
        json!("x"),
        json!(1),
        json!([]),
        json!({}),
        json!([{"url": 1}]),
    ];
    let mut validated = 0;
    for r in loaded
        .resources
        .iter()
        .filter(|r| r.pointer("/meta/profile").is_some())
    {
        let Some(object) = r.as_object() else {
            continue;
        };
        for key in object.keys().filter(|k| *k != "resourceType") {
            let mut removed = r.clone();
            removed.as_object_mut().expect("object").remove(key);
            loaded.validator.validate(&removed);
            for value in &odd {
                let mut changed = r.clone();
                changed[key.as_str()] = value.clone();
                loaded.validator.validate(&changed);
                validated += 1;
            }
        }
    }
    assert!(validated > 500, "{validated} mutations validated");
}
