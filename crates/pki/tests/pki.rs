//! Development CA, issued certificates, key files and start-up checks, proven through real
//! mutual-TLS handshakes on loopback.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dsf_pki::{
    CertificateAuthority, IssuedCertificate, OffsetDateTime, PkiError, Validity, certificate_info,
    check_certified_key, load_certificates, load_crls, load_private_key, thumbprint,
};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

fn write_pair(dir: &Path, name: &str, issued: &IssuedCertificate) -> (PathBuf, PathBuf) {
    (
        write(dir, &format!("{name}.crt"), &issued.cert_pem),
        write(dir, &format!("{name}.key"), &issued.key_pem),
    )
}

struct Tls {
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
}

/// Server and client configurations from files, the way a site loads them.
fn tls_from_files(
    ca: &Path,
    server: (&Path, &Path),
    client: (&Path, &Path, Option<&str>),
    crl: Option<&Path>,
) -> Tls {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(ca).expect("CA certificate") {
        roots.add(cert).expect("trust the CA");
    }
    let roots = Arc::new(roots);
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
    if let Some(crl) = crl {
        verifier = verifier.with_crls(load_crls(crl).expect("CRL"));
    }
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier.build().expect("client verifier"))
        .with_single_cert(
            load_certificates(server.0).expect("server certificate"),
            load_private_key(server.1, None).expect("server key"),
        )
        .expect("server config");
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(
            load_certificates(client.0).expect("client certificate"),
            load_private_key(client.1, client.2).expect("client key"),
        )
        .expect("client config");
    Tls { server, client }
}

/// Connects the client to the server on loopback; returns the thumbprint of the client
/// certificate the server saw, or the first error.
async fn handshake(tls: Tls, host: &str) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut stream = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let peer = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| thumbprint(c))
            .ok_or("no client certificate")?;
        let mut buf = [0u8; 4];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(b"pong").await.map_err(|e| e.to_string())?;
        stream.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(peer)
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls.client));
    let client = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let mut stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        stream
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        if buf != b"pong" {
            return Err(format!("unexpected answer {buf:?}"));
        }
        Ok(())
    };
    let client = client.await;
    let server = server.await.expect("server task");
    match (server, client) {
        (Ok(peer), Ok(())) => Ok(peer),
        (server, client) => Err(format!("server: {server:?}, client: {client:?}")),
    }
}

struct Federation {
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
    ca_path: PathBuf,
    server: (PathBuf, PathBuf),
}

fn federation() -> Federation {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = CertificateAuthority::generate("DSF Test Root CA").expect("CA");
    let ca_path = write(dir.path(), "ca.crt", &ca.cert_pem());
    let server = ca
        .issue_server(
            "localhost",
            &["localhost".into(), "dic1".into(), "127.0.0.1".into()],
            Validity::days(30),
            None,
        )
        .expect("server certificate");
    let server = write_pair(dir.path(), "server", &server);
    Federation {
        dir,
        ca,
        ca_path,
        server,
    }
}

impl Federation {
    fn client(&self, common_name: &str, password: Option<&str>) -> IssuedCertificate {
        self.ca
            .issue_client(common_name, Validity::days(30), password)
            .expect("client certificate")
    }

    /// Writes the client's files and connects with them to this federation's server as `host`.
    async fn connect(
        &self,
        client: &IssuedCertificate,
        password: Option<&str>,
        crl: Option<&Path>,
        host: &str,
    ) -> Result<String, String> {
        let name = thumbprint(&client.der);
        let (crt, key) = write_pair(self.dir.path(), &name[..16], client);
        let tls = tls_from_files(
            &self.ca_path,
            (&self.server.0, &self.server.1),
            (&crt, &key, password),
            crl,
        );
        handshake(tls, host).await
    }
}

#[tokio::test]
async fn issued_certificates_pass_a_mutual_tls_handshake() {
    let f = federation();
    let client = f.client("dic1", None);
    let expected = thumbprint(&client.der);
    for host in ["localhost", "dic1", "127.0.0.1"] {
        let seen = f
            .connect(&client, None, None, host)
            .await
            .expect("handshake");
        assert_eq!(seen, expected, "the server sees the client's thumbprint");
    }
    let info = certificate_info(&client.der).expect("certificate info");
    assert_eq!(info.subject_common_name.as_deref(), Some("dic1"));
    assert_eq!(info.serial, client.serial);
    assert_eq!(info.thumbprint, expected);
}

#[tokio::test]
async fn server_name_outside_the_certificate_is_refused() {
    let f = federation();
    let error = f
        .connect(&f.client("dic1", None), None, None, "dic2")
        .await
        .expect_err("wrong host name");
    assert!(error.contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn client_of_another_ca_is_refused() {
    let f = federation();
    let other = CertificateAuthority::generate("Other CA").expect("CA");
    let client = other
        .issue_client("dic1", Validity::days(30), None)
        .expect("client");
    let error = f
        .connect(&client, None, None, "localhost")
        .await
        .expect_err("untrusted client");
    assert!(error.contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn revoked_client_is_refused_and_the_list_names_its_serial() {
    let f = federation();
    let revoked = f.client("dic2", None);
    let now = OffsetDateTime::now_utc();
    let crl_pem =
        f.ca.revocation_list(
            std::slice::from_ref(&revoked.serial),
            now - Duration::minutes(1),
            now + Duration::days(7),
        )
        .expect("CRL");
    let crl_path = write(f.dir.path(), "ca.crl", &crl_pem);
    let crls = load_crls(&crl_path).expect("load CRL");
    assert_eq!(crls.len(), 1);
    let (_, crl) = x509_parser::parse_x509_crl(&crls[0]).expect("parse CRL");
    let serials: Vec<&[u8]> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial())
        .collect();
    assert_eq!(serials, vec![revoked.serial.as_slice()]);

    let error = f
        .connect(&revoked, None, Some(&crl_path), "localhost")
        .await
        .expect_err("revoked client");
    assert!(error.contains("Revoked"), "{error}");
    f.connect(&f.client("dic1", None), None, Some(&crl_path), "localhost")
        .await
        .expect("unrevoked client");
}

#[tokio::test]
async fn encrypted_keys_round_trip_and_a_loaded_ca_issues_for_its_chain() {
    let f = federation();
    // The CA itself, saved with an encrypted key and loaded again.
    let ca_key = write(
        f.dir.path(),
        "ca.key",
        &f.ca.key_pem(Some("ca secret")).expect("key"),
    );
    let text = std::fs::read_to_string(&ca_key).expect("read key");
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    let loaded =
        CertificateAuthority::load(&f.ca_path, &ca_key, Some("ca secret")).expect("load CA");
    assert_eq!(loaded.cert_der(), f.ca.cert_der());

    let client = loaded
        .issue_client("ttp", Validity::days(30), Some("client secret"))
        .expect("client");
    f.connect(&client, Some("client secret"), None, "localhost")
        .await
        .expect("handshake with the decrypted key");
    let (crt, key) = write_pair(f.dir.path(), "ttp", &client);
    let info = check_certified_key(&crt, &key, Some("client secret"), OffsetDateTime::now_utc())
        .expect("encrypted key matches");
    assert_eq!(info.subject_common_name.as_deref(), Some("ttp"));

    let error = load_private_key(&key, Some("guess")).expect_err("wrong password");
    assert!(matches!(error, PkiError::WrongPassword { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "{}: wrong password or not an encrypted PKCS#8 key",
            key.display()
        )
    );
    let error = load_private_key(&key, None).expect_err("no password");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the private key is encrypted and no password was given",
            key.display()
        )
    );
    let error = CertificateAuthority::load(&f.ca_path, &ca_key, Some("guess"))
        .expect_err("wrong CA password");
    assert!(!error.to_string().contains('\n'));
}

#[test]
fn sec1_ec_keys_load_too() {
    let f = federation();
    let client =
        f.ca.issue_client("dic3", Validity::days(30), None)
            .expect("client");
    let pkcs8 = pkcs8::der::SecretDocument::from_pem(&client.key_pem)
        .expect("PKCS#8 PEM")
        .1;
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_bytes()).expect("PKCS#8");
    // PKCS#8 wraps the SEC1 ECPrivateKey structure.
    let sec1 = pkcs8::der::pem::encode_string(
        "EC PRIVATE KEY",
        pkcs8::LineEnding::LF,
        info.private_key.as_bytes(),
    )
    .expect("PEM");
    let crt = write(f.dir.path(), "dic3.crt", &client.cert_pem);
    let key = write(f.dir.path(), "dic3.key", &sec1);
    assert!(matches!(
        load_private_key(&key, None).expect("SEC1 key"),
        dsf_pki::PrivateKeyDer::Sec1(_)
    ));
    check_certified_key(&crt, &key, None, OffsetDateTime::now_utc()).expect("SEC1 key matches");
}

#[test]
fn key_of_another_certificate_is_detected() {
    let f = federation();
    let client =
        f.ca.issue_client("dic1", Validity::days(30), None)
            .expect("client");
    let crt = write(f.dir.path(), "client.crt", &client.cert_pem);
    let error = check_certified_key(&crt, &f.server.1, None, OffsetDateTime::now_utc())
        .expect_err("mismatch");
    assert_eq!(
        error.to_string(),
        format!(
            "private key {} does not match certificate {}",
            f.server.1.display(),
            crt.display()
        )
    );
}

#[test]
fn expired_and_not_yet_valid_certificates_are_detected() {
    let f = federation();
    let at = |s: &str| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("date")
    };
    let expired =
        f.ca.issue_server(
            "localhost",
            &[],
            Validity {
                not_before: at("2025-01-01T00:00:00Z"),
                not_after: at("2026-01-01T00:00:00Z"),
            },
            None,
        )
        .expect("expired certificate");
    let (crt, key) = write_pair(f.dir.path(), "expired", &expired);
    let error =
        check_certified_key(&crt, &key, None, at("2026-06-01T00:00:00Z")).expect_err("expired");
    assert_eq!(
        error.to_string(),
        format!(
            "certificate {} expired on 2026-01-01T00:00:00Z",
            crt.display()
        )
    );
    let error = check_certified_key(&crt, &key, None, at("2024-06-01T00:00:00Z"))
        .expect_err("not yet valid");
    assert_eq!(
        error.to_string(),
        format!(
            "certificate {} is not valid before 2025-01-01T00:00:00Z",
            crt.display()
        )
    );
    check_certified_key(&crt, &key, None, at("2025-06-01T00:00:00Z")).expect("valid then");
}

#[test]
fn file_errors_are_one_line_naming_the_file() {
    let f = federation();
    let missing = f.dir.path().join("missing.crt");
    let error = load_certificates(&missing).expect_err("missing file");
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: ", missing.display()))
    );
    let garbage = write(f.dir.path(), "garbage.pem", "not a certificate\n");
    for error in [
        load_certificates(&garbage).expect_err("no certificate"),
        load_private_key(&garbage, None).expect_err("no key"),
        load_crls(&garbage).expect_err("no CRL"),
    ] {
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("{}: ", garbage.display())),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }
}

#[test]
fn thumbprint_is_lowercase_hex_sha512() {
    assert_eq!(
        thumbprint(b"abc"),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
    let f = federation();
    let der = &load_certificates(&f.ca_path).expect("CA")[0];
    let tp = thumbprint(der);
    assert_eq!(tp.len(), 128);
    assert!(tp.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
}
