//! The one place where failures become HTTP: status, OAuth error JSON, and the headers that go
//! with them (`no-store`, `WWW-Authenticate`, `Retry-After`, `Allow`).
//!
//! Refusals carry the RFC error code and the domain's public description; unavailability and
//! internal failures carry only a fixed text, their detail goes to the log. A client mistake
//! never becomes a 5xx, and no description ever contains a secret.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use grantd_app::AppError;
use grantd_domain::DomainError;
use serde::Serialize;

/// Seconds a client is told to wait after a 503.
pub(crate) const RETRY_AFTER_SECS: u32 = 1;

/// The realm of the Basic challenge sent with 401s.
pub(crate) const WWW_AUTHENTICATE: &str = "Basic realm=\"grantd\"";

const JSON: &str = "application/json";

/// Everything an endpoint can fail with.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// A refusal the caller can fix; the status follows the code (400, or 401 for
    /// `invalid_client`).
    Refused(DomainError),
    /// Client authentication failed before the credentials reached the use case (no
    /// credentials, unusable `Authorization` header). Answers exactly like any other
    /// `invalid_client`; the reason is for the log.
    ClientAuth(&'static str),
    /// A dependency is unavailable: 503 `temporarily_unavailable` with `Retry-After`.
    Unavailable(String),
    /// Anything else: 500 `server_error`, opaque.
    Internal(String),
    /// The body is over the limit: 413.
    PayloadTooLarge(usize),
    /// The body has a content coding other than `identity`: 415.
    UnsupportedEncoding,
    /// The path exists, the method does not: 405 with `Allow`.
    MethodNotAllowed(&'static str),
    /// No such path: 404.
    NotFound,
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Refused(e)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Refused(d) => ApiError::Refused(d),
            AppError::Unavailable(m) => ApiError::Unavailable(m),
            AppError::Internal(m) => ApiError::Internal(m),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, which every response of the token,
/// introspection and revocation endpoints carries (RFC 6749 §5.1, RFC 7662 §2.2).
pub(crate) fn no_store(b: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
}

/// A JSON response; `oauth` adds the no-store headers.
pub(crate) fn json(status: StatusCode, body: Vec<u8>, oauth: bool) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    if oauth {
        no_store(&mut b);
    }
    b.content_type(JSON).body(body)
}

fn error_json(code: &str, description: &str) -> Vec<u8> {
    let body = ErrorBody {
        error: code,
        error_description: description,
    };
    // Serializing two strings cannot fail; the fallback keeps the response well-formed anyway.
    serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"error":"server_error"}"#.to_vec())
}

impl ApiError {
    /// The response for this error. `oauth` marks the token/introspection/revocation endpoints
    /// (no-store headers); `authorization_used` says the request carried an `Authorization`
    /// header, so a 401 must challenge with `WWW-Authenticate` (RFC 6749 §5.2).
    pub(crate) fn respond(self, oauth: bool, authorization_used: bool) -> HttpResponse {
        let (status, code, description): (StatusCode, &str, String) = match &self {
            ApiError::Refused(e) => {
                if matches!(e, DomainError::InvalidClient(_)) {
                    tracing::info!(error = %e, "client authentication refused");
                } else {
                    tracing::debug!(error = %e, "request refused");
                }
                let status = if matches!(e, DomainError::InvalidClient(_)) {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                (status, e.code(), e.description())
            }
            ApiError::ClientAuth(reason) => {
                tracing::info!(reason, "client authentication refused");
                let e = DomainError::InvalidClient(grantd_domain::ClientRejection::NoCredentials);
                (StatusCode::UNAUTHORIZED, e.code(), e.description())
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "dependency unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is temporarily unavailable, retry later".to_owned(),
                )
            }
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error".to_owned(),
                )
            }
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("request body larger than {limit} bytes"),
            ),
            ApiError::UnsupportedEncoding => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "compressed request bodies are not accepted".to_owned(),
            ),
            ApiError::MethodNotAllowed(allow) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                format!("method not allowed, use {allow}"),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint".to_owned(),
            ),
        };
        let mut b = HttpResponse::build(status);
        if oauth {
            no_store(&mut b);
        }
        match &self {
            ApiError::Refused(DomainError::InvalidClient(_)) | ApiError::ClientAuth(_)
                if authorization_used =>
            {
                b.insert_header((header::WWW_AUTHENTICATE, WWW_AUTHENTICATE));
            }
            ApiError::Unavailable(_) => {
                b.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            ApiError::MethodNotAllowed(allow) => {
                b.insert_header((header::ALLOW, *allow));
            }
            ApiError::UnsupportedEncoding => {
                // RFC 7694 §3: say which codings are accepted.
                b.insert_header((header::ACCEPT_ENCODING, "identity"));
            }
            _ => {}
        }
        b.content_type(JSON).body(error_json(code, &description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grantd_domain::{ClientRejection, InvalidRequest};

    fn status_and_header(e: ApiError, auth: bool, name: header::HeaderName) -> (u16, bool) {
        let r = e.respond(true, auth);
        (r.status().as_u16(), r.headers().contains_key(name))
    }

    #[test]
    fn status_mapping() {
        let www = || header::WWW_AUTHENTICATE;
        let invalid_client =
            || ApiError::Refused(DomainError::InvalidClient(ClientRejection::WrongSecret));
        assert_eq!(
            status_and_header(invalid_client(), true, www()),
            (401, true)
        );
        assert_eq!(
            status_and_header(invalid_client(), false, www()),
            (401, false)
        );
        assert_eq!(
            status_and_header(ApiError::ClientAuth("x"), true, www()),
            (401, true)
        );
        let bad = ApiError::Refused(DomainError::InvalidRequest(
            InvalidRequest::MultipleClientAuthMethods,
        ));
        assert_eq!(status_and_header(bad, true, www()), (400, false));
        assert_eq!(
            status_and_header(
                ApiError::Unavailable("db".into()),
                false,
                header::RETRY_AFTER
            ),
            (503, true)
        );
        assert_eq!(
            status_and_header(ApiError::MethodNotAllowed("POST"), false, header::ALLOW),
            (405, true)
        );
        for e in [
            ApiError::Internal("x".into()),
            ApiError::PayloadTooLarge(1),
            ApiError::UnsupportedEncoding,
        ] {
            let r = e.respond(true, false);
            assert!(r.headers().contains_key(header::CACHE_CONTROL));
            assert!(r.headers().contains_key(header::PRAGMA));
        }
    }
}
