//! Changing users and clients: `PATCH /users/{id}` and `PATCH /clients/{id}` (JSON merge-patch
//! style: an absent field is kept, `null` clears a field that may be empty and is refused on
//! one that may not) and `PUT /clients/{id}` with a client-chosen id (creates when absent,
//! changes when different, changes nothing when equal). Every change goes through
//! [`grantd_app::Admin::update_client`] / [`grantd_app::Admin::update_user`].
//!
//! `If-Match` is honoured, not required: absent, the change applies to whatever is stored;
//! present, it must match the current `ETag` or the answer is 412 and nothing changes. The
//! comparison is made by the use case against the very state its compare-and-set write
//! replaces, so a change that lands between the check and the write is refused too (412).

use std::num::NonZeroU32;

use actix_web::http::{StatusCode, header};
use actix_web::web::{Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use grantd_app::{AdminError, ClientChange, LimitsChange, Missing, NewClientSpec, UserChange};
use grantd_domain::{AuthMethod, ClientLimits, ClientRate, DpopPolicy, GrantType};
use serde::{Deserialize, Deserializer};

use super::body::{IfMatch, read_json};
use super::guard::authorize;
use super::problem::Problem;
use super::{AdminApi, json, json_tagged, views};

const USERS_WRITE: &str = "grantd:users:write";
const CLIENTS_WRITE: &str = "grantd:clients:write";

/// A field that may be absent (kept) but not `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field that may be absent (kept), `null` (cleared) or a value.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    active: Option<bool>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateBody {
    per_second: NonZeroU32,
    /// Default: `per_second`.
    #[serde(default)]
    burst: Option<NonZeroU32>,
}

impl RateBody {
    fn rate(self) -> ClientRate {
        ClientRate {
            per_second: self.per_second,
            burst: self.burst.unwrap_or(self.per_second),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuotaBody {
    #[serde(default, deserialize_with = "nullable")]
    per_hour: Option<Option<NonZeroU32>>,
    #[serde(default, deserialize_with = "nullable")]
    per_day: Option<Option<NonZeroU32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientPatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "present")]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    grant_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    auth_method: Option<String>,
    #[serde(default, deserialize_with = "present")]
    active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    dpop: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    rate_limit: Option<Option<RateBody>>,
    #[serde(default, deserialize_with = "present")]
    quota: Option<QuotaBody>,
}

/// `PUT /clients/{id}`: the whole client; an absent optional field takes its creation default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientPut {
    name: String,
    owner: String,
    scopes: Vec<String>,
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    dpop: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateBody>,
    #[serde(default)]
    quota: Option<QuotaBody>,
}

pub(super) fn auth_method(m: &str) -> Result<AuthMethod, Problem> {
    AuthMethod::parse(m).ok_or_else(|| Problem::bad_request(format!("unknown auth_method {m:?}")))
}

pub(super) fn dpop(d: &str) -> Result<DpopPolicy, Problem> {
    DpopPolicy::parse(d).ok_or_else(|| Problem::bad_request(format!("unknown dpop policy {d:?}")))
}

pub(super) fn grant_types(given: &[String]) -> Result<Vec<GrantType>, Problem> {
    given
        .iter()
        .map(|g| {
            GrantType::parse(g)
                .ok_or_else(|| Problem::bad_request(format!("unknown grant type {g:?}")))
        })
        .collect()
}

impl ClientPatch {
    fn change(self) -> Result<ClientChange, Problem> {
        let quota = self.quota.unwrap_or_default();
        Ok(ClientChange {
            name: self.name,
            owner: self.owner,
            scopes: self.scopes,
            grant_types: self.grant_types.as_deref().map(grant_types).transpose()?,
            auth_method: self.auth_method.as_deref().map(auth_method).transpose()?,
            active: self.active,
            dpop: self.dpop.as_deref().map(dpop).transpose()?,
            limits: LimitsChange {
                rate: self.rate_limit.map(|r| r.map(RateBody::rate)),
                per_hour: quota.per_hour,
                per_day: quota.per_day,
            },
        })
    }
}

impl ClientPut {
    /// Every field given: what the stored client must become.
    fn change(self) -> Result<ClientChange, Problem> {
        let quota = self.quota.unwrap_or_default();
        Ok(ClientChange {
            name: Some(self.name),
            owner: Some(self.owner),
            scopes: Some(self.scopes),
            grant_types: Some(grant_types(&self.grant_types)?),
            auth_method: Some(auth_method(
                self.auth_method.as_deref().unwrap_or("client_secret_basic"),
            )?),
            active: Some(self.active.unwrap_or(true)),
            dpop: Some(dpop(self.dpop.as_deref().unwrap_or("optional"))?),
            limits: LimitsChange {
                rate: Some(self.rate_limit.map(RateBody::rate)),
                per_hour: Some(quota.per_hour.flatten()),
                per_day: Some(quota.per_day.flatten()),
            },
        })
    }
}

pub(crate) async fn patch_user(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, USERS_WRITE).await?;
    let b: UserPatch = read_json(&req, payload).await?;
    let change = UserChange {
        name: b.name,
        roles: b.roles,
        active: b.active,
    };
    let if_match = IfMatch::of(&req);
    let check = if_match.holds(views::user);
    let updated = api.admin.update_user(&id, change, Some(&check)).await?;
    Ok(json_tagged(&views::user(&updated.user)))
}

pub(crate) async fn patch_client(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let b: ClientPatch = read_json(&req, payload).await?;
    let change = b.change()?;
    let if_match = IfMatch::of(&req);
    let check = if_match.holds(views::client);
    let updated = api.admin.update_client(&id, change, Some(&check)).await?;
    Ok(json_tagged(&views::client(&updated.client)))
}

/// Creates the client under `id` when absent (201, its secret shown once), otherwise changes
/// it to the body (200; no new secret, and no write at all when nothing differs).
pub(crate) async fn put_client(
    req: HttpRequest,
    api: Data<AdminApi>,
    id: Path<String>,
    payload: Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &api, CLIENTS_WRITE).await?;
    let b: ClientPut = read_json(&req, payload).await?;
    let change = b.change()?;
    let if_match = IfMatch::of(&req);
    let check = if_match.holds(views::client);
    match api
        .admin
        .update_client(&id, change.clone(), Some(&check))
        .await
    {
        Ok(updated) => Ok(json_tagged(&views::client(&updated.client))),
        Err(AdminError::NotFound(Missing::Client(_))) => {
            // RFC 9110 §13.1.1: If-Match on an absent resource fails.
            if if_match.is_given() {
                return Err(Problem::precondition_failed());
            }
            let active = change.active.unwrap_or(true);
            let mut created = api.admin.create_client_with_id(&id, spec(change)).await?;
            if !active {
                created.client = api.admin.set_client_active(&id, false).await?;
            }
            let mut resp = json(StatusCode::CREATED, &views::client_created(&created));
            if let Ok(v) =
                header::HeaderValue::from_str(&views::etag(&views::client(&created.client)))
            {
                resp.headers_mut().insert(header::ETAG, v);
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// The creation spec of a `PUT` whose client is absent (every field is set by
/// [`ClientPut::change`]).
fn spec(c: ClientChange) -> NewClientSpec {
    let limits = c.limits.apply(ClientLimits::default());
    NewClientSpec {
        name: c.name.unwrap_or_default(),
        owner: c.owner.unwrap_or_default(),
        scopes: c.scopes.unwrap_or_default(),
        auth_method: c.auth_method.unwrap_or(AuthMethod::ClientSecretBasic),
        grant_types: c.grant_types.unwrap_or_default(),
        supplied_secret: None,
        limits,
        dpop: c.dpop.unwrap_or_default(),
        keys: Default::default(),
    }
}
