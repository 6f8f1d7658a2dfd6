//! `explain` on hand-picked cases: granted, refused by each side, audience-bound scopes, unknown
//! clients, refusals before scopes, store failures.

use grantd_domain::Verdict;

use super::*;

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
            rate: None,
            quota: vec![],
            dpop: Some(grantd_domain::DpopPolicy::Optional),
            auth_method: Some(AuthMethod::ClientSecretBasic),
            federated: vec![],
            assertion_alg: None,
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
