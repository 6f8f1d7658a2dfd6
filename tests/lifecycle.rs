//! Outside-in tests of the token lifecycle on both backends: introspection, revocation,
//! signing-key rotation (one server and two servers on one Postgres), session purge.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BACKENDS, Backend, Env, Server, verify_via_jwks};

fn within(bound: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn introspect(server: &Server, caller: (&str, &str), token: &str) -> Value {
    let resp = server.post_form(
        "/oauth/introspect",
        Some(caller),
        &format!("token={}", support::form_encode(token)),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    resp.json()
}

fn revoke(server: &Server, caller: (&str, &str), token: &str) -> u16 {
    server
        .post_form(
            "/oauth/revoke",
            Some(caller),
            &format!("token={}", support::form_encode(token)),
        )
        .status
}

fn token_of(server: &Server, id: &str, secret: &str) -> String {
    let resp = server.token(id, secret, "");
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

#[test]
fn introspect_revoke_introspect_on_both_backends() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (uid, a_id, a_secret) = env.user_and_client(&[], "service", "client_secret_basic");
        // B is a resource server: it may introspect other clients' tokens.
        let (_, b_id, b_secret) = env.user_and_client(&[], "mcp introspect", "client_secret_basic");
        let server = env.start();
        let token = token_of(&server, &a_id, &a_secret);

        let active = introspect(&server, (&b_id, &b_secret), &token);
        assert_eq!(active["active"], true, "{backend:?}: {active}");
        assert_eq!(active["client_id"], a_id.as_str());
        assert_eq!(active["sub"], uid.as_str());
        assert_eq!(active["scope"], "service");
        assert_eq!(active["token_type"], "Bearer");
        for k in ["aud", "iss", "exp", "iat", "nbf", "jti", "session_id"] {
            assert!(
                active.get(k).is_some(),
                "{backend:?}: introspection lacks {k}"
            );
        }

        // B cannot revoke A's token: 200, no effect.
        assert_eq!(revoke(&server, (&b_id, &b_secret), &token), 200);
        assert_eq!(
            introspect(&server, (&b_id, &b_secret), &token)["active"],
            true,
            "{backend:?}"
        );

        // A can.
        assert_eq!(revoke(&server, (&a_id, &a_secret), &token), 200);
        assert_eq!(
            introspect(&server, (&b_id, &b_secret), &token),
            serde_json::json!({ "active": false }),
            "{backend:?}"
        );
        let sessions = env.json(&["session", "list", "--client", &a_id]);
        assert!(
            sessions[0]["revoked_at"].is_string() && sessions[0]["revoke_reason"].is_string(),
            "{sessions}"
        );

        // Garbage and unknown tokens: introspection inactive, revocation 200.
        for junk in ["", "x", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            if !junk.is_empty() {
                assert_eq!(
                    introspect(&server, (&a_id, &a_secret), junk),
                    serde_json::json!({ "active": false })
                );
            }
            assert_eq!(
                revoke(
                    &server,
                    (&a_id, &a_secret),
                    if junk.is_empty() { "x" } else { junk }
                ),
                200
            );
        }
        // Unauthenticated callers get 401.
        assert_eq!(
            server
                .post_form("/oauth/introspect", Some((&a_id, "wrong")), "token=x")
                .status,
            401
        );
        assert_eq!(
            server.post_form("/oauth/revoke", None, "token=x").status,
            401
        );
    }
}

#[test]
fn disabled_client_tokens_introspect_inactive() {
    let mut env = Env::new(Backend::Sqlite);
    env.set("GRANTD_CACHE__TTL", "1s");
    let (_, a_id, a_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let (_, b_id, b_secret) = env.user_and_client(&[], "mcp introspect", "client_secret_basic");
    let server = env.start();
    let token = token_of(&server, &a_id, &a_secret);
    env.json(&["client", "disable", &a_id]);
    assert!(within(Duration::from_secs(3), || introspect(
        &server,
        (&b_id, &b_secret),
        &token
    )["active"]
        == false));
}

#[test]
fn key_rotation_keeps_old_tokens_valid_and_new_tokens_use_the_new_key() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_SIGNING__REFRESH_EVERY", "1s");
        let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        let old = token_of(&server, &id, &secret);
        let old_kid = kid_of(&old);

        let rotated = env.json(&["key", "rotate"]);
        assert_eq!(rotated["retired"], old_kid.as_str());
        let new_kid = rotated["active"].as_str().expect("active").to_owned();
        assert!(
            within(Duration::from_secs(4), || kid_of(&token_of(
                &server, &id, &secret
            )) == new_kid),
            "{backend:?}: server did not pick up the rotation within its refresh bound"
        );
        // The old token still verifies through the JWKS and introspects active.
        verify_via_jwks(&server, &old, "ES256", "api", "http://127.0.0.1:8080");
        assert_eq!(introspect(&server, (&id, &secret), &old)["active"], true);
        let new = token_of(&server, &id, &secret);
        verify_via_jwks(&server, &new, "ES256", "api", "http://127.0.0.1:8080");
        // JWKS holds next + active + retired.
        let jwks = server.get("/.well-known/jwks.json").json();
        assert_eq!(
            jwks["keys"].as_array().map(Vec::len),
            Some(3),
            "{backend:?}: {jwks}"
        );
    }
}

#[test]
fn two_servers_on_one_postgres_follow_a_rotation() {
    let mut env = Env::new(Backend::Postgres);
    env.set("GRANTD_SIGNING__REFRESH_EVERY", "1s");
    let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let one = env.start();
    let two = env.start();
    let kid = kid_of(&token_of(&one, &id, &secret));
    assert_eq!(
        kid_of(&token_of(&two, &id, &secret)),
        kid,
        "both nodes sign with the one active key"
    );

    let rotated = env.json(&["key", "rotate"]);
    let new_kid = rotated["active"].as_str().expect("active").to_owned();
    for (name, server) in [("one", &one), ("two", &two)] {
        assert!(
            within(Duration::from_secs(4), || kid_of(&token_of(
                server, &id, &secret
            )) == new_kid),
            "server {name}"
        );
        let jwks = server.get("/.well-known/jwks.json").json();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert!(
            kids.contains(&new_kid.as_str()) && kids.contains(&kid.as_str()),
            "server {name}: {kids:?}"
        );
    }
    // Concurrent rotations never leave two active keys.
    let a = std::thread::spawn({
        let cmd = env.command();
        move || rotate_with(cmd)
    });
    let b = std::thread::spawn({
        let cmd = env.command();
        move || rotate_with(cmd)
    });
    let results = [a.join().expect("join"), b.join().expect("join")];
    assert!(
        results.iter().any(|ok| *ok),
        "at least one rotation succeeds"
    );
    let keys = env.json(&["key", "list"]);
    let active = keys
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["state"] == "active")
        .count();
    assert_eq!(active, 1, "{keys}");
}

fn rotate_with(mut cmd: std::process::Command) -> bool {
    cmd.args(["key", "rotate"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn expired_sessions_are_purged_and_live_ones_kept() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "1");
        let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        token_of(&server, &id, &secret);
        token_of(&server, &id, &secret);
        std::thread::sleep(Duration::from_millis(2100));
        drop(server);
        // A fresh node with a long TTL issues a live token.
        env.set("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "3600");
        let server = env.start();
        let live = token_of(&server, &id, &secret);
        // Expired rows are kept for `sessions.retention` (7 days by default): keep none.
        env.set("GRANTD_SESSIONS__RETENTION", "0s");
        assert_eq!(
            env.json(&["session", "purge"]),
            serde_json::json!({ "deleted": 2 }),
            "{backend:?}"
        );
        let rows = env.json(&["session", "list"]);
        assert_eq!(
            rows.as_array().map(Vec::len),
            Some(1),
            "{backend:?}: {rows}"
        );
        assert_eq!(introspect(&server, (&id, &secret), &live)["active"], true);
    }
}

#[test]
fn background_purge_honours_retention() {
    let mut env = Env::new(Backend::Sqlite);
    // Rows kept 1 s in all: client assertions may then live no longer (replay memory).
    env.set("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "1")
        .set("GRANTD_SESSIONS__RETENTION", "0s")
        .set("GRANTD_CLIENT_ASSERTION__MAX_LIFETIME", "1s")
        .set("GRANTD_CLIENT_ASSERTION__MAX_SKEW", "0s")
        .set("GRANTD_SESSIONS__PURGE_EVERY", "1s");
    let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let server = env.start();
    token_of(&server, &id, &secret);
    assert_eq!(
        env.json(&["session", "list"]).as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        within(Duration::from_secs(5), || env.json(&["session", "list"])
            == serde_json::json!([])),
        "expired session not purged"
    );
}

#[test]
fn discovery_names_introspection_and_revocation() {
    let env = Env::new(Backend::Sqlite);
    let server = env.start();
    let meta = server.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(
        meta["introspection_endpoint"],
        "http://127.0.0.1:8080/oauth/introspect"
    );
    assert_eq!(
        meta["revocation_endpoint"],
        "http://127.0.0.1:8080/oauth/revoke"
    );
    assert!(meta["introspection_endpoint_auth_methods_supported"].is_array());
    assert!(meta["revocation_endpoint_auth_methods_supported"].is_array());
}
