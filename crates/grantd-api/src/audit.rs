//! The audit event of a refused request: what the request presented, as far as it was read,
//! with the error code and internal reason [`crate::metrics::classify`] gives the metrics.
//! Handed to the use cases' audit sink, which builds it only when audit is on.

use actix_web::HttpRequest;
use grantd_app::{ClientAuthentication, Endpoint, Refusal};

use crate::ApiState;
use crate::error::ApiError;
use crate::request::source_ip;

/// The longest presented client id an event carries (the log line's bound).
const CLIENT_ID_MAX: usize = 128;
/// The longest requested scope or audience an event carries.
const PARAM_MAX: usize = 512;

/// What a request presented, noted as the handler reads it (only while audit or per-client
/// metrics are on).
#[derive(Default)]
pub(crate) struct Seen {
    on: bool,
    client_id: Option<String>,
    auth_method: Option<&'static str>,
    scope: Option<String>,
    audience: Option<String>,
}

impl Seen {
    pub(crate) fn new(state: &ApiState) -> Self {
        Self {
            on: state.service.audit_on() || !state.config.per_client.is_empty(),
            ..Self::default()
        }
    }

    /// The client authentication the request carries.
    pub(crate) fn auth(&mut self, auth: &ClientAuthentication<'_>) {
        if self.on {
            self.client_id = Some(cut(auth.client_id(), CLIENT_ID_MAX));
            self.auth_method = Some(crate::metrics::auth_method(auth));
        }
    }

    /// The token endpoint's `scope` and `audience` parameters.
    pub(crate) fn request(&mut self, scope: Option<&str>, audience: Option<&str>) {
        if self.on {
            self.scope = scope.map(|s| cut(s, PARAM_MAX));
            self.audience = audience.map(|a| cut(a, PARAM_MAX));
        }
    }
}

/// Records the refusal `error` of a request to `endpoint`: the per-client counter, and the
/// audit event.
pub(crate) fn refused(
    state: &ApiState,
    req: &HttpRequest,
    endpoint: Endpoint,
    error: &ApiError,
    seen: Seen,
) {
    let presented = seen.client_id.as_deref();
    crate::metrics::client_refused(
        &state.config.per_client,
        endpoint.as_str(),
        presented,
        error,
    );
    state.service.audit_refusal(|| {
        let (code, reason) = crate::metrics::classify(error);
        Refusal {
            endpoint,
            client_id: seen.client_id,
            auth_method: seen.auth_method,
            client_ip: source_ip(req, &state.config.trusted_proxies),
            code,
            reason,
            scope: seen.scope,
            audience: seen.audience,
        }
    });
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("é", 1), "");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 10), "abc");
    }
}
