//! `explain`: a dry run of the token decision for one client, scope by scope. It loads client
//! and owner as the token endpoint does and calls the same [`decide`], so it cannot explain a
//! decision the endpoint would not make. No session, no token.

use grantd_domain::{
    AssertionAlg, AudienceRequest, AuthMethod, Client, ClientId, ClientRate, ClientRejection,
    DomainError, DpopPolicy, FederatedCredential, Owner, ScopeCatalog, ScopeDef, StoredScopes,
    Tier, TokenPolicy, Verdict, decide,
};

use super::{Admin, AdminError};
use crate::quota::QuotaUsage;

/// The facts about one scope of an `explain` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeExplanation {
    pub name: String,
    pub tier: Tier,
    pub level: u16,
    pub in_client_grant: bool,
    pub held_by_owner: bool,
    /// The audience the scope requires, if any.
    pub audience_required: Option<String>,
    /// `None` when the scope requires no audience or the decision stopped before audiences.
    pub audience_met: Option<bool>,
    /// [`Verdict::as_str`]: `granted`, or why not.
    pub verdict: String,
}

/// What the token endpoint would answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExplainOutcome {
    /// A token would be issued with this `scope` string and `aud` list.
    Ok {
        scope: String,
        audience: Vec<String>,
    },
    /// The request would be refused with this OAuth `error` and `error_description`.
    Err { error: String, description: String },
}

/// A dry run of the token decision for one client: no session, no token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub client_id: String,
    /// `None`: there is no such client (or the id is malformed).
    pub client_active: Option<bool>,
    /// The owner id as stored on the client.
    pub owner_id: Option<String>,
    /// `None`: the owner does not exist or its stored id is not a UUID.
    pub owner_active: Option<bool>,
    /// The client's DPoP policy (`None` without a client): with `required`, the endpoint also
    /// wants a DPoP proof, which an explanation cannot judge.
    pub dpop: Option<DpopPolicy>,
    /// How the client authenticates (`None` without a client).
    pub auth_method: Option<AuthMethod>,
    /// A federated client's credentials (empty for other clients).
    pub federated: Vec<FederatedCredential>,
    /// The one algorithm its `private_key_jwt` assertions must use, if it registered one.
    pub assertion_alg: Option<AssertionAlg>,
    /// One row per requested scope (the client's scopes when none is requested). Empty when
    /// the request cannot even be parsed or the client does not exist.
    pub scopes: Vec<ScopeExplanation>,
    /// The client's own token bucket (`None`: the global one).
    pub rate: Option<ClientRate>,
    /// Each quota window the client has: limit, used (from the session rows), remaining.
    pub quota: Vec<QuotaUsage>,
    pub outcome: ExplainOutcome,
}

impl Admin {
    /// What the token endpoint would answer a correctly authenticated `client_id` asking for
    /// `scope` and `audience`, and why, scope by scope. Loads client and owner as
    /// `TokenService::issue` does and runs the same [`decide`]. Only store failures are
    /// errors; an unknown client is an outcome (`invalid_client`), as at the endpoint.
    pub async fn explain(
        &self,
        client_id: &str,
        scope: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Explanation, AdminError> {
        let unknown_client = || Explanation {
            client_id: client_id.to_owned(),
            client_active: None,
            owner_id: None,
            owner_active: None,
            dpop: None,
            auth_method: None,
            federated: Vec::new(),
            assertion_alg: None,
            scopes: Vec::new(),
            rate: None,
            quota: Vec::new(),
            outcome: refusal(&DomainError::InvalidClient(ClientRejection::UnknownClient)),
        };
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(unknown_client());
        };
        let Some(client) = self
            .ports
            .clients
            .find_client(&id)
            .await
            .map_err(|e| AdminError::store("loading client", e))?
        else {
            return Ok(unknown_client());
        };
        let owner = crate::token::load_owner(&*self.ports.users, &client)
            .await
            .map_err(|e| AdminError::store("loading owner", e))?;
        // `decide` ignores an owner whose id is not the client's; so do the facts.
        let owner = owner.filter(|o| Some(&o.id) == client.owner_id.user());
        let quota = self.quota_usage(&client).await?;
        let mut explanation =
            explain_decision(&self.policy, &client, owner.as_ref(), scope, audience);
        explanation.federated = self.credentials_of(&client.id, client.auth_method).await?;
        Ok(with_quota(explanation, quota))
    }
}

/// The quota windows' usage, and the refusal the endpoint would give once one is used up (a
/// decision it would grant is still refused then).
pub(super) fn with_quota(mut explanation: Explanation, quota: Vec<QuotaUsage>) -> Explanation {
    if let Some(q) = quota.iter().find(|q| q.remaining() == 0)
        && matches!(explanation.outcome, ExplainOutcome::Ok { .. })
    {
        explanation.outcome = ExplainOutcome::Err {
            error: "quota_exceeded".to_owned(),
            description: format!("token quota per {} exhausted", q.window.as_str()),
        };
    }
    explanation.quota = quota;
    explanation
}

/// `decide`'s answer for the loaded client and owner, with the facts of each scope.
pub(super) fn explain_decision(
    policy: &TokenPolicy,
    client: &Client,
    owner: Option<&Owner>,
    scope: Option<&str>,
    audience: Option<&str>,
) -> Explanation {
    let request = AudienceRequest {
        audience,
        resources: vec![],
    };
    let decision = decide(policy, client, owner, scope, &request);
    let scopes: Vec<ScopeExplanation> = if decision.verdicts.is_empty() {
        // Refused before scopes were weighed: still show the facts of each scope asked for,
        // none of which would be issued.
        facts_without_verdicts(&policy.catalog, client, owner, scope)
    } else {
        decision
            .verdicts
            .iter()
            .map(|v| ScopeExplanation {
                audience_met: v.audience_met,
                verdict: v.verdict.as_str().to_owned(),
                ..scope_row(v.scope, v.in_client_grant, v.held_by_owner)
            })
            .collect()
    };
    let outcome = match &decision.outcome {
        Ok(grant) => ExplainOutcome::Ok {
            scope: grant.scope_string(),
            audience: grant
                .audience
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        },
        Err(e) => refusal(e),
    };
    Explanation {
        client_id: client.id.as_str().to_owned(),
        client_active: Some(client.active),
        owner_id: Some(client.owner_id.as_str().to_owned()),
        owner_active: owner.map(|o| o.active),
        dpop: Some(client.dpop),
        auth_method: Some(client.auth_method),
        federated: Vec::new(),
        assertion_alg: client.keys.alg(),
        scopes,
        rate: client.limits.rate,
        quota: Vec::new(),
        outcome,
    }
}

fn refusal(e: &DomainError) -> ExplainOutcome {
    ExplainOutcome::Err {
        error: e.code().to_owned(),
        description: e.description(),
    }
}

fn scope_row(s: &ScopeDef, in_client_grant: bool, held_by_owner: bool) -> ScopeExplanation {
    ScopeExplanation {
        name: s.name().to_owned(),
        tier: s.tier(),
        level: s.level(),
        in_client_grant,
        held_by_owner,
        audience_required: s.requires_audience().map(|a| a.as_str().to_owned()),
        audience_met: None,
        verdict: Verdict::NotIssued.as_str().to_owned(),
    }
}

/// The per-scope facts when `decide` refused before weighing scopes (client disabled, grant
/// type not registered, owner missing or inactive). The requested set is what `decide` would
/// have weighed; an unparsable scope string yields no rows.
fn facts_without_verdicts(
    catalog: &ScopeCatalog,
    client: &Client,
    owner: Option<&Owner>,
    scope: Option<&str>,
) -> Vec<ScopeExplanation> {
    let client_grant = &client.scopes;
    let requested = match scope.map(|s| catalog.parse_request(s)) {
        Some(Ok(r)) if !r.is_empty() => r.into_vec(),
        Some(Err(_)) => return Vec::new(),
        _ => client_grant.known().collect(),
    };
    let no_roles = StoredScopes::default();
    let roles = owner.map_or(&no_roles, |o| &o.roles);
    requested
        .into_iter()
        .map(|s| scope_row(s, client_grant.contains(s.name()), roles.contains(s.name())))
        .collect()
}
