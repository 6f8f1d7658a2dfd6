//! What the endpoints count, through the `metrics` facade (the binary installs the Prometheus
//! recorder; without one every call is a no-op). Labels are `&'static str` from closed sets, so
//! counting allocates nothing and the series are bounded.

use std::time::Instant;

use grantd_app::ClientAuthentication;
use grantd_domain::{ClientRejection, DomainError, ScopeProblem};

use crate::error::{ApiError, AuthReason};

/// Request latency of one endpoint, and its error (code, internal reason) if it failed.
pub(crate) fn finished(endpoint: &'static str, started: Instant, error: Option<&ApiError>) {
    metrics::histogram!("grantd_request_duration_seconds", "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    if let Some(e) = error {
        let (code, reason) = classify(e);
        metrics::counter!(
            "grantd_refusals_total",
            "endpoint" => endpoint, "code" => code, "reason" => reason
        )
        .increment(1);
        if code == "temporarily_unavailable" {
            metrics::counter!("grantd_unavailable_total", "endpoint" => endpoint).increment(1);
        }
    }
}

pub(crate) fn issued(grant: &'static str, auth: &ClientAuthentication<'_>, alg: &'static str) {
    metrics::counter!(
        "grantd_tokens_issued_total",
        "grant" => grant, "auth_method" => auth_method(auth), "algorithm" => alg
    )
    .increment(1);
}

/// The `client` label of `id`: itself if the operator listed it, else "other"; `None` when
/// no client is listed (no per-client series). Labels come from the configured list, so the
/// series stay bounded whatever ids requests present.
fn client_label(per_client: &[&'static str], id: Option<&str>) -> Option<&'static str> {
    if per_client.is_empty() {
        return None;
    }
    let listed = id.and_then(|id| per_client.iter().find(|c| **c == id));
    Some(listed.copied().unwrap_or("other"))
}

/// A token issued to client `id`, on the per-client counter.
pub(crate) fn client_issued(per_client: &[&'static str], id: &str) {
    if let Some(client) = client_label(per_client, Some(id)) {
        metrics::counter!("grantd_client_tokens_issued_total", "client" => client).increment(1);
    }
}

/// A request refused at `endpoint`, presented as client `id`, on the per-client counter.
pub(crate) fn client_refused(
    per_client: &[&'static str],
    endpoint: &'static str,
    id: Option<&str>,
    error: &ApiError,
) {
    if let Some(client) = client_label(per_client, id) {
        let (_, reason) = classify(error);
        metrics::counter!(
            "grantd_client_refusals_total",
            "client" => client, "endpoint" => endpoint, "reason" => reason
        )
        .increment(1);
    }
}

/// `outcome`: "active", "inactive" (answered `{"active": false}`) or "error".
pub(crate) fn introspected(outcome: &'static str) {
    metrics::counter!("grantd_introspections_total", "outcome" => outcome).increment(1);
}

/// `outcome`: "ok" or "error".
pub(crate) fn revoked(outcome: &'static str) {
    metrics::counter!("grantd_revocations_total", "outcome" => outcome).increment(1);
}

pub(crate) fn auth_method(auth: &ClientAuthentication<'_>) -> &'static str {
    match auth {
        ClientAuthentication::None { .. } => "none",
        ClientAuthentication::SecretBasic { .. } => "client_secret_basic",
        ClientAuthentication::SecretPost { .. } => "client_secret_post",
        ClientAuthentication::PrivateKeyJwt { .. } => "private_key_jwt",
        ClientAuthentication::JwtSpiffe { .. } => "jwt_spiffe",
    }
}

/// The OAuth error code the caller saw and the internal reason it did not.
pub(crate) fn classify(e: &ApiError) -> (&'static str, &'static str) {
    match e {
        ApiError::Refused(d) => (d.code(), domain_reason(d)),
        ApiError::ClientAuth(f) => ("invalid_client", auth_reason(f.reason())),
        ApiError::Unavailable(_) => ("temporarily_unavailable", "unavailable"),
        ApiError::Internal(_) => ("server_error", "internal"),
        ApiError::PayloadTooLarge(..) => ("invalid_request", "body_too_large"),
        ApiError::BodyTimeout(..) => ("invalid_request", "body_timeout"),
        ApiError::UnsupportedEncoding => ("invalid_request", "unsupported_encoding"),
        ApiError::MethodNotAllowed(_) => ("invalid_request", "method_not_allowed"),
        ApiError::NotFound => ("invalid_request", "not_found"),
        ApiError::RateLimited(_) => ("temporarily_unavailable", "rate_limited"),
        ApiError::QuotaExhausted(..) => ("quota_exceeded", "quota_exhausted"),
    }
}

fn auth_reason(r: &AuthReason) -> &'static str {
    match r {
        AuthReason::Request(_) => "unusable_credentials",
        AuthReason::Rejected(r) => rejection(r),
    }
}

fn rejection(r: &ClientRejection) -> &'static str {
    match r {
        ClientRejection::NoCredentials => "no_credentials",
        ClientRejection::MalformedClientId => "malformed_client_id",
        ClientRejection::UnknownClient => "unknown_client",
        ClientRejection::ClientDisabled => "client_disabled",
        ClientRejection::WrongSecret => "wrong_secret",
        ClientRejection::AuthMethodNotRegistered { .. } => "auth_method_not_registered",
        ClientRejection::OwnerMissing => "owner_missing",
        ClientRejection::OwnerInactive => "owner_inactive",
        ClientRejection::OwnerIdMalformed => "owner_id_malformed",
        ClientRejection::BadAssertion(a) => a.as_str(),
    }
}

fn domain_reason(d: &DomainError) -> &'static str {
    match d {
        DomainError::InvalidRequest(_) => "malformed_request",
        DomainError::InvalidClient(r) => rejection(r),
        DomainError::UnauthorizedClient { .. } => "grant_type_not_registered",
        DomainError::UnsupportedGrantType(_) => "unsupported_grant_type",
        DomainError::InvalidScope(p) => match p {
            ScopeProblem::NotInClientGrant(_) => "scope_not_in_grant",
            ScopeProblem::NotHeldByOwner(_) => "scope_not_held_by_owner",
            ScopeProblem::Unknown(_) => "scope_unknown",
            ScopeProblem::Malformed(_) | ScopeProblem::Separator(_) => "scope_malformed",
            ScopeProblem::NoneRequested => "no_scope_granted",
            ScopeProblem::AudienceRequired { .. } => "scope_requires_audience",
        },
        DomainError::InvalidTarget(_) => "audience_not_allowed",
        DomainError::InvalidDpopProof(r) => r.label(),
        DomainError::UseDpopNonce { .. } => "dpop_nonce_required",
    }
}

#[cfg(test)]
mod tests {
    use super::client_label;

    #[test]
    fn only_listed_clients_get_a_label_of_their_own() {
        assert_eq!(client_label(&[], Some("a")), None);
        assert_eq!(client_label(&["a", "b"], Some("b")), Some("b"));
        assert_eq!(client_label(&["a", "b"], Some("c")), Some("other"));
        assert_eq!(client_label(&["a"], None), Some("other"));
    }
}
