//! The audit port: one typed event per decision (a token issued, a request refused, an
//! introspection, a revocation, an administrative change), handed to a sink that writes it
//! somewhere else. Events are data: the adapter chooses the wire format and field names.
//!
//! No event carries a secret, a secret hash or a bearer token: the types below have no field
//! that could hold one.

use std::net::IpAddr;

use grantd_domain::{AuthMethod, ClientId, Jti, SessionId, Timestamp, UserId};

/// Where audit events go. `record` must not wait: a sink that cannot take an event now drops
/// it (and counts the drop) rather than slow the decision down.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait AuditSink: Send + Sync {
    fn record(&self, event: AuditEvent);
}

/// One decision, when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub kind: AuditKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditKind {
    TokenIssued(TokenIssued),
    Refused(Refusal),
    Introspected(Introspected),
    Revoked(Revoked),
    AdminChange(AdminChange),
}

/// A token was issued (the session row is its durable record; this is its announcement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenIssued {
    pub client_id: ClientId,
    pub owner_id: UserId,
    /// The granted scopes, space-separated (the token's `scope` claim).
    pub scope: String,
    pub audience: Vec<String>,
    pub jti: Jti,
    pub session_id: SessionId,
    pub auth_method: AuthMethod,
    pub client_ip: Option<IpAddr>,
}

/// The endpoint a refused request was made to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspect,
    Revoke,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Introspect => "introspect",
            Endpoint::Revoke => "revoke",
        }
    }
}

/// A request answered with an error: what it presented, as far as it was read, the error code
/// the caller saw and the internal reason it did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub endpoint: Endpoint,
    /// The client id as presented (not checked; cut to 128 bytes), if one was read.
    pub client_id: Option<String>,
    /// The client-authentication method the request used, if it got that far.
    pub auth_method: Option<&'static str>,
    pub client_ip: Option<IpAddr>,
    /// The OAuth error code in the answer (RFC 6749 §5.2).
    pub code: &'static str,
    /// The internal reason, from a closed set (the metrics' `reason` label).
    pub reason: &'static str,
    /// The `scope` parameter as requested (token endpoint), cut to 512 bytes.
    pub scope: Option<String>,
    /// The `audience` parameter as requested (token endpoint), cut to 512 bytes.
    pub audience: Option<String>,
}

/// How an introspection was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntrospectionOutcome {
    Active,
    Inactive,
}

impl IntrospectionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            IntrospectionOutcome::Active => "active",
            IntrospectionOutcome::Inactive => "inactive",
        }
    }
}

/// An authenticated client introspected a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introspected {
    pub caller: ClientId,
    pub outcome: IntrospectionOutcome,
    /// The token's client and session, when the answer was `active`.
    pub token_client: Option<ClientId>,
    pub session_id: Option<SessionId>,
}

/// What a revocation request did (the answer is 200 in every case, RFC 7009 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationEffect {
    /// The session is revoked (now, or already: the first revocation's time is kept).
    Revoked,
    /// The token verified but its session row is gone (purged): nothing to revoke.
    NoSession,
    /// The token does not verify (bad signature, expired, not ours): nothing to do.
    InvalidToken,
    /// The token belongs to another client: left alone.
    NotOwner,
}

impl RevocationEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationEffect::Revoked => "revoked",
            RevocationEffect::NoSession => "no_session",
            RevocationEffect::InvalidToken => "invalid_token",
            RevocationEffect::NotOwner => "not_owner",
        }
    }
}

/// An authenticated client asked to revoke a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    pub caller: ClientId,
    /// The token's session, when the token verified.
    pub session_id: Option<SessionId>,
    pub effect: RevocationEffect,
}

/// An administrative change (a CLI command or the server's own maintenance): what changed and
/// the changed fields before and after, as display text. Never a secret or a hash: a secret
/// rotation names the client and the grace period, not the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminChange {
    /// What was done, e.g. "client.create", "client.secret.rotate", "user.deactivate".
    pub action: &'static str,
    /// The kind of object changed: "user", "client", "session", "signing_key".
    pub target_kind: &'static str,
    pub target_id: String,
    /// `(field, before, after)`; `None` where the object did not exist before or no longer does.
    pub changes: Vec<FieldChange>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
}
