//! The use cases' handle on the audit port: an optional sink. An event is built only when a
//! sink is configured (the closure passed to [`Audit::emit`] is not called otherwise), so with
//! audit off a decision costs one branch more.

use std::fmt;
use std::sync::Arc;

use grantd_domain::{Client, NewSession, Timestamp};
use grantd_ports::{AuditEvent, AuditKind, AuditSink, Refusal, TokenIssued};

/// An audit sink, or none. Cheap to clone.
#[derive(Clone, Default)]
pub struct Audit(Option<Arc<dyn AuditSink>>);

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_on() {
            "Audit(on)"
        } else {
            "Audit(off)"
        })
    }
}

impl Audit {
    pub fn new(sink: Arc<dyn AuditSink>) -> Self {
        Self(Some(sink))
    }

    /// No sink: every event is skipped before it is built.
    pub fn off() -> Self {
        Self(None)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Records the event `kind` builds, made at `at`, if a sink is configured.
    pub fn emit(&self, at: Timestamp, kind: impl FnOnce() -> AuditKind) {
        if let Some(sink) = &self.0 {
            sink.record(AuditEvent { at, kind: kind() });
        }
    }

    /// Records an event made earlier (held by a transaction until its commit).
    pub(crate) fn record(&self, event: AuditEvent) {
        if let Some(sink) = &self.0 {
            sink.record(event);
        }
    }

    /// A refused request (built by the caller, which alone knows what the request presented).
    pub fn refused(&self, at: Timestamp, refusal: impl FnOnce() -> Refusal) {
        self.emit(at, || AuditKind::Refused(refusal()));
    }
}

/// The event of a token just issued to `client` under `session`.
pub(crate) fn issued(
    client: &Client,
    session: &NewSession,
    scope: &str,
    audience: &[String],
) -> AuditKind {
    AuditKind::TokenIssued(TokenIssued {
        client_id: session.client_id.clone(),
        owner_id: session.user_id.clone(),
        scope: scope.to_owned(),
        audience: audience.to_vec(),
        jti: session.jti.clone(),
        session_id: session.id.clone(),
        auth_method: client.auth_method,
        client_ip: session.context.ip,
    })
}
