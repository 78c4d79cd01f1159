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
        [
            include_str!("../migrations/postgres/0001_bpmn.sql"),
            include_str!("../migrations/postgres/0002_start_timers.sql"),
        ]
    } else {
        [
            include_str!("../migrations/sqlite/0001_bpmn.sql"),
            include_str!("../migrations/sqlite/0002_start_timers.sql"),
        ]
    };
    let names = ["process definitions and instances", "timer start events"];
    let migrations = (1..)
        .zip(names.into_iter().zip(sql))
        .map(|(version, (name, sql))| {
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(TABLE);
    migrator
}
