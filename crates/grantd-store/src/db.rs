//! The two backends behind one enum, the pools, and the macros that write each query once.
//!
//! `Db` holds either a Postgres pool or SQLite's pair of pools (many readers, one writer). The
//! `with_read!`, `with_write!` and `with_tx!` macros expand a query body once per arm, with the
//! connection bound to the concrete type, so the body is type-checked against both backends
//! and written once.

use std::sync::Arc;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError as ManagerError, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use grantd_ports::{Internal, InvalidInput, StoreError, Unavailable, UrlProblem};

use crate::error::{Error, classify_connection, internal};
use crate::tls::{PgConnector, PgTuning};
use crate::{Backend, StoreOptions};

pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// The file of a SQLite database URL (`sqlite://path`, `sqlite:path` or a bare path), or `None`
/// for a Postgres URL. Only the scheme is taken off: [`Store::connect`](crate::Store::connect)
/// refuses the paths it cannot open.
pub fn sqlite_path(url: &str) -> Option<&str> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    Some(path.strip_prefix("sqlite:").unwrap_or(path))
}

/// Where to connect, parsed from the URL.
#[derive(Debug)]
pub(crate) enum Target {
    /// Boxed: the parsed tokio-postgres configuration is large.
    Postgres(Box<PgConnector>),
    Sqlite {
        path: String,
    },
}

impl Target {
    /// `postgres://` / `postgresql://` → Postgres; `sqlite://path` or a bare path → SQLite.
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        let Some(path) = sqlite_path(url) else {
            return PgConnector::from_url(url).map(|c| Target::Postgres(Box::new(c)));
        };
        if path.is_empty() {
            return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                UrlProblem::EmptySqlitePath,
            )));
        }
        if path.contains("://") {
            return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                UrlProblem::UnsupportedScheme,
            )));
        }
        if path == ":memory:" || path.contains("mode=memory") {
            // Each pooled connection would get its own empty database.
            return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                UrlProblem::InMemorySqlite,
            )));
        }
        if path.contains('?') || path.contains('\0') {
            return Err(StoreError::Invalid(InvalidInput::DatabaseUrl(
                UrlProblem::SqliteOptions,
            )));
        }
        Ok(Target::Sqlite {
            path: path.to_owned(),
        })
    }
}

#[derive(Clone)]
pub(crate) struct PgDb {
    pub pool: Pool<AsyncPgConnection>,
    pub timeout: Duration,
    pub connector: Arc<PgConnector>,
    /// Set in a store bound to an open transaction ([`crate::Store::begin`]): every operation
    /// runs on this connection instead of a pooled one.
    pub pinned: Option<Pinned<AsyncPgConnection>>,
}

#[derive(Clone)]
pub(crate) struct SqliteDb {
    pub readers: Pool<SqliteConn>,
    /// Size 1: every write in this process goes through this one connection, so writers queue
    /// in the pool (fairly, in order) instead of failing with "database is locked".
    pub writer: Pool<SqliteConn>,
    pub timeout: Duration,
    /// Stops the background checkpointer when the last clone goes; paces the session writer's
    /// own checkpoints.
    pub checkpointer: Arc<Checkpointer>,
    /// Set in a store bound to an open transaction: the writer connection that holds it,
    /// used for reads too (so they see the transaction's own writes).
    pub pinned: Option<Pinned<SqliteConn>>,
}

/// The connection of a transaction held open across several operations
/// ([`crate::Store::begin`]). Operations of the bound store take turns on it.
pub(crate) type Pinned<C> = Arc<tokio::sync::Mutex<Object<C>>>;

/// A connection for one operation: checked out of a pool (`O`, a pool object), or the pinned
/// connection of an open transaction. Dereferences to the connection.
pub(crate) enum Conn<O> {
    Pooled(O),
    Pinned(tokio::sync::OwnedMutexGuard<O>),
}

impl<O: std::ops::Deref> std::ops::Deref for Conn<O> {
    type Target = O::Target;
    fn deref(&self) -> &O::Target {
        match self {
            Conn::Pooled(obj) => obj,
            Conn::Pinned(guard) => guard,
        }
    }
}

impl<O: std::ops::DerefMut> std::ops::DerefMut for Conn<O> {
    fn deref_mut(&mut self) -> &mut O::Target {
        match self {
            Conn::Pooled(obj) => obj,
            Conn::Pinned(guard) => guard,
        }
    }
}

/// The pinned connection, waiting at most `timeout` for the operation before it to finish.
async fn pinned<O>(pin: &Arc<tokio::sync::Mutex<O>>, timeout: Duration) -> Result<Conn<O>, Error> {
    tokio::time::timeout(timeout, Arc::clone(pin).lock_owned())
        .await
        .map(Conn::Pinned)
        .map_err(|_| Error(StoreError::Unavailable(Unavailable::PoolTimeout)))
}

/// WAL checkpoints off the write path.
///
/// With SQLite's automatic checkpoints the connection whose commit crosses the threshold copies
/// the WAL into the database file and fsyncs it *inside that commit*: every few seconds one
/// group commit (and every token waiting on it) stalls for tens to hundreds of milliseconds.
/// Instead the writer has `wal_autocheckpoint = 0` and this thread runs a PASSIVE checkpoint on
/// its own connection every 200 ms: it never blocks the writer, and the WAL is restarted from
/// the beginning once everything in it has been copied.
pub(crate) struct Checkpointer {
    stop: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// When the session writer last checkpointed itself, and how often it does (`batch.rs`).
    writer_last: std::sync::Mutex<std::time::Instant>,
    writer_every: Duration,
}

impl Checkpointer {
    /// A checkpointer that does nothing (before the real one starts).
    fn idle() -> Checkpointer {
        Checkpointer {
            stop: std::sync::Mutex::new(None),
            thread: std::sync::Mutex::new(None),
            writer_last: std::sync::Mutex::new(std::time::Instant::now()),
            writer_every: Duration::MAX,
        }
    }

    fn start(path: &str, busy_ms: u128, writer_every: Duration) -> Result<Checkpointer, Error> {
        use diesel::{Connection, RunQueryDsl};
        let mut conn =
            SqliteConnection::establish(path).map_err(|_| internal(Internal::CheckpointOpen))?;
        diesel::sql_query(format!("PRAGMA busy_timeout = {busy_ms}"))
            .execute(&mut conn)
            .map_err(|_| internal(Internal::CheckpointConfigure))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("grantd-checkpoint".into())
            .spawn(move || {
                // Wakes every 200 ms, or at once when the store goes away.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(200))
                {
                    if let Err(e) =
                        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn)
                    {
                        tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
                    }
                }
                // Hand the next process a database without a WAL to replay: copy everything
                // and truncate the WAL file (the store is closing, nobody else writes).
                if let Err(e) =
                    diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn)
                {
                    tracing::warn!(error = %e, "final SQLite WAL checkpoint failed");
                }
            })
            .map_err(|_| internal(Internal::CheckpointThread))?;
        Ok(Checkpointer {
            stop: std::sync::Mutex::new(Some(stop)),
            thread: std::sync::Mutex::new(Some(thread)),
            writer_last: std::sync::Mutex::new(std::time::Instant::now()),
            writer_every,
        })
    }
}

impl Checkpointer {
    /// Whether the session writer's own checkpoint is due; if so, the interval restarts now.
    pub(crate) fn writer_checkpoint_due(&self) -> bool {
        let Ok(mut last) = self.writer_last.lock() else {
            return false;
        };
        if last.elapsed() < self.writer_every {
            return false;
        }
        *last = std::time::Instant::now();
        true
    }

    /// Stops the thread and waits for its final checkpoint. Called when the last `Store`
    /// clone goes, so a process that exits right after (every CLI command) leaves a
    /// checkpointed database behind. Idempotent.
    pub(crate) fn finish(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            drop(stop.take());
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.finish();
    }
}

#[derive(Clone)]
pub(crate) enum Db {
    Pg(PgDb),
    Sqlite(SqliteDb),
}

impl Db {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Db::Pg(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Builds the pools and checks that a connection can be made (fail fast at start-up).
    /// Runs on the store's runtime, so connection tasks live there.
    pub(crate) async fn open(target: Target, opts: &StoreOptions) -> Result<Db, Error> {
        match target {
            Target::Postgres(mut connector) => {
                connector.tune(PgTuning {
                    statement_timeout: opts.statement_timeout,
                    tcp_keepalive: opts.tcp_keepalive,
                    connect_timeout: opts.acquire_timeout,
                });
                let connector: Arc<PgConnector> = Arc::from(connector);
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                // `Verified` would add a `SELECT 1` round trip to every checkout; a dead
                // connection instead fails its first query (→ Unavailable) and is dropped.
                config.recycling_method = RecyclingMethod::Fast;
                let setup = connector.clone();
                config.custom_setup = Box::new(move |_url| {
                    let setup = setup.clone();
                    Box::pin(async move { setup.connect().await })
                });
                let manager =
                    AsyncDieselConnectionManager::new_with_config(connector.url(), config);
                let pool = Pool::builder(manager)
                    .max_size(opts.max_connections)
                    .build()
                    .map_err(|_| internal(Internal::PoolBuild))?;
                let db = PgDb {
                    pool,
                    timeout: opts.acquire_timeout,
                    connector,
                    pinned: None,
                };
                drop(db.get().await?);
                Ok(Db::Pg(db))
            }
            Target::Sqlite { path } => {
                let busy_ms = opts.sqlite_busy_timeout.as_millis();
                // wal_autocheckpoint = 0: checkpoints run off the write path (`Checkpointer`).
                // cache_size: 16 MiB for the writer keeps the hot right-edge index pages of the
                // session table in memory.
                let writer_pragmas = format!(
                    "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -16384;"
                );
                // query_only: a write routed to a reader by mistake fails loudly instead of
                // competing with the writer for the lock.
                let reader_pragmas = format!(
                    "PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; \
                     PRAGMA query_only = ON;"
                );
                owner_only(&path);
                let writer = sqlite_pool(&path, writer_pragmas, 1)?;
                let readers = sqlite_pool(&path, reader_pragmas, opts.max_connections)?;
                let mut db = SqliteDb {
                    readers,
                    writer,
                    timeout: opts.acquire_timeout,
                    checkpointer: Arc::new(Checkpointer::idle()),
                    pinned: None,
                };
                // The writer first: it creates the file and switches it to WAL.
                drop(db.write().await?);
                drop(db.read().await?);
                db.checkpointer = Arc::new(Checkpointer::start(
                    &path,
                    busy_ms,
                    opts.sqlite_writer_checkpoint_every,
                )?);
                Ok(Db::Sqlite(db))
            }
        }
    }
}

/// Makes the database file readable by its owner alone: it holds secret hashes, client IPs and
/// user agents. A missing file is created empty with mode 0600 before SQLite opens it, and
/// SQLite gives the `-wal` and `-shm` files it creates the database file's mode. An existing
/// file (or `-wal`/`-shm`) open to group or others is narrowed to 0600. Failures are logged,
/// not fatal: opening the database reports a file that cannot be used.
#[cfg(unix)]
fn owner_only(path: &str) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    if created.is_ok() {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => tracing::warn!(file, "database file was readable by others: now 0600"),
                Err(e) => tracing::warn!(file, error = %e, "cannot make the database file 0600"),
            }
        }
    }
}

#[cfg(not(unix))]
fn owner_only(_path: &str) {}

fn sqlite_pool(path: &str, pragmas: String, size: usize) -> Result<Pool<SqliteConn>, Error> {
    let mut config = ManagerConfig::<SqliteConn>::default();
    config.recycling_method = RecyclingMethod::Fast;
    let pragmas = Arc::new(pragmas);
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let pragmas = pragmas.clone();
        Box::pin(async move {
            let mut conn = SqliteConn::establish(&url).await?;
            conn.batch_execute(&pragmas)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path, config);
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|_| internal(Internal::PoolBuild))
}

/// Pool checkout with the configured timeout. The timeout covers creating a connection too,
/// so an unreachable server cannot hang a request.
fn checked_out<T>(
    r: Result<Result<T, PoolError>, tokio::time::error::Elapsed>,
) -> Result<T, Error> {
    match r {
        Err(_) | Ok(Err(PoolError::Timeout(_))) => {
            Err(Error(StoreError::Unavailable(Unavailable::PoolTimeout)))
        }
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(PoolError::Backend(ManagerError::ConnectionError(e)))) => {
            Err(Error(classify_connection(e)))
        }
        Ok(Err(PoolError::Backend(ManagerError::QueryError(e)))) => Err(Error::from(e)),
        Ok(Err(PoolError::Closed)) => Err(Error(StoreError::Unavailable(Unavailable::PoolClosed))),
        Ok(Err(_)) => Err(internal(Internal::Pool)),
    }
}

impl PgDb {
    /// A connection: the pinned one in a transaction-bound store, else a pooled one.
    pub(crate) async fn get(&self) -> Result<Conn<Object<AsyncPgConnection>>, Error> {
        match &self.pinned {
            Some(pin) => pinned(pin, self.timeout).await,
            None => self.pooled().await.map(Conn::Pooled),
        }
    }

    pub(crate) async fn pooled(&self) -> Result<Object<AsyncPgConnection>, Error> {
        checked_out(tokio::time::timeout(self.timeout, self.pool.get()).await)
    }
}

impl SqliteDb {
    /// A reading connection; in a transaction-bound store, the transaction's own.
    pub(crate) async fn read(&self) -> Result<Conn<Object<SqliteConn>>, Error> {
        match &self.pinned {
            Some(pin) => pinned(pin, self.timeout).await,
            None => checked_out(tokio::time::timeout(self.timeout, self.readers.get()).await)
                .map(Conn::Pooled),
        }
    }

    /// The writer; in a transaction-bound store, the transaction's own connection.
    pub(crate) async fn write(&self) -> Result<Conn<Object<SqliteConn>>, Error> {
        match &self.pinned {
            Some(pin) => pinned(pin, self.timeout).await,
            None => self.writer_pooled().await.map(Conn::Pooled),
        }
    }

    pub(crate) async fn writer_pooled(&self) -> Result<Object<SqliteConn>, Error> {
        checked_out(tokio::time::timeout(self.timeout, self.writer.get()).await)
    }
}

/// `BEGIN IMMEDIATE`: takes SQLite's write lock up front, so a transaction that reads before
/// it writes waits for another process's writer (busy_timeout) instead of failing when it
/// tries to upgrade. Inside an open transaction (a transaction-bound store) a `SAVEPOINT`
/// instead, so the nested unit can be rolled back alone. Goes through diesel's transaction
/// manager so its bookkeeping (and the pool's broken-connection check) stays right.
pub(crate) async fn sqlite_begin_immediate(conn: &mut SqliteConn) -> Result<(), Error> {
    conn.spawn_blocking(|c| {
        let status =
            <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(c);
        if status.transaction_depth()?.is_some() {
            <AnsiTransactionManager as TransactionManager<SqliteConnection>>::begin_transaction(c)
        } else {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
    })
    .await
    .map_err(Error::from)
}

/// Commits on `Ok`, rolls back on `Err`, and returns the body's result (or the commit error).
pub(crate) async fn sqlite_finish<T>(
    conn: &mut SqliteConn,
    result: Result<T, Error>,
) -> Result<T, Error> {
    match result {
        Ok(value) => {
            conn.spawn_blocking(|c| {
                <AnsiTransactionManager as TransactionManager<SqliteConnection>>::commit_transaction(c)
            })
            .await?;
            Ok(value)
        }
        Err(e) => {
            let rolled_back = conn
                .spawn_blocking(|c| {
                    <AnsiTransactionManager as TransactionManager<SqliteConnection>>::rollback_transaction(c)
                })
                .await;
            if let Err(re) = rolled_back {
                // The connection is now marked broken and the pool will drop it.
                tracing::warn!(error = %re, "SQLite rollback failed");
            }
            Err(e)
        }
    }
}

/// Expands `$body` once per backend with `$c` bound to a connection of that backend's type
/// (`&mut AsyncPgConnection` or `&mut SqliteConn`): a pooled one on Postgres; on SQLite the one
/// `SqliteDb::$sqlite` hands out (`read`: the reader pool, `write`: the single writer).
/// Evaluates to the body's value. Use `?` inside for errors.
macro_rules! with_conn {
    ($db:expr, $sqlite:ident, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Pg(pg) => {
                let mut obj = pg.get().await?;
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut obj;
                $body
            }
            $crate::db::Db::Sqlite(lite) => {
                let mut obj = lite.$sqlite().await?;
                let $c: &mut $crate::db::SqliteConn = &mut obj;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to a reading connection; see `with_conn!`.
macro_rules! with_read {
    ($db:expr, |$c:ident| $body:expr) => {
        $crate::db::with_conn!($db, read, |$c| $body)
    };
}

/// Like `with_read!` but on a connection that may write: the pool on Postgres, the single
/// writer on SQLite.
macro_rules! with_write {
    ($db:expr, |$c:ident| $body:expr) => {
        $crate::db::with_conn!($db, write, |$c| $body)
    };
}

/// Runs `$body` (which evaluates to `Result<T, Error>`) in one transaction on a writing
/// connection: diesel-async's transaction on Postgres, `BEGIN IMMEDIATE` on SQLite's writer.
/// Commits on `Ok`, rolls back on `Err`; evaluates to the `Result`. In a transaction-bound
/// store the body runs in a savepoint of the open transaction instead (both backends).
macro_rules! with_tx {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Pg(pg) => {
                let mut obj = pg.get().await?;
                let conn: &mut ::diesel_async::AsyncPgConnection = &mut obj;
                ::diesel_async::AsyncConnection::transaction::<_, $crate::error::Error, _>(
                    conn,
                    async |$c| $body,
                )
                .await
            }
            $crate::db::Db::Sqlite(lite) => {
                let mut obj = lite.write().await?;
                let $c: &mut $crate::db::SqliteConn = &mut obj;
                $crate::db::sqlite_begin_immediate($c).await?;
                let result = async { $body }.await;
                $crate::db::sqlite_finish($c, result).await
            }
        }
    };
}

pub(crate) use {with_conn, with_read, with_tx, with_write};

/// The connection of an open transaction, by backend (see [`crate::Store::begin`]).
#[derive(Clone)]
pub(crate) enum TxConn {
    Pg(Pinned<AsyncPgConnection>),
    Sqlite(Pinned<SqliteConn>),
}

impl Db {
    /// This database with every operation bound to the open transaction `tx`.
    pub(crate) fn bound_to(&self, tx: &TxConn) -> Db {
        match (self, tx) {
            (Db::Pg(pg), TxConn::Pg(pin)) => Db::Pg(PgDb {
                pinned: Some(Arc::clone(pin)),
                ..pg.clone()
            }),
            (Db::Sqlite(lite), TxConn::Sqlite(pin)) => Db::Sqlite(SqliteDb {
                pinned: Some(Arc::clone(pin)),
                ..lite.clone()
            }),
            // A transaction is only ever begun on its own store's database.
            (db, _) => db.clone(),
        }
    }

    /// Opens a transaction on a connection of its own: a pooled one on Postgres, the writer
    /// (`BEGIN IMMEDIATE`: SQLite's write lock, held until commit or rollback) on SQLite.
    pub(crate) async fn begin(&self) -> Result<TxConn, Error> {
        match self {
            Db::Pg(pg) => {
                let mut obj = pg.pooled().await?;
                <diesel_async::AnsiTransactionManager as diesel_async::TransactionManager<
                    AsyncPgConnection,
                >>::begin_transaction(&mut obj)
                .await?;
                Ok(TxConn::Pg(Arc::new(tokio::sync::Mutex::new(obj))))
            }
            Db::Sqlite(lite) => {
                let mut obj = lite.writer_pooled().await?;
                sqlite_begin_immediate(&mut obj).await?;
                Ok(TxConn::Sqlite(Arc::new(tokio::sync::Mutex::new(obj))))
            }
        }
    }
}

impl TxConn {
    /// Commits (`commit`) or rolls back the transaction. Waits for an operation still running
    /// on it. A connection whose commit or rollback failed is left marked broken, and its pool
    /// drops it instead of reusing it inside a transaction.
    pub(crate) async fn finish(self, commit: bool) -> Result<(), Error> {
        use diesel_async::TransactionManager as _;
        match self {
            TxConn::Pg(pin) => {
                let mut c = pin.lock_owned().await;
                let conn: &mut AsyncPgConnection = &mut c;
                if commit {
                    diesel_async::AnsiTransactionManager::commit_transaction(conn).await?;
                } else {
                    diesel_async::AnsiTransactionManager::rollback_transaction(conn).await?;
                }
                Ok(())
            }
            TxConn::Sqlite(pin) => {
                let mut c = pin.lock_owned().await;
                let conn: &mut SqliteConn = &mut c;
                conn.spawn_blocking(move |c| {
                    if commit {
                        <AnsiTransactionManager as TransactionManager<SqliteConnection>>::commit_transaction(c)
                    } else {
                        <AnsiTransactionManager as TransactionManager<SqliteConnection>>::rollback_transaction(c)
                    }
                })
                .await?;
                Ok(())
            }
        }
    }
}
