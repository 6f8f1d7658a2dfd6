//! The one place where failures become HTTP: status, OAuth error JSON, and the headers that go
//! with them (`no-store`, `WWW-Authenticate`, `Retry-After`, `Allow`).
//!
//! Refusals carry the RFC error code and the domain's public description; unavailability and
//! internal failures carry only a fixed text, their detail goes to the log. A client mistake
//! never becomes a 5xx, no description ever contains a secret, and every description leaves
//! within RFC 6749 §5.2's character set whatever input it echoes. A client-authentication
//! failure is logged here, at WARN, with the presented client id and the source address.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, Payload};
use actix_web::{HttpResponse, HttpResponseBuilder};
use grantd_app::AppError;
use grantd_domain::{ClientRejection, DomainError};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;

/// Seconds a client is told to wait after a 503.
pub(crate) const RETRY_AFTER_SECS: u32 = 1;

/// The realm of the Basic challenge sent with 401s.
pub(crate) const WWW_AUTHENTICATE: &str = "Basic realm=\"grantd\"";

const JSON: &str = "application/json";

/// Longest piece of a presented client id written to the log (it is attacker-chosen).
const CLIENT_ID_LOG_MAX: usize = 128;

/// Everything an endpoint can fail with.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// A refusal the caller can fix; the status follows the code (400, or 401 for
    /// `invalid_client`).
    Refused(DomainError),
    /// Client authentication failed, before the use case (no credentials, unusable
    /// `Authorization` header) or in it. Answers exactly like any other `invalid_client`; the
    /// reason and the presented client id are for the log.
    ClientAuth(AuthFailure),
    /// A dependency is unavailable: 503 `temporarily_unavailable` with `Retry-After`.
    Unavailable(String),
    /// Anything else: 500 `server_error`, opaque.
    Internal(String),
    /// Over a rate limit or throttled after failed authentications (the two are answered
    /// alike, so the answer never tells whether a client id exists): 429
    /// `temporarily_unavailable` with `Retry-After` (the wait, rounded up).
    RateLimited(Duration),
    /// The authenticated client's token quota for a window is used up: 429 `quota_exceeded`
    /// (an extension code, RFC 6749 §8.5) with `Retry-After` (until a slot frees). Only an
    /// authenticated caller ever gets it.
    QuotaExhausted(grantd_domain::QuotaWindow, Duration),
    /// The body is over the limit: 413 (the connection is closed if the rest is still coming).
    PayloadTooLarge(usize, Unread),
    /// The body did not arrive within the deadline: 408, and the connection is closed.
    BodyTimeout(Duration, Unread),
    /// The body has a content coding other than `identity`: 415.
    UnsupportedEncoding,
    /// The path exists, the method does not: 405 with `Allow`.
    MethodNotAllowed(&'static str),
    /// No such path: 404.
    NotFound,
}

/// The rest of a request body that was not read (too large, or too slow), held until the error
/// response has been written. actix-http closes a connection after a response when the
/// request's payload is unfinished *and still held*; a payload dropped early is drained for the
/// next request instead (always for a chunked body), so a chunked body that never ends would
/// keep the connection, and its descriptor, forever.
pub(crate) struct Unread(Option<Payload>);

impl Unread {
    /// Nothing to hold: no byte of the body was read (a declared length refused up front).
    pub(crate) fn none() -> Self {
        Unread(None)
    }

    pub(crate) fn held(payload: Payload) -> Self {
        Unread(Some(payload))
    }
}

impl fmt::Debug for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Unread(held)"
        } else {
            "Unread(none)"
        })
    }
}

/// An error body that owns the unread payload until the body has been written (see
/// [`Unread`]): actix decides to close when the body ends, while this still holds it.
struct HoldingBody {
    json: Option<Bytes>,
    len: u64,
    _unread: Payload,
}

impl MessageBody for HoldingBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.get_mut().json.take().map(Ok))
    }
}

/// A failed client authentication, as the operator's log sees it.
#[derive(Debug)]
pub(crate) struct AuthFailure {
    reason: AuthReason,
    /// The client id as presented (Basic user name or body `client_id`), if any.
    client_id: Option<String>,
}

#[derive(Debug)]
pub(crate) enum AuthReason {
    /// Refused before the use case: the request's credentials are unusable or absent.
    Request(&'static str),
    /// Refused by the use case or the grant decision.
    Rejected(ClientRejection),
}

impl ApiError {
    /// A client-authentication failure found in the request itself.
    pub(crate) fn client_auth(reason: &'static str) -> Self {
        ApiError::ClientAuth(AuthFailure {
            reason: AuthReason::Request(reason),
            client_id: None,
        })
    }

    /// Names the client id the request presented on a client-authentication failure (for the
    /// log line); any other error is returned as it is.
    pub(crate) fn presented_by(self, client_id: &str) -> Self {
        match self {
            ApiError::ClientAuth(AuthFailure {
                reason,
                client_id: None,
            }) => ApiError::ClientAuth(AuthFailure {
                reason,
                client_id: Some(client_id.to_owned()),
            }),
            other => other,
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidClient(r) => ApiError::ClientAuth(AuthFailure {
                reason: AuthReason::Rejected(r),
                client_id: None,
            }),
            other => ApiError::Refused(other),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Refused(d) => ApiError::from(d),
            AppError::Unavailable(m) => ApiError::Unavailable(m.to_string()),
            AppError::Internal(m) => ApiError::Internal(m.to_string()),
            AppError::QuotaExhausted {
                window,
                retry_after,
            } => ApiError::QuotaExhausted(window, retry_after),
        }
    }
}

/// A presented client id in a log line: `Debug`-escaped (no line break, control or bidi
/// character reaches the log as such) and cut to [`CLIENT_ID_LOG_MAX`] characters; `-` when
/// the request presented none.
struct PresentedId<'a>(Option<&'a str>);

impl fmt::Display for PresentedId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(id) = self.0 else {
            return f.write_str("-");
        };
        match id.char_indices().nth(CLIENT_ID_LOG_MAX) {
            Some((cut, _)) => write!(f, "{:?}...", &id[..cut]),
            None => write!(f, "{id:?}"),
        }
    }
}

/// The source address in a log line, `-` when unknown.
struct Source(Option<IpAddr>);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

impl AuthFailure {
    pub(crate) fn reason(&self) -> &AuthReason {
        &self.reason
    }

    /// One WARN line per failure, the level an operator alerts on: who it claimed to be, from
    /// where, and why it failed. Never the secret (it is not even here).
    fn log(&self, source: Option<IpAddr>) {
        let client_id = PresentedId(self.client_id.as_deref());
        let source = Source(source);
        match &self.reason {
            AuthReason::Request(reason) => tracing::warn!(
                %client_id, %source, reason, "client authentication failed"
            ),
            AuthReason::Rejected(reason) => tracing::warn!(
                %client_id, %source, ?reason, "client authentication failed"
            ),
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

/// What RFC 6749 §5.2 forbids in `error_description` (it allows %x20-21 / %x23-5B / %x5D-7E):
/// controls, `"` and `\`; non-ASCII is always encoded.
const OUTSIDE_RFC6749_DESCRIPTION: &AsciiSet = &CONTROLS.add(b'"').add(b'\\');

/// `description` within RFC 6749 §5.2's character set, whatever caller input it echoes: every
/// byte outside the set is percent-encoded (`"` → `%22`, `é` → `%C3%A9`), so the text stays
/// readable and nothing is silently dropped. `%` itself is in the set and left alone.
pub(crate) fn rfc6749_description(description: &str) -> Cow<'_, str> {
    utf8_percent_encode(description, OUTSIDE_RFC6749_DESCRIPTION).into()
}

/// The OAuth error body. The one place every error description leaves through, so the
/// character-set rule holds on every endpoint.
fn error_json(code: &str, description: &str) -> Vec<u8> {
    let description = rfc6749_description(description);
    let body = ErrorBody {
        error: code,
        error_description: &description,
    };
    // Serializing two strings cannot fail; the fallback keeps the response well-formed anyway.
    serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"error":"server_error"}"#.to_vec())
}

impl ApiError {
    /// The response for this error. `oauth` marks the token/introspection/revocation endpoints
    /// (no-store headers); `authorization_used` says the request carried an `Authorization`
    /// header, so a 401 must challenge with `WWW-Authenticate` (RFC 6749 §5.2).
    pub(crate) fn respond(self, oauth: bool, authorization_used: bool) -> HttpResponse {
        self.respond_from(oauth, authorization_used, None)
    }

    /// [`ApiError::respond`] for a request from `source` (the peer, or the client behind
    /// trusted proxies), which the log line of a client-authentication failure names.
    pub(crate) fn respond_from(
        mut self,
        oauth: bool,
        authorization_used: bool,
        source: Option<IpAddr>,
    ) -> HttpResponse {
        self.log(source);
        let unread = match &mut self {
            ApiError::PayloadTooLarge(_, u) | ApiError::BodyTimeout(_, u) => u.0.take(),
            _ => None,
        };
        let (status, code, description) = self.status_code_description();
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
            ApiError::RateLimited(wait) | ApiError::QuotaExhausted(_, wait) => {
                b.insert_header((header::RETRY_AFTER, crate::limits::retry_after_secs(*wait)));
            }
            ApiError::MethodNotAllowed(allow) => {
                b.insert_header((header::ALLOW, *allow));
            }
            ApiError::Refused(DomainError::UseDpopNonce { nonce }) => {
                // RFC 9449 §8: the nonce the client must put in its next proof.
                if let Ok(v) = HeaderValue::from_str(nonce) {
                    b.insert_header((crate::handlers::DPOP_NONCE, v));
                }
            }
            ApiError::UnsupportedEncoding => {
                // RFC 7694 §3: say which codings are accepted.
                b.insert_header((header::ACCEPT_ENCODING, "identity"));
            }
            ApiError::BodyTimeout(..) => {
                // The rest of the body may still be on its way (or never come): the connection
                // cannot be reused, and keeping it would keep the slow sender's descriptor.
                b.force_close();
            }
            _ => {}
        }
        b.content_type(JSON);
        let json = Bytes::from(error_json(code, &description));
        match unread {
            Some(payload) => b.force_close().body(HoldingBody {
                len: json.len() as u64,
                json: Some(json),
                _unread: payload,
            }),
            None => b.body(json),
        }
    }

    fn log(&self, source: Option<IpAddr>) {
        match self {
            ApiError::ClientAuth(failure) => failure.log(source),
            ApiError::Refused(DomainError::InvalidClient(reason)) => AuthFailure {
                reason: AuthReason::Rejected(reason.clone()),
                client_id: None,
            }
            .log(source),
            ApiError::Refused(e) => tracing::debug!(error = %e, "request refused"),
            ApiError::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "dependency unavailable")
            }
            ApiError::Internal(detail) => tracing::error!(detail = %detail, "internal error"),
            ApiError::BodyTimeout(deadline, _) => {
                tracing::info!(source = %Source(source), ?deadline, "request body not received in time")
            }
            _ => {}
        }
    }

    fn status_code_description(&self) -> (StatusCode, &'static str, String) {
        let invalid_client = || {
            let e = DomainError::InvalidClient(ClientRejection::NoCredentials);
            (StatusCode::UNAUTHORIZED, e.code(), e.description())
        };
        match self {
            ApiError::Refused(DomainError::InvalidClient(_)) | ApiError::ClientAuth(_) => {
                invalid_client()
            }
            ApiError::Refused(e) => (StatusCode::BAD_REQUEST, e.code(), e.description()),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is temporarily unavailable, retry later".to_owned(),
            ),
            ApiError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many requests, retry later".to_owned(),
            ),
            ApiError::QuotaExhausted(window, _) => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                format!("token quota per {} exhausted", window.as_str()),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".to_owned(),
            ),
            ApiError::PayloadTooLarge(limit, _) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("request body larger than {limit} bytes"),
            ),
            ApiError::BodyTimeout(deadline, _) => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                format!(
                    "request body not received within {} ms",
                    deadline.as_millis()
                ),
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grantd_domain::{InvalidRequest, ScopeProblem};
    use proptest::prelude::*;

    /// RFC 6749 §5.2: `error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )`.
    fn in_rfc6749_set(s: &str) -> bool {
        s.bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    }

    /// The description as a client reads it: the JSON body's `error_description`.
    fn sent_description(e: ApiError) -> String {
        let body = e.respond(true, false).into_body();
        let body = actix_web::rt::System::new()
            .block_on(actix_web::body::to_bytes(body))
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["error_description"].as_str().unwrap().to_owned()
    }

    #[test]
    fn descriptions_are_escaped_into_the_rfc6749_set() {
        let table = [
            ("service\"", "service%22"),
            ("serv\\ice", "serv%5Cice"),
            ("café", "caf%C3%A9"),
            ("a\u{1}b\u{7f}c\td", "a%01b%7Fc%09d"),
            ("bidi \u{202e} override", "bidi %E2%80%AE override"),
            (
                "100% plain ~!#$&'()*+,-./:;<=>?@[]^_`{|}",
                "100% plain ~!#$&'()*+,-./:;<=>?@[]^_`{|}",
            ),
        ];
        for (input, want) in table {
            assert_eq!(rfc6749_description(input), want, "{input:?}");
        }
    }

    #[test]
    fn every_endpoint_error_leaves_within_the_set() {
        // Domain descriptions that echo input (`echo` drops controls but keeps `"`, `\`, é).
        for input in ["service\"", "serv\\ice", "café"] {
            for e in [
                DomainError::InvalidScope(ScopeProblem::Malformed(input.into())),
                DomainError::InvalidScope(ScopeProblem::Unknown(input.into())),
                DomainError::UnsupportedGrantType(input.into()),
                DomainError::InvalidRequest(InvalidRequest::Body(input.into())),
                DomainError::InvalidRequest(InvalidRequest::RepeatedParameter(input.into())),
            ] {
                let d = sent_description(ApiError::from(e.clone()));
                assert!(in_rfc6749_set(&d), "{e:?}: {d:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_description_stays_within_the_set(input in any::<String>()) {
            let d = rfc6749_description(&input);
            prop_assert!(in_rfc6749_set(&d), "{:?} -> {:?}", input, d);
            // What was already in the set passes unchanged.
            if in_rfc6749_set(&input) {
                prop_assert_eq!(d.as_ref(), input.as_str());
            }
            // The whole body too: JSON escaping has nothing left to escape.
            let v: serde_json::Value =
                serde_json::from_slice(&error_json("invalid_request", &input)).unwrap();
            let sent = v["error_description"].as_str().unwrap();
            prop_assert!(in_rfc6749_set(sent));
        }
    }

    #[test]
    fn presented_client_id_is_escaped_and_bounded_in_the_log() {
        assert_eq!(PresentedId(None).to_string(), "-");
        assert_eq!(PresentedId(Some("svc")).to_string(), "\"svc\"");
        assert_eq!(
            PresentedId(Some("a\nb\u{1b}[31m\u{202e}")).to_string(),
            "\"a\\nb\\u{1b}[31m\\u{202e}\""
        );
        let long = "é".repeat(1000);
        let shown = PresentedId(Some(&long)).to_string();
        assert_eq!(shown, format!("{:?}...", "é".repeat(CLIENT_ID_LOG_MAX)));
        assert_eq!(Source(None).to_string(), "-");
    }

    #[test]
    fn presented_by_names_only_client_auth_failures() {
        let named = ApiError::client_auth("x").presented_by("svc");
        assert!(
            matches!(&named, ApiError::ClientAuth(AuthFailure { client_id: Some(id), .. }) if id == "svc")
        );
        // The first id named stays.
        let again = named.presented_by("other");
        assert!(
            matches!(&again, ApiError::ClientAuth(AuthFailure { client_id: Some(id), .. }) if id == "svc")
        );
        let from_use_case = ApiError::from(AppError::Refused(DomainError::InvalidClient(
            ClientRejection::WrongSecret,
        )))
        .presented_by("svc");
        assert!(matches!(
            from_use_case,
            ApiError::ClientAuth(AuthFailure {
                reason: AuthReason::Rejected(ClientRejection::WrongSecret),
                client_id: Some(_),
            })
        ));
        assert!(matches!(
            ApiError::NotFound.presented_by("svc"),
            ApiError::NotFound
        ));
    }

    #[test]
    fn a_body_timeout_is_408_and_closes_the_connection() {
        let r = ApiError::BodyTimeout(Duration::from_secs(5), Unread::none()).respond(true, false);
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            r.head().connection_type(),
            actix_web::http::ConnectionType::Close
        );
        assert!(r.headers().contains_key(header::CACHE_CONTROL));
        assert!(r.headers().contains_key(header::PRAGMA));
    }

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
            status_and_header(ApiError::client_auth("x"), true, www()),
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
            ApiError::PayloadTooLarge(1, Unread::none()),
            ApiError::UnsupportedEncoding,
        ] {
            let r = e.respond(true, false);
            assert!(r.headers().contains_key(header::CACHE_CONTROL));
            assert!(r.headers().contains_key(header::PRAGMA));
        }
    }
}
