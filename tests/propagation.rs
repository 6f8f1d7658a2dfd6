//! Admin changes made by another process reach a running server at once, not after the cache's
//! TTL: the server runs with `cache.ttl = 60s`, so only the change notifications (Postgres
//! LISTEN/NOTIFY, SQLite's polled change marker) can explain a refusal within a second.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::time::{Duration, Instant};

use support::{Backend, Env, Server};

/// The target is 250 ms; the assertion allows for scheduling on a loaded test machine.
const BOUND: Duration = Duration::from_secs(1);

/// Polls the token endpoint until it answers `want`; returns how long that took, or fails
/// after a few seconds (far less than the 60 s TTL, far more than the bound).
fn delay_until(server: &Server, id: &str, secret: &str, want: u16, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        if server.token(id, secret, "").status == want {
            let took = start.elapsed();
            eprintln!("{what}: seen by the server after {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: the server still answers as before after 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check(backend: Backend) {
    let mut env = Env::new(backend);
    env.set("GRANTD_CACHE__TTL", "60s");
    let (_, disabled, disabled_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let (owner, owned, owned_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let (_, rotated, old_secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let server = env.start();
    // Every entry is in the server's cache before the changes.
    for (id, secret) in [
        (&disabled, &disabled_secret),
        (&owned, &owned_secret),
        (&rotated, &old_secret),
    ] {
        assert_eq!(server.token(id, secret, "").status, 200, "{backend:?}");
    }

    let mut delays = Vec::new();
    env.json(&["client", "disable", &disabled]);
    let what = format!("{backend:?} client disable");
    delays.push(delay_until(
        &server,
        &disabled,
        &disabled_secret,
        401,
        &what,
    ));

    env.json(&["client", "enable", &disabled]);
    let what = format!("{backend:?} client enable");
    delays.push(delay_until(
        &server,
        &disabled,
        &disabled_secret,
        200,
        &what,
    ));

    env.json(&["user", "deactivate", &owner]);
    let what = format!("{backend:?} user deactivate");
    delays.push(delay_until(&server, &owned, &owned_secret, 401, &what));

    let new = env.json(&["client", "rotate-secret", &rotated, "--grace", "0"]);
    let new_secret = new["client_secret"].as_str().expect("secret").to_owned();
    let what = format!("{backend:?} rotate-secret --grace 0");
    delays.push(delay_until(&server, &rotated, &old_secret, 401, &what));
    assert_eq!(server.token(&rotated, &new_secret, "").status, 200);

    for d in delays {
        assert!(
            d <= BOUND,
            "{backend:?}: a change took {d:?} to reach the server"
        );
    }
}

#[test]
fn cli_changes_reach_a_running_sqlite_server_at_once() {
    check(Backend::Sqlite);
}

#[test]
fn cli_changes_reach_a_running_postgres_server_at_once() {
    check(Backend::Postgres);
}
