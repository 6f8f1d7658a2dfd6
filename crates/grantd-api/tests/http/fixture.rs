//! Test world for the HTTP tests: the shared port fakes of `grantd-fakes` (recording what they
//! were asked, with injectable failures), a `TokenService` over them, and helpers to send a
//! request through `configure` in-process and look at the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::App;
use actix_web::http::header::HeaderMap;
use actix_web::test as atest;
use actix_web::web::Bytes;
use async_trait::async_trait;
use base64::Engine as _;
use grantd_api::{ApiConfig, ApiState, Readiness, configure};
use grantd_app::{Ports, TokenService};
use grantd_domain::{
    Audience, AudienceRules, AuthMethod, Client, ClientId, GrantTypes, Owner, OwnerId,
    ScopeCatalog, ScopePolicy, StoredScopes, SubjectMode, Timestamp, TokenPolicy, Ttl, UserId,
};
use grantd_fakes::{
    FakeClients, FakeSecrets, FakeSessions, FakeSigner, FakeUsers, FixedClock, SequentialIds,
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

fn client(id: &str, method: AuthMethod, plain: &str, scopes: &[&str], grants: &[&str]) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        name: id.to_owned(),
        owner_id: OwnerId::parse(OWNER),
        scopes: StoredScopes::parse(&ScopeCatalog::builtin(), scopes),
        grant_types: GrantTypes::parse(grants),
        auth_method: method,
        active: true,
        secrets: vec![FakeSecrets::secret(plain)],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
        dpop: Default::default(),
        keys: Default::default(),
    }
}

/// The owner of every client: active, holding `admin`.
fn owner() -> Owner {
    Owner {
        id: UserId::parse(OWNER).unwrap(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        roles: StoredScopes::parse(&ScopeCatalog::builtin(), &["admin"]),
        active: true,
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

// ---------- fakes ----------

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

/// The one port the shared fakes cannot have: readiness is the API's own.
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
        let clients = Arc::new(FakeClients::new([
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
        ]));
        let sessions = Arc::new(FakeSessions::default());
        let signer = Arc::new(FakeSigner::new(vec![
            r#"{"kty":"EC","crv":"P-256","x":"xx","y":"yy","kid":"k1","alg":"ES256","use":"sig"}"#
                .to_owned(),
        ]));
        let secrets = Arc::new(FakeSecrets::default());
        let ready = Arc::new(FakeReady(AtomicBool::new(true)));
        let ports = Ports {
            clients: clients.clone(),
            users: Arc::new(FakeUsers::new([owner()])),
            sessions: sessions.clone(),
            signer: signer.clone(),
            secrets: secrets.clone(),
            clock: Arc::new(FixedClock(Timestamp::from_secs(NOW))),
            ids: Arc::new(SequentialIds::default()),
            assertions: Arc::new(grantd_ports::MockClientAssertions::new()),
            remote_keys: Arc::new(grantd_ports::MockRemoteKeys::new()),
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
