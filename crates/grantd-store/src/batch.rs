//! Group commit for session rows: the one write per issued token.
//!
//! A commit costs an fsync (Postgres WAL flush, SQLite WAL write), so one commit per token caps
//! throughput at a few thousand tokens per second on ordinary disks. Instead,
//! `insert_session` hands its row to a collector task and waits. The collector takes the first
//! row, gathers more for up to `batch_window` or until `max_batch` rows, waits for a free
//! commit slot (one on SQLite, its single writer; `max_inflight_batches` on Postgres) while
//! still taking whatever arrives, and writes the batch as ONE multi-row `INSERT`: one statement,
//! one implicit transaction, one commit. Every caller's future resolves only after that commit,
//! so "written durably before the token is handed out" still holds.
//!
//! While a batch commits, the next one fills: under load batches grow by themselves, and at low
//! load a row waits at most `batch_window`.
//!
//! If a batch fails because of one row (a duplicate id or jti), the statement wrote nothing;
//! its rows are then inserted one by one so each caller gets its own answer. Any other failure
//! (database down) is every caller's answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Nullable, Text, Timestamp};
use grantd_ports::StoreError;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::db::Db;
use crate::error::{Error, is_row_specific};
use crate::rows::SessionRow;
use crate::schema::sessions;
use crate::{Shared, StoreOptions};

struct Pending {
    row: SessionRow,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The callers' end of the collector.
pub(crate) struct SessionWriter {
    tx: mpsc::Sender<Pending>,
    /// How long a caller waits for its row's commit, queueing included (see
    /// `StoreOptions::operation_deadline`).
    deadline: std::time::Duration,
}

impl SessionWriter {
    /// Starts the collector on `runtime`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        shared: Arc<Shared>,
        opts: &StoreOptions,
    ) -> SessionWriter {
        // Bounded: when the database falls behind, callers wait here (back-pressure) instead of
        // piling up rows in memory.
        let (tx, rx) = mpsc::channel(opts.max_batch.saturating_mul(4));
        let slots = match shared.db {
            Db::Pg(_) => opts.max_inflight_batches,
            Db::Sqlite(_) => 1,
        };
        let collector = Collector {
            rx,
            shared,
            window: opts.batch_window,
            max_batch: opts.max_batch,
            slots: Arc::new(Semaphore::new(slots)),
        };
        runtime.spawn(collector.run());
        SessionWriter {
            tx,
            deadline: opts.operation_deadline(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues `row` and waits until the batch holding it is committed (or failed).
    /// Past the deadline the caller gets `Unavailable` and its token is never handed out; the
    /// row may still be committed later (a row without a token, never the reverse).
    pub(crate) async fn insert(&self, row: SessionRow) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable(grantd_ports::Unavailable::WriterStopped);
        let wait = async {
            let (reply, answer) = oneshot::channel();
            self.tx
                .send(Pending { row, reply })
                .await
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        };
        let not_committed = StoreError::Unavailable(grantd_ports::Unavailable::NotCommitted {
            millis: self.deadline.as_millis(),
        });
        tokio::time::timeout(self.deadline, wait)
            .await
            .unwrap_or(Err(not_committed))
    }
}

struct Collector {
    rx: mpsc::Receiver<Pending>,
    shared: Arc<Shared>,
    window: std::time::Duration,
    max_batch: usize,
    slots: Arc<Semaphore>,
}

impl Collector {
    async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut batch = Vec::with_capacity(self.max_batch.min(64));
            batch.push(first);
            let deadline = tokio::time::sleep(self.window);
            tokio::pin!(deadline);
            while batch.len() < self.max_batch {
                tokio::select! {
                    biased;
                    next = self.rx.recv() => match next {
                        Some(p) => batch.push(p),
                        None => break,
                    },
                    () = &mut deadline => break,
                }
            }
            // Waiting for a commit slot is time the batch can keep filling.
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                break;
            };
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let shared = self.shared.clone();
            tokio::spawn(async move {
                flush(&shared, batch).await;
                writer_checkpoint(&shared).await;
                drop(slot);
            });
        }
    }
}

/// SQLite only: lets the WAL start over from its beginning.
///
/// The background checkpointer (`db.rs`) copies WAL frames into the database without ever
/// blocking the writer, but SQLite restarts the WAL only when a writer begins while *every*
/// frame has been copied, which under a steady stream of batches never happens: the WAL file
/// then grows without bound, every frame lands on a fresh page that the
/// kernel zeroes first, and a large share of the CPU goes to `memset` in ext4. So every
/// `StoreOptions::sqlite_writer_checkpoint_every`, after a batch has been answered and before the
/// next starts, the writer connection runs a PASSIVE checkpoint itself: it copies the few
/// frames the background thread has not reached yet, and the writer's next transaction rewinds
/// the WAL. The file stays small and hot in the page cache. Each of these checkpoints costs the
/// writer an fsync, so a short interval taxes every batch; docs/benchmarks.md has the figures
/// behind the one-second default.
async fn writer_checkpoint(shared: &Shared) {
    let Db::Sqlite(lite) = &shared.db else {
        return;
    };
    if !lite.checkpointer.writer_checkpoint_due() {
        return;
    }
    let Ok(mut conn) = lite.write().await else {
        return;
    };
    let done = conn
        .spawn_blocking(|c| {
            diesel::RunQueryDsl::execute(diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)"), c)
        })
        .await;
    if let Err(e) = done {
        tracing::debug!(error = %e, "writer-side WAL checkpoint did not run");
    }
}

async fn flush(shared: &Shared, batch: Vec<Pending>) {
    let stats = &shared.stats;
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
    let (rows, replies): (Vec<SessionRow>, Vec<_>) =
        batch.into_iter().map(|p| (p.row, p.reply)).unzip();
    let rows = Arc::new(rows);
    // Through the `metrics` facade: a no-op unless the binary installed a recorder.
    metrics::histogram!("grantd_session_batch_rows").record(rows.len() as f64);
    let started = std::time::Instant::now();
    let outcome = insert(&shared.db, rows.clone()).await;
    metrics::histogram!("grantd_session_commit_seconds").record(started.elapsed().as_secs_f64());
    if let Err(e) = &outcome {
        crate::error::count(&e.0);
    }
    shared
        .health
        .record(outcome.as_ref().map(|_| ()).map_err(|e| &e.0));
    match outcome {
        Ok(()) => {
            for reply in replies {
                // A caller that stopped waiting has nothing to be told.
                let _ = reply.send(Ok(()));
            }
        }
        Err(Error(e)) if rows.len() > 1 && is_row_specific(&e) => {
            stats.fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                rows = rows.len(),
                "session batch rejected a row; retrying one by one"
            );
            let rows = Arc::unwrap_or_clone(rows);
            for (row, reply) in rows.into_iter().zip(replies) {
                let result = insert(&shared.db, Arc::new(vec![row]))
                    .await
                    .map_err(StoreError::from);
                let _ = reply.send(result);
            }
        }
        Err(Error(e)) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// One statement per batch.
///
/// Written per backend, the one exception to "each query once". Postgres: `INSERT … SELECT *
/// FROM unnest($1, …, $19)` ([`PgBatch`]). SQLite: `INSERT INTO sessions (…) VALUES (…), (…)`;
/// diesel implements SQLite's multi-row INSERT only for synchronous connections, so it runs on
/// the writer's underlying connection in the blocking pool.
async fn insert(db: &Db, rows: Arc<Vec<SessionRow>>) -> Result<(), Error> {
    match db {
        Db::Pg(pg) => {
            let batch = PgBatch::from_rows(&rows);
            let mut conn = pg.get().await?;
            diesel_async::RunQueryDsl::execute(batch, &mut *conn).await?;
        }
        Db::Sqlite(lite) => {
            let mut conn = lite.write().await?;
            conn.spawn_blocking(move |c| {
                diesel::RunQueryDsl::execute(diesel::insert_into(sessions::table).values(&*rows), c)
            })
            .await?;
        }
    }
    Ok(())
}

/// A batch of session rows for Postgres, one array per column:
/// `INSERT INTO sessions (…) SELECT * FROM unnest($1::text[], …, $19::text[])`.
///
/// A `VALUES` list is new SQL text for every row count, so Postgres parses and plans each batch
/// from scratch (and diesel never caches it). This statement's text is the same for any batch
/// size: it is prepared once per connection and only executed afterwards.
struct PgBatch<'a> {
    id: Vec<&'a str>,
    user_id: Vec<&'a str>,
    client_id: Vec<&'a str>,
    source: Vec<&'a str>,
    jti: Vec<&'a str>,
    client_ip: Vec<Option<&'a str>>,
    user_agent: Vec<Option<&'a str>>,
    accept_language: Vec<Option<&'a str>>,
    referer: Vec<Option<&'a str>>,
    created_at: Vec<chrono::NaiveDateTime>,
    expires_at: Vec<chrono::NaiveDateTime>,
    revoked_at: Vec<Option<chrono::NaiveDateTime>>,
    revoke_reason: Vec<Option<&'a str>>,
    dpop_jkt: Vec<Option<&'a str>>,
    dpop_proof_jti: Vec<Option<&'a str>>,
    client_assertion_jti: Vec<Option<&'a str>>,
    auth_method: Vec<Option<&'a str>>,
    federated_issuer: Vec<Option<&'a str>>,
    federated_subject: Vec<Option<&'a str>>,
}

/// One static id whatever the borrow: diesel-async caches the prepared statement under it.
impl QueryId for PgBatch<'_> {
    type QueryId = PgBatch<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<'a> PgBatch<'a> {
    /// Column arrays borrowing the rows' strings (no copy per row).
    fn from_rows(rows: &'a [SessionRow]) -> PgBatch<'a> {
        PgBatch {
            id: rows.iter().map(|r| r.id.as_str()).collect(),
            user_id: rows.iter().map(|r| r.user_id.as_str()).collect(),
            client_id: rows.iter().map(|r| r.client_id.as_str()).collect(),
            source: rows.iter().map(|r| r.source.as_str()).collect(),
            jti: rows.iter().map(|r| r.jti.as_str()).collect(),
            client_ip: rows.iter().map(|r| r.client_ip.as_deref()).collect(),
            user_agent: rows.iter().map(|r| r.user_agent.as_deref()).collect(),
            accept_language: rows.iter().map(|r| r.accept_language.as_deref()).collect(),
            referer: rows.iter().map(|r| r.referer.as_deref()).collect(),
            created_at: rows.iter().map(|r| r.created_at).collect(),
            expires_at: rows.iter().map(|r| r.expires_at).collect(),
            revoked_at: rows.iter().map(|r| r.revoked_at).collect(),
            revoke_reason: rows.iter().map(|r| r.revoke_reason.as_deref()).collect(),
            dpop_jkt: rows.iter().map(|r| r.dpop_jkt.as_deref()).collect(),
            dpop_proof_jti: rows.iter().map(|r| r.dpop_proof_jti.as_deref()).collect(),
            client_assertion_jti: rows
                .iter()
                .map(|r| r.client_assertion_jti.as_deref())
                .collect(),
            auth_method: rows.iter().map(|r| r.auth_method.as_deref()).collect(),
            federated_issuer: rows.iter().map(|r| r.federated_issuer.as_deref()).collect(),
            federated_subject: rows
                .iter()
                .map(|r| r.federated_subject.as_deref())
                .collect(),
        }
    }
}

impl QueryFragment<Pg> for PgBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO sessions (id, user_id, client_id, source, jti, client_ip, user_agent, \
             accept_language, referer, created_at, expires_at, revoked_at, revoke_reason, dpop_jkt, \
             dpop_proof_jti, client_assertion_jti, auth_method, federated_issuer, \
             federated_subject) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.client_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.source)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.jti)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.client_ip)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.user_agent)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.accept_language)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.referer)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.expires_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Timestamp>>, _>(&self.revoked_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.revoke_reason)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.dpop_jkt)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.dpop_proof_jti)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.client_assertion_jti)?;
        for column in [
            &self.auth_method,
            &self.federated_issuer,
            &self.federated_subject,
        ] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(column)?;
        }
        out.push_sql(")");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u32, ip: Option<&str>) -> SessionRow {
        let t = chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(i), 0)
            .expect("time")
            .naive_utc();
        SessionRow {
            id: format!("sess_{i:032}"),
            user_id: "u".into(),
            client_id: "c".into(),
            source: "oauth".into(),
            jti: format!("jti-{i}"),
            client_ip: ip.map(str::to_owned),
            user_agent: None,
            accept_language: None,
            referer: None,
            created_at: t,
            expires_at: t,
            revoked_at: None,
            revoke_reason: None,
            dpop_jkt: None,
            dpop_proof_jti: None,
            client_assertion_jti: None,
            auth_method: None,
            federated_issuer: None,
            federated_subject: None,
        }
    }

    fn sql(rows: &[SessionRow]) -> String {
        let batch = PgBatch::from_rows(rows);
        let text = diesel::debug_query::<Pg, _>(&batch).to_string();
        text.split(" -- binds:").next().expect("sql").to_owned()
    }

    /// The point of `PgBatch`: one SQL text (so one prepared statement) for every batch size,
    /// and diesel may cache it.
    #[test]
    fn postgres_batches_share_one_statement() {
        let one = sql(&[row(1, None)]);
        let many = sql(&(0..37)
            .map(|i| row(i, Some("192.0.2.1")))
            .collect::<Vec<_>>());
        assert_eq!(one, many);
        assert_eq!(one.matches('$').count(), 19, "{one}");
        assert!(one.contains("unnest("), "{one}");
        const { assert!(<PgBatch as QueryId>::HAS_STATIC_QUERY_ID) };
        let rows = [row(1, None), row(2, Some("192.0.2.1"))];
        let batch = PgBatch::from_rows(&rows);
        assert_eq!(
            batch.id,
            [
                "sess_00000000000000000000000000000001",
                "sess_00000000000000000000000000000002"
            ]
        );
        assert_eq!(batch.client_ip, [None, Some("192.0.2.1")]);
    }
}
