//! Outside-in tests of per-client limits set by the CLI, on both backends: a client's own rate
//! replaces the global per-client bucket; a token quota of N gives N tokens then 429
//! `quota_exceeded` (only to the authenticated client), is shown by `client show` and
//! `explain`, survives a restart (it is counted from the session rows) and can be cleared; two
//! processes on one Postgres share one quota.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BACKENDS, Backend, Env, Resp, Server};

fn assert_quota_exceeded(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 429, "{what}: {}", resp.body);
    let wait: u64 = resp
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    // Until the oldest token (issued seconds ago) leaves the hour.
    assert!(
        (3_000..=3_600).contains(&wait),
        "{what}: Retry-After {wait}"
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"), "{what}");
    let body = resp.json();
    assert_eq!(body["error"], "quota_exceeded", "{what}");
    assert_eq!(body["error_description"], "token quota per hour exhausted");
}

/// The quota windows `client show --json` reports.
fn usage(env: &Env, id: &str) -> Value {
    env.json(&["client", "show", id])["quota_usage"].clone()
}

/// Retries `f` for up to 5 s (a CLI change reaches a running server through notifications).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_quota_of_n_gives_n_tokens_then_429_and_survives_a_restart() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let updated = env.json(&["client", "update", &id, "--quota-hour", "3"]);
        assert_eq!(updated["quota"]["per_hour"], 3, "{updated}");
        assert_eq!(updated["quota"]["per_day"], Value::Null);
        let mut server = env.start();
        for i in 0..3 {
            let resp = server.token(&id, &secret, "scope=service");
            assert_eq!(resp.status, 200, "{backend:?} token {i}: {}", resp.body);
        }
        let what = format!("{backend:?} fourth");
        assert_quota_exceeded(&server.token(&id, &secret, "scope=service"), &what);
        // Nobody without the secret learns about (or spends) the quota.
        let resp = server.token(&id, "wrong", "scope=service");
        assert_eq!(resp.status, 401, "{backend:?}: {}", resp.body);

        let u = usage(&env, &id);
        assert_eq!(u[0]["window"], "hour", "{u}");
        assert_eq!((&u[0]["used"], &u[0]["remaining"]), (&3.into(), &0.into()));
        let e = env.json(&["explain", "--client", &id, "--scope", "service"]);
        assert_eq!(e["outcome"]["error"], "quota_exceeded", "{e}");
        assert_eq!(e["quota_usage"][0]["limit"], 3, "{e}");

        // A new process counts from the rows.
        assert!(server.stop());
        let server = env.start();
        let what = format!("{backend:?} after restart");
        assert_quota_exceeded(&server.token(&id, &secret, "scope=service"), &what);

        // Raised by the CLI while it runs: the server follows.
        env.json(&["client", "update", &id, "--quota-hour", "4"]);
        eventually("raised quota", || {
            server.token(&id, &secret, "scope=service").status == 200
        });
        assert_eq!(server.token(&id, &secret, "scope=service").status, 429);
        let cleared = env.json(&["client", "update", &id, "--no-quota-hour"]);
        assert_eq!(cleared["quota_usage"], Value::Array(vec![]), "{cleared}");
        eventually("cleared quota", || {
            server.token(&id, &secret, "scope=service").status == 200
        });
    }
}

#[test]
fn a_clients_own_rate_replaces_the_global_bucket() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_RATE_LIMIT__PER_CLIENT", "1")
            .set("GRANTD_RATE_LIMIT__PER_CLIENT_BURST", "1");
        let (_, big, big_secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let (_, small, small_secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let shown = env.json(&[
            "client",
            "update",
            &big,
            "--rate-limit",
            "1/s",
            "--rate-burst",
            "6",
        ]);
        assert_eq!(shown["rate_limit"]["per_second"], 1, "{shown}");
        assert_eq!(shown["rate_limit"]["burst"], 6, "{shown}");
        let server = env.start();
        // The first request goes by the global bucket and teaches the server the client's own
        // (a full bucket of 6); the global burst of 1 alone would refuse the second.
        for i in 0..7 {
            let resp = server.token(&big, &big_secret, "scope=service");
            assert_eq!(resp.status, 200, "{backend:?} request {i}: {}", resp.body);
        }
        let resp = server.token(&big, &big_secret, "scope=service");
        assert_eq!(resp.status, 429, "{backend:?}: {}", resp.body);
        assert_eq!(resp.json()["error"], "temporarily_unavailable");
        assert_eq!(server.token(&small, &small_secret, "").status, 200);
        assert_eq!(server.token(&small, &small_secret, "").status, 429);
        // Introspection goes by the client's own bucket too.
        let resp = server.post_form("/oauth/introspect", Some((&big, &big_secret)), "token=x");
        assert_eq!(resp.status, 429, "{backend:?}: {}", resp.body);
    }
}

/// Hammers `server` for `client` until it refuses `refusals` times in a row; the 200s.
fn drain(server: &Server, id: &str, secret: &str) -> usize {
    let (mut ok, mut refused_in_a_row) = (0, 0);
    let start = Instant::now();
    while refused_in_a_row < 5 && start.elapsed() < Duration::from_secs(20) {
        match server.token(id, secret, "scope=service").status {
            200 => {
                ok += 1;
                refused_in_a_row = 0;
            }
            429 => refused_in_a_row += 1,
            other => panic!("unexpected {other}"),
        }
    }
    ok
}

#[test]
fn two_processes_on_one_postgres_share_a_quota() {
    const QUOTA: usize = 30;
    let mut env = Env::new(Backend::Postgres);
    env.set("GRANTD_QUOTA__SYNC_INTERVAL", "1s");
    let (_, a, a_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let (_, b, b_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    for id in [&a, &b] {
        env.json(&["client", "update", id, "--quota-day", &QUOTA.to_string()]);
    }
    let (one, two) = (env.start(), env.start());

    // One after the other: the second process reads the first one's rows at first use.
    assert_eq!(drain(&one, &a, &a_secret), QUOTA);
    assert_eq!(drain(&two, &a, &a_secret), 0);

    // At once: each process may overshoot by what the other issued within one sync interval,
    // and never more than the quota itself (its own count alone stops it there).
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| drain(&one, &b, &b_secret));
        let y = s.spawn(|| drain(&two, &b, &b_secret));
        (x.join().unwrap(), y.join().unwrap())
    });
    let total = x + y;
    assert!((QUOTA..=2 * QUOTA).contains(&total), "{x} + {y}");
    // Every 200 is a row, and both now refuse.
    std::thread::sleep(Duration::from_millis(1_100));
    let used = usage(&env, &b)[0]["used"].as_u64().unwrap();
    assert_eq!(used, total as u64, "{x} + {y}");
    assert_eq!(one.token(&b, &b_secret, "scope=service").status, 429);
    assert_eq!(two.token(&b, &b_secret, "scope=service").status, 429);
    eprintln!("two processes, sync 1s, quota {QUOTA}: {x} + {y} = {total} issued");

    // Reading the rows on every request (sync interval 0) shrinks the slack to the requests
    // in flight elsewhere: one per process here (one caller each).
    env.set("GRANTD_QUOTA__SYNC_INTERVAL", "0s");
    drop((one, two));
    let (one, two) = (env.start(), env.start());
    let (_, c, c_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    env.json(&["client", "update", &c, "--quota-day", &QUOTA.to_string()]);
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| drain(&one, &c, &c_secret));
        let y = s.spawn(|| drain(&two, &c, &c_secret));
        (x.join().unwrap(), y.join().unwrap())
    });
    assert!((QUOTA..=QUOTA + 2).contains(&(x + y)), "{x} + {y}");
    eprintln!(
        "two processes, sync 0s, quota {QUOTA}: {x} + {y} = {} issued",
        x + y
    );
}
