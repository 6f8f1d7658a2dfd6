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
    GeneratedSecret, MockClientStore, MockClock, MockIdSource, MockSecretHasher, MockSessionStore,
    MockTokenSigner, MockUserStore, SecretError, SessionCursor, SessionFilter, StoreError,
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
            // Admin never checks a proof.
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
    }
}

fn assert_invalid<T: std::fmt::Debug>(got: Result<T, AdminError>, needle: &str, what: &str) {
    match got {
        Err(AdminError::Invalid(m)) => {
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

// ---------- users ----------

#[tokio::test]
async fn create_user_writes_an_active_owner() {
    let mut fx = Fx::new();
    fx.ids
        .expect_user_id()
        .times(1)
        .returning(|| UserId::parse(NEW_USER).unwrap());
    fx.users
        .expect_create_user()
        .withf(|u| u.id.as_str() == NEW_USER && u.roles.names() == ["admin", "user"] && u.active)
        .times(1)
        .returning(|_| Ok(()));
    let got = fx
        .admin()
        .create_user(user_spec(
            "  Ada Lovelace ",
            "ada@example.com",
            &["admin", "user admin"],
        ))
        .await
        .unwrap();
    let want = Owner {
        id: UserId::parse(NEW_USER).unwrap(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        roles: StoredScopes::parse(&ScopeCatalog::builtin(), &["admin", "user"]),
        active: true,
        created_at: now(),
        updated_at: now(),
    };
    assert_eq!(got, want);
}

#[tokio::test]
async fn create_user_without_roles_is_fine() {
    let mut fx = Fx::new();
    fx.ids
        .expect_user_id()
        .returning(|| UserId::parse(NEW_USER).unwrap());
    fx.users.expect_create_user().times(1).returning(|_| Ok(()));
    let got = fx
        .admin()
        .create_user(user_spec("Bob", "bob@example.com", &[]))
        .await
        .unwrap();
    assert!(got.roles.is_empty());
}

/// Each bad input is refused before an id is drawn or anything is written.
#[tokio::test]
async fn create_user_validation_writes_nothing() {
    let long_name = "n".repeat(201);
    let long_email = format!("{}@example.com", "a".repeat(310));
    let cases: Vec<(NewUserSpec, &str)> = vec![
        (user_spec("", "a@b.c", &[]), "name must not be blank"),
        (user_spec(" \t ", "a@b.c", &[]), "name must not be blank"),
        (user_spec(&long_name, "a@b.c", &[]), "at most 200"),
        (user_spec("A\u{7}da", "a@b.c", &[]), "control characters"),
        (user_spec("Ada", "ada.example.com", &[]), "exactly one @"),
        (user_spec("Ada", "a@b@c", &[]), "exactly one @"),
        (user_spec("Ada", "@example.com", &[]), "exactly one @"),
        (user_spec("Ada", "ada@", &[]), "exactly one @"),
        (user_spec("Ada", "ada @example.com", &[]), "spaces"),
        (user_spec("Ada", "ada@example.com\n", &[]), "spaces"),
        (user_spec("Ada", "", &[]), "exactly one @"),
        (user_spec("Ada", &long_email, &[]), "320"),
        (
            user_spec("Ada", "a@b.c", &["bogus"]),
            "unknown role \"bogus\"",
        ),
        (
            user_spec("Ada", "a@b.c", &["admin Admin"]),
            "unknown role \"Admin\"",
        ),
        (user_spec("Ada", "a@b.c", &["\"admin\""]), "malformed role"),
        (user_spec("Ada", "a@b.c", &["admin", " "]), "empty role"),
        (
            user_spec("Ada", "a@b.c", &["admin", "service"]),
            "role \"service\" is a service-tier scope",
        ),
        (
            user_spec("Ada", "a@b.c", &["hook:track"]),
            "delegated scopes (admin, user, anonymous)",
        ),
    ];
    for (spec, needle) in cases {
        let what = format!("{spec:?}");
        let got = Fx::new().admin().create_user(spec).await;
        assert_invalid(got, needle, &what);
    }
}

#[tokio::test]
async fn create_user_custom_delegated_scope_is_a_valid_role() {
    let mut fx = Fx::new();
    fx.policy.catalog = ScopeCatalog::with_custom([
        ScopeDef::new("orders:approve", Tier::Delegated, 60, None).unwrap(),
        ScopeDef::new("orders:read", Tier::Service, 25, None).unwrap(),
    ])
    .unwrap();
    fx.ids
        .expect_user_id()
        .returning(|| UserId::parse(NEW_USER).unwrap());
    fx.users.expect_create_user().times(1).returning(|_| Ok(()));
    let admin = fx.admin();
    let got = admin
        .create_user(user_spec("Ada", "a@b.c", &["orders:approve"]))
        .await
        .unwrap();
    assert_eq!(got.roles.names(), ["orders:approve"]);
    assert_invalid(
        admin
            .create_user(user_spec("Ada", "a@b.c", &["orders:read"]))
            .await,
        "service-tier",
        "custom service scope",
    );
}

#[tokio::test]
async fn create_user_store_errors() {
    let mut fx = Fx::new();
    fx.ids
        .expect_user_id()
        .returning(|| UserId::parse(NEW_USER).unwrap());
    fx.users
        .expect_create_user()
        .returning(|_| Err(StoreError::Conflict(grantd_ports::Constraint::UserEmail)));
    let got = fx
        .admin()
        .create_user(user_spec("Ada", "ada@example.com", &[]))
        .await;
    assert_eq!(
        got,
        Err(AdminError::Conflict(
            "email already registered: \"ada@example.com\"".into()
        ))
    );

    for (err, is_mapped) in store_errors() {
        let mut fx = Fx::new();
        fx.ids
            .expect_user_id()
            .returning(|| UserId::parse(NEW_USER).unwrap());
        let e = err.clone();
        fx.users
            .expect_create_user()
            .returning(move |_| Err(e.clone()));
        let got = fx
            .admin()
            .create_user(user_spec("Ada", "ada@example.com", &[]))
            .await
            .unwrap_err();
        assert!(is_mapped(&got), "{err:?} -> {got:?}");
    }
}

#[tokio::test]
async fn list_and_show_users() {
    let mut fx = Fx::new().with_owner(Some(owner(&["user"], true)));
    fx.users
        .expect_list_users()
        .times(1)
        .returning(|| Ok(vec![owner(&[], true)]));
    let admin = fx.admin();
    assert_eq!(admin.list_users().await, Ok(vec![owner(&[], true)]));
    // Any case is accepted, as UserId::parse does.
    assert_eq!(
        admin.show_user(&OWNER.to_ascii_uppercase()).await,
        Ok(owner(&["user"], true))
    );

    let admin = Fx::new().with_owner(None).admin();
    assert!(matches!(
        admin.show_user(OWNER).await,
        Err(AdminError::NotFound(m)) if m.contains(OWNER)
    ));

    // Malformed id: refused before any lookup (no find_user expectation).
    assert_invalid(
        Fx::new().admin().show_user("not-a-uuid").await,
        "user id",
        "bad uuid",
    );

    let mut fx = Fx::new();
    fx.users.expect_list_users().returning(|| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.admin().list_users().await,
        Err(AdminError::Unavailable(_))
    ));
}

#[tokio::test]
async fn set_user_active_updates_then_reloads() {
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.users
        .expect_set_user_active()
        .with(eq(UserId::parse(OWNER).unwrap()), eq(false), eq(now()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(true));
    fx.users
        .expect_find_user()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(owner(&[], false))));
    assert_eq!(
        fx.admin().set_user_active(OWNER, false).await,
        Ok(owner(&[], false))
    );

    let mut fx = Fx::new();
    fx.users
        .expect_set_user_active()
        .returning(|_, _, _| Ok(false));
    assert!(matches!(
        fx.admin().set_user_active(OWNER, true).await,
        Err(AdminError::NotFound(_))
    ));

    assert_invalid(
        Fx::new().admin().set_user_active("42", true).await,
        "user id",
        "bad uuid",
    );

    let mut fx = Fx::new();
    fx.users.expect_set_user_active().returning(|_, _, _| {
        Err(StoreError::Unavailable(grantd_ports::Unavailable::Sqlite(
            grantd_ports::SqliteCondition::Locked,
        )))
    });
    assert!(matches!(
        fx.admin().set_user_active(OWNER, true).await,
        Err(AdminError::Unavailable(_))
    ));
}

// ---------- clients ----------

#[tokio::test]
async fn create_client_generates_a_secret_and_warns_about_unheld_delegated_scopes() {
    let mut fx = Fx::new()
        .with_owner(Some(owner(&["user"], true)))
        .with_generated_secret();
    fx.ids
        .expect_client_id()
        .times(1)
        .returning(|| ClientId::parse("cl_new").unwrap());
    fx.clients
        .expect_create_client()
        .withf(|c| c.id.as_str() == "cl_new" && c.secrets.len() == 1)
        .times(1)
        .returning(|_| Ok(()));
    let got = fx
        .admin()
        .create_client(client_spec(&[
            "service mcp",
            "admin",
            "mcp  user",
            "service",
        ]))
        .await
        .unwrap();
    let want = Client {
        id: ClientId::parse("cl_new").unwrap(),
        name: "Orders service".into(),
        owner_id: OwnerId::parse(OWNER),
        scopes: StoredScopes::parse(
            &ScopeCatalog::builtin(),
            &["service", "mcp", "admin", "user"],
        ),
        grant_types: GrantTypes::parse(&["client_credentials"]),
        auth_method: AuthMethod::ClientSecretPost,
        active: true,
        secrets: vec![ClientSecret {
            hash: HASH.into(),
            created_at: now(),
            valid_until: None,
        }],
        created_at: now(),
        updated_at: now(),
    };
    assert_eq!(got.client, want);
    assert_eq!(got.secret_plaintext, PLAINTEXT);
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("scope admin is delegated"));

    let debug = format!("{got:?}");
    assert!(
        !debug.contains(PLAINTEXT) && !debug.contains("HASHVALUE"),
        "{debug}"
    );
}

#[tokio::test]
async fn create_client_with_a_supplied_secret_hashes_it_and_never_generates() {
    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    fx.secrets
        .expect_hash_supplied()
        .with(eq("migrated+secret%with:colons"))
        .times(1)
        .returning(|_| Ok("argon2id$SLOWHASH".into()));
    fx.ids
        .expect_client_id()
        .returning(|| ClientId::parse("cl_new").unwrap());
    fx.clients
        .expect_create_client()
        .withf(|c| {
            c.secrets.len() == 1
                && c.secrets[0].hash == "argon2id$SLOWHASH"
                && c.grant_types.names() == ["client_credentials"]
                && c.auth_method == AuthMethod::ClientSecretBasic
        })
        .times(1)
        .returning(|_| Ok(()));
    let spec = NewClientSpec {
        supplied_secret: Some("migrated+secret%with:colons".into()),
        grant_types: vec![GrantType::ClientCredentials, GrantType::ClientCredentials],
        auth_method: AuthMethod::ClientSecretBasic,
        ..client_spec(&["mcp"])
    };
    assert!(!format!("{spec:?}").contains("migrated+secret"));
    let got = fx.admin().create_client(spec).await.unwrap();
    assert_eq!(got.secret_plaintext, "migrated+secret%with:colons");
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
}

/// Bad input is refused before the owner is looked up, a secret is made, or a row written.
#[tokio::test]
async fn create_client_validation_writes_nothing() {
    let cases: Vec<(NewClientSpec, &str)> = vec![
        (
            NewClientSpec {
                name: "  ".into(),
                ..client_spec(&["mcp"])
            },
            "client name must not be blank",
        ),
        (
            NewClientSpec {
                name: "x".repeat(201),
                ..client_spec(&["mcp"])
            },
            "at most 200",
        ),
        (
            NewClientSpec {
                owner: "owner-7".into(),
                ..client_spec(&["mcp"])
            },
            "user id",
        ),
        (client_spec(&["mcp bogus"]), "unknown scope \"bogus\""),
        (client_spec(&["mcp", "MCP"]), "unknown scope \"MCP\""),
        (client_spec(&["mcp \"x\""]), "malformed scope"),
        (client_spec(&[]), "at least one scope"),
        (client_spec(&["", " \t"]), "at least one scope"),
        (client_spec(&["mcp\tservice"]), "tab (%x09)"),
    ];
    for (spec, needle) in cases {
        let what = format!("{spec:?}");
        let got = Fx::new().admin().create_client(spec).await;
        assert_invalid(got, needle, &what);
    }
}

#[tokio::test]
async fn create_client_for_a_missing_owner_writes_nothing() {
    let got = Fx::new()
        .with_owner(None)
        .admin()
        .create_client(client_spec(&["mcp"]))
        .await;
    assert!(
        matches!(&got, Err(AdminError::NotFound(m)) if m.contains(OWNER)),
        "{got:?}"
    );
}

#[tokio::test]
async fn create_client_with_a_rejected_secret_writes_nothing() {
    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    // An adapter that (wrongly) echoes the secret: it must still not reach the error.
    fx.secrets
        .expect_hash_supplied()
        .returning(|p| Err(SecretError::Rejected(format!("too short: {p}"))));
    let spec = NewClientSpec {
        supplied_secret: Some("shortSECRET".into()),
        ..client_spec(&["mcp"])
    };
    let got = fx.admin().create_client(spec).await.unwrap_err();
    assert!(matches!(&got, AdminError::Invalid(_)), "{got:?}");
    assert!(!got.to_string().contains("shortSECRET"), "{got}");
    assert!(!format!("{got:?}").contains("shortSECRET"), "{got:?}");
    assert!(got.to_string().contains("too short"), "{got}");

    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    fx.secrets
        .expect_hash_supplied()
        .returning(|_| Err(SecretError::Failed("out of memory".into())));
    let spec = NewClientSpec {
        supplied_secret: Some("long-enough-secret-1234".into()),
        ..client_spec(&["mcp"])
    };
    assert!(matches!(
        fx.admin().create_client(spec).await,
        Err(AdminError::Internal(_))
    ));
}

#[tokio::test]
async fn create_client_store_errors() {
    let mut cases: Vec<(StoreError, IsMapped)> = vec![
        (
            StoreError::Conflict(grantd_ports::Constraint::ClientId),
            |e| matches!(e, AdminError::Conflict(m) if m.contains("cl_new")),
        ),
        (
            StoreError::NotFound(grantd_ports::Missing::Referenced(
                grantd_ports::Constraint::ClientOwner,
            )),
            |e| matches!(e, AdminError::NotFound(m) if m.contains(OWNER)),
        ),
    ];
    cases.extend(store_errors());
    for (err, is_mapped) in cases {
        let mut fx = Fx::new()
            .with_owner(Some(owner(&[], true)))
            .with_generated_secret();
        fx.ids
            .expect_client_id()
            .returning(|| ClientId::parse("cl_new").unwrap());
        let e = err.clone();
        fx.clients
            .expect_create_client()
            .times(1)
            .returning(move |_| Err(e.clone()));
        let got = fx
            .admin()
            .create_client(client_spec(&["mcp"]))
            .await
            .unwrap_err();
        assert!(is_mapped(&got), "{err:?} -> {got:?}");
        assert!(!got.to_string().contains(PLAINTEXT));
    }
}

#[tokio::test]
async fn create_client_warns_about_an_inactive_owner_and_unreachable_audiences() {
    let mut fx = Fx::new()
        .with_owner(Some(owner(&["admin"], false)))
        .with_generated_secret();
    fx.policy.catalog = ScopeCatalog::with_custom([ScopeDef::new(
        "orders:read",
        Tier::Service,
        25,
        Some(Audience::parse("orders")),
    )
    .unwrap()])
    .unwrap();
    fx.ids
        .expect_client_id()
        .returning(|| ClientId::parse("cl_new").unwrap());
    fx.clients.expect_create_client().returning(|_| Ok(()));
    let got = fx
        .admin()
        .create_client(client_spec(&["admin orders:read hook:track"]))
        .await
        .unwrap();
    // hook is always allowed, so hook:track draws no warning; admin is held.
    assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("inactive"));
    assert!(got.warnings[1].contains("orders:read requires audience orders"));
}

#[tokio::test]
async fn list_show_and_toggle_clients() {
    let mut fx = Fx::new().with_client(Some(client(&["mcp"])));
    fx.clients
        .expect_list_clients()
        .times(1)
        .returning(|| Ok(vec![client(&["mcp"])]));
    let admin = fx.admin();
    assert_eq!(admin.list_clients().await, Ok(vec![client(&["mcp"])]));
    assert_eq!(admin.show_client("svc-a").await, Ok(client(&["mcp"])));

    assert!(matches!(
        Fx::new().with_client(None).admin().show_client("svc-b").await,
        Err(AdminError::NotFound(m)) if m.contains("svc-b")
    ));
    assert_invalid(
        Fx::new().admin().show_client("bad id!").await,
        "client id",
        "bad id",
    );

    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.clients
        .expect_set_client_active()
        .with(eq(ClientId::parse("svc-a").unwrap()), eq(false), eq(now()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(true));
    fx.clients
        .expect_find_client()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Ok(Some(Client {
                active: false,
                ..client(&["mcp"])
            }))
        });
    let got = fx.admin().set_client_active("svc-a", false).await.unwrap();
    assert!(!got.active);

    let mut fx = Fx::new();
    fx.clients
        .expect_set_client_active()
        .returning(|_, _, _| Ok(false));
    assert!(matches!(
        fx.admin().set_client_active("svc-a", true).await,
        Err(AdminError::NotFound(_))
    ));
    assert_invalid(
        Fx::new().admin().set_client_active("a/b", true).await,
        "client id",
        "bad id",
    );

    let mut fx = Fx::new();
    fx.clients
        .expect_list_clients()
        .returning(|| Err(StoreError::Internal(grantd_ports::Internal::Database)));
    assert!(matches!(
        fx.admin().list_clients().await,
        Err(AdminError::Internal(_))
    ));
}

#[tokio::test]
async fn rotate_secret_adds_a_current_secret_and_bounds_the_old_one() {
    let mut fx = Fx::new().with_generated_secret();
    fx.clients
        .expect_rotate_secret()
        .withf(|id, s, until| {
            id.as_str() == "svc-a"
                && s.hash == HASH
                && s.created_at == now()
                && s.valid_until.is_none()
                && *until == now().plus_secs(600)
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    let got = fx.admin().rotate_secret("svc-a", 600).await.unwrap();
    assert_eq!(got.client_id.as_str(), "svc-a");
    assert_eq!(got.secret_plaintext, PLAINTEXT);
    assert_eq!(got.previous_valid_until, now().plus_secs(600));
    assert!(!format!("{got:?}").contains(PLAINTEXT));

    // The longest grace is accepted, zero ends the old secret now.
    for grace in [0, Admin::MAX_GRACE_SECS] {
        let mut fx = Fx::new().with_generated_secret();
        fx.clients
            .expect_rotate_secret()
            .withf(move |_, _, until| *until == now().plus_secs(grace as i64))
            .times(1)
            .returning(|_, _, _| Ok(true));
        assert!(fx.admin().rotate_secret("svc-a", grace).await.is_ok());
    }
}

#[tokio::test]
async fn rotate_secret_refusals() {
    // Too long a grace, or a malformed id: refused before a secret is made or written.
    for grace in [Admin::MAX_GRACE_SECS + 1, u64::MAX] {
        assert_invalid(
            Fx::new().admin().rotate_secret("svc-a", grace).await,
            "at most 2592000 seconds",
            "grace",
        );
    }
    assert_invalid(
        Fx::new().admin().rotate_secret("", 0).await,
        "client id",
        "empty id",
    );

    let mut fx = Fx::new().with_generated_secret();
    fx.clients
        .expect_rotate_secret()
        .returning(|_, _, _| Ok(false));
    let got = fx.admin().rotate_secret("svc-z", 60).await.unwrap_err();
    assert!(matches!(&got, AdminError::NotFound(m) if m.contains("svc-z")));
    assert!(!got.to_string().contains(PLAINTEXT));

    for (err, is_mapped) in store_errors() {
        let mut fx = Fx::new().with_generated_secret();
        let e = err.clone();
        fx.clients
            .expect_rotate_secret()
            .returning(move |_, _, _| Err(e.clone()));
        let got = fx.admin().rotate_secret("svc-a", 60).await.unwrap_err();
        assert!(is_mapped(&got), "{err:?} -> {got:?}");
        assert!(!format!("{got} {got:?}").contains(PLAINTEXT));
    }
}

// ---------- sessions ----------

#[tokio::test]
async fn list_sessions_parses_the_filter_and_defaults_the_limit() {
    let mut fx = Fx::new();
    fx.sessions
        .expect_list_sessions()
        .with(eq(SessionFilter {
            limit: 50,
            ..Default::default()
        }))
        .times(1)
        .returning(|_| Ok(vec![session_record()]));
    assert_eq!(
        fx.admin().list_sessions(SessionQuery::default()).await,
        Ok(vec![session_record()])
    );

    let mut fx = Fx::new();
    fx.sessions
        .expect_list_sessions()
        .with(eq(SessionFilter {
            client_id: Some(ClientId::parse("svc-a").unwrap()),
            user_id: Some(UserId::parse(OWNER).unwrap()),
            since: Some(Timestamp::from_secs(10)),
            until: Some(Timestamp::from_secs(20)),
            after: None,
            limit: 10_000,
        }))
        .times(1)
        .returning(|_| Ok(vec![]));
    let q = SessionQuery {
        client_id: Some("svc-a".into()),
        user_id: Some(OWNER.to_ascii_uppercase()),
        since: Some(Timestamp::from_secs(10)),
        until: Some(Timestamp::from_secs(20)),
        limit: Some(10_000),
        ..Default::default()
    };
    assert_eq!(fx.admin().list_sessions(q).await, Ok(vec![]));

    let mut fx = Fx::new();
    fx.sessions.expect_list_sessions().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.admin().list_sessions(SessionQuery::default()).await,
        Err(AdminError::Unavailable(_))
    ));
}

#[tokio::test]
async fn list_sessions_after_a_session_starts_at_its_position() {
    let record = session_record();
    let id = record.session.id.clone();
    let mut fx = Fx::new();
    let found = record.clone();
    fx.sessions
        .expect_find_session()
        .with(eq(id.clone()))
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    fx.sessions
        .expect_list_sessions()
        .with(eq(SessionFilter {
            after: Some(SessionCursor {
                created_at: record.session.created_at,
                id: id.clone(),
            }),
            limit: 50,
            ..Default::default()
        }))
        .times(1)
        .returning(|_| Ok(vec![]));
    let q = SessionQuery {
        after: Some(id.to_string()),
        ..Default::default()
    };
    assert_eq!(fx.admin().list_sessions(q.clone()).await, Ok(vec![]));

    // An unknown session is an error, never an empty page.
    let mut fx = Fx::new();
    fx.sessions.expect_find_session().returning(|_| Ok(None));
    assert!(matches!(
        fx.admin().list_sessions(q.clone()).await,
        Err(AdminError::NotFound(_))
    ));
    let mut fx = Fx::new();
    fx.sessions.expect_find_session().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.admin().list_sessions(q).await,
        Err(AdminError::Unavailable(_))
    ));
}

#[tokio::test]
async fn list_sessions_refusals_query_nothing() {
    let cases = [
        (
            SessionQuery {
                limit: Some(0),
                ..Default::default()
            },
            "limit must be between 1 and 10000",
        ),
        (
            SessionQuery {
                limit: Some(10_001),
                ..Default::default()
            },
            "limit must be between 1 and 10000",
        ),
        (
            SessionQuery {
                client_id: Some("no spaces allowed".into()),
                ..Default::default()
            },
            "client id",
        ),
        (
            SessionQuery {
                user_id: Some("nobody".into()),
                ..Default::default()
            },
            "user id",
        ),
        (
            SessionQuery {
                after: Some("sess_nope".into()),
                ..Default::default()
            },
            "session id",
        ),
        (
            SessionQuery {
                since: Some(Timestamp::from_secs(20)),
                until: Some(Timestamp::from_secs(20)),
                ..Default::default()
            },
            "--since must be earlier than --until",
        ),
    ];
    for (q, needle) in cases {
        let what = format!("{q:?}");
        assert_invalid(Fx::new().admin().list_sessions(q).await, needle, &what);
    }
}

/// A record created at `secs`, with an id that sorts by `n`.
fn record_at(secs: i64, n: u8) -> SessionRecord {
    let mut r = session_record();
    r.session.created_at = Timestamp::from_secs(secs);
    r.session.id = SessionId::from_bytes([n; 16]);
    r
}

#[tokio::test]
async fn export_reads_page_after_page_from_the_last_row() {
    // 2,500 rows: pages of 1000, each starting after the previous page's last row.
    let rows: Vec<SessionRecord> = (0..2500).map(|i| record_at(5000 - i, 1)).collect();
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    for (start, len) in [(0usize, 1000usize), (1000, 1000), (2000, 500)] {
        let page = rows[start..start + len].to_vec();
        let after = start.checked_sub(1).map(|i| SessionCursor::of(&rows[i]));
        fx.sessions
            .expect_list_sessions()
            .with(eq(SessionFilter {
                client_id: Some(ClientId::parse("svc-a").unwrap()),
                after,
                limit: 1000,
                ..Default::default()
            }))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(page.clone()));
    }
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery {
            client_id: Some("svc-a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(page) = export.next_page().await.unwrap() {
        assert!(page.len() <= 1000);
        got.extend(page);
    }
    assert_eq!(got, rows);
    // Finished: no further read.
    assert_eq!(export.next_page().await, Ok(None));
}

#[tokio::test]
async fn export_stops_at_its_limit_and_on_an_empty_page() {
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    for (limit, n) in [(1000u32, 1000i64), (200, 200)] {
        fx.sessions
            .expect_list_sessions()
            .withf(move |f| f.limit == limit)
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok((0..n).map(|i| record_at(9000 - i, 2)).collect()));
    }
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery {
            limit: Some(1200),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut total = 0;
    while let Some(page) = export.next_page().await.unwrap() {
        total += page.len();
    }
    assert_eq!(total, 1200);

    // A full page followed by nothing.
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.sessions
        .expect_list_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok((0..1000).map(|i| record_at(9000 - i, 3)).collect()));
    fx.sessions
        .expect_list_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(vec![]));
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery::default())
        .await
        .unwrap();
    assert_eq!(
        export.next_page().await.unwrap().map(|p| p.len()),
        Some(1000)
    );
    assert_eq!(export.next_page().await, Ok(None));

    // Store failure mid-export; a zero limit is refused before any read.
    let mut fx = Fx::new();
    fx.sessions.expect_list_sessions().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    let mut export = fx
        .admin()
        .export_sessions(SessionQuery::default())
        .await
        .unwrap();
    assert!(matches!(
        export.next_page().await,
        Err(AdminError::Unavailable(_))
    ));
    let zero = SessionQuery {
        limit: Some(0),
        ..Default::default()
    };
    assert_invalid(
        Fx::new().admin().export_sessions(zero).await,
        "at least 1",
        "limit 0",
    );
}

#[tokio::test]
async fn purge_applies_the_retention_and_loops_until_a_short_batch() {
    let week = std::time::Duration::from_secs(7 * 86_400);
    for (batches, total) in [
        (vec![500, 500, 7], 1007u64),
        (vec![500, 0], 500),
        (vec![0], 0),
        (vec![499], 499),
    ] {
        let mut fx = Fx::new();
        let mut seq = Sequence::new();
        for n in batches.clone() {
            fx.sessions
                .expect_purge_sessions()
                // Expired more than the retention ago, not merely expired.
                .with(eq(now().minus_secs(7 * 86_400)), eq(500u32))
                .times(1)
                .in_sequence(&mut seq)
                .returning(move |_, _| Ok(n));
        }
        assert_eq!(
            fx.admin()
                .purge_sessions(PurgeCutoff::Retention(week))
                .await,
            Ok(total),
            "{batches:?}"
        );
    }

    // No retention: everything expired goes; a huge one reaches back as far as time goes
    // (it never wraps into the future).
    for (keep, before) in [
        (std::time::Duration::ZERO, now()),
        (std::time::Duration::MAX, now().minus_secs(i64::MAX)),
    ] {
        let mut fx = Fx::new();
        fx.sessions
            .expect_purge_sessions()
            .with(eq(before), eq(500u32))
            .times(1)
            .returning(|_, _| Ok(0));
        assert_eq!(
            fx.admin()
                .purge_sessions(PurgeCutoff::Retention(keep))
                .await,
            Ok(0),
            "{keep:?}"
        );
    }
}

#[tokio::test]
async fn purge_before_a_given_time_never_reaches_the_future() {
    let before = now().minus_secs(3600);
    let mut fx = Fx::new();
    fx.sessions
        .expect_purge_sessions()
        .with(eq(before), eq(500u32))
        .times(1)
        .returning(|_, _| Ok(3));
    assert_eq!(
        fx.admin().purge_sessions(PurgeCutoff::Before(before)).await,
        Ok(3)
    );

    // The cut-off may be now, but not later.
    let mut fx = Fx::new();
    fx.sessions
        .expect_purge_sessions()
        .times(1)
        .returning(|_, _| Ok(3));
    assert_eq!(
        fx.admin().purge_sessions(PurgeCutoff::Before(now())).await,
        Ok(3)
    );
    assert_invalid(
        Fx::new()
            .admin()
            .purge_sessions(PurgeCutoff::Before(now().plus_secs(1)))
            .await,
        "future",
        "future cut-off",
    );

    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.sessions
        .expect_purge_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(500));
    fx.sessions
        .expect_purge_sessions()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| {
            Err(StoreError::Unavailable(grantd_ports::Unavailable::Sqlite(
                grantd_ports::SqliteCondition::Locked,
            )))
        });
    assert!(matches!(
        fx.admin().purge_sessions(PurgeCutoff::Before(now())).await,
        Err(AdminError::Unavailable(_))
    ));
}

// ---------- explain ----------

fn row(
    name: &str,
    tier: Tier,
    level: u16,
    grant_owner: (bool, bool),
    audience: (Option<&str>, Option<bool>),
    verdict: Verdict,
) -> ScopeExplanation {
    ScopeExplanation {
        name: name.into(),
        tier,
        level,
        in_client_grant: grant_owner.0,
        held_by_owner: grant_owner.1,
        audience_required: audience.0.map(String::from),
        audience_met: audience.1,
        verdict: verdict.as_str().into(),
    }
}

fn refused(error: &str, description: &str) -> ExplainOutcome {
    ExplainOutcome::Err {
        error: error.into(),
        description: description.into(),
    }
}

#[tokio::test]
async fn explain_a_granted_request() {
    let admin = Fx::new()
        .with_client(Some(client(&["service", "admin", "mcp"])))
        .with_owner(Some(owner(&["admin"], true)))
        .admin();
    let got = admin
        .explain("svc-a", Some("mcp admin user"), None)
        .await
        .unwrap();
    assert_eq!(
        got,
        Explanation {
            client_id: "svc-a".into(),
            client_active: Some(true),
            owner_id: Some(OWNER.into()),
            owner_active: Some(true),
            scopes: vec![
                row(
                    "mcp",
                    Tier::Service,
                    20,
                    (true, false),
                    (None, None),
                    Verdict::Granted
                ),
                row(
                    "admin",
                    Tier::Delegated,
                    100,
                    (true, true),
                    (None, None),
                    Verdict::Granted
                ),
                row(
                    "user",
                    Tier::Delegated,
                    50,
                    (false, false),
                    (None, None),
                    Verdict::NotInClientGrant
                ),
            ],
            outcome: ExplainOutcome::Ok {
                scope: "admin mcp".into(),
                audience: vec!["api".into()],
            },
        }
    );
}

#[tokio::test]
async fn explain_a_refusal_names_the_short_side() {
    let mut fx = Fx::new()
        .with_client(Some(client(&["service", "admin"])))
        .with_owner(Some(owner(&["user"], true)));
    fx.policy.scope_policy = ScopePolicy::Strict;
    let got = fx
        .admin()
        .explain("svc-a", Some("admin service"), None)
        .await
        .unwrap();
    assert_eq!(
        got.scopes,
        vec![
            row(
                "admin",
                Tier::Delegated,
                100,
                (true, false),
                (None, None),
                Verdict::NotHeldByOwner
            ),
            row(
                "service",
                Tier::Service,
                40,
                (true, false),
                (None, None),
                Verdict::NotIssued
            ),
        ]
    );
    assert_eq!(
        got.outcome,
        refused("invalid_scope", "delegated scopes not held by owner: admin")
    );
}

#[tokio::test]
async fn explain_audience_bound_scopes() {
    let admin = Fx::new()
        .with_client(Some(client(&["hook:track", "mcp"])))
        .with_owner(Some(owner(&[], true)))
        .admin();
    let got = admin.explain("svc-a", None, None).await.unwrap();
    assert_eq!(
        got.scopes[0],
        row(
            "hook:track",
            Tier::Service,
            15,
            (true, false),
            (Some("hook"), Some(false)),
            Verdict::AudienceMissing
        )
    );
    assert_eq!(
        got.outcome,
        refused(
            "invalid_scope",
            "hook scopes require audience=hook (hook:track)"
        )
    );

    let got = admin.explain("svc-a", None, Some("hook")).await.unwrap();
    assert_eq!(got.scopes[0].audience_met, Some(true));
    assert_eq!(
        got.outcome,
        ExplainOutcome::Ok {
            scope: "mcp hook:track".into(),
            audience: vec!["hook".into()],
        }
    );

    let got = admin
        .explain("svc-a", Some("mcp"), Some("web"))
        .await
        .unwrap();
    assert_eq!(
        got.outcome,
        refused("invalid_target", "audience not allowed: web")
    );
}

#[tokio::test]
async fn explain_unknown_or_malformed_client_is_invalid_client() {
    let admin = Fx::new().with_client(None).admin();
    for id in ["svc-gone", "bad id!"] {
        let got = admin.explain(id, Some("mcp"), None).await.unwrap();
        assert_eq!(got.client_active, None, "{id}");
        assert_eq!(got.owner_active, None, "{id}");
        assert!(got.scopes.is_empty());
        assert_eq!(
            got.outcome,
            refused("invalid_client", "client authentication failed"),
            "{id}"
        );
    }
}

#[tokio::test]
async fn explain_refusals_before_scopes_still_show_the_facts() {
    // Disabled client: facts of each scope asked for, none issued.
    let admin = Fx::new()
        .with_client(Some(Client {
            active: false,
            ..client(&["mcp", "admin"])
        }))
        .with_owner(Some(owner(&["admin"], true)))
        .admin();
    let got = admin.explain("svc-a", None, None).await.unwrap();
    assert_eq!(got.client_active, Some(false));
    assert_eq!(
        got.scopes,
        vec![
            row(
                "mcp",
                Tier::Service,
                20,
                (true, false),
                (None, None),
                Verdict::NotIssued
            ),
            row(
                "admin",
                Tier::Delegated,
                100,
                (true, true),
                (None, None),
                Verdict::NotIssued
            ),
        ]
    );
    assert_eq!(
        got.outcome,
        refused("invalid_client", "client authentication failed")
    );

    // Inactive owner.
    let admin = Fx::new()
        .with_client(Some(client(&["mcp"])))
        .with_owner(Some(owner(&[], false)))
        .admin();
    let got = admin.explain("svc-a", Some("mcp"), None).await.unwrap();
    assert_eq!(
        (got.client_active, got.owner_active),
        (Some(true), Some(false))
    );
    assert_eq!(got.scopes.len(), 1);
    assert_eq!(
        got.outcome,
        refused("invalid_client", "client authentication failed")
    );

    // Malformed owner id: never looked up (no find_user expectation).
    let admin = Fx::new()
        .with_client(Some(Client {
            owner_id: OwnerId::parse("owner-7"),
            ..client(&["mcp"])
        }))
        .admin();
    let got = admin.explain("svc-a", None, None).await.unwrap();
    assert_eq!(got.owner_id.as_deref(), Some("owner-7"));
    assert_eq!(got.owner_active, None);
    assert_eq!(
        got.outcome,
        refused("invalid_client", "client authentication failed")
    );

    // Unparsable scope string: no rows, the parse error as the outcome.
    let admin = Fx::new()
        .with_client(Some(client(&["mcp"])))
        .with_owner(Some(owner(&[], true)))
        .admin();
    let got = admin
        .explain("svc-a", Some("mcp bogus"), None)
        .await
        .unwrap();
    assert!(got.scopes.is_empty());
    assert_eq!(
        got.outcome,
        refused("invalid_scope", "unknown scope: bogus")
    );

    // Grant type not registered.
    let admin = Fx::new()
        .with_client(Some(Client {
            grant_types: GrantTypes::default(),
            ..client(&["mcp"])
        }))
        .with_owner(Some(owner(&[], true)))
        .admin();
    let got = admin.explain("svc-a", None, None).await.unwrap();
    assert_eq!(
        got.outcome,
        refused(
            "unauthorized_client",
            "client is not registered for grant type client_credentials"
        )
    );
}

#[tokio::test]
async fn explain_store_failures_are_errors() {
    let mut fx = Fx::new();
    fx.clients.expect_find_client().returning(|_| {
        Err(StoreError::Unavailable(
            grantd_ports::Unavailable::PoolTimeout,
        ))
    });
    assert!(matches!(
        fx.admin().explain("svc-a", None, None).await,
        Err(AdminError::Unavailable(_))
    ));

    let mut fx = Fx::new().with_client(Some(client(&["mcp"])));
    fx.users
        .expect_find_user()
        .returning(|_| Err(StoreError::Internal(grantd_ports::Internal::Database)));
    assert!(matches!(
        fx.admin().explain("svc-a", None, None).await,
        Err(AdminError::Internal(_))
    ));
}

// ---------- errors ----------

#[test]
fn errors_display_on_one_line() {
    let cases = [
        (AdminError::Invalid("a\nb".into()), "invalid input: a b"),
        (AdminError::NotFound("x".into()), "not found: x"),
        (AdminError::Conflict("x".into()), "conflict: x"),
        (
            AdminError::Unavailable("x\r\n".into()),
            "store unavailable: x  ",
        ),
        (AdminError::Internal("x".into()), "internal error: x"),
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
