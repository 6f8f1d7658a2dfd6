//! `/admin/v1/users` and `/admin/v1/clients`: list, create, show (with `ETag`), and rotate a
//! client's secret. Changes (`PATCH`, `PUT`) are in `changes.rs`.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use grantd_app::{NewClientSpec, NewUserSpec};
use serde::Deserialize;
use serde_json::Value;

use super::body::read_json;
use super::changes::{auth_method, dpop, grant_types};
use super::client_keys::keys_of;
use super::guard::authorize;
use super::problem::Problem;
use super::{AdminApi, json, json_tagged, views};

const USERS_READ: &str = "grantd:users:read";
const USERS_WRITE: &str = "grantd:users:write";
const CLIENTS_READ: &str = "grantd:clients:read";
const CLIENTS_WRITE: &str = "grantd:clients:write";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    name: String,
    email: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClient {
    name: String,
    owner: String,
    scopes: Vec<String>,
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    /// `optional` (default) or `required`.
    #[serde(default)]
    dpop: Option<String>,
    /// A `private_key_jwt` client's public keys (a JWKS object), or instead `jwks_uri`.
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    jwks_uri: Option<String>,
    /// The one algorithm its assertions must use; default: whatever its keys allow.
    #[serde(default)]
    token_endpoint_auth_signing_alg: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    #[serde(default)]
    grace_secs: u64,
}

pub(crate) async fn list_users(
    req: HttpRequest,
    api: Data<AdminApi>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, USERS_READ).await?;
    let users = api.admin.list_users().await?;
    let docs = users.iter().map(views::user).collect();
    Ok(json(StatusCode::OK, &Value::Array(docs)))
}

pub(crate) async fn create_user(
    req: HttpRequest,
    api: Data<AdminApi>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, USERS_WRITE).await?;
    let b: NewUser = read_json(&req, payload).await?;
    let spec = NewUserSpec {
        name: b.name,
        email: b.email,
        roles: b.roles,
    };
    let user = api.admin.create_user(spec).await?;
    Ok(json(StatusCode::CREATED, &views::user(&user)))
}

pub(crate) async fn show_user(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, USERS_READ).await?;
    let user = api.admin.show_user(&id).await?;
    Ok(json_tagged(&views::user(&user)))
}

pub(crate) async fn list_clients(
    req: HttpRequest,
    api: Data<AdminApi>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_READ).await?;
    let clients = api.admin.list_clients().await?;
    let docs = clients.iter().map(views::client).collect();
    Ok(json(StatusCode::OK, &Value::Array(docs)))
}

pub(crate) async fn create_client(
    req: HttpRequest,
    api: Data<AdminApi>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let b: NewClient = read_json(&req, payload).await?;
    let alg = b.token_endpoint_auth_signing_alg.as_deref();
    let keys = keys_of(&api, b.jwks.as_ref(), b.jwks_uri.as_deref(), alg)?;
    let spec = NewClientSpec {
        name: b.name,
        owner: b.owner,
        scopes: b.scopes,
        auth_method: auth_method(b.auth_method.as_deref().unwrap_or("client_secret_basic"))?,
        grant_types: grant_types(&b.grant_types)?,
        supplied_secret: None,
        limits: Default::default(),
        dpop: dpop(b.dpop.as_deref().unwrap_or("optional"))?,
        keys: keys.unwrap_or_default(),
    };
    let created = api.admin.create_client(spec).await?;
    Ok(json(StatusCode::CREATED, &views::client_created(&created)))
}

pub(crate) async fn show_client(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_READ).await?;
    let client = api.admin.show_client(&id).await?;
    Ok(json_tagged(&views::client(&client)))
}

/// A new secret, shown once; the previous ones keep working for `grace_secs`.
pub(crate) async fn rotate_secret(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let b: Rotate = read_json(&req, payload).await?;
    let rotated = api.admin.rotate_secret(&id, b.grace_secs).await?;
    Ok(json(StatusCode::CREATED, &views::secret_rotated(&rotated)))
}
