//! One audit event as an Elastic Common Schema document (ECS 8.11): `@timestamp`, `event.*`,
//! `user.*`, `source.ip`, `error.code`, and grantd's own fields under `grantd.*`. The README's
//! "Audit events" table lists every field.
//!
//! Each document is a tree of borrowed structs serialized straight into the writer's line
//! buffer: no intermediate JSON value, no copy of the event's strings.

use std::net::IpAddr;

use grantd_domain::Timestamp;
use grantd_ports::{
    AdminChange, AuditEvent, AuditKind, Endpoint, FieldChange, Introspected, Refusal,
    RevocationEffect, Revoked, TokenIssued,
};
use serde::{Serialize, Serializer};

const ECS_VERSION: &str = "8.11.0";

/// Appends the JSON document of `event` to `out`.
pub fn write(event: &AuditEvent, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let at = At(event.at);
    match &event.kind {
        AuditKind::TokenIssued(e) => serde_json::to_writer(out, &Doc::new(at, issued(e))),
        AuditKind::Refused(e) => serde_json::to_writer(out, &Doc::new(at, refused(e))),
        AuditKind::Introspected(e) => serde_json::to_writer(out, &Doc::new(at, introspected(e))),
        AuditKind::Revoked(e) => serde_json::to_writer(out, &Doc::new(at, revoked(e))),
        AuditKind::AdminChange(e) => serde_json::to_writer(out, &Doc::new(at, admin(e))),
    }
}

/// The JSON document of `event`, as a value (tests).
#[cfg(test)]
pub fn to_json(event: &AuditEvent) -> serde_json::Value {
    let mut out = Vec::new();
    write(event, &mut out).expect("an audit document serializes");
    serde_json::from_slice(&out).expect("an audit document is JSON")
}

/// RFC 3339 UTC with microseconds.
struct At(Timestamp);

impl Serialize for At {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match chrono::DateTime::from_timestamp_micros(self.0.as_micros()) {
            // RFC 3339 in UTC with microseconds and `Z`, as `%Y-%m-%dT%H:%M:%S%.6fZ` would
            // print it, without parsing a format string per event.
            Some(d) => s.serialize_str(&d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            None => s.serialize_str(""),
        }
    }
}

#[derive(Serialize)]
struct Ecs {
    version: &'static str,
}

#[derive(Serialize)]
struct Service {
    name: &'static str,
}

/// The whole document: the fields every event has, then the kind's own.
#[derive(Serialize)]
struct Doc<R> {
    #[serde(rename = "@timestamp")]
    at: At,
    ecs: Ecs,
    service: Service,
    #[serde(flatten)]
    rest: R,
}

impl<R: Serialize> Doc<R> {
    fn new(at: At, rest: R) -> Self {
        Self {
            at,
            ecs: Ecs {
                version: ECS_VERSION,
            },
            service: Service { name: "grantd" },
            rest,
        }
    }
}

/// The `event` object: ECS categorization fields plus `dataset` (and, for refusals, `reason`).
#[derive(Serialize)]
struct EventFields<'a> {
    kind: &'static str,
    dataset: &'static str,
    action: &'a str,
    category: &'static [&'static str],
    #[serde(rename = "type")]
    kind_of: &'static [&'static str],
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

fn event<'a>(
    action: &'a str,
    category: &'static [&'static str],
    kind_of: &'static [&'static str],
    outcome: &'static str,
) -> EventFields<'a> {
    EventFields {
        kind: "event",
        dataset: "grantd.audit",
        action,
        category,
        kind_of,
        outcome,
        reason: None,
    }
}

/// `{"ip": …}`, written without allocating.
#[derive(Serialize)]
struct Source {
    #[serde(serialize_with = "display")]
    ip: IpAddr,
}

fn display<S: Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn source(ip: Option<IpAddr>) -> Option<Source> {
    ip.map(|ip| Source { ip })
}

#[derive(Serialize)]
struct IdOnly<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct Issued<'a> {
    event: EventFields<'static>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    user: IssuedUser<'a>,
    grantd: IssuedFields<'a>,
}

#[derive(Serialize)]
struct IssuedUser<'a> {
    id: &'a str,
    effective: IdOnly<'a>,
}

#[derive(Serialize)]
struct IssuedFields<'a> {
    client_id: &'a str,
    owner_id: &'a str,
    scope: &'a str,
    audience: &'a [String],
    jti: &'a str,
    session_id: &'a str,
    auth_method: &'a str,
}

fn issued(e: &TokenIssued) -> Issued<'_> {
    Issued {
        event: event(
            "token-issued",
            &["authentication", "session"],
            &["start", "allowed"],
            "success",
        ),
        source: source(e.client_ip),
        user: IssuedUser {
            id: e.client_id.as_str(),
            effective: IdOnly {
                id: e.owner_id.as_str(),
            },
        },
        grantd: IssuedFields {
            client_id: e.client_id.as_str(),
            owner_id: e.owner_id.as_str(),
            scope: &e.scope,
            audience: &e.audience,
            jti: e.jti.as_str(),
            session_id: e.session_id.as_str(),
            auth_method: e.auth_method.as_str(),
        },
    }
}

#[derive(Serialize)]
struct Refused<'a> {
    event: EventFields<'static>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<NameOnly<'a>>,
    error: Code,
    grantd: RefusedFields<'a>,
}

#[derive(Serialize)]
struct NameOnly<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Code {
    code: &'static str,
}

#[derive(Serialize)]
struct RefusedFields<'a> {
    endpoint: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<&'a str>,
}

fn refused(e: &Refusal) -> Refused<'_> {
    let action = match e.endpoint {
        Endpoint::Token => "token-refused",
        Endpoint::Introspect => "introspection-refused",
        Endpoint::Revoke => "revocation-refused",
    };
    let mut fields = event(action, &["authentication"], &["denied"], "failure");
    fields.reason = Some(e.reason);
    Refused {
        event: fields,
        source: source(e.client_ip),
        user: e.client_id.as_deref().map(|name| NameOnly { name }),
        error: Code { code: e.code },
        grantd: RefusedFields {
            endpoint: e.endpoint.as_str(),
            client_id: e.client_id.as_deref(),
            auth_method: e.auth_method,
            scope: e.scope.as_deref(),
            audience: e.audience.as_deref(),
        },
    }
}

#[derive(Serialize)]
struct CallerEvent<'a, G> {
    event: EventFields<'static>,
    user: IdOnly<'a>,
    grantd: G,
}

#[derive(Serialize)]
struct IntrospectedFields<'a> {
    caller: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
}

fn introspected(e: &Introspected) -> CallerEvent<'_, IntrospectedFields<'_>> {
    CallerEvent {
        event: event(
            "token-introspected",
            &["authentication"],
            &["info"],
            "success",
        ),
        user: IdOnly {
            id: e.caller.as_str(),
        },
        grantd: IntrospectedFields {
            caller: e.caller.as_str(),
            outcome: e.outcome.as_str(),
            client_id: e.token_client.as_ref().map(|c| c.as_str()),
            session_id: e.session_id.as_ref().map(|s| s.as_str()),
        },
    }
}

#[derive(Serialize)]
struct RevokedFields<'a> {
    caller: &'a str,
    effect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
}

fn revoked(e: &Revoked) -> CallerEvent<'_, RevokedFields<'_>> {
    let kind: &'static [&'static str] = if e.effect == RevocationEffect::Revoked {
        &["end"]
    } else {
        &["info"]
    };
    CallerEvent {
        event: event("token-revoked", &["session"], kind, "success"),
        user: IdOnly {
            id: e.caller.as_str(),
        },
        grantd: RevokedFields {
            caller: e.caller.as_str(),
            effect: e.effect.as_str(),
            session_id: e.session_id.as_ref().map(|s| s.as_str()),
        },
    }
}

#[derive(Serialize)]
struct Admin<'a> {
    event: EventFields<'static>,
    grantd: AdminFields<'a>,
}

#[derive(Serialize)]
struct AdminFields<'a> {
    target: Target<'a>,
    changes: Changes<'a>,
}

#[derive(Serialize)]
struct Target<'a> {
    kind: &'static str,
    id: &'a str,
}

/// The changes as written: `before`/`after` are `null` when absent.
struct Changes<'a>(&'a [FieldChange]);

impl Serialize for Changes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Change<'a> {
            field: &'static str,
            before: Option<&'a str>,
            after: Option<&'a str>,
        }
        s.collect_seq(self.0.iter().map(|c| Change {
            field: c.field,
            before: c.before.as_deref(),
            after: c.after.as_deref(),
        }))
    }
}

fn admin(e: &AdminChange) -> Admin<'_> {
    let kind: &'static [&'static str] = match e.action.rsplit('.').next() {
        Some("create") => &["creation", "admin"],
        Some("delete" | "purge") => &["deletion", "admin"],
        _ => &["change", "admin"],
    };
    Admin {
        event: event(e.action, &["iam", "configuration"], kind, "success"),
        grantd: AdminFields {
            target: Target {
                kind: e.target_kind,
                id: &e.target_id,
            },
            changes: Changes(&e.changes),
        },
    }
}
