//! Federated-credential administration against mocks: every refusal writes nothing (a store
//! mock without an expectation panics when called).

use std::sync::Arc;

use grantd_domain::{
    AuthMethod, Client, ClientId, Federation, IssuerKind, IssuerName, OwnerId, PinnedClaim,
    ScopeCatalog, StoredScopes, Timestamp, TrustedIssuer,
};
use grantd_ports::{
    Constraint, MockClientStore, MockClock, MockFederatedCredentialStore, MockFederatedTokens,
    MockIdSource, MockIssuerKeys, MockSecretHasher, MockSessionStore, MockTokenSigner,
    MockUserStore, StoreError,
};

use super::NewFederatedCredential;
use crate::admin::{Admin, AdminError, ConflictKind, InvalidReason, Missing};
use crate::federation::FederationPorts;
use crate::token::Ports;

fn client(method: AuthMethod) -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: ClientId::parse("wl").unwrap(),
        name: "workload".into(),
        owner_id: OwnerId::parse("0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d"),
        scopes: StoredScopes::parse(&ScopeCatalog::builtin(), &["mcp"]),
        grant_types: grantd_domain::GrantTypes::parse(&["client_credentials"]),
        auth_method: method,
        active: true,
        secrets: vec![],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
    }
}

fn admin(found: Option<Client>, creds: MockFederatedCredentialStore) -> Admin {
    let mut clients = MockClientStore::new();
    clients
        .expect_find_client()
        .returning(move |_| Ok(found.clone()));
    let mut clock = MockClock::new();
    clock.expect_now().return_const(Timestamp::from_secs(1));
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
    let issuers = Federation::new(vec![TrustedIssuer {
        name: IssuerName::parse("k8s").unwrap(),
        issuer: "https://k8s".into(),
        kind: IssuerKind::Oidc,
        algorithms: vec!["ES256".into()],
        audience: "https://grantd".into(),
        max_lifetime_secs: 3600,
        single_use_jti: false,
    }]);
    let fed = FederationPorts {
        issuers: Arc::new(issuers),
        credentials: Arc::new(creds),
        tokens: Arc::new(MockFederatedTokens::new()),
        keys: Arc::new(MockIssuerKeys::new()),
    };
    Admin::new(ports, Arc::new(crate::admin::tests::policy())).with_federation(fed)
}

fn spec(issuer: &str, subject: &str, claims: &[(&str, &str)]) -> NewFederatedCredential {
    NewFederatedCredential {
        issuer: issuer.into(),
        subject: subject.into(),
        claims: claims
            .iter()
            .map(|(n, v)| PinnedClaim {
                name: (*n).into(),
                value_json: (*v).into(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_credential_is_added_with_its_claims_sorted() {
    let mut creds = MockFederatedCredentialStore::new();
    creds
        .expect_add_federated_credential()
        .times(1)
        .withf(|id, c, _| {
            id.as_str() == "wl"
                && c.claims.iter().map(|p| p.name.as_str()).collect::<Vec<_>>() == ["a", "b"]
        })
        .returning(|_, _, _| Ok(()));
    let a = admin(Some(client(AuthMethod::Federated)), creds);
    let got = a
        .add_federated_credential("wl", spec("k8s", "sa:x", &[("b", "1"), ("a", "\"x\"")]))
        .await
        .unwrap();
    assert_eq!(got.subject, "sa:x");
}

#[tokio::test]
async fn refusals_write_nothing() {
    let cases: [(Option<Client>, NewFederatedCredential, &str); 7] = [
        (
            Some(client(AuthMethod::Federated)),
            spec("gh", "s", &[]),
            "unknown issuer",
        ),
        (
            Some(client(AuthMethod::Federated)),
            spec("k8s", "", &[]),
            "subject",
        ),
        (
            Some(client(AuthMethod::Federated)),
            spec("k8s", "a\nb", &[]),
            "subject",
        ),
        (
            Some(client(AuthMethod::Federated)),
            spec("k8s", "s", &[("sub", "\"x\"")]),
            "sub and iss",
        ),
        (
            Some(client(AuthMethod::Federated)),
            spec("k8s", "s", &[("a", "1"), ("a", "2")]),
            "pinned twice",
        ),
        (
            Some(client(AuthMethod::PrivateKeyJwt)),
            spec("k8s", "s", &[]),
            "not federated",
        ),
        (None, spec("k8s", "s", &[]), "no client"),
    ];
    for (found, s, want) in cases {
        let a = admin(found, MockFederatedCredentialStore::new());
        let err = a.add_federated_credential("wl", s).await.unwrap_err();
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}

#[tokio::test]
async fn a_duplicate_is_a_conflict_and_removing_none_is_not_found() {
    let mut creds = MockFederatedCredentialStore::new();
    creds
        .expect_add_federated_credential()
        .returning(|_, _, _| Err(StoreError::Conflict(Constraint::FederatedCredential)));
    creds
        .expect_remove_federated_credential()
        .returning(|_, _, _| Ok(false));
    let a = admin(Some(client(AuthMethod::Federated)), creds);
    assert!(matches!(
        a.add_federated_credential("wl", spec("k8s", "s", &[]))
            .await,
        Err(AdminError::Conflict(
            ConflictKind::FederatedCredential { .. }
        ))
    ));
    assert!(matches!(
        a.remove_federated_credential("wl", "k8s", "s").await,
        Err(AdminError::NotFound(Missing::FederatedCredential { .. }))
    ));
}

#[tokio::test]
async fn without_trusted_issuers_nothing_is_managed() {
    let a = admin(None, MockFederatedCredentialStore::new());
    let mut off = a.clone();
    off.federation = None;
    assert_eq!(
        off.list_federated_credentials("wl").await,
        Err(AdminError::Invalid(InvalidReason::NoTrustedIssuers))
    );
}

/// `grantd apply`'s pre-check: the same refusals as adding (unknown issuer, bad text, a
/// client that is not federated), no store call at all (the mocks expect none).
#[test]
fn a_credential_is_checked_without_a_write() {
    let a = admin(None, MockFederatedCredentialStore::new());
    let ok = a
        .check_federated_credential(
            "wl",
            AuthMethod::Federated,
            spec("k8s", "s", &[("b", "1"), ("a", "2")]),
        )
        .unwrap();
    let names: Vec<&str> = ok.claims.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"], "sorted as stored");
    for (method, s, needle) in [
        (
            AuthMethod::Federated,
            spec("gh", "s", &[]),
            "unknown issuer",
        ),
        (AuthMethod::Federated, spec("k8s", "", &[]), "subject"),
        (
            AuthMethod::ClientSecretBasic,
            spec("k8s", "s", &[]),
            "not federated",
        ),
    ] {
        let got = a.check_federated_credential("wl", method, s);
        let msg = got.map(|_| ()).unwrap_err().to_string();
        assert!(msg.contains(needle), "{msg}");
    }
}
