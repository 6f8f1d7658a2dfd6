//! The endpoint handlers: token, introspection, revocation, metadata, JWKS and health.
//!
//! Each POST handler runs the same shape: read and check the body, pull the parameters it
//! knows (repeats refused), check the request's own shape, then client authentication, then
//! the use case. Every outcome leaves through `error::ApiError::respond` or a success builder
//! here, both of which set the no-store headers.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderName;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse};
use grantd_app::{AuthenticatedClient, ClientAuthentication, DpopProof, Endpoint, TokenRequest};
use grantd_domain::{
    AudienceRequest, DomainError, GrantType, InvalidRequest, ProofRejection, ProofTarget,
};
use serde::Serialize;

use crate::ApiState;
use crate::audit::Seen;
use crate::error::{ApiError, json, no_store};
use crate::form::Form;
use crate::metrics::Introspection;
use crate::request::{
    authorization_used, form_authentication, read_form_body, request_context, source_ip,
};

/// How long resource servers may cache the JWKS. Short, so a rotation is seen quickly; the
/// `next` key is published ahead of use, so a cached copy never misses a signing key.
pub(crate) const JWKS_MAX_AGE_SECS: u32 = 300;

/// The request header carrying a DPoP proof (RFC 9449 §4.1).
const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The response header carrying a server nonce (RFC 9449 §8.1).
pub(crate) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

#[derive(Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    token_type: &'a str,
    expires_in: u32,
    scope: &'a str,
}

fn missing(name: &'static str) -> ApiError {
    ApiError::Refused(DomainError::InvalidRequest(
        InvalidRequest::MissingParameter(name),
    ))
}

/// The answer of a POST endpoint: its response, or its error as RFC 6749 §5.2 JSON (with a
/// Basic challenge on a 401 when the request used `Authorization`). The source address is
/// found only for an error (the log line of a client-authentication failure names it).
fn answer(
    state: &ApiState,
    req: &HttpRequest,
    result: Result<HttpResponse, ApiError>,
) -> HttpResponse {
    result.unwrap_or_else(|e| {
        let source = source_ip(req, &state.config.trusted_proxies);
        e.respond_from(true, authorization_used(req), source)
    })
}

/// The body of a POST endpoint, checked and bounded in size and time.
async fn read_body(
    state: &ApiState,
    req: &HttpRequest,
    payload: Payload,
) -> Result<Bytes, ApiError> {
    let config = &state.config;
    read_form_body(req, payload, config.body_limit, config.body_timeout).await
}

/// The source address's bucket, before a byte of the body is read; the address (the peer, or
/// the client behind trusted proxies) is what the client's throttle is keyed on too.
fn admit(state: &ApiState, req: &HttpRequest) -> Result<Option<IpAddr>, ApiError> {
    let source = source_ip(req, &state.config.trusted_proxies);
    state
        .limits
        .check_ip(source)
        .map_err(ApiError::RateLimited)?;
    Ok(source)
}

/// Client authentication behind the limits: the presented id's bucket and the (id, address)
/// failure throttle answer 429 before any secret work; a failure to authenticate counts
/// against the pair, a success clears it. A failure carries the client id as presented, for
/// the log.
async fn authenticate(
    state: &ApiState,
    auth: &ClientAuthentication<'_>,
    source: Option<IpAddr>,
) -> Result<AuthenticatedClient, ApiError> {
    let id = auth.client_id();
    state
        .limits
        .check_client(id, source)
        .map_err(ApiError::RateLimited)?;
    let result = state
        .service
        .authenticate(auth)
        .await
        .map_err(|e| ApiError::from(e).presented_by(id));
    match &result {
        Ok(client) => {
            state.limits.succeeded(id, source);
            let own = client.limits().rate.map(|r| crate::limits::Rate {
                per_second: r.per_second,
                burst: r.burst,
            });
            state.limits.learn(id, own);
        }
        Err(ApiError::ClientAuth(_) | ApiError::Refused(DomainError::InvalidClient(_))) => {
            state.limits.failed(id, source)
        }
        Err(_) => {}
    }
    result
}

/// The grant a token request asks for: missing → `invalid_request`, a name grantd does not
/// implement → `unsupported_grant_type`.
fn parse_grant_type(value: Option<&str>) -> Result<GrantType, ApiError> {
    let value = value.ok_or_else(|| missing("grant_type"))?;
    GrantType::parse(value)
        .ok_or_else(|| ApiError::Refused(DomainError::UnsupportedGrantType(value.to_owned())))
}

fn serialize<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("serializing response: {e}")))
}

/// `POST /oauth/token` and `POST /api/v1/core/oauth/token`.
pub(crate) async fn token(
    state: Data<ApiState>,
    req: HttpRequest,
    payload: Payload,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let mut seen = Seen::new(&state);
    let result = token_inner(&state, &req, payload, &mut seen).await;
    state
        .meters
        .finished(Endpoint::Token, started, result.as_ref().err());
    if let Err(e) = &result {
        crate::audit::refused(&state, &req, Endpoint::Token, e, seen);
    }
    answer(&state, &req, result)
}

/// Order of checks: body and parameters (400/413/415), then `grant_type` (missing →
/// `invalid_request`, other → `unsupported_grant_type`, both answered without credentials:
/// the grant types are public in the metadata and the request cannot succeed anyway), then the
/// shape of the client authentication, then authentication (401), then the grant's use case
/// (whose `unauthorized_client`, scope and audience refusals come from the domain). A new
/// grant is a new [`GrantType`] and one more arm of the `match` below.
async fn token_inner(
    state: &ApiState,
    req: &HttpRequest,
    payload: Payload,
    seen: &mut Seen,
) -> Result<HttpResponse, ApiError> {
    let source = admit(state, req)?;
    let body = read_body(state, req, payload).await?;
    seen.body(&body);
    let form = Form::parse(&body)?;
    let grant_type = form.single("grant_type")?;
    let scope = form.single("scope")?;
    let audience = form.single("audience")?;
    let plugin_id = form.single("plugin_id")?;
    let resources = form.all("resource");

    let grant = parse_grant_type(grant_type)?;
    let proof = dpop_header(req)?;
    let auth = form_authentication(req, &form, state.token_url(req.path()))?;
    let client = authenticate(state, &auth, source).await?;
    let issued = match grant {
        GrantType::ClientCredentials => {
            let request = TokenRequest {
                scope,
                audience: AudienceRequest {
                    audience,
                    resources,
                },
                plugin_id,
                context: request_context(req, &state.config.trusted_proxies),
                dpop: proof.map(|proof| DpopProof {
                    proof,
                    target: ProofTarget {
                        method: req.method().as_str(),
                        uri: state.token_url(req.path()),
                    },
                }),
            };
            state.service.issue(&client, request).await
        }
    };
    // The grant decision refuses an inactive client or owner as `invalid_client` too.
    let issued = issued.map_err(|e| ApiError::from(e).presented_by(auth.client_id()))?;
    state.meters.issued(grant, &auth);
    crate::metrics::client_issued(&state.config.per_client, auth.client_id());
    let body = serialize(&TokenBody {
        access_token: &issued.access_token,
        token_type: issued.token_type,
        expires_in: issued.expires_in,
        scope: &issued.scope,
    })?;
    let mut response = json(StatusCode::OK, body, true);
    if let Some(nonce) = state.service.dpop_nonce() {
        insert_dpop_nonce(&mut response, &nonce);
    }
    Ok(response)
}

/// The request's `DPoP` header (RFC 9449 §4.3: exactly one). Several → `invalid_dpop_proof`;
/// a value that is not visible ASCII cannot be a JWS → `invalid_dpop_proof` too.
fn dpop_header(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let refuse = |r| ApiError::Refused(DomainError::InvalidDpopProof(r));
    let mut values = req.headers().get_all(DPOP);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(refuse(ProofRejection::MultipleHeaders));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| refuse(ProofRejection::Malformed))
}

/// Adds `DPoP-Nonce` (RFC 9449 §8.1) to a response; a nonce is base64url, always a valid value.
pub(crate) fn insert_dpop_nonce(response: &mut HttpResponse, nonce: &str) {
    if let Ok(v) = HeaderValue::from_str(nonce) {
        response.headers_mut().insert(DPOP_NONCE, v);
    }
}

/// The front half of introspection and revocation: the `token` parameter (required),
/// `token_type_hint` (checked for repeats, otherwise ignored: grantd has one token type, and
/// RFC 7009 §2.1 / RFC 7662 §2.1 let a server ignore the hint), then client authentication.
async fn token_and_caller<'f>(
    state: &ApiState,
    req: &HttpRequest,
    form: &'f Form<'_>,
    source: Option<IpAddr>,
) -> Result<(&'f str, AuthenticatedClient), ApiError> {
    let token = form.single("token")?;
    let _hint = form.single("token_type_hint")?;
    let token = token.ok_or_else(|| missing("token"))?;
    let auth = form_authentication(req, form, state.token_url(""))?;
    let caller = authenticate(state, &auth, source).await?;
    Ok((token, caller))
}

#[derive(Serialize)]
struct Actor<'a> {
    sub: &'a str,
}

#[derive(Serialize)]
struct ActiveToken<'a> {
    active: bool,
    scope: &'a str,
    client_id: &'a str,
    token_type: &'a str,
    sub: &'a str,
    aud: &'a [String],
    iss: &'a str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: &'a str,
    session_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<Actor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// RFC 9449 §6.2: a bound token's `cnf.jkt` in the introspection answer.
#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

const INACTIVE: &[u8] = br#"{"active":false}"#;

/// `POST /oauth/introspect` (RFC 7662).
pub(crate) async fn introspect(
    state: Data<ApiState>,
    req: HttpRequest,
    payload: Payload,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let mut seen = Seen::new(&state);
    let result = introspect_inner(&state, &req, payload, &mut seen).await;
    state
        .meters
        .finished(Endpoint::Introspect, started, result.as_ref().err());
    if let Err(e) = &result {
        state.meters.introspected(Introspection::Error);
        crate::audit::refused(&state, &req, Endpoint::Introspect, e, seen);
    }
    answer(&state, &req, result)
}

async fn introspect_inner(
    state: &ApiState,
    req: &HttpRequest,
    payload: Payload,
    seen: &mut Seen,
) -> Result<HttpResponse, ApiError> {
    let source = admit(state, req)?;
    let body = read_body(state, req, payload).await?;
    seen.body(&body);
    let form = Form::parse(&body)?;
    let (token, caller) = token_and_caller(state, req, &form, source).await?;
    let found = state.service.introspect(&caller, token).await?;
    let Some(c) = &found.claims else {
        state.meters.introspected(Introspection::Inactive);
        return Ok(json(StatusCode::OK, INACTIVE.to_vec(), true));
    };
    state.meters.introspected(Introspection::Active);
    let body = serialize(&ActiveToken {
        active: true,
        scope: &c.scope,
        client_id: c.client_id.as_str(),
        token_type: if c.cnf_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        },
        sub: c.sub(),
        aud: &c.aud,
        iss: &c.iss,
        exp: c.exp,
        iat: c.iat,
        nbf: c.nbf,
        jti: c.jti.as_str(),
        session_id: c.session_id.as_str(),
        plugin_id: c.plugin_id.as_deref(),
        act: c.act_sub().map(|sub| Actor { sub: sub.as_str() }),
        cnf: c.cnf_jkt.as_ref().map(|j| Confirmation { jkt: j.as_str() }),
    })?;
    Ok(json(StatusCode::OK, body, true))
}

/// `POST /oauth/revoke` (RFC 7009): 200 with an empty body whether or not the token was one
/// the caller could revoke; a storage failure is a 503, never a false 200.
pub(crate) async fn revoke(
    state: Data<ApiState>,
    req: HttpRequest,
    payload: Payload,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let mut seen = Seen::new(&state);
    let result = revoke_inner(&state, &req, payload, &mut seen).await;
    state
        .meters
        .finished(Endpoint::Revoke, started, result.as_ref().err());
    state.meters.revoked(result.is_ok());
    if let Err(e) = &result {
        crate::audit::refused(&state, &req, Endpoint::Revoke, e, seen);
    }
    answer(&state, &req, result)
}

async fn revoke_inner(
    state: &ApiState,
    req: &HttpRequest,
    payload: Payload,
    seen: &mut Seen,
) -> Result<HttpResponse, ApiError> {
    let source = admit(state, req)?;
    let body = read_body(state, req, payload).await?;
    seen.body(&body);
    let form = Form::parse(&body)?;
    let (token, caller) = token_and_caller(state, req, &form, source).await?;
    state.service.revoke(&caller, token).await?;
    Ok(no_store(&mut HttpResponse::Ok()).finish())
}

/// `GET /.well-known/oauth-authorization-server`: precomputed at start-up.
pub(crate) async fn metadata(state: Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .content_type("application/json")
        .body(state.discovery.clone())
}

/// `GET /.well-known/jwks.json`: the signer's public keys, read on every request so a rotation
/// shows at once (the port hands out prepared JSON texts; only the envelope is built here).
pub(crate) async fn jwks(state: Data<ApiState>) -> HttpResponse {
    let keys = state.service.jwks();
    let mut body = String::with_capacity(12 + keys.iter().map(|k| k.len() + 1).sum::<usize>());
    body.push_str(r#"{"keys":["#);
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(k);
    }
    body.push_str("]}");
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        ))
        .content_type("application/json")
        .body(body)
}

fn status_json(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(text)
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> HttpResponse {
    status_json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// `GET /readyz`: a signing key is loaded and the binary's readiness check (database) passes.
pub(crate) async fn readyz(state: Data<ApiState>) -> HttpResponse {
    let ready = state.service.ready() && state.readiness.ready().await;
    if ready {
        status_json(StatusCode::OK, r#"{"status":"ready"}"#)
    } else {
        status_json(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"not ready"}"#)
    }
}

/// Default service of the POST-only resources.
pub(crate) async fn post_only(req: HttpRequest) -> HttpResponse {
    ApiError::MethodNotAllowed("POST").respond(true, authorization_used(&req))
}

/// Default service of the GET-only resources.
pub(crate) async fn get_only() -> HttpResponse {
    ApiError::MethodNotAllowed("GET").respond(false, false)
}

/// Default service of the whole API.
pub(crate) async fn not_found() -> HttpResponse {
    ApiError::NotFound.respond(false, false)
}
