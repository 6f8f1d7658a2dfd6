//! `/admin/v1/keys` (list, rotate), `/admin/v1/sessions` (one page with keyset pagination and
//! the CLI's filters; revoke one; purge) and `/admin/v1/explain`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use grantd_app::{Admin, PurgeCutoff, SessionQuery};
use grantd_domain::Timestamp;
use grantd_ports::KeyRingError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::read_json;
use super::guard::authorize;
use super::problem::Problem;
use super::{ADMIN_API_PREFIX, AdminApi, views};

const KEYS_READ: &str = "grantd:keys:read";
const KEYS_WRITE: &str = "grantd:keys:write";
const SESSIONS_READ: &str = "grantd:sessions:read";
const SESSIONS_WRITE: &str = "grantd:sessions:write";
const CLIENTS_READ: &str = "grantd:clients:read";

/// `GET /sessions` query parameters: the flags of `grantd session list`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionParams {
    client_id: Option<String>,
    user_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Purge {
    #[serde(default)]
    before: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplainRequest {
    client_id: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    audience: Option<String>,
}

pub(crate) async fn list_keys(
    req: HttpRequest,
    api: Data<AdminApi>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, KEYS_READ).await?;
    let docs = api.keys.list().iter().map(views::key).collect();
    Ok(super::json(StatusCode::OK, &Value::Array(docs)))
}

/// next → active, active → retired, and a new next, as `grantd key rotate`.
pub(crate) async fn rotate_keys(
    req: HttpRequest,
    api: Data<AdminApi>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, KEYS_WRITE).await?;
    match api.keys.rotate().await {
        Ok(report) => Ok(super::json(StatusCode::OK, &views::rotation(&report))),
        Err(KeyRingError::RotationRaced(_)) => {
            Err(Problem::new(StatusCode::CONFLICT, "conflict", "Conflict")
                .detail("another replica rotated the keys at the same time: they are rotated"))
        }
        Err(e) => {
            tracing::error!(error = %e, "admin API: key rotation failed");
            Err(Problem::internal())
        }
    }
}

/// One page, newest first. A full page carries `Link: <…?after=LAST…>; rel="next"`.
pub(crate) async fn list_sessions(
    req: HttpRequest,
    api: Data<AdminApi>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, SESSIONS_READ).await?;
    let p = serde_urlencoded_params(req.query_string())?;
    let query = SessionQuery {
        client_id: p.client_id.clone(),
        user_id: p.user_id.clone(),
        since: p.since.as_deref().map(|s| time("since", s)).transpose()?,
        until: p.until.as_deref().map(|s| time("until", s)).transpose()?,
        after: p.after,
        limit: p.limit,
    };
    let limit = query.limit.unwrap_or(Admin::DEFAULT_SESSION_LIMIT);
    let rows = api.admin.list_sessions(query).await?;
    let docs: Vec<Value> = rows.iter().map(views::session).collect();
    let mut resp = super::json(StatusCode::OK, &Value::Array(docs));
    if let Some(last) = rows.last().filter(|_| rows.len() == limit as usize) {
        let next = next_link(&req, last.session.id.as_str());
        if let Ok(v) = header::HeaderValue::from_str(&next) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

/// The same query with `after` replaced by the last id of this page.
fn next_link(req: &HttpRequest, last: &str) -> String {
    let kept: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("after="))
        .collect();
    let mut q = kept.join("&");
    if !q.is_empty() {
        q.push('&');
    }
    format!("<{ADMIN_API_PREFIX}/sessions?{q}after={last}>; rel=\"next\"")
}

fn serde_urlencoded_params(query: &str) -> Result<SessionParams, Problem> {
    actix_web::web::Query::<SessionParams>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .map_err(|e| Problem::bad_request(format!("invalid query: {e}")))
}

fn time(name: &str, s: &str) -> Result<Timestamp, Problem> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| Timestamp::from_micros(d.timestamp_micros()))
        .map_err(|_| Problem::bad_request(format!("{name} is not an RFC 3339 time")))
}

/// Revokes one session: the token it backs stops at once, here and at introspection.
pub(crate) async fn revoke_session(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, SESSIONS_WRITE).await?;
    let record = api.admin.revoke_session(&id).await?;
    Ok(super::json(StatusCode::OK, &views::session(&record)))
}

/// Deletes expired sessions past the retention, or those expired before `before`.
pub(crate) async fn purge_sessions(
    req: HttpRequest,
    api: Data<AdminApi>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, SESSIONS_WRITE).await?;
    let b: Purge = read_json(&req, payload).await?;
    let cutoff = match b.before.as_deref() {
        Some(s) => PurgeCutoff::Before(time("before", s)?),
        None => PurgeCutoff::Retention(api.retention),
    };
    let deleted = api.admin.purge_sessions(cutoff).await?;
    Ok(super::json(StatusCode::OK, &json!({ "deleted": deleted })))
}

/// The token decision for a client, scope by scope, as `grantd explain`.
pub(crate) async fn explain(
    req: HttpRequest,
    api: Data<AdminApi>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_READ).await?;
    let b: ExplainRequest = read_json(&req, payload).await?;
    let e = api
        .admin
        .explain(&b.client_id, b.scope.as_deref(), b.audience.as_deref())
        .await?;
    Ok(super::json(StatusCode::OK, &views::explanation(&e)))
}
