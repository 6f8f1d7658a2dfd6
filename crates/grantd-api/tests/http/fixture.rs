//! Test world for the HTTP tests: small hand-written fakes of every port (recording what they
//! were asked, with injectable failures), a `TokenService` over them, and helpers to send a
//! request through `configure` in-process and look at the answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::App;
use actix_web::http::header::HeaderMap;
use actix_web::test as atest;
use actix_web::web::Bytes;
use async_trait::async_trait;
use base64::Engine as _;
use grantd_api::{ApiConfig, ApiState, Readiness, configure};
use grantd_app::{Ports, TokenService};
use grantd_domain::{
    AccessTokenClaims, Audience, AudienceRules, AuthMethod, Client, ClientId, ClientSecret,
    GrantTypes, Jti, Kid, NewSession, Owner, OwnerId, ScopeCatalog, ScopePolicy, SessionId,
    SessionRecord, StoredScopes, SubjectMode, Timestamp, TokenPolicy, Ttl, UserId,
};
use grantd_ports::{
    ClientStore, Clock, GeneratedSecret, IdSource, SecretCheck, SecretError, SecretHasher,
    SessionFilter, SessionStore, SignError, SignedToken, StoreError, TokenSigner, UserStore,
    VerifyError,
};
use serde_json::Value;

pub const ISSUER: &str = "https://auth.example";
pub const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";
pub const NOW: i64 = 1_800_000_000;
pub const ORDERS: &str = "https://orders.example.com";
/// A secret with every character Basic encoding must survive: `+`, `%`, `:`, space, non-ASCII.
pub const ODD_SECRET: &str = "a+b%c:d é";
pub const PEER: &str = "203.0.113.7:5555";

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const CC: &str = "grant_type=client_credentials";

fn secret(plain: &str) -> ClientSecret {
    ClientSecret {
        hash: format!("plain:{plain}"),
        created_at: Timestamp::from_secs(0),
        valid_until: None,
    }
}

fn client(id: &str, method: AuthMethod, plain: &str, scopes: &[&str], grants: &[&str]) -> Client {
    Client {
        dpop: Default::default(),
        id: ClientId::parse(id).unwrap(),
        name: id.to_owned(),
        owner_id: OwnerId::parse(OWNER),
        scopes: StoredScopes::parse(&ScopeCatalog::builtin(), scopes),
        grant_types: GrantTypes::parse(grants),
        auth_method: method,
        active: true,
        secrets: vec![secret(plain)],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

// ---------- fakes ----------

#[derive(Default)]
pub struct FakeClients {
    map: HashMap<String, Client>,
    pub lookups: Mutex<Vec<String>>,
    pub fail: Mutex<Option<StoreError>>,
}

#[async_trait]
impl ClientStore for FakeClients {
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.lookups.lock().unwrap().push(id.as_str().to_owned());
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        Ok(self.map.get(id.as_str()).cloned())
    }
    async fn create_client(&self, _: &Client) -> Result<(), StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn set_client_active(
        &self,
        _: &ClientId,
        _: bool,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn set_client_dpop(
        &self,
        _: &ClientId,
        _: grantd_domain::DpopPolicy,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn rotate_secret(
        &self,
        _: &ClientId,
        _: &ClientSecret,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn replace_secret_hash(
        &self,
        _: &ClientId,
        _: &str,
        _: &str,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
}

pub struct FakeUsers;

#[async_trait]
impl UserStore for FakeUsers {
    async fn find_user(&self, id: &UserId) -> Result<Option<Owner>, StoreError> {
        Ok((id.as_str() == OWNER).then(|| Owner {
            id: id.clone(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            roles: StoredScopes::parse(&ScopeCatalog::builtin(), &["admin"]),
            active: true,
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        }))
    }
    async fn create_user(&self, _: &Owner) -> Result<(), StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn list_users(&self) -> Result<Vec<Owner>, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn set_user_active(&self, _: &UserId, _: bool, _: Timestamp) -> Result<bool, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
}

#[derive(Default)]
pub struct FakeSessions {
    pub rows: Mutex<Vec<NewSession>>,
    pub revoked: Mutex<Vec<String>>,
    pub fail: Mutex<Option<StoreError>>,
}

impl FakeSessions {
    fn check(&self) -> Result<(), StoreError> {
        match self.fail.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl SessionStore for FakeSessions {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.check()?;
        self.rows.lock().unwrap().push(session.clone());
        Ok(())
    }
    async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.check()?;
        let revoked = self
            .revoked
            .lock()
            .unwrap()
            .contains(&id.as_str().to_owned());
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .find(|r| &r.id == id)
            .map(|r| SessionRecord {
                session: r.clone(),
                revoked_at: revoked.then(|| Timestamp::from_secs(NOW)),
                revoke_reason: revoked.then(|| "revoked".to_owned()),
            }))
    }
    async fn revoke_session(
        &self,
        id: &SessionId,
        _: Timestamp,
        _: &str,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.revoked.lock().unwrap().push(id.as_str().to_owned());
        Ok(true)
    }
    async fn list_sessions(&self, _: &SessionFilter) -> Result<Vec<SessionRecord>, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
    async fn purge_sessions(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
        Err(StoreError::Internal(grantd_ports::Internal::Database))
    }
}

/// Tokens are `jwt-<jti>`; verification looks the claims up.
pub struct FakeSigner {
    pub issued: Mutex<HashMap<String, AccessTokenClaims>>,
    pub jwks: Mutex<Vec<String>>,
    pub ready: AtomicBool,
    pub fail: Mutex<Option<SignError>>,
}

impl TokenSigner for FakeSigner {
    fn sign(&self, claims: &AccessTokenClaims) -> Result<SignedToken, SignError> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        let token = format!("jwt-{}", claims.jti);
        self.issued
            .lock()
            .unwrap()
            .insert(token.clone(), claims.clone());
        Ok(SignedToken {
            token,
            kid: Kid::parse("k1").unwrap(),
        })
    }
    fn verify(&self, token: &str, _: Timestamp) -> Result<AccessTokenClaims, VerifyError> {
        self.issued
            .lock()
            .unwrap()
            .get(token)
            .cloned()
            .ok_or(VerifyError::Malformed)
    }
    fn public_jwks(&self) -> Vec<String> {
        self.jwks.lock().unwrap().clone()
    }
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Stored hashes are `plain:<secret>`; records every presented secret. With `overloaded` set,
/// checks against stored hashes answer `Overloaded` (as a full argon2 queue does).
#[derive(Default)]
pub struct FakeSecrets {
    pub presented: Mutex<Vec<String>>,
    pub overloaded: AtomicBool,
}

#[async_trait]
impl SecretHasher for FakeSecrets {
    fn generate(&self) -> GeneratedSecret {
        GeneratedSecret {
            plaintext: "x".into(),
            hash: "plain:x".into(),
        }
    }
    async fn hash_supplied(&self, _: &str) -> Result<String, SecretError> {
        Err(SecretError::Failed("not used".into()))
    }
    async fn verify(&self, presented: &str, stored: &[String]) -> SecretCheck {
        self.presented.lock().unwrap().push(presented.to_owned());
        if !stored.is_empty() && self.overloaded.load(Ordering::SeqCst) {
            return SecretCheck::Overloaded;
        }
        if stored.iter().any(|h| *h == format!("plain:{presented}")) {
            SecretCheck::Match { outdated: None }
        } else {
            SecretCheck::Mismatch
        }
    }
}

/// DPoP checks by rule of thumb: the proof `good-proof` binds to a fixed thumbprint (for a POST
/// to a URL of the issuer; the replay key records the URL), `needs-nonce` asks for a nonce, anything else is malformed.
pub struct FakeDpop;

pub const FAKE_JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

impl grantd_ports::DpopProofs for FakeDpop {
    fn check<'a>(
        &self,
        proof: &str,
        target: grantd_domain::ProofTarget<'a>,
        _now: Timestamp,
    ) -> Result<grantd_domain::DpopBinding, grantd_domain::ProofRejection> {
        use grantd_domain::ProofRejection;
        match proof {
            "good-proof" if target.method == "POST" && target.uri.starts_with(ISSUER) => {
                Ok(grantd_domain::DpopBinding {
                    jkt: grantd_domain::Jkt::parse(FAKE_JKT).unwrap(),
                    proof_key: format!("{proof}@{}", target.uri),
                })
            }
            "good-proof" => Err(ProofRejection::WrongUri),
            "needs-nonce" => Err(ProofRejection::NonceRequired),
            _ => Err(ProofRejection::Malformed),
        }
    }

    fn nonce(&self, _now: Timestamp) -> Option<String> {
        Some("fake-nonce".into())
    }

    fn algorithms(&self) -> &'static [&'static str] {
        &["ES256", "EdDSA"]
    }
}

pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(NOW)
    }
}

#[derive(Default)]
pub struct CountingIds(AtomicU8);

impl IdSource for CountingIds {
    fn session_id(&self) -> SessionId {
        SessionId::from_bytes([self.0.fetch_add(1, Ordering::SeqCst); 16])
    }
    fn jti(&self) -> Jti {
        Jti::parse(&format!("jti-{}", self.0.fetch_add(1, Ordering::SeqCst))).unwrap()
    }
    fn user_id(&self) -> UserId {
        UserId::parse(OWNER).unwrap()
    }
    fn client_id(&self) -> ClientId {
        ClientId::parse("new").unwrap()
    }
}

pub struct FakeReady(pub AtomicBool);

#[async_trait]
impl Readiness for FakeReady {
    async fn ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

// ---------- the world ----------

pub fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: ISSUER.into(),
        catalog: ScopeCatalog::builtin(),
        audiences: AudienceRules::new(
            vec![Audience::Api],
            ["api", "mcp", ORDERS].map(Audience::parse).to_vec(),
        )
        .unwrap(),
        scope_policy: ScopePolicy::Narrow,
        ttl: Ttl::from_secs(900).unwrap(),
        subject: SubjectMode::Owner,
    }
}

pub struct World {
    pub clients: Arc<FakeClients>,
    pub sessions: Arc<FakeSessions>,
    pub signer: Arc<FakeSigner>,
    pub secrets: Arc<FakeSecrets>,
    pub ready: Arc<FakeReady>,
    pub state: ApiState,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(ApiConfig::with_issuer(ISSUER))
    }

    /// Clients: `svc-basic` (Basic, `s3cret`), `svc-post` (post, `p0st-secret`, may introspect
    /// others' tokens), `svc-odd`
    /// (Basic, [`ODD_SECRET`]), `svc-nogrant` (Basic, `s3cret`, no grant types).
    pub fn with_config(config: ApiConfig) -> Self {
        let cc = &["client_credentials"];
        let mut map = HashMap::new();
        for c in [
            client(
                "svc-basic",
                AuthMethod::ClientSecretBasic,
                "s3cret",
                &["service", "mcp", "admin"],
                cc,
            ),
            client(
                "svc-post",
                AuthMethod::ClientSecretPost,
                "p0st-secret",
                &["mcp", "introspect"],
                cc,
            ),
            client(
                "svc-odd",
                AuthMethod::ClientSecretBasic,
                ODD_SECRET,
                &["service"],
                cc,
            ),
            client(
                "svc-nogrant",
                AuthMethod::ClientSecretBasic,
                "s3cret",
                &["service"],
                &[],
            ),
        ] {
            map.insert(c.id.as_str().to_owned(), c);
        }
        let clients = Arc::new(FakeClients {
            map,
            ..Default::default()
        });
        let sessions = Arc::new(FakeSessions::default());
        let signer = Arc::new(FakeSigner {
            issued: Mutex::new(HashMap::new()),
            jwks: Mutex::new(vec![
                r#"{"kty":"EC","crv":"P-256","x":"xx","y":"yy","kid":"k1","alg":"ES256","use":"sig"}"#.to_owned(),
            ]),
            ready: AtomicBool::new(true),
            fail: Mutex::new(None),
        });
        let secrets = Arc::new(FakeSecrets::default());
        let ready = Arc::new(FakeReady(AtomicBool::new(true)));
        let ports = Ports {
            clients: clients.clone(),
            users: Arc::new(FakeUsers),
            sessions: sessions.clone(),
            signer: signer.clone(),
            secrets: secrets.clone(),
            clock: Arc::new(FixedClock),
            ids: Arc::new(CountingIds::default()),
            dpop: Arc::new(FakeDpop),
        };
        let service = TokenService::new(ports, Arc::new(policy()));
        let state = ApiState::new(service, ready.clone(), config);
        Self {
            clients,
            sessions,
            signer,
            secrets,
            ready,
            state,
        }
    }

    pub async fn send(&self, req: atest::TestRequest) -> Resp {
        call(&self.state, req).await
    }

    /// Issues a token for `svc-basic` and returns it.
    pub async fn token(&self) -> String {
        let r = self
            .send(basic_post("/oauth/token", CC, "svc-basic", "s3cret"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }
}

// ---------- requests and responses ----------

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The OAuth `error` code of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// Sorted keys of a JSON object body.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.json().as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    pub fn assert_no_store(&self, what: &str) {
        assert_eq!(self.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(self.header("pragma"), Some("no-cache"), "{what}");
    }
}

pub async fn call(state: &ApiState, req: atest::TestRequest) -> Resp {
    let state = state.clone();
    let app = atest::init_service(App::new().configure(move |c| configure(c, state))).await;
    let resp = atest::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = atest::read_body(resp).await;
    Resp {
        status,
        headers,
        body,
    }
}

/// `application/x-www-form-urlencoded` encoding of one component.
pub fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
pub fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", form_encode(id), form_encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A form POST from [`PEER`].
pub fn post(path: &str, body: impl Into<Bytes>) -> atest::TestRequest {
    atest::TestRequest::post()
        .uri(path)
        .peer_addr(PEER.parse().unwrap())
        .insert_header(("content-type", FORM))
        .set_payload(body)
}

/// A form POST authenticated with `client_secret_basic`.
pub fn basic_post(path: &str, body: &str, id: &str, secret: &str) -> atest::TestRequest {
    post(path, body.to_owned()).insert_header(("authorization", basic(id, secret)))
}

/// The body of a `client_secret_post` token request plus `extra` (`&`-prefixed).
pub fn post_body(id: &str, secret: &str, extra: &str) -> String {
    format!(
        "{CC}&client_id={}&client_secret={}{extra}",
        form_encode(id),
        form_encode(secret)
    )
}
