//! `dsf demo` runs a federation on localhost, pings from every site to every other and prints
//! the table.

use std::process::Command;

#[test]
fn demo_pings_between_all_sites() {
    // Ports away from common services and from other test runs on the machine.
    // Below the ephemeral range (32768 and up), where outgoing connections would collide.
    let base_port = 10_000 + (std::process::id() % 700) * 30;
    let output = Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args([
            "demo",
            "--sites",
            "dic1,dic2,ttp",
            "--base-port",
            &base_port.to_string(),
        ])
        .output()
        .expect("run dsf");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("from \\ to"))
        .filter(|l| ["dic1 ", "dic2 ", "ttp "].iter().any(|s| l.starts_with(s)))
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in rows {
        assert_eq!(row.matches("pong ").count(), 2, "{row}\n{stdout}");
    }
    assert!(stdout.contains("From start to the full table"), "{stdout}");
}
