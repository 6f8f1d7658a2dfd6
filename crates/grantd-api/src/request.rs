//! What the POST endpoints take from a request before any use case runs: the checked, bounded
//! form body, the client authentication (Basic header or body, exactly one), and the request
//! context for the session row.

use std::future::poll_fn;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{Bytes, BytesMut, Payload};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures_core::Stream;
use grantd_app::ClientAuthentication;
use grantd_domain::{DomainError, InvalidRequest, RequestContext};

use crate::cidr::IpCidr;
use crate::client_ip::client_ip;
use crate::error::{ApiError, Unread};
use crate::form::{Form, decode, query_has_any};

const FORM: &str = "application/x-www-form-urlencoded";

/// Standard base64 with or without padding: clients differ, and both are unambiguous.
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn invalid_request(reason: &str) -> ApiError {
    ApiError::Refused(DomainError::InvalidRequest(InvalidRequest::Body(
        reason.to_owned(),
    )))
}

/// `Content-Encoding` absent or only `identity`.
fn check_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let ok = value.to_str().is_ok_and(|s| {
            s.split(',')
                .map(str::trim)
                .all(|c| c.is_empty() || c.eq_ignore_ascii_case("identity"))
        });
        if !ok {
            return Err(ApiError::UnsupportedEncoding);
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded`, with `charset=utf-8` tolerated and any other charset
/// refused. Other media-type parameters are ignored.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let wrong = || invalid_request("content type must be application/x-www-form-urlencoded");
    let mut values = headers.get_all(header::CONTENT_TYPE);
    let value = values.next().ok_or_else(wrong)?;
    if values.next().is_some() {
        return Err(wrong());
    }
    let value = value.to_str().map_err(|_| wrong())?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(FORM) {
        return Err(wrong());
    }
    for param in parts {
        let Some((name, v)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            if !v.eq_ignore_ascii_case("utf-8") {
                return Err(invalid_request("only charset=utf-8 is accepted"));
            }
        }
    }
    Ok(())
}

/// The declared body length, if any. A length that does not parse was already refused by the
/// HTTP parser; treat it as absent and let the streaming cap decide.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
}

/// Checks headers and query, then reads the body under `limit` within `deadline`. Order:
/// declared size (413 before a byte of body is read), content coding (415), content type (400),
/// credentials in the query string (400), then the body itself, cut off as soon as it passes
/// `limit` (413) or when the whole of it has not arrived `deadline` after the first read began
/// (408, connection closed): a body that trickles in, or a declared length that is never sent,
/// would otherwise hold the connection and its descriptor forever.
pub(crate) async fn read_form_body(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    let headers = req.headers();
    if content_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit, Unread::none()));
    }
    check_encoding(headers)?;
    check_content_type(headers)?;
    if query_has_any(req.query_string(), &["client_id", "client_secret"]) {
        return Err(ApiError::Refused(DomainError::InvalidRequest(
            InvalidRequest::CredentialsInQuery,
        )));
    }
    let mut payload = payload;
    let read = actix_web::rt::time::timeout(deadline, read_limited(&mut payload, limit));
    match read.await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(ReadError::TooLarge)) => {
            Err(ApiError::PayloadTooLarge(limit, Unread::held(payload)))
        }
        Ok(Err(ReadError::Broken(e))) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(invalid_request("request body could not be read"))
        }
        Err(_) => Err(ApiError::BodyTimeout(deadline, Unread::held(payload))),
    }
}

enum ReadError {
    TooLarge,
    Broken(PayloadError),
}

/// Reads the whole body, refusing it as soon as it passes `limit`. It borrows the payload (where
/// `Payload::to_bytes_limited` consumes it) so that the unread rest can be held for the error
/// response, which makes actix close the connection (see [`Unread`]).
async fn read_limited(payload: &mut Payload, limit: usize) -> Result<Bytes, ReadError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut *payload).poll_next(cx)).await {
        let chunk = chunk.map_err(ReadError::Broken)?;
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Whether the request carries an `Authorization` header (it then gets a Basic challenge with
/// any 401).
pub(crate) fn authorization_used(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::AUTHORIZATION)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1): split
/// at the first colon of the decoded bytes, then form-url-decode each side, so `+`, `%` and `:`
/// in a secret survive.
pub(crate) fn parse_basic(value: &[u8]) -> Result<(String, String), ApiError> {
    let value = std::str::from_utf8(value)
        .map_err(|_| ApiError::client_auth("Authorization header is not text"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::client_auth("Authorization scheme is not Basic"));
    }
    let raw = BASIC_B64
        .decode(token.trim())
        .map_err(|_| ApiError::client_auth("Basic credentials are not base64"))?;
    let colon = raw
        .iter()
        .position(|&b| b == b':')
        .ok_or(ApiError::client_auth("Basic credentials have no colon"))?;
    let id = decode(&raw[..colon])
        .map_err(|_| ApiError::client_auth("Basic client id is not form-url-encoded UTF-8"))?;
    let secret = decode(&raw[colon + 1..])
        .map_err(|_| ApiError::client_auth("Basic secret is not form-url-encoded UTF-8"))?;
    if id.is_empty() || secret.is_empty() {
        return Err(
            ApiError::client_auth("Basic credentials have an empty part").presented_by(&id),
        );
    }
    Ok((id.into_owned(), secret.into_owned()))
}

/// RFC 7523 §2.2's `client_assertion_type`.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// draft-ietf-oauth-spiffe-client-auth's `client_assertion_type` for a JWT-SVID.
pub(crate) const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// Longest unverified `iss` used as a rate-limit key (a client id is far shorter).
const UNVERIFIED_ISS_MAX: usize = 256;

/// The `iss` of a client assertion, unverified: decoded from the payload only so that rate
/// limits and failure throttling key on the client the assertion names rather than on one
/// shared empty id. Never trusted beyond that: the app verifies the assertion.
fn unverified_iss(assertion: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = assertion.split('.').nth(1)?;
    if payload.len() > 8 * 1024 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    let iss = claims.get("iss")?.as_str()?;
    (!iss.is_empty() && iss.len() <= UNVERIFIED_ISS_MAX).then(|| iss.to_owned())
}

/// The client authentication of a form: a `client_assertion` (`private_key_jwt`, which must
/// come alone: a Basic header or `client_secret` beside it is `invalid_request`), or else
/// what [`client_authentication`] reads. `token_endpoint` is the URL an assertion's `aud` may
/// name beside the issuer.
pub(crate) fn form_authentication<'a>(
    req: &HttpRequest,
    form: &'a Form<'_>,
    token_endpoint: &'a str,
) -> Result<ClientAuthentication<'a>, ApiError> {
    let body_id = form.single("client_id")?;
    let body_secret = form.single("client_secret")?;
    let assertion_type = form.single("client_assertion_type")?;
    let assertion = form.single("client_assertion")?;
    let invalid = |r| ApiError::Refused(DomainError::InvalidRequest(r));
    match (assertion_type, assertion) {
        (None, None) => client_authentication(req, body_id, body_secret),
        (Some(kind @ (JWT_BEARER | JWT_SPIFFE)), Some(assertion)) => {
            if body_secret.is_some() || req.headers().contains_key(header::AUTHORIZATION) {
                return Err(invalid(InvalidRequest::MultipleClientAuthMethods));
            }
            if kind == JWT_SPIFFE {
                return Ok(ClientAuthentication::JwtSpiffe {
                    client_id: body_id.map(Into::into),
                    assertion: assertion.into(),
                });
            }
            Ok(ClientAuthentication::PrivateKeyJwt {
                unverified_iss: match body_id {
                    Some(_) => None,
                    None => unverified_iss(assertion).map(Into::into),
                },
                client_id: body_id.map(Into::into),
                assertion: assertion.into(),
                token_endpoint: token_endpoint.into(),
            })
        }
        (Some(_), Some(_)) => Err(invalid(InvalidRequest::InvalidParameter {
            name: "client_assertion_type",
            reason: format!("only {JWT_BEARER} or {JWT_SPIFFE} is supported"),
        })),
        (None, Some(_)) => Err(invalid(InvalidRequest::MissingParameter(
            "client_assertion_type",
        ))),
        (Some(_), None) => Err(invalid(InvalidRequest::MissingParameter(
            "client_assertion",
        ))),
    }
}

/// How the request claims to be a client: exactly one method. `body_id`/`body_secret` are the
/// form's `client_id`/`client_secret` (empty values already count as absent). Only the shape
/// is judged here; [`grantd_app::TokenService::authenticate`] judges the claim. A new method
/// (a JWT assertion) is one more case here and one more variant of [`ClientAuthentication`].
///
/// * `Authorization` plus a body `client_secret`: two methods, `invalid_request`;
/// * `Authorization` plus a body `client_id` naming another client: `invalid_request` (the same
///   id is allowed, RFC 6749 §3.2.1 lets clients send it);
/// * an `Authorization` header that is not usable Basic, or no client id at all:
///   `invalid_client`;
/// * a body `client_id` alone: [`ClientAuthentication::None`] (refused by the use case).
pub(crate) fn client_authentication<'a>(
    req: &HttpRequest,
    body_id: Option<&'a str>,
    body_secret: Option<&'a str>,
) -> Result<ClientAuthentication<'a>, ApiError> {
    let mut auth = req.headers().get_all(header::AUTHORIZATION);
    if let Some(value) = auth.next() {
        if auth.next().is_some() {
            return Err(ApiError::Refused(DomainError::InvalidRequest(
                InvalidRequest::RepeatedParameter("Authorization".to_owned()),
            )));
        }
        if body_secret.is_some() {
            return Err(ApiError::Refused(DomainError::InvalidRequest(
                InvalidRequest::MultipleClientAuthMethods,
            )));
        }
        let (client_id, secret) = parse_basic(value.as_bytes())?;
        if body_id.is_some_and(|b| b != client_id) {
            return Err(ApiError::Refused(DomainError::InvalidRequest(
                InvalidRequest::InvalidParameter {
                    name: "client_id",
                    reason: "differs from the client in the Authorization header".to_owned(),
                },
            )));
        }
        return Ok(ClientAuthentication::SecretBasic {
            client_id: client_id.into(),
            secret: secret.into(),
        });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(ClientAuthentication::SecretPost {
            client_id: id.into(),
            secret: secret.into(),
        }),
        (Some(id), None) => Ok(ClientAuthentication::None {
            client_id: id.into(),
        }),
        (None, Some(_)) => Err(ApiError::client_auth("client_secret without client_id")),
        (None, None) => Err(ApiError::client_auth("no client credentials")),
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Where the request came from: the peer, or the client behind the trusted proxies.
pub(crate) fn source_ip(req: &HttpRequest, trusted: &[IpCidr]) -> Option<IpAddr> {
    client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers()
            .get_all(header::X_FORWARDED_FOR)
            .map(|v| v.as_bytes()),
        trusted,
    )
}

/// Who asked and from where, for the session row. Every field is cleaned and bounded by
/// [`RequestContext::clean`].
pub(crate) fn request_context(req: &HttpRequest, trusted: &[IpCidr]) -> RequestContext {
    let headers = req.headers();
    RequestContext {
        ip: source_ip(req, trusted),
        user_agent: RequestContext::clean(header_text(headers, header::USER_AGENT)),
        accept_language: RequestContext::clean(header_text(headers, header::ACCEPT_LANGUAGE)),
        referer: RequestContext::clean(header_text(headers, header::REFERER)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> Result<(String, String), &'static str> {
        parse_basic(s.as_bytes()).map_err(|e| match e {
            ApiError::ClientAuth(_) => "client authentication failed",
            _ => "other",
        })
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn an_assertions_unverified_iss_is_read_for_rate_limits_only_when_sane() {
        let jws = |payload: &str| {
            let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
            format!("eyJhbGciOiJFUzI1NiJ9.{p}.c2ln")
        };
        assert_eq!(
            unverified_iss(&jws(r#"{"iss":"cl_a","sub":"cl_a"}"#)).as_deref(),
            Some("cl_a")
        );
        let long = format!(r#"{{"iss":"{}"}}"#, "x".repeat(UNVERIFIED_ISS_MAX + 1));
        for bad in [
            jws(r#"{"sub":"cl_a"}"#),
            jws(r#"{"iss":""}"#),
            jws(r#"{"iss":7}"#),
            jws("not json"),
            jws(&long),
            "no-dots".to_owned(),
            "a.!!!.c".to_owned(),
        ] {
            assert_eq!(unverified_iss(&bad), None, "{bad}");
        }
    }

    #[test]
    fn basic_decoding() {
        let ok = |id: &str, secret: &str| Ok((id.to_owned(), secret.to_owned()));
        assert_eq!(
            basic(&format!("Basic {}", b64(b"svc:s3cret"))),
            ok("svc", "s3cret")
        );
        assert_eq!(
            basic(&format!("basic   {}", b64(b"svc:s3cret"))),
            ok("svc", "s3cret")
        );
        // form-url-decoded after base64: '+' is a space, %2B a plus, %3A a colon
        assert_eq!(
            basic(&format!("Basic {}", b64(b"svc:a%2Bb%25c%3Ad+e"))),
            ok("svc", "a+b%c:d e")
        );
        // split at the FIRST colon: later raw colons belong to the secret
        assert_eq!(
            basic(&format!("Basic {}", b64(b"svc:a:b"))),
            ok("svc", "a:b")
        );
        // padding optional
        assert_eq!(basic("Basic c3ZjOnM"), ok("svc", "s"));
        for bad in [
            "Bearer abc".to_owned(),
            "Basic".to_owned(),
            "Basic !!!".to_owned(),
            format!("Basic {}", b64(b"no-colon")),
            format!("Basic {}", b64(b":secret")),
            format!("Basic {}", b64(b"svc:")),
            format!("Basic {}", b64(b"svc:%zz")),
            format!("Basic {}", b64(b"svc:\xff")),
        ] {
            assert!(basic(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_types() {
        use actix_web::http::header::{HeaderName, HeaderValue};
        let check = |v: Option<&'static str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = v {
                h.insert(
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static(v),
                );
            }
            check_content_type(&h).is_ok()
        };
        assert!(check(Some("application/x-www-form-urlencoded")));
        assert!(check(Some(
            "Application/X-WWW-Form-URLEncoded ; charset=UTF-8"
        )));
        assert!(check(Some(
            "application/x-www-form-urlencoded; charset=\"utf-8\""
        )));
        assert!(check(Some("application/x-www-form-urlencoded; foo=bar")));
        assert!(!check(Some(
            "application/x-www-form-urlencoded; charset=iso-8859-1"
        )));
        assert!(!check(Some("application/json")));
        assert!(!check(Some("multipart/form-data; boundary=x")));
        assert!(!check(Some("text/plain")));
        assert!(!check(None));
    }
}
