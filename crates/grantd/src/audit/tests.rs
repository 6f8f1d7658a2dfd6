//! The queue in front of the writer: events come out in order as ECS JSON lines, a full queue
//! drops and counts instead of waiting, and `close` writes out what was queued.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

use std::io::Write;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use grantd_domain::Timestamp;
use grantd_ports::{AuditEvent, AuditKind, AuditSink, Endpoint, Refusal};

use super::AuditQueue;

/// A writer that collects what it is given, and blocks on each write until the test lets it go
/// (when `gate` is set).
struct Collect {
    out: Arc<Mutex<Vec<u8>>>,
    gate: Option<Receiver<()>>,
    entered: Sender<()>,
}

impl Write for Collect {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.entered.send(());
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn refusal(n: usize) -> AuditEvent {
    AuditEvent {
        at: Timestamp::from_secs(1_700_000_000),
        kind: AuditKind::Refused(Refusal {
            endpoint: Endpoint::Token,
            client_id: Some(format!("client-{n}")),
            auth_method: Some("client_secret_basic"),
            client_ip: Some("192.0.2.7".parse().unwrap()),
            code: "invalid_client",
            reason: "wrong_secret",
            scope: None,
            audience: None,
        }),
    }
}

fn lines(out: &Mutex<Vec<u8>>) -> Vec<serde_json::Value> {
    String::from_utf8(out.lock().unwrap().clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect()
}

#[test]
fn events_are_written_in_order_as_ecs_lines() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (entered, _seen) = channel();
    let writer = Collect {
        out: out.clone(),
        gate: None,
        entered,
    };
    let queue = AuditQueue::start(Box::new(writer), 16).unwrap();
    for n in 0..3 {
        queue.record(refusal(n));
    }
    queue.close();
    let docs = lines(&out);
    assert_eq!(docs.len(), 3);
    for (n, doc) in docs.iter().enumerate() {
        assert_eq!(doc["user"]["name"], format!("client-{n}"));
        assert_eq!(doc["event"]["action"], "token-refused");
        assert_eq!(doc["event"]["outcome"], "failure");
        assert_eq!(doc["event"]["reason"], "wrong_secret");
        assert_eq!(doc["error"]["code"], "invalid_client");
        assert_eq!(doc["source"]["ip"], "192.0.2.7");
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.000000Z");
    }
    assert_eq!(queue.dropped(), 0);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (entered, writing) = channel();
    let (open, gate) = channel();
    let writer = Collect {
        out: out.clone(),
        gate: Some(gate),
        entered,
    };
    let queue = AuditQueue::start(Box::new(writer), 1).unwrap();
    queue.record(refusal(0));
    // The writer holds event 0 (blocked in `write`), so the queue has room for one more.
    writing.recv().unwrap();
    queue.record(refusal(1));
    let started = std::time::Instant::now();
    for n in 2..12 {
        queue.record(refusal(n));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "recording waited for the writer"
    );
    assert_eq!(queue.dropped(), 10);
    for _ in 0..3 {
        let _ = open.send(());
    }
    queue.close();
    let names: Vec<_> = lines(&out)
        .iter()
        .map(|d| d["user"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["client-0", "client-1"]);
    // After close nothing is written, and the event counts as dropped.
    queue.record(refusal(99));
    assert_eq!(queue.dropped(), 11);
}

#[test]
fn the_file_is_created_at_the_first_event_only() {
    let dir = std::env::temp_dir().join(format!("grantd-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("audit.jsonl");
    let _ = std::fs::remove_file(&path);
    let idle = AuditQueue::to_file(&path, 4).unwrap();
    idle.close();
    assert!(!path.exists(), "no event, no file");

    let queue = AuditQueue::to_file(&path, 4).unwrap();
    queue.record(refusal(7));
    queue.close();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_issued_token_and_an_admin_change_are_ecs_documents() {
    use grantd_domain::{AuthMethod, ClientId, Jti, SessionId, UserId};
    use grantd_ports::{AdminChange, FieldChange, TokenIssued};
    let issued = AuditEvent {
        at: Timestamp::from_secs(1_700_000_000),
        kind: AuditKind::TokenIssued(TokenIssued {
            client_id: ClientId::parse("billing").unwrap(),
            owner_id: UserId::parse("6f1c2e1a-4b7d-4c1e-9a55-0d3f8e2b7c10").unwrap(),
            scope: "admin service".into(),
            audience: vec!["https://api.example".into()],
            jti: Jti::parse("j1").unwrap(),
            session_id: SessionId::parse("sess_0123456789abcdef0123456789abcdef").unwrap(),
            auth_method: AuthMethod::PrivateKeyJwt,
            client_ip: None,
        }),
    };
    let doc = super::ecs::to_json(&issued);
    assert_eq!(doc["ecs"]["version"], "8.11.0");
    assert_eq!(
        doc["event"]["type"],
        serde_json::json!(["start", "allowed"])
    );
    assert_eq!(doc["event"]["category"][1], "session");
    assert!(doc["event"].get("reason").is_none());
    assert!(doc.get("source").is_none(), "no address, no source: {doc}");
    assert_eq!(doc["user"]["id"], "billing");
    assert_eq!(
        doc["user"]["effective"]["id"],
        "6f1c2e1a-4b7d-4c1e-9a55-0d3f8e2b7c10"
    );
    assert_eq!(doc["grantd"]["audience"][0], "https://api.example");
    assert_eq!(doc["grantd"]["auth_method"], "private_key_jwt");

    let change = AuditEvent {
        at: Timestamp::from_secs(1_700_000_000),
        kind: AuditKind::AdminChange(AdminChange {
            action: "client.create",
            target_kind: "client",
            target_id: "billing".into(),
            changes: vec![FieldChange {
                field: "scopes",
                before: None,
                after: Some("admin".into()),
            }],
        }),
    };
    let doc = super::ecs::to_json(&change);
    assert_eq!(
        doc["event"]["type"],
        serde_json::json!(["creation", "admin"])
    );
    assert_eq!(doc["event"]["action"], "client.create");
    assert_eq!(
        doc["grantd"]["changes"],
        serde_json::json!([{"field": "scopes", "before": null, "after": "admin"}])
    );
    assert_eq!(doc["grantd"]["target"]["id"], "billing");
}

#[test]
fn the_timestamp_is_rfc3339_utc_with_microseconds() {
    let mut event = refusal(0);
    for (micros, text) in [
        (1_700_000_000_000_000, "2023-11-14T22:13:20.000000Z"),
        (1_700_000_000_000_123, "2023-11-14T22:13:20.000123Z"),
        (0, "1970-01-01T00:00:00.000000Z"),
    ] {
        event.at = Timestamp::from_micros(micros);
        assert_eq!(super::ecs::to_json(&event)["@timestamp"], text);
    }
}
