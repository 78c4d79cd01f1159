//! `dsf demo` runs a three-site federation over mutual TLS and stops with `--no-wait`.

use std::process::Command;

#[test]
fn demo_runs_a_federation() {
    // Ports away from common services and from other test runs on the machine.
    let base_port = 30_000 + (std::process::id() % 1000) * 30;
    let output = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(["demo", "--no-wait", "--base-port", &base_port.to_string()])
        .output()
        .expect("run dsf");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("for its Organizations with its client certificate: 4 found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dic1 sends ping to dic2: accepted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ttp (role TTP) sends ping to dic2: 403 Forbidden"),
        "{stdout}"
    );
    assert!(stdout.contains("ttp may not: 403 Forbidden"), "{stdout}");
    assert!(stdout.contains("\"completed\", version \"3\""), "{stdout}");
    assert!(stdout.contains("holds 3 versions"), "{stdout}");
}
