//! One audit event as an Elastic Common Schema document (ECS 8.11): `@timestamp`, `event.*`,
//! `user.*`, `source.ip`, `error.code`, and grantd's own fields under `grantd.*`. The README's
//! "Audit events" table lists every field.
//!
//! The writer thread turns every event into a line, so each document is written straight into
//! the line buffer: keys and punctuation as literal text, every value escaped exactly as
//! `serde_json` escapes a string, the timestamp and address formatted digit by digit. No
//! intermediate value, no per-field serializer call, no copy of the event's strings. The unit
//! tests pin the bytes of every kind of document.

use std::io::Write;
use std::net::IpAddr;

use chrono::{Datelike, Timelike};
use grantd_domain::{SessionId, Timestamp};
use grantd_ports::{
    AdminChange, AuditEvent, AuditKind, Endpoint, FieldChange, Introspected, Refusal,
    RevocationEffect, Revoked, TokenIssued,
};

/// The fields every document starts with, after `@timestamp`.
const HEAD: &str = r#","ecs":{"version":"8.11.0"},"service":{"name":"grantd"}"#;

/// Appends the JSON document of `event` to `out`.
pub fn write(event: &AuditEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"@timestamp":"#);
    timestamp(event.at, out);
    out.extend_from_slice(HEAD.as_bytes());
    let mut doc = Doc(out);
    match &event.kind {
        AuditKind::TokenIssued(e) => doc.issued(e),
        AuditKind::Refused(e) => doc.refused(e),
        AuditKind::Introspected(e) => doc.introspected(e),
        AuditKind::Revoked(e) => doc.revoked(e),
        AuditKind::AdminChange(e) => doc.admin(e),
    }
    out.push(b'}');
}

/// The JSON document of `event`, as a value (tests).
#[cfg(test)]
pub fn to_json(event: &AuditEvent) -> serde_json::Value {
    let mut out = Vec::new();
    write(event, &mut out);
    serde_json::from_slice(&out).expect("an audit document is JSON")
}

/// The `event` object: ECS categorization fields plus `dataset` (and, for refusals, `reason`).
struct EventFields<'a> {
    action: &'a str,
    category: &'static [&'static str],
    kind_of: &'static [&'static str],
    outcome: &'static str,
    reason: Option<&'static str>,
}

impl<'a> EventFields<'a> {
    /// A successful action's fields (no `reason`).
    fn success(
        action: &'a str,
        category: &'static [&'static str],
        kind_of: &'static [&'static str],
    ) -> Self {
        Self {
            action,
            category,
            kind_of,
            outcome: "success",
            reason: None,
        }
    }
}

/// The rest of a document (after the common head) written into the line buffer.
struct Doc<'a>(&'a mut Vec<u8>);

impl Doc<'_> {
    /// Literal JSON text: keys and punctuation.
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    /// A string value.
    fn str(&mut self, value: &str) {
        string(value, self.0);
    }

    /// `key` (literal text such as `,"scope":`) and the value, when there is one.
    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.raw(key);
            self.str(value);
        }
    }

    /// An array of strings.
    fn strs<S: AsRef<str>>(&mut self, values: &[S]) {
        self.0.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.str(v.as_ref());
        }
        self.0.push(b']');
    }

    fn event(&mut self, e: &EventFields<'_>) {
        self.raw(r#","event":{"kind":"event","dataset":"grantd.audit","action":"#);
        self.str(e.action);
        self.raw(r#","category":"#);
        self.strs(e.category);
        self.raw(r#","type":"#);
        self.strs(e.kind_of);
        self.raw(r#","outcome":"#);
        self.str(e.outcome);
        self.opt(r#","reason":"#, e.reason);
        self.0.push(b'}');
    }

    fn source(&mut self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.raw(r#","source":{"ip":""#);
            address(ip, self.0);
            self.raw(r#""}"#);
        }
    }

    fn issued(&mut self, e: &TokenIssued) {
        self.event(&EventFields::success(
            "token-issued",
            &["authentication", "session"],
            &["start", "allowed"],
        ));
        self.source(e.client_ip);
        self.raw(r#","user":{"id":"#);
        self.str(e.client_id.as_str());
        self.raw(r#","effective":{"id":"#);
        self.str(e.owner_id.as_str());
        self.raw(r#"}},"grantd":{"client_id":"#);
        self.str(e.client_id.as_str());
        self.raw(r#","owner_id":"#);
        self.str(e.owner_id.as_str());
        self.raw(r#","scope":"#);
        self.str(&e.scope);
        self.raw(r#","audience":"#);
        self.strs(&e.audience);
        self.raw(r#","jti":"#);
        self.str(e.jti.as_str());
        self.raw(r#","session_id":"#);
        self.str(e.session_id.as_str());
        self.raw(r#","auth_method":"#);
        self.str(e.auth_method.as_str());
        self.0.push(b'}');
    }

    fn refused(&mut self, e: &Refusal) {
        let action = match e.endpoint {
            Endpoint::Token => "token-refused",
            Endpoint::Introspect => "introspection-refused",
            Endpoint::Revoke => "revocation-refused",
        };
        self.event(&EventFields {
            action,
            category: &["authentication"],
            kind_of: &["denied"],
            outcome: "failure",
            reason: Some(e.reason),
        });
        self.source(e.client_ip);
        if let Some(name) = &e.client_id {
            self.raw(r#","user":{"name":"#);
            self.str(name);
            self.0.push(b'}');
        }
        self.raw(r#","error":{"code":"#);
        self.str(e.code);
        self.raw(r#"},"grantd":{"endpoint":"#);
        self.str(e.endpoint.as_str());
        self.opt(r#","client_id":"#, e.client_id.as_deref());
        self.opt(r#","auth_method":"#, e.auth_method);
        self.opt(r#","scope":"#, e.scope.as_deref());
        self.opt(r#","audience":"#, e.audience.as_deref());
        self.0.push(b'}');
    }

    /// `user.id` and the opening of `grantd` with its `caller`, as an introspection and a
    /// revocation both have them.
    fn caller(&mut self, caller: &str) {
        self.raw(r#","user":{"id":"#);
        self.str(caller);
        self.raw(r#"},"grantd":{"caller":"#);
        self.str(caller);
    }

    /// `grantd.session_id` when there is one, and the end of `grantd`.
    fn last_session_id(&mut self, id: Option<&SessionId>) {
        self.opt(r#","session_id":"#, id.map(SessionId::as_str));
        self.0.push(b'}');
    }

    fn introspected(&mut self, e: &Introspected) {
        self.event(&EventFields::success(
            "token-introspected",
            &["authentication"],
            &["info"],
        ));
        self.caller(e.caller.as_str());
        self.raw(r#","outcome":"#);
        self.str(e.outcome.as_str());
        self.opt(
            r#","client_id":"#,
            e.token_client.as_ref().map(|c| c.as_str()),
        );
        self.last_session_id(e.session_id.as_ref());
    }

    fn revoked(&mut self, e: &Revoked) {
        let kind_of: &'static [&'static str] = if e.effect == RevocationEffect::Revoked {
            &["end"]
        } else {
            &["info"]
        };
        self.event(&EventFields::success(
            "token-revoked",
            &["session"],
            kind_of,
        ));
        self.caller(e.caller.as_str());
        self.raw(r#","effect":"#);
        self.str(e.effect.as_str());
        self.last_session_id(e.session_id.as_ref());
    }

    fn admin(&mut self, e: &AdminChange) {
        let kind_of: &'static [&'static str] = match e.action.rsplit('.').next() {
            Some("create") => &["creation", "admin"],
            Some("delete" | "purge") => &["deletion", "admin"],
            _ => &["change", "admin"],
        };
        self.event(&EventFields::success(
            e.action,
            &["iam", "configuration"],
            kind_of,
        ));
        self.raw(r#","grantd":{"target":{"kind":"#);
        self.str(e.target_kind);
        self.raw(r#","id":"#);
        self.str(&e.target_id);
        self.raw(r#"},"changes":"#);
        self.changes(&e.changes);
        self.0.push(b'}');
    }

    /// The changes as written: `before`/`after` are `null` when absent.
    fn changes(&mut self, changes: &[FieldChange]) {
        self.0.push(b'[');
        for (i, c) in changes.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.raw(r#"{"field":"#);
            self.str(c.field);
            for (key, value) in [(r#","before":"#, &c.before), (r#","after":"#, &c.after)] {
                self.raw(key);
                match value {
                    Some(v) => self.str(v),
                    None => self.raw("null"),
                }
            }
            self.0.push(b'}');
        }
        self.0.push(b']');
    }
}

/// `value` as a JSON string, byte for byte as `serde_json` writes it: only `"`, `\` and the
/// control characters below U+0020 are escaped (by `serde_json` itself, the rare case).
fn string(value: &str, out: &mut Vec<u8>) {
    // Every byte looked at, without stopping at the first to escape: the loop vectorizes, and
    // the values written (ids, scopes) almost never need escaping.
    let escape = value.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escape {
        // Writing to a `Vec` cannot fail, and a `str` always serializes.
        let _ = serde_json::to_writer(out, value);
    } else {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// RFC 3339 UTC with microseconds and `Z`, quoted, as chrono's
/// `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it (years 0 to 9999 digit by digit,
/// any other through chrono; a time chrono cannot represent as `""`).
fn timestamp(at: Timestamp, out: &mut Vec<u8>) {
    let Some(d) = chrono::DateTime::from_timestamp_micros(at.as_micros()) else {
        out.extend_from_slice(b"\"\"");
        return;
    };
    let Ok(year @ 0..=9999) = u32::try_from(d.year()) else {
        string(&d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), out);
        return;
    };
    out.push(b'"');
    digits(year, 4, out);
    out.push(b'-');
    digits(d.month(), 2, out);
    out.push(b'-');
    digits(d.day(), 2, out);
    out.push(b'T');
    digits(d.hour(), 2, out);
    out.push(b':');
    digits(d.minute(), 2, out);
    out.push(b':');
    digits(d.second(), 2, out);
    out.push(b'.');
    digits(d.nanosecond() / 1000, 6, out);
    out.extend_from_slice(b"Z\"");
}

/// The last `width` decimal digits of `value`, zero-padded (`width` at most 10).
fn digits(mut value: u32, width: usize, out: &mut Vec<u8>) {
    let mut buf = [b'0'; 10];
    let width = width.min(buf.len());
    for d in buf[..width].iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// The address as `Display` writes it (IPv4 digit by digit).
fn address(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                let width = match octet {
                    0..=9 => 1,
                    10..=99 => 2,
                    _ => 3,
                };
                digits(u32::from(octet), width, out);
            }
        }
        // Writing to a `Vec` cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests;
