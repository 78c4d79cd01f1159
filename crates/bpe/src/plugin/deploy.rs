//! Deploys checked plugins: their models go to the engine, their FHIR resources to the local FHIR
//! server in one batch of conditional writes, so that deploying again changes nothing. Processes
//! have the states of the reference (dsf-bpe.md §7): active; draft (a pre-release plugin: as
//! active, with its resources as drafts); retired (deployed so that running
//! instances finish, ActivityDefinition `retired`, no new instances); excluded (not deployed,
//! resources removed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use dsf_bpmn::deploy::DeployOptions;
use serde_json::{Value, json};

use super::ProcessPlugin;
use super::validate::{CheckedProcess, check_plugin};
use crate::api::encode;
use crate::engine::ProcessEngine;
use crate::error::BpeError;
use crate::listeners;
use crate::task::TASK_IDENTIFIER;

/// The state of a deployed process version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Runs: Tasks start and continue instances.
    Active,
    /// Runs as a pre-release: its resources are drafts, written again at every start.
    Draft,
    /// Running instances finish; Tasks that would start one fail.
    Retired,
    /// Not deployed; its resources are removed from the FHIR server.
    Excluded,
}

/// Which processes (`<id>|<version>`) are retired or excluded, and the values of placeholders.
#[derive(Debug, Clone, Default)]
pub struct PluginConfig {
    /// The local organization's identifier (`#{organization}`).
    pub organization: String,
    /// Further `#{name}` values.
    pub properties: HashMap<String, String>,
    /// Retired processes, `<id>|<a.b>`.
    pub retired: Vec<String>,
    /// Excluded processes, `<id>|<a.b>`.
    pub excluded: Vec<String>,
}

/// The outcome of deploying the plugins.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Deployed and excluded processes by `(id, version)`.
    pub states: BTreeMap<(String, String), ProcessState>,
    /// What was left out and why.
    pub warnings: Vec<String>,
}

/// Checks and deploys `plugins` on `engine` and the local FHIR server of its API.
pub async fn deploy(
    engine: &Arc<ProcessEngine>,
    plugins: &[Arc<dyn ProcessPlugin>],
    config: &PluginConfig,
) -> Result<Deployment, BpeError> {
    let mut deployment = Deployment::default();
    let mut checked = Vec::new();
    for plugin in plugins {
        let mut properties = config.properties.clone();
        properties.insert("version".into(), plugin.resource_version());
        properties.insert("date".into(), plugin.release_date().to_owned());
        properties.insert("organization".into(), config.organization.clone());
        let activities = plugin.activities();
        let mut known_classes: HashSet<String> = activities.names().map(str::to_owned).collect();
        known_classes.extend(listeners::class_names().map(str::to_owned));
        let options = DeployOptions {
            properties,
            known_classes,
            allow_unknown_classes: false,
        };
        match check_plugin(plugin.as_ref(), &options) {
            Ok(result) => {
                deployment.warnings.extend(
                    result
                        .warnings
                        .into_iter()
                        .map(|w| format!("plugin {}: {w}", plugin.name())),
                );
                checked.extend(
                    result
                        .processes
                        .into_iter()
                        .map(|p| (plugin.clone(), options.clone(), p)),
                );
            }
            Err(errors) => deployment.warnings.push(format!(
                "plugin {} left out: {}",
                plugin.name(),
                errors.join("; ")
            )),
        }
    }
    // A process version that two plugins bring is left out of both, as the reference does.
    let mut count: HashMap<(String, String), usize> = HashMap::new();
    for (plugin, _, process) in &checked {
        *count
            .entry((process.id.clone(), plugin.resource_version()))
            .or_default() += 1;
    }
    let mut entries = Vec::new();
    for (plugin, options, process) in &checked {
        let key = (process.id.clone(), plugin.resource_version());
        if count.get(&key).copied().unwrap_or(0) > 1 {
            deployment.warnings.push(format!(
                "process {}|{} is in more than one plugin: left out",
                key.0, key.1
            ));
            continue;
        }
        let name = format!("{}|{}", key.0, key.1);
        let state = if config.excluded.contains(&name) {
            ProcessState::Excluded
        } else if config.retired.contains(&name) {
            ProcessState::Retired
        } else if plugin.is_draft() {
            ProcessState::Draft
        } else {
            ProcessState::Active
        };
        if state != ProcessState::Excluded {
            engine.lock().await.deploy(&process.xml, options).await?;
        }
        entries.extend(batch_entries(process, state));
        deployment.states.insert(key, state);
    }
    // ActivityDefinitions last: a process is announced only once the profiles, CodeSystems and
    // ValueSets its Tasks need are stored (the batch writes its entries in order).
    entries.sort_by_key(|entry| {
        entry.pointer("/resource/resourceType") == Some(&json!("ActivityDefinition"))
    });
    if !entries.is_empty() {
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
        let response = engine.api().local().transaction(&batch).await?;
        for entry in response
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let status = entry
                .pointer("/response/status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !status.starts_with('2') && !status.starts_with("404") {
                deployment.warnings.push(format!(
                    "writing a plugin resource: {status} {}",
                    entry
                        .pointer("/response/outcome/issue/0/diagnostics")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok(deployment)
}

/// The batch entries that write (or remove) the resources of `process`.
fn batch_entries(process: &CheckedProcess, state: ProcessState) -> Vec<Value> {
    process
        .resources
        .iter()
        .filter_map(|resource| {
            let url = conditional_url(resource)?;
            Some(match state {
                ProcessState::Excluded => json!({"request": {"method": "DELETE", "url": url}}),
                ProcessState::Active | ProcessState::Draft | ProcessState::Retired => {
                    let mut resource = resource.clone();
                    // The status of definitions is the engine's to set, as the reference does.
                    if resource.get("resourceType") != Some(&json!("Task")) {
                        let definition =
                            resource.get("resourceType") == Some(&json!("ActivityDefinition"));
                        resource["status"] = json!(match state {
                            ProcessState::Retired if definition => "retired",
                            ProcessState::Draft => "draft",
                            _ => "active",
                        });
                    }
                    json!({"resource": resource, "request": {"method": "PUT", "url": url}})
                }
            })
        })
        .collect()
}

/// The search that identifies a plugin resource: url and version, a NamingSystem's name, a draft
/// Task's identifier.
fn conditional_url(resource: &Value) -> Option<String> {
    let resource_type = resource.get("resourceType")?.as_str()?;
    let text = |key: &str| resource.get(key).and_then(Value::as_str);
    Some(match resource_type {
        "NamingSystem" => format!("NamingSystem?name={}", encode(text("name")?)),
        "Task" => {
            let value = crate::api::identifier_value(resource, TASK_IDENTIFIER)?;
            format!(
                "Task?identifier={}",
                encode(&format!("{TASK_IDENTIFIER}|{value}"))
            )
        }
        _ => format!(
            "{resource_type}?url={}&version={}",
            encode(text("url")?),
            encode(text("version")?)
        ),
    })
}
