//! The audit event of a refused request: what the request presented, as far as it can be read,
//! with the error code and internal reason [`crate::metrics::classify`] gives the metrics.
//! Handed to the use cases' audit sink, which builds it only when audit is on.

use actix_web::HttpRequest;
use actix_web::web::Bytes;
use grantd_app::{Endpoint, Refusal};

use crate::ApiState;
use crate::error::ApiError;
use crate::form::Form;
use crate::request::{client_authentication, form_authentication, source_ip};

/// The longest presented client id an event carries (the log line's bound).
const CLIENT_ID_MAX: usize = 128;
/// The longest requested scope or audience an event carries.
const PARAM_MAX: usize = 512;

/// The body of a request, kept (a reference count, no copy) while audit or per-client metrics
/// are on, so that a refusal can say what the request presented: the form is read again only
/// for a refused request, never on the success path.
#[derive(Default)]
pub(crate) struct Seen {
    on: bool,
    body: Option<Bytes>,
}

impl Seen {
    pub(crate) fn new(state: &ApiState) -> Self {
        Self {
            on: state.service.audit_on() || !state.config.per_client.is_empty(),
            body: None,
        }
    }

    /// The request body, once read.
    pub(crate) fn body(&mut self, body: &Bytes) {
        if self.on {
            self.body = Some(body.clone());
        }
    }
}

/// What a refused request presented, as far as it can be read: the client id and method (from
/// `Authorization` or the form), the `scope` and `audience` parameters.
#[derive(Default)]
struct Presented {
    client_id: Option<String>,
    auth_method: Option<&'static str>,
    scope: Option<String>,
    audience: Option<String>,
}

impl Presented {
    fn read(req: &HttpRequest, body: Option<&Bytes>) -> Self {
        let form = body.and_then(|b| Form::parse(b).ok());
        let param = |name| form.as_ref().and_then(|f| f.single(name).ok().flatten());
        let auth = form
            .as_ref()
            .and_then(|f| form_authentication(req, f, "").ok())
            .or_else(|| {
                client_authentication(req, param("client_id"), param("client_secret")).ok()
            });
        Self {
            client_id: auth.as_ref().map(|a| cut(a.client_id(), CLIENT_ID_MAX)),
            auth_method: auth.as_ref().map(crate::metrics::auth_method),
            scope: param("scope").map(|s| cut(s, PARAM_MAX)),
            audience: param("audience").map(|a| cut(a, PARAM_MAX)),
        }
    }
}

/// Records the refusal `error` of a request to `endpoint`: the per-client counter, and the
/// audit event (both only when on).
pub(crate) fn refused(
    state: &ApiState,
    req: &HttpRequest,
    endpoint: Endpoint,
    error: &ApiError,
    seen: Seen,
) {
    if !seen.on {
        return;
    }
    let presented = Presented::read(req, seen.body.as_ref());
    let id = presented.client_id.as_deref();
    crate::metrics::client_refused(&state.config.per_client, endpoint.as_str(), id, error);
    state.service.audit_refusal(|| {
        let (code, reason) = crate::metrics::classify(error);
        Refusal {
            endpoint,
            client_id: presented.client_id,
            auth_method: presented.auth_method,
            client_ip: source_ip(req, &state.config.trusted_proxies),
            code,
            reason,
            scope: presented.scope,
            audience: presented.audience,
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
