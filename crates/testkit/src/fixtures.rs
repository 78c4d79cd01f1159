//! The reference's compatibility data in `../shared/fixtures`, beside the checkout (see its README).

use std::path::{Path, PathBuf};

use dsf_fhir::Format;
use serde_json::Value;

/// The fixtures folder; `None` (with a note) when it is missing, a panic when `CI` is set: tests
/// never skip silently in CI.
pub fn dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fixtures missing at {}",
        dir.display()
    );
    eprintln!("fixtures missing at {}: skipped", dir.display());
    None
}

/// Every XML resource below `dir` (recursively, in path order) as FHIR JSON, with `fill` applied
/// to the text first (plugin placeholders); files the reference marks `.ignore` are left out.
pub fn xml_resources(dir: &Path, fill: impl Fn(&str) -> String) -> Vec<(PathBuf, Value)> {
    let mut paths = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("fixture folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "xml")
                && !path.with_extension("xml.ignore").exists()
            {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fill(&std::fs::read_to_string(&path).expect("fixture"));
            let resource = dsf_fhir::parse(text.as_bytes(), Format::Xml)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, Value::Object(resource.into_json()))
        })
        .collect()
}

/// Fills the placeholders of the reference's plugin resources as deploying version `1.0` of a
/// plugin at `organization` on 2026-11-30 would.
pub fn plugin_placeholders(organization: &str) -> impl Fn(&str) -> String {
    let organization = organization.to_owned();
    move |text| {
        text.replace("#{version}", "1.0")
            .replace("#{date}", "2026-11-30")
            .replace("#{organization}", &organization)
    }
}
