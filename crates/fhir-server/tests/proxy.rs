//! Behind a TLS-terminating reverse proxy: the client certificate arrives in `X-ClientCert`,
//! accepted only from configured proxy addresses and only when it chains to the trusted CA.

use std::net::IpAddr;

use dsf_fhir::Resource;
use dsf_fhir_server::allow_list::bundle::Federation;
use dsf_fhir_server::identity::ProxyAuth;
use dsf_fhir_server::state::AppState;
use dsf_fhir_server::{AuthMode, ServerConfig, init_bundle, tls};
use dsf_fhir_store::Store;
use dsf_pki::IssuedCertificate;
use dsf_testkit::secure::{PARENT, TestPki, member};
use dsf_testkit::{Backend, TestDb, both_backends};
use reqwest::StatusCode;

/// A plain-HTTP server of dic1 trusting `proxies`; returns its metadata URL.
async fn proxied_server(
    backend: Backend,
    pki: &TestPki,
    dic1: &IssuedCertificate,
    proxies: Vec<IpAddr>,
) -> (String, TestDb, tokio::sync::oneshot::Sender<()>) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.config).await.expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/fhir", listener.local_addr().expect("address"));
    let mut config = ServerConfig::new(&base).expect("config");
    config.organization_identifier = "dic1.dsf.test".to_owned();
    let verifier =
        tls::client_verifier(vec![pki.ca.cert_der().clone()], Vec::new()).expect("verifier");
    let auth = AuthMode::Proxy(ProxyAuth {
        header: http::HeaderName::from_static("x-clientcert"),
        proxies,
        verifier,
    });
    let state = AppState::new(store, config, auth);
    let allow_list = Federation {
        parent_identifier: PARENT.to_owned(),
        parent_name: "Test network".to_owned(),
        members: vec![member("dic1", dic1, &["DIC"])],
    }
    .to_bundle();
    init_bundle::load(
        &state,
        Resource::from_json_value(allow_list).expect("bundle"),
    )
    .await
    .expect("allow list loads");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(dsf_fhir_server::serve_state(listener, state, async {
        let _ = stopped.await;
    }));
    (format!("{base}/metadata"), db, stop)
}

/// A certificate as Apache forwards it: the PEM with its line breaks replaced by spaces.
fn forwarded(certificate: &IssuedCertificate) -> String {
    certificate.cert_pem.trim_end().replace('\n', " ")
}

async fn status(url: &str, header: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new().get(url);
    if let Some(value) = header {
        request = request.header("x-clientcert", value);
    }
    request.send().await.expect("request sent").status()
}

async fn forwarded_certificates(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = TestPki::new();
    let dic1 = pki.client_certificate("dic1");
    let (url, _db, _stop) =
        proxied_server(backend, &pki, &dic1, vec!["127.0.0.1".parse().expect("ip")]).await;

    // With spaces for line breaks, and URL-encoded.
    assert_eq!(status(&url, Some(&forwarded(&dic1))).await, StatusCode::OK);
    let encoded: String =
        percent_encoding::utf8_percent_encode(&dic1.cert_pem, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    assert_eq!(status(&url, Some(&encoded)).await, StatusCode::OK);

    let stranger = forwarded(&TestPki::new().client_certificate("dic1"));
    let unknown = forwarded(&pki.client_certificate("dic9"));
    for (why, header) in [
        ("no header", None),
        ("not PEM", Some("hello")),
        (
            "broken base64",
            Some("-----BEGIN CERTIFICATE----- !!!! -----END CERTIFICATE-----"),
        ),
        ("unterminated PEM", Some("-----BEGIN CERTIFICATE----- MIIB")),
        ("bad URL encoding", Some("%ff%fe")),
        ("another CA", Some(stranger.as_str())),
        ("not in the allow list", Some(unknown.as_str())),
    ] {
        assert_eq!(
            status(&url, header).await,
            StatusCode::UNAUTHORIZED,
            "{why}"
        );
    }
}

async fn only_from_proxies(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = TestPki::new();
    let dic1 = pki.client_certificate("dic1");
    let (url, _db, _stop) =
        proxied_server(backend, &pki, &dic1, vec!["10.0.0.5".parse().expect("ip")]).await;
    assert_eq!(
        status(&url, Some(&forwarded(&dic1))).await,
        StatusCode::UNAUTHORIZED,
        "a valid certificate from an address that is not a proxy"
    );
}

both_backends!(forwarded_certificates, only_from_proxies);
