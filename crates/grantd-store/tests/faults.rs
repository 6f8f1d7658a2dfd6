//! Failures of the database itself are classified from the driver's codes as
//! `StoreError::Unavailable` (the API answers 503 + `Retry-After`): a refused connection, a
//! Postgres out of connections (SQLSTATE 53300), a statement cancelled by `statement_timeout`
//! (57014), connections terminated by an administrator (57P01), SQLite's write lock held by
//! another process (SQLITE_BUSY). A row's own fault stays what it is (a duplicate is a
//! `Conflict`). Real servers and files; nothing is skipped.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: helper functions outside #[test] count too"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use grantd_domain::ClientId;
use grantd_ports::{SessionStore, StoreError, UserStore};
use grantd_store::testing::{DEFAULT_TEST_DATABASE_URL, TestDb, with_database};
use grantd_store::{Backend, Store, StoreOptions};

fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

async fn admin(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Postgres (TEST_DATABASE_URL): {e}"))
}

fn db_name(db: &TestDb) -> &str {
    db.url.rsplit('/').next().expect("database name")
}

fn unavailable_saying<T: std::fmt::Debug>(r: &Result<T, StoreError>, what: &str) {
    match r {
        Err(StoreError::Unavailable(m)) => assert!(m.to_string().contains(what), "{m}"),
        other => panic!("expected Unavailable ({what}), got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_refused_connection_is_unavailable() {
    // Port 1: nothing listens there.
    let r = Store::connect(
        "postgres://postgres@127.0.0.1:1/grantd",
        StoreOptions::default(),
    )
    .await;
    unavailable_saying(&r, "connection refused");
}

#[tokio::test]
async fn postgres_out_of_connections_is_unavailable() {
    // A role allowed no connection at all: the server answers SQLSTATE 53300.
    let db = TestDb::postgres().await;
    let role = format!("grantd_nolimit_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin(&server_url()).await;
    conn.batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN CONNECTION LIMIT 0"))
        .await
        .expect("create role");
    let server = server_url();
    let host = server
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("TEST_DATABASE_URL names user@host");
    let url = with_database(&format!("postgres://{role}@{host}/postgres"), db_name(&db));
    let r = Store::connect(&url, StoreOptions::default()).await;
    conn.batch_execute(&format!("DROP ROLE \"{role}\""))
        .await
        .expect("drop role");
    unavailable_saying(&r, "out of connections");
}

/// `statement_timeout` is in force on pooled connections: a write stuck behind a lock fails
/// after it (SQLSTATE 57014) as Unavailable, instead of holding the request.
#[tokio::test]
async fn postgres_statement_timeout_is_in_force_and_unavailable() {
    let opts = StoreOptions {
        statement_timeout: Some(Duration::from_millis(300)),
        ..StoreOptions::default()
    };
    let (db, store) = open_with(Backend::Postgres, opts).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let mut locker = admin(&db.url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let client = ClientId::parse("svc").unwrap();
    let started = Instant::now();
    let r = store.insert_session(&session(&client, &owner.id, 1)).await;
    let took = started.elapsed();
    unavailable_saying(&r, "");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(4),
        "{took:?}"
    );
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let ok = store.insert_session(&session(&client, &owner.id, 2)).await;
    assert_eq!(ok, Ok(()));
}

/// Connections ended by `pg_terminate_backend` (SQLSTATE 57P01, then a closed socket): the
/// next operations are Unavailable, never Internal, and the pool recovers by itself.
#[tokio::test]
async fn postgres_terminated_connections_are_unavailable_then_recover() {
    let (db, store) = open(Backend::Postgres).await;
    let a = user(1);
    store.create_user(&a).await.expect("user");
    let name = db_name(&db).to_owned();
    let mut conn = admin(&server_url()).await;
    conn.batch_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .await
    .expect("terminate");
    let mut recovered = false;
    for _ in 0..10 {
        match store.list_users().await {
            Ok(users) => {
                assert_eq!(users.len(), 1);
                recovered = true;
                break;
            }
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("expected Unavailable, got {other:?}"),
        }
    }
    assert!(recovered, "the pool did not reconnect");
    // A duplicate is still the row's fault.
    let mut dup = user(2);
    dup.email = a.email.clone();
    let r = store.create_user(&dup).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
}

/// Another process holding SQLite's write lock past `busy_timeout`: SQLITE_BUSY, Unavailable.
#[tokio::test]
async fn sqlite_busy_is_unavailable() {
    let opts = StoreOptions {
        sqlite_busy_timeout: Duration::from_millis(100),
        ..StoreOptions::default()
    };
    let (db, store) = open_with(Backend::Sqlite, opts).await;
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let (locked, release) = std::sync::mpsc::channel::<()>();
    let (ready, is_locked) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::SqliteConnection::establish(&path).expect("open");
        conn.batch_execute("BEGIN IMMEDIATE").expect("lock");
        ready.send(()).unwrap();
        let _ = release.recv();
        conn.batch_execute("ROLLBACK").expect("unlock");
    });
    is_locked.recv().unwrap();
    let r = store.create_user(&user(1)).await;
    unavailable_saying(&r, "locked");
    locked.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(store.create_user(&user(2)).await, Ok(()));
}
