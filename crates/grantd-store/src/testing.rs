//! Fresh, migrated databases for tests (cargo feature `testing`).
//!
//! - [`TestDb::sqlite`]: a new file in the system temp directory, deleted on drop.
//! - [`TestDb::postgres`]: a new database on the server named by `TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`), copied from a migrated template database
//!   and dropped on drop. The template is named after a hash of `migrations/postgres`, so a
//!   changed schema gets a new template; it is built once, under an advisory lock, so any
//!   number of test processes can start at once.
//!
//! A database that cannot be reached is a panic with instructions, never a skipped test.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::sql_types::BigInt;
use diesel::{ExpressionMethods, QueryDsl, TextExpressionMethods};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::OnceCell;

use crate::tls::{PgConnector, redact};
use crate::{Backend, Store, StoreOptions};

/// The server used when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory-lock key for building the template ("grantdt1").
const TEMPLATE_LOCK: i64 = 0x6772_616e_7464_7431;

/// The migrated template of this process's schema, built or found once per process.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

diesel::table! {
    pg_database (datname) {
        datname -> Text,
    }
}

/// A fresh, migrated database; `url` is ready for [`Store::connect`]. Dropping it deletes the
/// database (Postgres: `DROP DATABASE … WITH (FORCE)`, which also ends connections still open).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    File(PathBuf),
    Database { server: String, name: String },
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{n}_{nanos:08x}", std::process::id())
}

impl TestDb {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A new SQLite file in the temp directory, migrated.
    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("grantd-test-{}.db", unique_suffix()));
        let url = format!("sqlite://{}", path.display());
        let db = TestDb {
            url,
            backend: Backend::Sqlite,
            cleanup: Cleanup::File(path),
        };
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cannot create the test SQLite file {}: {e}", db.url));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("cannot migrate the test SQLite file: {e}"));
        db
    }

    /// A new Postgres database copied from the migrated template.
    pub async fn postgres() -> TestDb {
        let server = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let template = TEMPLATE
            .get_or_init(|| ensure_template(&server))
            .await
            .clone();
        let name = format!("grantd_test_{}", unique_suffix());
        let mut admin = admin_connect(&server).await;
        let create = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
        execute_retrying(&mut admin, &create).await;
        TestDb {
            url: with_database(&server, &name),
            backend: Backend::Postgres,
            cleanup: Cleanup::Database { server, name },
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Database { server, name } => {
                // Drop may run inside an async test: do the async work on a thread of its own,
                // and wait for it so the database is gone when the test ends.
                let server = server.clone();
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(async {
                        let connector =
                            PgConnector::from_url(&server).map_err(|e| e.to_string())?;
                        let mut admin = connector.connect().await.map_err(|e| e.to_string())?;
                        admin.batch_execute(&sql).await.map_err(|e| e.to_string())
                    })
                })
                .join();
                match dropped {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("warning: cannot drop test database {name}: {e}"),
                    Err(_) => eprintln!("warning: dropping test database {name} panicked"),
                }
            }
        }
    }
}

async fn admin_connect(server: &str) -> AsyncPgConnection {
    let connector = PgConnector::from_url(server)
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is not usable: {e}"));
    connector.connect().await.unwrap_or_else(|e| {
        panic!(
            "cannot reach Postgres at {} (set TEST_DATABASE_URL, or start the local server: \
             pg_ctlcluster --skip-systemctl-redirect 15 main start): {e}",
            redact(server)
        )
    })
}

/// Runs a CREATE/ALTER DATABASE, retrying while another session briefly holds the source
/// database (a just-closed connection whose backend has not exited yet).
async fn execute_retrying(conn: &mut AsyncPgConnection, sql: &str) {
    let mut attempt = 0;
    loop {
        match conn.batch_execute(sql).await {
            Ok(()) => return,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("test database setup failed ({sql}): {e}"),
        }
    }
}

/// Finds or builds the template for the current migrations. Built under a temporary name and
/// renamed when complete, so a crash never leaves a half-migrated template behind.
async fn ensure_template(server: &str) -> String {
    let template = format!("grantd_tpl_{}", env!("GRANTD_POSTGRES_MIGRATIONS_HASH"));
    let mut admin = admin_connect(server).await;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK)
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot take the template lock: {e}"));
    let exists: i64 = pg_database::table
        .filter(pg_database::datname.eq(&template))
        .count()
        .get_result(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot list databases: {e}"));
    if exists == 0 {
        // Leftovers of crashed builds: nobody else builds while we hold the lock.
        let stale: Vec<String> = pg_database::table
            .select(pg_database::datname)
            .filter(pg_database::datname.like("grantd\\_tpl\\_%\\_build\\_%"))
            .load(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot list databases: {e}"));
        for name in stale {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            execute_retrying(&mut admin, &drop).await;
        }
        let build = format!("{template}_build_{}", unique_suffix());
        execute_retrying(&mut admin, &format!("CREATE DATABASE \"{build}\"")).await;
        {
            let store = Store::connect(&with_database(server, &build), StoreOptions::default())
                .await
                .unwrap_or_else(|e| panic!("cannot connect to the template being built: {e}"));
            store
                .migrate()
                .await
                .unwrap_or_else(|e| panic!("cannot migrate the template: {e}"));
        }
        execute_retrying(
            &mut admin,
            &format!("ALTER DATABASE \"{build}\" RENAME TO \"{template}\""),
        )
        .await;
        // Nobody may connect to the template: a connection would block every copy.
        execute_retrying(
            &mut admin,
            &format!("ALTER DATABASE \"{template}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
        )
        .await;
    }
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK)
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot release the template lock: {e}"));
    template
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
