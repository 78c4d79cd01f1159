//! The engine's schema and the FHIR store's share one database: each migrator keeps its own
//! history table, so either may run first and both run again on every start.

use dsf_bpmn::store::Store;
use dsf_bpmn_store::{Durability, SqlStore};
use dsf_fhir_store::StoreConfig;
use dsf_testkit::{Backend, TestDb, both_backends};
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The engine store on the FHIR store's own database (on SQLite, the same file).
async fn open_shared(db: &TestDb) -> SqlStore {
    match &db.config {
        StoreConfig::Sqlite { path } => SqlStore::open_sqlite(path, Durability::ProcessCrash)
            .await
            .expect("open engine store"),
        StoreConfig::Postgres { url } => SqlStore::open_postgres(url)
            .await
            .expect("open engine store"),
    }
}

async fn open_fhir(db: &TestDb) {
    dsf_fhir_store::Store::open(&db.config)
        .await
        .expect("open FHIR store");
}

/// The versions each history table records: (`_sqlx_migrations`, `bpmn_migrations`).
async fn histories(db: &TestDb) -> (Vec<i64>, Vec<i64>) {
    const FHIR: &str = "SELECT version FROM _sqlx_migrations ORDER BY version";
    const BPMN: &str = "SELECT version FROM bpmn_migrations ORDER BY version";
    match &db.config {
        StoreConfig::Sqlite { path } => {
            let url = format!("sqlite://{}", path.display());
            let mut c = SqliteConnection::connect(&url).await.expect("connect");
            let fhir = sqlx::query_scalar(FHIR).fetch_all(&mut c).await;
            let bpmn = sqlx::query_scalar(BPMN).fetch_all(&mut c).await;
            (fhir.expect("FHIR history"), bpmn.expect("engine history"))
        }
        StoreConfig::Postgres { url } => {
            let mut c = PgConnection::connect(url).await.expect("connect");
            let fhir = sqlx::query_scalar(FHIR).fetch_all(&mut c).await;
            let bpmn = sqlx::query_scalar(BPMN).fetch_all(&mut c).await;
            (fhir.expect("FHIR history"), bpmn.expect("engine history"))
        }
    }
}

async fn both_schemas_migrate_one_database_in_either_order(backend: Backend) {
    let fhir_first = TestDb::new(backend).await;
    open_fhir(&fhir_first).await;
    open_shared(&fhir_first).await;

    let engine_first = TestDb::new(backend).await;
    open_shared(&engine_first).await;
    open_fhir(&engine_first).await;

    for db in [&fhir_first, &engine_first] {
        // both migrators run again, as on every start, and the engine store works
        open_fhir(db).await;
        let store = open_shared(db).await;
        assert!(store.load_definitions().await.expect("read").is_empty());
        assert_eq!(histories(db).await, (vec![1], vec![1, 2]));
    }
}

both_backends!(both_schemas_migrate_one_database_in_either_order);
