//! Operators' use cases: users, clients and their secrets, sessions, and `explain` (a dry run of
//! the token decision). This file holds the [`Admin`] facade and its error; each concern has its
//! module (`users`, `clients`, `sessions`, `explain`), and `input` checks operator input.
//!
//! Every operation validates all of its input before its first write, so a refused command
//! never leaves half-written rows. Scopes and roles are checked against the same catalog, and
//! `explain` calls the same [`grantd_domain::decide`] with the same inputs as the token endpoint,
//! so the CLI can neither accept what the token endpoint would reject nor explain a decision
//! the endpoint would not make.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use grantd_domain::{
    AuthMethod, ClientId, DomainError, IdError, ScopeProblem, SessionId, Tier, TokenPolicy, UserId,
};
use grantd_ports::{HashFailure, SecretRejection, StoreError, Transactions};

use crate::audit::Audit;
use crate::token::Ports;

mod audit;
mod changes;
mod client_keys;
mod clients;
mod explain;
mod federation;
mod input;
mod plan;
mod revoke;
mod sessions;
mod transaction;
mod users;

pub use changes::{ClientChange, ClientUpdated, Precondition, UserChange, UserUpdated};
pub use client_keys::KeySource;
pub use clients::{ClientCreated, LimitsChange, NewClientSpec, SecretRotated};
pub use explain::{ExplainOutcome, Explanation, ScopeExplanation};
pub use federation::{FEDERATED_TEXT_MAX, NewFederatedCredential};
#[cfg(test)]
use revoke::OPERATOR_REVOCATION;
pub use sessions::{PurgeCutoff, SessionExport, SessionQuery};
pub use transaction::AdminTransaction;
pub use users::NewUserSpec;

use input::quote;

/// The admin use cases over a set of ports and the policy in force.
#[derive(Clone, Debug)]
pub struct Admin {
    ports: Ports,
    policy: Arc<TokenPolicy>,
    audit: Audit,
    federation: Option<crate::federation::FederationPorts>,
    /// `[jwks_fetch] allow_http_loopback`: whether an `http://` loopback `jwks_uri` may be
    /// registered.
    jwks_http_loopback: bool,
    /// Opens the transactions of [`Admin::begin`]; `None`: it is refused.
    transactions: Option<transaction::Source>,
}

impl Admin {
    pub fn new(ports: Ports, policy: Arc<TokenPolicy>) -> Self {
        Self {
            ports,
            policy,
            audit: Audit::off(),
            federation: None,
            jwks_http_loopback: false,
            transactions: None,
        }
    }

    /// The same use cases, able to run several as one transaction ([`Admin::begin`]).
    pub fn with_transactions(mut self, transactions: Arc<dyn Transactions>) -> Self {
        self.transactions = Some(transaction::Source(transactions));
        self
    }

    /// The same use cases, accepting an `http://` loopback `jwks_uri` when `allow` (the
    /// `[jwks_fetch] allow_http_loopback` setting; refused by default).
    pub fn with_jwks_http_loopback(mut self, allow: bool) -> Self {
        self.jwks_http_loopback = allow;
        self
    }

    /// The same use cases, recording every change they make to `audit`.
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }
}

/// Why an admin operation was refused or failed, by kind; within each kind a typed reason.
/// `Display` is one line, fit for the CLI's stderr; no variant ever carries a secret or a hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// Bad input: unknown scope, malformed id or email, grace period too long, ...
    #[error("invalid input: {}", OneLine(.0))]
    Invalid(InvalidReason),
    /// A named user, client or session does not exist.
    #[error("not found: {}", OneLine(.0))]
    NotFound(Missing),
    /// The operation collides with existing data (duplicate email, taken client id).
    #[error("conflict: {}", OneLine(.0))]
    Conflict(ConflictKind),
    /// The user or client changed since the caller read it (`If-Match`, or a concurrent
    /// writer): nothing was written.
    #[error("{what} {} changed since it was read: nothing was written; read it again", quote(.id))]
    Stale { what: Named, id: String },
    /// The store is unreachable or overloaded; retrying later may work.
    #[error("store unavailable: {}", OneLine(.0))]
    Unavailable(StoreFailure),
    /// Anything else; the detail is for the operator, not a caller.
    #[error("internal error: {}", OneLine(.0))]
    Internal(InternalCause),
}

/// What is wrong with the operator's input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// Keys given to a secret-based client, none (or a secret) for a `private_key_jwt` one.
    #[error(
        "a private_key_jwt client needs public keys (jwks or jwks_uri; --jwks-file or --jwks-uri) and no secret; a federated client takes neither; other clients take no keys"
    )]
    KeysDoNotFitMethod,
    /// A JWKS that cannot be registered (private or symmetric members, duplicate kids, …).
    #[error("JWKS: {0}")]
    Jwks(grantd_ports::JwksError),
    /// A `jwks_uri` that cannot be registered.
    #[error("jwks_uri {}: {problem}", quote(.uri))]
    JwksUri {
        uri: String,
        problem: grantd_domain::JwksUriProblem,
    },
    /// A registered assertion algorithm that none of the client's keys can sign with.
    #[error("no key of the client can sign with {0} (its token_endpoint_auth_signing_alg)")]
    NoKeyForAlg(grantd_domain::AssertionAlg),
    /// A user's or client's name.
    #[error("no trusted issuer is configured ([[federation.issuers]])")]
    NoTrustedIssuers,
    #[error("unknown issuer {}: not in [[federation.issuers]]", quote(.0))]
    UnknownIssuer(String),
    #[error(
        "client {client} is registered for {method}, not federated (create it with --auth-method federated)"
    )]
    NotFederated {
        client: ClientId,
        method: &'static str,
    },
    #[error(
        "invalid federated {what}: must be 1-{} bytes without control characters",
        FEDERATED_TEXT_MAX
    )]
    FederatedText { what: &'static str },
    #[error("{what} name {problem}")]
    Name { what: Named, problem: NameProblem },
    #[error("invalid email {}: {problem}", quote(.email))]
    Email {
        email: String,
        problem: EmailProblem,
    },
    /// A malformed user, client or session id, as the domain's parser describes it.
    #[error("{error}: {}", quote(.input))]
    Id { input: String, error: IdError },
    /// A blank element in a list of roles.
    #[error("empty role {}", quote(.0))]
    EmptyRole(String),
    /// A scope or role the catalog refuses.
    #[error("{}", scope_message(.item, .problem))]
    Scope {
        item: ScopeItem,
        problem: ScopeProblem,
    },
    /// A role that is not a delegated scope; `delegated` lists those that are.
    #[error(
        "role {} is a {tier}-tier scope; roles must be delegated scopes ({})",
        quote(.role),
        .delegated.join(", ")
    )]
    RoleNotDelegated {
        role: String,
        tier: Tier,
        delegated: Vec<String>,
    },
    #[error("a client needs at least one scope")]
    NoScopes,
    /// A switch to or from `private_key_jwt`: one side needs keys, the other a secret.
    #[error(
        "cannot change auth_method from {from} to {to}: create a new client with {to} and retire this one"
    )]
    AuthMethodSwitch { from: AuthMethod, to: AuthMethod },
    /// A secret grace period longer than [`Admin::MAX_GRACE_SECS`].
    #[error(
        "grace period must be at most {max} seconds (30 days), got {0}",
        max = Admin::MAX_GRACE_SECS
    )]
    GracePeriod(u64),
    /// The hasher refused an operator-supplied secret.
    #[error("secret rejected: {0}")]
    SecretRejected(SecretRejection),
    /// A session listing's limit outside 1..=[`Admin::MAX_SESSION_LIMIT`].
    #[error(
        "limit must be between 1 and {max}, got {0} (page with --after, or export with --json-lines)",
        max = Admin::MAX_SESSION_LIMIT
    )]
    SessionLimit(u32),
    #[error("limit must be at least 1, got 0")]
    ZeroExportLimit,
    #[error("--since must be earlier than --until")]
    EmptyTimeRange,
    #[error("the purge cut-off must not lie in the future: only expired sessions are purged")]
    PurgeCutoffInFuture,
    /// The store refused the input.
    #[error("{0}")]
    Store(StoreFailure),
}

/// Whose name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Named {
    #[error("user")]
    User,
    #[error("client")]
    Client,
}

/// What is wrong with a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {} characters", input::NAME_MAX_CHARS)]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacters,
}

/// What is wrong with an email address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    #[error("longer than {} bytes", input::EMAIL_MAX_BYTES)]
    TooLong,
    #[error("must not contain spaces or control characters")]
    Whitespace,
    #[error("must be local@domain with exactly one @")]
    NotOneAt,
}

/// Whether a refused catalog entry was given as a client's scope or a user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeItem {
    #[error("scope")]
    Scope,
    #[error("role")]
    Role,
}

/// What does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("no user with id {0}")]
    User(UserId),
    #[error("no client with id {0}")]
    Client(ClientId),
    #[error("client {client} has no federated credential for issuer {} and subject {}", quote(.issuer), quote(.subject))]
    FederatedCredential {
        client: ClientId,
        issuer: String,
        subject: String,
    },
    #[error("no session with id {0}")]
    Session(SessionId),
    /// A row the store did not find that the operation cannot name more precisely.
    #[error("{0}")]
    Store(StoreFailure),
}

/// What the operation collides with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConflictKind {
    #[error("email already registered: {}", quote(.0))]
    Email(String),
    #[error("client id already taken: {0}")]
    ClientId(ClientId),
    #[error("the client already has a credential for issuer {} and subject {}", quote(.issuer), quote(.subject))]
    FederatedCredential { issuer: String, subject: String },
    /// A constraint the operation cannot name more precisely.
    #[error("{0}")]
    Store(StoreFailure),
}

/// What failed inside.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InternalCause {
    #[error("{0}")]
    Store(StoreFailure),
    /// The hasher failed on an operator-supplied secret.
    #[error("secret hashing failed: {0}")]
    SecretHashing(HashFailure),
    /// [`Admin::begin`] without a transaction port.
    #[error("these use cases were built without transactions")]
    NoTransactions,
}

/// A store failure and what the operation was doing ("loading client").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{doing}: {cause}")]
pub struct StoreFailure {
    pub doing: &'static str,
    pub cause: StoreError,
}

impl AdminError {
    /// Maps a store failure, saying what was being done. Conflicts and missing rows that an
    /// operation can name precisely are mapped at the call site instead.
    fn store(doing: &'static str, cause: StoreError) -> Self {
        let failure = StoreFailure { doing, cause };
        match &failure.cause {
            StoreError::Conflict(_) => AdminError::Conflict(ConflictKind::Store(failure)),
            StoreError::NotFound(_) => AdminError::NotFound(Missing::Store(failure)),
            StoreError::Invalid(_) => AdminError::Invalid(InvalidReason::Store(failure)),
            StoreError::Unavailable(_) => AdminError::Unavailable(failure),
            StoreError::Internal(_) => AdminError::Internal(InternalCause::Store(failure)),
        }
    }
}

fn scope_message(item: &ScopeItem, problem: &ScopeProblem) -> String {
    match problem {
        ScopeProblem::Unknown(t) => {
            format!("unknown {item} {}: not in the scope catalog", quote(t))
        }
        ScopeProblem::Malformed(t) => {
            format!("malformed {item} {}: not a valid scope token", quote(t))
        }
        other => format!(
            "invalid {item}: {}",
            DomainError::InvalidScope(other.clone()).description()
        ),
    }
}

/// Displays its value on one line, whatever a store message or echoed input contains: each
/// control character becomes a space.
struct OneLine<'a, T>(&'a T);

impl<T: fmt::Display> fmt::Display for OneLine<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Spaces<'f, 'b>(&'f mut fmt::Formatter<'b>);
        impl fmt::Write for Spaces<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for c in s.chars() {
                    self.0.write_char(if c.is_control() { ' ' } else { c })?;
                }
                Ok(())
            }
        }
        write!(Spaces(f), "{}", self.0)
    }
}

#[cfg(test)]
mod tests;
