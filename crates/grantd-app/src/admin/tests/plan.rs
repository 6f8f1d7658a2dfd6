//! What `grantd apply` uses: a client created under a chosen id, the store-free checks that
//! refuse what the create use cases refuse, and `explain` on a planned (unstored) client.

use super::*;

#[tokio::test]
async fn create_client_with_id_keeps_the_chosen_id_and_draws_none() {
    // No `expect_client_id`: drawing a generated id would panic.
    let mut fx = Fx::new()
        .with_owner(Some(owner(&[], true)))
        .with_generated_secret();
    fx.clients
        .expect_create_client()
        .withf(|c| c.id.as_str() == "billing-svc")
        .times(1)
        .returning(|_| Ok(()));
    let got = fx
        .admin()
        .create_client_with_id("billing-svc", client_spec(&["mcp"]))
        .await
        .unwrap();
    assert_eq!(got.client.id.as_str(), "billing-svc");
    assert_eq!(got.secret_plaintext.as_deref(), Some(PLAINTEXT));
}

#[tokio::test]
async fn create_client_with_a_taken_or_bad_id_is_refused() {
    let mut fx = Fx::new()
        .with_owner(Some(owner(&[], true)))
        .with_generated_secret();
    fx.clients
        .expect_create_client()
        .times(1)
        .returning(|_| Err(StoreError::Conflict(grantd_ports::Constraint::ClientId)));
    let got = fx
        .admin()
        .create_client_with_id("billing-svc", client_spec(&["mcp"]))
        .await;
    assert!(
        matches!(&got, Err(AdminError::Conflict(ConflictKind::ClientId(id))) if id.as_str() == "billing-svc"),
        "{got:?}"
    );
    // A malformed id: refused before anything else (no mock expectation is met).
    let got = Fx::new()
        .admin()
        .create_client_with_id("has space", client_spec(&["mcp"]))
        .await;
    assert_invalid(got, "client id", "bad id");
}

#[test]
fn the_checks_refuse_what_the_create_use_cases_refuse() {
    let admin = Fx::new().admin();
    for (scopes, needle) in [
        (&["mcp bogus"][..], "unknown scope \"bogus\""),
        (&[][..], "at least one scope"),
    ] {
        assert_invalid(
            admin.check_client_spec("ok-id", &client_spec(scopes)),
            needle,
            "scopes",
        );
    }
    let blank = NewClientSpec {
        name: " ".into(),
        ..client_spec(&["mcp"])
    };
    assert_invalid(admin.check_client_spec("ok-id", &blank), "blank", "name");
    assert_invalid(
        admin.check_client_spec("a b", &client_spec(&["mcp"])),
        "client id",
        "id",
    );
    let (id, scopes) = admin
        .check_client_spec("ok-id", &client_spec(&["mcp service"]))
        .unwrap();
    assert_eq!(
        (id.as_str(), scopes.names()),
        ("ok-id", vec!["mcp", "service"])
    );

    let role = admin.check_user_spec(&user_spec("Ada", "ada@example.com", &["service"]));
    assert_invalid(role, "delegated", "role");
    let email = admin.check_user_spec(&user_spec("Ada", "no-at", &[]));
    assert_invalid(email, "one @", "email");
    let roles = admin.check_user_spec(&user_spec("Ada", "ada@example.com", &["admin"]));
    assert_eq!(roles.unwrap().names(), vec!["admin"]);
}

#[tokio::test]
async fn explain_planned_decides_on_the_given_client_and_owner() {
    // No store reads: the planned client has no quota, its owner is given.
    let admin = Fx::new().admin();
    let planned = client(&["admin"]);
    let with_role = owner(&["admin"], true);
    let e = admin
        .explain_planned(&planned, Some(&with_role), Some("admin"), None)
        .await
        .unwrap();
    assert!(
        matches!(&e.outcome, ExplainOutcome::Ok { scope, .. } if scope == "admin"),
        "{e:?}"
    );
    let without = owner(&[], true);
    let e = admin
        .explain_planned(&planned, Some(&without), Some("admin"), None)
        .await
        .unwrap();
    assert!(matches!(e.outcome, ExplainOutcome::Err { .. }), "{e:?}");
    assert!(!e.scopes[0].held_by_owner);
}
