//! Outside-in tests of the HTTP edge against the real binary: slow bodies are cut off with 408
//! and a closed connection, client-authentication failures are logged at WARN with the
//! presented client id and the source address (never the secret), scope tokens are separated
//! by spaces only, and every `error_description` stays within RFC 6749 §5.2's character set.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{BACKENDS, Backend, Env, Server, form_encode};

/// How long the test client waits for an answer: well past the 1 s body deadline the tests
/// configure, so a server without a deadline fails the test instead of hanging it.
const CLIENT_WAIT: Duration = Duration::from_secs(4);

/// What came back on a raw connection: the bytes, when the first byte arrived, and whether the
/// server closed the connection (EOF) before `CLIENT_WAIT` ran out.
struct Raw {
    text: String,
    first_byte: Option<Duration>,
    closed: bool,
}

fn raw(server: &Server, request: &[u8]) -> Raw {
    let addr = server.base.strip_prefix("http://").expect("http base");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(CLIENT_WAIT)).unwrap();
    let start = Instant::now();
    s.write_all(request).expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut first_byte = None;
    let closed = loop {
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => {
                first_byte.get_or_insert_with(|| start.elapsed());
                buf.extend_from_slice(&chunk[..n]);
            }
            // Timed out (or reset): the server did not close in time.
            Err(_) => break false,
        }
    };
    Raw {
        text: String::from_utf8_lossy(&buf).into_owned(),
        first_byte,
        closed,
    }
}

fn slow_body_server() -> (Env, Server) {
    let mut env = Env::new(Backend::Sqlite);
    env.set("GRANTD_SERVER__BODY_TIMEOUT", "1s");
    let server = env.start();
    (env, server)
}

fn assert_timed_out(what: &str, r: &Raw) {
    assert!(
        r.text.starts_with("HTTP/1.1 408"),
        "{what}: expected 408 within {CLIENT_WAIT:?}, got {:?}",
        r.text
    );
    let waited = r.first_byte.expect("an answer");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{what}: answered after {waited:?}, the deadline is 1 s"
    );
    let lower = r.text.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nconnection: close\r\n"),
        "{what}: {}",
        r.text
    );
    assert!(lower.contains("\r\ncache-control: no-store\r\n"), "{what}");
    assert!(lower.contains("\r\npragma: no-cache\r\n"), "{what}");
    let body = r.text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).expect("408 body is JSON");
    assert_eq!(json["error"], "invalid_request", "{what}");
    assert!(json["error_description"].is_string(), "{what}");
    assert!(r.closed, "{what}: connection still open after the 408");
}

#[test]
fn a_body_declared_longer_than_sent_gets_408_and_the_connection_closes() {
    let (_env, server) = slow_body_server();
    let r = raw(
        &server,
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\ng",
    );
    assert_timed_out("Content-Length: 4096, one byte sent", &r);
    // The server still serves everyone else.
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn a_chunked_body_that_never_ends_gets_408_and_the_connection_closes() {
    let (_env, server) = slow_body_server();
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let r = raw(
            &server,
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Transfer-Encoding: chunked\r\n\r\n5\r\ntoken\r\n"
            )
            .as_bytes(),
        );
        assert_timed_out(&format!("{path}: chunked, never ends"), &r);
    }
}

/// The WARN line about a client-authentication failure naming `needle` (a client id).
fn auth_log(server: &Server, needle: &str) -> String {
    server
        .wait_for_log(needle)
        .unwrap_or_else(|| panic!("no log line naming {needle:?} at GRANTD_LOG=warn"))
}

#[test]
fn client_authentication_failures_are_logged_at_warn_with_id_and_source_never_the_secret() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        // The proxy at 127.0.0.1 is trusted: its X-Forwarded-For names the source.
        env.set("GRANTD_SERVER__TRUSTED_PROXIES", r#"["127.0.0.1/32"]"#);
        let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        let wrong = "hunter2-wrong-secret-never-logged";

        // A known client, a wrong secret, straight from 127.0.0.1.
        assert_eq!(server.token(&client_id, wrong, "").status, 401);
        let line = auth_log(&server, &client_id);
        assert!(line.contains("WARN"), "{backend:?}: {line}");
        assert!(line.contains("source=127.0.0.1"), "{backend:?}: {line}");
        assert!(line.contains("WrongSecret"), "{backend:?}: {line}");

        // The right secret in the body of a client registered for Basic, through the proxy.
        let body = format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={}",
            form_encode(&secret)
        );
        let resp = server
            .agent
            .post(format!("{}/oauth/token", server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Forwarded-For", "203.0.113.9")
            .send(&body)
            .expect("HTTP request");
        assert_eq!(resp.status().as_u16(), 401);
        let line = server
            .wait_for_log("source=203.0.113.9")
            .expect("a WARN line with the forwarded source");
        assert!(line.contains(&client_id), "{backend:?}: {line}");
        assert!(
            line.contains("AuthMethodNotRegistered"),
            "{backend:?}: {line}"
        );

        // An attacker-chosen id: a line break and a bidi override are escaped, the length is
        // bounded, the line stays one line.
        let evil = format!("evil\nFAKE LOG LINE\u{202e}{}", "x".repeat(5000));
        assert_eq!(server.token(&evil, wrong, "").status, 401);
        let line = auth_log(&server, r"evil\nFAKE LOG LINE\u{202e}xxx");
        assert!(
            line.len() < 1000,
            "{backend:?}: unbounded: {} bytes",
            line.len()
        );
        assert!(line.contains("source=127.0.0.1"), "{backend:?}: {line}");
        // No credentials at all: still a line, with the source.
        let resp = server.post_form("/oauth/token", None, "grant_type=client_credentials");
        assert_eq!(resp.status, 401);
        let line = auth_log(&server, "no client credentials");
        assert!(
            line.contains("client_id=- source=127.0.0.1"),
            "{backend:?}: {line}"
        );

        let logs = server.logs.lock().unwrap();
        assert!(
            logs.iter()
                .all(|l| !l.contains(wrong) && !l.contains(&secret)),
            "{backend:?}: a secret reached the log"
        );
        assert!(
            !logs.iter().any(|l| l.starts_with("FAKE LOG LINE")),
            "{backend:?}: log injection"
        );
    }
}

#[test]
fn scope_tokens_are_separated_by_spaces_only() {
    let env = Env::new(Backend::Sqlite);
    let (_, client_id, secret) = env.user_and_client(&[], "service mcp", "client_secret_basic");
    let server = env.start();
    for (sep, name) in [
        ("%09", "%x09"),
        ("%0A", "%x0A"),
        ("%0D", "%x0D"),
        ("%0D%0A", "%x0D"),
    ] {
        let resp = server.token(&client_id, &secret, &format!("scope=service{sep}mcp"));
        assert_eq!(resp.status, 400, "{sep}: {}", resp.body);
        let body = resp.json();
        assert_eq!(body["error"], "invalid_scope", "{sep}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(name), "{sep}: {description}");
    }
    for (scope, granted) in [("service+mcp", "service mcp"), ("mcp", "mcp")] {
        let resp = server.token(&client_id, &secret, &format!("scope={scope}"));
        assert_eq!(resp.status, 200, "{scope}: {}", resp.body);
        assert_eq!(resp.json()["scope"], granted);
    }
}

/// RFC 6749 §5.2: `error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )`.
fn in_rfc6749_set(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[test]
fn error_descriptions_stay_within_the_rfc6749_character_set() {
    let env = Env::new(Backend::Sqlite);
    let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    let server = env.start();
    let cases = [
        ("scope=service%22", "malformed scope: service"),
        ("scope=serv%5Cice", "malformed scope: serv"),
        ("scope=caf%C3%A9", "malformed scope: caf"),
        ("scope=a%01b%7F", "malformed scope: a"),
    ];
    for (extra, start) in cases {
        let resp = server.token(&client_id, &secret, extra);
        assert_eq!(resp.status, 400, "{extra}: {}", resp.body);
        let description = resp.json()["error_description"]
            .as_str()
            .expect("description")
            .to_owned();
        assert!(
            in_rfc6749_set(&description),
            "{extra}: {description:?} leaves the RFC 6749 §5.2 set"
        );
        assert!(description.starts_with(start), "{extra}: {description}");
    }
    // Another endpoint, another echo: the grant type.
    let resp = server.post_form(
        "/oauth/token",
        Some((&client_id, &secret)),
        "grant_type=caf%C3%A9%22%5C",
    );
    assert_eq!(resp.json()["error"], "unsupported_grant_type");
    let description = resp.json()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(in_rfc6749_set(&description), "{description:?}");
}
