//! Change notifications: how a write to clients, client secrets or users made by any process
//! (this server, the CLI, another replica, plain SQL) reaches every running server's cache in
//! a fraction of a second, instead of after the cache's TTL.
//!
//! - Postgres: triggers on the three tables `pg_notify('grantd_changes', 'client:ID' |
//!   'user:ID')` (migration `…000014_change_notifications`); NOTIFY is transactional, so it is
//!   delivered at commit and never for a rolled-back change. The server holds one dedicated
//!   connection that LISTENs and hands each change to the sink. When that connection is lost
//!   (or its periodic check fails) every entry is dropped, since notifications may have been
//!   missed, and it reconnects with exponential backoff; once listening again, everything is
//!   dropped once more (changes made while it was away).
//! - SQLite: the same triggers bump a one-row counter (`change_marker`), which the server reads
//!   on a reader connection every [`POLL_EVERY`]; when it moved, every client and owner entry is
//!   dropped (admin changes are rare; re-reading each live client once costs little).
//!   `PRAGMA data_version` would be cheaper still but also moves for this server's own session
//!   inserts (they commit on another connection), which would empty the cache constantly.
//!
//! The cache's TTL stays as the bound for a notification that never arrives.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use grantd_domain::{ClientId, UserId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::Store;
use crate::db::{Db, SqliteDb};
use crate::error::Error;
use crate::tls::PgConnector;

/// The Postgres channel the triggers notify on.
const CHANNEL: &str = "grantd_changes";

/// How often SQLite's change marker is read: well inside the 250 ms an admin change may take to
/// reach the servers, and one single-row read per tick.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// How often the idle listening connection is checked (a dead network shows no error by itself).
const PG_CHECK_EVERY: Duration = Duration::from_secs(10);
const PG_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a change made stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A client, or one of its secrets, changed (or was created).
    Client(ClientId),
    /// A user changed (or was created).
    User(UserId),
    /// Unknown: changes may have been missed, drop everything.
    All,
}

impl Change {
    /// Reads a notification payload; anything unexpected means "drop everything".
    pub fn from_payload(payload: &str) -> Change {
        match payload.split_once(':') {
            Some(("client", id)) => ClientId::parse(id).map_or(Change::All, Change::Client),
            Some(("user", id)) => UserId::parse(id).map_or(Change::All, Change::User),
            _ => Change::All,
        }
    }
}

type Sink = Arc<dyn Fn(Change) + Send + Sync>;

/// Watching for changes; dropping it stops the watch (so a server that stops lets its store go).
#[derive(Debug)]
pub struct ChangeWatch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Store {
    /// Calls `sink` with each change any process makes to clients, client secrets and users,
    /// until the returned handle is dropped. Runs on the store's runtime.
    pub fn watch_changes(&self, sink: impl Fn(Change) + Send + Sync + 'static) -> ChangeWatch {
        let sink: Sink = Arc::new(sink);
        let task = match &self.inner.shared.db {
            Db::Pg(pg) => self
                .inner
                .runtime
                .handle
                .spawn(listen(pg.connector.clone(), sink)),
            Db::Sqlite(lite) => self.inner.runtime.handle.spawn(poll(lite.clone(), sink)),
        };
        ChangeWatch { task }
    }
}

/// Postgres: LISTEN on a dedicated connection, forever, reconnecting with backoff.
async fn listen(connector: Arc<PgConnector>, sink: Sink) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match listen_once(&connector, &sink).await {
            // It was listening: retry soon.
            Ok(()) => backoff = BACKOFF_MIN,
            Err(e) => tracing::warn!(
                error = %e, retry_in = ?backoff,
                "cannot open the change-notification connection"
            ),
        }
        sink(Change::All);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects, then listens until the connection is lost.
async fn listen_once(connector: &PgConnector, sink: &Sink) -> Result<(), tokio_postgres::Error> {
    let url = connector.url();
    match connector.tls() {
        None => {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
            session(client, conn, sink).await;
        }
        Some(config) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**config).clone());
            let (client, conn) = tokio_postgres::connect(&url, tls).await?;
            session(client, conn, sink).await;
        }
    }
    Ok(())
}

/// One listening connection, until it is lost.
async fn session<S, T>(
    client: tokio_postgres::Client,
    mut conn: tokio_postgres::Connection<S, T>,
    sink: &Sink,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The connection is driven by its own task, which forwards the notifications.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| conn.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(Change::from_payload(n.payload())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "change-notification connection lost");
                    break;
                }
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        tracing::warn!(error = %e, "LISTEN failed");
        driver.abort();
        return;
    }
    // Whatever changed before LISTEN took effect was not notified to this connection.
    sink(Change::All);
    tracing::debug!("listening for change notifications");
    let mut check = tokio::time::interval(PG_CHECK_EVERY);
    check.tick().await;
    loop {
        tokio::select! {
            change = rx.recv() => match change {
                Some(change) => sink(change),
                None => break,
            },
            _ = check.tick() => {
                let alive = tokio::time::timeout(PG_CHECK_TIMEOUT, client.simple_query("SELECT 1")).await;
                if !matches!(alive, Ok(Ok(_))) {
                    tracing::warn!("change-notification connection does not answer; reconnecting");
                    break;
                }
            }
        }
    }
    driver.abort();
}

#[derive(QueryableByName)]
struct Marker {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

async fn read_marker(lite: &SqliteDb) -> Result<i64, Error> {
    let mut conn = lite.read().await?;
    let m: Marker = diesel::sql_query("SELECT seq FROM change_marker WHERE id = 1")
        .get_result(&mut *conn)
        .await?;
    Ok(m.seq)
}

/// SQLite: read the change marker every `POLL_EVERY`; drop everything when it moved, or when
/// it cannot be read (a change may go unseen meanwhile).
async fn poll(lite: SqliteDb, sink: Sink) {
    let mut seen: Option<i64> = None;
    let mut failing = false;
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match read_marker(&lite).await {
            Ok(seq) => {
                if seen != Some(seq) {
                    // Also on the first read: changes made before it are unknown.
                    sink(Change::All);
                    seen = Some(seq);
                }
                if failing {
                    tracing::info!("change marker readable again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e.0, "cannot read the change marker");
                    failing = true;
                }
                sink(Change::All);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_what_changed_and_anything_else_drops_everything() {
        let client = ClientId::parse("svc").ok();
        assert_eq!(
            Some(Change::from_payload("client:svc")),
            client.map(Change::Client)
        );
        let uid = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";
        assert_eq!(
            Some(Change::from_payload(&format!("user:{uid}"))),
            UserId::parse(uid).ok().map(Change::User)
        );
        for odd in [
            "",
            "client",
            "client:",
            "user:not-a-uuid",
            "session:x",
            "junk",
        ] {
            assert_eq!(Change::from_payload(odd), Change::All, "{odd:?}");
        }
    }
}
