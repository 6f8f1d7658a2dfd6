//! The store contract, written once and run against SQLite and Postgres: every port method's
//! documented behaviour (ordering, `Ok(false)` / `Ok(None)` cases, error kinds, atomicity).
//!
//! Each test gets a fresh database. The suite runs on `#[tokio::test]`'s current-thread
//! runtime on purpose: the store must work there (actix-web's workers are the same flavour).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: helper functions outside #[test] count too"
)]

mod common;

use common::*;
use grantd_domain::{
    ClientId, DpopBinding, Jkt, Kid, NewSession, OwnerId, ScopeCatalog, SessionId, StoredScopes,
    Timestamp, UserId,
};
use grantd_ports::{
    ClientStore, KeyState, SessionCursor, SessionFilter, SessionStore, SigningKeyStore, StoreError,
    UserStore,
};
use grantd_store::{Backend, Store, StoreOptions};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(grantd_store::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(grantd_store::Backend::Postgres).await;
                }
            )*
        }
    };
}

contract!(
    users_round_trip_in_creation_order,
    user_errors_are_classified,
    clients_round_trip_with_their_secrets,
    client_errors_are_classified_and_write_nothing,
    client_ids_are_case_sensitive,
    rotation_ends_current_secrets_only,
    a_secret_hash_is_replaced_in_place,
    sessions_insert_find_and_revoke,
    session_conflicts_and_invalid_input,
    dpop_bound_sessions_are_single_use_per_proof,
    client_assertions_are_single_use,
    sessions_list_newest_first_with_filters,
    sessions_page_by_keyset_each_row_once,
    sessions_purge_in_batches,
    signing_keys_bootstrap_once,
    signing_keys_rotate_with_guard,
    signing_key_changes_are_serialized_across_replicas,
    expired_keys_are_deleted,
    corrupt_rows_are_internal_errors,
    unknown_stored_values_are_kept_apart,
    error_messages_carry_no_values,
    ping_answers,
);

fn is_conflict(r: &Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

fn is_invalid(r: &Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid(_)))
}

// ------------------------------------------------------------------------------------------
// users

async fn users_round_trip_in_creation_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, c) = (user(3), user(1), user(2));
    for u in [&a, &b, &c] {
        store.create_user(u).await.expect("create");
    }
    assert_eq!(store.find_user(&a.id).await, Ok(Some(a.clone())));
    let missing = UserId::from_bytes([7; 16]);
    assert_eq!(store.find_user(&missing).await, Ok(None));
    assert_eq!(
        store.list_users().await,
        Ok(vec![b.clone(), c.clone(), a.clone()])
    );

    assert_eq!(store.set_user_active(&a.id, false, at(50)).await, Ok(true));
    let found = store.find_user(&a.id).await.expect("find").expect("some");
    assert!(!found.active);
    assert_eq!(found.updated_at, at(50));
    assert_eq!(found.created_at, a.created_at);
    assert_eq!(
        store.set_user_active(&missing, true, at(50)).await,
        Ok(false)
    );

    // Same creation time: the id decides, byte-wise.
    let mut d = user(9);
    let mut e = user(9);
    d.id = UserId::parse("00000000-0000-4000-8000-00000000000a").expect("id");
    e.id = UserId::parse("00000000-0000-4000-8000-000000000009").expect("id");
    store.create_user(&d).await.expect("create");
    store.create_user(&e).await.expect("create");
    let ids: Vec<_> = store
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids[3..], [e.id, d.id]);
}

async fn user_errors_are_classified(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(1);
    store.create_user(&a).await.expect("create");

    let mut same_email = user(2);
    same_email.email = a.email.clone();
    let r = store.create_user(&same_email).await;
    assert!(is_conflict(&r), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("users.email"));

    let mut same_id = user(3);
    same_id.id = a.id.clone();
    assert!(is_conflict(&store.create_user(&same_id).await));

    let mut nul = user(4);
    nul.name = "Bob\0".into();
    assert!(is_invalid(&store.create_user(&nul).await));
    let mut long = user(5);
    long.email = format!("{}@example.com", "x".repeat(320));
    assert!(is_invalid(&store.create_user(&long).await));
    let mut spaced = user(6);
    spaced.roles = StoredScopes::parse(&ScopeCatalog::builtin(), &["a b"]);
    assert!(is_invalid(&store.create_user(&spaced).await));
    let mut far = user(7);
    far.created_at = Timestamp::from_micros(i64::MAX);
    assert!(is_invalid(&store.create_user(&far).await));

    assert_eq!(store.list_users().await.map(|u| u.len()), Ok(1));
}

// ------------------------------------------------------------------------------------------
// clients

async fn clients_round_trip_with_their_secrets(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");

    let mut a = client(&unique_client_id(), &owner, 20);
    a.secrets = vec![
        secret("hash-new", 15, None),
        secret("hash-old", 10, Some(100)),
    ];
    a.auth_method = grantd_domain::AuthMethod::ClientSecretPost;
    a.dpop = grantd_domain::DpopPolicy::Required;
    let mut b = client(&unique_client_id(), &owner, 10);
    b.secrets.clear();
    b.scopes = StoredScopes::default();
    store.create_client(&a).await.expect("create a");
    store.create_client(&b).await.expect("create b");

    // Secrets come back oldest first.
    let mut expected_a = a.clone();
    expected_a.secrets.reverse();
    assert_eq!(store.find_client(&a.id).await, Ok(Some(expected_a.clone())));
    assert_eq!(store.find_client(&b.id).await, Ok(Some(b.clone())));
    let missing = ClientId::parse("nope").expect("id");
    assert_eq!(store.find_client(&missing).await, Ok(None));
    assert_eq!(
        store.list_clients().await,
        Ok(vec![b.clone(), expected_a.clone()])
    );

    assert_eq!(
        store.set_client_active(&a.id, false, at(30)).await,
        Ok(true)
    );
    let found = store.find_client(&a.id).await.expect("find").expect("some");
    assert!(!found.active);
    assert_eq!(found.updated_at, at(30));
    assert_eq!(found.secrets, expected_a.secrets);
    assert_eq!(
        store.set_client_active(&missing, true, at(30)).await,
        Ok(false)
    );

    assert_eq!(
        store
            .set_client_dpop(&b.id, grantd_domain::DpopPolicy::Required, at(40))
            .await,
        Ok(true)
    );
    let found = store.find_client(&b.id).await.expect("find").expect("some");
    assert_eq!(
        (found.dpop, found.updated_at),
        (grantd_domain::DpopPolicy::Required, at(40))
    );
    assert_eq!(
        store
            .set_client_dpop(&missing, grantd_domain::DpopPolicy::Optional, at(40))
            .await,
        Ok(false)
    );
}

async fn client_errors_are_classified_and_write_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");

    let mut orphan = client(&unique_client_id(), &owner, 1);
    orphan.owner_id = UserId::from_bytes([9; 16]).into();
    let r = store.create_client(&orphan).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");

    let a = client(&unique_client_id(), &owner, 2);
    store.create_client(&a).await.expect("create");
    let mut dup = client(a.id.as_str(), &owner, 3);
    dup.secrets.push(secret("another", 3, None));
    assert!(is_conflict(&store.create_client(&dup).await));

    let mut bad_scope = client(&unique_client_id(), &owner, 4);
    bad_scope.scopes = StoredScopes::parse(&ScopeCatalog::builtin(), &["a b"]);
    assert!(is_invalid(&store.create_client(&bad_scope).await));
    let mut nul_hash = client(&unique_client_id(), &owner, 5);
    nul_hash.secrets = vec![secret("x\0y", 5, None)];
    assert!(is_invalid(&store.create_client(&nul_hash).await));
    let mut long_name = client(&unique_client_id(), &owner, 6);
    long_name.name = "n".repeat(321);
    assert!(is_invalid(&store.create_client(&long_name).await));

    // Nothing half-written: only `a`, with its one secret.
    let all = store.list_clients().await.expect("list");
    assert_eq!(all, vec![a]);
}

async fn client_ids_are_case_sensitive(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let upper = client("Svc", &owner, 1);
    let lower = client("svc", &owner, 2);
    store.create_client(&upper).await.expect("Svc");
    store
        .create_client(&lower)
        .await
        .expect("svc is another client");
    assert_eq!(store.find_client(&upper.id).await, Ok(Some(upper.clone())));
    assert_eq!(store.find_client(&lower.id).await, Ok(Some(lower.clone())));
    let shout = ClientId::parse("SVC").expect("id");
    assert_eq!(store.find_client(&shout).await, Ok(None));
    assert_eq!(
        store.set_client_active(&shout, false, at(5)).await,
        Ok(false)
    );

    // Byte-wise order on both backends: "Svc" < "svc".
    let mut x = client("b", &owner, 7);
    let mut y = client("B", &owner, 7);
    x.secrets.clear();
    y.secrets.clear();
    store.create_client(&x).await.expect("b");
    store.create_client(&y).await.expect("B");
    let ids: Vec<String> = store
        .list_clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(ids, ["Svc", "svc", "B", "b"]);
}

async fn rotation_ends_current_secrets_only(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let mut c = client(&unique_client_id(), &owner, 1);
    c.secrets = vec![
        secret("current", 1, None),
        secret("grace-ends-early", 2, Some(50)),
        secret("grace-ends-late", 3, Some(500)),
    ];
    store.create_client(&c).await.expect("create");

    let fresh = secret("fresh", 10, None);
    assert_eq!(store.rotate_secret(&c.id, &fresh, at(100)).await, Ok(true));
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    let ends: Vec<(&str, Option<Timestamp>)> = found
        .secrets
        .iter()
        .map(|s| (s.hash.as_str(), s.valid_until))
        .collect();
    assert_eq!(
        ends,
        [
            ("current", Some(at(100))),
            ("grace-ends-early", Some(at(50))),
            ("grace-ends-late", Some(at(500))),
            ("fresh", None),
        ]
    );
    assert_eq!(found.updated_at, at(10), "rotation touches the client");

    // A second rotation ends the previous fresh secret, leaves the rest.
    let fresher = secret("fresher", 20, None);
    assert_eq!(
        store.rotate_secret(&c.id, &fresher, at(200)).await,
        Ok(true)
    );
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    let current: Vec<&str> = found
        .secrets
        .iter()
        .filter(|s| s.valid_until.is_none())
        .map(|s| s.hash.as_str())
        .collect();
    assert_eq!(current, ["fresher"]);
    assert_eq!(found.secrets[3].valid_until, Some(at(200)));
    assert_eq!(found.secrets[0].valid_until, Some(at(100)));

    let missing = ClientId::parse("missing").expect("id");
    assert_eq!(
        store.rotate_secret(&missing, &fresh, at(100)).await,
        Ok(false)
    );
    let bad = secret("nul\0", 30, None);
    assert!(is_invalid(&store.rotate_secret(&c.id, &bad, at(100)).await));
}

async fn a_secret_hash_is_replaced_in_place(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let mut c = client(&unique_client_id(), &owner, 1);
    c.secrets = vec![secret("old", 1, Some(500)), secret("other", 2, None)];
    store.create_client(&c).await.expect("create");
    let mut other = client(&unique_client_id(), &owner, 2);
    other.secrets = vec![secret("old", 1, None)];
    store.create_client(&other).await.expect("create other");

    assert_eq!(
        store.replace_secret_hash(&c.id, "old", "new").await,
        Ok(true)
    );
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    let secrets: Vec<(&str, Timestamp, Option<Timestamp>)> = found
        .secrets
        .iter()
        .map(|s| (s.hash.as_str(), s.created_at, s.valid_until))
        .collect();
    assert_eq!(
        secrets,
        [("new", at(1), Some(at(500))), ("other", at(2), None)],
        "same place, same validity"
    );
    // Only that client's hash changed.
    let untouched = store
        .find_client(&other.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(untouched.secrets[0].hash, "old");

    // A hash no longer there (rotated out, or already replaced), an unknown client: no change.
    assert_eq!(
        store.replace_secret_hash(&c.id, "old", "newer").await,
        Ok(false)
    );
    let missing = ClientId::parse("missing").expect("id");
    assert_eq!(
        store.replace_secret_hash(&missing, "new", "newer").await,
        Ok(false)
    );
    assert!(is_invalid(
        &store.replace_secret_hash(&c.id, "new", "nul\0").await
    ));
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    assert_eq!(found.secrets[0].hash, "new");
}

// ------------------------------------------------------------------------------------------
// sessions

async fn sessions_insert_find_and_revoke(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    let cid = ClientId::parse("svc-a").expect("id");
    let s = session(&cid, &owner.id, 10);
    store.insert_session(&s).await.expect("insert");

    let record = store
        .find_session(&s.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(record.session, s);
    assert_eq!(
        (record.revoked_at, record.revoke_reason.clone()),
        (None, None)
    );
    let other = SessionId::from_bytes([1; 16]);
    assert_eq!(store.find_session(&other).await, Ok(None));

    assert_eq!(
        store.revoke_session(&s.id, at(20), "compromised").await,
        Ok(true)
    );
    assert_eq!(store.revoke_session(&s.id, at(30), "again").await, Ok(true));
    let record = store
        .find_session(&s.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(record.revoked_at, Some(at(20)), "first revocation kept");
    assert_eq!(record.revoke_reason.as_deref(), Some("compromised"));
    assert_eq!(record.session, s);
    assert_eq!(store.revoke_session(&other, at(20), "x").await, Ok(false));
    assert!(is_invalid(
        &store.revoke_session(&s.id, at(20), "a\0b").await
    ));
    assert!(is_invalid(
        &store.revoke_session(&s.id, at(20), &"r".repeat(513)).await
    ));

    // Extremes survive the round trip exactly.
    let mut edge = session(&cid, &owner.id, 0);
    edge.created_at = Timestamp::from_micros(-62_135_596_800_000_000); // 0001-01-01
    edge.expires_at = Timestamp::from_micros(253_402_300_799_999_999); // 9999-12-31T23:59:59.999999
    edge.context = Default::default();
    store.insert_session(&edge).await.expect("edge");
    let got = store
        .find_session(&edge.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(got.session, edge);
}

async fn session_conflicts_and_invalid_input(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    let cid = ClientId::parse("svc-a").expect("id");
    let s = session(&cid, &owner.id, 10);
    store.insert_session(&s).await.expect("insert");

    let mut same_id = session(&cid, &owner.id, 11);
    same_id.id = s.id.clone();
    let r = store.insert_session(&same_id).await;
    assert!(is_conflict(&r), "{r:?}");
    let mut same_jti = session(&cid, &owner.id, 12);
    same_jti.jti = s.jti.clone();
    let r = store.insert_session(&same_jti).await;
    assert!(is_conflict(&r), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("sessions.jti"));

    let mut nul = session(&cid, &owner.id, 13);
    nul.context.user_agent = Some("evil\0agent".into());
    assert!(is_invalid(&store.insert_session(&nul).await));
    let mut long = session(&cid, &owner.id, 14);
    long.context.referer = Some("r".repeat(513));
    assert!(is_invalid(&store.insert_session(&long).await));

    let all = store
        .list_sessions(&SessionFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 1);
}

fn bound(proof_key: &str) -> Option<DpopBinding> {
    Some(DpopBinding {
        jkt: Jkt::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").expect("jkt"),
        proof_key: proof_key.to_owned(),
    })
}

/// A proof's replay key is unique: the second row with it conflicts and names the proof, also
/// when both arrive in one group-commit batch (only the later row fails); Bearer rows (no key)
/// never conflict with each other.
async fn dpop_bound_sessions_are_single_use_per_proof(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    let cid = ClientId::parse("svc-a").expect("id");
    let mut s = session(&cid, &owner.id, 10);
    s.dpop = bound("proof-1");
    store.insert_session(&s).await.expect("insert");
    let found = store
        .find_session(&s.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found.session, s, "binding round-trips");

    let mut replay = session(&cid, &owner.id, 11);
    replay.dpop = bound("proof-1");
    let r = store.insert_session(&replay).await;
    assert_eq!(
        r,
        Err(StoreError::Conflict(
            grantd_ports::Constraint::SessionDpopProof
        ))
    );
    for n in 0..3 {
        store
            .insert_session(&session(&cid, &owner.id, 20 + n))
            .await
            .expect("bearer rows share the NULL key");
    }
    // Concurrent rows (one batch): exactly one of the two with the same key is written.
    let rows: Vec<NewSession> = (0..8)
        .map(|i| {
            let mut r = session(&cid, &owner.id, 30 + i);
            r.dpop = bound(if i % 4 == 0 { "proof-2" } else { "other" }).map(|mut b| {
                if i % 4 != 0 {
                    b.proof_key = format!("proof-x{i}");
                }
                b
            });
            r
        })
        .collect();
    let store = std::sync::Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for r in rows {
        let store = store.clone();
        tasks.spawn(async move { store.insert_session(&r).await });
    }
    let results = tasks.join_all().await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 7, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()
        || *r
            == Err(StoreError::Conflict(
                grantd_ports::Constraint::SessionDpopProof
            ))));
}

/// A client assertion's replay key is unique: the second row with it conflicts and names the
/// assertion, also within one group-commit batch (exactly one of the rows is written); rows
/// without a key never conflict.
async fn client_assertions_are_single_use(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    let cid = ClientId::parse("svc-a").expect("id");
    let conflict = Err(StoreError::Conflict(
        grantd_ports::Constraint::SessionClientAssertion,
    ));
    let mut s = session(&cid, &owner.id, 10);
    s.assertion_key = Some("assertion-1".into());
    store.insert_session(&s).await.expect("insert");
    let found = store
        .find_session(&s.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found.session, s, "the key round-trips");
    let mut replay = session(&cid, &owner.id, 11);
    replay.assertion_key = Some("assertion-1".into());
    assert_eq!(store.insert_session(&replay).await, conflict);
    store
        .insert_session(&session(&cid, &owner.id, 12))
        .await
        .expect("no key, no conflict");

    let store = std::sync::Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let mut r = session(&cid, &owner.id, 30 + i);
        r.assertion_key = Some(if i % 4 == 0 {
            "assertion-2".into()
        } else {
            format!("a{i}")
        });
        let store = store.clone();
        tasks.spawn(async move { store.insert_session(&r).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        7,
        "{results:?}"
    );
    assert!(
        results.iter().all(|r| r.is_ok() || *r == conflict),
        "{results:?}"
    );
}

async fn sessions_list_newest_first_with_filters(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (u1, u2) = (user(1), user(2));
    let c1 = ClientId::parse("svc-1").expect("id");
    let c2 = ClientId::parse("svc-2").expect("id");
    let mut inserted = Vec::new();
    for (i, (c, u)) in [(&c1, &u1), (&c2, &u1), (&c1, &u2), (&c2, &u2), (&c1, &u1)]
        .into_iter()
        .enumerate()
    {
        let s = session(c, &u.id, 10 * i as i64);
        store.insert_session(&s).await.expect("insert");
        inserted.push(s);
    }
    let ids = |records: Vec<grantd_domain::SessionRecord>| -> Vec<SessionId> {
        records.into_iter().map(|r| r.session.id).collect()
    };
    let id = |i: usize| inserted[i].id.clone();
    let list = |client_id: Option<&ClientId>, user_id: Option<&UserId>, limit| SessionFilter {
        client_id: client_id.cloned(),
        user_id: user_id.cloned(),
        limit,
        ..Default::default()
    };

    let all = store
        .list_sessions(&list(None, None, 10))
        .await
        .expect("list");
    assert_eq!(ids(all), [id(4), id(3), id(2), id(1), id(0)]);
    let by_client = store
        .list_sessions(&list(Some(&c1), None, 10))
        .await
        .expect("list");
    assert_eq!(ids(by_client), [id(4), id(2), id(0)]);
    let by_user = store
        .list_sessions(&list(None, Some(&u2.id), 10))
        .await
        .expect("list");
    assert_eq!(ids(by_user), [id(3), id(2)]);
    let both = store
        .list_sessions(&list(Some(&c1), Some(&u1.id), 10))
        .await
        .expect("list");
    assert_eq!(ids(both), [id(4), id(0)]);
    let limited = store
        .list_sessions(&list(None, None, 2))
        .await
        .expect("list");
    assert_eq!(ids(limited), [id(4), id(3)]);
    assert_eq!(store.list_sessions(&list(None, None, 0)).await, Ok(vec![]));
    let nobody = ClientId::parse("SVC-1").expect("id");
    assert_eq!(
        store.list_sessions(&list(Some(&nobody), None, 10)).await,
        Ok(vec![])
    );

    // Same creation time: the id decides, newest-first means descending.
    let mut x = session(&c2, &u2.id, 1000);
    let mut y = session(&c2, &u2.id, 1000);
    x.id = SessionId::parse("sess_00000000000000000000000000000001").expect("id");
    y.id = SessionId::parse("sess_00000000000000000000000000000002").expect("id");
    store.insert_session(&x).await.expect("x");
    store.insert_session(&y).await.expect("y");
    let top = store
        .list_sessions(&list(None, None, 2))
        .await
        .expect("list");
    assert_eq!(ids(top), [y.id, x.id]);
}

async fn sessions_page_by_keyset_each_row_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (u1, u2) = (user(1), user(2));
    let c1 = ClientId::parse("svc-1").expect("id");
    let c2 = ClientId::parse("svc-2").expect("id");
    // 40 rows over 8 creation times: 5 rows share each instant, so pages split ties.
    let mut rows = Vec::new();
    for i in 0..40i64 {
        let (c, u) = if i % 3 == 0 { (&c2, &u2) } else { (&c1, &u1) };
        let s = session(c, &u.id, i / 5);
        store.insert_session(&s).await.expect("insert");
        rows.push(s);
    }
    let newest_first = |keep: &dyn Fn(&grantd_domain::NewSession) -> bool| -> Vec<SessionId> {
        let mut v: Vec<&grantd_domain::NewSession> = rows.iter().filter(|s| keep(s)).collect();
        v.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        v.into_iter().map(|s| s.id.clone()).collect()
    };
    let pages = |base: SessionFilter| {
        let store = &store;
        async move {
            let mut seen = Vec::new();
            let mut filter = base;
            loop {
                let page = store.list_sessions(&filter).await.expect("page");
                assert!(page.len() <= filter.limit as usize);
                let Some(last) = page.last() else {
                    return seen;
                };
                filter.after = Some(SessionCursor::of(last));
                seen.extend(page.into_iter().map(|r| r.session.id));
            }
        }
    };
    for limit in [1, 3, 5, 7, 40, 100] {
        let all = pages(SessionFilter {
            limit,
            ..Default::default()
        })
        .await;
        assert_eq!(all, newest_first(&|_| true), "page size {limit}");
        let by_client = pages(SessionFilter {
            client_id: Some(c1.clone()),
            limit,
            ..Default::default()
        })
        .await;
        assert_eq!(by_client, newest_first(&|s| s.client_id == c1), "{limit}");
        let by_user = pages(SessionFilter {
            user_id: Some(u2.id.clone()),
            limit,
            ..Default::default()
        })
        .await;
        assert_eq!(by_user, newest_first(&|s| s.user_id == u2.id), "{limit}");
    }

    // since is inclusive, until exclusive; both combine with paging.
    let window = pages(SessionFilter {
        since: Some(at(2)),
        until: Some(at(5)),
        limit: 4,
        ..Default::default()
    })
    .await;
    assert_eq!(
        window,
        newest_first(&|s| s.created_at >= at(2) && s.created_at < at(5))
    );
    assert_eq!(window.len(), 15);

    // A cursor whose row is gone (purged) still places the page.
    let all = newest_first(&|_| true);
    let gone = SessionCursor {
        created_at: at(3),
        id: SessionId::parse("sess_ffffffffffffffffffffffffffffffff").expect("id"),
    };
    let after_gone = store
        .list_sessions(&SessionFilter {
            after: Some(gone),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    let want: Vec<SessionId> = rows
        .iter()
        .filter(|s| s.created_at <= at(3))
        .map(|s| s.id.clone())
        .collect::<Vec<_>>();
    let got: Vec<SessionId> = after_gone.into_iter().map(|r| r.session.id).collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, all[all.len() - want.len()..]);
}

async fn sessions_purge_in_batches(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(1);
    let cid = ClientId::parse("svc-a").expect("id");
    let mut expired = Vec::new();
    for i in 0..7 {
        let mut s = session(&cid, &owner.id, i);
        s.expires_at = at(100 + i);
        store.insert_session(&s).await.expect("insert");
        expired.push(s.id);
    }
    let mut live = session(&cid, &owner.id, 0);
    live.expires_at = at(1000);
    store.insert_session(&live).await.expect("insert");
    // Expiring exactly at the cut-off is not "before" it.
    let mut boundary = session(&cid, &owner.id, 0);
    boundary.expires_at = at(500);
    store.insert_session(&boundary).await.expect("insert");

    let mut rounds = Vec::new();
    loop {
        let n = store.purge_sessions(at(500), 3).await.expect("purge");
        rounds.push(n);
        if n < 3 {
            break;
        }
    }
    assert_eq!(rounds, [3, 3, 1]);
    for id in &expired {
        assert_eq!(store.find_session(id).await, Ok(None));
    }
    assert!(store.find_session(&live.id).await.expect("find").is_some());
    assert!(
        store
            .find_session(&boundary.id)
            .await
            .expect("find")
            .is_some()
    );
    assert_eq!(store.purge_sessions(at(500), 0).await, Ok(0));
    assert_eq!(store.purge_sessions(at(500), 10).await, Ok(0));
}

// ------------------------------------------------------------------------------------------
// signing keys

async fn signing_keys_bootstrap_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.list_signing_keys().await, Ok(vec![]));
    let active = key("k1", KeyState::Active, 1);
    let next = key("k2", KeyState::Next, 2);
    assert_eq!(store.bootstrap_signing_keys(&active, &next).await, Ok(true));
    assert_eq!(
        store.list_signing_keys().await,
        Ok(vec![active.clone(), next.clone()])
    );

    let other_active = key("k3", KeyState::Active, 3);
    let other_next = key("k4", KeyState::Next, 4);
    assert_eq!(
        store
            .bootstrap_signing_keys(&other_active, &other_next)
            .await,
        Ok(false)
    );
    assert_eq!(store.list_signing_keys().await.map(|k| k.len()), Ok(2));

    // The states are the ones the port names, whatever the records said.
    let (_db2, store2) = open(backend).await;
    let mut odd_active = key("a1", KeyState::Retired, 1);
    odd_active.activated_at = Some(at(1));
    let odd_next = key("a2", KeyState::Active, 2);
    assert_eq!(
        store2.bootstrap_signing_keys(&odd_active, &odd_next).await,
        Ok(true)
    );
    let states: Vec<KeyState> = store2
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(states, [KeyState::Active, KeyState::Next]);
}

async fn signing_keys_rotate_with_guard(backend: Backend) {
    let (_db, store) = open(backend).await;
    let k1 = key("k1", KeyState::Active, 1);
    let k2 = key("k2", KeyState::Next, 2);
    store
        .bootstrap_signing_keys(&k1, &k2)
        .await
        .expect("bootstrap");

    let k3 = key("k3", KeyState::Next, 3);
    let rotated = store
        .rotate_signing_keys(&k1.kid, &k3, at(10), at(10 + 3600))
        .await;
    assert_eq!(rotated, Ok(Some(k2.kid.clone())));
    let keys = store.list_signing_keys().await.expect("list");
    let view: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                k.kid.as_str(),
                k.state,
                k.activated_at,
                k.retired_at,
                k.not_after,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (
                "k1",
                KeyState::Retired,
                Some(at(1)),
                Some(at(10)),
                Some(at(3610))
            ),
            ("k2", KeyState::Active, Some(at(10)), None, None),
            ("k3", KeyState::Next, None, None, None),
        ]
    );
    assert_eq!(keys[2], k3);

    // A stale expectation (another replica rotated already) changes nothing.
    let k4 = key("k4", KeyState::Next, 4);
    assert_eq!(
        store
            .rotate_signing_keys(&k1.kid, &k4, at(20), at(3620))
            .await,
        Ok(None)
    );
    assert_eq!(store.list_signing_keys().await, Ok(keys.clone()));

    // Again, from the right key.
    assert_eq!(
        store
            .rotate_signing_keys(&k2.kid, &k4, at(20), at(3620))
            .await,
        Ok(Some(k3.kid.clone()))
    );
    let states: Vec<(String, KeyState)> = store
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| (k.kid.into_string(), k.state))
        .collect();
    assert_eq!(
        states,
        [
            ("k1".into(), KeyState::Retired),
            ("k2".into(), KeyState::Retired),
            ("k3".into(), KeyState::Active),
            ("k4".into(), KeyState::Next),
        ]
    );
    // A duplicate kid for the new next key rolls the whole rotation back.
    let dup = key("k1", KeyState::Next, 5);
    let r = store
        .rotate_signing_keys(&k3.kid, &dup, at(30), at(3630))
        .await;
    assert!(is_conflict(&r), "{r:?}");
    let after: Vec<KeyState> = store
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(
        after,
        [
            KeyState::Retired,
            KeyState::Retired,
            KeyState::Active,
            KeyState::Next
        ]
    );
}

async fn signing_key_changes_are_serialized_across_replicas(backend: Backend) {
    // Two stores on one database stand for two replicas (two processes on SQLite).
    let (db, a) = open(backend).await;
    let b = Store::connect(&db.url, StoreOptions::default())
        .await
        .expect("second replica");

    let (a1, a2) = (key("a1", KeyState::Active, 1), key("a2", KeyState::Next, 1));
    let (b1, b2) = (key("b1", KeyState::Active, 1), key("b2", KeyState::Next, 1));
    let (ra, rb) = tokio::join!(
        a.bootstrap_signing_keys(&a1, &a2),
        b.bootstrap_signing_keys(&b1, &b2),
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert!(ra ^ rb, "exactly one bootstrap wins: {ra} {rb}");
    let active = if ra { "a1" } else { "b1" };
    let active = Kid::parse(active).expect("kid");

    let (a3, b3) = (key("a3", KeyState::Next, 2), key("b3", KeyState::Next, 2));
    let (ra, rb) = tokio::join!(
        a.rotate_signing_keys(&active, &a3, at(5), at(100)),
        b.rotate_signing_keys(&active, &b3, at(5), at(100)),
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert!(
        ra.is_some() ^ rb.is_some(),
        "exactly one rotation wins: {ra:?} {rb:?}"
    );
    let states: Vec<KeyState> = a
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(
        states,
        [KeyState::Retired, KeyState::Active, KeyState::Next]
    );
}

async fn expired_keys_are_deleted(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .bootstrap_signing_keys(
            &key("k1", KeyState::Active, 1),
            &key("k2", KeyState::Next, 1),
        )
        .await
        .expect("bootstrap");
    let k1 = Kid::parse("k1").expect("kid");
    let k2 = Kid::parse("k2").expect("kid");
    store
        .rotate_signing_keys(&k1, &key("k3", KeyState::Next, 2), at(10), at(100))
        .await
        .expect("rotate");
    store
        .rotate_signing_keys(&k2, &key("k4", KeyState::Next, 3), at(20), at(200))
        .await
        .expect("rotate");

    assert_eq!(
        store.delete_expired_keys(at(100)).await,
        Ok(0),
        "not_after is exclusive"
    );
    assert_eq!(store.delete_expired_keys(at(150)).await, Ok(1));
    let kids: Vec<String> = store
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid.into_string())
        .collect();
    assert_eq!(kids, ["k2", "k3", "k4"]);
    // Active and next keys are never deleted, however old.
    assert_eq!(store.delete_expired_keys(at(1_000_000)).await, Ok(1));
    assert_eq!(store.list_signing_keys().await.map(|k| k.len()), Ok(2));
}

// ------------------------------------------------------------------------------------------
// failures

/// Scopes, roles and grant types the current configuration does not know are not corruption:
/// they are read back apart from the known ones, verbatim, and grant nothing.
async fn unknown_stored_values_are_kept_apart(backend: Backend) {
    let (db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let c = client("svc-unknown", &owner, 1);
    store.create_client(&c).await.expect("client");
    raw_sql(
        &db,
        "UPDATE clients SET scopes = 'mcp gone service', grant_types = 'password client_credentials' WHERE id = 'svc-unknown'",
    )
    .await
    .expect("plant");
    raw_sql(
        &db,
        &format!(
            "UPDATE users SET roles = 'retired admin' WHERE id = '{}'",
            owner.id
        ),
    )
    .await
    .expect("plant");
    let found = store.find_client(&c.id).await.expect("find").expect("some");
    let known: Vec<&str> = found.scopes.known().map(|s| s.name()).collect();
    assert_eq!(known, ["mcp", "service"]);
    assert_eq!(found.scopes.unknown(), ["gone"]);
    assert_eq!(
        found.grant_types.known(),
        [grantd_domain::GrantType::ClientCredentials]
    );
    assert_eq!(found.grant_types.unknown(), ["password"]);
    let o = store
        .find_user(&owner.id)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(o.roles.names(), ["admin", "retired"]);
    assert!(!o.roles.contains("retired"));
}

async fn corrupt_rows_are_internal_errors(backend: Backend) {
    let (db, store) = open(backend).await;
    let owner = user(1);
    store.create_user(&owner).await.expect("user");
    let c = client("svc-corrupt", &owner, 1);
    store.create_client(&c).await.expect("client");
    raw_sql(
        &db,
        "UPDATE clients SET auth_method = 'carrier-pigeon' WHERE id = 'svc-corrupt'",
    )
    .await
    .expect("plant");
    let r = store.find_client(&c.id).await;
    assert!(
        matches!(&r, Err(StoreError::Internal(m)) if m.to_string().contains("clients.auth_method")),
        "{r:?}"
    );
    assert!(matches!(
        store.list_clients().await,
        Err(StoreError::Internal(_))
    ));
    let d = client("svc-corrupt-dpop", &owner, 2);
    store.create_client(&d).await.expect("client");
    // Postgres has a CHECK constraint; SQLite relies on the read-side parse.
    if raw_sql(
        &db,
        "UPDATE clients SET dpop = 'sometimes' WHERE id = 'svc-corrupt-dpop'",
    )
    .await
    .is_ok()
    {
        let r = store.find_client(&d.id).await;
        assert!(
            matches!(&r, Err(StoreError::Internal(m)) if m.to_string().contains("clients.dpop")),
            "{r:?}"
        );
    } else {
        assert_eq!(
            backend,
            Backend::Postgres,
            "only Postgres refuses the value"
        );
    }

    raw_sql(
        &db,
        &format!(
            "UPDATE users SET id = 'not-a-uuid' WHERE id = '{}'",
            owner.id
        ),
    )
    .await
    .expect_err("the foreign key protects users.id");
    store.create_user(&user(2)).await.expect("another user");
    raw_sql(
        &db,
        "UPDATE users SET id = 'not-a-uuid' WHERE email LIKE 'user2-%'",
    )
    .await
    .expect("plant");
    assert!(matches!(
        store.list_users().await,
        Err(StoreError::Internal(_))
    ));
}

async fn error_messages_carry_no_values(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut a = user(1);
    a.email = "very-private@example.com".into();
    store.create_user(&a).await.expect("user");
    let mut b = user(2);
    b.email = a.email.clone();
    let err = store
        .create_user(&b)
        .await
        .expect_err("conflict")
        .to_string();
    assert!(!err.contains("very-private"), "{err}");

    let mut orphan = client("svc-orphan", &a, 1);
    orphan.owner_id = OwnerId::parse("00000000-0000-4000-8000-00000000beef");
    let err = store
        .create_client(&orphan)
        .await
        .expect_err("not found")
        .to_string();
    assert!(!err.contains("beef"), "{err}");
    assert!(!err.contains("hmac-sha256"), "{err}");
}

async fn ping_answers(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.ping().await, Ok(()));
    assert_eq!(store.backend(), backend);
    assert_eq!(store.migrate().await, Ok(vec![]), "already migrated");
}
