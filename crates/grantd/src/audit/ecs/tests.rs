//! The bytes of every kind of document (field order, optional fields left out, `null`s,
//! escaping), and the hand-written timestamp, address and string formats against chrono, `std`
//! and `serde_json`, which wrote them before.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

use std::net::IpAddr;

use grantd_domain::{AuthMethod, ClientId, Jti, SessionId, Timestamp, UserId};
use grantd_ports::{
    AdminChange, AuditEvent, AuditKind, Endpoint, FieldChange, Introspected, IntrospectionOutcome,
    Refusal, RevocationEffect, Revoked, TokenIssued,
};

const SESSION: &str = "sess_0123456789abcdef0123456789abcdef";
const OWNER: &str = "6f1c2e1a-4b7d-4c1e-9a55-0d3f8e2b7c10";
/// `@timestamp`, `ecs` and `service`, at `Timestamp::from_micros(1_700_000_000_000_123)`.
const HEAD: &str = r#"{"@timestamp":"2023-11-14T22:13:20.000123Z","ecs":{"version":"8.11.0"},"service":{"name":"grantd"},"#;

fn line(kind: AuditKind) -> String {
    let event = AuditEvent {
        at: Timestamp::from_micros(1_700_000_000_000_123),
        kind,
    };
    let mut out = Vec::new();
    super::write(&event, &mut out);
    String::from_utf8(out).unwrap()
}

fn session() -> SessionId {
    SessionId::parse(SESSION).unwrap()
}

fn issued(client_ip: Option<IpAddr>, audience: &[&str]) -> AuditKind {
    AuditKind::TokenIssued(TokenIssued {
        client_id: ClientId::parse("billing").unwrap(),
        owner_id: UserId::parse(OWNER).unwrap(),
        scope: "admin service".into(),
        audience: audience.iter().map(|a| (*a).to_owned()).collect(),
        jti: Jti::parse("j1").unwrap(),
        session_id: session(),
        auth_method: AuthMethod::PrivateKeyJwt,
        client_ip,
    })
}

#[test]
fn an_issued_token_document_is_pinned_byte_for_byte() {
    let ip = Some("192.0.2.7".parse().unwrap());
    assert_eq!(
        line(issued(ip, &["https://api.example", "urn:b"])),
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"token-issued","category":["authentication","session"],"type":["start","allowed"],"outcome":"success"}},"source":{{"ip":"192.0.2.7"}},"user":{{"id":"billing","effective":{{"id":"{OWNER}"}}}},"grantd":{{"client_id":"billing","owner_id":"{OWNER}","scope":"admin service","audience":["https://api.example","urn:b"],"jti":"j1","session_id":"{SESSION}","auth_method":"private_key_jwt"}}}}"#
        )
    );
    assert_eq!(
        line(issued(None, &[])),
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"token-issued","category":["authentication","session"],"type":["start","allowed"],"outcome":"success"}},"user":{{"id":"billing","effective":{{"id":"{OWNER}"}}}},"grantd":{{"client_id":"billing","owner_id":"{OWNER}","scope":"admin service","audience":[],"jti":"j1","session_id":"{SESSION}","auth_method":"private_key_jwt"}}}}"#
        )
    );
}

#[test]
fn a_refusal_document_is_pinned_byte_for_byte_and_escapes_what_was_presented() {
    let full = AuditKind::Refused(Refusal {
        endpoint: Endpoint::Token,
        client_id: Some("we\"ird\\cl\u{1}\u{1f}é\u{7f}".into()),
        auth_method: Some("client_secret_basic"),
        client_ip: Some("2001:db8::1".parse().unwrap()),
        code: "invalid_client",
        reason: "wrong_secret",
        scope: Some("a b\n".into()),
        audience: Some("https://x/</".into()),
    });
    // `"`, `\` and the controls below U+0020 escaped; DEL and non-ASCII as they are.
    let id = "\"we\\\"ird\\\\cl\\u0001\\u001fé\u{7f}\"";
    assert_eq!(
        line(full),
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"token-refused","category":["authentication"],"type":["denied"],"outcome":"failure","reason":"wrong_secret"}},"source":{{"ip":"2001:db8::1"}},"user":{{"name":{id}}},"error":{{"code":"invalid_client"}},"grantd":{{"endpoint":"token","client_id":{id},"auth_method":"client_secret_basic","scope":"a b\n","audience":"https://x/</"}}}}"#
        )
    );
    let bare = AuditKind::Refused(Refusal {
        endpoint: Endpoint::Revoke,
        client_id: None,
        auth_method: None,
        client_ip: None,
        code: "invalid_client",
        reason: "unknown_client",
        scope: None,
        audience: None,
    });
    assert_eq!(
        line(bare),
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"revocation-refused","category":["authentication"],"type":["denied"],"outcome":"failure","reason":"unknown_client"}},"error":{{"code":"invalid_client"}},"grantd":{{"endpoint":"revoke"}}}}"#
        )
    );
}

#[test]
fn introspection_and_revocation_documents_are_pinned_byte_for_byte() {
    let rs = || ClientId::parse("rs").unwrap();
    let active = AuditKind::Introspected(Introspected {
        caller: rs(),
        outcome: IntrospectionOutcome::Active,
        token_client: Some(ClientId::parse("billing").unwrap()),
        session_id: Some(session()),
    });
    let event = |action: &str, category: &str, kind: &str| {
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"{action}","category":["{category}"],"type":["{kind}"],"outcome":"success"}},"user":{{"id":"rs"}},"grantd":{{"caller":"rs","#
        )
    };
    let introspected = event("token-introspected", "authentication", "info");
    assert_eq!(
        line(active),
        format!(
            r#"{introspected}"outcome":"active","client_id":"billing","session_id":"{SESSION}"}}}}"#
        )
    );
    let inactive = AuditKind::Introspected(Introspected {
        caller: rs(),
        outcome: IntrospectionOutcome::Inactive,
        token_client: None,
        session_id: None,
    });
    assert_eq!(
        line(inactive),
        format!(r#"{introspected}"outcome":"inactive"}}}}"#)
    );
    let revoked = AuditKind::Revoked(Revoked {
        caller: rs(),
        session_id: Some(session()),
        effect: RevocationEffect::Revoked,
    });
    let end = event("token-revoked", "session", "end");
    assert_eq!(
        line(revoked),
        format!(r#"{end}"effect":"revoked","session_id":"{SESSION}"}}}}"#)
    );
    let not_owner = AuditKind::Revoked(Revoked {
        caller: rs(),
        session_id: None,
        effect: RevocationEffect::NotOwner,
    });
    let info = event("token-revoked", "session", "info");
    assert_eq!(
        line(not_owner),
        format!(r#"{info}"effect":"not_owner"}}}}"#)
    );
}

#[test]
fn an_admin_change_document_is_pinned_byte_for_byte() {
    let rotate = AuditKind::AdminChange(AdminChange {
        action: "client.secret.rotate",
        target_kind: "client",
        target_id: "billing".into(),
        changes: vec![
            FieldChange {
                field: "grace",
                before: Some("1h".into()),
                after: Some("2h".into()),
            },
            FieldChange {
                field: "scopes",
                before: None,
                after: None,
            },
        ],
    });
    assert_eq!(
        line(rotate),
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"client.secret.rotate","category":["iam","configuration"],"type":["change","admin"],"outcome":"success"}},"grantd":{{"target":{{"kind":"client","id":"billing"}},"changes":[{{"field":"grace","before":"1h","after":"2h"}},{{"field":"scopes","before":null,"after":null}}]}}}}"#
        )
    );
    let purge = AuditKind::AdminChange(AdminChange {
        action: "session.purge",
        target_kind: "session",
        target_id: "*".into(),
        changes: Vec::new(),
    });
    assert_eq!(
        line(purge),
        format!(
            r#"{HEAD}"event":{{"kind":"event","dataset":"grantd.audit","action":"session.purge","category":["iam","configuration"],"type":["deletion","admin"],"outcome":"success"}},"grantd":{{"target":{{"kind":"session","id":"*"}},"changes":[]}}}}"#
        )
    );
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    let mut samples: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
    samples.extend(["", "plain", "é\u{2028}😀", "a\"b\\c\td\u{0}"].map(String::from));
    for s in samples {
        let mut out = Vec::new();
        super::string(&s, &mut out);
        assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
    }
}

#[test]
fn the_timestamp_is_written_as_chrono_writes_rfc3339_micros() {
    let mut micros = vec![
        0,
        -1,
        1,
        1_700_000_000_000_123,
        951_782_400_000_000 - 1, // 2000-02-28T23:59:59.999999Z
        253_402_300_799_999_999, // 9999-12-31T23:59:59.999999Z, the last 4-digit year
        253_402_300_800_000_000, // year 10000: chrono's own text
        -62_167_219_200_000_000, // 0000-01-01T00:00:00Z
        -62_167_219_200_000_001, // year -1: chrono's own text
    ];
    // Every few days over two centuries, at an odd time of day.
    micros.extend((0..20_000_i64).map(|n| (n - 10_000) * 345_678_901_234_567 / 1000 + n * 7));
    for m in micros {
        let mut out = Vec::new();
        super::timestamp(Timestamp::from_micros(m), &mut out);
        let chrono = chrono::DateTime::from_timestamp_micros(m)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("\"{chrono}\""),
            "{m}"
        );
    }
    let mut out = Vec::new();
    super::timestamp(Timestamp::from_micros(i64::MAX), &mut out);
    assert_eq!(out, b"\"\"", "beyond chrono's range");
}

#[test]
fn addresses_are_written_as_display_writes_them() {
    for ip in [
        "0.0.0.0",
        "255.255.255.255",
        "10.0.100.9",
        "1.22.133.4",
        "127.0.0.1",
        "::1",
        "::ffff:192.0.2.1",
        "2001:db8:0:0:1:0:0:1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        let mut out = Vec::new();
        super::address(ip, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
    }
}
