//! `dsf bpmn check`: what deploying BPMN models would report, for plugin authors.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context, bail};
use dsf_bpmn::deploy::{DeployOptions, check, sample_properties};

/// BPMN model tools.
#[derive(Debug, clap::Subcommand)]
pub enum BpmnCommand {
    /// Check models as a deployment would: prints every problem with its element id and exits
    /// non-zero if any model would not deploy.
    Check(CheckArgs),
}

/// Settings of `dsf bpmn check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// BPMN 2.0 files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// List `camunda:class` names without an implementation here as warnings, not errors.
    #[arg(long)]
    pub allow_unknown_classes: bool,
    /// A `#{name}` placeholder value, as `name=value` (sample values fill the others).
    #[arg(long = "property", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{s}' is not name=value"))
}

/// Runs a `dsf bpmn` command.
pub fn run(command: BpmnCommand) -> anyhow::Result<()> {
    let BpmnCommand::Check(args) = command;
    let mut properties = sample_properties();
    properties.extend(args.properties);
    let options = DeployOptions {
        properties,
        known_classes: HashSet::new(),
        allow_unknown_classes: args.allow_unknown_classes,
    };
    let mut failed = 0;
    for file in &args.files {
        let xml =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let report = check(&xml, &options);
        let verdict = if report.errors.is_empty() {
            "deploys"
        } else {
            "would not deploy"
        };
        println!("{}: {verdict}", file.display());
        print!("{report}");
        if !report.errors.is_empty() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} models would not deploy", args.files.len());
    }
    Ok(())
}
