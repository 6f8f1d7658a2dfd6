//! Client and user changes: one compare-and-set write of the changed value, the creation
//! checks on every given field (refused before any write), a stale precondition or a lost race
//! refused as `Stale`, nothing written when nothing changes, and role-removal warnings.

use grantd_ports::UpdateOutcome;

use super::*;

fn scopes(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|s| s.to_string()).collect())
}

#[tokio::test]
async fn update_client_writes_the_changed_client_once_against_the_read_state() {
    let mut fx = Fx::new()
        .with_client(Some(client(&["service"])))
        .with_owner(Some(owner(&["user"], true)));
    fx.clients
        .expect_update_client()
        .withf(|c, expected| {
            c.name == "Renamed"
                && c.scopes.names() == ["service", "mcp"]
                && c.auth_method == AuthMethod::ClientSecretPost
                && c.updated_at == now()
                && c.secrets.len() == 1
                && *expected == Timestamp::from_secs(0)
        })
        .times(1)
        .returning(|_, _| Ok(UpdateOutcome::Updated));
    let change = ClientChange {
        name: Some(" Renamed ".into()),
        scopes: scopes(&["service mcp"]),
        auth_method: Some(AuthMethod::ClientSecretPost),
        ..Default::default()
    };
    let got = fx
        .admin()
        .update_client("svc-a", change, None)
        .await
        .unwrap();
    assert!(got.changed());
    assert_eq!(got.before, client(&["service"]));
    assert_eq!(got.client.name, "Renamed");
}

/// Each bad field is refused with the creation message, before any write (the mock has no
/// `update_client` expectation: a write would panic).
#[tokio::test]
async fn update_client_validation_writes_nothing() {
    let cases: Vec<(ClientChange, &str)> = vec![
        (
            ClientChange {
                name: Some(" ".into()),
                ..Default::default()
            },
            "name must not be blank",
        ),
        (
            ClientChange {
                scopes: scopes(&[]),
                ..Default::default()
            },
            "at least one scope",
        ),
        (
            ClientChange {
                scopes: scopes(&["bogus"]),
                ..Default::default()
            },
            "unknown scope",
        ),
        (
            ClientChange {
                owner: Some("not-a-uuid".into()),
                ..Default::default()
            },
            "not-a-uuid",
        ),
        (
            ClientChange {
                auth_method: Some(AuthMethod::PrivateKeyJwt),
                ..Default::default()
            },
            "create a new client",
        ),
    ];
    for (change, needle) in cases {
        let fx = Fx::new().with_client(Some(client(&["service"])));
        let got = fx.admin().update_client("svc-a", change, None).await;
        assert_invalid(got, needle, needle);
    }
}

#[tokio::test]
async fn update_client_to_an_unknown_owner_is_not_found_and_writes_nothing() {
    let fx = Fx::new()
        .with_client(Some(client(&["service"])))
        .with_owner(None);
    let change = ClientChange {
        owner: Some(NEW_USER.into()),
        ..Default::default()
    };
    let got = fx.admin().update_client("svc-a", change, None).await;
    assert!(
        matches!(got, Err(AdminError::NotFound(Missing::User(ref u))) if u.as_str() == NEW_USER),
        "{got:?}"
    );
}

#[tokio::test]
async fn an_unchanged_client_is_not_written() {
    let fx = Fx::new()
        .with_client(Some(client(&["service"])))
        .with_owner(Some(owner(&[], true)));
    let change = ClientChange {
        scopes: scopes(&["service"]),
        active: Some(true),
        ..Default::default()
    };
    let got = fx
        .admin()
        .update_client("svc-a", change, None)
        .await
        .unwrap();
    assert!(!got.changed());
}

#[tokio::test]
async fn a_failed_precondition_or_a_lost_race_is_stale() {
    let fx = Fx::new().with_client(Some(client(&["service"])));
    let never = |_: &Client| false;
    let got = fx
        .admin()
        .update_client("svc-a", ClientChange::default(), Some(&never))
        .await;
    assert!(
        matches!(
            got,
            Err(AdminError::Stale {
                what: Named::Client,
                ..
            })
        ),
        "{got:?}"
    );

    let mut fx = Fx::new()
        .with_client(Some(client(&["service"])))
        .with_owner(Some(owner(&[], true)));
    fx.clients
        .expect_update_client()
        .times(1)
        .returning(|_, _| Ok(UpdateOutcome::Stale));
    let always = |_: &Client| true;
    let change = ClientChange {
        active: Some(false),
        ..Default::default()
    };
    let got = fx
        .admin()
        .update_client("svc-a", change, Some(&always))
        .await;
    let e = got.unwrap_err();
    assert!(matches!(e, AdminError::Stale { .. }), "{e:?}");
    assert!(e.to_string().contains("read it again"), "{e}");
}

#[tokio::test]
async fn update_client_maps_store_failures() {
    for (error, is_mapped) in store_errors() {
        let mut fx = Fx::new()
            .with_client(Some(client(&["service"])))
            .with_owner(Some(owner(&[], true)));
        fx.clients
            .expect_update_client()
            .returning(move |_, _| Err(error.clone()));
        let change = ClientChange {
            name: Some("x".into()),
            ..Default::default()
        };
        let got = fx.admin().update_client("svc-a", change, None).await;
        assert!(got.as_ref().is_err_and(is_mapped), "{got:?}");
    }
}

#[tokio::test]
async fn update_client_warns_like_create_about_a_delegated_scope_the_owner_lacks() {
    let mut fx = Fx::new()
        .with_client(Some(client(&["service"])))
        .with_owner(Some(owner(&[], true)));
    fx.clients
        .expect_update_client()
        .returning(|_, _| Ok(UpdateOutcome::Updated));
    let change = ClientChange {
        scopes: scopes(&["service", "user"]),
        ..Default::default()
    };
    let got = fx
        .admin()
        .update_client("svc-a", change, None)
        .await
        .unwrap();
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("scope user is delegated"));
}

#[tokio::test]
async fn update_user_changes_name_and_roles_and_warns_about_clients_that_lose_a_role() {
    let mut fx = Fx::new().with_owner(Some(owner(&["user", "admin"], true)));
    fx.clients
        .expect_list_clients()
        .returning(|| Ok(vec![client(&["service", "user"])]));
    fx.users
        .expect_update_user()
        .withf(|u, expected| {
            u.name == "Ada L."
                && u.roles.names() == ["admin"]
                && *expected == Timestamp::from_secs(0)
        })
        .times(1)
        .returning(|_, _| Ok(UpdateOutcome::Updated));
    let change = UserChange {
        name: Some("Ada L.".into()),
        roles: Some(vec!["admin".into()]),
        active: None,
    };
    let got = fx.admin().update_user(OWNER, change, None).await.unwrap();
    assert!(got.changed());
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("client svc-a has delegated scope user"));
}

#[tokio::test]
async fn update_user_refuses_a_service_role_and_a_stale_state_without_writing() {
    let fx = Fx::new().with_owner(Some(owner(&[], true)));
    let change = UserChange {
        roles: Some(vec!["service".into()]),
        ..Default::default()
    };
    assert_invalid(
        fx.admin().update_user(OWNER, change, None).await,
        "roles must be delegated",
        "service role",
    );
    let mut fx = Fx::new().with_owner(Some(owner(&[], true)));
    fx.users
        .expect_update_user()
        .returning(|_, _| Ok(UpdateOutcome::Stale));
    let change = UserChange {
        active: Some(false),
        ..Default::default()
    };
    let got = fx.admin().update_user(OWNER, change, None).await;
    assert!(
        matches!(
            got,
            Err(AdminError::Stale {
                what: Named::User,
                ..
            })
        ),
        "{got:?}"
    );
}
