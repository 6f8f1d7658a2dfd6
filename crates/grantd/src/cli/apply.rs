//! `grantd apply`, `grantd export` and `grantd explain --plan`: the declarative state file.
//!
//! A state file (TOML, or YAML when its name ends in `.yaml` / `.yml`) lists users (keyed by
//! email) and clients (keyed by client id, owner by email; a `private_key_jwt` client with its
//! public keys, inline `jwks` or `jwks_uri`, and `token_endpoint_auth_signing_alg`; a federated
//! client with its `federated_credentials`). `export` prints the database in that format, never a secret. `apply` checks the
//! whole file first (the same validators as the use cases, via `Admin::check_*`), computes the
//! plan (create / change / disable with `--prune`), and only then writes, through the same use
//! cases as `grantd user …` / `grantd client …` (a changed entry: one `update_user` /
//! `update_client` call, one compare-and-set write). The writes are several use cases, not one
//! database transaction: a file that fails any check (including every change's own checks)
//! writes nothing, but a store failure or a concurrent change midway leaves the earlier steps
//! applied (re-running `apply` converges).

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use grantd_api::admin::views;
use grantd_app::{Admin, KeySource, NewClientSpec, NewFederatedCredential, NewUserSpec};
use grantd_domain::{
    AssertionAlg, AuthMethod, Client, ClientKeys, ClientLimits, ClientRate, DpopPolicy,
    FederatedCredential, GrantType, GrantTypes, Owner, StoredScopes, Timestamp, TokenQuota, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Output;

mod diff;
pub(super) mod write;

pub use diff::PlanHasChanges;

/// The state file's syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    /// YAML for `.yaml` / `.yml`, TOML otherwise.
    fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                Format::Yaml
            }
            _ => Format::Toml,
        }
    }
}

/// The state file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientEntry>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

/// A client. Its secret is never in the file: a created client's generated secret is printed
/// once, or read from `secret_file` / `secret_env` (a client migrated from another server).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub client_id: String,
    pub name: String,
    /// The owning user's email.
    pub owner: String,
    pub scopes: Vec<String>,
    #[serde(default = "basic")]
    pub auth_method: String,
    #[serde(default = "client_credentials")]
    pub grant_types: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default = "optional")]
    pub dpop: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_per_hour: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_per_day: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// A `private_key_jwt` client's JWKS URL (instead of `jwks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The one algorithm its assertions must use; absent: the registered one is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// A `private_key_jwt` client's public keys, inline (`{ keys = [ … ] }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// A federated client's credentials (the whole set: others are removed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_credentials: Vec<CredentialEntry>,
}

/// A federated credential: a trusted issuer's configured name, the exact subject, and the
/// claims the platform token must carry with exactly these values.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntry {
    pub issuer: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateEntry {
    pub per_second: NonZeroU32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<NonZeroU32>,
}

fn yes() -> bool {
    true
}
fn basic() -> String {
    AuthMethod::ClientSecretBasic.as_str().to_owned()
}
fn client_credentials() -> Vec<String> {
    vec![GrantType::ClientCredentials.as_str().to_owned()]
}
fn optional() -> String {
    DpopPolicy::Optional.as_str().to_owned()
}

/// A user as the file wants it, checked.
pub(super) struct WantUser {
    pub email: String,
    pub spec: NewUserSpec,
    pub roles: StoredScopes,
    pub active: bool,
}

/// A client as the file wants it, checked. No `Debug`: it may hold a supplied secret.
pub(super) struct WantClient {
    pub id: String,
    pub owner_email: String,
    pub spec: NewClientSpec,
    pub scopes: StoredScopes,
    pub active: bool,
    /// Checked and in stored order (see [`sorted`]).
    pub credentials: Vec<FederatedCredential>,
}

/// The checked file.
pub(super) struct Wanted {
    pub users: Vec<WantUser>,
    pub clients: Vec<WantClient>,
}

/// `grantd export`: the current users and clients as a state file (never a secret).
pub(super) async fn export(admin: &Admin, format: Format, out: &Output) -> anyhow::Result<()> {
    let users = admin.list_users().await?;
    let clients = admin.list_clients().await?;
    let creds = stored_credentials(admin, &clients).await?;
    let emails: BTreeMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.email.as_str()))
        .collect();
    let mut state = StateFile {
        users: users.iter().map(user_entry).collect(),
        clients: clients
            .iter()
            .map(|c| client_entry(c, &emails, credentials_of(&creds, c)))
            .collect(),
    };
    state.users.sort_by(|a, b| a.email.cmp(&b.email));
    state.clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    if out.json {
        return out.print_json(&serde_json::to_value(&state)?);
    }
    let text = match format {
        Format::Toml => toml::to_string(&state).context("cannot write the state as TOML")?,
        Format::Yaml => {
            serde_saphyr::to_string(&state).context("cannot write the state as YAML")?
        }
    };
    out.line(text.trim_end())
}

fn user_entry(u: &Owner) -> UserEntry {
    UserEntry {
        email: u.email.clone(),
        name: u.name.clone(),
        roles: u.roles.names().iter().map(|s| (*s).to_owned()).collect(),
        active: u.active,
    }
}

/// Each federated client's stored credentials, by client id (in stored order).
pub(super) type Credentials = BTreeMap<String, Vec<FederatedCredential>>;

/// The stored credentials of every federated client.
pub(super) async fn stored_credentials(
    admin: &Admin,
    clients: &[Client],
) -> anyhow::Result<Credentials> {
    let mut out = Credentials::new();
    for c in clients {
        if c.auth_method == AuthMethod::Federated {
            let creds = admin.list_federated_credentials(c.id.as_str()).await?;
            out.insert(c.id.as_str().to_owned(), sorted(creds));
        }
    }
    Ok(out)
}

pub(super) fn credentials_of<'a>(creds: &'a Credentials, c: &Client) -> &'a [FederatedCredential] {
    creds.get(c.id.as_str()).map_or(&[], Vec::as_slice)
}

/// Credentials in one order (issuer, subject, claims), so two sets compare as lists.
fn sorted(mut creds: Vec<FederatedCredential>) -> Vec<FederatedCredential> {
    for c in &mut creds {
        c.claims.sort();
    }
    creds.sort_by(|a, b| {
        (a.issuer.as_str(), &a.subject, &a.claims).cmp(&(b.issuer.as_str(), &b.subject, &b.claims))
    });
    creds
}

/// A client's inline keys as a JWKS document (`None`: none inline).
fn jwks_doc(keys: &ClientKeys) -> Option<Value> {
    let members: Vec<Value> = keys
        .keys()
        .iter()
        .map(|k| serde_json::from_str(&k.jwk).unwrap_or(Value::Null))
        .collect();
    (!members.is_empty()).then(|| json!({ "keys": members }))
}

fn credential_entry(c: &FederatedCredential) -> CredentialEntry {
    let claims = views::federated_credential(c)["claims"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    CredentialEntry {
        issuer: c.issuer.to_string(),
        subject: c.subject.clone(),
        claims,
    }
}

fn client_entry(
    c: &Client,
    emails: &BTreeMap<&str, &str>,
    creds: &[FederatedCredential],
) -> ClientEntry {
    let owner = c.owner_id.as_str();
    ClientEntry {
        client_id: c.id.as_str().to_owned(),
        name: c.name.clone(),
        owner: emails.get(owner).copied().unwrap_or(owner).to_owned(),
        scopes: c.scopes.names().iter().map(|s| (*s).to_owned()).collect(),
        auth_method: c.auth_method.as_str().to_owned(),
        grant_types: c
            .grant_types
            .names()
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        active: c.active,
        dpop: c.dpop.as_str().to_owned(),
        rate_limit: c.limits.rate.map(|r| RateEntry {
            per_second: r.per_second,
            burst: Some(r.burst),
        }),
        quota_per_hour: c.limits.quota.per_hour,
        quota_per_day: c.limits.quota.per_day,
        secret_file: None,
        secret_env: None,
        jwks_uri: c.keys.jwks_uri().map(|u| u.as_str().to_owned()),
        token_endpoint_auth_signing_alg: c.keys.alg().map(|a| a.as_str().to_owned()),
        jwks: jwks_doc(&c.keys),
        federated_credentials: creds.iter().map(credential_entry).collect(),
    }
}

/// Reads and parses the state file (TOML, or YAML by its extension), refusing unknown keys.
pub(super) fn read(path: &Path) -> anyhow::Result<StateFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the state file {}", path.display()))?;
    let invalid = || format!("invalid state file {}", path.display());
    match Format::of(path) {
        Format::Toml => toml::from_str(&text).with_context(invalid),
        Format::Yaml => serde_saphyr::from_str(&text).with_context(invalid),
    }
}

/// Checks the whole file: duplicates, each entry with the use cases' validators, each
/// client's owner (in the file or the database). Nothing is written.
pub(super) fn check(admin: &Admin, file: StateFile, known: &[Owner]) -> anyhow::Result<Wanted> {
    let mut users = Vec::new();
    for u in file.users {
        if users.iter().any(|w: &WantUser| w.email == u.email) {
            bail!("duplicate user {:?} in the state file", u.email);
        }
        let spec = NewUserSpec {
            name: u.name.trim().to_owned(),
            email: u.email.clone(),
            roles: u.roles,
        };
        let roles = admin
            .check_user_spec(&spec)
            .with_context(|| format!("user {:?}", u.email))?;
        users.push(WantUser {
            email: u.email,
            spec,
            roles,
            active: u.active,
        });
    }
    let mut clients = Vec::new();
    for c in file.clients {
        if clients.iter().any(|w: &WantClient| w.id == c.client_id) {
            bail!("duplicate client {:?} in the state file", c.client_id);
        }
        let id = c.client_id.clone();
        let owner_known =
            users.iter().any(|u| u.email == c.owner) || known.iter().any(|u| u.email == c.owner);
        if !owner_known {
            bail!(
                "client {id:?}: unknown owner {:?} (not a user in the file or the database)",
                c.owner
            );
        }
        clients.push(check_client(admin, c).with_context(|| format!("client {id:?}"))?);
    }
    Ok(Wanted { users, clients })
}

fn check_client(admin: &Admin, c: ClientEntry) -> anyhow::Result<WantClient> {
    let auth_method = AuthMethod::parse(&c.auth_method)
        .with_context(|| format!("unknown auth_method {:?}", c.auth_method))?;
    let dpop = DpopPolicy::parse(&c.dpop).with_context(|| format!("unknown dpop {:?}", c.dpop))?;
    let grant_types = c
        .grant_types
        .iter()
        .map(|g| GrantType::parse(g).with_context(|| format!("unknown grant type {g:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let keys = entry_keys(admin, &c)?;
    let credentials = c
        .federated_credentials
        .into_iter()
        .map(|f| {
            let spec = NewFederatedCredential {
                issuer: f.issuer,
                subject: f.subject,
                claims: views::pinned_claims(f.claims),
            };
            admin.check_federated_credential(&c.client_id, auth_method, spec)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = NewClientSpec {
        name: c.name.trim().to_owned(),
        owner: String::new(),
        scopes: c.scopes,
        auth_method,
        grant_types,
        supplied_secret: supplied_secret(c.secret_file.as_deref(), c.secret_env.as_deref())?,
        keys,
        limits: ClientLimits {
            rate: c.rate_limit.map(|r| ClientRate {
                per_second: r.per_second,
                burst: r.burst.unwrap_or(r.per_second),
            }),
            quota: TokenQuota {
                per_hour: c.quota_per_hour,
                per_day: c.quota_per_day,
            },
        },
        dpop,
    };
    let (_, scopes) = admin.check_client_spec(&c.client_id, &spec)?;
    let credentials = sorted(credentials);
    let twice =
        |w: &[FederatedCredential]| w[0].issuer == w[1].issuer && w[0].subject == w[1].subject;
    if let Some(w) = credentials.windows(2).find(|&w| twice(w)) {
        bail!(
            "federated credential {} {:?} listed twice",
            w[0].issuer,
            w[0].subject
        );
    }
    Ok(WantClient {
        id: c.client_id,
        owner_email: c.owner,
        spec,
        scopes,
        active: c.active,
        credentials,
    })
}

/// The entry's keys (`jwks` or `jwks_uri`, bound to its algorithm), read by the use case.
fn entry_keys(admin: &Admin, c: &ClientEntry) -> anyhow::Result<ClientKeys> {
    let alg = c
        .token_endpoint_auth_signing_alg
        .as_deref()
        .map(|a| AssertionAlg::parse(a).with_context(|| format!("unknown algorithm {a:?}")))
        .transpose()?;
    let source = match (&c.jwks, &c.jwks_uri) {
        (Some(_), Some(_)) => bail!("give jwks or jwks_uri, not both"),
        (Some(doc), None) => KeySource::Jwks(doc.to_string()),
        (None, Some(uri)) => KeySource::Uri(uri.clone()),
        (None, None) if alg.is_some() => {
            bail!("token_endpoint_auth_signing_alg needs jwks or jwks_uri")
        }
        (None, None) => return Ok(ClientKeys::default()),
    };
    Ok(admin.client_keys(&source, alg)?)
}

/// The secret of a migrated client, from the file or environment variable the entry names.
fn supplied_secret(file: Option<&Path>, env: Option<&str>) -> anyhow::Result<Option<String>> {
    match (file, env) {
        (Some(_), Some(_)) => bail!("give secret_file or secret_env, not both"),
        (Some(path), None) => {
            let s = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read secret_file {}", path.display()))?;
            Ok(Some(s.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .with_context(|| format!("secret_env {var:?} is not set")),
        (None, None) => Ok(None),
    }
}

/// The comparable fields of a user, as the plan shows them.
fn user_view(name: &str, roles: &StoredScopes, active: bool) -> Map<String, Value> {
    let mut roles: Vec<&str> = roles.names();
    roles.sort_unstable();
    let v = json!({ "name": name, "roles": roles, "active": active });
    v.as_object().cloned().unwrap_or_default()
}

/// The comparable fields of a client, as the plan shows them (its public keys in full: a
/// changed key under the same kid is a change).
fn client_view(c: &Client, owner_email: &str, creds: &[FederatedCredential]) -> Map<String, Value> {
    let mut scopes: Vec<&str> = c.scopes.names();
    scopes.sort_unstable();
    let mut grants: Vec<&str> = c.grant_types.names();
    grants.sort_unstable();
    let v = json!({
        "name": c.name, "owner": owner_email, "scopes": scopes,
        "auth_method": c.auth_method.as_str(), "grant_types": grants, "active": c.active,
        "dpop": c.dpop.as_str(),
        "rate_limit": views::rate(c.limits.rate),
        "quota": views::quota(&c.limits.quota),
        "jwks": jwks_doc(&c.keys),
        "jwks_uri": c.keys.jwks_uri().map(|u| u.as_str()),
        "token_endpoint_auth_signing_alg": c.keys.alg().map(|a| a.as_str()),
        "federated_credentials": creds.iter().map(views::federated_credential).collect::<Vec<_>>(),
    });
    v.as_object().cloned().unwrap_or_default()
}

/// A wanted client as a `Client` value (not stored): for comparison and `explain --plan`. Its
/// keys are the file's as `set_client_keys` would store them on `base` (keys without an
/// algorithm keep the registered one).
fn planned_client(
    admin: &Admin,
    w: &WantClient,
    owner: &UserId,
    base: Option<&Client>,
) -> anyhow::Result<Client> {
    let now = Timestamp::from_micros(chrono::Utc::now().timestamp_micros());
    let grant_types = if w.spec.grant_types.is_empty() {
        vec![GrantType::ClientCredentials]
    } else {
        w.spec.grant_types.clone()
    };
    Ok(Client {
        id: grantd_domain::ClientId::parse(&w.id)?,
        name: w.spec.name.clone(),
        owner_id: owner.clone().into(),
        scopes: w.scopes.clone(),
        grant_types: GrantTypes::from(grant_types),
        auth_method: w.spec.auth_method,
        active: w.active,
        secrets: base.map(|b| b.secrets.clone()).unwrap_or_default(),
        created_at: base.map_or(now, |b| b.created_at),
        updated_at: now,
        limits: w.spec.limits,
        dpop: w.spec.dpop,
        keys: planned_keys(admin, w, base)?,
    })
}

fn planned_keys(
    admin: &Admin,
    w: &WantClient,
    base: Option<&Client>,
) -> anyhow::Result<ClientKeys> {
    let keyed = |m| m == AuthMethod::PrivateKeyJwt;
    match base {
        Some(b) if keyed(b.auth_method) && keyed(w.spec.auth_method) => admin
            .check_client_keys(b, w.spec.keys.clone())
            .with_context(|| format!("client {:?}", w.id)),
        _ => Ok(w.spec.keys.clone()),
    }
}

/// `grantd explain --plan FILE --client ID`: the decision for the client and its owner as the
/// file would leave them (a client not in the file: as it is now).
pub(super) async fn explain_plan(
    admin: &Admin,
    path: &Path,
    client: &str,
    scope: Option<&str>,
    audience: Option<&str>,
    out: &Output,
) -> anyhow::Result<()> {
    let known = admin.list_users().await?;
    let wanted = check(admin, read(path)?, &known)?;
    let Some(w) = wanted.clients.iter().find(|c| c.id == client) else {
        return super::explain::run(admin, client, scope, audience, out).await;
    };
    let current = admin.list_clients().await?;
    let base = current.iter().find(|c| c.id.as_str() == w.id);
    let owner = diff::planned_owner(&wanted, &known, &w.owner_email);
    let owner_id = owner
        .as_ref()
        .map_or_else(diff::planned_user_id, |o| o.id.clone());
    let planned = planned_client(admin, w, &owner_id, base)?;
    let e = admin
        .explain_planned(&planned, owner.as_ref(), scope, audience)
        .await?;
    super::explain::explanation(out, &e)
}
