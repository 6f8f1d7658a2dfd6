//! Outside-in tests of the rate limits, on both backends: per-client buckets answer 429 with
//! `Retry-After`, RFC 6749 JSON and `no-store` while other clients go on; failed
//! authentications throttle one (client id, source IP) pair, unknown ids alike, while the
//! real client from its own address is served. Two source addresses are simulated through a
//! trusted proxy (`X-Forwarded-For` from 127.0.0.1).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use support::{BACKENDS, Env, Resp, Server};

const GRANT: &str = "grant_type=client_credentials&scope=service";

fn token_from(server: &Server, id: &str, secret: &str, ip: &str) -> Resp {
    server.post_form_with(
        "/oauth/token",
        Some((id, secret)),
        &[("X-Forwarded-For", ip)],
        GRANT,
    )
}

fn assert_limited(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 429, "{what}: {}", resp.body);
    let wait: u64 = resp
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(wait >= 1, "{what}: Retry-After {wait}");
    assert_eq!(resp.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    assert_eq!(body["error"], "temporarily_unavailable", "{what}");
    assert!(body["error_description"].is_string());
}

#[test]
fn a_client_over_its_bucket_gets_429_while_another_is_served() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        // One token a minute after a burst of three: the fourth request must wait.
        env.set("GRANTD_RATE_LIMIT__PER_CLIENT", "1")
            .set("GRANTD_RATE_LIMIT__PER_CLIENT_BURST", "3");
        let (_, hot, hot_secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let (_, cold, cold_secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        for i in 0..3 {
            let resp = server.token(&hot, &hot_secret, "scope=service");
            assert_eq!(resp.status, 200, "{backend:?} request {i}: {}", resp.body);
        }
        let resp = server.token(&hot, &hot_secret, "scope=service");
        assert_limited(&resp, &format!("{backend:?} fourth request"));
        // Introspection and revocation share the client's bucket.
        let resp = server.post_form("/oauth/introspect", Some((&hot, &hot_secret)), "token=x");
        assert_limited(&resp, &format!("{backend:?} introspection"));
        let resp = server.token(&cold, &cold_secret, "scope=service");
        assert_eq!(resp.status, 200, "{backend:?} other client: {}", resp.body);
    }
}

#[test]
fn a_guesser_is_throttled_while_the_real_client_from_its_own_address_is_not() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_SERVER__TRUSTED_PROXIES", r#"["127.0.0.1/32"]"#)
            .set("GRANTD_RATE_LIMIT__MAX_FAILURES", "3")
            .set("GRANTD_RATE_LIMIT__BACKOFF_BASE", "30s");
        let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        let attacker = "203.0.113.7";
        let real = "198.51.100.2";
        for i in 0..3 {
            let resp = token_from(&server, &id, "wrong-guess", attacker);
            assert_eq!(resp.status, 401, "{backend:?} guess {i}: {}", resp.body);
        }
        // Now even the right secret from the guesser's address waits: no secret is checked.
        let resp = token_from(&server, &id, &secret, attacker);
        assert_limited(&resp, &format!("{backend:?} guesser"));
        let wait: u64 = resp.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=30).contains(&wait), "{backend:?} wait {wait}");
        let resp = token_from(&server, &id, &secret, real);
        assert_eq!(resp.status, 200, "{backend:?} real client: {}", resp.body);

        // Unknown ids are throttled the same way, with the same answer.
        for _ in 0..3 {
            let resp = token_from(&server, "no-such-client", "guess", attacker);
            assert_eq!(resp.status, 401, "{backend:?}: {}", resp.body);
        }
        let unknown = token_from(&server, "no-such-client", "guess", attacker);
        assert_limited(&unknown, &format!("{backend:?} unknown id"));
        let known = token_from(&server, &id, "guess", attacker);
        assert_eq!(
            known.body, unknown.body,
            "{backend:?}: the answer tells nothing"
        );
    }
}

#[test]
fn disabled_limits_let_everything_through() {
    let mut env = Env::new(support::Backend::Sqlite);
    env.set("GRANTD_RATE_LIMIT__ENABLED", "false")
        .set("GRANTD_RATE_LIMIT__PER_CLIENT", "1")
        .set("GRANTD_RATE_LIMIT__PER_CLIENT_BURST", "1");
    let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let server = env.start();
    for i in 0..5 {
        let resp = server.token(&id, &secret, "scope=service");
        assert_eq!(resp.status, 200, "request {i}: {}", resp.body);
    }
}

#[test]
fn a_source_address_over_its_bucket_gets_429_before_its_body_is_read() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_SERVER__TRUSTED_PROXIES", r#"["127.0.0.1/32"]"#)
            .set("GRANTD_RATE_LIMIT__PER_IP", "1")
            .set("GRANTD_RATE_LIMIT__PER_IP_BURST", "2");
        let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        for i in 0..2 {
            let resp = token_from(&server, &id, &secret, "203.0.113.9");
            assert_eq!(resp.status, 200, "{backend:?} request {i}: {}", resp.body);
        }
        // Even a request that would be refused for its body is answered 429 first.
        let resp = server.post_form_with(
            "/oauth/revoke",
            None,
            &[("X-Forwarded-For", "203.0.113.9")],
            "not a form %zz",
        );
        assert_limited(&resp, &format!("{backend:?} same address"));
        let resp = token_from(&server, &id, &secret, "198.51.100.2");
        assert_eq!(resp.status, 200, "{backend:?} other address: {}", resp.body);
    }
}
