//! Embedded migrations (`migrations/postgres`, `migrations/sqlite`) and the readiness probe.
//!
//! diesel's migration harness is synchronous: diesel-async's wrapper blocks with
//! `block_in_place`, so these functions must run on the store's multi-thread runtime (they
//! do: `Store::run`), never on a caller's current-thread runtime.

use diesel::IntoSql;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::{AsyncMigrationHarness, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use grantd_ports::StoreError;

use crate::db::{Db, with_read};
use crate::error::{Error, classify};

pub(crate) const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Advisory-lock key held while migrating Postgres ("grantdm1"), so replicas starting together
/// take turns instead of racing on the same DDL.
const MIGRATION_LOCK: i64 = 0x6772_616e_7464_6d31;

fn migration_error(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
    match e.downcast::<diesel::result::Error>() {
        Ok(db_error) => {
            let classified = classify(*db_error);
            tracing::error!(error = %classified, "migration failed");
            match classified {
                e @ StoreError::Unavailable(_) => Error(e),
                _ => Error(StoreError::Internal(grantd_ports::Internal::Migration)),
            }
        }
        Err(other) => {
            tracing::error!(error = %other, "migration failed");
            Error(StoreError::Internal(grantd_ports::Internal::Migration))
        }
    }
}

pub(crate) async fn run_pending(db: Db) -> Result<Vec<String>, Error> {
    let versions = match &db {
        Db::Pg(pg) => {
            // A connection of its own, not from the pool: closing it is what releases the
            // session-level advisory lock, whatever happens in between.
            let mut conn = pg.connector.connect_unbounded().await?;
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK)
                .execute(&mut conn)
                .await?;
            let mut harness = AsyncMigrationHarness::new(conn);
            harness
                .run_pending_migrations(POSTGRES)
                .map_err(migration_error)?
                .iter()
                .map(ToString::to_string)
                .collect()
        }
        Db::Sqlite(lite) => {
            // The writer: migrations are writes like any other.
            let conn = lite.writer_pooled().await?;
            let mut harness = AsyncMigrationHarness::new(conn);
            harness
                .run_pending_migrations(SQLITE)
                .map_err(migration_error)?
                .iter()
                .map(ToString::to_string)
                .collect()
        }
    };
    if !Vec::is_empty(&versions) {
        tracing::info!(?versions, "applied migrations");
    }
    Ok(versions)
}

/// Reverts every migration (tests check that `down.sql` undoes `up.sql`).
#[cfg(feature = "testing")]
pub(crate) async fn revert_all(db: Db) -> Result<Vec<String>, Error> {
    let versions: Vec<String> = match &db {
        Db::Pg(pg) => {
            let conn = pg.connector.connect_unbounded().await?;
            AsyncMigrationHarness::new(conn)
                .revert_all_migrations(POSTGRES)
                .map_err(migration_error)?
                .iter()
                .map(ToString::to_string)
                .collect()
        }
        Db::Sqlite(lite) => {
            let conn = lite.writer_pooled().await?;
            AsyncMigrationHarness::new(conn)
                .revert_all_migrations(SQLITE)
                .map_err(migration_error)?
                .iter()
                .map(ToString::to_string)
                .collect()
        }
    };
    Ok(versions)
}

pub(crate) async fn ping(db: &Db) -> Result<(), Error> {
    // `SELECT 1` is an INT4 on Postgres: read it as Integer, not BigInt.
    let one: i32 = with_read!(db, |c| {
        diesel::select(1_i32.into_sql::<Integer>())
            .get_result(c)
            .await?
    });
    if one == 1 {
        Ok(())
    } else {
        Err(crate::error::internal(grantd_ports::Internal::WrongAnswer))
    }
}
