//! `dsf bpmn check` over the community's process models and a broken one.

use std::path::Path;
use std::process::Command;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/bpmn-community")
}

fn bpmn_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixture directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            bpmn_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "bpmn") {
            out.push(path);
        }
    }
}

#[test]
fn every_community_model_deploys_with_unknown_classes_allowed() {
    let mut files = Vec::new();
    bpmn_files(&fixtures(), &mut files);
    assert_eq!(files.len(), 51, "the community fixture set");
    let output = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["bpmn", "check", "--allow-unknown-classes"])
        .args(&files)
        .output()
        .expect("run dsf");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches(": deploys").count(), 51, "{stdout}");
}

#[test]
fn unknown_classes_and_broken_models_fail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    bpmn_files(&fixtures(), &mut files);
    let ping = files
        .iter()
        .find(|f| f.to_string_lossy().contains("ping"))
        .expect("a ping model");
    let strict = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["bpmn", "check"])
        .arg(ping)
        .output()
        .expect("run dsf");
    assert!(
        !strict.status.success(),
        "unknown classes are errors by default"
    );
    let broken = dir.path().join("broken.bpmn");
    std::fs::write(
        &broken,
        "<definitions><process id=\"p\"><sequenceFlow id=\"f\" sourceRef=\"nowhere\"/>",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["bpmn", "check", "--allow-unknown-classes"])
        .arg(&broken)
        .output()
        .expect("run dsf");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("would not deploy"));
}
