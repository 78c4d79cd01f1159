//! The checks the reference runs on a plugin before deploying it (dsf-bpe.md §2.5): version
//! forms, one process per model with the `<domain>_<name>` id and the plugin's version tag,
//! FHIR resources of the allowed types with the plugin's version, one ActivityDefinition per
//! process whose URL names it, and draft Tasks that start it. A process that fails a check is
//! left out with a warning; a plugin whose definition is invalid is left out entirely.

use std::collections::{HashMap, HashSet};

use dsf_bpmn::deploy::{DeployOptions, check};
use serde_json::Value;

use super::{FhirFile, ProcessPlugin};
use crate::task::{ProcessUrl, TASK_IDENTIFIER};

/// Resource types a plugin may bring.
const ALLOWED_TYPES: [&str; 9] = [
    "ActivityDefinition",
    "CodeSystem",
    "Library",
    "Measure",
    "NamingSystem",
    "Questionnaire",
    "StructureDefinition",
    "Task",
    "ValueSet",
];

/// A process of a plugin that passed the checks, with its filled resources.
#[derive(Debug, Clone)]
pub struct CheckedProcess {
    /// The BPMN process id.
    pub id: String,
    /// The BPMN XML as written by the plugin (placeholders are filled at deployment).
    pub xml: std::borrow::Cow<'static, str>,
    /// Its FHIR resources as JSON, placeholders filled.
    pub resources: Vec<Value>,
}

/// What checking a plugin found.
#[derive(Debug, Clone, Default)]
pub struct CheckedPlugin {
    /// The processes that may be deployed.
    pub processes: Vec<CheckedProcess>,
    /// Why something was left out, one line each.
    pub warnings: Vec<String>,
}

/// Checks `plugin`; `options` carries the placeholder values and known class names of the
/// deployment. `Err` lists why the whole plugin is refused.
pub fn check_plugin(
    plugin: &dyn ProcessPlugin,
    options: &DeployOptions,
) -> Result<CheckedPlugin, Vec<String>> {
    let mut errors = Vec::new();
    if plugin.name().trim().is_empty() {
        errors.push("the name is blank".to_owned());
    }
    if !is_version(super::release_version(plugin.version()), 4) {
        errors.push(format!("version '{}' is not a.b.c.d", plugin.version()));
    }
    if time::Date::parse(
        plugin.release_date(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .is_err()
    {
        errors.push(format!(
            "release date '{}' is not yyyy-mm-dd",
            plugin.release_date()
        ));
    }
    let models = plugin.models();
    let resources = plugin.resources();
    if models.is_empty() {
        errors.push("no process models".to_owned());
    }
    if resources.is_empty() {
        errors.push("no FHIR resources".to_owned());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let version = plugin.resource_version();
    let mut checked = CheckedPlugin::default();
    let mut by_process: HashMap<&str, Vec<&FhirFile>> = HashMap::new();
    for r in &resources {
        by_process
            .entry(r.process_id.as_ref())
            .or_default()
            .extend(r.files.iter());
    }
    let mut seen = HashSet::new();
    for model in models {
        let report = check(&model.xml, options);
        let problem = if !report.is_deployable() {
            Some(report.to_string().trim_end().replace('\n', "; "))
        } else if report.processes.len() != 1 {
            Some(format!(
                "{} processes, exactly one expected",
                report.processes.len()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            checked
                .warnings
                .push(format!("model {}: {problem}", model.file));
            continue;
        }
        let process = &report.processes[0];
        let id = process.id.clone();
        if let Err(problem) = check_process_id(&id, process.version_tag.as_deref(), &version) {
            checked
                .warnings
                .push(format!("model {}: {problem}", model.file));
            continue;
        }
        if !seen.insert(id.clone()) {
            checked
                .warnings
                .push(format!("model {}: process {id} is there twice", model.file));
            continue;
        }
        let files = by_process.get(id.as_str()).cloned().unwrap_or_default();
        match check_resources(&id, &version, &files, options) {
            Ok(resources) => checked.processes.push(CheckedProcess {
                id,
                xml: model.xml.clone(),
                resources,
            }),
            Err(problems) => checked
                .warnings
                .extend(problems.into_iter().map(|p| format!("process {id}: {p}"))),
        }
    }
    Ok(checked)
}

fn is_version(version: &str, parts: usize) -> bool {
    let split: Vec<&str> = version.split('.').collect();
    split.len() == parts
        && split
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn check_process_id(id: &str, version_tag: Option<&str>, version: &str) -> Result<(), String> {
    let valid_part =
        |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    match id.split_once('_') {
        Some((domain, name)) if valid_part(domain) && valid_part(name) => {}
        _ => return Err(format!("process id '{id}' is not <domain>_<name>")),
    }
    if version_tag != Some(version) {
        return Err(format!(
            "process {id}: camunda:versionTag {version_tag:?} is not the plugin's version {version}"
        ));
    }
    Ok(())
}

/// Fills, parses and checks the resources of process `id`.
fn check_resources(
    id: &str,
    version: &str,
    files: &[&FhirFile],
    options: &DeployOptions,
) -> Result<Vec<Value>, Vec<String>> {
    let mut problems = Vec::new();
    let mut resources = Vec::new();
    let mut definitions = 0;
    for file in files {
        match parse_file(file, options) {
            Ok(resource) => match check_resource(&resource, id, version) {
                Ok(is_definition) => {
                    definitions += usize::from(is_definition);
                    resources.push(resource);
                }
                Err(p) => problems.push(format!("{}: {p}", file.file)),
            },
            Err(p) => problems.push(format!("{}: {p}", file.file)),
        }
    }
    if definitions != 1 {
        problems.push(format!(
            "{definitions} ActivityDefinitions for the process, exactly one expected"
        ));
    }
    if problems.is_empty() {
        Ok(resources)
    } else {
        Err(problems)
    }
}

/// A plugin file with its placeholders filled, as JSON.
pub fn parse_file(file: &FhirFile, options: &DeployOptions) -> Result<Value, String> {
    let xml = file.file.ends_with(".xml");
    let properties: HashMap<String, String> = if xml {
        options.properties.clone()
    } else {
        // Values go into JSON strings: escaped as such.
        options
            .properties
            .iter()
            .map(|(k, v)| {
                let quoted = serde_json::to_string(v).unwrap_or_default();
                (k.clone(), quoted[1..quoted.len() - 1].to_owned())
            })
            .collect()
    };
    let with_defaults = fill_with_defaults(&file.content, &properties)?;
    let filled = dsf_bpmn::parse::placeholders::fill(&with_defaults, &properties).map_err(|p| {
        p.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let format = if xml {
        dsf_fhir::Format::Xml
    } else {
        dsf_fhir::Format::Json
    };
    let resource = dsf_fhir::parse(filled.as_bytes(), format).map_err(|e| e.to_string())?;
    Ok(Value::Object(resource.as_json().clone()))
}

/// Resolves the property placeholders the reference resolves in FHIR files besides `#{name}`:
/// `${name}`, `${name:default}` and `#{name:default}` become the deployment's value of `name`,
/// else the default (written as is). A `${name}` with neither is an error; `#{name}` is left to
/// the placeholder filler, and anything that is not a property name stays as it is.
fn fill_with_defaults(
    content: &str,
    properties: &HashMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find(['$', '#']) {
        out.push_str(&rest[..start]);
        let marker = &rest[start..start + 1];
        let after = &rest[start + 1..];
        let placeholder = after
            .strip_prefix('{')
            .and_then(|inner| inner.find('}').map(|end| &inner[..end]));
        let Some(inner) = placeholder else {
            out.push_str(marker);
            rest = after;
            continue;
        };
        let (name, default) = match inner.split_once(':') {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        let consumed = 2 + inner.len() + 1;
        if !is_name || (marker == "#" && default.is_none()) {
            out.push_str(&rest[start..start + consumed]);
        } else if let Some(value) = properties.get(name).map(String::as_str).or(default) {
            out.push_str(value);
        } else {
            return Err(format!("placeholder '${{{name}}}' has no value"));
        }
        rest = &rest[start + consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks one resource of process `id`; `Ok(true)` for its ActivityDefinition.
fn check_resource(resource: &Value, id: &str, version: &str) -> Result<bool, String> {
    let resource_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !ALLOWED_TYPES.contains(&resource_type) {
        return Err(format!("resource type {resource_type} is not allowed"));
    }
    let text = |key: &str| resource.get(key).and_then(Value::as_str);
    match resource_type {
        "NamingSystem" => {
            text("name").ok_or("NamingSystem without name")?;
            Ok(false)
        }
        "Task" => check_draft_task(resource, id, version).map(|()| false),
        _ => {
            let url = text("url").ok_or(format!("{resource_type} without url"))?;
            if text("version") != Some(version) {
                return Err(format!(
                    "{resource_type} {url}: version {:?} is not {version}",
                    text("version")
                ));
            }
            if resource_type != "ActivityDefinition" {
                return Ok(false);
            }
            let process = ProcessUrl::parse(&format!("{url}|{version}"))
                .ok_or(format!("ActivityDefinition url {url} is not a process URL"))?;
            Ok(process.process_key() == id)
        }
    }
}

fn check_draft_task(task: &Value, id: &str, version: &str) -> Result<(), String> {
    if task.get("status").and_then(Value::as_str) != Some("draft") {
        return Err("a plugin's Task must be a draft".to_owned());
    }
    let canonical = task
        .get("instantiatesCanonical")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let process = ProcessUrl::parse(canonical)
        .filter(|p| p.process_key() == id && p.version == version)
        .ok_or(format!(
            "draft Task instantiatesCanonical {canonical:?} is not process {id}|{version}"
        ))?;
    let identifier = crate::api::identifier_value(task, TASK_IDENTIFIER).unwrap_or_default();
    let prefix = format!("{}/{version}/", process.url);
    if !identifier.starts_with(&prefix) || identifier.contains('|') {
        return Err(format!(
            "draft Task identifier {identifier:?} does not start with {prefix}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_with_defaults() {
        let properties = HashMap::from([
            ("version".to_owned(), "1.0".to_owned()),
            ("a.b".to_owned(), "set".to_owned()),
        ]);
        let filled = fill_with_defaults(
            "${a.b:x} ${c.d:hs-heilbronn.de} #{c.d:y} #{a.b:z} #{version} ${a.b} $5 #{x == y} ${a b}",
            &properties,
        );
        assert_eq!(
            filled.as_deref(),
            Ok("set hs-heilbronn.de y set #{version} set $5 #{x == y} ${a b}")
        );
        assert_eq!(
            fill_with_defaults("value ${missing}", &properties),
            Err("placeholder '${missing}' has no value".to_owned())
        );
    }
}
