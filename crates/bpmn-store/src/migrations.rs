//! The embedded schema migrations.
//!
//! They are recorded in `bpmn_migrations` rather than sqlx's default `_sqlx_migrations`, which the
//! FHIR store uses: each migrator sees only its own history, so both run on one PostgreSQL
//! database in either order and neither reports the other's versions as unknown.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The table recording which of these migrations ran.
pub(crate) const TABLE: &str = "bpmn_migrations";

/// The migrations for SQLite (`postgres == false`) or PostgreSQL.
pub(crate) fn migrator(postgres: bool) -> Migrator {
    let sql = if postgres {
        include_str!("../migrations/postgres/0001_bpmn.sql")
    } else {
        include_str!("../migrations/sqlite/0001_bpmn.sql")
    };
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        Cow::Borrowed("process definitions and instances"),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name(TABLE);
    migrator
}
