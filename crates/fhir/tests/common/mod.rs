//! Test support: the official R4 example package in the git-ignored cache, the shared fixtures.
#![allow(dead_code)] // each test binary uses a part

use std::path::PathBuf;
use std::process::Command;

/// The directory of the unpacked `hl7.fhir.r4.examples` 4.0.1 package, fetched on first use by
/// `scripts/fetch-examples.sh`. `None` (after a loud message) when it cannot be fetched; with
/// `CI=true` that is a test failure instead.
pub fn examples_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../.cache/r4-examples/package");
    if dir.join("package.json").is_file() {
        return Some(dir);
    }
    let script = manifest.join("scripts/fetch-examples.sh");
    let status = Command::new("sh").arg(&script).status();
    if dir.join("package.json").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "cannot fetch the R4 example package with {} ({status:?}); npm and registry access are needed",
        script.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("!!!!!!!! SKIPPED: {msg} !!!!!!!!");
    None
}

/// The shared fixtures directory beside the checkout (`../shared/fixtures`).
pub fn fixtures_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in ["../../../shared/fixtures", "../../../../shared/fixtures"] {
        let d = manifest.join(candidate);
        if d.is_dir() {
            return Some(d);
        }
    }
    let msg = "the shared fixtures (../shared/fixtures beside the checkout) are missing";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("!!!!!!!! SKIPPED: {msg} !!!!!!!!");
    None
}
