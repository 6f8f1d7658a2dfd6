//! Client use cases: creation with generated or supplied secrets, validation, warnings, listing,
//! toggling, secret rotation, store failures.

use super::*;
use grantd_ports::UpdateOutcome;

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
        dpop: Default::default(),
        keys: Default::default(),
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
        limits: Default::default(),
    };
    assert_eq!(got.client, want);
    assert_eq!(got.secret_plaintext.as_deref(), Some(PLAINTEXT));
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
    assert_eq!(
        got.secret_plaintext.as_deref(),
        Some("migrated+secret%with:colons")
    );
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
        matches!(&got, Err(AdminError::NotFound(Missing::User(id))) if id.as_str() == OWNER),
        "{got:?}"
    );
}

#[tokio::test]
async fn create_client_with_a_rejected_secret_writes_nothing() {
    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    // The reason reaches the operator; the secret cannot (a typed reason has no room for it).
    fx.secrets.expect_hash_supplied().returning(|p| {
        Err(SecretError::Rejected(SecretRejection::TooShort {
            min: 16,
            len: p.len(),
        }))
    });
    let spec = NewClientSpec {
        supplied_secret: Some("shortSECRET".into()),
        ..client_spec(&["mcp"])
    };
    let got = fx.admin().create_client(spec).await.unwrap_err();
    assert_eq!(
        got,
        AdminError::Invalid(InvalidReason::SecretRejected(SecretRejection::TooShort {
            min: 16,
            len: 11
        }))
    );
    assert!(!got.to_string().contains("shortSECRET"), "{got}");
    assert!(!format!("{got:?}").contains("shortSECRET"), "{got:?}");
    assert!(got.to_string().contains("at least 16 characters"), "{got}");

    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    fx.secrets
        .expect_hash_supplied()
        .returning(|_| Err(SecretError::Failed(HashFailure::Hash)));
    let spec = NewClientSpec {
        supplied_secret: Some("long-enough-secret-1234".into()),
        ..client_spec(&["mcp"])
    };
    assert!(matches!(
        fx.admin().create_client(spec).await,
        Err(AdminError::Internal(InternalCause::SecretHashing(
            HashFailure::Hash
        )))
    ));
}

#[tokio::test]
async fn create_client_store_errors() {
    let mut cases: Vec<(StoreError, IsMapped)> = vec![
        (
            StoreError::Conflict(grantd_ports::Constraint::ClientId),
            |e| matches!(e, AdminError::Conflict(ConflictKind::ClientId(id)) if id.as_str() == "cl_new"),
        ),
        (
            StoreError::NotFound(grantd_ports::Missing::Referenced(
                grantd_ports::Constraint::ClientOwner,
            )),
            |e| matches!(e, AdminError::NotFound(Missing::User(id)) if id.as_str() == OWNER),
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
        Err(AdminError::NotFound(Missing::Client(id))) if id.as_str() == "svc-b"
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
    assert!(matches!(&got, AdminError::NotFound(Missing::Client(id)) if id.as_str() == "svc-z"));
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

#[tokio::test]
async fn set_client_dpop_stores_the_policy_and_returns_the_client() {
    use grantd_domain::DpopPolicy;
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    fx.clients
        .expect_set_client_dpop()
        .with(
            eq(ClientId::parse("svc-a").unwrap()),
            eq(DpopPolicy::Required),
            eq(now()),
        )
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(true));
    fx.clients
        .expect_find_client()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Ok(Some(Client {
                keys: Default::default(),
                dpop: DpopPolicy::Required,
                ..client(&["mcp"])
            }))
        });
    let got = fx
        .admin()
        .set_client_dpop("svc-a", DpopPolicy::Required)
        .await
        .unwrap();
    assert_eq!(got.dpop, DpopPolicy::Required);

    let mut fx = Fx::new();
    fx.clients
        .expect_set_client_dpop()
        .returning(|_, _, _| Ok(false));
    assert!(matches!(
        fx.admin()
            .set_client_dpop("svc-a", DpopPolicy::Optional)
            .await,
        Err(AdminError::NotFound(_))
    ));
    assert_invalid(
        Fx::new()
            .admin()
            .set_client_dpop("a/b", DpopPolicy::Optional)
            .await,
        "client id",
        "bad id",
    );
}

fn one_key() -> grantd_domain::ClientKeys {
    grantd_domain::ClientKeys::new(vec![grantd_domain::RegisteredKey {
        kid: Some("k1".into()),
        kty: "EC".into(),
        alg: None,
        jwk: "{}".into(),
    }])
    .unwrap()
}

/// A private_key_jwt client is stored with its keys and no secret; no secret is made (the
/// secret mock has no expectation, so a call would fail the test).
#[tokio::test]
async fn create_private_key_jwt_client_stores_keys_and_makes_no_secret() {
    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    fx.ids
        .expect_client_id()
        .returning(|| ClientId::parse("cl_new").unwrap());
    fx.clients
        .expect_create_client()
        .withf(|c| c.secrets.is_empty() && c.keys == one_key())
        .times(1)
        .returning(|_| Ok(()));
    let spec = NewClientSpec {
        auth_method: AuthMethod::PrivateKeyJwt,
        keys: one_key(),
        ..client_spec(&["mcp"])
    };
    let got = fx.admin().create_client(spec).await.unwrap();
    assert_eq!(got.secret_plaintext, None);
    assert_eq!(got.client.auth_method, AuthMethod::PrivateKeyJwt);
}

/// Keys without private_key_jwt, private_key_jwt without keys or with a supplied secret: all
/// refused before a row is written.
#[tokio::test]
async fn keys_must_fit_the_auth_method() {
    let cases = [
        (AuthMethod::ClientSecretBasic, one_key(), None),
        (AuthMethod::PrivateKeyJwt, Default::default(), None),
        (
            AuthMethod::PrivateKeyJwt,
            one_key(),
            Some("s3cret".to_owned()),
        ),
    ];
    for (auth_method, keys, supplied_secret) in cases {
        let fx = Fx::new().with_owner(Some(owner(&[], true)));
        let spec = NewClientSpec {
            auth_method,
            keys,
            supplied_secret,
            ..client_spec(&["mcp"])
        };
        let got = fx.admin().create_client(spec).await;
        assert!(
            matches!(
                got,
                Err(AdminError::Invalid(InvalidReason::KeysDoNotFitMethod))
            ),
            "{auth_method}: {got:?}"
        );
    }
}

fn rsa_key(kid: &str) -> grantd_domain::ClientKeys {
    grantd_domain::ClientKeys::new(vec![grantd_domain::RegisteredKey {
        kid: Some(kid.into()),
        kty: "RSA".into(),
        alg: None,
        jwk: "{}".into(),
    }])
    .unwrap()
}

fn key_client(keys: grantd_domain::ClientKeys) -> Client {
    Client {
        auth_method: AuthMethod::PrivateKeyJwt,
        secrets: vec![],
        keys,
        ..client(&["mcp"])
    }
}

/// New keys replace the old ones and keep the registered algorithm; the store gets exactly
/// them, and the client is read back after the write.
#[tokio::test]
async fn set_client_keys_replaces_the_keys_and_keeps_the_registered_alg() {
    use grantd_domain::AssertionAlg;
    let old = rsa_key("old").with_alg(Some(AssertionAlg::Ps256)).unwrap();
    let new = rsa_key("new").with_alg(Some(AssertionAlg::Ps256)).unwrap();
    let mut fx = Fx::new();
    let mut seq = Sequence::new();
    let before = key_client(old);
    fx.clients
        .expect_find_client()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(before.clone())));
    let stored = new.clone();
    fx.clients
        .expect_set_client_keys()
        .withf(move |id, k, expected, t| {
            id.as_str() == "svc-a"
                && *k == stored
                && *expected == Timestamp::from_secs(0)
                && *t == now()
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok(UpdateOutcome::Updated));
    let after = key_client(new.clone());
    fx.clients
        .expect_find_client()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(after.clone())));
    let got = fx
        .admin()
        .set_client_keys("svc-a", rsa_key("new"), None)
        .await;
    assert_eq!(got.map(|c| c.keys), Ok(new));
}

/// Keys the registered algorithm cannot use, keys for a secret-based client, and an unknown
/// client: refused before any write (the mock expects none).
#[tokio::test]
async fn set_client_keys_refusals() {
    use grantd_domain::AssertionAlg;
    let es = rsa_key("r").with_alg(Some(AssertionAlg::Rs256)).unwrap();
    let got = Fx::new()
        .with_client(Some(key_client(es)))
        .admin()
        .set_client_keys("svc-a", one_key(), None)
        .await;
    assert_eq!(
        got.map(|_| ()),
        Err(AdminError::Invalid(InvalidReason::NoKeyForAlg(
            AssertionAlg::Rs256
        )))
    );
    let got = Fx::new()
        .with_client(Some(client(&["mcp"])))
        .admin()
        .set_client_keys("svc-a", one_key(), None)
        .await;
    assert_eq!(
        got.map(|_| ()),
        Err(AdminError::Invalid(InvalidReason::KeysDoNotFitMethod))
    );
    let got = Fx::new()
        .with_client(None)
        .admin()
        .set_client_keys("svc-a", one_key(), None)
        .await;
    assert!(matches!(got, Err(AdminError::NotFound(_))), "{got:?}");
}
