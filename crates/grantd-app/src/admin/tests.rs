//! Admin use-case tests against mockall mocks: success shapes, every validation failure
//! performing no write (a mock without an expectation panics when called), store failures
//! mapped, secrets kept out of Debug and Display, and `explain` on hand-picked cases.

use std::sync::Arc;

use grantd_domain::{
    Audience, AudienceRules, AuthMethod, Client, ClientId, ClientSecret, GrantType, GrantTypes,
    Owner, OwnerId, RequestContext, ScopeCatalog, ScopeDef, ScopePolicy, SessionId, SessionRecord,
    SessionSource, StoredScopes, SubjectMode, Tier, Timestamp, TokenPolicy, Ttl, UserId,
};
use grantd_ports::{
    GeneratedSecret, HashFailure, MockClientStore, MockClock, MockIdSource, MockSecretHasher,
    MockSessionStore, MockTokenSigner, MockUserStore, SecretError, SecretRejection, SessionCursor,
    SessionFilter, StoreError,
};
use mockall::Sequence;
use mockall::predicate::eq;

use super::*;
use crate::token::Ports;

const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";
const NEW_USER: &str = "11111111-2222-4333-8444-555555555555";
const NOW: i64 = 1_800_000_000;
const PLAINTEXT: &str = "PLAINTEXT-SECRET-0123456789abcdef";
const HASH: &str = "hmac$HASHVALUE";

fn now() -> Timestamp {
    Timestamp::from_micros(NOW * 1_000_000 + 250_000)
}

/// The policy the admin tests run with (also used by the federation tests).
pub(crate) fn policy() -> TokenPolicy {
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

fn owner(roles: &[&str], active: bool) -> Owner {
    Owner {
        id: UserId::parse(OWNER).unwrap(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        roles: StoredScopes::parse(&ScopeCatalog::builtin(), roles),
        active,
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

fn client(scopes: &[&str]) -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: ClientId::parse("svc-a").unwrap(),
        name: "Service A".into(),
        owner_id: OwnerId::parse(OWNER),
        scopes: StoredScopes::parse(&ScopeCatalog::builtin(), scopes),
        grant_types: GrantTypes::parse(&["client_credentials"]),
        auth_method: AuthMethod::ClientSecretBasic,
        active: true,
        secrets: vec![ClientSecret {
            hash: HASH.into(),
            created_at: Timestamp::from_secs(0),
            valid_until: None,
        }],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
    }
}

fn session_record() -> SessionRecord {
    SessionRecord {
        session: grantd_domain::NewSession {
            id: SessionId::parse("sess_00112233445566778899aabbccddeeff").unwrap(),
            user_id: UserId::parse(OWNER).unwrap(),
            client_id: ClientId::parse("svc-a").unwrap(),
            source: SessionSource::Oauth,
            jti: grantd_domain::Jti::parse("j1").unwrap(),
            context: RequestContext::default(),
            created_at: Timestamp::from_secs(NOW),
            expires_at: Timestamp::from_secs(NOW + 900),
            dpop: None,
            assertion_key: None,
            auth: None,
        },
        revoked_at: None,
        revoke_reason: None,
    }
}

/// Mocks with no expectations beyond the clock: any store write, hash or id nobody expected
/// fails the test.
struct Fx {
    clients: MockClientStore,
    users: MockUserStore,
    sessions: MockSessionStore,
    secrets: MockSecretHasher,
    ids: MockIdSource,
    assertions: grantd_ports::MockClientAssertions,
    policy: TokenPolicy,
}

impl Fx {
    fn new() -> Self {
        Self {
            clients: MockClientStore::new(),
            users: MockUserStore::new(),
            sessions: MockSessionStore::new(),
            secrets: MockSecretHasher::new(),
            ids: MockIdSource::new(),
            assertions: grantd_ports::MockClientAssertions::new(),
            policy: policy(),
        }
    }

    fn with_owner(mut self, o: Option<Owner>) -> Self {
        self.users
            .expect_find_user()
            .returning(move |_| Ok(o.clone()));
        self
    }

    fn with_client(mut self, c: Option<Client>) -> Self {
        self.clients
            .expect_find_client()
            .returning(move |_| Ok(c.clone()));
        self
    }

    fn with_generated_secret(mut self) -> Self {
        self.secrets
            .expect_generate()
            .times(1)
            .returning(|| GeneratedSecret {
                plaintext: PLAINTEXT.into(),
                hash: HASH.into(),
            });
        self
    }

    fn admin(self) -> Admin {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let ports = Ports {
            clients: Arc::new(self.clients),
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            // Admin never signs: a call would panic.
            signer: Arc::new(MockTokenSigner::new()),
            secrets: Arc::new(self.secrets),
            clock: Arc::new(clock),
            ids: Arc::new(self.ids),
            // Admin checks no assertion; it only reads JWKS documents for registration.
            assertions: Arc::new(self.assertions),
            remote_keys: Arc::new(grantd_ports::MockRemoteKeys::new()),
            dpop: Arc::new(grantd_ports::MockDpopProofs::new()),
        };
        Admin::new(ports, Arc::new(self.policy))
    }
}

fn user_spec(name: &str, email: &str, roles: &[&str]) -> NewUserSpec {
    NewUserSpec {
        name: name.into(),
        email: email.into(),
        roles: roles.iter().map(|s| s.to_string()).collect(),
    }
}

fn client_spec(scopes: &[&str]) -> NewClientSpec {
    NewClientSpec {
        name: "Orders service".into(),
        owner: OWNER.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        auth_method: AuthMethod::ClientSecretPost,
        grant_types: vec![],
        supplied_secret: None,
        limits: Default::default(),
        keys: Default::default(),
        dpop: grantd_domain::DpopPolicy::Optional,
    }
}

fn assert_invalid<T: std::fmt::Debug>(got: Result<T, AdminError>, needle: &str, what: &str) {
    match got {
        Err(e @ AdminError::Invalid(_)) => {
            let m = e.to_string();
            assert!(m.contains(needle), "{what}: {m:?} lacks {needle:?}")
        }
        other => panic!("{what}: expected Invalid({needle}), got {other:?}"),
    }
}

/// Whether a store failure came out as the right `AdminError` variant.
type IsMapped = fn(&AdminError) -> bool;

fn store_errors() -> [(StoreError, IsMapped); 3] {
    [
        (
            StoreError::Unavailable(grantd_ports::Unavailable::PoolTimeout),
            |e| matches!(e, AdminError::Unavailable(_)),
        ),
        (
            StoreError::Internal(grantd_ports::Internal::Database),
            |e| matches!(e, AdminError::Internal(_)),
        ),
        (
            StoreError::Invalid(grantd_ports::InvalidInput::Field {
                field: "user name",
                problem: grantd_ports::Problem::NulByte,
            }),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
    ]
}

mod changes;
mod client_keys;
mod clients;
mod explain;
mod plan;
mod sessions;
mod transaction;
mod users;

// ---------- errors ----------

#[test]
fn errors_display_on_one_line() {
    // What is being done is program text, but nothing stops it holding a control character.
    let failure = |doing| StoreFailure {
        doing,
        cause: StoreError::Internal(grantd_ports::Internal::Database),
    };
    let cases = [
        (
            AdminError::Invalid(InvalidReason::Store(failure("a\nb"))),
            "invalid input: a b: store failure: database error",
        ),
        (
            AdminError::NotFound(Missing::Store(failure("x"))),
            "not found: x: store failure: database error",
        ),
        (
            AdminError::Conflict(ConflictKind::Store(failure("x"))),
            "conflict: x: store failure: database error",
        ),
        (
            AdminError::Unavailable(failure("x\r\n")),
            "store unavailable: x  : store failure: database error",
        ),
        (
            AdminError::Internal(InternalCause::Store(failure("x\ty"))),
            "internal error: x y: store failure: database error",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}

#[tokio::test]
async fn echoed_input_is_bounded_and_escaped() {
    let long = format!("{}@x", "é".repeat(500));
    let got = Fx::new()
        .admin()
        .create_user(user_spec("Ada", &long, &[]))
        .await
        .unwrap_err()
        .to_string();
    assert!(got.chars().count() < 200, "{got}");
    let got = Fx::new()
        .admin()
        .create_user(user_spec("Ada", "a\n@b", &[]))
        .await
        .unwrap_err()
        .to_string();
    assert!(!got.contains('\n') && got.contains("a\\n@b"), "{got}");
}
