//! Test support shared by the workspace's integration tests: fresh SQLite and PostgreSQL
//! databases, so that every store and server test runs against both backends.

pub mod federation;
pub mod fixtures;
pub mod secure;

use std::path::PathBuf;

use dsf_fhir_server::{AuthMode, ServerConfig};
use dsf_fhir_store::{Store, StoreConfig};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The PostgreSQL server tests use: `DSF_TEST_POSTGRES_URL`, default the local `test` database.
pub fn postgres_admin_url() -> String {
    std::env::var("DSF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database for one test; SQLite files are removed when it is dropped.
pub struct TestDb {
    /// How to open it.
    pub config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Dropping may happen inside a runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&postgres_admin_url()).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(AssertSqlSafe(drop)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// The backends every store and server test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// A new database on the test PostgreSQL server.
    Postgres,
}

impl TestDb {
    /// A fresh, empty database on `backend`.
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached: the tests never skip a backend silently.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path: PathBuf = dir.path().join("fhir.db");
                TestDb {
                    config: StoreConfig::Sqlite { path },
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for the tests and not reachable at {admin}: {e}. \
                         Start it or set DSF_TEST_POSTGRES_URL."
                    )
                });
                let name = format!("dsf_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDb {
                    config: StoreConfig::Postgres {
                        url: format!("{base}/{name}"),
                    },
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }
}

/// A listener on a free loopback port, and the port.
pub(crate) async fn loopback_listener() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    (listener, port)
}

/// A FHIR server on a loopback port, on its own fresh database, stopped when dropped.
pub struct TestServer {
    /// The server's base URL, e.g. `http://127.0.0.1:41234/fhir`.
    pub base_url: String,
    /// The store the server uses, for checks behind the API.
    pub store: Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: TestDb,
}

impl TestServer {
    /// Starts a development (plain HTTP) server on `backend`; `configure` may change its settings.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let db = TestDb::new(backend).await;
        let store = Store::open(&db.config).await.expect("open store");
        let (listener, port) = loopback_listener().await;
        let base_url = format!("http://127.0.0.1:{port}/fhir");
        let mut config = ServerConfig::new(&base_url).expect("server config");
        // REST semantics are tested with minimal resources; validation is tested on secure servers.
        config.validation = false;
        configure(&mut config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server_store = store.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            let _ = dsf_fhir_server::serve(
                listener,
                server_store,
                config,
                AuthMode::DevInsecure,
                shutdown,
            )
            .await;
        });
        TestServer {
            base_url,
            store,
            shutdown: Some(tx),
            _db: db,
        }
    }

    /// Starts a development server with default settings.
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, |_| {}).await
    }

    /// `{base}/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs each listed `async fn name(backend: Backend)` as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Postgres).await })*
        }
    };
}
