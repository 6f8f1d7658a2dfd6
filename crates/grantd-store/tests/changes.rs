//! Change notifications on both backends: a write made outside the store (plain SQL on another
//! connection, as the CLI or another replica would) is reported to `Store::watch_changes`
//! within a fraction of a second; the hot path (session inserts) reports nothing; on Postgres a
//! lost listening connection drops everything and is re-established.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: helper functions outside #[test] count too"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use grantd_domain::ClientId;
use grantd_ports::{ClientStore, SessionStore, UserStore};
use grantd_store::Backend;
use grantd_store::changes::Change;
use tokio::sync::mpsc::UnboundedReceiver;

/// The target for an admin change to reach a server (the poll/notify delay, not the test's).
const BOUND: Duration = Duration::from_millis(250);

/// Waits for a change that covers `want` (itself or "everything"); returns how long it took.
async fn seen(rx: &mut UnboundedReceiver<Change>, want: &Change, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        let left = Duration::from_secs(5).saturating_sub(start.elapsed());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(c)) if c == *want || c == Change::All => {
                eprintln!("{what}: reported after {:?} as {c:?}", start.elapsed());
                return start.elapsed();
            }
            Ok(Some(_)) => {}
            _ => panic!("{what}: not reported within 5 s"),
        }
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(grantd_store::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(grantd_store::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(writes_from_another_connection_are_reported);

async fn writes_from_another_connection_are_reported(backend: Backend) {
    let (db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let c = client(&unique_client_id(), &u, 1);
    store.create_client(&c).await.expect("client");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watch = store.watch_changes(move |change| {
        let _ = tx.send(change);
    });
    // Watching has begun (listening / first marker read): it reports "everything" once.
    seen(&mut rx, &Change::All, "start").await;

    // The hot path changes none of the watched tables: no report, so no cache churn.
    for n in 0..20 {
        store
            .insert_session(&session(&c.id, &u.id, n))
            .await
            .expect("session");
    }
    let quiet = tokio::time::timeout(Duration::from_millis(400), rx.recv()).await;
    assert!(
        quiet.is_err(),
        "{backend:?}: reported {quiet:?} for session inserts"
    );

    let client_changed = Change::Client(c.id.clone());
    let user_changed = Change::User(u.id.clone());
    let writes = [
        (
            format!("UPDATE clients SET active = false WHERE id = '{}'", c.id),
            client_changed.clone(),
        ),
        (
            format!(
                "UPDATE client_secrets SET valid_until = created_at WHERE client_id = '{}'",
                c.id
            ),
            client_changed.clone(),
        ),
        // A federated credential is cached with its client: its writes name the client.
        (
            format!(
                "INSERT INTO federated_credentials (client_id, issuer, subject, claims, created_at) \
                 VALUES ('{}', 'ci', 'repo:a', '{{}}', CURRENT_TIMESTAMP)",
                c.id
            ),
            client_changed.clone(),
        ),
        (
            format!(
                "DELETE FROM federated_credentials WHERE client_id = '{}'",
                c.id
            ),
            client_changed.clone(),
        ),
        (
            format!("UPDATE users SET active = false WHERE id = '{}'", u.id),
            user_changed,
        ),
        (
            format!("DELETE FROM clients WHERE id = '{}'", c.id),
            client_changed,
        ),
    ];
    for (sql, want) in writes {
        raw_sql(&db, &sql).await.expect("write");
        let took = seen(&mut rx, &want, &format!("{backend:?} {sql}")).await;
        // The SQLite poll interval plus scheduling slack on a loaded machine.
        assert!(took <= BOUND * 4, "{backend:?}: {sql} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listening_connection_drops_everything_and_listens_again() {
    let (db, store) = open(Backend::Postgres).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watch = store.watch_changes(move |change| {
        let _ = tx.send(change);
    });
    seen(&mut rx, &Change::All, "start").await;

    raw_sql(
        &db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN grantd_changes'",
    )
    .await
    .expect("terminate the listener");
    // Lost: everything is dropped at once; listening again: once more.
    assert_eq!(next(&mut rx).await, Change::All, "on loss");
    assert_eq!(next(&mut rx).await, Change::All, "on listening again");

    raw_sql(
        &db,
        &format!("UPDATE users SET active = false WHERE id = '{}'", u.id),
    )
    .await
    .expect("write");
    assert_eq!(next(&mut rx).await, Change::User(u.id.clone()));
    // The store's own writes are reported too (other replicas need them).
    let cid = ClientId::parse(&unique_client_id()).expect("id");
    store
        .create_client(&client(cid.as_str(), &u, 2))
        .await
        .expect("client");
    assert_eq!(next(&mut rx).await, Change::Client(cid));
}

async fn next(rx: &mut UnboundedReceiver<Change>) -> Change {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a change within 5 s")
        .expect("watch running")
}
