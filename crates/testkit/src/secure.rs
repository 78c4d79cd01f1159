//! Secured servers for tests: a test certificate authority, FHIR servers on loopback that
//! require client certificates and know a federation's allow list, and HTTPS and websocket
//! clients holding a site's certificate.

use std::sync::Arc;

use dsf_fhir_server::allow_list::bundle::{Federation, Member};
use dsf_fhir_server::state::AppState;
use dsf_fhir_server::{AuthMode, ServerConfig, init_bundle, tls};
use dsf_fhir_store::Store;
use dsf_pki::{CertificateAuthority, IssuedCertificate, Validity};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateRevocationListDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// A websocket client connection.
pub type WebSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

use crate::{Backend, TestDb};

/// The parent organization of test federations.
pub const PARENT: &str = "net.dsf.test";

/// A certificate authority with a server certificate for `localhost` and `127.0.0.1`.
pub struct TestPki {
    /// The CA.
    pub ca: CertificateAuthority,
    server: IssuedCertificate,
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl TestPki {
    /// A new CA and server certificate.
    pub fn new() -> TestPki {
        let ca = CertificateAuthority::generate("DSF Test CA").expect("test CA");
        let server = ca
            .issue_server(
                "localhost",
                &["localhost".to_owned(), "127.0.0.1".to_owned()],
                Validity::days(2),
                None,
            )
            .expect("server certificate");
        TestPki { ca, server }
    }

    /// A client certificate for `name`, valid for two days.
    pub fn client_certificate(&self, name: &str) -> IssuedCertificate {
        self.ca
            .issue_client(name, Validity::days(2), None)
            .expect("client certificate")
    }

    /// A websocket connection to `url` (`wss://...`) trusting this CA and presenting
    /// `certificate`, over HTTP/1.1.
    pub async fn websocket(
        &self,
        certificate: &IssuedCertificate,
        url: &str,
    ) -> Result<WebSocket, tokio_tungstenite::tungstenite::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca.cert_der().clone())
            .expect("CA certificate");
        let key =
            PrivateKeyDer::from_pem_slice(certificate.key_pem.as_bytes()).expect("client key");
        let config = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![certificate.der.clone()], key)
            .expect("client certificate");
        let connector = Connector::Rustls(Arc::new(config));
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(connector))
                .await?;
        Ok(socket)
    }

    /// An HTTPS client trusting this CA, presenting `certificate` if given.
    pub fn client(&self, certificate: Option<&IssuedCertificate>) -> reqwest::Client {
        let identity = certificate.map(|c| (c.cert_pem.as_str(), c.key_pem.as_str()));
        https_client(&self.ca.cert_pem(), identity)
    }
}

/// An HTTPS client trusting `ca_pem` only, presenting the certificate and key `identity` (PEM)
/// if given.
pub fn https_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    // The process's TLS uses ring; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA certificate");
    let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
    if let Some((certificate, key)) = identity {
        let pem = format!("{certificate}{key}");
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("HTTPS client")
}

/// Sends a request with an optional FHIR JSON body, asking for JSON; returns the status and the
/// body (`Null` when it is not JSON).
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    const JSON: &str = "application/fhir+json";
    let mut request = client.request(method, url).header("accept", JSON);
    if let Some(body) = body {
        request = request.header("content-type", JSON).body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A member of the test federation: `<name>.dsf.test` with the certificate's thumbprint.
pub fn member(name: &str, certificate: &IssuedCertificate, roles: &[&str]) -> Member {
    Member {
        identifier: format!("{name}.dsf.test"),
        name: name.to_owned(),
        thumbprints: vec![dsf_pki::thumbprint(&certificate.der)],
        endpoint_identifier: format!("{name}.dsf.test"),
        address: format!("https://{name}.dsf.test/fhir"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

/// A FHIR server with mutual TLS on a loopback port, seeded with an allow list; stopped when
/// dropped.
pub struct SecureServer {
    /// `https://localhost:<port>/fhir`
    pub base_url: String,
    /// The store behind it.
    pub store: Store,
    /// The server's state (allow list cache and settings), as its handlers see it.
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    db: Arc<TestDb>,
}

impl SecureServer {
    /// Starts a server of organization `local` (an identifier value) knowing `members`, whose
    /// client certificates must chain to `pki`'s CA and not be revoked by `crl` (PEM). It has the
    /// DSF profiles a site loads at start-up; validation of writes is off unless `configure`
    /// ([`SecureServer::start_with`]) sets `validation`.
    pub async fn start(
        backend: Backend,
        pki: &TestPki,
        local: &str,
        members: &[Member],
        crl: Option<&str>,
    ) -> SecureServer {
        SecureServer::start_with(backend, pki, local, members, crl, |_| {}).await
    }

    /// [`SecureServer::start`], with `configure` changing the server's settings (local users,
    /// page size, ...).
    pub async fn start_with(
        backend: Backend,
        pki: &TestPki,
        local: &str,
        members: &[Member],
        crl: Option<&str>,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> SecureServer {
        let db = Arc::new(TestDb::new(backend).await);
        let listener = crate::loopback_listener().await;
        SecureServer::start_on(db, listener, pki, local, members, crl, configure).await
    }

    /// A second server process of the same site on this server's database (PostgreSQL: several
    /// processes behind a load balancer).
    pub async fn start_beside(
        &self,
        pki: &TestPki,
        local: &str,
        members: &[Member],
    ) -> SecureServer {
        let listener = crate::loopback_listener().await;
        SecureServer::start_on(self.db.clone(), listener, pki, local, members, None, |_| {}).await
    }

    /// Starts a server on `db` that accepts on `listener` (bound to the given loopback port).
    pub(crate) async fn start_on(
        db: Arc<TestDb>,
        (listener, port): (tokio::net::TcpListener, u16),
        pki: &TestPki,
        local: &str,
        members: &[Member],
        crl: Option<&str>,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> SecureServer {
        let store = Store::open(&db.config).await.expect("open store");
        let base_url = format!("https://localhost:{port}/fhir");
        let mut config = ServerConfig::new(&base_url).expect("server config");
        config.organization_identifier = local.to_owned();
        // Suites of single servers test the REST API, security and subscriptions with minimal
        // resources; profile validation is on for federations and for whoever asks for it.
        config.validation = false;
        configure(&mut config);
        let crls = crl
            .map(|pem| {
                CertificateRevocationListDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("CRL")
            })
            .unwrap_or_default();
        let verifier =
            tls::client_verifier(vec![pki.ca.cert_der().clone()], crls).expect("verifier");
        let key = PrivateKeyDer::from_pem_slice(pki.server.key_pem.as_bytes()).expect("server key");
        let tls_config =
            tls::server_config(vec![pki.server.der.clone()], key, verifier).expect("TLS config");
        let state = AppState::new(store.clone(), config, AuthMode::MutualTls(tls_config));
        dsf_fhir_server::startup::load_conformance(&state)
            .await
            .expect("conformance resources load");
        let allow_list = Federation {
            parent_identifier: PARENT.to_owned(),
            parent_name: "Test network".to_owned(),
            members: members.to_vec(),
        }
        .to_bundle();
        let resource = dsf_fhir::Resource::from_json_value(allow_list).expect("bundle");
        init_bundle::load(&state, resource)
            .await
            .expect("allow list loads");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            let _ = dsf_fhir_server::serve_state(listener, served, shutdown).await;
        });
        SecureServer {
            base_url,
            store,
            state,
            shutdown: Some(tx),
            db,
        }
    }

    /// Stops the server: it accepts no more connections.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.base_url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The database, to start another server on.
    pub(crate) fn shared_db(&self) -> Arc<TestDb> {
        self.db.clone()
    }

    /// How the server's database is opened (a site's process engine may share it).
    pub fn database(&self) -> &dsf_fhir_store::StoreConfig {
        &self.db.config
    }

    /// `wss://localhost:<port>/fhir/ws`
    pub fn websocket_url(&self) -> String {
        format!("{}/ws", self.base_url.replacen("https://", "wss://", 1))
    }

    /// `{base}/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }
}

impl Drop for SecureServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `POST`s `body` with [`call`].
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    call(client, reqwest::Method::POST, url, Some(body)).await
}
