//! The OpenAPI 3.1 description of the admin API, generated with `utoipa` and served at
//! `GET /admin/v1/openapi.json` on the admin listener; `docs/openapi-admin.json` is the
//! checked-in copy (the outside-in test fails when they differ). A document of its own, not
//! merged into the public one: the two are served on different listeners, and the public
//! document's schemathesis run targets the public port.
//!
//! Documentation-only types, as in the public document: the handlers build their JSON in
//! `views.rs`; the outside-in tests compare both with the CLI's `--json`.

#![expect(
    dead_code,
    reason = "documentation-only types and functions: read by the utoipa derive macros, never \
              constructed or called"
)]

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::problem::PROBLEM_JSON;

/// An RFC 9457 problem.
#[derive(ToSchema)]
struct Problem {
    /// `urn:grantd:problem:<kind>`.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
}

/// A user (client owner), as `grantd user show --json`.
#[derive(ToSchema)]
struct User {
    id: String,
    name: String,
    email: String,
    roles: Vec<String>,
    active: bool,
}

#[derive(ToSchema)]
struct NewUser {
    name: String,
    email: String,
    /// Delegated scopes of the catalog.
    #[schema(required = false)]
    roles: Vec<String>,
}

/// A client, as `grantd client show --json`. Never its secret.
#[derive(ToSchema)]
struct Client {
    client_id: String,
    name: String,
    owner: String,
    scopes: Vec<String>,
    grant_types: Vec<String>,
    auth_method: String,
    active: bool,
    created_at: String,
    updated_at: String,
    /// A `private_key_jwt` client's registered keys: kid, kty and alg (never key material).
    #[schema(value_type = Vec<Object>)]
    keys: Vec<()>,
    /// Where a `private_key_jwt` client publishes its JWKS, if registered so.
    jwks_uri: Option<String>,
    /// The one algorithm its assertions must use, if registered.
    token_endpoint_auth_signing_alg: Option<String>,
}

#[derive(ToSchema)]
struct NewClient {
    name: String,
    /// The owning user's id.
    owner: String,
    scopes: Vec<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[schema(required = false)]
    auth_method: String,
    /// Default `["client_credentials"]`.
    #[schema(required = false)]
    grant_types: Vec<String>,
    /// `optional` (default) or `required`: whether token requests must carry a DPoP proof.
    #[schema(required = false)]
    dpop: String,
    /// For `private_key_jwt`: the client's public keys, a JWKS (`{"keys":[…]}`): public
    /// members only, unique kids. Or instead `jwks_uri`.
    #[schema(required = false, value_type = Object)]
    jwks: (),
    /// For `private_key_jwt`: where the client publishes its JWKS (`https`).
    #[schema(required = false)]
    jwks_uri: String,
    /// The one algorithm its assertions must use (`ES256`, `EdDSA`, `RS256`, `PS256`);
    /// default: whatever its keys allow.
    #[schema(required = false)]
    token_endpoint_auth_signing_alg: String,
}

/// A `private_key_jwt` client's new public keys, replacing all current ones: exactly one of
/// `jwks` and `jwks_uri`.
#[derive(ToSchema)]
struct ClientKeys {
    /// A JWKS (`{"keys":[…]}`): public members only, unique kids.
    #[schema(required = false, value_type = Object)]
    jwks: (),
    /// Where the client publishes its JWKS (`https`).
    #[schema(required = false)]
    jwks_uri: String,
    /// The one algorithm its assertions must use from now on; default: the registered one.
    #[schema(required = false)]
    token_endpoint_auth_signing_alg: String,
}

/// A federated credential, as `grantd client federate list --json`: which subject of which
/// trusted issuer, with which pinned claims, may authenticate as the client.
#[derive(ToSchema)]
struct FederatedCredential {
    /// The trusted issuer's configured name (`[[federation.issuers]] name`).
    issuer: String,
    /// The platform token's `sub`, exactly.
    subject: String,
    /// Claim name → the JSON value the token must carry exactly.
    #[schema(value_type = Object)]
    claims: (),
}

#[derive(ToSchema)]
struct NewFederatedCredential {
    /// The trusted issuer's configured name.
    issuer: String,
    /// The platform token's `sub`, exactly.
    subject: String,
    /// Claim name → the JSON value the token must carry exactly.
    #[schema(required = false, value_type = Object)]
    claims: (),
}

/// A created client and its secret: shown this once.
#[derive(ToSchema)]
struct ClientCreated {
    client_id: String,
    #[schema(format = Password)]
    client_secret: String,
    name: String,
    owner: String,
    scopes: Vec<String>,
    auth_method: String,
    warnings: Vec<String>,
}

/// A user change: an absent field is kept; `null` is refused.
#[derive(ToSchema)]
struct UserPatch {
    #[schema(required = false)]
    name: String,
    /// Delegated scopes of the catalog, replacing the current roles.
    #[schema(required = false)]
    roles: Vec<String>,
    #[schema(required = false)]
    active: bool,
}

/// A client's own token bucket.
#[derive(ToSchema)]
struct RateLimit {
    #[schema(minimum = 1)]
    per_second: u32,
    /// Default: `per_second`.
    #[schema(required = false, minimum = 1)]
    burst: u32,
}

/// A client's token quotas; `null` removes a window.
#[derive(ToSchema)]
struct Quota {
    #[schema(required = false, minimum = 1)]
    per_hour: Option<u32>,
    #[schema(required = false, minimum = 1)]
    per_day: Option<u32>,
}

/// A client change (JSON merge-patch style): an absent field is kept, `null` clears
/// `rate_limit` or a quota window and is refused elsewhere. `auth_method` moves only between
/// `client_secret_basic` and `client_secret_post`.
#[derive(ToSchema)]
struct ClientPatch {
    #[schema(required = false)]
    name: String,
    /// The new owning user's id.
    #[schema(required = false)]
    owner: String,
    #[schema(required = false)]
    scopes: Vec<String>,
    #[schema(required = false)]
    grant_types: Vec<String>,
    #[schema(required = false)]
    auth_method: String,
    #[schema(required = false)]
    active: bool,
    #[schema(required = false)]
    dpop: String,
    #[schema(required = false)]
    rate_limit: Option<RateLimit>,
    #[schema(required = false)]
    quota: Quota,
}

/// The whole client under a client-chosen id; an absent optional field takes its creation
/// default.
#[derive(ToSchema)]
struct ClientPut {
    name: String,
    /// The owning user's id.
    owner: String,
    scopes: Vec<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[schema(required = false)]
    auth_method: String,
    /// Default `["client_credentials"]`.
    #[schema(required = false)]
    grant_types: Vec<String>,
    /// Default `true`.
    #[schema(required = false)]
    active: bool,
    /// `optional` (default) or `required`.
    #[schema(required = false)]
    dpop: String,
    #[schema(required = false)]
    rate_limit: Option<RateLimit>,
    #[schema(required = false)]
    quota: Quota,
}

#[derive(ToSchema)]
struct RotateSecret {
    /// Seconds the previous secret keeps working (0 to 2,592,000).
    #[schema(required = false)]
    grace_secs: u64,
}

/// A new secret, shown this once.
#[derive(ToSchema)]
struct SecretRotated {
    client_id: String,
    #[schema(format = Password)]
    client_secret: String,
    previous_valid_until: String,
}

/// A signing key, as `grantd key list --json`.
#[derive(ToSchema)]
struct Key {
    kid: String,
    alg: String,
    state: String,
    created: String,
}

/// A rotation, as `grantd key rotate --json`.
#[derive(ToSchema)]
struct Rotation {
    retired: String,
    active: String,
    next: String,
    retired_valid_until: String,
}

/// A session, as `grantd session list --json`.
#[derive(ToSchema)]
struct Session {
    id: String,
    user_id: String,
    client_id: String,
    jti: String,
    source: String,
    ip: Option<String>,
    user_agent: Option<String>,
    accept_language: Option<String>,
    referer: Option<String>,
    created_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    revoke_reason: Option<String>,
    /// How the client authenticated (`null` on rows written before grantd recorded it).
    auth_method: Option<String>,
    /// For `federated`: the trusted issuer's configured name and the token's `sub`.
    federated_issuer: Option<String>,
    federated_subject: Option<String>,
}

#[derive(ToSchema)]
struct Purge {
    /// Purge sessions that expired before this RFC 3339 time instead of those past the
    /// configured retention.
    #[schema(required = false)]
    before: String,
}

#[derive(ToSchema)]
struct Purged {
    deleted: u64,
}

#[derive(ToSchema)]
struct ExplainRequest {
    client_id: String,
    #[schema(required = false)]
    scope: String,
    #[schema(required = false)]
    audience: String,
}

/// As `grantd explain --json`.
#[derive(ToSchema)]
struct Explanation {
    client_id: String,
    client_active: Option<bool>,
    owner_id: Option<String>,
    owner_active: Option<bool>,
    #[schema(value_type = Vec<Object>)]
    scopes: Vec<()>,
    #[schema(value_type = Object)]
    outcome: (),
}

#[utoipa::path(get, path = "/admin/v1/users", operation_id = "admin_list_users", tag = "users",
    security(("admin_token" = ["grantd:users:read"])),
    responses((status = 200, description = "Every user", body = Vec<User>)))]
fn list_users() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/users", operation_id = "admin_create_user", tag = "users",
    security(("admin_token" = ["grantd:users:write"])), request_body = NewUser,
    responses((status = 201, description = "Created", body = User)))]
fn create_user() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(get, path = "/admin/v1/users/{id}", operation_id = "admin_show_user",
    tag = "users", security(("admin_token" = ["grantd:users:read"])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The user", body = User,
        headers(("ETag" = String, description = "Send it back in If-Match to update")))))]
fn show_user() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(patch, path = "/admin/v1/users/{id}", operation_id = "admin_update_user",
    tag = "users", security(("admin_token" = ["grantd:users:write"])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header,
        description = "Optional; when given it must match the current ETag (412 otherwise)")),
    request_body = UserPatch,
    responses((status = 200, description = "The user as updated", body = User,
        headers(("ETag" = String, description = "The new ETag")))))]
fn update_user() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(get, path = "/admin/v1/clients", operation_id = "admin_list_clients",
    tag = "clients", security(("admin_token" = ["grantd:clients:read"])),
    responses((status = 200, description = "Every client", body = Vec<Client>)))]
fn list_clients() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/clients", operation_id = "admin_create_client",
    tag = "clients", security(("admin_token" = ["grantd:clients:write"])),
    request_body = NewClient,
    responses((status = 201, description = "Created; the secret is shown once",
        body = ClientCreated)))]
fn create_client() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(get, path = "/admin/v1/clients/{id}", operation_id = "admin_show_client",
    tag = "clients", security(("admin_token" = ["grantd:clients:read"])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The client", body = Client,
        headers(("ETag" = String, description = "Send it back in If-Match to update")))))]
fn show_client() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(patch, path = "/admin/v1/clients/{id}", operation_id = "admin_update_client",
    tag = "clients", security(("admin_token" = ["grantd:clients:write"])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header,
        description = "Optional; when given it must match the current ETag (412 otherwise)")),
    request_body = ClientPatch,
    responses((status = 200, description = "The client as updated", body = Client,
        headers(("ETag" = String, description = "The new ETag")))))]
fn update_client() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(put, path = "/admin/v1/clients/{id}", operation_id = "admin_put_client",
    tag = "clients", security(("admin_token" = ["grantd:clients:write"])),
    params(("id" = String, Path, description = "The client id, chosen by the caller"),
        ("If-Match" = Option<String>, Header,
        description = "Optional; when given the client must exist and match (412 otherwise)")),
    request_body = ClientPut,
    responses(
        (status = 200, description = "The client existed: changed to the body, or unchanged \
            when equal (no new secret)", body = Client,
            headers(("ETag" = String, description = "The current ETag"))),
        (status = 201, description = "Created; the secret is shown once", body = ClientCreated)))]
fn put_client() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/clients/{id}/secret", operation_id = "admin_rotate_secret",
    tag = "clients", security(("admin_token" = ["grantd:clients:write"])),
    params(("id" = String, Path)), request_body = RotateSecret,
    responses((status = 201, description = "A new secret, shown once", body = SecretRotated)))]
fn rotate_secret() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(put, path = "/admin/v1/clients/{id}/keys", operation_id = "admin_set_client_keys",
    tag = "clients", security(("admin_token" = ["grantd:clients:write"])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header,
        description = "Optional; when given it must match the current ETag (412 otherwise)")),
    request_body = ClientKeys,
    responses((status = 200, description = "The client with its new keys (unchanged when \
        the same)", body = Client, headers(("ETag" = String, description = "The new ETag")))))]
fn set_client_keys() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(get, path = "/admin/v1/clients/{id}/federated-credentials",
    operation_id = "admin_list_federated_credentials", tag = "clients",
    security(("admin_token" = ["grantd:clients:read"])), params(("id" = String, Path)),
    responses((status = 200, description = "The client's federated credentials",
        body = Vec<FederatedCredential>)))]
fn list_federated_credentials() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/clients/{id}/federated-credentials",
    operation_id = "admin_add_federated_credential", tag = "clients",
    security(("admin_token" = ["grantd:clients:write"])), params(("id" = String, Path)),
    request_body = NewFederatedCredential,
    responses((status = 201, description = "Added", body = FederatedCredential)))]
fn add_federated_credential() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(delete, path = "/admin/v1/clients/{id}/federated-credentials",
    operation_id = "admin_remove_federated_credential", tag = "clients",
    security(("admin_token" = ["grantd:clients:write"])),
    params(("id" = String, Path),
        ("issuer" = String, Query, description = "The trusted issuer's configured name"),
        ("subject" = String, Query, description = "The credential's subject")),
    responses((status = 204, description = "Removed")))]
fn remove_federated_credential() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(get, path = "/admin/v1/keys", operation_id = "admin_list_keys", tag = "keys",
    security(("admin_token" = ["grantd:keys:read"])),
    responses((status = 200, description = "The signing keys", body = Vec<Key>)))]
fn list_keys() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/keys/rotate", operation_id = "admin_rotate_keys",
    tag = "keys", security(("admin_token" = ["grantd:keys:write"])),
    responses((status = 200, description = "Rotated", body = Rotation)))]
fn rotate_keys() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(get, path = "/admin/v1/sessions", operation_id = "admin_list_sessions",
    tag = "sessions", security(("admin_token" = ["grantd:sessions:read"])),
    params(("client_id" = Option<String>, Query), ("user_id" = Option<String>, Query),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("after" = Option<String>, Query, description = "The last id of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 10,000; default 50")),
    responses((status = 200, description = "One page, newest first", body = Vec<Session>,
        headers(("Link" = String, description = "rel=\"next\" when the page is full")))))]
fn list_sessions() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/sessions/purge", operation_id = "admin_purge_sessions",
    tag = "sessions", security(("admin_token" = ["grantd:sessions:write"])), request_body = Purge,
    responses((status = 200, description = "Rows deleted", body = Purged)))]
fn purge_sessions() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/sessions/{id}/revoke",
    operation_id = "admin_revoke_session", tag = "sessions",
    security(("admin_token" = ["grantd:sessions:write"])), params(("id" = String, Path)),
    responses((status = 200, description = "The session as revoked", body = Session)))]
fn revoke_session() {
    // Described by the attribute; the handler is in the sibling module.
}

#[utoipa::path(post, path = "/admin/v1/explain", operation_id = "admin_explain",
    tag = "explain", security(("admin_token" = ["grantd:clients:read"])),
    request_body = ExplainRequest,
    responses((status = 200, description = "The decision, scope by scope", body = Explanation)))]
fn explain() {
    // Described by the attribute; the handler is in the sibling module.
}

/// The admin document.
#[derive(OpenApi)]
#[openapi(
    info(title = "grantd admin API",
        description = "grantd's admin HTTP API, on the admin listener. Bearer tokens issued by \
            this grantd for the audience `grantd-admin`, with the `grantd:*` scope each \
            operation names. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")),
    paths(list_users, create_user, show_user, update_user, list_clients, create_client,
        show_client, update_client, put_client, rotate_secret, set_client_keys,
        list_federated_credentials, add_federated_credential, remove_federated_credential,
        list_keys, rotate_keys, list_sessions, purge_sessions, revoke_session, explain),
    components(schemas(Problem, User, Client, RateLimit, Quota, Key, Rotation, Session, Explanation,
        FederatedCredential)),
    modifiers(&Problems)
)]
struct AdminDoc;

/// The problem answers every operation shares, and the bearer scheme.
struct Problems;

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// Status and meaning of every problem answer; each is one shared response component.
const PROBLEMS: [(&str, &str); 13] = [
    ("400", "Malformed JSON, an unknown field or a bad query"),
    ("401", "No usable admin token (WWW-Authenticate: Bearer)"),
    (
        "403",
        "The token lacks the operation's scope (insufficient_scope)",
    ),
    (
        "404",
        "No such user, client, session or federated credential",
    ),
    ("405", "Another method"),
    ("408", "The body did not arrive within 5 s"),
    ("409", "Conflicts with existing data"),
    ("412", "If-Match does not match the current ETag"),
    ("413", "The body is over 64 KiB"),
    ("415", "The body is not application/json"),
    ("422", "Invalid input (unknown scope, bad email, ...)"),
    ("500", "An unexpected failure"),
    ("503", "The store is unavailable (Retry-After)"),
];

impl Modify for Problems {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for op in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                for (status, _) in PROBLEMS {
                    let target = format!("#/components/responses/Problem{status}");
                    op.responses
                        .responses
                        .insert(status.to_owned(), RefOr::Ref(Ref::new(target)));
                }
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        for (status, text) in PROBLEMS {
            components
                .responses
                .insert(format!("Problem{status}"), problem(text));
        }
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as served, pretty-printed with a final newline.
pub fn document() -> String {
    match AdminDoc::openapi().to_pretty_json() {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        Err(e) => {
            tracing::error!(error = %e, "serializing the admin OpenAPI document");
            "{}\n".to_owned()
        }
    }
}

static SERVED: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(document()));

pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(SERVED.clone())
}
