//! A federation of FHIR servers with mutual TLS on loopback ports, each knowing the others at
//! their real addresses: for tests of processes that cross sites.

use std::path::PathBuf;
use std::sync::Arc;

use dsf_fhir_server::allow_list::bundle::Member;
use dsf_fhir_server::{ServerConfig, init_bundle};
use dsf_pki::IssuedCertificate;

use serde_json::{Value, json};

use crate::secure::{SecureServer, TestPki};
use crate::{Backend, TestDb};

/// The Task profile `http://dsf.dev/fhir/StructureDefinition/{id}` version 1.0 (e.g. `task-ping`,
/// named `TaskPing`) on the DSF Task profile, fixing `instantiatesCanonical` to `process`: what a
/// plugin brings for its Tasks, for tests that authorize a process by hand.
pub fn task_profile(id: &str, process: &str) -> Value {
    let name: String = id
        .split('-')
        .flat_map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect();
    json!({"resourceType": "StructureDefinition",
        "meta": {"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]},
        "url": format!("http://dsf.dev/fhir/StructureDefinition/{id}"), "version": "1.0",
        "name": name, "status": "active", "date": "2026-11-30", "fhirVersion": "4.0.1",
        "kind": "resource", "abstract": false, "type": "Task",
        "baseDefinition": "http://dsf.dev/fhir/StructureDefinition/task", "derivation": "constraint",
        "differential": {"element": [{"id": "Task.instantiatesCanonical", "path": "Task.instantiatesCanonical",
            "fixedCanonical": process}]}})
}

/// One site of a [`TestFederation`].
pub struct TestSite {
    /// The site's name, e.g. `dic1`.
    pub name: String,
    /// Its organization identifier, `<name>.dsf.test`.
    pub identifier: String,
    /// Its FHIR server, with the default Subscriptions.
    pub server: SecureServer,
    /// Its client certificate.
    pub certificate: IssuedCertificate,
    /// The client certificate as a PEM file.
    pub certificate_file: PathBuf,
    /// Its key as a PEM file.
    pub key_file: PathBuf,
}

/// FHIR servers of several sites under one test CA.
pub struct TestFederation {
    /// The CA of every certificate.
    pub pki: TestPki,
    /// The CA certificate as a PEM file.
    pub ca_file: PathBuf,
    /// The sites, in the order given.
    pub sites: Vec<TestSite>,
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl TestFederation {
    /// Starts a server per name on `backend`; a name starting with `ttp` has the role TTP, the
    /// others DIC.
    ///
    /// # Panics
    /// When a server cannot start.
    pub async fn start(backend: Backend, names: &[&str]) -> TestFederation {
        let pki = TestPki::new();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, pki.ca.cert_pem()).expect("CA file");
        let mut planned = Vec::new();
        for name in names {
            let listener = crate::loopback_listener().await;
            let certificate = pki.client_certificate(&format!("{name}-client"));
            let role = if name.starts_with("ttp") {
                "TTP"
            } else {
                "DIC"
            };
            let mut member = crate::secure::member(name, &certificate, &[role]);
            member.address = format!("https://localhost:{}/fhir", listener.1);
            planned.push((name.to_string(), listener, certificate, member));
        }
        let members: Vec<Member> = planned.iter().map(|(_, _, _, m)| m.clone()).collect();
        let mut sites = Vec::new();
        for (name, listener, certificate, member) in planned {
            let db = Arc::new(TestDb::new(backend).await);
            let server = SecureServer::start_on(
                db,
                listener,
                &pki,
                &member.identifier,
                &members,
                None,
                validated,
            )
            .await;
            init_bundle::load_default_subscriptions(&server.state)
                .await
                .expect("default Subscriptions");
            let certificate_file = dir.path().join(format!("{name}.crt"));
            let key_file = dir.path().join(format!("{name}.key"));
            std::fs::write(&certificate_file, &certificate.cert_pem).expect("certificate file");
            std::fs::write(&key_file, &certificate.key_pem).expect("key file");
            sites.push(TestSite {
                name,
                identifier: member.identifier,
                server,
                certificate,
                certificate_file,
                key_file,
            });
        }
        TestFederation {
            pki,
            ca_file,
            sites,
            members,
            _dir: dir,
        }
    }

    /// Stops the FHIR server of site `name` and starts it again on the same port and database.
    ///
    /// # Panics
    /// When there is no such site or the port cannot be bound again within 10 s.
    pub async fn restart_server(&mut self, name: &str) {
        let index = self
            .sites
            .iter()
            .position(|s| s.name == name)
            .expect("a site of that name");
        let site = &mut self.sites[index];
        site.server.stop();
        let port = site.server.port();
        let mut attempts = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => break listener,
                Err(e) => {
                    attempts += 1;
                    assert!(attempts < 200, "port {port} not free again: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
        let db = site.server.shared_db();
        site.server = SecureServer::start_on(
            db,
            (listener, port),
            &self.pki,
            &site.identifier,
            &self.members,
            None,
            validated,
        )
        .await;
        init_bundle::load_default_subscriptions(&site.server.state)
            .await
            .expect("default Subscriptions");
    }

    /// The site `name`.
    ///
    /// # Panics
    /// When there is none.
    pub fn site(&self, name: &str) -> &TestSite {
        self.sites
            .iter()
            .find(|s| s.name == name)
            .expect("a site of that name")
    }
}

/// Federation sites validate every write against the DSF and plugin profiles, as real sites do.
fn validated(config: &mut ServerConfig) {
    config.validation = true;
}
