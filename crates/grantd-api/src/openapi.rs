//! The OpenAPI 3.1 description of the public endpoints, generated from code with `utoipa` and
//! served at `GET /openapi.json`; `docs/openapi.json` is a checked-in copy, and an outside-in
//! test fails when the two differ.
//!
//! The types and functions here are documentation only: the handlers build their JSON
//! themselves (hand-written, borrowing, allocation-lean), so the schemas below describe what
//! they send rather than being derived from the types they serialize. The outside-in test runs
//! `schemathesis` against the served document and the real binary, which is what keeps the two
//! in step: a response the schema does not allow fails the suite.
//!
//! Every POST endpoint shares one set of error answers (added by [`CommonErrors`]), because
//! they share one error path (`error::ApiError::respond`).

#![expect(
    dead_code,
    reason = "documentation-only types and functions: read by the utoipa derive macros, never \
              constructed or called"
)]

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, OneOfBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder,
    Schema, Type,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::{
    HEALTHZ_PATH, INTROSPECT_PATH, JWKS_PATH, LEGACY_TOKEN_PATH, METADATA_PATH, READYZ_PATH,
    REVOKE_PATH, TOKEN_PATH,
};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// The error codes grantd answers with: RFC 6749 §5.2, RFC 8707 §2 (`invalid_target`), and the
/// two RFC 6749 §4.1.2.1 codes it uses for its own failures (503 and 500), and
/// `quota_exceeded` (429: the client's token quota is used up).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    /// RFC 9449 §4.3: a DPoP proof was refused.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    TemporarilyUnavailable,
    ServerError,
    QuotaExceeded,
}

/// An RFC 6749 §5.2 error response.
#[derive(ToSchema)]
#[schema(as = OAuthError)]
struct OAuthError {
    error: ErrorCode,
    /// Human-readable, within RFC 6749 §5.2's character set (%x20-21 / %x23-5B / %x5D-7E).
    #[schema(required = false, pattern = r#"^[\x20-\x21\x23-\x5B\x5D-\x7E]*$"#)]
    error_description: String,
}

/// The grant types grantd implements.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum GrantType {
    ClientCredentials,
}

/// The token request (RFC 6749 §4.4.2). Client authentication is HTTP Basic
/// (`client_secret_basic`), `client_id` + `client_secret` here (`client_secret_post`), or
/// `client_assertion_type` + `client_assertion` here (`private_key_jwt`): exactly one. Every parameter but `resource` may appear at most once; an empty value counts as
/// absent.
#[derive(ToSchema)]
struct TokenForm {
    /// The grant; any other value is `unsupported_grant_type`.
    grant_type: GrantType,
    /// Space-separated scope names (RFC 6749 §3.3); a name the catalog does not hold, or any
    /// other separator, is `invalid_scope`.
    #[schema(
        required = false,
        examples("service"),
        pattern = r"^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$"
    )]
    scope: String,
    /// The audience the token is for (grantd's own parameter; RFC 8707 `resource` is the
    /// standard one).
    #[schema(required = false)]
    audience: String,
    /// RFC 8707 resource indicator; repeatable, at most one is accepted.
    #[schema(required = false)]
    resource: Vec<String>,
    /// Carried into the token's `plugin_id` claim.
    #[schema(required = false)]
    plugin_id: String,
    /// `client_secret_post` (with `client_secret`), or alongside Basic when it names the same
    /// client.
    #[schema(required = false)]
    client_id: String,
    /// `client_secret_post`.
    #[schema(required = false, format = Password)]
    client_secret: String,
    /// `private_key_jwt` (RFC 7523 §2.2): exactly
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`.
    #[schema(
        required = false,
        pattern = "^urn:ietf:params:oauth:client-assertion-type:jwt-bearer$"
    )]
    client_assertion_type: String,
    /// `private_key_jwt`: a JWT signed by one of the client's registered keys (`iss` = `sub` =
    /// its id, `aud` the issuer or the token endpoint URL, short-lived, single-use `jti`). It
    /// comes alone: with `client_secret` or a Basic header it is `invalid_request`;
    /// `client_id`, if sent, must equal its `iss`.
    #[schema(required = false, format = Password)]
    client_assertion: String,
}

/// The introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) request.
#[derive(ToSchema)]
struct TokenForm2 {
    /// The access token.
    token: String,
    /// Accepted and ignored (grantd issues one kind of token).
    #[schema(required = false)]
    token_type_hint: String,
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false, format = Password)]
    client_secret: String,
    /// `private_key_jwt` (RFC 7523 §2.2): exactly
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`.
    #[schema(
        required = false,
        pattern = "^urn:ietf:params:oauth:client-assertion-type:jwt-bearer$"
    )]
    client_assertion_type: String,
    /// `private_key_jwt`: a JWT signed by one of the client's registered keys (`iss` = `sub` =
    /// its id, `aud` the issuer or the token endpoint URL, short-lived, single-use `jti`). It
    /// comes alone: with `client_secret` or a Basic header it is `invalid_request`;
    /// `client_id`, if sent, must equal its `iss`.
    #[schema(required = false, format = Password)]
    client_assertion: String,
}

/// A successful token response (RFC 6749 §5.1). Never a refresh token.
#[derive(ToSchema)]
struct TokenResponse {
    /// A JWT (RFC 9068 profile).
    access_token: String,
    /// `DPoP` when the request carried a valid DPoP proof (the token is bound to its key).
    #[schema(pattern = "^(Bearer|DPoP)$")]
    token_type: String,
    #[schema(minimum = 1)]
    expires_in: u32,
    /// The granted scopes, space-separated.
    scope: String,
}

/// The RFC 8693 actor: the client acting for its owner.
#[derive(ToSchema)]
struct Actor {
    sub: String,
}

/// An active token (RFC 7662 §2.2).
#[derive(ToSchema)]
struct ActiveToken {
    /// Always `true` here.
    active: bool,
    scope: String,
    client_id: String,
    #[schema(pattern = "^(Bearer|DPoP)$")]
    token_type: String,
    sub: String,
    aud: Vec<String>,
    iss: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    session_id: String,
    #[schema(required = false)]
    plugin_id: String,
    #[schema(required = false)]
    act: Actor,
    /// RFC 9449 §6.2: the DPoP key a bound token is confirmed by.
    #[schema(required = false)]
    cnf: Confirmation,
}

/// RFC 7800 confirmation: the RFC 7638 thumbprint of the DPoP key.
#[derive(ToSchema)]
struct Confirmation {
    jkt: String,
}

/// Any token the caller may not see, or that is not (or no longer) valid: only `active`.
/// ([`CommonErrors`] closes it and fixes `active`, which the derive cannot express.)
#[derive(ToSchema)]
struct InactiveToken {
    /// Always `false` here.
    active: bool,
}

/// RFC 7662 §2.2: [`ActiveToken`] or [`InactiveToken`] (the schema is set by [`CommonErrors`]:
/// an untagged `oneOf`, which the derive does not produce for an enum without serde).
#[derive(ToSchema)]
struct Introspection {}

/// RFC 8414 §2 metadata.
#[derive(ToSchema)]
struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    grant_types_supported: Vec<String>,
    /// Empty: grantd has no authorization endpoint.
    response_types_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint_auth_methods_supported: Vec<String>,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    scopes_supported: Vec<String>,
    /// RFC 9449 §5.1: the DPoP proof algorithms accepted.
    dpop_signing_alg_values_supported: Vec<String>,
}

/// An RFC 7517 JWK Set: the published signing keys (active, next and retired).
#[derive(ToSchema)]
struct Jwks {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<()>,
}

/// `/healthz` (`ok`) and `/readyz` (`ready`, or `not ready` with 503).
#[derive(ToSchema)]
struct Status {
    status: String,
}

/// Issue an access token (client_credentials).
#[utoipa::path(post, path = "/oauth/token", operation_id = "token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The token", body = TokenResponse,
        headers(("Cache-Control" = String, description = "no-store")))))]
fn token() {}

/// Issue an access token, under the path of the system grantd replaces.
#[utoipa::path(post, path = "/api/v1/core/oauth/token", operation_id = "token_legacy",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The token", body = TokenResponse,
        headers(("Cache-Control" = String, description = "no-store")))))]
fn token_legacy() {}

/// Introspect a token (RFC 7662).
#[utoipa::path(post, path = "/oauth/introspect", operation_id = "introspect", tag = "oauth",
    request_body(content = TokenForm2, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The token's state", body = Introspection)))]
fn introspect() {}

/// Revoke a token (RFC 7009): 200 whether or not it was one the caller could revoke.
#[utoipa::path(post, path = "/oauth/revoke", operation_id = "revoke", tag = "oauth",
    request_body(content = TokenForm2, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked, or nothing to revoke (empty body)")))]
fn revoke() {}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", operation_id = "metadata",
    tag = "discovery", responses((status = 200, description = "The metadata", body = Metadata)))]
fn metadata() {}

/// The public signing keys.
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "jwks", tag = "discovery",
    responses((status = 200, description = "The JWK Set", body = Jwks)))]
fn jwks() {}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Status)))]
fn healthz() {}

/// Readiness: a signing key is loaded and the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready", body = Status)))]
fn readyz() {}

/// The document: the operations above, their schemas, and [`CommonErrors`].
#[derive(OpenApi)]
#[openapi(
    info(title = "grantd", description = "grantd's public OAuth 2.0 endpoints.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")),
    paths(token, token_legacy, introspect, revoke, metadata, jwks, healthz, readyz),
    components(schemas(OAuthError, ErrorCode, TokenResponse, Introspection, ActiveToken,
        InactiveToken, Actor, Confirmation, Metadata, Jwks, Status)),
    tags((name = "oauth", description = "Token, introspection and revocation"),
        (name = "discovery", description = "Metadata and keys"),
        (name = "health", description = "Probes")),
    modifiers(&CommonErrors)
)]
struct Doc;

/// The answers every endpoint shares with the others of its method, and the security schemes.
struct CommonErrors;

fn header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("OAuthError")))
            .build(),
    )
}

/// The error answers of a POST endpoint (`error::ApiError::respond`).
fn post_errors() -> Vec<(&'static str, Response)> {
    let no_store = || header("no-store");
    vec![
        (
            "400",
            error_response("A malformed request, or a refusal of the grant")
                .header("Cache-Control", no_store())
                .header(
                    "DPoP-Nonce",
                    header("With use_dpop_nonce: the nonce the next DPoP proof must carry"),
                )
                .build(),
        ),
        (
            "401",
            error_response(
                "invalid_client: client authentication failed (the same answer for every reason)",
            )
            .header(
                "WWW-Authenticate",
                header("`Basic realm=\"grantd\"` when the request used Authorization"),
            )
            .build(),
        ),
        (
            "405",
            error_response("Another method than POST")
                .header("Allow", header("POST"))
                .build(),
        ),
        (
            "408",
            error_response("The body did not arrive in time; the connection is closed").build(),
        ),
        (
            "413",
            error_response("The body is over the limit (16 KiB by default)").build(),
        ),
        (
            "415",
            error_response("A compressed body")
                .header("Accept-Encoding", header("identity"))
                .build(),
        ),
        (
            "429",
            error_response("Over a rate limit or quota")
                .header("Retry-After", header("Seconds to wait"))
                .build(),
        ),
        ("500", error_response("An unexpected failure").build()),
        (
            "503",
            error_response("A dependency (the database) is unavailable")
                .header("Retry-After", header("Seconds to wait"))
                .build(),
        ),
    ]
}

fn add_responses(op: &mut Operation, responses: &[(&'static str, Response)]) {
    for (status, response) in responses {
        op.responses
            .responses
            .insert((*status).to_owned(), RefOr::T(response.clone()));
    }
}

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        let posts = post_errors();
        let get_405 = vec![(
            "405",
            error_response("Another method than GET")
                .header("Allow", header("GET"))
                .build(),
        )];
        for (path, item) in doc.paths.paths.iter_mut() {
            if let Some(op) = item.post.as_mut() {
                add_responses(op, &posts);
                // HTTP Basic, or the credentials in the body (client_secret_post), which
                // OpenAPI has no security scheme for: the empty requirement says so.
                op.security = Some(vec![
                    utoipa::openapi::security::SecurityRequirement::new::<_, _, &str>(
                        "client_secret_basic",
                        [],
                    ),
                    utoipa::openapi::security::SecurityRequirement::default(),
                ]);
            }
            if let Some(op) = item.get.as_mut() {
                add_responses(op, &get_405);
            }
            debug_assert!(path.starts_with('/'));
        }
        for path in [TOKEN_PATH, LEGACY_TOKEN_PATH] {
            link_token_to_its_uses(doc, path);
        }
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        // `active` is `true` or `false` by shape, and the inactive shape is closed, so exactly
        // one branch of the `oneOf` matches a response.
        components
            .schemas
            .insert("InactiveToken".to_owned(), inactive_token());
        components
            .schemas
            .insert("Introspection".to_owned(), introspection());
        if let Some(RefOr::T(Schema::Object(active))) = components.schemas.get_mut("ActiveToken") {
            active
                .properties
                .insert("active".to_owned(), fixed_bool(true).into());
        }
    }
}

/// OpenAPI links from a token response to introspection and revocation of that token, so a
/// stateful client (schemathesis) follows an issued token through its life.
fn link_token_to_its_uses(doc: &mut Document, path: &str) {
    let Some(op) = doc.paths.paths.get_mut(path).and_then(|i| i.post.as_mut()) else {
        return;
    };
    let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") else {
        return;
    };
    for (name, target) in [("IntrospectIt", "introspect"), ("RevokeIt", "revoke")] {
        let link = LinkBuilder::new()
            .operation_id(target)
            .request_body(Some(serde_json::json!({
                "token": "$response.body#/access_token"
            })))
            .build();
        ok.links.insert(name.to_owned(), RefOr::T(link));
    }
}

/// A boolean that must be `value`.
fn fixed_bool(value: bool) -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

/// RFC 7662 §2.2: an active token's claims, or `{"active": false}` (untagged, which the derive
/// of an enum does not produce without serde).
fn introspection() -> RefOr<Schema> {
    OneOfBuilder::new()
        .description(Some(
            "RFC 7662 §2.2: an active token's claims, or `{\"active\": false}`.",
        ))
        .item(Ref::from_schema_name("ActiveToken"))
        .item(Ref::from_schema_name("InactiveToken"))
        .into()
}

fn inactive_token() -> RefOr<Schema> {
    ObjectBuilder::new()
        .description(Some(
            "Any token the caller may not see, or that is not (or no longer) valid.",
        ))
        .property("active", fixed_bool(false))
        .required("active")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// The document as served, pretty-printed with a final newline (the checked-in file is the same
/// bytes).
pub fn document() -> String {
    match Doc::openapi().to_pretty_json() {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        Err(e) => {
            // Only strings, maps and arrays: cannot happen. Serve an empty object rather than
            // abort start-up.
            tracing::error!(error = %e, "serializing the OpenAPI document");
            "{}\n".to_owned()
        }
    }
}

/// The served document, serialized on first use.
static SERVED: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(document()));

/// `GET /openapi.json`.
pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .content_type(JSON)
        .body(SERVED.clone())
}

/// The paths the document describes, for the test that every route is in it.
pub const DOCUMENTED_PATHS: [&str; 8] = [
    TOKEN_PATH,
    LEGACY_TOKEN_PATH,
    INTROSPECT_PATH,
    REVOKE_PATH,
    METADATA_PATH,
    JWKS_PATH,
    HEALTHZ_PATH,
    READYZ_PATH,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_the_version_is_3_1() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let grants: Vec<&str> = grantd_domain::GrantType::ALL
            .iter()
            .map(|g| g.as_str())
            .collect();
        assert_eq!(
            doc["components"]["schemas"]["GrantType"]["enum"],
            serde_json::json!(grants),
            "the documented grant types are the implemented ones"
        );
        for path in DOCUMENTED_PATHS {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        assert_eq!(
            doc["paths"].as_object().unwrap().len(),
            DOCUMENTED_PATHS.len()
        );
        let token = &doc["paths"][TOKEN_PATH]["post"];
        for status in [
            "200", "400", "401", "405", "408", "413", "415", "429", "500", "503",
        ] {
            assert!(token["responses"][status].is_object(), "{status} missing");
        }
        assert!(token["requestBody"]["content"][FORM].is_object());
    }
}
