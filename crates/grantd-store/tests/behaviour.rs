//! Store behaviour beyond single port calls, on both backends: migrations down and up again,
//! concurrent writers, group commit (and its row-by-row fallback), connection failures and TLS,
//! transactions held across operations (`Store::begin`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: helper functions outside #[test] count too"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use std::num::NonZeroU32;

use grantd_domain::{
    AuthMethod, ClientId, ClientKeys, ClientLimits, ClientRate, NewSession, RegisteredKey,
    TokenQuota,
};
use grantd_ports::{
    ClientStore, IssuedSince, SessionFilter, SessionStore, StoreError, UpdateOutcome, UserStore,
};
use grantd_store::testing::TestDb;
use grantd_store::{Backend, Store, StoreOptions};

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

on_both!(
    migrations_go_down_and_up_again,
    concurrent_session_inserts_all_land,
    mixed_concurrent_writers_never_fail,
    a_bad_row_in_a_batch_fails_alone,
    store_works_from_a_current_thread_runtime,
    client_limits_round_trip_and_a_bad_stored_value_is_corruption,
    quota_counts_come_from_the_session_rows,
    client_keys_round_trip_and_bad_stored_keys_are_corruption,
    updates_compare_and_set_on_updated_at,
    a_transaction_is_seen_by_others_only_once_committed,
);

async fn count_sessions(store: &Store) -> usize {
    store
        .list_sessions(&SessionFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .expect("list")
        .len()
}

async fn migrations_go_down_and_up_again(backend: Backend) {
    let (db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");

    let reverted = store.revert_all_migrations().await.expect("down");
    assert_eq!(reverted.len(), 12, "{reverted:?}");
    for (version, name) in [
        ("20261202000100", "client_limits"),
        ("20261202000200", "dpop"),
        ("20261203000100", "client_jwks_uri"),
        ("20261203000300", "client_assertion_alg"),
    ] {
        assert!(
            reverted.iter().any(|v| v == version),
            "{name}: {reverted:?}"
        );
    }
    // The tables are gone (not just emptied).
    let r = store.list_users().await;
    assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    for table in [
        "users",
        "clients",
        "client_secrets",
        "sessions",
        "signing_keys",
        "write_probe",
    ] {
        raw_sql(&db, &format!("SELECT 1 FROM {table}"))
            .await
            .expect_err(table);
    }
    // So are the change-notification triggers and what they use.
    let leftover = match backend {
        Backend::Postgres => "SELECT 'grantd_notify_change'::regproc",
        Backend::Sqlite => "SELECT 1 FROM change_marker",
    };
    raw_sql(&db, leftover).await.expect_err(leftover);

    // A fresh store: prepared statements of the old tables must not linger in pooled
    // connections (Postgres caches them per connection).
    drop(store);
    let store = Store::connect(&db.url, StoreOptions::default())
        .await
        .expect("reconnect");
    let applied = store.migrate().await.expect("up again");
    assert_eq!(applied, reverted.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(store.list_users().await, Ok(vec![]));
    store.create_user(&u).await.expect("user again");
    let cid = ClientId::parse("svc").expect("id");
    store
        .insert_session(&session(&cid, &u.id, 1))
        .await
        .expect("session");
    assert_eq!(store.migrate().await, Ok(vec![]));
}

/// 8 tasks × 500 inserts, each awaited before the next (like 8 busy request handlers).
async fn concurrent_session_inserts_all_land(backend: Backend) {
    let (_db, store) = open(backend).await;
    let u = user(1);
    let cid = ClientId::parse("svc-load").expect("id");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let store = store.clone();
        let uid = u.id.clone();
        let cid = cid.clone();
        tasks.spawn(async move {
            for i in 0..500 {
                let s = session(&cid, &uid, t * 1000 + i);
                store.insert_session(&s).await.expect("insert");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let elapsed = started.elapsed();
    assert_eq!(count_sessions(&store).await, 4000);
    let stats = store.stats();
    assert_eq!(stats.session_rows, 4000);
    assert_eq!(stats.session_batch_fallbacks, 0);
    // Group commit at work: far fewer commits than rows.
    assert!(
        stats.session_batches < 4000 / 2,
        "{} batches for 4000 rows",
        stats.session_batches
    );
    eprintln!(
        "{backend:?}: 4000 session inserts by 8 tasks in {elapsed:?} ({:.0}/s), {} batches",
        4000.0 / elapsed.as_secs_f64(),
        stats.session_batches
    );
}

/// Every kind of write at once: on SQLite none may surface "database is locked".
async fn mixed_concurrent_writers_never_fail(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let cid = ClientId::parse(&format!("svc-{t}")).expect("id");
            for i in 0..25 {
                let u = user(t * 100 + i);
                store.create_user(&u).await.expect("user");
                store
                    .set_user_active(&u.id, false, at(i))
                    .await
                    .expect("deactivate");
                let s = session(&cid, &u.id, i);
                store.insert_session(&s).await.expect("session");
                store
                    .revoke_session(&s.id, at(i), "test")
                    .await
                    .expect("revoke");
                store.purge_sessions(at(-1), 10).await.expect("purge");
                store.find_user(&u.id).await.expect("read");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    assert_eq!(store.list_users().await.map(|u| u.len()), Ok(200));
    assert_eq!(count_sessions(&store).await, 200);
}

/// A duplicate jti in a batch: the batch is retried row by row and only that caller fails.
async fn a_bad_row_in_a_batch_fails_alone(backend: Backend) {
    let opts = StoreOptions {
        // A wide window so every insert below lands in one batch.
        batch_window: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let (_db, store) = open_with(backend, opts).await;
    let u = user(1);
    let cid = ClientId::parse("svc").expect("id");
    let existing = session(&cid, &u.id, 0);
    store.insert_session(&existing).await.expect("first");
    let before = store.stats();

    let mut sessions: Vec<NewSession> = (1..=9).map(|i| session(&cid, &u.id, i)).collect();
    sessions[4].jti = existing.jti.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in sessions.iter().cloned().enumerate() {
        let store = store.clone();
        tasks.spawn(async move { (i, store.insert_session(&s).await) });
    }
    let mut results = vec![None; sessions.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done.expect("task");
        results[i] = Some(r);
    }
    for (i, r) in results.into_iter().enumerate() {
        let r = r.expect("answered");
        if i == 4 {
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        } else {
            assert_eq!(r, Ok(()), "row {i}");
        }
    }
    let after = store.stats();
    assert_eq!(
        after.session_batches - before.session_batches,
        1,
        "{after:?}"
    );
    assert_eq!(
        after.session_batch_fallbacks - before.session_batch_fallbacks,
        1
    );
    assert_eq!(count_sessions(&store).await, 9);
}

async fn store_works_from_a_current_thread_runtime(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    // actix-web's main and workers run current-thread runtimes; so does #[tokio::test].
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let store = Store::connect(&url, StoreOptions::default())
                .await
                .expect("connect");
            assert_eq!(store.migrate().await, Ok(vec![]));
            let u = user(1);
            store.create_user(&u).await.expect("user");
            let s = session(&ClientId::parse("svc").expect("id"), &u.id, 1);
            store.insert_session(&s).await.expect("session");
            assert!(store.find_session(&s.id).await.expect("find").is_some());
            // A dropped (cancelled) call must not break anything: start one and abandon it.
            let slow = store.list_users();
            drop(slow);
            let cancelled =
                tokio::time::timeout(Duration::from_micros(1), store.list_users()).await;
            drop(cancelled);
            assert_eq!(store.list_users().await.map(|u| u.len()), Ok(1));
        });
    })
    .join()
    .expect("current-thread run");
}

// ------------------------------------------------------------------------------------------
// connecting

#[tokio::test]
async fn a_fresh_sqlite_database_migrates_from_nothing() {
    let path = std::env::temp_dir().join(format!(
        "grantd-fresh-{}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    for url in [
        format!("sqlite://{}", path.display()),
        path.display().to_string(),
    ] {
        let store = Store::connect(&url, StoreOptions::default())
            .await
            .expect("connect");
        assert_eq!(store.backend(), Backend::Sqlite);
        let applied = store.migrate().await.expect("migrate");
        // The first URL creates and migrates the file; the bare path finds it migrated.
        assert!(applied.len() == 12 || applied.is_empty(), "{applied:?}");
        assert_eq!(store.ping().await, Ok(()));
        // WAL mode: the write-ahead log sits next to the file while connections are open.
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        assert!(wal.exists(), "{} missing: not in WAL mode", wal.display());
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn unusable_urls_are_invalid() {
    for url in [
        "sqlite://:memory:",
        "sqlite://",
        "mysql://localhost/db",
        "sqlite://x.db?mode=rwc",
        "postgres://localhost/db?sslmode=prefer",
        "postgres://localhost/db?sslmode=require&sslrootcert=/nonexistent/ca.pem",
    ] {
        let r = Store::connect(url, StoreOptions::default()).await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{url}: {r:?}");
    }
}

#[tokio::test]
async fn unreachable_databases_are_unavailable() {
    let opts = StoreOptions {
        acquire_timeout: Duration::from_secs(2),
        ..StoreOptions::default()
    };
    // Nothing listens on port 1.
    let r = Store::connect("postgres://postgres@127.0.0.1:1/postgres", opts.clone()).await;
    assert!(
        matches!(&r, Err(StoreError::Unavailable(m)) if m.to_string().contains("refused")),
        "{r:?}"
    );
    let r = Store::connect("/nonexistent-dir/grantd.db", opts).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
}

/// No TLS server here: `sslmode=require` against the local server must fail clearly (it has no
/// TLS, or a self-signed certificate rustls will not trust), never fall back to plain text.
#[tokio::test]
async fn sslmode_require_refuses_an_untrusted_server() {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| grantd_store::testing::DEFAULT_TEST_DATABASE_URL.to_owned());
    // The server must be reachable in plain text, or this test would prove nothing.
    Store::connect(&server, StoreOptions::default())
        .await
        .expect("plain connection");
    let sep = if server.contains('?') { '&' } else { '?' };
    let tls = format!("{server}{sep}sslmode=require");
    let r = Store::connect(&tls, StoreOptions::default()).await;
    assert!(
        matches!(&r, Err(StoreError::Unavailable(m)) if m.to_string().contains("TLS")),
        "{r:?}"
    );
}

#[test]
fn every_migration_has_up_and_down() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut names = Vec::new();
    for backend in ["postgres", "sqlite"] {
        let mut dirs: Vec<String> = std::fs::read_dir(root.join(backend))
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        for dir in &dirs {
            for file in ["up.sql", "down.sql"] {
                let path = root.join(backend).join(dir).join(file);
                let sql = std::fs::read_to_string(&path).expect("migration file");
                assert!(!sql.trim().is_empty(), "{} is empty", path.display());
            }
        }
        names.push(dirs);
    }
    assert_eq!(names[0], names[1], "both backends have the same migrations");
    assert!(!names[0].is_empty());
}

/// Checkpoints run off the write path; when a store closes, its checkpointer copies the WAL
/// into the database and truncates it, so the next process (a server after a CLI command, a
/// benchmark after seeding) starts without a WAL to replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_sqlite_store_leaves_an_empty_wal() {
    let path = std::env::temp_dir().join(format!(
        "grantd-wal-{}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    let store = Store::connect(
        &format!("sqlite://{}", path.display()),
        StoreOptions::default(),
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let client_id = ClientId::parse(&unique_client_id()).expect("id");
    for i in 0..200 {
        store
            .insert_session(&session(&client_id, &owner.id, 1_000 + i))
            .await
            .expect("session");
    }
    let before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(before > 0, "writes go to the WAL first");
    drop(store);
    let after = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(after, 0, "WAL left behind: {after} bytes (was {before})");
    // The rows are in the database file itself.
    let store = Store::connect(
        &format!("sqlite://{}", path.display()),
        StoreOptions::default(),
    )
    .await
    .expect("reconnect");
    assert_eq!(store.count_sessions().await, Ok(200));
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// The largest number of WAL frames the file has held: SQLite never shrinks it, so its size
/// is the high-water mark (32-byte header, then frames of a 24-byte header + one page).
fn wal_frames(wal: &std::path::Path) -> u64 {
    let len = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    len.saturating_sub(32) / (24 + 4096)
}

/// Under a steady stream of session writes the WAL rewinds: the writer checkpoints it itself
/// between batches (here after every batch), so the file never holds much more than one commit.
/// Without that, SQLite rewinds only when a writer happens to start while the background
/// checkpointer has copied every frame, and the file grows with the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_rewinds_under_steady_writes() {
    for (every, bounded) in [(Duration::ZERO, true), (Duration::from_secs(3600), false)] {
        let path = std::env::temp_dir().join(format!(
            "grantd-rewind-{}-{}.db",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let url = format!("sqlite://{}", path.display());
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        // Schema and owner first, then a fresh store: its WAL starts empty.
        let setup = Store::connect(&url, StoreOptions::default())
            .await
            .expect("connect");
        setup.migrate().await.expect("migrate");
        let owner = user(1);
        setup.create_user(&owner).await.expect("user");
        drop(setup);
        assert_eq!(wal_frames(&wal), 0);

        let opts = StoreOptions {
            sqlite_writer_checkpoint_every: every,
            ..StoreOptions::default()
        };
        let store = Store::connect(&url, opts).await.expect("connect");
        let client_id = ClientId::parse(&unique_client_id()).expect("id");
        // Eight writers without pause: there is always a batch waiting when one commits.
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = store.clone();
            let client_id = client_id.clone();
            let owner = owner.id.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..250 {
                    store
                        .insert_session(&session(&client_id, &owner, 10_000 * w + i))
                        .await
                        .expect("session");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        let frames = wal_frames(&wal);
        eprintln!("writer checkpoint every {every:?}: WAL high-water mark {frames} frames");
        assert_eq!(store.count_sessions().await, Ok(2000));
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if bounded {
            assert!(frames <= 400, "the WAL grew to {frames} frames");
        } else {
            // The control: the same load without writer checkpoints grows the WAL well past
            // that (if this fails, the test no longer shows what the fix does).
            assert!(frames > 2000, "without writer checkpoints: {frames} frames");
        }
    }
}

/// A client's own rate and quotas are stored, read back typed, replaced and cleared; a
/// hand-written bad value reads as corruption, never as "no limit".
async fn client_limits_round_trip_and_a_bad_stored_value_is_corruption(backend: Backend) {
    let (db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let n = |v| NonZeroU32::new(v).expect("non-zero");
    let mut c = client(&unique_client_id(), &u, 1);
    c.limits = ClientLimits {
        rate: Some(ClientRate {
            per_second: n(50),
            burst: n(100),
        }),
        quota: TokenQuota {
            per_hour: Some(n(7)),
            per_day: None,
        },
    };
    store.create_client(&c).await.expect("create");
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!(found.limits, c.limits);

    let day_only = ClientLimits {
        rate: None,
        quota: TokenQuota {
            per_hour: None,
            per_day: Some(n(u32::MAX)),
        },
    };
    assert_eq!(
        store.set_client_limits(&c.id, &day_only, at(5)).await,
        Ok(true)
    );
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!((found.limits, found.updated_at), (day_only, at(5)));
    let other = ClientId::parse("nobody").expect("id");
    assert_eq!(
        store.set_client_limits(&other, &day_only, at(5)).await,
        Ok(false)
    );

    let id = c.id.as_str();
    let plant =
        format!("UPDATE clients SET rate_per_second = 5, rate_burst = NULL WHERE id = '{id}'");
    raw_sql(&db, &plant).await.expect("plant");
    let r = store.find_client(&c.id).await;
    assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    let none = ClientLimits::default();
    assert_eq!(store.set_client_limits(&c.id, &none, at(6)).await, Ok(true));
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!(found.limits, none);
}

/// The quota count is the client's session rows since a moment: revoked ones too, other
/// clients' not, with the oldest one's time.
async fn quota_counts_come_from_the_session_rows(backend: Backend) {
    let (_db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let c = client(&unique_client_id(), &u, 1);
    store.create_client(&c).await.expect("create");
    let other = ClientId::parse("nobody").expect("id");
    assert_eq!(
        store.issued_since(&c.id, at(0)).await,
        Ok(IssuedSince::default())
    );
    for t in [10, 20, 30] {
        store
            .insert_session(&session(&c.id, &u.id, t))
            .await
            .expect("session");
    }
    store
        .insert_session(&session(&other, &u.id, 25))
        .await
        .expect("session");
    let s = session(&c.id, &u.id, 40);
    store.insert_session(&s).await.expect("session");
    store
        .revoke_session(&s.id, at(41), "test")
        .await
        .expect("revoke");
    let got = store.issued_since(&c.id, at(20)).await.expect("count");
    assert_eq!(
        got,
        IssuedSince {
            count: 3,
            oldest: Some(at(20))
        }
    );
    assert_eq!(
        store
            .issued_since(&c.id, at(41))
            .await
            .expect("count")
            .count,
        0
    );
}

/// A private_key_jwt client's registered keys are stored and read back typed (kid, kty, alg,
/// the JWK's JSON); a hand-written value that is not a JSON array of JWKs, or repeats a kid,
/// reads as corruption, never as "no keys".
async fn client_keys_round_trip_and_bad_stored_keys_are_corruption(backend: Backend) {
    let (db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let key = |kid: &str| RegisteredKey {
        kid: Some(kid.into()),
        kty: "OKP".into(),
        alg: Some("EdDSA".into()),
        jwk: format!(r#"{{"alg":"EdDSA","crv":"Ed25519","kid":"{kid}","kty":"OKP","x":"AA"}}"#),
    };
    let mut c = client(&unique_client_id(), &u, 1);
    c.auth_method = AuthMethod::PrivateKeyJwt;
    c.secrets = vec![];
    c.keys = ClientKeys::new(vec![key("k1"), key("k2")]).expect("keys");
    store.create_client(&c).await.expect("create");
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!((found.auth_method, &found.keys), (c.auth_method, &c.keys));

    let plain = client(&unique_client_id(), &u, 1);
    store.create_client(&plain).await.expect("create");
    let found = store
        .find_client(&plain.id)
        .await
        .expect("find")
        .expect("some");
    assert!(found.keys.is_empty());

    let id = c.id.as_str();
    for bad in [
        r#"{"keys":[]}"#,
        r#"[{"kid":"a"}]"#,
        r#"[{"kty":"EC","kid":"a"},{"kty":"EC","kid":"a"}]"#,
    ] {
        let plant = format!("UPDATE clients SET jwks = '{bad}' WHERE id = '{id}'");
        raw_sql(&db, &plant).await.expect("plant");
        let r = store.find_client(&c.id).await;
        assert!(matches!(r, Err(StoreError::Internal(_))), "{bad}: {r:?}");
    }

    // Keys registered by jwks_uri: the URL round-trips; a stored URL that does not parse, or
    // inline keys beside it, is corruption.
    let mut remote = client(&unique_client_id(), &u, 1);
    remote.auth_method = AuthMethod::PrivateKeyJwt;
    remote.secrets = vec![];
    let uri = grantd_domain::JwksUri::parse("https://client.example/jwks.json").expect("uri");
    remote.keys = ClientKeys::remote(uri);
    store.create_client(&remote).await.expect("create");
    let found = store
        .find_client(&remote.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found.keys, remote.keys);
    let id = remote.id.as_str();
    for plant in [
        format!("UPDATE clients SET jwks_uri = 'http://client.example/jwks' WHERE id = '{id}'"),
        format!(
            "UPDATE clients SET jwks_uri = 'https://a.example/k', jwks = '[]' WHERE id = '{id}'"
        ),
    ] {
        raw_sql(&db, &plant).await.expect("plant");
        let r = store.find_client(&remote.id).await;
        assert!(matches!(r, Err(StoreError::Internal(_))), "{plant}: {r:?}");
    }
}

/// A client or user update lands only on the state it was computed from: a second writer that
/// read the same state gets `Stale` and changes nothing; a missing row is `NotFound`. Secrets
/// and keys are not touched by `update_client`; `set_client_keys` is compare-and-set too.
async fn updates_compare_and_set_on_updated_at(backend: Backend) {
    let (_db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let c = client(&unique_client_id(), &u, 1);
    store.create_client(&c).await.expect("create");
    let read = store.find_client(&c.id).await.expect("find").expect("some");

    let mut first = read.clone();
    first.name = "First".into();
    first.auth_method = AuthMethod::ClientSecretPost;
    first.active = false;
    first.updated_at = at(10);
    let r = store.update_client(&first, read.updated_at).await;
    assert_eq!(r, Ok(UpdateOutcome::Updated));
    let mut second = read.clone();
    second.name = "Second".into();
    second.updated_at = at(11);
    let r = store.update_client(&second, read.updated_at).await;
    assert_eq!(r, Ok(UpdateOutcome::Stale));
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!(found, first, "the first write, secrets and keys kept");

    let mut gone = first.clone();
    gone.id = ClientId::parse("nobody").expect("id");
    let r = store.update_client(&gone, first.updated_at).await;
    assert_eq!(r, Ok(UpdateOutcome::NotFound));

    // Replacing keys is compare-and-set on the same column.
    let uri = grantd_domain::JwksUri::parse("https://client.example/jwks.json").expect("uri");
    let keys = ClientKeys::remote(uri);
    let r = store.set_client_keys(&c.id, &keys, read.updated_at, at(13));
    assert_eq!(r.await, Ok(UpdateOutcome::Stale), "keys over a stale read");
    let r = store.set_client_keys(&c.id, &keys, first.updated_at, at(13));
    assert_eq!(r.await, Ok(UpdateOutcome::Updated));
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!((found.keys, found.updated_at), (keys.clone(), at(13)));
    let r = store.set_client_keys(&gone.id, &keys, at(13), at(14));
    assert_eq!(r.await, Ok(UpdateOutcome::NotFound));

    let mut renamed = u.clone();
    renamed.name = "Renamed".into();
    renamed.active = false;
    renamed.updated_at = at(12);
    assert_eq!(
        store.update_user(&renamed, u.updated_at).await,
        Ok(UpdateOutcome::Updated)
    );
    assert_eq!(
        store.update_user(&renamed, u.updated_at).await,
        Ok(UpdateOutcome::Stale)
    );
    let found = store.find_user(&u.id).await.expect("find").expect("some");
    assert_eq!(found, renamed);
}

async fn a_transaction_is_seen_by_others_only_once_committed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let u = user(1);
    store.create_user(&u).await.expect("user");
    let ids: Vec<_> = (0..4).map(|_| unique_client_id()).collect();
    let c: Vec<_> = ids.iter().map(|id| client(id, &u, 1)).collect();
    let seen = async |id: &ClientId| store.find_client(id).await.expect("find").is_some();

    let tx = store.begin().await.expect("begin");
    tx.store().create_client(&c[0]).await.expect("create in tx");
    let own = tx.store().find_client(&c[0].id).await.expect("find in tx");
    assert!(
        own.is_some(),
        "{backend:?}: the transaction reads its own write"
    );
    assert!(!seen(&c[0].id).await, "{backend:?}: visible before commit");
    // A failed operation inside is a savepoint: the transaction goes on.
    let again = tx.store().create_client(&c[0]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    tx.store()
        .create_client(&c[1])
        .await
        .expect("after a failed step");
    tx.rollback().await.expect("rollback");
    assert!(
        !seen(&c[0].id).await && !seen(&c[1].id).await,
        "{backend:?}"
    );

    let tx = store.begin().await.expect("begin");
    tx.store().create_client(&c[2]).await.expect("create");
    tx.commit().await.expect("commit");
    assert!(seen(&c[2].id).await, "{backend:?}: committed");

    let tx = store.begin().await.expect("begin");
    tx.store().create_client(&c[3]).await.expect("create");
    drop(tx);
    // The abandoned transaction is rolled back and its connection freed: the next write (on
    // SQLite the one writer) goes through.
    let mut later = client(&unique_client_id(), &u, 2);
    later.name = "later".into();
    store
        .create_client(&later)
        .await
        .expect("write after an abandoned tx");
    assert!(
        !seen(&c[3].id).await,
        "{backend:?}: abandoned, not rolled back"
    );
}
