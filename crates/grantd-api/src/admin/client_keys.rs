//! A client's public keys and federated credentials: `PUT /clients/{id}/keys` and
//! `GET`/`POST`/`DELETE /clients/{id}/federated-credentials`, each one call of the use case
//! `grantd client set-keys` / `grantd client federate …` runs (same checks, same audit
//! events). Keys in a body are read by [`grantd_app::Admin::client_keys`], the one check of
//! registered keys.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};
use grantd_app::{KeySource, NewFederatedCredential};
use grantd_domain::{AssertionAlg, ClientKeys};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::body::{IfMatch, read_json};
use super::guard::authorize;
use super::problem::Problem;
use super::{AdminApi, json, json_tagged, views};

const CLIENTS_READ: &str = "grantd:clients:read";
const CLIENTS_WRITE: &str = "grantd:clients:write";

/// `PUT /clients/{id}/keys`: exactly one of `jwks` and `jwks_uri`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_signing_alg: Option<String>,
}

/// `POST /clients/{id}/federated-credentials`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCredential {
    issuer: String,
    subject: String,
    /// Claim name → the JSON value the token must carry exactly.
    #[serde(default)]
    claims: Map<String, Value>,
}

/// `DELETE /clients/{id}/federated-credentials?issuer=…&subject=…`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialKey {
    issuer: String,
    subject: String,
}

/// The keys a body names (`None`: neither `jwks` nor `jwks_uri`), bound to the algorithm if
/// given, read and checked by the use case: private or symmetric members, duplicate kids, a
/// `jwks_uri` that is not `https` are 422 problems.
pub(crate) fn keys_of(
    api: &AdminApi,
    jwks: Option<&Value>,
    jwks_uri: Option<&str>,
    alg: Option<&str>,
) -> Result<Option<ClientKeys>, Problem> {
    let alg = alg
        .map(|a| {
            AssertionAlg::parse(a).ok_or_else(|| {
                Problem::bad_request(format!("unknown token_endpoint_auth_signing_alg {a:?}"))
            })
        })
        .transpose()?;
    let source = match (jwks, jwks_uri) {
        (Some(_), Some(_)) => return Err(Problem::bad_request("give jwks or jwks_uri, not both")),
        (Some(doc), None) => KeySource::Jwks(doc.to_string()),
        (None, Some(uri)) => KeySource::Uri(uri.to_owned()),
        (None, None) if alg.is_some() => {
            return Err(Problem::bad_request(
                "token_endpoint_auth_signing_alg needs jwks or jwks_uri",
            ));
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(api.admin.client_keys(&source, alg)?))
}

/// Replaces a `private_key_jwt` client's keys; `If-Match` honoured as by the other updates.
pub(crate) async fn put_keys(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let b: KeysBody = read_json(&req, payload).await?;
    let alg = b.token_endpoint_auth_signing_alg.as_deref();
    let keys = keys_of(&api, b.jwks.as_ref(), b.jwks_uri.as_deref(), alg)?
        .ok_or_else(|| Problem::bad_request("give jwks or jwks_uri"))?;
    let if_match = IfMatch::of(&req);
    let check = if_match.holds(views::client);
    let client = api.admin.set_client_keys(&id, keys, Some(&check)).await?;
    Ok(json_tagged(&views::client(&client)))
}

pub(crate) async fn list_credentials(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_READ).await?;
    let creds = api.admin.list_federated_credentials(&id).await?;
    let docs = creds.iter().map(views::federated_credential).collect();
    Ok(json(StatusCode::OK, &Value::Array(docs)))
}

pub(crate) async fn add_credential(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let b: NewCredential = read_json(&req, payload).await?;
    let spec = NewFederatedCredential {
        issuer: b.issuer,
        subject: b.subject,
        claims: views::pinned_claims(b.claims),
    };
    let added = api.admin.add_federated_credential(&id, spec).await?;
    Ok(json(
        StatusCode::CREATED,
        &views::federated_credential(&added),
    ))
}

pub(crate) async fn remove_credential(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let key = Query::<CredentialKey>::from_query(req.query_string())
        .map_err(|_| Problem::bad_request("give the query parameters issuer and subject"))?;
    api.admin
        .remove_federated_credential(&id, &key.issuer, &key.subject)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
