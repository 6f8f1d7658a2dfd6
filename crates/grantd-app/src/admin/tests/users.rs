//! User use cases: creation and its validation, listing, showing, (de)activation, store failures.

use super::*;

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
        Err(AdminError::Conflict(ConflictKind::Email(
            "ada@example.com".into()
        )))
    );
    assert_eq!(
        got.unwrap_err().to_string(),
        "conflict: email already registered: \"ada@example.com\""
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
        Err(AdminError::NotFound(Missing::User(id))) if id.as_str() == OWNER
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
