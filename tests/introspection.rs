//! Outside-in tests of who may introspect what, and of the owner behind a token: the real
//! binary on both backends, the CLI changing the owner while the server runs.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use serde_json::Value;
use support::{BACKENDS, Env, Server};

fn introspect(server: &Server, caller: (&str, &str), token: &str) -> Value {
    let resp = server.post_form(
        "/oauth/introspect",
        Some(caller),
        &format!("token={}", support::form_encode(token)),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

fn token_of(server: &Server, id: &str, secret: &str, scope: &str) -> String {
    let resp = server.token(
        id,
        secret,
        &format!("scope={}", support::form_encode(scope)),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["scope"], scope, "{}", resp.body);
    resp.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[test]
fn only_holders_of_introspect_see_other_clients_tokens() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (_, a_id, a_secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let (_, b_id, b_secret) = env.user_and_client(&[], "mcp", "client_secret_basic");
        let server = env.start();
        let a_token = token_of(&server, &a_id, &a_secret, "service");
        let b_token = token_of(&server, &b_id, &b_secret, "mcp");

        assert_eq!(
            introspect(&server, (&b_id, &b_secret), &a_token),
            serde_json::json!({ "active": false }),
            "{backend:?}: a caller without `introspect` sees another client's token"
        );
        let own = introspect(&server, (&b_id, &b_secret), &b_token);
        assert_eq!(own["active"], true, "{backend:?}: own token: {own}");
        assert_eq!(own["client_id"], b_id.as_str());

        let (_, rs_id, rs_secret) = env.user_and_client(&[], "introspect", "client_secret_basic");

        let seen = introspect(&server, (&rs_id, &rs_secret), &a_token);
        assert_eq!(seen["active"], true, "{backend:?}: {seen}");
        assert_eq!(seen["client_id"], a_id.as_str());
    }
}

#[test]
fn deactivating_the_owner_makes_its_tokens_inactive() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        // No cache: what is tested is the rule, not how fast another process's change arrives.
        env.set("GRANTD_CACHE__TTL", "0s");
        let (uid, id, secret) =
            env.user_and_client(&["admin"], "admin service", "client_secret_basic");
        let server = env.start();
        let delegated = token_of(&server, &id, &secret, "admin");
        let service = token_of(&server, &id, &secret, "service");
        for token in [&delegated, &service] {
            assert_eq!(
                introspect(&server, (&id, &secret), token)["active"],
                true,
                "{backend:?}"
            );
        }

        // The client itself still authenticates (it is not disabled) and may always introspect
        // its own tokens: what makes them inactive is the owner alone.
        env.json(&["user", "deactivate", &uid]);
        for (what, token) in [("delegated", &delegated), ("service", &service)] {
            assert_eq!(
                introspect(&server, (&id, &secret), token),
                serde_json::json!({ "active": false }),
                "{backend:?}: {what} token of a deactivated owner"
            );
        }

        // Deactivation suspends; it does not revoke: reactivated, the owner backs them again.
        env.json(&["user", "activate", &uid]);
        assert_eq!(
            introspect(&server, (&id, &secret), &delegated)["active"],
            true,
            "{backend:?}"
        );
    }
}
