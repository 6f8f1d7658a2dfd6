//! The JSON shapes of the admin API, which `grantd … --json` prints too (one definition; the
//! outside-in test compares the two), and the `ETag` of a representation.

use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantd_app::{ClientCreated, ExplainOutcome, Explanation, QuotaUsage, SecretRotated};
use grantd_domain::{
    Client, ClientRate, FederatedCredential, Owner, PinnedClaim, SessionRecord, Timestamp,
    TokenQuota,
};
use grantd_ports::{KeySummary, RotationReport};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// RFC 3339 in UTC, whole seconds, as the CLI prints times.
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(t.as_micros())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.as_secs().to_string())
}

fn opt_time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// A strong entity tag: a hash of the representation's JSON text.
pub fn etag(doc: &Value) -> String {
    let digest = Sha256::digest(doc.to_string().as_bytes());
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

pub fn user(u: &Owner) -> Value {
    json!({ "id": u.id.as_str(), "name": u.name, "email": u.email, "roles": u.roles.names(), "active": u.active })
}

pub fn client(c: &Client) -> Value {
    json!({
        "client_id": c.id.as_str(),
        "name": c.name,
        "owner": c.owner_id.as_str(),
        "scopes": c.scopes.names(),
        "grant_types": c.grant_types.names(),
        "auth_method": c.auth_method.as_str(),
        "dpop": c.dpop.as_str(),
        "active": c.active,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
        "rate_limit": rate(c.limits.rate),
        "quota": quota(&c.limits.quota),
        "keys": keys(c),
        "jwks_uri": c.keys.jwks_uri().map(|u| u.as_str()),
        "token_endpoint_auth_signing_alg": c.keys.alg().map(|a| a.as_str()),
    })
}

/// A client's registered public keys (private_key_jwt) as shown: kid, kty and alg, never key
/// material.
pub fn keys(c: &Client) -> Value {
    c.keys
        .keys()
        .iter()
        .map(|k| json!({"kid": k.kid, "kty": k.kty, "alg": k.alg}))
        .collect()
}

/// A client's own token bucket (`null`: the global one).
pub fn rate(rate: Option<ClientRate>) -> Value {
    rate.map_or(
        Value::Null,
        |r| json!({ "per_second": r.per_second.get(), "burst": r.burst.get() }),
    )
}

/// A client's token quotas (`null` windows: no limit).
pub fn quota(quota: &TokenQuota) -> Value {
    json!({
        "per_hour": quota.per_hour.map(NonZeroU32::get),
        "per_day": quota.per_day.map(NonZeroU32::get),
    })
}

/// Each quota window's use.
pub fn quota_usage(usage: &[QuotaUsage]) -> Value {
    usage
        .iter()
        .map(|u| {
            json!({
                "window": u.window.as_str(), "limit": u.limit,
                "used": u.used, "remaining": u.remaining(),
            })
        })
        .collect()
}

/// A created client with its secret: the one time the secret is shown.
pub fn client_created(created: &ClientCreated) -> Value {
    let c = &created.client;
    json!({
        "client_id": c.id.as_str(),
        "client_secret": created.secret_plaintext,
        "name": c.name,
        "owner": c.owner_id.as_str(),
        "scopes": c.scopes.names(),
        "auth_method": c.auth_method.as_str(),
        "dpop": c.dpop.as_str(),
        "rate_limit": rate(c.limits.rate),
        "quota": quota(&c.limits.quota),
        "keys": keys(c),
        "jwks_uri": c.keys.jwks_uri().map(|u| u.as_str()),
        "token_endpoint_auth_signing_alg": c.keys.alg().map(|a| a.as_str()),
        "warnings": created.warnings,
    })
}

pub fn secret_rotated(r: &SecretRotated) -> Value {
    json!({
        "client_id": r.client_id.as_str(),
        "client_secret": r.secret_plaintext,
        "previous_valid_until": rfc3339(r.previous_valid_until),
    })
}

pub fn key(k: &KeySummary) -> Value {
    json!({ "kid": k.kid.as_str(), "alg": k.algorithm.as_str(), "state": k.state.as_str(), "created": rfc3339(k.created_at) })
}

pub fn rotation(r: &RotationReport) -> Value {
    json!({
        "retired": r.old_active.as_str(),
        "active": r.new_active.as_str(),
        "next": r.new_next.as_str(),
        "retired_valid_until": rfc3339(r.retired_not_after),
    })
}

pub fn session(r: &SessionRecord) -> Value {
    let s = &r.session;
    let federated = s.auth.as_ref().and_then(|a| a.federated.as_ref());
    json!({
        "id": s.id.as_str(),
        "user_id": s.user_id.as_str(),
        "client_id": s.client_id.as_str(),
        "jti": s.jti.as_str(),
        "source": s.source.as_str(),
        "ip": s.context.ip,
        "user_agent": s.context.user_agent,
        "accept_language": s.context.accept_language,
        "referer": s.context.referer,
        "created_at": rfc3339(s.created_at),
        "expires_at": rfc3339(s.expires_at),
        "revoked_at": opt_time(r.revoked_at),
        "revoke_reason": r.revoke_reason,
        "auth_method": s.auth.as_ref().map(|a| a.method.as_str()),
        "federated_issuer": federated.map(|f| f.issuer.as_str()),
        "federated_subject": federated.map(|f| f.subject.as_str()),
    })
}

/// A federated credential: issuer name, exact subject, pinned claims as JSON values.
pub fn federated_credential(c: &FederatedCredential) -> Value {
    let claims: serde_json::Map<String, Value> = c
        .claims
        .iter()
        .map(|p| {
            let v = serde_json::from_str(&p.value_json).unwrap_or(Value::Null);
            (p.name.clone(), v)
        })
        .collect();
    json!({ "issuer": c.issuer.as_str(), "subject": c.subject, "claims": claims })
}

/// Pinned claims from a `claims` object (name → JSON value), the inverse of
/// [`federated_credential`]'s: each value as canonical JSON text, so equal JSON values compare
/// equal as text (as the CLI's `--claim-json`).
pub fn pinned_claims(claims: serde_json::Map<String, Value>) -> Vec<PinnedClaim> {
    claims
        .into_iter()
        .map(|(name, v)| PinnedClaim {
            name,
            value_json: v.to_string(),
        })
        .collect()
}

pub fn explanation(e: &Explanation) -> Value {
    let outcome = match &e.outcome {
        ExplainOutcome::Ok { scope, audience } => {
            json!({ "granted": true, "scope": scope, "audience": audience })
        }
        ExplainOutcome::Err { error, description } => {
            json!({ "granted": false, "error": error, "error_description": description })
        }
    };
    let scopes: Vec<Value> = e
        .scopes
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "tier": s.tier.as_str(), "level": s.level,
                "in_client_grant": s.in_client_grant, "held_by_owner": s.held_by_owner,
                "audience_required": s.audience_required, "audience_met": s.audience_met,
                "verdict": s.verdict,
            })
        })
        .collect();
    json!({
        "client_id": e.client_id,
        "client_active": e.client_active,
        "owner_id": e.owner_id,
        "owner_active": e.owner_active,
        "dpop": e.dpop.map(|d| d.as_str()),
        "auth_method": e.auth_method.map(|m| m.as_str()),
        "federated_credentials": e.federated.iter().map(federated_credential).collect::<Vec<_>>(),
        "token_endpoint_auth_signing_alg": e.assertion_alg.map(|a| a.as_str()),
        "scopes": scopes,
        "rate_limit": rate(e.rate),
        "quota_usage": quota_usage(&e.quota),
        "outcome": outcome,
    })
}
