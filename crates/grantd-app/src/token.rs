//! Token use cases: client authentication, issuing a client_credentials token, introspection
//! (RFC 7662) and revocation (RFC 7009).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use grantd_domain::{
    AccessTokenClaims, AssertionRejection, AssertionTarget, AudienceRequest, AuthMethod, Client,
    ClientId, ClientLimits, ClientRejection, DomainError, DpopBinding, DpopPolicy, Grant,
    InvalidRequest, NewSession, Owner, ProofRejection, ProofTarget, RequestContext, SessionAuth,
    SessionId, SessionSource, Subject, SubjectMode, Timestamp, TokenPolicy, UserId, decide,
    may_introspect, owner_backs,
};
use grantd_ports::{
    AuditKind, ClientAssertions, ClientStore, Clock, Constraint, DpopProofs, IdSource,
    Introspected, IntrospectionOutcome, KeysWanted, Refusal, RemoteKeys, RevocationEffect, Revoked,
    SecretCheck, SecretHasher, SessionStore, StoreError, TokenSigner, UserStore,
};

use crate::audit::{self, Audit};
use crate::error::{AppError, Failure};
use crate::federation::FederationPorts;
use crate::quota::Quotas;

mod federated;

/// The ports the token use cases run on: handed to [`TokenService::new`] and kept private to
/// the use cases (the API asks the service, e.g. [`TokenService::jwks`], never a port).
#[derive(Clone)]
pub struct Ports {
    pub clients: Arc<dyn ClientStore>,
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub signer: Arc<dyn TokenSigner>,
    pub secrets: Arc<dyn SecretHasher>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    /// DPoP proof checks and nonces (RFC 9449).
    pub dpop: Arc<dyn DpopProofs>,
    /// `private_key_jwt` assertion checks (RFC 7523).
    pub assertions: Arc<dyn ClientAssertions>,
    /// Keys of `private_key_jwt` clients registered by `jwks_uri`.
    pub remote_keys: Arc<dyn RemoteKeys>,
}

impl fmt::Debug for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// How long a client assertion may live and how far ahead of the server's clock it may be
/// dated (`[client_assertion]`). An assertion's replay key lives in the session row of its
/// token, so the configuration must keep that row (token lifetime + retention) at least
/// `max_lifetime + max_skew`: the binary refuses to start otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssertionLimits {
    /// Longest lifetime (`exp − iat`, or `exp − now` without `iat`).
    pub max_lifetime: std::time::Duration,
    /// How far `iat`/`nbf` may lie in the future.
    pub max_skew: std::time::Duration,
}

impl Default for AssertionLimits {
    fn default() -> Self {
        Self {
            max_lifetime: std::time::Duration::from_secs(300),
            max_skew: std::time::Duration::from_secs(5),
        }
    }
}

impl AssertionLimits {
    /// How long an accepted assertion may still be presented after it was accepted, at most.
    pub fn replay_window(&self) -> std::time::Duration {
        self.max_lifetime.saturating_add(self.max_skew)
    }
}

/// How a caller claims to be a client, as the API read it from the request: exactly one
/// method. [`TokenService::authenticate`] checks it against the client's registered method and
/// credentials; a new method is a new variant here and one new check there.
#[derive(Clone)]
pub enum ClientAuthentication<'a> {
    /// A client id with nothing to prove it (a public client, RFC 6749 §2.1). grantd registers
    /// no public clients, so this never authenticates.
    None { client_id: Cow<'a, str> },
    /// `client_secret_basic`: id and secret from `Authorization: Basic`.
    SecretBasic {
        client_id: Cow<'a, str>,
        secret: Cow<'a, str>,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost {
        client_id: Cow<'a, str>,
        secret: Cow<'a, str>,
    },
    /// `private_key_jwt` (RFC 7523 §2.2): a signed assertion, the `client_id` if one was sent,
    /// and the token endpoint's URL as published (an accepted `aud`).
    PrivateKeyJwt {
        client_id: Option<Cow<'a, str>>,
        assertion: Cow<'a, str>,
        token_endpoint: Cow<'a, str>,
        /// The assertion's `iss` as the API read it, unverified, when no `client_id` was sent:
        /// what rate limits and logs key on until the app has checked the assertion.
        unverified_iss: Option<Cow<'a, str>>,
    },
    /// A SPIFFE JWT-SVID (`client_assertion_type=…:jwt-spiffe`, draft-ietf-oauth-spiffe-client-
    /// auth): only a federated client with a SPIFFE issuer; `client_id` is required.
    JwtSpiffe {
        client_id: Option<Cow<'a, str>>,
        assertion: Cow<'a, str>,
    },
}

impl ClientAuthentication<'_> {
    /// The client id as presented (not yet checked in any way).
    pub fn client_id(&self) -> &str {
        match self {
            ClientAuthentication::None { client_id }
            | ClientAuthentication::SecretBasic { client_id, .. }
            | ClientAuthentication::SecretPost { client_id, .. } => client_id,
            // Without `client_id`, the assertion's unverified `iss` (read at the edge) names
            // it; with neither, the empty id.
            ClientAuthentication::PrivateKeyJwt {
                client_id,
                unverified_iss,
                ..
            } => client_id
                .as_deref()
                .or(unverified_iss.as_deref())
                .unwrap_or(""),
            // JWT-SVIDs always come with client_id (required; refused without it).
            ClientAuthentication::JwtSpiffe { client_id, .. } => client_id.as_deref().unwrap_or(""),
        }
    }
}

impl fmt::Debug for ClientAuthentication<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self {
            ClientAuthentication::None { .. } => "None",
            ClientAuthentication::SecretBasic { .. } => "SecretBasic",
            ClientAuthentication::SecretPost { .. } => "SecretPost",
            ClientAuthentication::PrivateKeyJwt { .. } => "PrivateKeyJwt",
            ClientAuthentication::JwtSpiffe { .. } => "JwtSpiffe",
        };
        f.debug_struct(method)
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

/// A client whose credentials were checked. Only [`TokenService::authenticate`] makes one, so
/// a use case that takes it cannot be reached with a raw, unauthenticated id.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    client: Client,
    /// The replay key of the `private_key_jwt` assertion it authenticated with, if any: the
    /// session row stores it under a unique index.
    assertion_key: Option<String>,
    /// How it authenticated, for its session row.
    auth: SessionAuth,
}

impl AuthenticatedClient {
    pub fn id(&self) -> &ClientId {
        &self.client.id
    }

    /// Its own rate and token quotas, as loaded when it authenticated.
    pub fn limits(&self) -> &ClientLimits {
        &self.client.limits
    }
}

/// The parts of a token request beyond client authentication.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest<'a> {
    /// The `scope` parameter; `None` when absent (the client's full set is requested).
    pub scope: Option<&'a str>,
    pub audience: AudienceRequest<'a>,
    pub plugin_id: Option<&'a str>,
    pub context: RequestContext,
    /// The request's one `DPoP` header, if any (the API refuses several).
    pub dpop: Option<DpopProof<'a>>,
}

/// A DPoP proof as presented, with the request it must name.
#[derive(Clone, Copy)]
pub struct DpopProof<'a> {
    pub proof: &'a str,
    /// The request's method and the endpoint's URL as the issuer publishes it.
    pub target: ProofTarget<'a>,
}

impl fmt::Debug for DpopProof<'_> {
    /// A proof is a one-time credential: it stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopProof")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// What the token endpoint returns. Never a refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
    pub session_id: SessionId,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// An introspection answer: `None` claims means `{"active": false}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introspection {
    pub claims: Option<AccessTokenClaims>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self { claims: None }
    }
}

/// The token use cases over a set of ports and the policy in force.
#[derive(Clone, Debug)]
pub struct TokenService {
    ports: Ports,
    policy: Arc<TokenPolicy>,
    /// This process's count of each quota-bound client's tokens (see `quota.rs`).
    quotas: Arc<Quotas>,
    audit: Audit,
    /// Trusted issuers and their ports; `None`: no platform token is accepted.
    federation: Option<FederationPorts>,
    assertion_limits: AssertionLimits,
}

const PLUGIN_ID_MAX: usize = 128;

impl TokenService {
    pub fn new(ports: Ports, policy: Arc<TokenPolicy>) -> Self {
        Self {
            ports,
            policy,
            quotas: Arc::new(Quotas::new(crate::quota::DEFAULT_SYNC_INTERVAL)),
            audit: Audit::off(),
            federation: None,
            assertion_limits: AssertionLimits::default(),
        }
    }

    /// The same service, accepting platform tokens of the trusted issuers for federated
    /// clients.
    pub fn with_federation(mut self, federation: FederationPorts) -> Self {
        self.federation = Some(federation);
        self
    }

    /// The bounds on client assertions' lifetime and clock skew.
    pub fn with_assertion_limits(mut self, limits: AssertionLimits) -> Self {
        self.assertion_limits = limits;
        self
    }

    /// How often each client's quota count is read again from the session rows (what one
    /// replica may not see of the others' tokens, at most).
    pub fn with_quota_sync(mut self, interval: std::time::Duration) -> Self {
        self.quotas = Arc::new(Quotas::new(interval));
        self
    }

    /// The same service, recording its decisions to `audit`.
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    /// Whether decisions are recorded (the API notes what a request presents only then).
    pub fn audit_on(&self) -> bool {
        self.audit.is_on()
    }

    /// Records a request the API refused (before or inside a use case), if audit is on; the
    /// refusal is built only then.
    pub fn audit_refusal(&self, refusal: impl FnOnce() -> Refusal) {
        if self.audit.is_on() {
            self.audit.refused(self.ports.clock.now(), refusal);
        }
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// The public signing keys, each a prepared JWK JSON text, for the JWKS document.
    pub fn jwks(&self) -> Vec<String> {
        self.ports.signer.public_jwks()
    }

    /// Whether tokens can be issued: a signing key is loaded.
    pub fn ready(&self) -> bool {
        self.ports.signer.ready()
    }

    /// Checks how a caller claims to be a client against the client's registered method and
    /// credentials: the one place that makes an [`AuthenticatedClient`]. Every failure is
    /// `invalid_client` and looks the same from outside; the reason is for the log.
    pub async fn authenticate(
        &self,
        auth: &ClientAuthentication<'_>,
    ) -> Result<AuthenticatedClient, AppError> {
        match auth {
            // Nothing to check, so nothing is looked up: the answer does not depend on the id.
            ClientAuthentication::None { .. } => Err(AppError::Refused(
                DomainError::InvalidClient(ClientRejection::NoCredentials),
            )),
            ClientAuthentication::SecretBasic { client_id, secret } => {
                self.check_secret(client_id, secret, AuthMethod::ClientSecretBasic)
                    .await
            }
            ClientAuthentication::SecretPost { client_id, secret } => {
                self.check_secret(client_id, secret, AuthMethod::ClientSecretPost)
                    .await
            }
            ClientAuthentication::PrivateKeyJwt {
                client_id,
                assertion,
                token_endpoint,
                ..
            } => {
                self.check_assertion(client_id.as_deref(), assertion, token_endpoint)
                    .await
            }
            ClientAuthentication::JwtSpiffe {
                client_id,
                assertion,
            } => self.check_spiffe(client_id.as_deref(), assertion).await,
        }
    }

    /// A shared secret presented with `method`. The same hashing work is done whether or not
    /// the client exists, so timing does not reveal which ids exist. When too many slow
    /// (argon2) checks are queued the secret is not checked at all and the answer is
    /// `Unavailable` (503). A secret verified against a hash in an outdated format is hashed
    /// anew and stored in its place once authentication succeeds.
    async fn check_secret(
        &self,
        client_id: &str,
        secret: &str,
        method: AuthMethod,
    ) -> Result<AuthenticatedClient, AppError> {
        let reject = |r: ClientRejection| AppError::Refused(DomainError::InvalidClient(r));
        // With no stored hash the check does the work of one fast hash and never matches or
        // queues; its outcome is not needed.
        let Ok(id) = ClientId::parse(client_id) else {
            let _ = self.ports.secrets.verify(secret, &[]).await;
            return Err(reject(ClientRejection::MalformedClientId));
        };
        let found = self
            .ports
            .clients
            .find_client(&id)
            .await
            .map_err(|e| AppError::from_store("loading client", e))?;
        let Some(client) = found else {
            let _ = self.ports.secrets.verify(secret, &[]).await;
            return Err(reject(ClientRejection::UnknownClient));
        };
        let now = self.ports.clock.now();
        let hashes: Vec<String> = client
            .secrets
            .iter()
            .filter(|s| s.is_valid_at(now))
            .map(|s| s.hash.clone())
            .collect();
        let outdated = match self.ports.secrets.verify(secret, &hashes).await {
            SecretCheck::Match { outdated } => outdated,
            SecretCheck::Mismatch => return Err(reject(ClientRejection::WrongSecret)),
            SecretCheck::Overloaded => {
                return Err(AppError::Unavailable(Failure::SecretChecksQueued));
            }
        };
        if !client.active {
            return Err(reject(ClientRejection::ClientDisabled));
        }
        if client.auth_method != method {
            return Err(reject(ClientRejection::AuthMethodNotRegistered {
                registered: client.auth_method.as_str(),
                used: method.as_str(),
            }));
        }
        if let Some(old) = outdated {
            self.upgrade_hash(&client.id, &old, secret).await;
        }
        Ok(AuthenticatedClient {
            client,
            assertion_key: None,
            auth: SessionAuth::method(method),
        })
    }

    /// A `private_key_jwt` assertion: its (unverified) `iss` names the client, which must be
    /// registered for the method; then every check of RFC 7523 §3 against its keys. Single use
    /// is decided when the session row is written (its unique replay key).
    async fn check_assertion(
        &self,
        sent_id: Option<&str>,
        assertion: &str,
        token_endpoint: &str,
    ) -> Result<AuthenticatedClient, AppError> {
        if let Some(client) = self.federated_client(sent_id).await? {
            return self.check_federated(client, assertion, false).await;
        }
        let reject = |r: ClientRejection| AppError::Refused(DomainError::InvalidClient(r));
        let bad = |r: AssertionRejection| reject(ClientRejection::BadAssertion(r));
        let iss = self.ports.assertions.issuer(assertion).map_err(bad)?;
        if sent_id.is_some_and(|s| s != iss) {
            return Err(bad(AssertionRejection::IssuerSubjectMismatch));
        }
        let id = ClientId::parse(&iss).map_err(|_| reject(ClientRejection::MalformedClientId))?;
        let found = self.ports.clients.find_client(&id).await;
        let found = found.map_err(|e| AppError::from_store("loading client", e))?;
        let client = found.ok_or_else(|| reject(ClientRejection::UnknownClient))?;
        if client.auth_method != AuthMethod::PrivateKeyJwt {
            return Err(reject(ClientRejection::AuthMethodNotRegistered {
                registered: client.auth_method.as_str(),
                used: AuthMethod::PrivateKeyJwt.as_str(),
            }));
        }
        let target = AssertionTarget {
            issuer: &self.policy.issuer,
            token_endpoint,
            max_lifetime_secs: secs_i64(self.assertion_limits.max_lifetime),
            max_skew_secs: secs_i64(self.assertion_limits.max_skew),
        };
        let key = self
            .verify_assertion(assertion, &client, target)
            .await
            .map_err(bad)?;
        if !client.active {
            return Err(reject(ClientRejection::ClientDisabled));
        }
        Ok(AuthenticatedClient {
            client,
            assertion_key: Some(key),
            auth: SessionAuth::method(AuthMethod::PrivateKeyJwt),
        })
    }

    /// The assertion's checks against the client's keys: its inline set, or the set at its
    /// `jwks_uri` (cached by the adapter). A `kid` the fetched set lacks (a key rotated in at
    /// the client) asks for a refetch, once; the adapter rate-limits refetches per URI.
    async fn verify_assertion(
        &self,
        assertion: &str,
        client: &Client,
        target: AssertionTarget<'_>,
    ) -> Result<String, AssertionRejection> {
        let check = |keys: &grantd_domain::ClientKeys| {
            let now = self.ports.clock.now();
            let verify = |k| {
                self.ports
                    .assertions
                    .check(assertion, &client.id, k, target, now)
            };
            match (client.keys.alg(), keys.alg()) {
                // A published set comes back without the client's registered algorithm: bind
                // it (rare: only clients that registered one pay for the copy).
                (Some(alg), None) => {
                    let bound = keys.clone().with_alg(Some(alg));
                    verify(&bound.map_err(|_| AssertionRejection::AlgorithmNotRegistered)?)
                }
                _ => verify(keys),
            }
        };
        let Some(uri) = client.keys.jwks_uri() else {
            return check(&client.keys);
        };
        let fetch = |wanted| self.ports.remote_keys.keys(uri, wanted);
        let unavailable = AssertionRejection::KeysUnavailable;
        let keys = fetch(KeysWanted::Current).await.map_err(unavailable)?;
        match check(&keys) {
            Err(AssertionRejection::UnknownKey) => {
                let keys = fetch(KeysWanted::KeyNotFound).await.map_err(unavailable)?;
                check(&keys)
            }
            outcome => outcome,
        }
    }

    /// Stores a fresh hash of `secret` (just verified against the outdated `old`) in its place.
    /// Best effort: the caller is already authenticated, and a failure leaves the old hash in
    /// place to be replaced on the next successful use.
    async fn upgrade_hash(&self, id: &ClientId, old: &str, secret: &str) {
        let new = match self.ports.secrets.hash_supplied(secret).await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(
                    client_id = %id,
                    error = %e,
                    "could not rehash an outdated client-secret hash"
                );
                return;
            }
        };
        match self.ports.clients.replace_secret_hash(id, old, &new).await {
            Ok(_) => tracing::info!(client_id = %id, "outdated client-secret hash replaced"),
            Err(e) => {
                tracing::warn!(
                    client_id = %id,
                    error = %e,
                    "could not store a rehashed client secret"
                );
            }
        }
    }

    /// The client_credentials grant (RFC 6749 §4.4): owner, decision, claims, signature, then
    /// the session row. (Another grant would be a use case of its own beside this one.) The
    /// token is signed *before* the row is written and handed out only after the write
    /// committed, so there is never a row without a token nor a delivered token without a row.
    pub async fn issue(
        &self,
        client: &AuthenticatedClient,
        req: TokenRequest<'_>,
    ) -> Result<IssuedToken, AppError> {
        let assertion_key = client.assertion_key.clone();
        let auth = client.auth.clone();
        let client = &client.client;
        if let Some(p) = req.plugin_id {
            validate_plugin_id(p)?;
        }
        let now = self.ports.clock.now();
        let dpop = self.check_dpop(client.dpop, req.dpop, now)?;
        let owner = load_owner(&*self.ports.users, client)
            .await
            .map_err(|e| AppError::from_store("loading owner", e))?;
        let policy = &*self.policy;
        let decision = decide(policy, client, owner.as_ref(), req.scope, &req.audience);
        let grant = decision.outcome?;

        // After the decision, so a refused request spends nothing; given back unless settled.
        let slot = self
            .quotas
            .take(&*self.ports.sessions, &client.id, &client.limits.quota, now)
            .await?;
        let mut claims = self.claims(client, &grant, now, req.plugin_id);
        claims.cnf_jkt = dpop.as_ref().map(|d| d.jkt.clone());
        let signed = self
            .ports
            .signer
            .sign(&claims)
            .map_err(AppError::from_sign)?;
        let issued = SessionParts {
            user_id: grant.owner_id,
            context: req.context,
            now,
            dpop,
            assertion_key,
            auth,
        };
        let (session, scope, aud) = session_row(claims, issued);
        self.write_session(&session).await?;
        slot.settle();
        let audited = || audit::issued(client, &session, &scope, &aud);
        self.audit.emit(now, audited);
        Ok(IssuedToken {
            access_token: signed.token,
            token_type: if session.dpop.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: policy.ttl.secs(),
            scope,
            session_id: session.id,
        })
    }

    /// Writes the session row. A conflict on the DPoP replay key means the proof already
    /// bought a token (here or on another replica): `invalid_dpop_proof`, never a 5xx.
    async fn write_session(&self, session: &NewSession) -> Result<(), AppError> {
        self.ports
            .sessions
            .insert_session(session)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Constraint::SessionDpopProof) => {
                    AppError::Refused(DomainError::InvalidDpopProof(ProofRejection::Replayed))
                }
                StoreError::Conflict(Constraint::SessionClientAssertion) => {
                    AppError::Refused(DomainError::InvalidClient(ClientRejection::BadAssertion(
                        grantd_domain::AssertionRejection::Replayed,
                    )))
                }
                e => AppError::from_store("writing session", e),
            })
    }

    /// The binding a presented DPoP proof asks for, or `None` without a proof (which a client
    /// whose policy requires one is refused as `invalid_request`). A proof missing
    /// the server nonce (when nonces are on) is answered `use_dpop_nonce` with a fresh one.
    fn check_dpop(
        &self,
        policy: DpopPolicy,
        proof: Option<DpopProof<'_>>,
        now: Timestamp,
    ) -> Result<Option<DpopBinding>, AppError> {
        let Some(p) = proof else {
            return match policy {
                DpopPolicy::Optional => Ok(None),
                DpopPolicy::Required => Err(AppError::Refused(DomainError::InvalidRequest(
                    InvalidRequest::DpopProofRequired,
                ))),
            };
        };
        match self.ports.dpop.check(p.proof, p.target, now) {
            Ok(binding) => Ok(Some(binding)),
            Err(ProofRejection::NonceRequired) => match self.ports.dpop.nonce(now) {
                Some(nonce) => Err(AppError::Refused(DomainError::UseDpopNonce { nonce })),
                None => Err(AppError::Refused(DomainError::InvalidDpopProof(
                    ProofRejection::NonceRequired,
                ))),
            },
            Err(r) => Err(AppError::Refused(DomainError::InvalidDpopProof(r))),
        }
    }

    /// A fresh DPoP nonce for a response's `DPoP-Nonce` header, when nonces are on.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.ports.dpop.nonce(self.ports.clock.now())
    }

    /// The DPoP proof algorithms accepted (the metadata's `dpop_signing_alg_values_supported`).
    pub fn dpop_algorithms(&self) -> &'static [&'static str] {
        self.ports.dpop.algorithms()
    }

    /// The claims of a token carrying `grant`, issued to `client` at `now`, with fresh ids.
    fn claims(
        &self,
        client: &Client,
        grant: &Grant<'_>,
        now: Timestamp,
        plugin_id: Option<&str>,
    ) -> AccessTokenClaims {
        let policy = &*self.policy;
        let (iat, exp) = AccessTokenClaims::times(now, policy.ttl);
        let session_id = self.ports.ids.session_id();
        let jti = self.ports.ids.jti();
        let subject = match policy.subject {
            SubjectMode::Owner => Subject::Owner(grant.owner_id.clone()),
            SubjectMode::Client => Subject::Client,
        };
        AccessTokenClaims {
            iss: policy.issuer.clone(),
            subject,
            aud: grant
                .audience
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            exp,
            iat,
            nbf: iat,
            jti,
            client_id: client.id.clone(),
            scope: grant.scope_string(),
            session_id,
            plugin_id: plugin_id.map(str::to_owned),
            cnf_jkt: None,
        }
    }

    /// RFC 7662 introspection. Active only if the signature, issuer, `exp` and `nbf` check out,
    /// the caller may see the token (its own, or it holds the `introspect` scope; anyone else
    /// gets `active: false`, RFC 7662 §4), the session row exists, matches the token and is not
    /// revoked, the issuing client is still registered and active, and its owner still backs
    /// the token: present, active, and still holding every delegated scope the token carries
    /// (the owner's part of `decide`, re-run; service-tier scopes do not depend on the owner's
    /// roles). Storage failures are errors (503), never a false `active`.
    pub async fn introspect(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
    ) -> Result<Introspection, AppError> {
        let now = self.ports.clock.now();
        let found = self.introspect_at(caller, token, now).await?;
        self.audit.emit(now, || introspected(caller, &found));
        Ok(found)
    }

    async fn introspect_at(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
        now: Timestamp,
    ) -> Result<Introspection, AppError> {
        let Ok(claims) = self.ports.signer.verify(token, now) else {
            return Ok(Introspection::inactive());
        };
        if !may_introspect(&caller.client, &claims.client_id) {
            return Ok(Introspection::inactive());
        }
        self.still_active(claims).await
    }

    /// A bearer token presented to one of grantd's own resources (the admin API), checked as
    /// [`TokenService::introspect`] checks it, minus the caller's right to introspect: the
    /// presenter holds the token. So a revoked token, a disabled client or a withdrawn owner
    /// stops working at once, exactly as introspection says. Audience and scopes are the
    /// resource's to check.
    pub async fn verify_bearer(&self, token: &str) -> Result<Introspection, AppError> {
        let now = self.ports.clock.now();
        let Ok(claims) = self.ports.signer.verify(token, now) else {
            return Ok(Introspection::inactive());
        };
        self.still_active(claims).await
    }

    /// Introspection's checks of verified claims against the stored state.
    async fn still_active(&self, claims: AccessTokenClaims) -> Result<Introspection, AppError> {
        let session = self
            .ports
            .sessions
            .find_session(&claims.session_id)
            .await
            .map_err(|e| AppError::from_store("loading session", e))?;
        let live = session.is_some_and(|s| {
            s.revoked_at.is_none()
                && s.session.jti == claims.jti
                && s.session.client_id == claims.client_id
                && s.session.dpop.as_ref().map(|d| &d.jkt) == claims.cnf_jkt.as_ref()
        });
        if !live {
            return Ok(Introspection::inactive());
        }
        let client = self
            .ports
            .clients
            .find_client(&claims.client_id)
            .await
            .map_err(|e| AppError::from_store("loading client", e))?;
        let Some(client) = client.filter(|c| c.active) else {
            return Ok(Introspection::inactive());
        };
        let owner = load_owner(&*self.ports.users, &client)
            .await
            .map_err(|e| AppError::from_store("loading owner", e))?;
        let catalog = &self.policy.catalog;
        if owner_backs(catalog, &client, owner.as_ref(), &claims.scope).is_err() {
            return Ok(Introspection::inactive());
        }
        Ok(Introspection {
            claims: Some(claims),
        })
    }

    /// RFC 7009 revocation. A token that does not verify, or was issued to another client, is
    /// left alone and the call still succeeds (§2.2). A storage failure is an error, never a
    /// false success.
    pub async fn revoke(&self, caller: &AuthenticatedClient, token: &str) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let (effect, session_id) = self.revoke_at(caller, token, now).await?;
        self.audit.emit(now, || {
            AuditKind::Revoked(Revoked {
                caller: caller.client.id.clone(),
                session_id,
                effect,
            })
        });
        Ok(())
    }

    /// What revoking `token` did, and the token's session when it verified.
    async fn revoke_at(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
        now: Timestamp,
    ) -> Result<(RevocationEffect, Option<SessionId>), AppError> {
        let Ok(claims) = self.ports.signer.verify(token, now) else {
            return Ok((RevocationEffect::InvalidToken, None));
        };
        if claims.client_id != caller.client.id {
            return Ok((RevocationEffect::NotOwner, Some(claims.session_id)));
        }
        let found = self
            .ports
            .sessions
            .revoke_session(&claims.session_id, now, "revoked by client")
            .await
            .map_err(|e| AppError::from_store("revoking session", e))?;
        let effect = if found {
            RevocationEffect::Revoked
        } else {
            RevocationEffect::NoSession
        };
        Ok((effect, Some(claims.session_id)))
    }
}

/// The audit event of an introspection answered `found`.
fn introspected(caller: &AuthenticatedClient, found: &Introspection) -> AuditKind {
    let claims = found.claims.as_ref();
    AuditKind::Introspected(Introspected {
        caller: caller.client.id.clone(),
        outcome: match claims {
            Some(_) => IntrospectionOutcome::Active,
            None => IntrospectionOutcome::Inactive,
        },
        token_client: claims.map(|c| c.client_id.clone()),
        session_id: claims.map(|c| c.session_id.clone()),
    })
}

/// What the session row of a token takes beside its claims.
struct SessionParts {
    user_id: UserId,
    context: RequestContext,
    now: Timestamp,
    dpop: Option<DpopBinding>,
    assertion_key: Option<String>,
    auth: SessionAuth,
}

/// The session row of a signed token, and the scope string and audience the answer and the
/// audit event carry: the claims are done with once signed, so their typed ids move into the
/// row.
fn session_row(
    claims: AccessTokenClaims,
    parts: SessionParts,
) -> (NewSession, String, Vec<String>) {
    let AccessTokenClaims {
        jti,
        client_id,
        scope,
        session_id,
        exp,
        aud,
        ..
    } = claims;
    let session = NewSession {
        id: session_id,
        user_id: parts.user_id,
        client_id,
        source: SessionSource::Oauth,
        jti,
        context: parts.context,
        created_at: parts.now,
        expires_at: Timestamp::from_secs(exp),
        dpop: parts.dpop,
        assertion_key: parts.assertion_key,
        auth: Some(parts.auth),
    };
    (session, scope, aud)
}

/// The owner of `client` as the token endpoint loads it (and `Admin::explain`, which must decide
/// exactly alike): `None` when the stored owner id is not a user id or names no user.
pub(crate) async fn load_owner(
    users: &dyn UserStore,
    client: &Client,
) -> Result<Option<Owner>, StoreError> {
    match client.owner_id.user() {
        Some(id) => users.find_user(id).await,
        None => Ok(None),
    }
}

/// Whole seconds, saturating (configured bounds are far below `i64::MAX`).
fn secs_i64(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn validate_plugin_id(p: &str) -> Result<(), AppError> {
    let ok = !p.is_empty()
        && p.len() <= PLUGIN_ID_MAX
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Refused(DomainError::InvalidRequest(
            InvalidRequest::InvalidParameter {
                name: "plugin_id",
                reason: format!("1–{PLUGIN_ID_MAX} characters of A-Z a-z 0-9 - . _ ~ :"),
            },
        )))
    }
}

#[cfg(test)]
mod tests;
