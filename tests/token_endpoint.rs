//! Outside-in tests of the token endpoint: the real binary on port 0 over a fresh SQLite file
//! and a fresh Postgres database, a real HTTP client, tokens verified through the JWKS with the
//! algorithm pinned, for each signing algorithm.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{BACKENDS, Backend, Env, verify_via_jwks};

#[test]
fn tokens_verify_through_the_jwks_for_every_algorithm_and_backend() {
    for backend in BACKENDS {
        for alg in ["ES256", "EdDSA", "RS256"] {
            let mut env = Env::new(backend);
            env.set("GRANTD_SIGNING__ALGORITHM", alg);
            let (uid, client_id, secret) =
                env.user_and_client(&["admin"], "service mcp admin", "client_secret_basic");
            let server = env.start();

            let resp = server.token(&client_id, &secret, "scope=mcp+admin+service");
            assert_eq!(resp.status, 200, "{backend:?} {alg}: {}", resp.body);
            assert_eq!(resp.header("cache-control"), Some("no-store"));
            assert_eq!(resp.header("pragma"), Some("no-cache"));
            let body = resp.json();
            assert_eq!(body["token_type"], "Bearer");
            assert_eq!(body["expires_in"], 3600);
            assert_eq!(body["scope"], "admin service mcp");
            assert!(body.get("refresh_token").is_none());

            let token = body["access_token"].as_str().expect("access_token");
            let claims = verify_via_jwks(&server, token, alg, "api", "http://127.0.0.1:8080");
            assert_eq!(claims["sub"], uid.as_str());
            assert_eq!(claims["client_id"], client_id.as_str());
            assert_eq!(claims["act"]["sub"], client_id.as_str());
            assert_eq!(claims["aud"], serde_json::json!(["api"]));
            assert_eq!(claims["scope"], "admin service mcp");
            assert_eq!(
                claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
                3600
            );
            assert_eq!(claims["nbf"], claims["iat"]);
            let session_id = claims["session_id"].as_str().expect("session_id");
            assert!(
                session_id.starts_with("sess_") && session_id.len() == 37,
                "{session_id}"
            );

            // The JWKS publishes public parameters only.
            let jwks = server.get("/.well-known/jwks.json").json();
            for key in jwks["keys"].as_array().expect("keys") {
                for private in ["d", "p", "q", "dp", "dq", "qi"] {
                    assert!(key.get(private).is_none(), "{alg}: JWKS leaks {private}");
                }
                assert_eq!(key["use"], "sig");
                assert!(key["kid"].is_string() && key["alg"].is_string());
            }

            // The session row records who asked and from where.
            let sessions = env.json(&["session", "list", "--client", &client_id]);
            let rows = sessions.as_array().expect("array");
            assert_eq!(rows.len(), 1, "{backend:?} {alg}: one session per token");
            assert_eq!(rows[0]["id"], session_id);
            assert_eq!(rows[0]["jti"], claims["jti"]);
            assert_eq!(rows[0]["user_id"], uid.as_str());
            assert_eq!(rows[0]["source"], "oauth");
            assert_eq!(rows[0]["ip"], "127.0.0.1");
        }
    }
}

#[test]
fn errors_are_oauth_json_with_no_store() {
    let env = Env::new(Backend::Sqlite);
    let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let server = env.start();
    let cases: Vec<(support::Resp, u16, &str)> = vec![
        (
            server.token(&client_id, "wrong-secret", ""),
            401,
            "invalid_client",
        ),
        (server.token("nobody", &secret, ""), 401, "invalid_client"),
        (
            server.token(&client_id, &secret, "scope=admin"),
            400,
            "invalid_scope",
        ),
        (
            server.token(&client_id, &secret, "scope=nonsense"),
            400,
            "invalid_scope",
        ),
        (
            server.token(&client_id, &secret, "audience=web"),
            400,
            "invalid_target",
        ),
        (
            server.post_form(
                "/oauth/token",
                Some((&client_id, &secret)),
                "grant_type=password",
            ),
            400,
            "unsupported_grant_type",
        ),
        (
            server.post_form("/oauth/token", Some((&client_id, &secret)), "scope=service"),
            400,
            "invalid_request",
        ),
    ];
    for (resp, status, code) in cases {
        assert_eq!(resp.status, status, "{}", resp.body);
        assert_eq!(resp.json()["error"], code, "{}", resp.body);
        assert!(resp.json()["error_description"].is_string());
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert_eq!(resp.header("pragma"), Some("no-cache"));
    }
    let wrong = server.token(&client_id, "wrong-secret", "");
    let unknown = server.token("nobody", &secret, "");
    assert_eq!(
        wrong.body, unknown.body,
        "unknown client and wrong secret look the same"
    );
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic realm=\"grantd\"")
    );
}

#[test]
fn client_secret_post_and_discovery() {
    let env = Env::new(Backend::Sqlite);
    let (_, client_id, secret) = env.user_and_client(&[], "mcp", "client_secret_post");
    let server = env.start();
    let body =
        format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}");
    let resp = server.post_form("/oauth/token", None, &body);
    assert_eq!(resp.status, 200, "{}", resp.body);
    // The same handler answers on the seed system's path.
    let resp = server.post_form("/api/v1/core/oauth/token", None, &body);
    assert_eq!(resp.status, 200, "{}", resp.body);
    // A client registered for post may not use Basic.
    assert_eq!(server.token(&client_id, &secret, "").status, 401);

    let meta = server.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(meta["issuer"], "http://127.0.0.1:8080");
    assert_eq!(meta["token_endpoint"], "http://127.0.0.1:8080/oauth/token");
    assert_eq!(
        meta["jwks_uri"],
        "http://127.0.0.1:8080/.well-known/jwks.json"
    );
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .expect("methods");
    assert!(
        methods.contains(&"client_secret_basic".into())
            && methods.contains(&"client_secret_post".into())
    );
    assert!(
        meta["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&"hook:govern".into())
    );
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let env = Env::new(Backend::Sqlite);
    let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let mut server = env.start();
    assert_eq!(server.token(&client_id, &secret, "").status, 200);
    assert!(server.stop(), "grantd exits 0 on SIGTERM");
}

#[test]
fn embedded_default_creates_its_master_key_file_with_mode_0600() {
    let mut env = Env::new(Backend::Sqlite);
    let db = env.dir.join("grantd.db");
    env.unset("GRANTD_MASTER_KEY");
    env.set(
        "GRANTD_DATABASE__URL",
        &format!("sqlite://{}", db.display()),
    );
    let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let key_file = env.dir.join("grantd.key");
    let mode = std::fs::metadata(&key_file)
        .expect("grantd.key created next to the database")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The server reuses the same key (the CLI's secret hash and signing keys stay valid).
    let server = env.start();
    assert_eq!(server.token(&client_id, &secret, "").status, 200);
}

#[test]
fn postgres_without_a_master_key_refuses_to_start_and_says_how() {
    let mut env = Env::new(Backend::Postgres);
    env.unset("GRANTD_MASTER_KEY");
    let out = env.cli(&["migrate"]);
    assert!(
        out.status.success(),
        "migrate needs no master key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.cli(&["serve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GRANTD_MASTER_KEY") && err.contains("master_key_file"),
        "{err}"
    );
}

#[test]
fn invalid_configuration_fails_start_up_naming_the_key() {
    let mut env = Env::new(Backend::Sqlite);
    env.set("GRANTD_TOKEN__SCOPE_POLICY", "lenient");
    let out = env.cli(&["serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token.scope_policy"));
    let out = env.cli(&["serve", "--config", "/nonexistent/grantd.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/grantd.toml"));
}

#[test]
fn ttl_is_exact_in_seconds_and_subject_can_be_the_client() {
    let mut env = Env::new(Backend::Sqlite);
    env.set("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "61")
        .set("GRANTD_TOKEN__SUBJECT", "client");
    let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let server = env.start();
    let body = server.token(&client_id, &secret, "").json();
    assert_eq!(body["expires_in"], 61);
    let claims = verify_via_jwks(
        &server,
        body["access_token"].as_str().expect("token"),
        "ES256",
        "api",
        "http://127.0.0.1:8080",
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        61
    );
    assert_eq!(claims["sub"], client_id.as_str());
    assert!(claims.get("act").is_none());
}
