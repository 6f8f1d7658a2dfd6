//! The ports: the few coarse traits grantd's use cases need from the outside world. Adapters
//! (stores, the JWT signer, the clock) implement them; the app crate only ever sees these.
//!
//! Ports speak domain types and plain Rust. No SQL, HTTP or JWT library type appears here, and
//! errors say *what kind* of failure happened (not found, conflict, unavailable, invalid input)
//! without a driver's text.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use grantd_domain::{
    AccessTokenClaims, AssertionRejection, AssertionTarget, Client, ClientId, ClientKeys,
    ClientLimits, ClientSecret, DpopBinding, DpopPolicy, FederatedCredential, IssuerName, Jti, Kid,
    NewSession, Owner, ProofRejection, ProofTarget, SessionId, SessionRecord, Timestamp,
    TrustedIssuer, UserId, VerifiedIdentity,
};

pub mod audit;
mod error;
pub mod keys;
pub mod remote_keys;

#[cfg(any(test, feature = "mock"))]
pub use audit::MockAuditSink;
pub use audit::{
    AdminChange, AuditEvent, AuditKind, AuditSink, Endpoint, FieldChange, Introspected,
    IntrospectionOutcome, Refusal, RevocationEffect, Revoked, TokenIssued,
};
pub use error::{
    ConnectFailure, Constraint, Internal, InvalidInput, Missing, Problem, SqliteCondition,
    StoreError, Unavailable, UrlProblem,
};

#[cfg(any(test, feature = "mock"))]
pub use keys::MockKeyRing;
#[cfg(any(test, feature = "mock"))]
pub use remote_keys::MockRemoteKeys;
pub use remote_keys::{KeysWanted, RemoteKeys};

pub use keys::{
    KeyRing, KeyRingError, KeyState, KeySummary, RotationReport, SigningAlgorithm, SigningKeyRecord,
};

/// Clients and their secrets.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// The client with all its stored secrets (current and in grace), in one round trip.
    /// Ids compare case-sensitively on every backend.
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Creates the client with the secrets in `client.secrets`. The owner must exist
    /// (`NotFound` otherwise); a taken id is a `Conflict`. All or nothing.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;

    /// All clients, ordered by creation time then id, with their secrets.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;

    /// Sets `active` and `updated_at`; `Ok(false)` if there is no such client.
    async fn set_client_active(
        &self,
        id: &ClientId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Sets the client's DPoP policy and `updated_at`; `Ok(false)` if there is no such client.
    async fn set_client_dpop(
        &self,
        id: &ClientId,
        dpop: DpopPolicy,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Replaces the client's registered public keys (`private_key_jwt`) and their registered
    /// algorithm and sets `updated_at` to `now`, only if its stored `updated_at` is still
    /// `expected` (compare-and-set, as [`ClientStore::update_client`]).
    async fn set_client_keys(
        &self,
        id: &ClientId,
        keys: &ClientKeys,
        expected: Timestamp,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError>;

    /// Adds `secret` as the current secret and makes every current secret expire at
    /// `previous_valid_until` (secrets already expiring earlier keep their earlier end).
    /// All or nothing; `Ok(false)` if there is no such client.
    async fn rotate_secret(
        &self,
        id: &ClientId,
        secret: &ClientSecret,
        previous_valid_until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Replaces the stored hash `old_hash` of client `id` by `new_hash` (same secret, newer
    /// format), keeping its validity. `Ok(false)` if the client has no such hash (another
    /// node replaced it first, or the client is gone): nothing changes.
    async fn replace_secret_hash(
        &self,
        id: &ClientId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Replaces the client's own rate and token quotas, sets `updated_at`; `Ok(false)` if
    /// there is no such client.
    async fn set_client_limits(
        &self,
        id: &ClientId,
        limits: &ClientLimits,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Replaces the client's changeable fields (name, owner, scopes, grant types, auth method,
    /// active, DPoP policy, rate and quotas, `updated_at`) by `client`'s in one write, only if
    /// its stored `updated_at` is still `expected` (the state the caller read and changed):
    /// two writers that read the same state cannot both win. Its id, secrets, keys and
    /// creation time are not touched.
    async fn update_client(
        &self,
        client: &Client,
        expected: Timestamp,
    ) -> Result<UpdateOutcome, StoreError>;
}

/// What a compare-and-set update found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
    /// No such row.
    NotFound,
    /// The row changed since it was read (its `updated_at` is no longer the expected one):
    /// nothing was written.
    Stale,
}

/// Users (client owners).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn find_user(&self, id: &UserId) -> Result<Option<Owner>, StoreError>;

    /// A taken email is a `Conflict`.
    async fn create_user(&self, user: &Owner) -> Result<(), StoreError>;

    /// All users, ordered by creation time then id.
    async fn list_users(&self) -> Result<Vec<Owner>, StoreError>;

    /// Sets `active` and `updated_at`; `Ok(false)` if there is no such user.
    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Replaces the user's name, roles, `active` and `updated_at` by `user`'s in one write,
    /// only if its stored `updated_at` is still `expected` (see [`ClientStore::update_client`]).
    /// Its id, email and creation time are not touched.
    async fn update_user(
        &self,
        user: &Owner,
        expected: Timestamp,
    ) -> Result<UpdateOutcome, StoreError>;
}

/// Filter for listing sessions, newest first: by creation time, then by id, both descending
/// (ids compare byte-wise on every backend).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub client_id: Option<ClientId>,
    pub user_id: Option<UserId>,
    /// Only sessions created at or after this time.
    pub since: Option<Timestamp>,
    /// Only sessions created before this time.
    pub until: Option<Timestamp>,
    /// Only sessions that come after this position in the listing order (keyset pagination).
    pub after: Option<SessionCursor>,
    pub limit: u32,
}

/// A position in the session listing: the last row of the previous page. A page that starts
/// after it neither repeats nor skips a row, whatever is inserted or purged meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCursor {
    pub created_at: Timestamp,
    pub id: SessionId,
}

impl SessionCursor {
    /// The position of `record`: the next page starts with the row listed after it.
    pub fn of(record: &SessionRecord) -> Self {
        Self {
            created_at: record.session.created_at,
            id: record.session.id.clone(),
        }
    }
}

/// Tokens issued to one client since a moment, from its session rows: how many, and when the
/// oldest of them was issued (`None` when there are none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IssuedSince {
    pub count: u64,
    pub oldest: Option<Timestamp>,
}

/// Session rows: one per issued token.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Writes the row durably before returning `Ok` (the token is handed out only after).
    /// A taken id or jti is a `Conflict`.
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError>;

    async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;

    /// Marks the session revoked (keeps the first revocation's time and reason). `Ok(false)` if
    /// there is no such session.
    async fn revoke_session(
        &self,
        id: &SessionId,
        at: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Newest first, at most `filter.limit` rows, in the order [`SessionFilter`] describes.
    async fn list_sessions(&self, filter: &SessionFilter)
    -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes at most `batch` sessions that expired before `before`; returns how many went.
    /// Callers loop until it returns less than `batch`.
    async fn purge_sessions(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError>;

    /// Sessions of `client` created at or after `since` (revoked ones too: each was a token
    /// issued), in one aggregate query.
    async fn issued_since(
        &self,
        client: &ClientId,
        since: Timestamp,
    ) -> Result<IssuedSince, StoreError>;
}

/// Signing keys, shared by every replica on one database.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key not yet deleted, any state, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// First start: inserts `active` and `next` only if no key is in state `active`, atomically
    /// with respect to other replicas doing the same. `Ok(true)` if they were inserted.
    async fn bootstrap_signing_keys(
        &self,
        active: &SigningKeyRecord,
        next: &SigningKeyRecord,
    ) -> Result<bool, StoreError>;

    /// One rotation, atomically and serialized across replicas: the `active` key becomes
    /// `retired` (retired_at = now, not_after = `retired_not_after`), the `next` key becomes
    /// `active` (activated_at = now), and `new_next` is inserted as `next`. Returns the kid now
    /// active. `expected_active` guards against a concurrent rotation: if the active key is no
    /// longer that kid, nothing changes and `Ok(None)` is returned.
    async fn rotate_signing_keys(
        &self,
        expected_active: &Kid,
        new_next: &SigningKeyRecord,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<Option<Kid>, StoreError>;

    /// Deletes retired keys whose `not_after` is before `now`; returns how many went.
    async fn delete_expired_keys(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// Why a token could not be signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// No active key is loaded (yet).
    #[error("no active signing key")]
    NoKey,
    #[error("signing failed: {0}")]
    Failed(SignFailure),
}

/// What went wrong while signing with a loaded key. The detail a library gave, if any, is
/// logged by the adapter where it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignFailure {
    /// The crypto library refused to produce a signature with the key.
    #[error("{0} signature failed")]
    Signature(keys::SigningAlgorithm),
    /// The claims could not be serialized.
    #[error("claims serialization failed")]
    Serialization,
    /// The key cannot be used (damaged key material, a key store that cannot be read).
    #[error("the signing key material is unusable")]
    KeyMaterial,
}

/// Why a presented token is not acceptable. Introspection answers `active: false` for all of
/// them; the variant is for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongType,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for VerifyError {}

/// A signed access token and the key that signed it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedToken {
    pub token: String,
    pub kid: Kid,
}

impl fmt::Debug for SignedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedToken")
            .field("token", &"<redacted>")
            .field("kid", &self.kid)
            .finish()
    }
}

/// Signs and verifies access tokens with the key ring in force.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenSigner: Send + Sync {
    /// Signs with the active key (header `typ: at+jwt`, `alg`, `kid`).
    fn sign(&self, claims: &AccessTokenClaims) -> Result<SignedToken, SignError>;

    /// Verifies signature (by `kid`, algorithm pinned to the key's), issuer, `exp` and `nbf` at
    /// `now`, and returns the claims.
    fn verify(&self, token: &str, now: Timestamp) -> Result<AccessTokenClaims, VerifyError>;

    /// Public keys for the JWKS document, each a JSON object text (`kty`, `kid`, `alg`,
    /// `use: sig`, public parameters only).
    fn public_jwks(&self) -> Vec<String>;

    /// Whether an active key is loaded.
    fn ready(&self) -> bool;
}

/// A freshly generated client secret: the plaintext (shown once) and its stored form.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedSecret {
    pub plaintext: String,
    pub hash: String,
}

impl fmt::Debug for GeneratedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GeneratedSecret(<redacted>)")
    }
}

/// Why a secret could not be hashed. No variant can carry the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The operator-supplied secret is unacceptable: the operator's to fix.
    #[error("secret rejected: {0}")]
    Rejected(SecretRejection),
    #[error("secret hashing failed: {0}")]
    Failed(HashFailure),
}

/// What is wrong with an operator-supplied secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretRejection {
    #[error("a client secret may contain only printable ASCII characters (space to ~)")]
    NotPrintableAscii,
    #[error("a client secret must be at least {min} characters long (got {len})")]
    TooShort { min: usize, len: usize },
    #[error("a client secret must be at most {max} characters long (got {len})")]
    TooLong { max: usize, len: usize },
}

/// Why a (slow) secret hash could not be computed. The library's detail, if any, is logged by
/// the adapter where it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashFailure {
    /// Every slow-hash slot is taken and the queue is full; retrying later may work.
    #[error("too many client-secret hashes queued; try again")]
    Busy,
    /// The slow-hash limiter was shut down.
    #[error("the slow-hash limiter is closed")]
    LimiterClosed,
    /// The blocking task running the hash panicked or was cancelled.
    #[error("the hashing task failed")]
    TaskFailed,
    /// The salt could not be encoded.
    #[error("cannot encode the salt")]
    Salt,
    /// The password-hash library refused its parameters or the input.
    #[error("the password hash failed")]
    Hash,
}

/// What checking a presented secret against a client's stored hashes found.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretCheck {
    /// No stored hash matches (or there was none).
    Mismatch,
    /// A stored hash matches. `outdated` is that hash when it is in a format grantd no longer
    /// writes: the caller should store a fresh hash of the same secret in its place.
    Match { outdated: Option<String> },
    /// Too many slow hashes are already queued: the secret was not checked. Retry later.
    Overloaded,
}

impl SecretCheck {
    pub fn is_match(&self) -> bool {
        matches!(self, SecretCheck::Match { .. })
    }
}

impl fmt::Debug for SecretCheck {
    /// A stored hash is an offline-attack target: it stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretCheck::Mismatch => f.write_str("Mismatch"),
            SecretCheck::Match { outdated } => f
                .debug_struct("Match")
                .field("outdated", &outdated.as_ref().map(|_| "<redacted>"))
                .finish(),
            SecretCheck::Overloaded => f.write_str("Overloaded"),
        }
    }
}

/// Client-secret generation, hashing and verification.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SecretHasher: Send + Sync {
    /// A new random secret (≥ 256 bits, base64url) and its fast keyed hash.
    fn generate(&self) -> GeneratedSecret;

    /// Hashes an operator-supplied secret with a slow password hash (argon2id).
    async fn hash_supplied(&self, plaintext: &str) -> Result<String, SecretError>;

    /// Whether `presented` matches any of `stored`, in constant time per hash. With `stored`
    /// empty (unknown client) it does the same work as for one generated secret, so timing does
    /// not tell unknown clients from known ones, and never answers `Overloaded` (only slow
    /// hashes queue).
    async fn verify(&self, presented: &str, stored: &[String]) -> SecretCheck;
}

/// Checks DPoP proofs (RFC 9449) and hands out server nonces (§8).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait DpopProofs: Send + Sync {
    /// Checks `proof` (one `DPoP` header's value) for `target` at `now`: structure, `typ`,
    /// algorithm, public `jwk`, signature, `htm`, `htu`, `iat` window, `jti`, and the nonce
    /// when nonces are on. Single use is not checked here: the binding's `proof_key` is what
    /// the session row stores under a unique index.
    fn check<'a>(
        &self,
        proof: &str,
        target: ProofTarget<'a>,
        now: Timestamp,
    ) -> Result<DpopBinding, ProofRejection>;

    /// A fresh nonce to hand to clients, or `None` when nonces are off.
    fn nonce(&self, now: Timestamp) -> Option<String>;

    /// The proof algorithms accepted, for the metadata's `dpop_signing_alg_values_supported`.
    fn algorithms(&self) -> &'static [&'static str];
}

/// Checks `private_key_jwt` client assertions (RFC 7523 §3) against a client's registered
/// keys.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ClientAssertions: Send + Sync {
    /// The assertion's `iss`, unverified: which client's keys to check it with. Refuses what
    /// is not a compact JWS with a JSON payload, or has no string `iss` equal to `sub`.
    fn issuer(&self, assertion: &str) -> Result<String, AssertionRejection>;

    /// Every check but single use: signature by one of `keys` under the algorithm the key
    /// pins, `iss` = `sub` = `client_id`, `aud`, `exp`, lifetime, `iat`/`nbf`, `jti`. Returns
    /// the replay key (a digest of client id and `jti`) the session row stores under a unique
    /// index.
    fn check<'a>(
        &self,
        assertion: &str,
        client_id: &ClientId,
        keys: &ClientKeys,
        target: AssertionTarget<'a>,
        now: Timestamp,
    ) -> Result<String, AssertionRejection>;

    /// Parses and checks a JWKS document (`{"keys":[…]}`) for registration: every member a
    /// public key of a usable type, kids unique. The one check of registered keys, whether
    /// they come from the CLI, the admin API or a state file.
    fn registration_keys(&self, jwks: &str) -> Result<ClientKeys, JwksError>;
}

/// Why a JWKS cannot be registered. The messages name the key by position and kid, never a
/// key's material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWKS: expected a JSON object with a non-empty \"keys\" array")]
    NotAJwks,
    #[error("key {0}: has private members (d, p, q, …): register the public key only")]
    Private(usize),
    #[error("key {0}: a symmetric (oct) key cannot be registered")]
    Symmetric(usize),
    #[error("key {0}: unusable (kty EC P-256, OKP Ed25519 or RSA expected, members complete)")]
    Unsupported(usize),
    #[error("key {0}: RSA modulus below 2048 bits")]
    WeakRsa(usize),
    #[error("two keys share the kid {0:?}")]
    DuplicateKid(String),
}

/// Federated credentials: which subjects of which trusted issuers may act as a client.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FederatedCredentialStore: Send + Sync {
    /// The client's credentials, ordered by issuer name then subject.
    async fn federated_credentials(
        &self,
        client: &ClientId,
    ) -> Result<Vec<FederatedCredential>, StoreError>;

    /// Adds one. No such client: `NotFound`; the same issuer and subject already there:
    /// `Conflict`.
    async fn add_federated_credential(
        &self,
        client: &ClientId,
        credential: &FederatedCredential,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Removes the credential of `issuer` and `subject`; `Ok(false)` if there was none.
    async fn remove_federated_credential(
        &self,
        client: &ClientId,
        issuer: &IssuerName,
        subject: &str,
    ) -> Result<bool, StoreError>;
}

/// Several admin writes as one unit (`grantd apply`): one database transaction held open
/// across use-case calls.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Transactions: Send + Sync {
    /// Opens a transaction. Its stores' reads see its own writes; nobody else sees them, and
    /// none stays, unless it is committed. Dropped without `commit` or `rollback`: rolled back.
    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError>;
}

/// An open transaction (see [`Transactions`]).
#[async_trait]
pub trait Transaction: Send + Sync {
    /// The stores bound to it.
    fn stores(&self) -> TransactionStores;
    /// Makes every write through its stores durable and visible, at once. `Err`: none is.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// Undoes every write through its stores.
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}

/// The stores of an open transaction: the ones administration writes through. Sessions and
/// signing keys are not part of it.
#[derive(Clone)]
pub struct TransactionStores {
    pub clients: Arc<dyn ClientStore>,
    pub users: Arc<dyn UserStore>,
    pub credentials: Arc<dyn FederatedCredentialStore>,
}

impl fmt::Debug for TransactionStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionStores { .. }")
    }
}

/// What a platform token says before it is verified: which issuer's keys to check it with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenPeek {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub kid: Option<String>,
}

/// A platform token that passed every check of its issuer's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPlatformToken {
    pub identity: VerifiedIdentity,
    /// The replay key (a digest of issuer name and `jti`) when the issuer's `jti`s are
    /// single-use; `None` otherwise (the session row stores NULL, which never conflicts).
    pub replay_key: Option<String>,
}

/// Checks platform tokens (federated workload identities) against a trusted issuer's keys
/// and policy.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait FederatedTokens: Send + Sync {
    /// `iss`, `sub` and the header's `kid`, unverified. Refuses what is not a compact JWS
    /// with JSON objects.
    fn peek(&self, token: &str) -> Result<TokenPeek, AssertionRejection>;

    /// Signature by one of `keys` with an algorithm the issuer allows and the key pins, `iss`
    /// (OIDC issuers), `aud` = the issuer's audience, `exp`, lifetime ≤ the issuer's bound,
    /// `iat`/`nbf` at most `max_skew_secs` ahead, `sub` present, `jti` when single-use.
    fn check(
        &self,
        token: &str,
        issuer: &TrustedIssuer,
        keys: &ClientKeys,
        max_skew_secs: i64,
        now: Timestamp,
    ) -> Result<VerifiedPlatformToken, AssertionRejection>;
}

/// Why a trusted issuer's keys could not be had. The adapter logs the detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssuerKeysError {
    /// Not configured in this process (a credential naming an issuer removed from config).
    #[error("issuer not configured")]
    UnknownIssuer,
    /// The JWKS (or discovery document) could not be fetched or parsed, and nothing usable
    /// is cached.
    #[error("issuer keys unavailable")]
    Unavailable,
}

/// Trusted issuers' public keys, fetched from their `jwks_uri` and cached.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IssuerKeys: Send + Sync {
    /// The issuer's current keys. A `kid` not among the cached keys may cause a refetch
    /// (at most once per configured interval).
    async fn issuer_keys<'a>(
        &self,
        issuer: &IssuerName,
        kid: Option<&'a str>,
    ) -> Result<ClientKeys, IssuerKeysError>;
}

/// The current time.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Fresh identifiers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait IdSource: Send + Sync {
    fn session_id(&self) -> SessionId;
    fn jti(&self) -> Jti;
    fn user_id(&self) -> UserId;
    /// A new client id (URL-safe, unguessable).
    fn client_id(&self) -> ClientId;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator's message of each signing and hashing failure: kind, then typed reason.
    #[test]
    fn sign_and_secret_messages_name_kind_and_reason() {
        let cases: [(&dyn std::error::Error, &str); 5] = [
            (&SignError::NoKey, "no active signing key"),
            (
                &SignError::Failed(SignFailure::Signature(SigningAlgorithm::Es256)),
                "signing failed: ES256 signature failed",
            ),
            (
                &SecretError::Rejected(SecretRejection::TooShort { min: 16, len: 8 }),
                "secret rejected: a client secret must be at least 16 characters long (got 8)",
            ),
            (
                &SecretError::Rejected(SecretRejection::TooLong { max: 512, len: 600 }),
                "secret rejected: a client secret must be at most 512 characters long (got 600)",
            ),
            (
                &SecretError::Failed(HashFailure::Busy),
                "secret hashing failed: too many client-secret hashes queued; try again",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
