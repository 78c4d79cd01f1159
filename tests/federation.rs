//! `dsf federation init` writes a complete local federation; its allow list loads idempotently.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn dsf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsf"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run dsf")
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn init(dir: &Path) -> String {
    ok(&dsf(&[
        "federation",
        "init",
        dir.to_str().expect("UTF-8 path"),
        "--sites",
        "dic1,dic2,ttp",
    ]))
}

fn entries<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == kind)
        .collect()
}

#[test]
fn init_writes_the_documented_layout() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("federation");
    let stdout = init(&dir);

    for file in ["ca/ca.crt", "ca/ca.key", "allow-list.json", "README.md"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("allow-list.json")).expect("allow list"),
    )
    .expect("JSON");
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    for entry in bundle["entry"].as_array().expect("entries") {
        assert_eq!(entry["request"]["method"], "PUT", "{entry}");
        assert!(
            entry["fullUrl"]
                .as_str()
                .is_some_and(|u| u.starts_with("urn:uuid:"))
        );
    }

    let organizations = entries(&bundle, "Organization");
    assert_eq!(organizations.len(), 4, "three sites and the parent");
    for (i, site) in ["dic1", "dic2", "ttp"].into_iter().enumerate() {
        let site_dir = dir.join(site);
        for file in [
            "server.crt",
            "server.key",
            "client.crt",
            "client.key",
            "site.toml",
        ] {
            assert!(site_dir.join(file).is_file(), "{site}/{file}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(site_dir.join("client.key"))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{site}/client.key");
        }

        let config: toml::Table = std::fs::read_to_string(site_dir.join("site.toml"))
            .expect("site.toml")
            .parse()
            .expect("TOML");
        let fhir = config["fhir"].as_table().expect("[fhir]");
        let port = 8001 + 10 * i;
        let expect = [
            ("base_url", format!("https://localhost:{port}/fhir")),
            ("listen", format!("127.0.0.1:{port}")),
            ("organization_identifier", format!("{site}.dsf.test")),
            ("data_dir", "data".into()),
            ("server_certificate", "server.crt".into()),
            ("server_certificate_key", "server.key".into()),
            ("client_certificate", "client.crt".into()),
            ("client_certificate_key", "client.key".into()),
            ("trusted_client_cas", "../ca/ca.crt".into()),
            ("init_bundle", "../allow-list.json".into()),
        ];
        assert_eq!(fhir.len(), expect.len(), "{fhir:?}");
        for (key, value) in expect {
            assert_eq!(fhir[key].as_str(), Some(value.as_str()), "{site}: {key}");
        }

        let thumbprint = ok(&dsf(&[
            "pki",
            "thumbprint",
            site_dir.join("client.crt").to_str().expect("UTF-8"),
        ]))
        .trim()
        .to_owned();
        assert_eq!(thumbprint.len(), 128);
        assert!(stdout.contains(&thumbprint), "the summary lists {site}");
        let org = organizations
            .iter()
            .find(|o| o["resource"]["identifier"][0]["value"] == format!("{site}.dsf.test"))
            .expect("site organization");
        assert_eq!(org["resource"]["extension"][0]["valueString"], thumbprint);
        assert_eq!(
            org["request"]["url"],
            format!(
                "Organization?identifier=http://dsf.dev/sid/organization-identifier|{site}.dsf.test"
            )
        );
    }

    let roles: Vec<String> = entries(&bundle, "OrganizationAffiliation")
        .iter()
        .map(|a| {
            a["resource"]["code"][0]["coding"][0]["code"]
                .as_str()
                .expect("role code")
                .to_owned()
        })
        .collect();
    assert_eq!(roles, ["DIC", "DIC", "TTP"]);
    assert_eq!(entries(&bundle, "Endpoint").len(), 3);

    let again = dsf(&[
        "federation",
        "init",
        dir.to_str().expect("UTF-8"),
        "--sites",
        "dic1,dic2,ttp",
    ]);
    assert!(!again.status.success(), "a second init must not overwrite");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    ok(&dsf(&[
        "federation",
        "init",
        dir.to_str().expect("UTF-8"),
        "--sites",
        "dic1,dic2,ttp",
        "--force",
    ]));
}

#[test]
fn encrypted_keys_are_checked_with_their_password_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("federation");
    let password = tmp.path().join("password");
    std::fs::write(&password, "correct horse\n").expect("password file");
    ok(&dsf(&[
        "federation",
        "init",
        dir.to_str().expect("UTF-8"),
        "--sites",
        "hrp,study",
        "--role",
        "study=COS,DIC",
        "--key-password-file",
        password.to_str().expect("UTF-8"),
    ]));
    let config: toml::Table = std::fs::read_to_string(dir.join("study/site.toml"))
        .expect("site.toml")
        .parse()
        .expect("TOML");
    assert_eq!(
        config["fhir"]["client_certificate_key_password_file"].as_str(),
        Some("key.password")
    );
    let check = |password_file: &Path| {
        dsf(&[
            "pki",
            "check",
            "--cert",
            dir.join("study/client.crt").to_str().expect("UTF-8"),
            "--key",
            dir.join("study/client.key").to_str().expect("UTF-8"),
            "--key-password-file",
            password_file.to_str().expect("UTF-8"),
        ])
    };
    assert!(ok(&check(&dir.join("study/key.password"))).contains("CN=study"));
    std::fs::write(&password, "wrong\n").expect("password file");
    let refused = check(&password);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("client.key: wrong password or not an encrypted PKCS#8 key"),
        "{stderr}"
    );
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("allow-list.json")).expect("allow list"),
    )
    .expect("JSON");
    let codes: Vec<&Value> = entries(&bundle, "OrganizationAffiliation")
        .iter()
        .flat_map(|a| a["resource"]["code"].as_array().expect("codes"))
        .map(|c| &c["coding"][0]["code"])
        .collect();
    assert_eq!(codes, ["HRP", "COS", "DIC"]);
}

#[test]
fn unknown_roles_and_sites_without_roles_are_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("f");
    let dir = dir.to_str().expect("UTF-8");
    let output = dsf(&["federation", "init", dir, "--sites", "dic1,lab"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--role lab=CODE"));
    let output = dsf(&[
        "federation",
        "init",
        dir,
        "--sites",
        "lab",
        "--role",
        "lab=XYZ",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("XYZ is not an organization role"));
    assert!(!Path::new(dir).exists(), "nothing written");
}

/// The allow list loads into a site's FHIR server, and loading it again changes no count.
#[tokio::test]
async fn allow_list_loads_idempotently() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("federation");
    init(&dir);
    let bundle = std::fs::read_to_string(dir.join("allow-list.json")).expect("allow list");

    let store = dsf_fhir_store::Store::open(&dsf_fhir_store::StoreConfig::Sqlite {
        path: tmp.path().join("fhir.db"),
    })
    .await
    .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/fhir", listener.local_addr().expect("address"));
    let config = dsf_fhir_server::ServerConfig::new(&base).expect("config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dsf_fhir_server::serve(
        listener,
        store,
        config,
        dsf_fhir_server::AuthMode::DevInsecure,
        async {
            let _ = stopped.await;
        },
    ));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut counts = Vec::new();
    for _ in 0..2 {
        let response = client
            .post(&base)
            .header("content-type", "application/fhir+json")
            .header("accept", "application/fhir+json")
            .body(bundle.clone())
            .send()
            .await
            .expect("transaction");
        let status = response.status();
        let body: Value =
            serde_json::from_slice(&response.bytes().await.expect("answer")).expect("JSON");
        assert!(status.is_success(), "{status}: {body}");
        let mut count = Vec::new();
        for kind in ["Organization", "Endpoint", "OrganizationAffiliation"] {
            let found = client
                .get(format!("{base}/{kind}?_summary=count"))
                .header("accept", "application/fhir+json")
                .send()
                .await
                .expect("search")
                .bytes()
                .await
                .expect("answer");
            let found: Value = serde_json::from_slice(&found).expect("JSON");
            count.push(found["total"].as_u64().expect("total"));
        }
        counts.push(count);
    }
    assert_eq!(counts[0], [4, 3, 3]);
    assert_eq!(counts[1], counts[0], "a second load creates no copies");
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}
