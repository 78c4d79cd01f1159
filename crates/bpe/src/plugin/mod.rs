//! Process plugins: a plugin brings BPMN models, the FHIR resources of each process
//! (ActivityDefinitions with the authorization extension, Task profiles, CodeSystems, ValueSets,
//! Questionnaires, draft Tasks) and the activities its models name.
//!
//! A plugin is a Rust type implementing [`ProcessPlugin`]; the site's engine service is built
//! with the plugins it runs. At start-up each plugin is checked as the reference checks its
//! plugins ([`validate`]), its models are deployed, and its FHIR resources are written to the
//! local FHIR server in one batch of conditional writes ([`deploy`]).

pub mod deploy;
pub mod validate;

use std::borrow::Cow;

use crate::activity::Activities;

/// A BPMN file of a plugin.
#[derive(Debug, Clone)]
pub struct ProcessModel {
    /// Its file name, for messages (`ping.bpmn`).
    pub file: Cow<'static, str>,
    /// The BPMN XML, with `#{...}` placeholders.
    pub xml: Cow<'static, str>,
}

/// A FHIR resource file of a plugin, JSON or XML, with `#{...}` placeholders.
#[derive(Debug, Clone)]
pub struct FhirFile {
    /// Its file name, for messages; `.json` or `.xml` tells the format.
    pub file: Cow<'static, str>,
    /// The content.
    pub content: Cow<'static, str>,
}

/// The FHIR resources of one process of a plugin.
#[derive(Debug, Clone)]
pub struct ProcessResources {
    /// The BPMN process id (`dsfdev_ping`).
    pub process_id: Cow<'static, str>,
    /// Its resources.
    pub files: Vec<FhirFile>,
}

/// A process plugin.
pub trait ProcessPlugin: Send + Sync {
    /// The plugin's name, e.g. `dsf-process-ping-pong`.
    fn name(&self) -> &str;
    /// Its version `a.b.c.d`; `a.b` is the version of its processes and resources. A suffix
    /// `-SNAPSHOT`, `-M<n>` or `-RC<n>` marks a pre-release: its processes are drafts.
    fn version(&self) -> &str;
    /// Its release date, `yyyy-mm-dd` (`#{date}` in its resources).
    fn release_date(&self) -> &str;
    /// Its BPMN models, one process each.
    fn models(&self) -> Vec<ProcessModel>;
    /// Its FHIR resources by process.
    fn resources(&self) -> Vec<ProcessResources>;
    /// Its activities by `camunda:class` name.
    fn activities(&self) -> Activities;

    /// The version of its processes and resources: the first two parts of the version.
    fn resource_version(&self) -> String {
        let mut parts = release_version(self.version()).split('.');
        match (parts.next(), parts.next()) {
            (Some(a), Some(b)) => format!("{a}.{b}"),
            _ => self.version().to_owned(),
        }
    }

    /// Whether this is a pre-release (`-SNAPSHOT`, `-M<n>` or `-RC<n>` after the version), whose
    /// processes are drafts, as the reference treats such plugins.
    fn is_draft(&self) -> bool {
        release_version(self.version()) != self.version()
    }
}

/// The version without a pre-release suffix (`1.0.0.0-SNAPSHOT` gives `1.0.0.0`).
pub fn release_version(version: &str) -> &str {
    match version.split_once('-') {
        Some((release, suffix))
            if suffix == "SNAPSHOT"
                || ["M", "RC"].iter().any(|p| {
                    suffix
                        .strip_prefix(p)
                        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                }) =>
        {
            release
        }
        _ => version,
    }
}

#[cfg(test)]
mod tests {
    use super::release_version;

    #[test]
    fn pre_release_suffixes() {
        assert_eq!(release_version("1.0.1.0"), "1.0.1.0");
        assert_eq!(release_version("1.0.1.0-SNAPSHOT"), "1.0.1.0");
        assert_eq!(release_version("1.0.1.0-RC2"), "1.0.1.0");
        assert_eq!(release_version("1.0.1.0-M1"), "1.0.1.0");
        assert_eq!(release_version("1.0.1.0-beta"), "1.0.1.0-beta");
        assert_eq!(release_version("1.0.1.0-RC"), "1.0.1.0-RC");
    }
}
