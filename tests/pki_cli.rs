//! `dsf pki`: a CA, server and client certificates written as files, checked and refused.

use std::process::{Command, Output};

fn dsf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run dsf")
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn fails(output: Output) -> String {
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn ca_server_client_thumbprint_and_check() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = |p: &str| tmp.path().join(p).to_str().expect("UTF-8").to_owned();
    std::fs::write(tmp.path().join("pw"), "s3cret\n").expect("password file");
    ok(dsf(&[
        "pki",
        "ca",
        "--out",
        &path("ca"),
        "--key-password-file",
        &path("pw"),
    ]));
    let ca = ["--ca", &path("ca"), "--ca-key-password-file", &path("pw")];
    ok(dsf(&[
        &["pki", "server"],
        &ca[..],
        &["--name", "localhost", "--out", &path("srv")],
    ]
    .concat()));
    let issued = ok(dsf(&[
        &["pki", "client"],
        &ca[..],
        &[
            "--name",
            "dic1",
            "--out",
            &path("dic1"),
            "--key-password-file",
            &path("pw"),
        ],
    ]
    .concat()));
    let thumbprint = ok(dsf(&["pki", "thumbprint", &path("dic1/client.crt")]));
    assert!(issued.contains(&format!("thumbprint {}", thumbprint.trim())));

    let checked = ok(dsf(&[
        "pki",
        "check",
        "--cert",
        &path("dic1/client.crt"),
        "--key",
        &path("dic1/client.key"),
        "--key-password-file",
        &path("pw"),
    ]));
    assert!(checked.contains("CN=dic1"), "{checked}");
    let refused = fails(dsf(&[
        "pki",
        "check",
        "--cert",
        &path("dic1/client.crt"),
        "--key",
        &path("srv/server.key"),
    ]));
    assert!(refused.contains("does not match certificate"), "{refused}");

    let refused = fails(dsf(&["pki", "ca", "--out", &path("ca")]));
    assert!(refused.contains("exists already; use --force"), "{refused}");
    let refused = fails(dsf(&[
        "pki",
        "client",
        "--ca",
        &path("ca"),
        "--name",
        "x",
        "--out",
        &path("x"),
    ]));
    assert!(refused.contains("no password was given"), "{refused}");
    ok(dsf(&["pki", "ca", "--out", &path("ca"), "--force"]));
}
