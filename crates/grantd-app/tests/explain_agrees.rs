//! Property: `Admin::explain` and the token endpoint's path (`TokenService::authenticate` then
//! `issue`) give the same answer for every input: over random catalogs, client grants, owner
//! roles and states, client states, grant types, scope strings, audiences and policies.
//!
//! The ports are the shared in-memory fakes of `grantd-fakes` (not mockall), so a thousand cases
//! run in well under a second; a store fake asked to write anything but a session row panics.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use grantd_app::{
    Admin, AppError, ClientAuthentication, ExplainOutcome, Explanation, Ports, TokenRequest,
    TokenService,
};
use grantd_domain::{
    AccessTokenClaims, Audience, AudienceRequest, AudienceRules, AuthMethod, Client, ClientId,
    ClientLimits, GrantTypes, Owner, OwnerId, ScopeCatalog, ScopeDef, ScopePolicy, StoredScopes,
    SubjectMode, Tier, Timestamp, TokenPolicy, Ttl, UserId, Verdict,
};
use grantd_fakes::{
    FakeClients, FakeSecrets, FakeSessions, FakeSigner, FakeUsers, FixedClock, SequentialIds,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const CLIENT: &str = "svc-a";
const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";
const NOW_SECS: i64 = 1_800_000_000;
const CASES: u32 = 2048;
/// The secret every case presents, and so the one its client has: the property is about the
/// decision, not about secrets.
const SECRET: &str = "anything";

// ---------- inputs ----------

#[derive(Clone, Copy, Debug)]
enum OwnerState {
    Active,
    Inactive,
    Missing,
    /// The client's stored owner id is not a UUID (so it is never looked up).
    Malformed,
}

#[derive(Clone, Debug)]
struct CustomScope {
    name: &'static str,
    tier: Tier,
    level: u16,
    audience: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct Case {
    custom: Vec<CustomScope>,
    defaults: Vec<&'static str>,
    allowed: Vec<&'static str>,
    scope_policy: ScopePolicy,
    subject: SubjectMode,
    client_present: bool,
    client_active: bool,
    auth_method: AuthMethod,
    grant_types: Vec<&'static str>,
    client_scopes: Vec<String>,
    owner: OwnerState,
    owner_roles: Vec<String>,
    scope: Option<String>,
    audience: Option<&'static str>,
}

const BUILTIN_NAMES: [&str; 8] = [
    "admin",
    "user",
    "service",
    "a2a",
    "mcp",
    "hook:govern",
    "hook:track",
    "anonymous",
];
const CUSTOM_NAMES: [&str; 5] = ["orders:read", "orders:write", "billing", "reports", "x-1"];
/// Stored strings the catalog does not know (kept leniently, so dropped).
const STORED_JUNK: [&str; 6] = ["bogus", "", " admin ", "ADMIN", "a b", "orders:delete"];
/// Request tokens that are unknown or not even valid scope tokens.
const REQUEST_JUNK: [&str; 6] = ["bogus", "Admin", "\"q\"", "a\\b", "é", "orders:delete"];
const SEPARATORS: [&str; 5] = [" ", "  ", "\t", "\n", "\r\n"];
const EDGES: [&str; 4] = ["", "", " ", "\t\n"];
/// Audiences a scope may require.
const REQUIRED_AUDIENCES: [&str; 5] = ["hook", "orders", "api", "web", "mcp"];
const DEFAULT_AUDIENCES: [&str; 5] = ["api", "web", "mcp", "orders", "hook"];
const ALLOWED_AUDIENCES: [&str; 5] = ["api", "mcp", "a2a", "orders", "https://orders.example.com"];
/// Requested audiences: allowed ones, `hook` (always allowed), disallowed and invalid ones.
const REQUESTED_AUDIENCES: [&str; 10] = [
    "api",
    "mcp",
    "a2a",
    "orders",
    "https://orders.example.com",
    "hook",
    "web",
    "nope",
    "",
    "a b",
];

fn custom_scope(name: &'static str) -> impl Strategy<Value = CustomScope> {
    (
        prop_oneof![Just(Tier::Service), Just(Tier::Delegated)],
        prop_oneof![select(vec![0u16, 15, 20, 40, 50, 100]), 0u16..=120],
        proptest::option::weighted(0.4, select(REQUIRED_AUDIENCES.to_vec())),
    )
        .prop_map(move |(tier, level, audience)| CustomScope {
            name,
            tier,
            level,
            audience,
        })
}

fn customs() -> impl Strategy<Value = Vec<CustomScope>> {
    subsequence(CUSTOM_NAMES.to_vec(), 0..=4)
        .prop_flat_map(|names| names.into_iter().map(custom_scope).collect::<Vec<_>>())
}

/// Stored scopes or roles: catalog names (and their duplicates) plus junk.
fn stored(
    names: Vec<&'static str>,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            8 => select(names).prop_map(String::from),
            1 => select(STORED_JUNK.to_vec()).prop_map(String::from),
        ],
        len,
    )
}

/// A `scope` parameter: absent, or tokens joined by assorted whitespace, possibly blank. Tokens
/// come mostly from the client's own grant (so many requests can succeed), then from the whole
/// catalog, then junk.
fn requested_scope(
    names: Vec<&'static str>,
    client_scopes: Vec<String>,
) -> impl Strategy<Value = Option<String>> {
    let mut own: Vec<String> = client_scopes
        .iter()
        .filter(|s| names.contains(&s.trim()))
        .map(|s| s.trim().to_owned())
        .collect();
    if own.is_empty() {
        own = names.iter().map(|s| s.to_string()).collect();
    }
    let token = prop_oneof![
        8 => select(own),
        2 => select(names).prop_map(String::from),
        1 => select(REQUEST_JUNK.to_vec()).prop_map(String::from),
    ];
    let joined = (
        proptest::collection::vec((token, select(SEPARATORS.to_vec())), 0..5),
        select(EDGES.to_vec()),
        select(EDGES.to_vec()),
    )
        .prop_map(|(tokens, lead, trail)| {
            let mut s = String::from(lead);
            for (i, (t, sep)) in tokens.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(t);
            }
            s.push_str(trail);
            s
        });
    proptest::option::weighted(0.7, joined)
}

fn cases() -> impl Strategy<Value = Case> {
    customs().prop_flat_map(|custom| {
        let mut names: Vec<&'static str> = BUILTIN_NAMES.to_vec();
        names.extend(custom.iter().map(|c| c.name));
        let policy = (
            subsequence(DEFAULT_AUDIENCES.to_vec(), 1..=3),
            subsequence(ALLOWED_AUDIENCES.to_vec(), 0..=5),
            prop_oneof![Just(ScopePolicy::Narrow), Just(ScopePolicy::Strict)],
            prop_oneof![Just(SubjectMode::Owner), Just(SubjectMode::Client)],
        );
        let client = (
            proptest::bool::weighted(0.97),
            proptest::bool::weighted(0.95),
            prop_oneof![
                Just(AuthMethod::ClientSecretBasic),
                Just(AuthMethod::ClientSecretPost)
            ],
            prop_oneof![
                10 => Just(vec!["client_credentials"]),
                1 => subsequence(vec!["client_credentials", "password", "refresh_token"], 0..=3),
            ],
            stored(names.clone(), 0..6),
        );
        let owner = (
            prop_oneof![
                24 => Just(OwnerState::Active),
                1 => Just(OwnerState::Inactive),
                1 => Just(OwnerState::Missing),
                1 => Just(OwnerState::Malformed),
            ],
            stored(names.clone(), 0..9),
        );
        let audience = proptest::option::weighted(0.35, select(REQUESTED_AUDIENCES.to_vec()));
        (Just(custom), Just(names), policy, client, owner, audience).prop_flat_map(
            |(custom, names, policy, client, owner, audience)| {
                let scope = requested_scope(names, client.4.clone());
                (
                    scope,
                    Just(Case {
                        custom,
                        defaults: policy.0,
                        allowed: policy.1,
                        scope_policy: policy.2,
                        subject: policy.3,
                        client_present: client.0,
                        client_active: client.1,
                        auth_method: client.2,
                        grant_types: client.3,
                        client_scopes: client.4,
                        owner: owner.0,
                        owner_roles: owner.1,
                        scope: None,
                        audience,
                    }),
                )
                    .prop_map(|(scope, case)| Case { scope, ..case })
            },
        )
    })
}

// ---------- the property ----------

struct World {
    service: TokenService,
    admin: Admin,
    signer: Arc<FakeSigner>,
    sessions: Arc<FakeSessions>,
}

fn world(case: &Case) -> Result<World, TestCaseError> {
    let fail = |e: String| TestCaseError::fail(e);
    let defs = case
        .custom
        .iter()
        .map(|c| ScopeDef::new(c.name, c.tier, c.level, c.audience.map(Audience::parse)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    let catalog = ScopeCatalog::with_custom(defs).map_err(|e| fail(e.to_string()))?;
    let audiences = AudienceRules::new(
        case.defaults.iter().map(|a| Audience::parse(a)).collect(),
        case.allowed.iter().map(|a| Audience::parse(a)).collect(),
    )
    .map_err(fail)?;
    let policy = Arc::new(TokenPolicy {
        issuer: "https://auth.example".into(),
        catalog,
        audiences,
        scope_policy: case.scope_policy,
        ttl: Ttl::from_secs(600).map_err(fail)?,
        subject: case.subject,
    });

    let owner_id = UserId::parse(OWNER).map_err(|e| fail(e.to_string()))?;
    // Parsed as the store parses a row: names the catalog does not know are kept apart.
    let client = Client {
        id: ClientId::parse(CLIENT).map_err(|e| fail(e.to_string()))?,
        name: "Service A".into(),
        owner_id: match case.owner {
            OwnerState::Malformed => OwnerId::parse("owner-7"),
            _ => OwnerId::parse(OWNER),
        },
        scopes: StoredScopes::parse(&policy.catalog, &case.client_scopes),
        grant_types: GrantTypes::parse(&case.grant_types),
        auth_method: case.auth_method,
        active: case.client_active,
        secrets: vec![FakeSecrets::secret(SECRET)],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: ClientLimits::default(),
        dpop: Default::default(),
        keys: Default::default(),
    };
    let owner = Owner {
        id: owner_id,
        name: "Ada".into(),
        email: "ada@example.com".into(),
        roles: StoredScopes::parse(&policy.catalog, &case.owner_roles),
        active: !matches!(case.owner, OwnerState::Inactive),
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    };

    let signer = Arc::new(FakeSigner::default());
    let sessions = Arc::new(FakeSessions::default());
    let ports = Ports {
        clients: Arc::new(FakeClients::new(case.client_present.then_some(client))),
        users: Arc::new(FakeUsers::new(
            (!matches!(case.owner, OwnerState::Missing)).then_some(owner),
        )),
        sessions: sessions.clone(),
        signer: signer.clone(),
        secrets: Arc::new(FakeSecrets::default()),
        clock: Arc::new(FixedClock(Timestamp::from_micros(
            NOW_SECS * 1_000_000 + 123_456,
        ))),
        ids: Arc::new(SequentialIds::default()),
        // No request here carries a proof: an unexpected call fails the case.
        assertions: Arc::new(grantd_ports::MockClientAssertions::new()),
        remote_keys: Arc::new(grantd_ports::MockRemoteKeys::new()),
        dpop: Arc::new(grantd_ports::MockDpopProofs::new()),
    };
    Ok(World {
        service: TokenService::new(ports.clone(), policy.clone()),
        admin: Admin::new(ports, policy),
        signer,
        sessions,
    })
}

/// What the token endpoint does for a request with valid credentials: authenticate, issue.
async fn endpoint(w: &World, case: &Case) -> Result<String, AppError> {
    let (client_id, secret) = (CLIENT.into(), SECRET.into());
    let creds = match case.auth_method {
        AuthMethod::ClientSecretBasic => ClientAuthentication::SecretBasic { client_id, secret },
        AuthMethod::ClientSecretPost => ClientAuthentication::SecretPost { client_id, secret },
        AuthMethod::PrivateKeyJwt | AuthMethod::Federated => {
            unreachable!("the cases register secret-based clients")
        }
    };
    let client = w.service.authenticate(&creds).await?;
    let req = TokenRequest {
        scope: case.scope.as_deref(),
        audience: AudienceRequest {
            audience: case.audience,
            resources: vec![],
        },
        ..Default::default()
    };
    Ok(w.service.issue(&client, req).await?.scope)
}

/// Runs both sides; returns the outcome's error code (or `None` when a token was issued).
async fn check(case: &Case) -> Result<Option<String>, TestCaseError> {
    let w = world(case)?;
    let issued = endpoint(&w, case).await;
    let explained: Explanation = w
        .admin
        .explain(CLIENT, case.scope.as_deref(), case.audience)
        .await
        .map_err(|e| TestCaseError::fail(format!("explain failed: {e}")))?;
    let signed: Vec<AccessTokenClaims> = w.signer.signed();
    let sessions_written = w
        .sessions
        .rows
        .lock()
        .map_err(|_| TestCaseError::fail("poisoned"))?
        .len();
    let rows_granted: BTreeSet<&str> = explained
        .scopes
        .iter()
        .filter(|r| r.verdict == Verdict::Granted.as_str())
        .map(|r| r.name.as_str())
        .collect();

    match (&issued, &explained.outcome) {
        (
            Ok(scope),
            ExplainOutcome::Ok {
                scope: x_scope,
                audience,
            },
        ) => {
            prop_assert_eq!(scope, x_scope);
            prop_assert_eq!(signed.len(), 1);
            prop_assert_eq!(&signed[0].scope, x_scope);
            prop_assert_eq!(&signed[0].aud, audience);
            prop_assert_eq!(sessions_written, 1);
            // The rows agree with the outcome: exactly the granted scopes say "granted".
            let granted: BTreeSet<&str> = scope.split(' ').collect();
            prop_assert_eq!(rows_granted, granted);
            Ok(None)
        }
        (Err(AppError::Refused(e)), ExplainOutcome::Err { error, description }) => {
            prop_assert_eq!(e.code(), error.as_str());
            prop_assert_eq!(&e.description(), description);
            prop_assert!(signed.is_empty());
            prop_assert_eq!(sessions_written, 0);
            prop_assert!(rows_granted.is_empty(), "refused, yet rows say granted");
            Ok(Some(error.clone()))
        }
        _ => Err(TestCaseError::fail(format!(
            "disagree: endpoint {issued:?}, explain {:?}",
            explained.outcome
        ))),
    }
}

#[test]
fn explain_agrees_with_the_token_endpoint() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let issued = AtomicUsize::new(0);
    let codes: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&cases(), |case| {
        match rt.block_on(check(&case))? {
            None => {
                issued.fetch_add(1, Ordering::SeqCst);
            }
            Some(code) => {
                codes
                    .lock()
                    .map_err(|_| TestCaseError::fail("poisoned"))?
                    .insert(code);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }

    // Guard against a degenerate generator: both outcomes, and every refusal kind the inputs
    // can produce, must actually have been exercised.
    let issued = issued.load(Ordering::SeqCst);
    assert!(
        issued >= CASES as usize / 10,
        "only {issued} of {CASES} cases issued a token"
    );
    let codes = codes.into_inner().unwrap_or_default();
    eprintln!("{issued} of {CASES} cases issued a token; refusals seen: {codes:?}");
    for code in [
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
        "invalid_target",
    ] {
        assert!(codes.contains(code), "no case ended in {code}: {codes:?}");
    }
}
