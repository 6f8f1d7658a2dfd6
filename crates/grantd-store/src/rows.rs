//! Row structs, private to the crate, and their conversions to and from domain types.
//!
//! Writing a row validates it (lengths, NUL bytes, list syntax, timestamp range) so the
//! database never sees input it would reject; reading one parses every typed field, once, so no
//! caller parses a stored value again. An id, enum or address that does not parse is reported
//! as corrupt (`StoreError::Internal`), never a panic; the exceptions are a client's owner id,
//! scopes and grant types and a user's roles, whose unknown values are kept apart verbatim
//! (they follow the configuration, which may have changed since they were written).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::net::IpAddr;
use std::num::NonZeroU32;

use grantd_domain::{
    AssertionAlg, AuthMethod, Client, ClientId, ClientKeys, ClientLimits, ClientRate, ClientSecret,
    DpopBinding, DpopPolicy, FederatedIdentity, GrantTypes, IssuerName, Jkt, Jti, JwksUri, Kid,
    NewSession, Owner, OwnerId, RegisteredKey, RequestContext, ScopeCatalog, SessionAuth,
    SessionId, SessionRecord, SessionSource, StoredScopes, TokenQuota, UserId,
};
use grantd_ports::{KeyState, SigningAlgorithm, SigningKeyRecord};

use crate::error::{
    Error, MAX_CONTEXT, MAX_EMAIL, MAX_HASH, MAX_JWK, MAX_NAME, MAX_OWNER_ID, MAX_PRIVATE_KEY,
    check_opt_text, check_text, corrupt, from_db_time, join_list, split_list, to_db_time,
    to_opt_db_time,
};
use crate::schema::{client_secrets, clients, sessions, signing_keys, users};

// ---------------------------------------------------------------------------------------------
// users

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl UserRow {
    pub(crate) fn from_domain(u: &Owner) -> Result<Self, Error> {
        check_text("user name", &u.name, MAX_NAME)?;
        check_text("email", &u.email, MAX_EMAIL)?;
        Ok(UserRow {
            id: u.id.as_str().to_owned(),
            name: u.name.clone(),
            email: u.email.clone(),
            roles: join_list("roles", &owned(u.roles.names()))?,
            active: u.active,
            created_at: to_db_time("created_at", u.created_at)?,
            updated_at: to_db_time("updated_at", u.updated_at)?,
        })
    }

    /// Roles are parsed against `catalog` once, here; a role the catalog no longer knows is
    /// kept apart and counts for nothing (see `StoredScopes`).
    pub(crate) fn into_domain(self, catalog: &ScopeCatalog) -> Result<Owner, Error> {
        Ok(Owner {
            id: UserId::parse(&self.id).map_err(|_| corrupt("users", "id"))?,
            name: self.name,
            email: self.email,
            roles: StoredScopes::parse(catalog, &split_list(&self.roles)),
            active: self.active,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// clients and secrets

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct ClientRow {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub scopes: String,
    pub grant_types: String,
    pub auth_method: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub rate_per_second: Option<i64>,
    pub rate_burst: Option<i64>,
    pub quota_per_hour: Option<i64>,
    pub quota_per_day: Option<i64>,
    pub dpop: String,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// The limit columns of a client row (what `client update` writes).
#[derive(Debug, AsChangeset)]
#[diesel(table_name = clients)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct LimitsRow {
    pub rate_per_second: Option<i64>,
    pub rate_burst: Option<i64>,
    pub quota_per_hour: Option<i64>,
    pub quota_per_day: Option<i64>,
}

impl LimitsRow {
    pub(crate) fn from_domain(l: &ClientLimits) -> Self {
        let n = |v: NonZeroU32| i64::from(v.get());
        LimitsRow {
            rate_per_second: l.rate.map(|r| n(r.per_second)),
            rate_burst: l.rate.map(|r| n(r.burst)),
            quota_per_hour: l.quota.per_hour.map(n),
            quota_per_day: l.quota.per_day.map(n),
        }
    }

    /// Parsed once, here: a value that is not a positive 32-bit count, or a rate without its
    /// burst (or the reverse), is corruption (only hand-written SQL can store one).
    fn into_domain(self) -> Result<ClientLimits, Error> {
        let count = |v: Option<i64>, column| {
            v.map(|v| {
                u32::try_from(v)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| corrupt("clients", column))
            })
            .transpose()
        };
        let per_second = count(self.rate_per_second, "rate_per_second")?;
        let burst = count(self.rate_burst, "rate_burst")?;
        let rate = match (per_second, burst) {
            (Some(per_second), Some(burst)) => Some(ClientRate { per_second, burst }),
            (None, None) => None,
            _ => return Err(corrupt("clients", "rate_burst")),
        };
        Ok(ClientLimits {
            rate,
            quota: TokenQuota {
                per_hour: count(self.quota_per_hour, "quota_per_hour")?,
                per_day: count(self.quota_per_day, "quota_per_day")?,
            },
        })
    }
}

/// A secret as read back with its client.
#[derive(Queryable, Selectable)]
#[diesel(table_name = client_secrets)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct SecretRow {
    pub hash: String,
    pub created_at: NaiveDateTime,
    pub valid_until: Option<NaiveDateTime>,
}

/// A secret to insert. `None` is written as NULL (not `DEFAULT`), which also lets SQLite insert
/// several rows in one statement.
#[derive(Insertable)]
#[diesel(table_name = client_secrets)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct NewSecretRow {
    pub client_id: String,
    pub hash: String,
    pub created_at: NaiveDateTime,
    pub valid_until: Option<NaiveDateTime>,
}

impl NewSecretRow {
    pub(crate) fn from_domain(client_id: &ClientId, s: &ClientSecret) -> Result<Self, Error> {
        check_text("secret hash", &s.hash, MAX_HASH)?;
        Ok(NewSecretRow {
            client_id: client_id.as_str().to_owned(),
            hash: s.hash.clone(),
            created_at: to_db_time("secret created_at", s.created_at)?,
            valid_until: to_opt_db_time("secret valid_until", s.valid_until)?,
        })
    }
}

impl SecretRow {
    fn into_domain(self) -> ClientSecret {
        ClientSecret {
            hash: self.hash,
            created_at: from_db_time(self.created_at),
            valid_until: self.valid_until.map(from_db_time),
        }
    }
}

/// The names of a stored list, owned, for [`join_list`].
fn owned(names: Vec<&str>) -> Vec<String> {
    names.into_iter().map(str::to_owned).collect()
}

impl ClientRow {
    pub(crate) fn from_domain(c: &Client) -> Result<(Self, Vec<NewSecretRow>), Error> {
        check_text("client name", &c.name, MAX_NAME)?;
        check_text("owner id", c.owner_id.as_str(), MAX_OWNER_ID)?;
        let limits = LimitsRow::from_domain(&c.limits);
        let row = ClientRow {
            id: c.id.as_str().to_owned(),
            name: c.name.clone(),
            owner_id: c.owner_id.as_str().to_owned(),
            scopes: join_list("scopes", &owned(c.scopes.names()))?,
            grant_types: join_list("grant types", &owned(c.grant_types.names()))?,
            auth_method: c.auth_method.as_str().to_owned(),
            active: c.active,
            created_at: to_db_time("created_at", c.created_at)?,
            updated_at: to_db_time("updated_at", c.updated_at)?,
            rate_per_second: limits.rate_per_second,
            rate_burst: limits.rate_burst,
            quota_per_hour: limits.quota_per_hour,
            quota_per_day: limits.quota_per_day,
            dpop: c.dpop.as_str().to_owned(),
            jwks: encode_keys(&c.keys),
            jwks_uri: c.keys.jwks_uri().map(|u| u.as_str().to_owned()),
            token_endpoint_auth_signing_alg: c.keys.alg().map(|a| a.as_str().to_owned()),
        };
        let secrets = c
            .secrets
            .iter()
            .map(|s| NewSecretRow::from_domain(&c.id, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((row, secrets))
    }

    /// Parses every column once. The id, auth method and DPoP policy must parse (a value grantd cannot
    /// read there is corruption); an owner id that is not a user id, scopes the catalog does
    /// not know and grant types grantd does not implement are kept apart, verbatim, and grant
    /// nothing: the token endpoint refuses such a client or narrows its scopes exactly as it
    /// did when these were parsed per request, and the operator still sees the stored values.
    fn into_domain(
        self,
        secrets: Vec<ClientSecret>,
        catalog: &ScopeCatalog,
    ) -> Result<Client, Error> {
        let limits = LimitsRow {
            rate_per_second: self.rate_per_second,
            rate_burst: self.rate_burst,
            quota_per_hour: self.quota_per_hour,
            quota_per_day: self.quota_per_day,
        }
        .into_domain()?;
        Ok(Client {
            limits,
            dpop: DpopPolicy::parse(&self.dpop).ok_or_else(|| corrupt("clients", "dpop"))?,
            keys: decode_keys(
                self.jwks.as_deref(),
                self.jwks_uri.as_deref(),
                self.token_endpoint_auth_signing_alg.as_deref(),
            )?,
            id: ClientId::parse(&self.id).map_err(|_| corrupt("clients", "id"))?,
            auth_method: AuthMethod::parse(&self.auth_method)
                .ok_or_else(|| corrupt("clients", "auth_method"))?,
            owner_id: OwnerId::parse(&self.owner_id),
            scopes: StoredScopes::parse(catalog, &split_list(&self.scopes)),
            grant_types: GrantTypes::parse(&split_list(&self.grant_types)),
            name: self.name,
            active: self.active,
            secrets,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        })
    }
}

/// Folds the rows of `clients LEFT JOIN client_secrets`, ordered by client then secret, into
/// clients with their secrets.
pub(crate) fn clients_from_join(
    rows: Vec<(ClientRow, Option<SecretRow>)>,
    catalog: &ScopeCatalog,
) -> Result<Vec<Client>, Error> {
    let mut out: Vec<Client> = Vec::new();
    let mut current: Option<(ClientRow, Vec<ClientSecret>)> = None;
    for (client, secret) in rows {
        match &mut current {
            Some((c, secrets)) if c.id == client.id => {
                secrets.extend(secret.map(SecretRow::into_domain))
            }
            _ => {
                if let Some((c, secrets)) = current.take() {
                    out.push(c.into_domain(secrets, catalog)?);
                }
                let secrets = secret.map(SecretRow::into_domain).into_iter().collect();
                current = Some((client, secrets));
            }
        }
    }
    if let Some((c, secrets)) = current {
        out.push(c.into_domain(secrets, catalog)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// sessions

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub source: String,
    pub jti: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
    pub referer: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: Option<String>,
    pub dpop_jkt: Option<String>,
    pub dpop_proof_jti: Option<String>,
    pub client_assertion_jti: Option<String>,
    pub auth_method: Option<String>,
    pub federated_issuer: Option<String>,
    pub federated_subject: Option<String>,
}

impl SessionRow {
    pub(crate) fn from_domain(s: &NewSession) -> Result<Self, Error> {
        let ctx = &s.context;
        check_opt_text("user agent", ctx.user_agent.as_deref(), MAX_CONTEXT)?;
        check_opt_text(
            "accept-language",
            ctx.accept_language.as_deref(),
            MAX_CONTEXT,
        )?;
        check_opt_text("referer", ctx.referer.as_deref(), MAX_CONTEXT)?;
        let federated = s.auth.as_ref().and_then(|a| a.federated.as_ref());
        Ok(SessionRow {
            id: s.id.as_str().to_owned(),
            user_id: s.user_id.as_str().to_owned(),
            client_id: s.client_id.as_str().to_owned(),
            source: s.source.as_str().to_owned(),
            jti: s.jti.as_str().to_owned(),
            client_ip: ctx.ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            accept_language: ctx.accept_language.clone(),
            referer: ctx.referer.clone(),
            created_at: to_db_time("session created_at", s.created_at)?,
            expires_at: to_db_time("session expires_at", s.expires_at)?,
            revoked_at: None,
            revoke_reason: None,
            dpop_jkt: s.dpop.as_ref().map(|d| d.jkt.as_str().to_owned()),
            dpop_proof_jti: s.dpop.as_ref().map(|d| d.proof_key.clone()),
            client_assertion_jti: s.assertion_key.clone(),
            auth_method: s.auth.as_ref().map(|a| a.method.as_str().to_owned()),
            federated_issuer: federated.map(|f| f.issuer.as_str().to_owned()),
            federated_subject: federated.map(|f| f.subject.clone()),
        })
    }

    pub(crate) fn into_domain(self) -> Result<SessionRecord, Error> {
        let session = NewSession {
            id: SessionId::parse(&self.id).map_err(|_| corrupt("sessions", "id"))?,
            user_id: UserId::parse(&self.user_id).map_err(|_| corrupt("sessions", "user_id"))?,
            client_id: ClientId::parse(&self.client_id)
                .map_err(|_| corrupt("sessions", "client_id"))?,
            source: SessionSource::parse(&self.source)
                .ok_or_else(|| corrupt("sessions", "source"))?,
            jti: Jti::parse(&self.jti).map_err(|_| corrupt("sessions", "jti"))?,
            context: RequestContext {
                ip: self
                    .client_ip
                    .map(|ip| ip.parse::<IpAddr>())
                    .transpose()
                    .map_err(|_| corrupt("sessions", "client_ip"))?,
                user_agent: self.user_agent,
                accept_language: self.accept_language,
                referer: self.referer,
            },
            created_at: from_db_time(self.created_at),
            expires_at: from_db_time(self.expires_at),
            dpop: dpop_binding(self.dpop_jkt, self.dpop_proof_jti)?,
            assertion_key: self.client_assertion_jti,
            auth: session_auth(
                self.auth_method,
                self.federated_issuer,
                self.federated_subject,
            )?,
        };
        Ok(SessionRecord {
            session,
            revoked_at: self.revoked_at.map(from_db_time),
            revoke_reason: self.revoke_reason,
        })
    }
}

/// How a session's client authenticated: no method on rows older than the columns; issuer
/// and subject both or neither; anything that does not parse is corruption.
fn session_auth(
    method: Option<String>,
    issuer: Option<String>,
    subject: Option<String>,
) -> Result<Option<SessionAuth>, Error> {
    let Some(method) = method else {
        return Ok(None);
    };
    let method = AuthMethod::parse(&method).ok_or_else(|| corrupt("sessions", "auth_method"))?;
    let federated = match (issuer, subject) {
        (None, None) => None,
        (Some(issuer), Some(subject)) => Some(FederatedIdentity {
            issuer: IssuerName::parse(&issuer)
                .ok_or_else(|| corrupt("sessions", "federated_issuer"))?,
            subject,
        }),
        _ => return Err(corrupt("sessions", "federated_subject")),
    };
    Ok(Some(SessionAuth { method, federated }))
}

/// A session's DPoP binding: both columns or neither; a thumbprint that does not parse is
/// corruption.
fn dpop_binding(
    jkt: Option<String>,
    proof_key: Option<String>,
) -> Result<Option<DpopBinding>, Error> {
    match (jkt, proof_key) {
        (None, None) => Ok(None),
        (Some(jkt), Some(proof_key)) => Ok(Some(DpopBinding {
            jkt: Jkt::parse(&jkt).ok_or_else(|| corrupt("sessions", "dpop_jkt"))?,
            proof_key,
        })),
        _ => Err(corrupt("sessions", "dpop_proof_jti")),
    }
}

// ---------------------------------------------------------------------------------------------
// signing keys

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    pub encrypted_private_key: Vec<u8>,
    pub public_jwk: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub retired_at: Option<NaiveDateTime>,
    pub not_after: Option<NaiveDateTime>,
}

impl KeyRow {
    pub(crate) fn from_domain(k: &SigningKeyRecord) -> Result<Self, Error> {
        check_text("public jwk", &k.public_jwk, MAX_JWK)?;
        if k.encrypted_private_key.len() > MAX_PRIVATE_KEY {
            return Err(Error(grantd_ports::StoreError::Invalid(
                grantd_ports::InvalidInput::Field {
                    field: "encrypted private key",
                    problem: grantd_ports::Problem::LongerThan(MAX_PRIVATE_KEY),
                },
            )));
        }
        Ok(KeyRow {
            kid: k.kid.as_str().to_owned(),
            algorithm: k.algorithm.as_str().to_owned(),
            encrypted_private_key: k.encrypted_private_key.clone(),
            public_jwk: k.public_jwk.clone(),
            state: k.state.as_str().to_owned(),
            created_at: to_db_time("key created_at", k.created_at)?,
            activated_at: to_opt_db_time("key activated_at", k.activated_at)?,
            retired_at: to_opt_db_time("key retired_at", k.retired_at)?,
            not_after: to_opt_db_time("key not_after", k.not_after)?,
        })
    }

    pub(crate) fn into_domain(self) -> Result<SigningKeyRecord, Error> {
        Ok(SigningKeyRecord {
            kid: Kid::parse(&self.kid).map_err(|_| corrupt("signing_keys", "kid"))?,
            algorithm: SigningAlgorithm::parse(&self.algorithm)
                .ok_or_else(|| corrupt("signing_keys", "algorithm"))?,
            encrypted_private_key: self.encrypted_private_key,
            public_jwk: self.public_jwk,
            state: KeyState::parse(&self.state).ok_or_else(|| corrupt("signing_keys", "state"))?,
            created_at: from_db_time(self.created_at),
            activated_at: self.activated_at.map(from_db_time),
            retired_at: self.retired_at.map(from_db_time),
            not_after: self.not_after.map(from_db_time),
        })
    }
}

/// A client's inline keys as stored: a JSON array of the public JWKs as registered; `None`
/// for none (its `jwks_uri`, if any, is a column of its own).
pub(crate) fn encode_keys(keys: &ClientKeys) -> Option<String> {
    (!keys.keys().is_empty()).then(|| {
        let members: Vec<&str> = keys.keys().iter().map(|k| k.jwk.as_str()).collect();
        format!("[{}]", members.join(","))
    })
}

/// Parsed once, here: each stored JWK's `kid`, `kty` and `alg` are read and its JSON kept for
/// the verifier (which checked it when it was registered); a `jwks_uri` is parsed into a
/// `JwksUri`; the registered assertion algorithm goes with either. Anything else (both a JWKS
/// and a `jwks_uri`, an algorithm without keys) is corruption.
fn decode_keys(
    stored: Option<&str>,
    uri: Option<&str>,
    alg: Option<&str>,
) -> Result<ClientKeys, Error> {
    let bad_alg = || corrupt("clients", "token_endpoint_auth_signing_alg");
    let alg = alg
        .map(|a| AssertionAlg::parse(a).ok_or_else(bad_alg))
        .transpose()?;
    let text = match (stored, uri) {
        (None, None) => {
            return match alg {
                None => Ok(ClientKeys::default()),
                Some(_) => Err(bad_alg()),
            };
        }
        (None, Some(uri)) => {
            let uri = JwksUri::parse(uri).map_err(|_| corrupt("clients", "jwks_uri"))?;
            return ClientKeys::remote(uri).with_alg(alg).map_err(|_| bad_alg());
        }
        (Some(_), Some(_)) => return Err(corrupt("clients", "jwks_uri")),
        (Some(text), None) => text,
    };
    let bad = || corrupt("clients", "jwks");
    let members: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(text).map_err(|_| bad())?;
    let field = |m: &serde_json::Map<String, serde_json::Value>, name: &str| {
        m.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let keys = members
        .iter()
        .map(|m| {
            Ok(RegisteredKey {
                kid: field(m, "kid"),
                kty: field(m, "kty").ok_or_else(bad)?,
                alg: field(m, "alg"),
                jwk: serde_json::to_string(m).map_err(|_| bad())?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let keys = ClientKeys::new(keys).map_err(|_| bad())?;
    keys.with_alg(alg)
        .map_err(|_| corrupt("clients", "token_endpoint_auth_signing_alg"))
}
