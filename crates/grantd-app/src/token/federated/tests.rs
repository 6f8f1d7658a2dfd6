//! Federated client authentication against mocks: each check refuses on its own, with its
//! typed reason, and the cheap checks come before any key fetch (a mock without an
//! expectation panics when called).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use grantd_domain::{
    AssertionRejection as R, Audience, AudienceRules, AuthMethod, Client, ClientId,
    ClientRejection, DomainError, FederatedCredential, Federation, IssuerKind, IssuerName, OwnerId,
    PinnedClaim, ScopeCatalog, ScopePolicy, StoredScopes, SubjectMode, Timestamp, TokenPolicy,
    TrustedIssuer, Ttl, VerifiedIdentity,
};
use grantd_ports::{
    IssuerKeysError, MockClientStore, MockClock, MockFederatedCredentialStore, MockFederatedTokens,
    MockIdSource, MockIssuerKeys, MockSecretHasher, MockSessionStore, MockTokenSigner,
    MockUserStore, TokenPeek, VerifiedPlatformToken,
};

use crate::error::AppError;
use crate::federation::FederationPorts;
use crate::token::{ClientAuthentication, Ports, TokenService};

const K8S: &str = "https://k8s.example";
const SUB: &str = "system:serviceaccount:ci:builder";

fn client(method: AuthMethod, active: bool) -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: ClientId::parse("wl").unwrap(),
        name: "workload".into(),
        owner_id: OwnerId::parse("0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d"),
        scopes: StoredScopes::parse(&ScopeCatalog::builtin(), &["mcp"]),
        grant_types: grantd_domain::GrantTypes::parse(&["client_credentials"]),
        auth_method: method,
        active,
        secrets: vec![],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
    }
}

fn issuer(name: &str, iss: &str, kind: IssuerKind) -> TrustedIssuer {
    TrustedIssuer {
        name: IssuerName::parse(name).unwrap(),
        issuer: iss.into(),
        kind,
        algorithms: vec!["ES256".into()],
        audience: "https://auth.example".into(),
        max_lifetime_secs: 3600,
        single_use_jti: false,
    }
}

fn credential(issuer: &str, sub: &str, claims: &[(&str, &str)]) -> FederatedCredential {
    FederatedCredential {
        issuer: IssuerName::parse(issuer).unwrap(),
        subject: sub.into(),
        claims: claims
            .iter()
            .map(|(n, v)| PinnedClaim {
                name: (*n).into(),
                value_json: (*v).into(),
            })
            .collect(),
    }
}

/// What the mocks answer; `None` for a step means "must not be reached".
struct Case {
    client: Client,
    peek: TokenPeek,
    credentials: Option<Vec<FederatedCredential>>,
    keys: Option<Result<(), IssuerKeysError>>,
    check: Option<Result<VerifiedPlatformToken, R>>,
}

fn ok_case() -> Case {
    Case {
        client: client(AuthMethod::Federated, true),
        peek: TokenPeek {
            iss: Some(K8S.into()),
            sub: Some(SUB.into()),
            kid: Some("k1".into()),
        },
        credentials: Some(vec![credential("k8s", SUB, &[("ns", "\"ci\"")])]),
        keys: Some(Ok(())),
        check: Some(Ok(verified(SUB, &[("ns", "\"ci\"")], None))),
    }
}

fn verified(sub: &str, claims: &[(&str, &str)], replay: Option<&str>) -> VerifiedPlatformToken {
    VerifiedPlatformToken {
        identity: VerifiedIdentity {
            subject: sub.into(),
            claims: claims
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        },
        replay_key: replay.map(str::to_owned),
    }
}

fn service(case: Case, federation_on: bool) -> TokenService {
    let mut clients = MockClientStore::new();
    let found = case.client.clone();
    clients
        .expect_find_client()
        .returning(move |_| Ok(Some(found.clone())));
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .return_const(Timestamp::from_secs(1_800_000_000));
    let ports = Ports {
        clients: Arc::new(clients),
        users: Arc::new(MockUserStore::new()),
        sessions: Arc::new(MockSessionStore::new()),
        signer: Arc::new(MockTokenSigner::new()),
        secrets: Arc::new(MockSecretHasher::new()),
        clock: Arc::new(clock),
        ids: Arc::new(MockIdSource::new()),
        assertions: Arc::new(grantd_ports::MockClientAssertions::new()),
        dpop: Arc::new(grantd_ports::MockDpopProofs::new()),
        remote_keys: Arc::new(grantd_ports::MockRemoteKeys::new()),
    };
    let policy = TokenPolicy {
        issuer: "https://auth.example".into(),
        catalog: ScopeCatalog::builtin(),
        audiences: AudienceRules::new(vec![Audience::Api], vec![]).unwrap(),
        scope_policy: ScopePolicy::Narrow,
        ttl: Ttl::from_secs(900).unwrap(),
        subject: SubjectMode::Owner,
    };
    let svc = TokenService::new(ports, Arc::new(policy));
    if !federation_on {
        return svc;
    }
    let mut tokens = MockFederatedTokens::new();
    let peek = case.peek.clone();
    tokens.expect_peek().returning(move |_| Ok(peek.clone()));
    if let Some(check) = case.check {
        tokens
            .expect_check()
            .returning(move |_, _, _, _, _| check.clone());
    }
    let mut creds = MockFederatedCredentialStore::new();
    if let Some(c) = case.credentials {
        creds
            .expect_federated_credentials()
            .returning(move |_| Ok(c.clone()));
    }
    let mut keys = MockIssuerKeys::new();
    if let Some(k) = case.keys {
        keys.expect_issuer_keys()
            .withf(|_, kid| *kid == Some("k1"))
            .returning(move |_, _| k.map(|()| Default::default()));
    }
    svc.with_federation(FederationPorts {
        issuers: Arc::new(Federation::new(vec![
            issuer("k8s", K8S, IssuerKind::Oidc),
            issuer("spire", "spiffe://example.org", IssuerKind::Spiffe),
        ])),
        credentials: Arc::new(creds),
        tokens: Arc::new(tokens),
        keys: Arc::new(keys),
    })
}

fn bearer(client_id: Option<&str>) -> ClientAuthentication<'_> {
    ClientAuthentication::PrivateKeyJwt {
        client_id: client_id.map(Cow::Borrowed),
        assertion: "platform.token.jws".into(),
        token_endpoint: "https://auth.example/oauth/token".into(),
        unverified_iss: None,
    }
}

fn refused(r: R) -> Result<(), AppError> {
    Err(AppError::Refused(DomainError::InvalidClient(
        ClientRejection::BadAssertion(r),
    )))
}

#[tokio::test]
async fn a_matching_token_authenticates_and_records_issuer_and_subject() {
    let authed = service(ok_case(), true)
        .authenticate(&bearer(Some("wl")))
        .await
        .unwrap();
    assert_eq!(authed.id().as_str(), "wl");
    assert_eq!(authed.auth.method, AuthMethod::Federated);
    let who = authed.auth.federated.as_ref().unwrap();
    assert_eq!((who.issuer.as_str(), who.subject.as_str()), ("k8s", SUB));
    assert_eq!(
        authed.assertion_key, None,
        "not single-use: NULL replay key"
    );

    let mut single = ok_case();
    single.check = Some(Ok(verified(SUB, &[("ns", "\"ci\"")], Some("rk"))));
    let authed = service(single, true)
        .authenticate(&bearer(Some("wl")))
        .await
        .unwrap();
    assert_eq!(authed.assertion_key.as_deref(), Some("rk"));
}

#[tokio::test]
async fn each_check_refuses_with_its_reason() {
    type Edit = fn(&mut Case);
    let cases: [(&str, Edit, Result<(), AppError>); 8] = [
        (
            "untrusted iss: no credential read, no key fetched",
            |c| {
                c.peek.iss = Some("https://evil".into());
                c.credentials = None;
                c.keys = None;
                c.check = None;
            },
            refused(R::UntrustedIssuer),
        ),
        (
            "no credential under that issuer: no key fetched",
            |c| {
                c.credentials = Some(vec![credential("spire", SUB, &[])]);
                c.keys = None;
                c.check = None;
            },
            refused(R::SubjectMismatch),
        ),
        (
            "keys unavailable",
            |c| {
                c.keys = Some(Err(IssuerKeysError::Unavailable));
                c.check = None;
            },
            refused(R::IssuerKeysUnavailable),
        ),
        (
            "a failed token check passes its reason",
            |c| c.check = Some(Err(R::WrongAudience)),
            refused(R::WrongAudience),
        ),
        (
            "expired",
            |c| c.check = Some(Err(R::Expired)),
            refused(R::Expired),
        ),
        (
            "sub differs",
            |c| c.check = Some(Ok(verified("system:serviceaccount:ci:other", &[], None))),
            refused(R::SubjectMismatch),
        ),
        (
            "pinned claim differs",
            |c| c.check = Some(Ok(verified(SUB, &[("ns", "\"prod\"")], None))),
            refused(R::ClaimMismatch),
        ),
        (
            "client disabled (after every check)",
            |c| c.client.active = false,
            Err(AppError::Refused(DomainError::InvalidClient(
                ClientRejection::ClientDisabled,
            ))),
        ),
    ];
    for (what, edit, want) in cases {
        let mut case = ok_case();
        edit(&mut case);
        let got = service(case, true).authenticate(&bearer(Some("wl"))).await;
        assert_eq!(got.map(|_| ()), want, "{what}");
    }
}

#[tokio::test]
async fn federation_off_or_the_wrong_assertion_type_refuses() {
    let got = service(ok_case(), false)
        .authenticate(&bearer(Some("wl")))
        .await;
    assert_eq!(got.map(|_| ()), refused(R::UntrustedIssuer));

    // jwt-spiffe names SPIFFE issuers only: an OIDC issuer's token is untrusted there.
    let mut case = ok_case();
    case.credentials = None;
    case.keys = None;
    case.check = None;
    let spiffe = ClientAuthentication::JwtSpiffe {
        client_id: Some("wl".into()),
        assertion: "t".into(),
    };
    let got = service(case, true).authenticate(&spiffe).await;
    assert_eq!(got.map(|_| ()), refused(R::UntrustedIssuer));

    let no_id = ClientAuthentication::JwtSpiffe {
        client_id: None,
        assertion: "t".into(),
    };
    let got = service(ok_case(), true).authenticate(&no_id).await;
    assert_eq!(got.map(|_| ()), refused(R::ClientIdRequired));

    let mut not_federated = ok_case();
    not_federated.client = client(AuthMethod::PrivateKeyJwt, true);
    let got = service(not_federated, true).authenticate(&spiffe).await;
    assert!(
        matches!(
            got,
            Err(AppError::Refused(DomainError::InvalidClient(
                ClientRejection::AuthMethodNotRegistered { .. }
            )))
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_spiffe_svid_is_matched_by_trust_domain() {
    let sub = "spiffe://example.org/ns/ci/sa/builder";
    let case = Case {
        client: client(AuthMethod::Federated, true),
        peek: TokenPeek {
            iss: None,
            sub: Some(sub.into()),
            kid: Some("k1".into()),
        },
        credentials: Some(vec![credential("spire", sub, &[])]),
        keys: Some(Ok(())),
        check: Some(Ok(verified(sub, &[], None))),
    };
    let svc = service(case, true);
    let spiffe = ClientAuthentication::JwtSpiffe {
        client_id: Some("wl".into()),
        assertion: "t".into(),
    };
    let authed = svc.authenticate(&spiffe).await.unwrap();
    let who = authed.auth.federated.as_ref().unwrap();
    assert_eq!((who.issuer.as_str(), who.subject.as_str()), ("spire", sub));
}
