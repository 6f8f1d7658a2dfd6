//! RFC 9457 problem details: the one shape every admin API error takes, and the one mapping of
//! [`AdminError`] kinds to HTTP status. Internal and store detail goes to the log, never into
//! the body.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use grantd_app::{AdminError, AppError};
use serde::Serialize;

/// The media type of a problem document.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a caller is told to wait after a 503.
const RETRY_AFTER_SECS: u32 = 1;

/// One admin API error: status, a stable `type` and `title` per kind, a `detail` for this
/// occurrence, and the headers that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    status: StatusCode,
    /// The last segment of the `type` URI (`urn:grantd:problem:<kind>`).
    kind: &'static str,
    title: &'static str,
    detail: String,
    /// RFC 6750 §3 challenge, on 401 and 403.
    challenge: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Self {
        Self {
            status,
            kind,
            title,
            detail: title.to_owned(),
            challenge: None,
        }
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub(crate) fn challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").detail(detail)
    }

    pub(crate) fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
        )
        .detail("If-Match does not match the current ETag: the resource changed; GET it again")
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
        )
        .detail("the store is unavailable; retry later")
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
        .detail("internal error; see the server log")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = Body {
            kind: format!("urn:grantd:problem:{}", self.kind),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let mut b = HttpResponse::build(self.status);
        b.content_type(PROBLEM_JSON)
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(c) = &self.challenge {
            b.insert_header((header::WWW_AUTHENTICATE, c.as_str()));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            b.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        b.body(serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// The one mapping of the admin use cases' error kinds: invalid input 422, missing 404,
/// conflict 409, store unavailable 503 (with `Retry-After`), internal 500 (detail logged).
impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Self {
        match &e {
            AdminError::Invalid(why) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Invalid input")
                    .detail(why.to_string())
            }
            AdminError::NotFound(what) => Problem::not_found(what.to_string()),
            AdminError::Conflict(what) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(what.to_string())
            }
            AdminError::Stale { .. } => Problem::precondition_failed(),
            AdminError::Unavailable(_) => {
                tracing::warn!(error = %e, "admin API: store unavailable");
                Problem::unavailable()
            }
            AdminError::Internal(_) => {
                tracing::error!(error = %e, "admin API: internal error");
                Problem::internal()
            }
        }
    }
}

/// The token use cases' failures met by the guard: never a refusal there, only the store.
impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unavailable(_) => {
                tracing::warn!(error = %e, "admin API: verifying a token: unavailable");
                Problem::unavailable()
            }
            other => {
                tracing::error!(error = %other, "admin API: verifying a token");
                Problem::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grantd_app::{InvalidReason, Missing, StoreFailure};
    use grantd_domain::ClientId;
    use grantd_ports::{Internal, StoreError, Unavailable};

    #[test]
    fn admin_error_kinds_map_to_statuses() {
        let failure = |cause| StoreFailure {
            doing: "listing users",
            cause,
        };
        let id = ClientId::parse("c1").expect("id");
        let cases = [
            (AdminError::Invalid(InvalidReason::NoScopes), 422),
            (AdminError::NotFound(Missing::Client(id)), 404),
            (
                AdminError::Unavailable(failure(StoreError::Unavailable(
                    Unavailable::ConnectionLost,
                ))),
                503,
            ),
            (
                AdminError::Internal(grantd_app::InternalCause::Store(failure(
                    StoreError::Internal(Internal::Decode),
                ))),
                500,
            ),
        ];
        for (e, status) in cases {
            let p = Problem::from(e);
            assert_eq!(p.status.as_u16(), status, "{p}");
            assert!(!p.detail.contains("decode"), "{p}");
        }
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let r = Problem::unavailable().error_response();
        assert_eq!(
            r.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        assert_eq!(
            r.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(PROBLEM_JSON.as_bytes())
        );
    }
}
