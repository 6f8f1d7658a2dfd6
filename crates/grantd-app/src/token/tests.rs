//! Use-case tests against mockall mocks of every port: each error variant, each port failing,
//! and the seed's own cases end to end through `issue`.

use std::sync::{Arc, Mutex};

use grantd_domain::{
    AccessTokenClaims, Audience, AudienceRequest, AudienceRules, AuthMethod, Client, ClientId,
    ClientRejection, ClientSecret, DomainError, GrantTypes, InvalidRequest, Jti, NewSession, Owner,
    OwnerId, RequestContext, ScopeCatalog, ScopePolicy, ScopeProblem, SessionId, SessionRecord,
    StoredScopes, Subject, SubjectMode, TargetProblem, Timestamp, TokenPolicy, Ttl, UserId,
};
use grantd_ports::{
    MockClientStore, MockClock, MockDpopProofs, MockIdSource, MockSecretHasher, MockSessionStore,
    MockTokenSigner, MockUserStore, SecretCheck, SecretError, SignError, SignedToken, StoreError,
    VerifyError,
};
use mockall::predicate::eq;

use super::*;

const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";
const NOW: i64 = 1_800_000_000;
const SESSION: &str = "sess_00112233445566778899aabbccddeeff";
const JTI: &str = "5f0c6a8e-1111-4222-8333-944455556666";
const MATCH: SecretCheck = SecretCheck::Match { outdated: None };

fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: "https://auth.example".into(),
        catalog: ScopeCatalog::builtin(),
        audiences: AudienceRules::new(
            vec![Audience::Api],
            ["api", "mcp"].map(Audience::parse).to_vec(),
        )
        .unwrap(),
        scope_policy: ScopePolicy::Narrow,
        ttl: Ttl::from_secs(900).unwrap(),
        subject: SubjectMode::Owner,
    }
}

fn client(scopes: &[&str]) -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: ClientId::parse("svc-a").unwrap(),
        name: "Service A".into(),
        owner_id: OwnerId::parse(OWNER),
        scopes: StoredScopes::parse(&policy().catalog, scopes),
        grant_types: GrantTypes::parse(&["client_credentials"]),
        auth_method: AuthMethod::ClientSecretBasic,
        active: true,
        secrets: vec![ClientSecret {
            hash: "h-current".into(),
            created_at: Timestamp::from_secs(0),
            valid_until: None,
        }],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
    }
}

fn owner(roles: &[&str], active: bool) -> Owner {
    Owner {
        id: UserId::parse(OWNER).unwrap(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        roles: StoredScopes::parse(&policy().catalog, roles),
        active,
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

fn claims_for(client_id: &str) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://auth.example".into(),
        subject: Subject::Owner(UserId::parse(OWNER).unwrap()),
        aud: vec!["api".into()],
        exp: NOW + 900,
        iat: NOW,
        nbf: NOW,
        jti: Jti::parse(JTI).unwrap(),
        client_id: ClientId::parse(client_id).unwrap(),
        scope: "service".into(),
        session_id: SessionId::parse(SESSION).unwrap(),
        plugin_id: None,
        cnf_jkt: None,
    }
}

fn session_record(revoked: bool, jti: &str) -> SessionRecord {
    SessionRecord {
        session: NewSession {
            id: SessionId::parse(SESSION).unwrap(),
            user_id: UserId::parse(OWNER).unwrap(),
            client_id: ClientId::parse("svc-a").unwrap(),
            source: grantd_domain::SessionSource::Oauth,
            jti: Jti::parse(jti).unwrap(),
            context: RequestContext::default(),
            created_at: Timestamp::from_secs(NOW),
            expires_at: Timestamp::from_secs(NOW + 900),
            dpop: None,
            assertion_key: None,
            auth: None,
        },
        revoked_at: revoked.then(|| Timestamp::from_secs(NOW)),
        revoke_reason: revoked.then(|| "x".to_owned()),
    }
}

/// Mocks with no expectations: a call nobody expected fails the test.
struct Fx {
    clients: MockClientStore,
    users: MockUserStore,
    sessions: MockSessionStore,
    signer: MockTokenSigner,
    secrets: MockSecretHasher,
    clock: MockClock,
    ids: MockIdSource,
    dpop: MockDpopProofs,
    assertions: grantd_ports::MockClientAssertions,
    remote_keys: grantd_ports::MockRemoteKeys,
    policy: TokenPolicy,
}

impl Fx {
    fn new() -> Self {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(Timestamp::from_micros(NOW * 1_000_000 + 250_000));
        Self {
            clients: MockClientStore::new(),
            users: MockUserStore::new(),
            sessions: MockSessionStore::new(),
            signer: MockTokenSigner::new(),
            secrets: MockSecretHasher::new(),
            clock,
            ids: MockIdSource::new(),
            dpop: MockDpopProofs::new(),
            assertions: grantd_ports::MockClientAssertions::new(),
            remote_keys: grantd_ports::MockRemoteKeys::new(),
            policy: policy(),
        }
    }

    fn with_ids(mut self) -> Self {
        self.ids
            .expect_session_id()
            .returning(|| SessionId::parse(SESSION).unwrap());
        self.ids.expect_jti().returning(|| Jti::parse(JTI).unwrap());
        self
    }

    fn with_owner(mut self, o: Option<Owner>) -> Self {
        self.users
            .expect_find_user()
            .returning(move |_| Ok(o.clone()));
        self
    }

    /// Signer that records the claims it signed.
    fn with_signer(mut self) -> (Self, Arc<Mutex<Vec<AccessTokenClaims>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        self.signer.expect_sign().returning(move |c| {
            s.lock().unwrap().push(c.clone());
            Ok(SignedToken {
                token: "signed.jwt.token".into(),
                kid: grantd_domain::Kid::parse("k1").unwrap(),
            })
        });
        (self, seen)
    }

    /// Session store that records inserted rows.
    fn with_sessions_ok(mut self) -> (Self, Arc<Mutex<Vec<NewSession>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        self.sessions.expect_insert_session().returning(move |row| {
            s.lock().unwrap().push(row.clone());
            Ok(())
        });
        (self, seen)
    }

    fn service(self) -> TokenService {
        let ports = Ports {
            clients: Arc::new(self.clients),
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            signer: Arc::new(self.signer),
            secrets: Arc::new(self.secrets),
            clock: Arc::new(self.clock),
            ids: Arc::new(self.ids),
            assertions: Arc::new(self.assertions),
            remote_keys: Arc::new(self.remote_keys),
            dpop: Arc::new(self.dpop),
        };
        TokenService::new(ports, Arc::new(self.policy))
    }
}

fn authed(c: Client) -> AuthenticatedClient {
    AuthenticatedClient {
        client: c,
        assertion_key: None,
        auth: SessionAuth::method(AuthMethod::ClientSecretBasic),
    }
}

fn creds(id: &str, method: AuthMethod) -> ClientAuthentication<'_> {
    let (client_id, secret) = (id.into(), "s3cret".into());
    match method {
        AuthMethod::ClientSecretBasic => ClientAuthentication::SecretBasic { client_id, secret },
        AuthMethod::ClientSecretPost => ClientAuthentication::SecretPost { client_id, secret },
        AuthMethod::PrivateKeyJwt | AuthMethod::Federated => {
            unreachable!("no secret for private_key_jwt or federated")
        }
    }
}

fn refused_client(r: ClientRejection) -> Result<(), AppError> {
    Err(AppError::Refused(DomainError::InvalidClient(r)))
}

// ---------- authenticate ----------

#[tokio::test]
async fn authenticate_accepts_current_secret_and_registered_method() {
    let mut fx = Fx::new();
    fx.clients
        .expect_find_client()
        .with(eq(ClientId::parse("svc-a").unwrap()))
        .times(1)
        .returning(|_| Ok(Some(client(&["service"]))));
    fx.secrets
        .expect_verify()
        .withf(|p, stored| p == "s3cret" && stored == ["h-current".to_owned()])
        .times(1)
        .return_const(MATCH);
    let got = fx
        .service()
        .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
        .await;
    assert_eq!(
        got.map(|c| c.id().as_str().to_owned()),
        Ok("svc-a".to_owned())
    );
}

/// A client id with nothing to prove it is refused without a lookup (the mocks expect none),
/// so the answer cannot depend on whether the id exists.
#[tokio::test]
async fn authenticate_refuses_a_bare_client_id_without_looking_it_up() {
    for id in ["svc-a", "nobody", "bad id!"] {
        let got = Fx::new()
            .service()
            .authenticate(&ClientAuthentication::None {
                client_id: id.into(),
            })
            .await;
        assert_eq!(
            got.map(|_| ()),
            refused_client(ClientRejection::NoCredentials),
            "{id}"
        );
    }
}

#[tokio::test]
async fn authenticate_does_equal_hash_work_for_unknown_and_malformed_ids() {
    for (id, reason) in [
        ("nobody", ClientRejection::UnknownClient),
        ("bad id!", ClientRejection::MalformedClientId),
    ] {
        let mut fx = Fx::new();
        fx.clients.expect_find_client().returning(|_| Ok(None));
        fx.secrets
            .expect_verify()
            .withf(|_, stored| stored.is_empty())
            .times(1)
            .return_const(SecretCheck::Mismatch);
        let got = fx
            .service()
            .authenticate(&creds(id, AuthMethod::ClientSecretBasic))
            .await
            .map(|_| ());
        assert_eq!(got, refused_client(reason), "{id}");
    }
}

#[tokio::test]
async fn authenticate_rejections() {
    type Setup = fn(&mut Client);
    let cases: Vec<(&str, Setup, bool, AuthMethod, ClientRejection)> = vec![
        (
            "wrong secret",
            |_| {},
            false,
            AuthMethod::ClientSecretBasic,
            ClientRejection::WrongSecret,
        ),
        (
            "disabled",
            |c| c.active = false,
            true,
            AuthMethod::ClientSecretBasic,
            ClientRejection::ClientDisabled,
        ),
        (
            "method not registered",
            |_| {},
            true,
            AuthMethod::ClientSecretPost,
            ClientRejection::AuthMethodNotRegistered {
                registered: "client_secret_basic",
                used: "client_secret_post",
            },
        ),
    ];
    for (what, setup, secret_ok, method, reason) in cases {
        let mut fx = Fx::new();
        let mut c = client(&["service"]);
        setup(&mut c);
        fx.clients
            .expect_find_client()
            .returning(move |_| Ok(Some(c.clone())));
        fx.secrets
            .expect_verify()
            .times(1)
            .return_const(if secret_ok {
                MATCH
            } else {
                SecretCheck::Mismatch
            });
        let got = fx
            .service()
            .authenticate(&creds("svc-a", method))
            .await
            .map(|_| ());
        assert_eq!(got, refused_client(reason), "{what}");
    }
}

#[tokio::test]
async fn authenticate_skips_secrets_past_their_grace() {
    let mut fx = Fx::new();
    let mut c = client(&["service"]);
    c.secrets.push(ClientSecret {
        hash: "h-old".into(),
        created_at: Timestamp::from_secs(0),
        valid_until: Some(Timestamp::from_secs(NOW)),
    });
    c.secrets.push(ClientSecret {
        hash: "h-grace".into(),
        created_at: Timestamp::from_secs(0),
        valid_until: Some(Timestamp::from_secs(NOW + 1)),
    });
    fx.clients
        .expect_find_client()
        .returning(move |_| Ok(Some(c.clone())));
    fx.secrets
        .expect_verify()
        .withf(|_, stored| stored == ["h-current".to_owned(), "h-grace".to_owned()])
        .times(1)
        .return_const(MATCH);
    assert!(
        fx.service()
            .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn authenticate_store_failures_are_not_client_errors() {
    for (err, unavailable) in [
        (
            StoreError::Unavailable(grantd_ports::Unavailable::PoolTimeout),
            true,
        ),
        (
            StoreError::Internal(grantd_ports::Internal::Database),
            false,
        ),
    ] {
        let mut fx = Fx::new();
        let e = err.clone();
        fx.clients
            .expect_find_client()
            .returning(move |_| Err(e.clone()));
        let got = fx
            .service()
            .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
            .await;
        match got {
            Err(AppError::Unavailable(_)) => assert!(unavailable, "{err:?}"),
            Err(AppError::Internal(_)) => assert!(!unavailable, "{err:?}"),
            other => panic!("{err:?} gave {other:?}"),
        }
    }
}

#[tokio::test]
async fn authenticate_refused_check_is_unavailable_not_a_client_error() {
    let mut fx = Fx::new();
    fx.clients
        .expect_find_client()
        .returning(|_| Ok(Some(client(&["service"]))));
    fx.secrets
        .expect_verify()
        .times(1)
        .return_const(SecretCheck::Overloaded);
    let got = fx
        .service()
        .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
        .await;
    assert!(matches!(got, Err(AppError::Unavailable(_))), "{got:?}");
}

/// A client whose secret verified against `h-current` reported outdated.
fn outdated_fx(c: Client) -> Fx {
    let mut fx = Fx::new();
    fx.clients
        .expect_find_client()
        .returning(move |_| Ok(Some(c.clone())));
    fx.secrets
        .expect_verify()
        .times(1)
        .return_const(SecretCheck::Match {
            outdated: Some("h-current".into()),
        });
    fx
}

#[tokio::test]
async fn authenticate_replaces_an_outdated_hash_once_after_success() {
    let mut fx = outdated_fx(client(&["service"]));
    fx.secrets
        .expect_hash_supplied()
        .with(eq("s3cret"))
        .times(1)
        .returning(|_| Ok("h-fresh".into()));
    fx.clients
        .expect_replace_secret_hash()
        .with(
            eq(ClientId::parse("svc-a").unwrap()),
            eq("h-current"),
            eq("h-fresh"),
        )
        .times(1)
        .returning(|_, _, _| Ok(true));
    let got = fx
        .service()
        .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
        .await;
    assert!(got.is_ok(), "{got:?}");
}

/// No rehash when authentication fails, even though the secret itself matched: the mocks
/// have no `hash_supplied` / `replace_secret_hash` expectation, so a call would fail the test.
#[tokio::test]
async fn authenticate_never_rehashes_after_a_failure() {
    let mut disabled = client(&["service"]);
    disabled.active = false;
    let got = outdated_fx(disabled)
        .service()
        .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
        .await
        .map(|_| ());
    assert_eq!(got, refused_client(ClientRejection::ClientDisabled));
    let got = outdated_fx(client(&["service"]))
        .service()
        .authenticate(&creds("svc-a", AuthMethod::ClientSecretPost))
        .await;
    assert!(got.is_err());
    for check in [SecretCheck::Mismatch, SecretCheck::Overloaded] {
        let mut fx = Fx::new();
        fx.clients
            .expect_find_client()
            .returning(|_| Ok(Some(client(&["service"]))));
        fx.secrets.expect_verify().return_const(check.clone());
        let got = fx
            .service()
            .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
            .await;
        assert!(got.is_err(), "{check:?}");
    }
}

/// The caller is authenticated already; a failed rehash is retried on the next use.
#[tokio::test]
async fn authenticate_succeeds_when_the_rehash_fails() {
    let mut fx = outdated_fx(client(&["service"]));
    fx.secrets
        .expect_hash_supplied()
        .times(1)
        .returning(|_| Err(SecretError::Failed(grantd_ports::HashFailure::Busy)));
    assert!(
        fx.service()
            .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
            .await
            .is_ok()
    );

    let mut fx = outdated_fx(client(&["service"]));
    fx.secrets
        .expect_hash_supplied()
        .times(1)
        .returning(|_| Ok("h-fresh".into()));
    fx.clients
        .expect_replace_secret_hash()
        .times(1)
        .returning(|_, _, _| {
            Err(StoreError::Unavailable(grantd_ports::Unavailable::Sqlite(
                grantd_ports::SqliteCondition::Locked,
            )))
        });
    assert!(
        fx.service()
            .authenticate(&creds("svc-a", AuthMethod::ClientSecretBasic))
            .await
            .is_ok()
    );
}

// ---------- issue ----------

#[tokio::test]
async fn issue_signs_then_writes_the_session() {
    let fx = Fx::new()
        .with_ids()
        .with_owner(Some(owner(&["admin"], true)));
    let (fx, signed) = fx.with_signer();
    let (fx, rows) = fx.with_sessions_ok();
    let svc = fx.service();
    let req = TokenRequest {
        scope: Some("mcp admin service"),
        plugin_id: Some("plug-1"),
        context: RequestContext {
            ip: "10.0.0.7".parse().ok(),
            user_agent: Some("curl/8".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let got = svc
        .issue(&authed(client(&["service", "mcp", "admin"])), req)
        .await
        .unwrap();
    assert_eq!(
        (
            got.access_token.as_str(),
            got.token_type,
            got.expires_in,
            got.scope.as_str()
        ),
        ("signed.jwt.token", "Bearer", 900, "admin service mcp")
    );

    let claims = signed.lock().unwrap().pop().unwrap();
    let want = AccessTokenClaims {
        scope: "admin service mcp".into(),
        plugin_id: Some("plug-1".into()),
        ..claims_for("svc-a")
    };
    assert_eq!(claims, want);
    assert_eq!(claims.exp - claims.iat, 900);

    let row = rows.lock().unwrap().pop().unwrap();
    assert_eq!(row.id.as_str(), SESSION);
    assert_eq!(row.jti.as_str(), JTI);
    assert_eq!(row.user_id.as_str(), OWNER);
    assert_eq!(row.client_id.as_str(), "svc-a");
    assert_eq!(row.context.ip, "10.0.0.7".parse().ok());
    assert_eq!(row.expires_at, Timestamp::from_secs(claims.exp));
    assert_eq!(
        row.created_at,
        Timestamp::from_micros(NOW * 1_000_000 + 250_000)
    );
}

#[tokio::test]
async fn issue_with_client_subject_has_no_actor() {
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.policy.subject = SubjectMode::Client;
    let (fx, signed) = fx.with_signer();
    let (fx, _) = fx.with_sessions_ok();
    fx.service()
        .issue(&authed(client(&["service"])), TokenRequest::default())
        .await
        .unwrap();
    let claims = signed.lock().unwrap().pop().unwrap();
    assert_eq!((claims.sub(), claims.act_sub()), ("svc-a", None));
    assert_eq!(claims.subject, Subject::Client);
}

/// Refusals: nothing is signed, nothing is written (the mocks have no such expectations).
#[tokio::test]
async fn issue_refusals_sign_and_write_nothing() {
    type Case = (
        &'static str,
        Client,
        Option<Owner>,
        Option<&'static str>,
        Option<&'static str>,
        DomainError,
    );
    let cases: Vec<Case> = vec![
        (
            "owner missing",
            client(&["service"]),
            None,
            None,
            None,
            DomainError::InvalidClient(ClientRejection::OwnerMissing),
        ),
        (
            "owner inactive",
            client(&["service"]),
            Some(owner(&[], false)),
            None,
            None,
            DomainError::InvalidClient(ClientRejection::OwnerInactive),
        ),
        (
            "delegated not held",
            client(&["admin"]),
            Some(owner(&["user"], true)),
            Some("admin"),
            None,
            DomainError::InvalidScope(ScopeProblem::NotHeldByOwner(vec!["admin".into()])),
        ),
        (
            "not in grant",
            client(&["mcp"]),
            Some(owner(&[], true)),
            Some("service"),
            None,
            DomainError::InvalidScope(ScopeProblem::NotInClientGrant(vec!["service".into()])),
        ),
        (
            "unknown scope",
            client(&["mcp"]),
            Some(owner(&[], true)),
            Some("mcp bogus"),
            None,
            DomainError::InvalidScope(ScopeProblem::Unknown("bogus".into())),
        ),
        (
            "hook needs hook audience",
            client(&["hook:govern"]),
            Some(owner(&[], true)),
            None,
            None,
            DomainError::InvalidScope(ScopeProblem::AudienceRequired {
                scopes: vec!["hook:govern".into()],
                audience: "hook".into(),
            }),
        ),
        (
            "audience not allowed",
            client(&["mcp"]),
            Some(owner(&[], true)),
            None,
            Some("web"),
            DomainError::InvalidTarget(TargetProblem::NotAllowed("web".into())),
        ),
    ];
    for (what, c, o, scope, audience, want) in cases {
        let fx = Fx::new().with_owner(o);
        let req = TokenRequest {
            scope,
            audience: AudienceRequest {
                audience,
                resources: vec![],
            },
            ..Default::default()
        };
        let got = fx.service().issue(&authed(c), req).await;
        assert_eq!(got, Err(AppError::Refused(want)), "{what}");
    }
}

#[tokio::test]
async fn issue_with_malformed_owner_id_never_looks_the_owner_up() {
    let fx = Fx::new(); // no find_user expectation: a lookup would panic
    let mut c = client(&["service"]);
    c.owner_id = OwnerId::parse("owner-7");
    let got = fx
        .service()
        .issue(&authed(c), TokenRequest::default())
        .await;
    assert_eq!(
        got,
        Err(AppError::Refused(DomainError::InvalidClient(
            ClientRejection::OwnerIdMalformed
        )))
    );
}

#[tokio::test]
async fn issue_default_and_requested_audiences() {
    for (audience, want) in [
        (None, vec!["api".to_owned()]),
        (Some("mcp"), vec!["mcp".to_owned()]),
        (Some("hook"), vec!["hook".to_owned()]),
    ] {
        let fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
        let (fx, signed) = fx.with_signer();
        let (fx, _) = fx.with_sessions_ok();
        let req = TokenRequest {
            audience: AudienceRequest {
                audience,
                resources: vec![],
            },
            ..Default::default()
        };
        fx.service()
            .issue(&authed(client(&["mcp"])), req)
            .await
            .unwrap();
        assert_eq!(signed.lock().unwrap().pop().unwrap().aud, want);
    }
}

#[tokio::test]
async fn issue_rejects_bad_plugin_ids_before_any_io() {
    for bad in ["", "has space", &"p".repeat(129), "semi;colon"] {
        let fx = Fx::new();
        let req = TokenRequest {
            plugin_id: Some(bad),
            ..Default::default()
        };
        let got = fx.service().issue(&authed(client(&["service"])), req).await;
        assert!(
            matches!(
                got,
                Err(AppError::Refused(DomainError::InvalidRequest(
                    InvalidRequest::InvalidParameter {
                        name: "plugin_id",
                        ..
                    }
                )))
            ),
            "{bad:?}: {got:?}"
        );
    }
}

#[tokio::test]
async fn issue_port_failures() {
    // owner store down
    let mut fx = Fx::new();
    fx.users.expect_find_user().returning(|_| {
        Err(StoreError::Unavailable(grantd_ports::Unavailable::Connect(
            grantd_ports::ConnectFailure::Refused,
        )))
    });
    assert!(matches!(
        fx.service()
            .issue(&authed(client(&["service"])), TokenRequest::default())
            .await,
        Err(AppError::Unavailable(_))
    ));

    // no signing key: 503 class, and no session written
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.signer.expect_sign().returning(|_| Err(SignError::NoKey));
    assert!(matches!(
        fx.service()
            .issue(&authed(client(&["service"])), TokenRequest::default())
            .await,
        Err(AppError::Unavailable(_))
    ));

    // signing broken: 500 class, and no session written
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.signer
        .expect_sign()
        .returning(|_| Err(SignError::Failed(grantd_ports::SignFailure::KeyMaterial)));
    assert!(matches!(
        fx.service()
            .issue(&authed(client(&["service"])), TokenRequest::default())
            .await,
        Err(AppError::Internal(_))
    ));

    // session write fails: the signed token is not returned
    for (err, unavailable) in [
        (
            StoreError::Unavailable(grantd_ports::Unavailable::Sqlite(
                grantd_ports::SqliteCondition::Locked,
            )),
            true,
        ),
        (
            StoreError::Conflict(grantd_ports::Constraint::SessionJti),
            false,
        ),
    ] {
        let fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
        let (mut fx, _) = fx.with_signer();
        let e = err.clone();
        fx.sessions
            .expect_insert_session()
            .times(1)
            .returning(move |_| Err(e.clone()));
        let got = fx
            .service()
            .issue(&authed(client(&["service"])), TokenRequest::default())
            .await;
        assert_eq!(
            matches!(got, Err(AppError::Unavailable(_))),
            unavailable,
            "{err:?}: {got:?}"
        );
        assert!(got.is_err());
    }
}

// ---------- introspect ----------

fn introspect_fx(session: Option<SessionRecord>, client_active: Option<bool>) -> Fx {
    introspect_fx_with(
        session,
        client_active,
        "service",
        Some(owner(&["admin"], true)),
    )
}

/// A live token of `svc-a` carrying `scope`, its owner as loaded now being `owner`.
fn introspect_fx_with(
    session: Option<SessionRecord>,
    client_active: Option<bool>,
    scope: &'static str,
    owner: Option<Owner>,
) -> Fx {
    let mut fx = Fx::new().with_owner(owner);
    fx.signer.expect_verify().returning(move |_, _| {
        Ok(AccessTokenClaims {
            scope: scope.into(),
            ..claims_for("svc-a")
        })
    });
    fx.sessions
        .expect_find_session()
        .returning(move |_| Ok(session.clone()));
    fx.clients.expect_find_client().returning(move |_| {
        Ok(client_active.map(|active| Client {
            active,
            ..client(&["service"])
        }))
    });
    fx
}

#[tokio::test]
async fn introspect_table() {
    let caller = authed(client(&["service"]));
    let cases: Vec<(&str, Fx, bool)> = vec![
        (
            "live",
            introspect_fx(Some(session_record(false, JTI)), Some(true)),
            true,
        ),
        (
            "revoked",
            introspect_fx(Some(session_record(true, JTI)), Some(true)),
            false,
        ),
        ("purged", introspect_fx(None, Some(true)), false),
        (
            "jti mismatch",
            introspect_fx(Some(session_record(false, "other-jti")), Some(true)),
            false,
        ),
        (
            "client disabled since",
            introspect_fx(Some(session_record(false, JTI)), Some(false)),
            false,
        ),
        (
            "client deleted",
            introspect_fx(Some(session_record(false, JTI)), None),
            false,
        ),
    ];
    for (what, fx, active) in cases {
        let got = fx.service().introspect(&caller, "tok").await.unwrap();
        assert_eq!(got.claims.is_some(), active, "{what}");
        if active {
            assert_eq!(
                got.claims.map(|c| c.client_id.into_string()),
                Some("svc-a".to_owned())
            );
        }
    }
    for err in [
        VerifyError::Expired,
        VerifyError::BadSignature,
        VerifyError::UnknownKey,
        VerifyError::WrongIssuer,
    ] {
        let mut fx = Fx::new();
        let e = err.clone();
        fx.signer
            .expect_verify()
            .returning(move |_, _| Err(e.clone()));
        assert_eq!(
            fx.service().introspect(&caller, "tok").await,
            Ok(Introspection::inactive()),
            "{err:?}"
        );
    }
}

/// The owner behind a token: present, active and still holding its delegated scopes.
#[tokio::test]
async fn introspect_owner_rule() {
    let caller = authed(client(&["service"]));
    let live = || Some(session_record(false, JTI));
    let cases: Vec<(&str, &'static str, Option<Owner>, bool)> = vec![
        (
            "still holds the delegated scope",
            "admin service",
            Some(owner(&["admin"], true)),
            true,
        ),
        (
            "lost the delegated scope",
            "admin service",
            Some(owner(&["user"], true)),
            false,
        ),
        (
            "inactive",
            "admin service",
            Some(owner(&["admin"], false)),
            false,
        ),
        ("gone", "admin service", None, false),
        (
            "service tier only, no roles at all",
            "service mcp",
            Some(owner(&[], true)),
            true,
        ),
        (
            "service tier only, inactive",
            "service mcp",
            Some(owner(&[], false)),
            false,
        ),
    ];
    for (what, scope, o, active) in cases {
        let fx = introspect_fx_with(live(), Some(true), scope, o);
        let got = fx.service().introspect(&caller, "tok").await.unwrap();
        assert_eq!(got.claims.is_some(), active, "{what}");
    }

    // The owner cannot be loaded: 503, never a false answer either way.
    let mut fx = introspect_fx_with(live(), Some(true), "service", None);
    fx.users.checkpoint();
    fx.users.expect_find_user().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    let got = fx.service().introspect(&caller, "tok").await;
    assert!(matches!(got, Err(AppError::Unavailable(_))), "{got:?}");
}

fn caller(id: &str, scopes: &[&str]) -> AuthenticatedClient {
    authed(Client {
        id: ClientId::parse(id).unwrap(),
        ..client(scopes)
    })
}

#[tokio::test]
async fn introspecting_others_tokens_takes_the_introspect_scope() {
    // Without it: inactive for another client's token, before any lookup (the mocks expect
    // none).
    for scopes in [&[][..], &["service", "mcp", "admin"]] {
        let mut fx = Fx::new();
        fx.signer
            .expect_verify()
            .returning(|_, _| Ok(claims_for("svc-a")));
        let got = fx
            .service()
            .introspect(&caller("svc-b", scopes), "tok")
            .await;
        assert_eq!(got, Ok(Introspection::inactive()), "{scopes:?}");
    }
    // Its own tokens: yes, without it.
    let fx = introspect_fx(Some(session_record(false, JTI)), Some(true));
    let got = fx.service().introspect(&caller("svc-a", &[]), "tok").await;
    assert!(got.unwrap().claims.is_some());
    // With it: anyone's.
    let fx = introspect_fx(Some(session_record(false, JTI)), Some(true));
    let got = fx
        .service()
        .introspect(&caller("svc-b", &["introspect"]), "tok")
        .await;
    assert_eq!(
        got.unwrap().claims.map(|c| c.client_id.into_string()),
        Some("svc-a".to_owned())
    );
}

#[tokio::test]
async fn introspect_store_failure_is_an_error_not_inactive() {
    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(|_, _| Ok(claims_for("svc-a")));
    fx.sessions.expect_find_session().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    let got = fx.service().introspect(&authed(client(&[])), "tok").await;
    assert!(matches!(got, Err(AppError::Unavailable(_))), "{got:?}");
}

// ---------- revoke ----------

#[tokio::test]
async fn revoke_own_token_marks_the_session() {
    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(|_, _| Ok(claims_for("svc-a")));
    fx.sessions
        .expect_revoke_session()
        .withf(|id, at, reason| id.as_str() == SESSION && at.as_secs() == NOW && !reason.is_empty())
        .times(1)
        .returning(|_, _, _| Ok(true));
    assert_eq!(
        fx.service().revoke(&authed(client(&[])), "tok").await,
        Ok(())
    );
}

#[tokio::test]
async fn revoke_is_a_no_op_for_foreign_or_invalid_tokens() {
    let mut fx = Fx::new(); // no revoke_session expectation
    fx.signer
        .expect_verify()
        .returning(|_, _| Ok(claims_for("svc-b")));
    assert_eq!(
        fx.service().revoke(&authed(client(&[])), "tok").await,
        Ok(())
    );

    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(|_, _| Err(VerifyError::Malformed));
    assert_eq!(
        fx.service().revoke(&authed(client(&[])), "garbage").await,
        Ok(())
    );
}

#[tokio::test]
async fn revoke_storage_failure_is_never_a_false_success() {
    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(|_, _| Ok(claims_for("svc-a")));
    fx.sessions.expect_revoke_session().returning(|_, _, _| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.service().revoke(&authed(client(&[])), "tok").await,
        Err(AppError::Unavailable(_))
    ));
}

#[test]
fn debug_never_shows_secrets_or_tokens() {
    for c in [
        creds("svc-a", AuthMethod::ClientSecretPost),
        creds("svc-a", AuthMethod::ClientSecretBasic),
    ] {
        let shown = format!("{c:?}");
        assert!(
            shown.contains("svc-a") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
    let t = IssuedToken {
        access_token: "eyJTOKEN".into(),
        token_type: "Bearer",
        expires_in: 1,
        scope: String::new(),
        session_id: SessionId::parse(SESSION).unwrap(),
    };
    assert!(!format!("{t:?}").contains("eyJTOKEN"));
}

// ---------- DPoP ----------

const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
const TOKEN_URL: &str = "https://auth.example/oauth/token";

fn binding() -> DpopBinding {
    DpopBinding {
        jkt: grantd_domain::Jkt::parse(JKT).unwrap(),
        proof_key: "replay-key".into(),
    }
}

fn with_proof() -> TokenRequest<'static> {
    TokenRequest {
        dpop: Some(DpopProof {
            proof: "the.proof.jws",
            target: ProofTarget {
                method: "POST",
                uri: TOKEN_URL,
            },
        }),
        ..Default::default()
    }
}

/// A valid proof: the port sees the proof and its target, the token says DPoP, its claims carry
/// `cnf.jkt` and the session row the binding.
#[tokio::test]
async fn a_valid_proof_binds_token_claims_and_row() {
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.dpop
        .expect_check()
        .withf(|p, t, _| p == "the.proof.jws" && t.method == "POST" && t.uri == TOKEN_URL)
        .times(1)
        .returning(|_, _, _| Ok(binding()));
    let (fx, signed) = fx.with_signer();
    let (fx, rows) = fx.with_sessions_ok();
    let got = fx
        .service()
        .issue(&authed(client(&["service"])), with_proof())
        .await
        .unwrap();
    assert_eq!(got.token_type, "DPoP");
    let claims = signed.lock().unwrap().pop().unwrap();
    assert_eq!(claims.cnf_jkt.as_ref().map(|j| j.as_str()), Some(JKT));
    assert_eq!(rows.lock().unwrap().pop().unwrap().dpop, Some(binding()));
}

/// Each refusal of the port is `invalid_dpop_proof` with its reason; nothing is signed or
/// written (the mocks expect neither).
#[tokio::test]
async fn a_refused_proof_issues_nothing() {
    for reason in [
        ProofRejection::BadSignature,
        ProofRejection::WrongUri,
        ProofRejection::IssuedAtOutOfWindow,
    ] {
        let mut fx = Fx::new();
        fx.dpop.expect_check().returning(move |_, _, _| Err(reason));
        let got = fx
            .service()
            .issue(&authed(client(&["service"])), with_proof())
            .await;
        assert_eq!(
            got.map(|_| ()),
            Err(AppError::Refused(DomainError::InvalidDpopProof(reason)))
        );
    }
}

#[tokio::test]
async fn a_missing_nonce_is_answered_with_a_fresh_one() {
    let mut fx = Fx::new();
    fx.dpop
        .expect_check()
        .returning(|_, _, _| Err(ProofRejection::NonceRequired));
    fx.dpop
        .expect_nonce()
        .returning(|_| Some("fresh-nonce".into()));
    let got = fx
        .service()
        .issue(&authed(client(&["service"])), with_proof())
        .await;
    assert_eq!(
        got.map(|_| ()),
        Err(AppError::Refused(DomainError::UseDpopNonce {
            nonce: "fresh-nonce".into()
        }))
    );
}

/// The store's unique replay key refuses a second token for one proof: the caller gets
/// `invalid_dpop_proof`, not a 5xx, and never the signed token.
#[tokio::test]
async fn a_replayed_proof_is_refused_when_its_row_conflicts() {
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.dpop.expect_check().returning(|_, _, _| Ok(binding()));
    let (mut fx, _) = fx.with_signer();
    fx.sessions
        .expect_insert_session()
        .returning(|_| Err(StoreError::Conflict(Constraint::SessionDpopProof)));
    let got = fx
        .service()
        .issue(&authed(client(&["service"])), with_proof())
        .await;
    assert_eq!(
        got.map(|_| ()),
        Err(AppError::Refused(DomainError::InvalidDpopProof(
            ProofRejection::Replayed
        )))
    );
}

/// Introspection: a bound token is active only if its session row has the same thumbprint.
#[tokio::test]
async fn introspection_requires_the_row_binding_to_match_the_token() {
    let bound_claims = AccessTokenClaims {
        cnf_jkt: grantd_domain::Jkt::parse(JKT),
        ..claims_for("svc-a")
    };
    let mut bound_row = session_record(false, JTI);
    bound_row.session.dpop = Some(binding());
    let cases = [
        (bound_claims.clone(), bound_row.clone(), true),
        (bound_claims.clone(), session_record(false, JTI), false),
        (claims_for("svc-a"), bound_row, false),
    ];
    for (claims, row, active) in cases {
        let mut fx = introspect_fx(Some(row), Some(true));
        fx.signer.checkpoint();
        let c = claims.clone();
        fx.signer
            .expect_verify()
            .returning(move |_, _| Ok(c.clone()));
        let got = fx
            .service()
            .introspect(&caller("svc-a", &["service"]), "t")
            .await
            .unwrap();
        assert_eq!(got.claims.is_some(), active, "{claims:?}");
    }
}

/// A client whose policy requires DPoP is refused without a proof (before any IO), and served
/// with one.
#[tokio::test]
async fn a_client_requiring_dpop_needs_a_proof() {
    let required = Client {
        keys: Default::default(),
        dpop: grantd_domain::DpopPolicy::Required,
        ..client(&["service"])
    };
    let got = Fx::new()
        .service()
        .issue(&authed(required.clone()), TokenRequest::default())
        .await;
    assert_eq!(
        got.map(|_| ()),
        Err(AppError::Refused(DomainError::InvalidRequest(
            InvalidRequest::DpopProofRequired
        )))
    );
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.dpop.expect_check().returning(|_, _, _| Ok(binding()));
    let (fx, _) = fx.with_signer();
    let (fx, _) = fx.with_sessions_ok();
    let got = fx.service().issue(&authed(required), with_proof()).await;
    assert_eq!(got.map(|t| t.token_type), Ok("DPoP"));
}
// ---------- verify_bearer (grantd's own admin API) ----------

/// A presented bearer token is judged exactly as its own client's introspection judges it,
/// whoever presents it: live, revoked, purged, replaced, client disabled or deleted, owner gone.
#[tokio::test]
async fn verify_bearer_agrees_with_introspection_by_the_tokens_client() {
    let own = caller("svc-a", &[]);
    let fixtures = || -> Vec<(&str, Fx)> {
        let live = || Some(session_record(false, JTI));
        vec![
            ("live", introspect_fx(live(), Some(true))),
            (
                "revoked",
                introspect_fx(Some(session_record(true, JTI)), Some(true)),
            ),
            ("purged", introspect_fx(None, Some(true))),
            (
                "replaced",
                introspect_fx(Some(session_record(false, "x")), Some(true)),
            ),
            ("client disabled", introspect_fx(live(), Some(false))),
            ("client deleted", introspect_fx(live(), None)),
            (
                "owner gone",
                introspect_fx_with(live(), Some(true), "admin service", None),
            ),
        ]
    };
    for ((what, by_introspection), (_, by_bearer)) in fixtures().into_iter().zip(fixtures()) {
        let want = by_introspection.service().introspect(&own, "tok").await;
        let got = by_bearer.service().verify_bearer("tok").await;
        assert_eq!(got, want, "{what}");
    }
    let mut fx = Fx::new();
    fx.signer
        .expect_verify()
        .returning(|_, _| Err(VerifyError::Expired));
    let got = fx.service().verify_bearer("tok").await;
    assert_eq!(got, Ok(Introspection::inactive()));
}

mod audit_events;

// ---------- private_key_jwt ----------

fn key_client(active: bool) -> Client {
    Client {
        auth_method: AuthMethod::PrivateKeyJwt,
        secrets: vec![],
        active,
        ..client(&["service"])
    }
}

fn jwt_auth(client_id: Option<&str>) -> ClientAuthentication<'_> {
    ClientAuthentication::PrivateKeyJwt {
        client_id: client_id.map(Into::into),
        assertion: "a.b.c".into(),
        token_endpoint: "https://issuer.example/oauth/token".into(),
        unverified_iss: None,
    }
}

/// The assertion's iss names the client; the verifier gets its keys and the issuer and token
/// URL as accepted audiences; the replay key it returns lands in the session row.
#[tokio::test]
async fn an_assertion_authenticates_its_client_and_its_replay_key_reaches_the_session_row() {
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients
        .expect_find_client()
        .returning(|_| Ok(Some(key_client(true))));
    let issuer = fx.policy.issuer.clone();
    fx.assertions
        .expect_check()
        .withf(move |a, id, _, t, _| {
            a == "a.b.c"
                && id.as_str() == "svc-a"
                && t.issuer == issuer
                && t.token_endpoint == "https://issuer.example/oauth/token"
                && t.max_lifetime_secs == 300
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok("replay-key".into()));
    let (fx, _) = fx.with_signer();
    let (fx, rows) = fx.with_sessions_ok();
    let service = fx.service();
    let authed = service
        .authenticate(&jwt_auth(Some("svc-a")))
        .await
        .unwrap();
    service
        .issue(&authed, TokenRequest::default())
        .await
        .unwrap();
    let row = rows.lock().unwrap().pop().unwrap();
    assert_eq!(row.assertion_key.as_deref(), Some("replay-key"));
}

/// The configured `[client_assertion]` bounds, not the defaults, reach the verifier.
#[tokio::test]
async fn configured_assertion_limits_reach_the_verifier() {
    let mut fx = Fx::new();
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients
        .expect_find_client()
        .returning(|_| Ok(Some(key_client(true))));
    fx.assertions
        .expect_check()
        .withf(|_, _, _, t, _| t.max_lifetime_secs == 90 && t.max_skew_secs == 2)
        .times(1)
        .returning(|_, _, _, _, _| Ok("k".into()));
    let service = fx.service().with_assertion_limits(crate::AssertionLimits {
        max_lifetime: std::time::Duration::from_secs(90),
        max_skew: std::time::Duration::from_secs(2),
    });
    assert!(service.authenticate(&jwt_auth(None)).await.is_ok());
}

/// Each refusal is invalid_client with its own reason; none reaches the verifier's full check
/// when the client is the wrong one.
#[tokio::test]
async fn assertion_refusals_are_invalid_client_with_their_reason() {
    let bad = |r| refused_client(ClientRejection::BadAssertion(r));
    // client_id differs from iss: the sent client is looked up once (a federated client's
    // token has the platform's iss); not federated, so refused before its keys are read.
    let mut fx = Fx::new();
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients
        .expect_find_client()
        .times(1)
        .returning(|_| Ok(Some(client(&["service"]))));
    let got = fx.service().authenticate(&jwt_auth(Some("svc-b"))).await;
    assert_eq!(
        got.map(|_| ()),
        bad(AssertionRejection::IssuerSubjectMismatch)
    );
    // A secret-based client.
    let mut fx = Fx::new();
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients
        .expect_find_client()
        .returning(|_| Ok(Some(client(&["service"]))));
    let got = fx.service().authenticate(&jwt_auth(None)).await;
    assert!(
        matches!(
            got,
            Err(AppError::Refused(DomainError::InvalidClient(
                ClientRejection::AuthMethodNotRegistered { .. }
            )))
        ),
        "{got:?}"
    );
    // Unknown client.
    let mut fx = Fx::new();
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients.expect_find_client().returning(|_| Ok(None));
    let got = fx.service().authenticate(&jwt_auth(None)).await;
    assert_eq!(
        got.map(|_| ()),
        refused_client(ClientRejection::UnknownClient)
    );
    // The verifier's reason passes through; a disabled client is refused after the check.
    for (active, verdict, want) in [
        (
            true,
            Err(AssertionRejection::WrongAudience),
            bad(AssertionRejection::WrongAudience),
        ),
        (
            false,
            Ok("k".to_owned()),
            refused_client(ClientRejection::ClientDisabled),
        ),
    ] {
        let mut fx = Fx::new();
        fx.assertions
            .expect_issuer()
            .returning(|_| Ok("svc-a".into()));
        fx.clients
            .expect_find_client()
            .returning(move |_| Ok(Some(key_client(active))));
        fx.assertions
            .expect_check()
            .returning(move |_, _, _, _, _| verdict.clone());
        let got = fx.service().authenticate(&jwt_auth(None)).await;
        assert_eq!(got.map(|_| ()), want);
    }
}

/// A replay key already taken (the unique index) is invalid_client, not a server error.
#[tokio::test]
async fn a_taken_replay_key_is_invalid_client() {
    let mut fx = Fx::new().with_ids().with_owner(Some(owner(&[], true)));
    let (f, _) = fx.with_signer();
    fx = f;
    fx.sessions
        .expect_insert_session()
        .returning(|_| Err(StoreError::Conflict(Constraint::SessionClientAssertion)));
    let authed = AuthenticatedClient {
        client: key_client(true),
        assertion_key: Some("taken".into()),
        auth: SessionAuth::method(AuthMethod::PrivateKeyJwt),
    };
    let got = fx.service().issue(&authed, TokenRequest::default()).await;
    assert!(
        matches!(
            got,
            Err(AppError::Refused(DomainError::InvalidClient(
                ClientRejection::BadAssertion(AssertionRejection::Replayed)
            )))
        ),
        "{got:?}"
    );
}

// ---------- private_key_jwt with a jwks_uri ----------

fn uri_client() -> Client {
    let uri = grantd_domain::JwksUri::parse("https://client.example/jwks.json").unwrap();
    Client {
        keys: grantd_domain::ClientKeys::remote(uri),
        ..key_client(true)
    }
}

fn fetched(kid: &str) -> Arc<grantd_domain::ClientKeys> {
    let key = grantd_domain::RegisteredKey {
        kid: Some(kid.into()),
        kty: "EC".into(),
        alg: None,
        jwk: "{}".into(),
    };
    Arc::new(grantd_domain::ClientKeys::new(vec![key]).unwrap())
}

fn first_kid(keys: &grantd_domain::ClientKeys) -> Option<&str> {
    keys.keys().first().and_then(|k| k.kid.as_deref())
}

/// A uri client's assertion is checked against the fetched set; an unknown kid asks for one
/// refetch and is checked again against what it gives; a kid still unknown then is refused.
#[tokio::test]
async fn a_jwks_uri_client_is_checked_against_the_fetched_set_refetched_once_on_unknown_kid() {
    for (after_refetch, want_ok) in [("new", true), ("old", false)] {
        let mut fx = Fx::new();
        fx.assertions
            .expect_issuer()
            .returning(|_| Ok("svc-a".into()));
        fx.clients
            .expect_find_client()
            .returning(|_| Ok(Some(uri_client())));
        let mut seq = mockall::Sequence::new();
        fx.remote_keys
            .expect_keys()
            .withf(|u, w| {
                u.as_str() == "https://client.example/jwks.json" && *w == KeysWanted::Current
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(fetched("old")));
        fx.remote_keys
            .expect_keys()
            .withf(|_, w| *w == KeysWanted::KeyNotFound)
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _| Ok(fetched(after_refetch)));
        // The assertion is signed by "new".
        fx.assertions
            .expect_check()
            .times(2)
            .returning(|_, _, keys, _, _| match first_kid(keys) {
                Some("new") => Ok("replay".into()),
                _ => Err(AssertionRejection::UnknownKey),
            });
        let got = fx.service().authenticate(&jwt_auth(None)).await.map(|_| ());
        if want_ok {
            assert_eq!(got, Ok(()));
        } else {
            assert_eq!(
                got,
                refused_client(ClientRejection::BadAssertion(
                    AssertionRejection::UnknownKey
                ))
            );
        }
    }
}

/// Keys that cannot be had are invalid_client with the fetch failure as the reason; other
/// refusals of the check do not refetch.
#[tokio::test]
async fn a_jwks_uri_that_gives_no_keys_is_invalid_client_and_a_bad_signature_does_not_refetch() {
    let mut fx = Fx::new();
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients
        .expect_find_client()
        .returning(|_| Ok(Some(uri_client())));
    fx.remote_keys
        .expect_keys()
        .times(1)
        .returning(|_, _| Err(grantd_domain::JwksFailure::Status));
    let got = fx.service().authenticate(&jwt_auth(None)).await.map(|_| ());
    assert_eq!(
        got,
        refused_client(ClientRejection::BadAssertion(
            AssertionRejection::KeysUnavailable(grantd_domain::JwksFailure::Status)
        ))
    );

    let mut fx = Fx::new();
    fx.assertions
        .expect_issuer()
        .returning(|_| Ok("svc-a".into()));
    fx.clients
        .expect_find_client()
        .returning(|_| Ok(Some(uri_client())));
    fx.remote_keys
        .expect_keys()
        .times(1)
        .returning(|_, _| Ok(fetched("a")));
    fx.assertions
        .expect_check()
        .times(1)
        .returning(|_, _, _, _, _| Err(AssertionRejection::BadSignature));
    let got = fx.service().authenticate(&jwt_auth(None)).await.map(|_| ());
    assert_eq!(
        got,
        refused_client(ClientRejection::BadAssertion(
            AssertionRejection::BadSignature
        ))
    );
}
