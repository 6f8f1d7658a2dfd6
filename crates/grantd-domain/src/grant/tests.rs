//! Table tests for [`decide`]: exhaustive over tiers × client grant × owner roles, plus the
//! seed's own cases.

use super::*;
use crate::audience::AudienceRules;
use crate::client::{AuthMethod, GrantTypes, OwnerId};
use crate::error::{InvalidRequest, TargetProblem};
use crate::scope::ScopeDef;
use crate::scope::StoredScopes;
use crate::time::Timestamp;

const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";

fn policy(scope_policy: ScopePolicy) -> TokenPolicy {
    let orders = ScopeDef::new(
        "orders:read",
        Tier::Service,
        25,
        Some(Audience::parse("orders")),
    )
    .unwrap();
    let reports = ScopeDef::new("reports", Tier::Delegated, 40, None).unwrap();
    TokenPolicy {
        issuer: "https://issuer.example".into(),
        catalog: ScopeCatalog::with_custom([orders, reports]).unwrap(),
        audiences: AudienceRules::new(
            vec![Audience::Api],
            ["api", "mcp", "a2a", "orders"]
                .map(Audience::parse)
                .to_vec(),
        )
        .unwrap(),
        scope_policy,
        ttl: Ttl::from_secs(3600).unwrap(),
        subject: SubjectMode::Owner,
    }
}

fn client(scopes: &[&str]) -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: crate::ids::ClientId::parse("svc-a").unwrap(),
        name: "svc a".into(),
        owner_id: OwnerId::parse(OWNER),
        // Both policies share one catalog, so the client's grant parses the same under either.
        scopes: StoredScopes::parse(&policy(ScopePolicy::Narrow).catalog, scopes),
        grant_types: GrantTypes::parse(&["client_credentials"]),
        auth_method: AuthMethod::ClientSecretBasic,
        active: true,
        secrets: vec![],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
    }
}

fn owner(roles: &[&str]) -> Owner {
    Owner {
        id: UserId::parse(OWNER).unwrap(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        roles: StoredScopes::parse(&policy(ScopePolicy::Narrow).catalog, roles),
        active: true,
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

fn no_aud() -> AudienceRequest<'static> {
    AudienceRequest::default()
}

fn aud(a: &'static str) -> AudienceRequest<'static> {
    AudienceRequest {
        audience: Some(a),
        resources: vec![],
    }
}

fn granted(d: &Decision<'_>) -> Result<(String, Vec<String>), DomainError> {
    d.outcome.clone().map(|g| {
        (
            g.scope_string(),
            g.audience.iter().map(|a| a.as_str().to_owned()).collect(),
        )
    })
}

fn scope_err(p: ScopeProblem) -> Result<(String, Vec<String>), DomainError> {
    Err(DomainError::InvalidScope(p))
}

fn ok(scope: &str, aud: &[&str]) -> Result<(String, Vec<String>), DomainError> {
    Ok((
        scope.to_owned(),
        aud.iter().map(|s| s.to_string()).collect(),
    ))
}

/// Every tier × (client holds it?) × (owner holds it?) gives the verdict the rules say, under
/// both policies, for one-scope requests.
#[test]
fn exhaustive_over_tiers() {
    for scope_policy in [ScopePolicy::Narrow, ScopePolicy::Strict] {
        let p = policy(scope_policy);
        for tier in Tier::ALL {
            let name = match tier {
                Tier::Service => "service",
                Tier::Delegated => "user",
            };
            for in_client in [false, true] {
                for held in [false, true] {
                    let one = [name];
                    let c = client(if in_client { &one } else { &["mcp"] });
                    let o = owner(if held { &one } else { &[] });
                    let d = decide(&p, &c, Some(&o), Some(name), &no_aud());
                    let expect_grant = in_client && (tier == Tier::Service || held);
                    let want = if expect_grant {
                        ok(name, &["api"])
                    } else if !in_client {
                        scope_err(ScopeProblem::NotInClientGrant(vec![name.into()]))
                    } else {
                        scope_err(ScopeProblem::NotHeldByOwner(vec![name.into()]))
                    };
                    assert_eq!(
                        granted(&d),
                        want,
                        "{scope_policy:?} {tier:?} client={in_client} owner={held}"
                    );
                    assert_eq!(d.verdicts.len(), 1);
                    let v = &d.verdicts[0];
                    assert_eq!((v.in_client_grant, v.held_by_owner), (in_client, held));
                    let want_verdict = match (expect_grant, in_client) {
                        (true, _) => Verdict::Granted,
                        (false, false) => Verdict::NotInClientGrant,
                        (false, true) => Verdict::NotHeldByOwner,
                    };
                    assert_eq!(v.verdict, want_verdict);
                }
            }
        }
    }
}

#[test]
fn seed_cases() {
    let p = policy(ScopePolicy::Narrow);
    const ALL: &[&str] = &[
        "admin",
        "user",
        "service",
        "a2a",
        "mcp",
        "hook:govern",
        "hook:track",
        "anonymous",
    ];
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        Option<&'static str>,
        AudienceRequest<'static>,
        Result<(String, Vec<String>), DomainError>,
    );
    let cases: Vec<Case> = vec![
        (
            "service scope needs no owner role",
            &["service"],
            &[],
            Some("service"),
            no_aud(),
            ok("service", &["api"]),
        ),
        (
            "delegated needs both",
            &["admin"],
            &["admin"],
            Some("admin"),
            no_aud(),
            ok("admin", &["api"]),
        ),
        (
            "delegated, owner short",
            &["admin"],
            &["user"],
            Some("admin"),
            no_aud(),
            scope_err(ScopeProblem::NotHeldByOwner(vec!["admin".into()])),
        ),
        (
            "client short is named first",
            &["user"],
            &[],
            Some("admin user"),
            no_aud(),
            scope_err(ScopeProblem::NotInClientGrant(vec!["admin".into()])),
        ),
        (
            "no scope param: client's full set, sorted by level",
            &["mcp", "service", "a2a"],
            &[],
            None,
            no_aud(),
            ok("service a2a mcp", &["api"]),
        ),
        (
            "blank scope param: same as absent",
            &["mcp", "service"],
            &[],
            Some("  "),
            no_aud(),
            ok("service mcp", &["api"]),
        ),
        (
            "client with nothing, nothing requested",
            &[],
            &["admin"],
            None,
            no_aud(),
            scope_err(ScopeProblem::NoneRequested),
        ),
        (
            "stored junk dropped leniently",
            &["mcp", "bogus", "MCP"],
            &["nope"],
            None,
            no_aud(),
            ok("mcp", &["api"]),
        ),
        (
            "sorted by level then name, deduplicated",
            ALL,
            ALL,
            Some("anonymous hook:track mcp admin hook:govern user admin"),
            aud("hook"),
            ok("admin user mcp hook:govern hook:track anonymous", &["hook"]),
        ),
        (
            "narrowing drops the ungrantable",
            &["service", "admin"],
            &[],
            Some("service admin a2a"),
            no_aud(),
            ok("service", &["api"]),
        ),
        (
            "unknown scope rejects all",
            &["service"],
            &[],
            Some("service frobnicate"),
            no_aud(),
            scope_err(ScopeProblem::Unknown("frobnicate".into())),
        ),
        (
            "tab between scopes: refused, though both are granted (RFC 6749 §3.3: SP only)",
            &["service", "mcp"],
            &[],
            Some("service\tmcp"),
            no_aud(),
            scope_err(ScopeProblem::Separator('\t')),
        ),
        (
            "CR LF between scopes: refused, the CR named first",
            &["service", "mcp"],
            &[],
            Some("service\r\nmcp"),
            no_aud(),
            scope_err(ScopeProblem::Separator('\r')),
        ),
        (
            "a run of spaces between scopes is tolerated",
            &["service", "mcp"],
            &[],
            Some(" service   mcp "),
            no_aud(),
            ok("service mcp", &["api"]),
        ),
        (
            "hook scope without hook audience",
            &["hook:govern"],
            &[],
            Some("hook:govern"),
            no_aud(),
            scope_err(ScopeProblem::AudienceRequired {
                scopes: vec!["hook:govern".into()],
                audience: "hook".into(),
            }),
        ),
        (
            "hook scope with hook audience",
            &["hook:govern", "hook:track"],
            &[],
            Some("hook:track hook:govern"),
            aud("hook"),
            ok("hook:govern hook:track", &["hook"]),
        ),
        (
            "hook scope alongside others still needs hook",
            &["hook:track", "service"],
            &[],
            None,
            aud("mcp"),
            scope_err(ScopeProblem::AudienceRequired {
                scopes: vec!["hook:track".into()],
                audience: "hook".into(),
            }),
        ),
        (
            "custom scope with its audience",
            &["orders:read"],
            &[],
            Some("orders:read"),
            aud("orders"),
            ok("orders:read", &["orders"]),
        ),
        (
            "custom delegated scope",
            &["reports"],
            &["reports"],
            Some("reports"),
            no_aud(),
            ok("reports", &["api"]),
        ),
        (
            "allow-list enforced",
            &["service"],
            &[],
            Some("service"),
            aud("web"),
            Err(DomainError::InvalidTarget(TargetProblem::NotAllowed(
                "web".into(),
            ))),
        ),
        (
            "audience vs resource conflict",
            &["service"],
            &[],
            Some("service"),
            AudienceRequest {
                audience: Some("api"),
                resources: vec!["https://x.example"],
            },
            Err(DomainError::InvalidRequest(
                InvalidRequest::AudienceResourceConflict,
            )),
        ),
    ];
    for (what, client_scopes, roles, scope, audience, want) in cases {
        let c = client(client_scopes);
        let d = decide(&p, &c, Some(&owner(roles)), scope, &audience);
        assert_eq!(granted(&d), want, "{what}");
    }
}

#[test]
fn strict_policy_refuses_partial_grants() {
    let p = policy(ScopePolicy::Strict);
    let c = client(&["service", "admin"]);
    let o = owner(&[]);
    let d = decide(&p, &c, Some(&o), Some("service a2a admin"), &no_aud());
    assert_eq!(
        granted(&d),
        scope_err(ScopeProblem::NotInClientGrant(vec!["a2a".into()]))
    );
    let d = decide(&p, &c, Some(&o), Some("service admin"), &no_aud());
    assert_eq!(
        granted(&d),
        scope_err(ScopeProblem::NotHeldByOwner(vec!["admin".into()]))
    );
    let verdicts: Vec<Verdict> = d.verdicts.iter().map(|v| v.verdict).collect();
    assert_eq!(verdicts, [Verdict::NotIssued, Verdict::NotHeldByOwner]);
    let d = decide(&p, &c, Some(&o), Some("service"), &no_aud());
    assert_eq!(granted(&d), ok("service", &["api"]));
}

#[test]
fn client_and_owner_state() {
    let p = policy(ScopePolicy::Narrow);
    let o = owner(&[]);
    let mut c = client(&["service"]);
    c.active = false;
    assert_eq!(
        decide(&p, &c, Some(&o), None, &no_aud()).outcome,
        Err(DomainError::InvalidClient(ClientRejection::ClientDisabled))
    );

    let mut c = client(&["service"]);
    c.grant_types = GrantTypes::parse(&["authorization_code"]);
    assert_eq!(
        decide(&p, &c, Some(&o), None, &no_aud()).outcome,
        Err(DomainError::UnauthorizedClient {
            grant_type: "client_credentials".into()
        })
    );

    let mut c = client(&["service"]);
    c.owner_id = OwnerId::parse("not-a-uuid");
    assert_eq!(
        decide(&p, &c, Some(&o), None, &no_aud()).outcome,
        Err(DomainError::InvalidClient(
            ClientRejection::OwnerIdMalformed
        ))
    );

    let c = client(&["service"]);
    assert_eq!(
        decide(&p, &c, None, None, &no_aud()).outcome,
        Err(DomainError::InvalidClient(ClientRejection::OwnerMissing))
    );

    let mut inactive = owner(&[]);
    inactive.active = false;
    assert_eq!(
        decide(&p, &c, Some(&inactive), None, &no_aud()).outcome,
        Err(DomainError::InvalidClient(ClientRejection::OwnerInactive))
    );

    // Scope syntax is checked before the owner is consulted (the seed's order).
    assert_eq!(
        decide(&p, &c, None, Some("bad\"scope"), &no_aud()).outcome,
        Err(DomainError::InvalidScope(ScopeProblem::Malformed(
            "bad\"scope".into()
        )))
    );
}

#[test]
fn verdicts_report_audience_facts() {
    let p = policy(ScopePolicy::Narrow);
    let c = client(&["hook:track", "service"]);
    let o = owner(&[]);
    let d = decide(&p, &c, Some(&o), Some("service hook:track"), &aud("hook"));
    let facts: Vec<(&str, Option<bool>, Verdict)> = d
        .verdicts
        .iter()
        .map(|v| (v.scope.name(), v.audience_met, v.verdict))
        .collect();
    assert_eq!(
        facts,
        [
            ("service", None, Verdict::Granted),
            ("hook:track", Some(true), Verdict::Granted)
        ]
    );
    let d = decide(&p, &c, Some(&o), Some("service hook:track"), &no_aud());
    let facts: Vec<(&str, Option<bool>, Verdict)> = d
        .verdicts
        .iter()
        .map(|v| (v.scope.name(), v.audience_met, v.verdict))
        .collect();
    assert_eq!(
        facts,
        [
            ("service", None, Verdict::NotIssued),
            ("hook:track", Some(false), Verdict::AudienceMissing)
        ]
    );
}

/// The owner's part of the decision, re-run for an issued token's scopes.
#[test]
fn owner_backs_a_token_while_it_holds_what_the_token_carries() {
    let p = policy(ScopePolicy::Narrow);
    let c = client(&["admin", "reports", "service", "mcp"]);
    let inactive = Owner {
        active: false,
        ..owner(&["admin", "reports"])
    };
    let mut stranger = owner(&["admin"]);
    stranger.id = UserId::parse("9b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d").unwrap();
    let mut malformed = client(&["admin"]);
    malformed.owner_id = OwnerId::parse("owner-7");
    let held = |v: &[&str]| {
        Err(DomainError::InvalidScope(ScopeProblem::NotHeldByOwner(
            v.iter().map(|s| s.to_string()).collect(),
        )))
    };
    let rejected = |r| Err(DomainError::InvalidClient(r));
    type Case<'a> = (
        &'a str,
        &'a Client,
        Option<Owner>,
        &'a str,
        Result<(), DomainError>,
    );
    let table: Vec<Case<'_>> = vec![
        (
            "still holds it",
            &c,
            Some(owner(&["admin"])),
            "admin service",
            Ok(()),
        ),
        (
            "lost it",
            &c,
            Some(owner(&["user"])),
            "admin service",
            held(&["admin"]),
        ),
        (
            "lost a custom one",
            &c,
            Some(owner(&["admin"])),
            "admin reports",
            held(&["reports"]),
        ),
        (
            "service tier only",
            &c,
            Some(owner(&[])),
            "service mcp",
            Ok(()),
        ),
        (
            "scope gone from the catalog",
            &c,
            Some(owner(&[])),
            "service retired",
            Ok(()),
        ),
        (
            "inactive",
            &c,
            Some(inactive.clone()),
            "service",
            rejected(ClientRejection::OwnerInactive),
        ),
        (
            "gone",
            &c,
            None,
            "service",
            rejected(ClientRejection::OwnerMissing),
        ),
        (
            "another user",
            &c,
            Some(stranger),
            "admin",
            rejected(ClientRejection::OwnerMissing),
        ),
        (
            "owner id malformed",
            &malformed,
            Some(owner(&["admin"])),
            "admin",
            rejected(ClientRejection::OwnerIdMalformed),
        ),
    ];
    for (what, client, owner, scope, want) in table {
        assert_eq!(
            owner_backs(&p.catalog, client, owner.as_ref(), scope),
            want,
            "{what}"
        );
    }
}

/// Whatever `decide` grants, the same owner backs: the two share one rule.
#[test]
fn owner_backs_every_grant_decide_makes() {
    let p = policy(ScopePolicy::Narrow);
    let c = client(&["admin", "user", "reports", "service", "mcp", "anonymous"]);
    for roles in [
        &[][..],
        &["admin"],
        &["user", "reports"],
        &["admin", "user", "anonymous"],
    ] {
        let o = owner(roles);
        let grant = decide(&p, &c, Some(&o), None, &no_aud()).outcome.unwrap();
        let scope = grant.scope_string();
        assert_eq!(
            owner_backs(&p.catalog, &c, Some(&o), &scope),
            Ok(()),
            "{roles:?}"
        );
        // And taking any delegated role away withdraws it.
        for lost in roles {
            let fewer: Vec<&str> = roles.iter().copied().filter(|r| r != lost).collect();
            assert!(
                owner_backs(&p.catalog, &c, Some(&owner(&fewer)), &scope).is_err(),
                "{roles:?} without {lost}"
            );
        }
    }
}
