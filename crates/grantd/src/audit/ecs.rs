//! One audit event as an Elastic Common Schema document (ECS 8.11): `@timestamp`, `event.*`,
//! `user.*`, `source.ip`, `error.code`, and grantd's own fields under `grantd.*`. The README's
//! "Audit events" table lists every field.

use grantd_domain::Timestamp;
use grantd_ports::{
    AdminChange, AuditEvent, AuditKind, Introspected, Refusal, RevocationEffect, Revoked,
    TokenIssued,
};
use serde_json::{Map, Value, json};

const ECS_VERSION: &str = "8.11.0";

/// The JSON document of `event`.
pub fn to_json(event: &AuditEvent) -> Value {
    let (event_fields, rest) = match &event.kind {
        AuditKind::TokenIssued(e) => issued(e),
        AuditKind::Refused(e) => refused(e),
        AuditKind::Introspected(e) => introspected(e),
        AuditKind::Revoked(e) => revoked(e),
        AuditKind::AdminChange(e) => admin(e),
    };
    let mut doc = json!({
        "@timestamp": timestamp(event.at),
        "ecs": {"version": ECS_VERSION},
        "service": {"name": "grantd"},
        "event": event_fields,
    });
    if let (Value::Object(doc), Value::Object(rest)) = (&mut doc, rest) {
        doc.extend(rest);
    }
    doc
}

fn timestamp(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(t.as_micros())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// The `event` object: ECS categorization fields plus `dataset`.
fn event(action: &str, category: &[&str], kind: &[&str], outcome: &str) -> Value {
    json!({
        "kind": "event",
        "dataset": "grantd.audit",
        "action": action,
        "category": category,
        "type": kind,
        "outcome": outcome,
    })
}

/// `{"source": {"ip": …}}` or nothing.
fn source(ip: Option<std::net::IpAddr>) -> Option<Value> {
    ip.map(|ip| json!({"ip": ip.to_string()}))
}

/// An object of the given members, leaving out the `None`s.
fn object<const N: usize>(members: [(&str, Option<Value>); N]) -> Value {
    let map: Map<String, Value> = members
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    Value::Object(map)
}

fn issued(e: &TokenIssued) -> (Value, Value) {
    let event = event(
        "token-issued",
        &["authentication", "session"],
        &["start", "allowed"],
        "success",
    );
    let rest = object([
        ("source", source(e.client_ip)),
        (
            "user",
            Some(json!({"id": e.client_id.as_str(), "effective": {"id": e.owner_id.as_str()}})),
        ),
        (
            "grantd",
            Some(json!({
                "client_id": e.client_id.as_str(),
                "owner_id": e.owner_id.as_str(),
                "scope": e.scope,
                "audience": e.audience,
                "jti": e.jti.as_str(),
                "session_id": e.session_id.as_str(),
                "auth_method": e.auth_method.as_str(),
            })),
        ),
    ]);
    (event, rest)
}

fn refused(e: &Refusal) -> (Value, Value) {
    let action = match e.endpoint {
        grantd_ports::Endpoint::Token => "token-refused",
        grantd_ports::Endpoint::Introspect => "introspection-refused",
        grantd_ports::Endpoint::Revoke => "revocation-refused",
    };
    let mut event = event(action, &["authentication"], &["denied"], "failure");
    event["reason"] = json!(e.reason);
    let grantd = object([
        ("endpoint", Some(json!(e.endpoint.as_str()))),
        ("client_id", e.client_id.as_ref().map(|c| json!(c))),
        ("auth_method", e.auth_method.map(|m| json!(m))),
        ("scope", e.scope.as_ref().map(|s| json!(s))),
        ("audience", e.audience.as_ref().map(|a| json!(a))),
    ]);
    let rest = object([
        ("source", source(e.client_ip)),
        ("user", e.client_id.as_ref().map(|c| json!({"name": c}))),
        ("error", Some(json!({"code": e.code}))),
        ("grantd", Some(grantd)),
    ]);
    (event, rest)
}

fn introspected(e: &Introspected) -> (Value, Value) {
    let event = event(
        "token-introspected",
        &["authentication"],
        &["info"],
        "success",
    );
    let grantd = object([
        ("caller", Some(json!(e.caller.as_str()))),
        ("outcome", Some(json!(e.outcome.as_str()))),
        (
            "client_id",
            e.token_client.as_ref().map(|c| json!(c.as_str())),
        ),
        (
            "session_id",
            e.session_id.as_ref().map(|s| json!(s.as_str())),
        ),
    ]);
    let rest = json!({"user": {"id": e.caller.as_str()}, "grantd": grantd});
    (event, rest)
}

fn revoked(e: &Revoked) -> (Value, Value) {
    let kind: &[&str] = if e.effect == RevocationEffect::Revoked {
        &["end"]
    } else {
        &["info"]
    };
    let event = event("token-revoked", &["session"], kind, "success");
    let grantd = object([
        ("caller", Some(json!(e.caller.as_str()))),
        ("effect", Some(json!(e.effect.as_str()))),
        (
            "session_id",
            e.session_id.as_ref().map(|s| json!(s.as_str())),
        ),
    ]);
    let rest = json!({"user": {"id": e.caller.as_str()}, "grantd": grantd});
    (event, rest)
}

fn admin(e: &AdminChange) -> (Value, Value) {
    let kind = match e.action.rsplit('.').next() {
        Some("create") => "creation",
        Some("delete" | "purge") => "deletion",
        _ => "change",
    };
    let event = event(
        e.action,
        &["iam", "configuration"],
        &[kind, "admin"],
        "success",
    );
    let changes: Vec<Value> = e
        .changes
        .iter()
        .map(|c| json!({"field": c.field, "before": c.before, "after": c.after}))
        .collect();
    let rest = json!({"grantd": {
        "target": {"kind": e.target_kind, "id": e.target_id},
        "changes": changes,
    }});
    (event, rest)
}
