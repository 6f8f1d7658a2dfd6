//! grantd's use cases: authenticate a client, issue a client_credentials token, introspect and
//! revoke tokens, the operators' admin operations and signing-key administration.
//!
//! Use cases orchestrate the ports in a fixed order and decide nothing themselves that the
//! domain can decide: scope and audience rules are `grantd_domain::decide`. This crate knows no
//! HTTP, SQL or JWT library.

mod admin;
mod audit;
mod error;
mod federation;
mod keys;
mod quota;
mod token;

pub use admin::{
    Admin, AdminError, AdminTransaction, ClientCreated, ExplainOutcome, Explanation,
    FEDERATED_TEXT_MAX, LimitsChange, NewClientSpec, NewFederatedCredential, NewUserSpec,
    PurgeCutoff, ScopeExplanation, SecretRotated, SessionExport, SessionQuery,
};
pub use admin::{ClientChange, ClientUpdated, KeySource, Precondition, UserChange, UserUpdated};
pub use admin::{
    ConflictKind, EmailProblem, InternalCause, InvalidReason, Missing, NameProblem, Named,
    ScopeItem, StoreFailure,
};
pub use audit::Audit;
pub use error::{AppError, Failure};
pub use federation::FederationPorts;
/// What the API reports of a refused request (audit data, not a port).
pub use grantd_ports::{Endpoint, Refusal};
pub use keys::{KeyAdmin, KeyCheck, KeyPolicy, ROTATION_MARGIN_SECS};
pub use quota::{DEFAULT_SYNC_INTERVAL, QuotaUsage};
pub use token::{
    AssertionLimits, AuthenticatedClient, ClientAuthentication, DpopProof, Introspection,
    IssuedToken, Ports, TokenRequest, TokenService,
};
