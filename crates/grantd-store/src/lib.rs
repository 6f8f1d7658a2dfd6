//! grantd's storage adapter: the four store ports ([`ClientStore`], [`UserStore`],
//! [`SessionStore`], [`SigningKeyStore`]) on PostgreSQL or SQLite, chosen by the URL scheme.
//!
//! # How the two backends share code
//!
//! diesel-async has no `MultiConnection` in a released version, and queries written once as
//! functions generic over `C: AsyncConnection` need a `where` clause naming each query's full
//! type. So the backend is an enum over the pools (`Db::Pg` / `Db::Sqlite`), and three small
//! macros (`with_read!`, `with_write!`, `with_tx!`) expand each query body once per arm with
//! the connection bound to its concrete type: every query is written once and type-checked
//! against both backends. One `schema.rs` serves both, because every column uses a portable
//! SQL type (TEXT, BOOLEAN, TIMESTAMP, BIGINT, BYTEA/BLOB); the DDL differs (collations,
//! identity columns), hence two migration folders. Row structs are private and convert to and
//! from domain types; no diesel type crosses the ports.
//!
//! # Runtime
//!
//! The store owns a small multi-thread tokio runtime, and every database operation runs there
//! as a task the caller awaits. This makes the store indifferent to the caller's runtime:
//! - the migration harness blocks (`block_in_place`), which panics on a current-thread runtime
//!   such as actix-web's workers or `#[tokio::test]`;
//! - diesel-async's SQLite wrapper also calls `block_in_place` when a query future is dropped
//!   mid-flight (a client hanging up on actix drops the handler future); as a task on the
//!   store's runtime, an operation is never dropped half-way, so neither a panic nor a
//!   transaction left open on a pooled connection can happen;
//! - Postgres connection tasks live on a runtime that lives as long as the pool.
//!
//! The cost is one hop between runtimes per operation (a few microseconds).
//!
//! # Writes
//!
//! - SQLite: all writes of the process go through one writer connection (a pool of size one;
//!   writers queue in it in order) while readers use their own pool in parallel (WAL). So
//!   "database is locked" cannot come from inside the process; `busy_timeout` covers other
//!   processes. Transactions start with `BEGIN IMMEDIATE`.
//! - Sessions (the one write per issued token) are group-committed: concurrent
//!   [`SessionStore::insert_session`] calls are gathered for up to
//!   [`StoreOptions::batch_window`] (or [`StoreOptions::max_batch`] rows) and written as one
//!   multi-row `INSERT` (one commit); each caller's future resolves after that commit. If the
//!   batch fails because of one row (say a duplicate jti), its rows are retried one by one so
//!   each caller gets its own answer. See `batch.rs`.
//! - Signing-key bootstrap and rotation are serialized across replicas with
//!   `pg_advisory_xact_lock` on Postgres and the write lock of `BEGIN IMMEDIATE` on SQLite.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use grantd_domain::ScopeCatalog;
use grantd_ports::StoreError;

mod batch;
pub mod cache;
pub mod changes;
mod clients;
mod db;
mod error;
mod federation;
mod health;
mod keys;
mod migrate;
mod rows;
mod schema;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod tools;
mod transaction;
mod users;

pub use db::sqlite_path;
pub use grantd_ports::{ClientStore, SessionStore, SigningKeyStore, UserStore};
pub use transaction::StoreTransaction;

use crate::db::{Db, Target};
use crate::error::Error;

/// `url` with its credentials masked (the user info's password, and query parameters such as
/// `password` or `sslpassword`), for logs and messages.
pub fn redact_url(url: &str) -> String {
    tls::redact(url)
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Tuning knobs. `Default` suits a single grantd instance.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Postgres: pool size. SQLite: number of reader connections (plus one writer).
    pub max_connections: usize,
    /// How long an operation waits for a connection (or for one to be opened) before failing
    /// with `StoreError::Unavailable`.
    pub acquire_timeout: Duration,
    /// SQLite `busy_timeout`: how long a statement waits for another process's lock.
    pub sqlite_busy_timeout: Duration,
    /// Group commit: how long the session writer waits for more rows after the first one of a
    /// batch. Zero means "whatever is already queued".
    pub batch_window: Duration,
    /// Group commit: the most session rows written in one statement (at most 2000).
    pub max_batch: usize,
    /// Postgres: how many session batches may be committing at once, each on its own pooled
    /// connection (SQLite always has one: its single writer).
    pub max_inflight_batches: usize,
    /// Worker threads of the store's own runtime.
    pub runtime_threads: usize,
    /// SQLite: how often the session writer checkpoints the WAL itself between two batches so
    /// that the WAL rewinds under steady load (see `batch.rs`). Zero: after every batch.
    pub sqlite_writer_checkpoint_every: Duration,
    /// Postgres: `statement_timeout` of every pooled connection, so a statement stuck behind a
    /// lock or a dead server fails (→ `StoreError::Unavailable`) instead of holding a request.
    /// `None` leaves the server's setting. Migrations run without it.
    pub statement_timeout: Option<Duration>,
    /// Postgres: idle time before TCP keepalive probes start (then 3 probes a third of it
    /// apart; unacknowledged data fails the connection after twice it), so a silently dead
    /// network is noticed.
    pub tcp_keepalive: Duration,
    /// The scope catalog in force: a client's stored scopes are parsed against it once, when
    /// the row is read (names it does not know are kept apart, see `StoredScopes`). Default:
    /// the built-in catalog.
    pub catalog: Arc<ScopeCatalog>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            batch_window: Duration::from_millis(1),
            max_batch: 256,
            max_inflight_batches: 2,
            runtime_threads: 2,
            sqlite_writer_checkpoint_every: Duration::from_secs(1),
            statement_timeout: Some(Duration::from_secs(5)),
            tcp_keepalive: Duration::from_secs(30),
            catalog: Arc::new(ScopeCatalog::builtin()),
        }
    }
}

impl StoreOptions {
    /// Clamps values that would break the store (a pool of zero, a batch over the bind-parameter
    /// limits) into range.
    fn normalized(mut self) -> Self {
        self.max_connections = self.max_connections.max(1);
        self.max_batch = self.max_batch.clamp(1, 2000);
        self.max_inflight_batches = self.max_inflight_batches.max(1);
        self.runtime_threads = self.runtime_threads.max(1);
        self
    }

    /// How long a caller waits for one operation (connection checkout included) before it
    /// gets `StoreError::Unavailable`: the acquire timeout, plus the statement timeout (the
    /// acquire timeout again when none is set), plus one second for the server's own
    /// cancellation to arrive first. `statement_timeout` is enforced by the server, so it cannot
    /// bound a server that accepted the connection and stopped answering (stopped process,
    /// black-holed network behind a proxy): this does. The operation itself is not cut short,
    /// it finishes (or fails) on the store's runtime; only the caller stops waiting.
    pub(crate) fn operation_deadline(&self) -> Duration {
        self.acquire_timeout
            .saturating_add(self.statement_timeout.unwrap_or(self.acquire_timeout))
            .saturating_add(Duration::from_secs(1))
    }
}

/// A [`PoolStatus`] from a deadpool pool's `status()` (whose type diesel-async does not
/// re-export).
macro_rules! pool_status {
    ($name:expr, $pool:expr) => {{
        let s = $pool.status();
        PoolStatus {
            pool: $name,
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }};
}

/// One connection pool's state (deadpool's `status()`), for the pool gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    /// "pg" (Postgres), "sqlite_read" or "sqlite_write".
    pub pool: &'static str,
    pub max_size: usize,
    /// Connections open.
    pub size: usize,
    /// Connections open and idle.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl PoolStatus {
    /// Connections checked out.
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.available)
    }
}

/// Counters of the session group commit, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Multi-row inserts attempted (one commit each).
    pub session_batches: u64,
    /// Session rows submitted through them.
    pub session_rows: u64,
    /// Batches that failed because of a row and were retried row by row.
    pub session_batch_fallbacks: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub batches: AtomicU64,
    pub rows: AtomicU64,
    pub fallbacks: AtomicU64,
}

/// What the store's tasks share.
pub(crate) struct Shared {
    pub db: Db,
    pub stats: Stats,
    pub health: health::WriteHealth,
}

/// The store: every port, on one database. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Set in a store bound to an open transaction (`transaction.rs`): every operation runs
    /// on that transaction's connection.
    tx: Option<db::TxConn>,
}

struct Inner {
    backend: Backend,
    shared: Arc<Shared>,
    sessions: batch::SessionWriter,
    catalog: Arc<ScopeCatalog>,
    /// See `StoreOptions::operation_deadline`.
    deadline: Duration,
    /// Dropped last: shutting it down ends the writer and connection tasks.
    runtime: StoreRuntime,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The runtime shuts down in the background, and with it the tasks that still hold the
        // pools; the SQLite checkpointer must not wait for that (the process may exit first).
        if let Db::Sqlite(lite) = &self.shared.db {
            lite.checkpointer.finish();
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

/// The store's own runtime (see the crate docs).
struct StoreRuntime {
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StoreRuntime {
    fn new(threads: usize) -> Result<StoreRuntime, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("grantd-store")
            .enable_all()
            .build()
            .map_err(|_| StoreError::Internal(grantd_ports::Internal::Runtime))?;
        Ok(StoreRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        // A plain drop blocks, and panics when done from async code (where the last `Store`
        // clone usually goes).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Store {
    /// Connects to `url`: `postgres://…` / `postgresql://…` (TLS with `sslmode=require`, see
    /// below) or `sqlite://path` / a bare path (the file is created if missing; WAL,
    /// `busy_timeout`, foreign keys on, `synchronous=NORMAL`). One connection is opened before
    /// returning, so a wrong URL fails here.
    ///
    /// Postgres URL options handled by grantd: `sslmode` (`disable`, the default, or
    /// `require` / `verify-ca` / `verify-full`, which all verify the certificate and host name)
    /// and `sslrootcert=/path/ca.pem` (trust these roots instead of the Mozilla set).
    pub async fn connect(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        let target = Target::parse(url)?;
        let opts = opts.normalized();
        let runtime = StoreRuntime::new(opts.runtime_threads)?;
        let open_opts = opts.clone();
        let db = runtime
            .handle
            .spawn(async move { Db::open(target, &open_opts).await })
            .await
            .map_err(|_| StoreError::Internal(grantd_ports::Internal::StartupTask))??;
        let backend = db.backend();
        let shared = Arc::new(Shared {
            db,
            stats: Stats::default(),
            health: health::WriteHealth::default(),
        });
        let sessions = batch::SessionWriter::start(&runtime.handle, shared.clone(), &opts);
        tracing::debug!(?backend, "store connected");
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                shared,
                sessions,
                catalog: opts.catalog.clone(),
                deadline: opts.operation_deadline(),
                runtime,
            }),
            tx: None,
        })
    }

    /// Applies pending migrations; returns the versions applied (empty when up to date). Safe
    /// to call from any runtime, and from several replicas at once on Postgres (they take
    /// turns on an advisory lock).
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.run_unbounded(migrate::run_pending).await
    }

    /// Readiness: the session writer is running, the database answers a trivial query, and
    /// writes succeed: no write has failed for the database's sake since the last success, and
    /// a probe row could be written (at most once a second; see `health.rs`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        if self.inner.sessions.is_closed() {
            return Err(StoreError::Unavailable(
                grantd_ports::Unavailable::WriterStopped,
            ));
        }
        self.run(|db| async move { migrate::ping(&db).await })
            .await?;
        let health = &self.inner.shared.health;
        health.check(|| self.run(health::probe)).await
    }

    /// Writes the probe row now: whether this database takes writes at all. `grantd serve`
    /// calls it at start-up, so a read-only database is refused before any client sees it.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let outcome = self.run(health::probe).await;
        self.inner
            .shared
            .health
            .record(outcome.as_ref().map(|_| ()));
        outcome
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The catalog stored scopes are parsed against.
    pub(crate) fn catalog(&self) -> Arc<ScopeCatalog> {
        Arc::clone(&self.inner.catalog)
    }

    /// The connection pools' state now (cheap: a few atomic reads per pool).
    pub fn pool_status(&self) -> Vec<PoolStatus> {
        match &self.inner.shared.db {
            Db::Pg(pg) => vec![pool_status!("pg", pg.pool)],
            Db::Sqlite(s) => vec![
                pool_status!("sqlite_read", s.readers),
                pool_status!("sqlite_write", s.writer),
            ],
        }
    }

    /// Group-commit counters since connect.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.shared.stats;
        StoreStats {
            session_batches: s.batches.load(Ordering::Relaxed),
            session_rows: s.rows.load(Ordering::Relaxed),
            session_batch_fallbacks: s.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// Runs a database operation as a task on the store's runtime and waits for it, at most
    /// `StoreOptions::operation_deadline`. The task runs to completion even if the caller stops
    /// waiting.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        let deadline = self.inner.deadline;
        let task = op(self.db());
        let waited = tokio::time::timeout(deadline, self.run_unbounded_task(task)).await;
        waited.unwrap_or_else(|_| {
            let e = StoreError::Unavailable(grantd_ports::Unavailable::NoAnswer {
                millis: deadline.as_millis(),
            });
            self.inner.shared.health.record(Err(&e));
            error::count(&e);
            Err(e)
        })
    }

    /// `run` without the deadline: migrations and bulk tools, which may legitimately take
    /// longer than any one request should wait.
    async fn run_unbounded<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_unbounded_task(op(self.db())).await
    }

    /// The database the next operation runs on: bound to this store's transaction, if any.
    fn db(&self) -> Db {
        match &self.tx {
            Some(tx) => self.inner.shared.db.bound_to(tx),
            None => self.inner.shared.db.clone(),
        }
    }

    async fn run_unbounded_task<T, Fut>(&self, task: Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        match self.inner.runtime.handle.spawn(task).await {
            Ok(Err(Error(e))) => {
                // Any operation finding the database unavailable takes readiness down until a
                // write (or the readiness probe) succeeds again.
                self.inner.shared.health.record(Err(&e));
                error::count(&e);
                Err(e)
            }
            Ok(Ok(value)) => Ok(value),
            Err(e) if e.is_panic() => {
                tracing::error!("a store task panicked");
                Err(StoreError::Internal(grantd_ports::Internal::TaskPanicked))
            }
            Err(_) => Err(StoreError::Unavailable(
                grantd_ports::Unavailable::ShuttingDown,
            )),
        }
    }
}

#[cfg(feature = "testing")]
impl Store {
    /// Reverts every migration (each `down.sql`, newest first). For tests of the migrations.
    pub async fn revert_all_migrations(&self) -> Result<Vec<String>, StoreError> {
        self.run_unbounded(migrate::revert_all).await
    }
}
