//! grantd's domain: scopes and their catalog, grant authorization, audience rules, typed ids,
//! token lifetime and the errors a token request can end in.
//!
//! Everything here is a pure function over data that was already loaded: no IO, no clock, no
//! randomness, no HTTP, SQL or JWT encoding. The crate depends on `std` alone.

pub mod assertion;
pub mod audience;
pub mod client;
pub mod dpop;
pub mod error;
pub mod federation;
pub mod grant;
pub mod ids;
pub mod introspection;
pub mod scope;
pub mod session;
pub mod time;
pub mod token;

pub use assertion::{
    AssertionAlg, AssertionRejection, AssertionTarget, ClientKeys, DuplicateKid, JwksFailure,
    JwksUri, JwksUriProblem, NoKeyForAlg, RegisteredKey,
};
pub use audience::{ADMIN_AUDIENCE, Audience, AudienceRequest, AudienceRules};
pub use client::{
    AuthMethod, Client, ClientLimits, ClientRate, ClientSecret, GrantType, GrantTypes, Owner,
    OwnerId, QuotaWindow, TokenQuota,
};
pub use dpop::{DpopBinding, DpopPolicy, Jkt, ProofRejection, ProofTarget};
pub use error::{ClientRejection, DomainError, InvalidRequest, ScopeProblem, TargetProblem};
pub use federation::{
    CredentialMismatch, FederatedCredential, FederatedIdentity, Federation, IssuerKind, IssuerName,
    PinnedClaim, SessionAuth, TrustedIssuer, VerifiedIdentity, match_credential,
};
pub use grant::{
    Decision, Grant, ScopePolicy, ScopeVerdict, TokenPolicy, Verdict, decide, owner_backs,
};
pub use ids::{ClientId, IdError, Jti, Kid, SessionId, UserId};
pub use introspection::may_introspect;
pub use scope::{
    ADMIN_SCOPES, CatalogError, RequestedScopes, ScopeCatalog, ScopeDef, StoredScopes, Tier,
};
pub use session::{NewSession, RequestContext, SessionRecord, SessionSource};
pub use time::{Timestamp, Ttl};
pub use token::{AccessTokenClaims, Subject, SubjectMode};
