//! What the endpoints count, through the `metrics` facade (the binary installs the Prometheus
//! recorder; without one every call is a no-op). Labels are `&'static str` from closed sets, so
//! counting allocates nothing and the series are bounded.
//!
//! The series counted on every answered request (latency, tokens issued, introspections,
//! revocations) are counted through [`Meters`]: handles kept after their first use, so a count
//! is an atomic add instead of a registry look-up by name and labels. Refusals and per-client
//! series, off the success path, are looked up per count.

use std::sync::OnceLock;
use std::time::Instant;

use grantd_app::{ClientAuthentication, Endpoint};
use grantd_domain::{ClientRejection, DomainError, GrantType, ScopeProblem};
use metrics::{Counter, Histogram};

use crate::error::{ApiError, AuthReason};

/// The `auth_method` label values, in the order [`auth_index`] numbers the methods.
const AUTH_METHODS: [&str; 5] = [
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "jwt_spiffe",
];

/// One handle per label value (or combination), registered with the recorder on its first
/// use: a series still appears in the exposition only once something was counted on it, and
/// the handle belongs to the recorder installed by then (the binary installs it before it
/// answers any request).
#[derive(Debug)]
struct Slots<T, const N: usize>([OnceLock<T>; N]);

impl<T, const N: usize> Slots<T, N> {
    fn new() -> Self {
        Self(std::array::from_fn(|_| OnceLock::new()))
    }

    fn get(&self, index: usize, register: impl FnOnce() -> T) -> &T {
        self.0[index].get_or_init(register)
    }
}

/// How an introspection was answered: the `outcome` label of `grantd_introspections_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Introspection {
    Active,
    /// Answered `{"active": false}`.
    Inactive,
    Error,
}

impl Introspection {
    fn as_str(self) -> &'static str {
        match self {
            Introspection::Active => "active",
            Introspection::Inactive => "inactive",
            Introspection::Error => "error",
        }
    }
}

/// The metric handles of one [`crate::ApiState`].
#[derive(Debug)]
pub(crate) struct Meters {
    /// The `algorithm` label of the issued-tokens counter (the configured signing algorithm).
    algorithm: &'static str,
    durations: Slots<Histogram, 3>,
    unavailable: Slots<Counter, 3>,
    /// By grant type and client-authentication method.
    issued: Slots<Counter, { GrantType::ALL.len() * AUTH_METHODS.len() }>,
    introspections: Slots<Counter, 3>,
    /// "ok", then "error".
    revocations: Slots<Counter, 2>,
}

impl Meters {
    pub(crate) fn new(algorithm: &'static str) -> Self {
        Self {
            algorithm,
            durations: Slots::new(),
            unavailable: Slots::new(),
            issued: Slots::new(),
            introspections: Slots::new(),
            revocations: Slots::new(),
        }
    }

    /// Request latency of one endpoint, and its error (code, internal reason) if it failed.
    pub(crate) fn finished(&self, endpoint: Endpoint, started: Instant, error: Option<&ApiError>) {
        let at = endpoint_index(endpoint);
        let name = endpoint.as_str();
        self.durations
            .get(
                at,
                || metrics::histogram!("grantd_request_duration_seconds", "endpoint" => name),
            )
            .record(started.elapsed().as_secs_f64());
        if let Some(e) = error {
            let (code, reason) = classify(e);
            metrics::counter!(
                "grantd_refusals_total",
                "endpoint" => name, "code" => code, "reason" => reason
            )
            .increment(1);
            if code == "temporarily_unavailable" {
                self.unavailable
                    .get(
                        at,
                        || metrics::counter!("grantd_unavailable_total", "endpoint" => name),
                    )
                    .increment(1);
            }
        }
    }

    pub(crate) fn issued(&self, grant: GrantType, auth: &ClientAuthentication<'_>) {
        let method = auth_index(auth);
        let at = grant_index(grant) * AUTH_METHODS.len() + method;
        self.issued
            .get(at, || {
                metrics::counter!(
                    "grantd_tokens_issued_total",
                    "grant" => grant.as_str(),
                    "auth_method" => AUTH_METHODS[method],
                    "algorithm" => self.algorithm
                )
            })
            .increment(1);
    }

    pub(crate) fn introspected(&self, outcome: Introspection) {
        self.introspections
            .get(
                outcome as usize,
                || metrics::counter!("grantd_introspections_total", "outcome" => outcome.as_str()),
            )
            .increment(1);
    }

    /// A revocation answered (`ok`) or refused.
    pub(crate) fn revoked(&self, ok: bool) {
        let (at, outcome) = if ok { (0, "ok") } else { (1, "error") };
        self.revocations
            .get(
                at,
                || metrics::counter!("grantd_revocations_total", "outcome" => outcome),
            )
            .increment(1);
    }
}

fn endpoint_index(endpoint: Endpoint) -> usize {
    match endpoint {
        Endpoint::Token => 0,
        Endpoint::Introspect => 1,
        Endpoint::Revoke => 2,
    }
}

fn grant_index(grant: GrantType) -> usize {
    match grant {
        GrantType::ClientCredentials => 0,
    }
}

fn auth_index(auth: &ClientAuthentication<'_>) -> usize {
    match auth {
        ClientAuthentication::None { .. } => 0,
        ClientAuthentication::SecretBasic { .. } => 1,
        ClientAuthentication::SecretPost { .. } => 2,
        ClientAuthentication::PrivateKeyJwt { .. } => 3,
        ClientAuthentication::JwtSpiffe { .. } => 4,
    }
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

pub(crate) fn auth_method(auth: &ClientAuthentication<'_>) -> &'static str {
    AUTH_METHODS[auth_index(auth)]
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
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use grantd_app::{ClientAuthentication, Endpoint};
    use grantd_domain::GrantType;
    use metrics::{
        Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
        Unit,
    };

    use super::{Introspection, Meters, client_label};

    /// A recorder that counts registrations, and calls per series (`name{label=value,…}`).
    #[derive(Default)]
    struct Tally {
        registrations: AtomicU64,
        series: Mutex<HashMap<String, Arc<AtomicU64>>>,
    }

    impl Tally {
        fn series(&self, key: &Key) -> Arc<AtomicU64> {
            self.registrations.fetch_add(1, Ordering::Relaxed);
            let labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            series.entry(name).or_default().clone()
        }

        fn count(&self, name: &str) -> u64 {
            let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            series.get(name).map_or(0, |c| c.load(Ordering::Relaxed))
        }
    }

    struct Records(Arc<AtomicU64>);

    impl HistogramFn for Records {
        fn record(&self, _: f64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Recorder for Tally {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.series(key))
        }

        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }

        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Records(self.series(key))))
        }
    }

    #[test]
    fn each_series_is_registered_once_and_counts_every_call() {
        let tally = Tally::default();
        metrics::with_local_recorder(&tally, || {
            let meters = Meters::new("ES256");
            let auth = ClientAuthentication::SecretBasic {
                client_id: "a".into(),
                secret: "s".into(),
            };
            for _ in 0..3 {
                meters.issued(GrantType::ClientCredentials, &auth);
                meters.finished(Endpoint::Token, Instant::now(), None);
            }
            meters.finished(Endpoint::Revoke, Instant::now(), None);
            meters.introspected(Introspection::Active);
            meters.introspected(Introspection::Inactive);
            meters.introspected(Introspection::Inactive);
            meters.revoked(true);
            meters.revoked(false);
            meters.revoked(false);
        });
        let issued = "grantd_tokens_issued_total{grant=client_credentials,\
                      auth_method=client_secret_basic,algorithm=ES256}";
        assert_eq!(tally.count(issued), 3);
        let latency =
            |e: &str| tally.count(&format!("grantd_request_duration_seconds{{endpoint={e}}}"));
        assert_eq!((latency("token"), latency("revoke")), (3, 1));
        let outcome = |n: &str, o: &str| tally.count(&format!("{n}{{outcome={o}}}"));
        assert_eq!(outcome("grantd_introspections_total", "active"), 1);
        assert_eq!(outcome("grantd_introspections_total", "inactive"), 2);
        assert_eq!(outcome("grantd_revocations_total", "ok"), 1);
        assert_eq!(outcome("grantd_revocations_total", "error"), 2);
        assert_eq!(
            tally.registrations.load(Ordering::Relaxed),
            7,
            "one registration per series, not per count"
        );
    }

    #[test]
    fn only_listed_clients_get_a_label_of_their_own() {
        assert_eq!(client_label(&[], Some("a")), None);
        assert_eq!(client_label(&["a", "b"], Some("b")), Some("b"));
        assert_eq!(client_label(&["a", "b"], Some("c")), Some("other"));
        assert_eq!(client_label(&["a"], None), Some("other"));
    }
}
