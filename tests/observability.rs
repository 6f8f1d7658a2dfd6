//! Outside-in: what an operator sees of a running grantd: a quiet CLI, one start-up line whose
//! issuer follows the bound address when none is configured, and JSON logs on request.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use support::{BACKENDS, Env};

#[test]
fn a_successful_cli_command_writes_nothing_on_stderr() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        // The CLI's own default level, not the tests' GRANTD_LOG.
        env.unset("GRANTD_LOG");
        let out = env.cli(&[
            "--json",
            "user",
            "create",
            "--name",
            "Q",
            "--email",
            "q@example.com",
        ]);
        assert!(out.status.success(), "{backend:?}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{backend:?}: stderr of a successful command"
        );
        let out = env.cli(&["key", "list"]);
        assert!(out.status.success(), "{backend:?}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{backend:?}: key list"
        );
        // An error still says so, on one line.
        let out = env.cli(&["client", "show", "nope"]);
        assert!(!out.status.success());
        assert!(!out.stderr.is_empty(), "{backend:?}: an error is reported");
    }
}

#[test]
fn without_a_configured_issuer_discovery_follows_the_bound_address() {
    let mut env = Env::new(support::Backend::Sqlite);
    env.unset("GRANTD_TOKEN__ISSUER");
    let server = env.start_with(&["--bind", "127.0.0.1:0"]);
    let meta = server.get("/.well-known/oauth-authorization-server").json();
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "{}",
        server.base
    );
    assert_ne!(server.base, "http://127.0.0.1:0");
    assert_eq!(meta["issuer"], server.base.as_str());
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/oauth/token", server.base).as_str()
    );
    let line = server
        .wait_for_log("grantd listening on")
        .expect("start-up line");
    assert!(
        line.contains(&format!("issuer {} (from the bind address", server.base)),
        "{line}"
    );
}

#[test]
fn a_configured_issuer_is_used_as_is() {
    let mut env = Env::new(support::Backend::Sqlite);
    env.set("GRANTD_TOKEN__ISSUER", "https://auth.example.com/");
    let server = env.start();
    let meta = server.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(meta["issuer"], "https://auth.example.com");
    let line = server.wait_for_log("grantd listening on").expect("line");
    assert!(!line.contains("from the bind address"), "{line}");
}

#[test]
fn json_logs_are_one_json_object_per_line_without_colour() {
    let mut env = Env::new(support::Backend::Sqlite);
    env.set("GRANTD_LOG__FORMAT", "json")
        .set("GRANTD_LOG", "info");
    let server = env.start();
    let resp = server.token("no-such-client", "wrong", "");
    assert_eq!(resp.status, 401);
    let line = server
        .wait_for_log("client authentication failed")
        .expect("a log line about the refused client");
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(v["level"], "WARN", "{line}");
    assert_eq!(v["message"], "client authentication failed", "{line}");
    assert_eq!(v["client_id"], "\"no-such-client\"", "{line}");
}

#[test]
fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    let mut env = Env::new(support::Backend::Sqlite);
    env.set("GRANTD_LOG", "info");
    let out = env.cli(&["key", "list"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "asked for info logs: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );
}
