//! Grant authorization: which scopes and audience a client_credentials token may carry.
//!
//! [`decide`] is a pure function of the policy in force, the loaded client and owner, and the
//! request's scope and audience parameters. The token endpoint and `grantd explain` both call
//! it, so they cannot disagree.

use crate::audience::{Audience, AudienceRequest, AudienceRules};
use crate::client::{Client, GrantType, Owner};
use crate::error::{ClientRejection, DomainError, ScopeProblem};
use crate::ids::UserId;
use crate::scope::{Scope, ScopeCatalog, StoredScopes, Tier};
use crate::time::Ttl;
use crate::token::SubjectMode;

/// What to do when only some requested scopes can be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopePolicy {
    /// Grant the grantable subset (RFC 6749 §3.3; the response's `scope` says what was granted).
    Narrow,
    /// Refuse the whole request with `invalid_scope`.
    Strict,
}

impl ScopePolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "narrow" => Some(ScopePolicy::Narrow),
            "strict" => Some(ScopePolicy::Strict),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScopePolicy::Narrow => "narrow",
            ScopePolicy::Strict => "strict",
        }
    }
}

/// Everything the operator configured that shapes a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPolicy {
    pub issuer: String,
    pub catalog: ScopeCatalog,
    pub audiences: AudienceRules,
    pub scope_policy: ScopePolicy,
    pub ttl: Ttl,
    pub subject: SubjectMode,
}

/// Why one scope was or was not granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    NotInClientGrant,
    NotHeldByOwner,
    /// Grantable, but the token's audience lacks what the scope requires.
    AudienceMissing,
    /// Grantable on its own, but the request failed as a whole (strict policy, or a later check).
    NotIssued,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Granted => "granted",
            Verdict::NotInClientGrant => "denied: not in client grant",
            Verdict::NotHeldByOwner => "denied: delegated scope not held by owner",
            Verdict::AudienceMissing => "denied: required audience missing",
            Verdict::NotIssued => "not issued: request refused",
        }
    }
}

/// The facts about one requested scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeVerdict<'c> {
    pub scope: Scope<'c>,
    pub in_client_grant: bool,
    pub held_by_owner: bool,
    /// `None` when the scope requires no audience or the audience could not be resolved.
    pub audience_met: Option<bool>,
    pub verdict: Verdict,
}

/// What a token may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant<'c> {
    /// Highest level first, then by name; no duplicates.
    pub scopes: Vec<Scope<'c>>,
    pub audience: Vec<Audience>,
    pub owner_id: UserId,
}

impl Grant<'_> {
    /// The granted scopes as the OAuth `scope` string.
    pub fn scope_string(&self) -> String {
        crate::scope::join(&self.scopes)
    }
}

/// The full decision: per-scope facts (empty when the request failed before scopes were
/// weighed) and the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<'c> {
    pub verdicts: Vec<ScopeVerdict<'c>>,
    pub outcome: Result<Grant<'c>, DomainError>,
}

impl<'c> Decision<'c> {
    fn refused(err: DomainError) -> Self {
        Self {
            verdicts: Vec::new(),
            outcome: Err(err),
        }
    }
}

/// Decides a client_credentials request.
///
/// `owner` is the owner loaded by `client.owner_id` (`None` if there is none, or the stored id
/// was not a user id and so never looked up). The client's provisioned scopes and grant types
/// were parsed when it was loaded; only the request's `scope` is parsed here. `scope` is the request's `scope` parameter, `None` if absent.
/// Checks, in order: client active, grant type registered, scope syntax and catalog, owner id
/// well-formed, owner present and active, per-scope authorization (policy narrow/strict),
/// audience resolution, audience-bound scopes.
pub fn decide<'c>(
    policy: &'c TokenPolicy,
    client: &'c Client,
    owner: Option<&Owner>,
    scope: Option<&str>,
    audience: &AudienceRequest<'_>,
) -> Decision<'c> {
    let catalog: &'c ScopeCatalog = &policy.catalog;
    if !client.active {
        return Decision::refused(DomainError::InvalidClient(ClientRejection::ClientDisabled));
    }
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Decision::refused(DomainError::UnauthorizedClient {
            grant_type: GrantType::ClientCredentials.as_str().to_owned(),
        });
    }
    let client_grant = &client.scopes;
    let requested: Vec<Scope<'c>> = match scope {
        Some(s) => match catalog.parse_request(s) {
            Ok(r) if r.is_empty() => client_grant.known().collect(),
            Ok(r) => r.into_vec(),
            Err(problem) => return Decision::refused(DomainError::InvalidScope(problem)),
        },
        None => client_grant.known().collect(),
    };
    let (owner_id, owner_roles) = match owner_standing(client, owner) {
        Ok(standing) => standing,
        Err(rejection) => return Decision::refused(DomainError::InvalidClient(rejection)),
    };

    let mut verdicts: Vec<ScopeVerdict<'c>> = requested
        .iter()
        .map(|&s| {
            let in_client_grant = client_grant.contains(s.name());
            let held_by_owner = owner_roles.contains(s.name());
            let verdict = if !in_client_grant {
                Verdict::NotInClientGrant
            } else if !owner_allows(s, owner_roles) {
                Verdict::NotHeldByOwner
            } else {
                Verdict::Granted
            };
            ScopeVerdict {
                scope: s,
                in_client_grant,
                held_by_owner,
                audience_met: None,
                verdict,
            }
        })
        .collect();

    let outcome = weigh(policy, &mut verdicts, audience, owner_id);
    if outcome.is_err() {
        for v in &mut verdicts {
            if v.verdict == Verdict::Granted {
                v.verdict = Verdict::NotIssued;
            }
        }
    }
    Decision { verdicts, outcome }
}

/// The owner's standing behind `client`: the stored owner id is a user id, names the loaded
/// owner, and that owner is active. Gives the owner's id and its roles (parsed when loaded).
fn owner_standing<'o>(
    client: &Client,
    owner: Option<&'o Owner>,
) -> Result<(UserId, &'o StoredScopes), ClientRejection> {
    let Some(owner_id) = client.owner_id.user() else {
        return Err(ClientRejection::OwnerIdMalformed);
    };
    let Some(owner) = owner.filter(|o| &o.id == owner_id) else {
        return Err(ClientRejection::OwnerMissing);
    };
    if !owner.active {
        return Err(ClientRejection::OwnerInactive);
    }
    Ok((owner_id.clone(), &owner.roles))
}

/// The owner's part of one scope's verdict: a service-tier scope needs nothing from the owner;
/// a delegated one must be among the owner's roles.
fn owner_allows(scope: Scope<'_>, owner_roles: &StoredScopes) -> bool {
    scope.tier() == Tier::Service || owner_roles.contains(scope.name())
}

/// Whether the owner still backs a token issued to `client` carrying `scope` (its `scope`
/// claim, names separated by single spaces): the owner's part of [`decide`], re-run over the
/// facts as they are now. The owner id must still name a present, active owner, and every
/// delegated scope of the token must still be among the owner's roles; service-tier scopes do
/// not depend on the owner's roles. Scopes the catalog no longer knows are not judged here.
/// Introspection calls this, so a token never outlives the owner's authority it carries.
pub fn owner_backs(
    catalog: &ScopeCatalog,
    client: &Client,
    owner: Option<&Owner>,
    scope: &str,
) -> Result<(), DomainError> {
    let (_, owner_roles) = owner_standing(client, owner).map_err(DomainError::InvalidClient)?;
    let names: Vec<&str> = scope.split(' ').collect();
    let lost: Vec<String> = catalog
        .parse_lenient(&names)
        .into_iter()
        .filter(|s| !owner_allows(s, owner_roles))
        .map(|s| s.name().to_owned())
        .collect();
    if lost.is_empty() {
        Ok(())
    } else {
        Err(DomainError::InvalidScope(ScopeProblem::NotHeldByOwner(
            lost,
        )))
    }
}

fn names_with(verdicts: &[ScopeVerdict<'_>], verdict: Verdict) -> Vec<String> {
    verdicts
        .iter()
        .filter(|v| v.verdict == verdict)
        .map(|v| v.scope.name().to_owned())
        .collect()
}

fn weigh<'c>(
    policy: &TokenPolicy,
    verdicts: &mut [ScopeVerdict<'c>],
    audience: &AudienceRequest<'_>,
    owner_id: UserId,
) -> Result<Grant<'c>, DomainError> {
    let deficit = || {
        let not_in_client = names_with(verdicts, Verdict::NotInClientGrant);
        let not_held = names_with(verdicts, Verdict::NotHeldByOwner);
        DomainError::InvalidScope(if !not_in_client.is_empty() {
            ScopeProblem::NotInClientGrant(not_in_client)
        } else if !not_held.is_empty() {
            ScopeProblem::NotHeldByOwner(not_held)
        } else {
            ScopeProblem::NoneRequested
        })
    };
    let mut granted: Vec<Scope<'c>> = verdicts
        .iter()
        .filter(|v| v.verdict == Verdict::Granted)
        .map(|v| v.scope)
        .collect();
    let all_grantable = granted.len() == verdicts.len();
    if granted.is_empty() || (policy.scope_policy == ScopePolicy::Strict && !all_grantable) {
        return Err(deficit());
    }
    granted.sort_by(|a, b| {
        b.level()
            .cmp(&a.level())
            .then_with(|| a.name().cmp(b.name()))
    });
    granted.dedup_by(|a, b| a.name() == b.name());

    let audience = policy.audiences.resolve(audience)?;

    let mut missing: Option<(&Audience, Vec<String>)> = None;
    for v in verdicts.iter_mut() {
        let Some(required) = v.scope.requires_audience() else {
            continue;
        };
        let met = audience.contains(required);
        v.audience_met = Some(met);
        if v.verdict == Verdict::Granted && !met {
            v.verdict = Verdict::AudienceMissing;
            match &mut missing {
                Some((aud, names)) if *aud == required => names.push(v.scope.name().to_owned()),
                Some(_) => {}
                None => missing = Some((required, vec![v.scope.name().to_owned()])),
            }
        }
    }
    if let Some((aud, scopes)) = missing {
        return Err(DomainError::InvalidScope(ScopeProblem::AudienceRequired {
            scopes,
            audience: aud.as_str().to_owned(),
        }));
    }
    Ok(Grant {
        scopes: granted,
        audience,
        owner_id,
    })
}

#[cfg(test)]
mod tests;
