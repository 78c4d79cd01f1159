//! `dsf demo` walks through a site's FHIR API and stops with `--no-wait`.

use std::process::Command;

#[test]
fn demo_walks_through_the_api() {
    let output = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["demo", "--no-wait", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run dsf");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("10 entries (201 Created"), "{stdout}");
    assert!(
        stdout.contains("Task?status=requested finds 1 Task(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("holds 2 versions"), "{stdout}");
}

#[test]
fn demo_refuses_to_serve_plain_http_beyond_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["demo", "--no-wait", "--listen", "0.0.0.0:0"])
        .output()
        .expect("run dsf");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
