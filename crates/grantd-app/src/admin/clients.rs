//! Operators' client use cases: create (with a generated or an operator-supplied secret), list,
//! show, enable and disable, and rotate a client's secret with a grace period.

use std::fmt;
use std::num::NonZeroU32;

use grantd_domain::{
    AuthMethod, Client, ClientId, ClientKeys, ClientLimits, ClientRate, ClientSecret, DpopPolicy,
    GrantType, GrantTypes, Owner, ScopeDef, StoredScopes, Tier, Timestamp,
};
use grantd_ports::{SecretError, StoreError};

use crate::quota::QuotaUsage;

use super::input::{parse_client_id, parse_scope_list, parse_user_id, validate_name};
use super::{Admin, AdminError, ConflictKind, InternalCause, InvalidReason, Missing};
use super::{Named, ScopeItem};

/// A client to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewClientSpec {
    pub name: String,
    /// The owning user's id (a UUID).
    pub owner: String,
    /// Catalog scopes; an element may hold several, space-separated (`"a b"`).
    pub scopes: Vec<String>,
    pub auth_method: AuthMethod,
    /// Empty means `[ClientCredentials]`.
    pub grant_types: Vec<GrantType>,
    /// An operator-supplied secret (a client migrated from another server); `None` generates
    /// one.
    pub supplied_secret: Option<String>,
    /// Its own rate and token quotas; the default is none.
    pub limits: ClientLimits,
    /// Whether token requests must carry a DPoP proof.
    pub dpop: DpopPolicy,
    /// Its public keys (`private_key_jwt`, checked by the key parser); empty otherwise.
    pub keys: ClientKeys,
}

/// A change to a client's own rate and quotas: `None` keeps a field, `Some(None)` clears it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsChange {
    pub rate: Option<Option<ClientRate>>,
    pub per_hour: Option<Option<NonZeroU32>>,
    pub per_day: Option<Option<NonZeroU32>>,
}

impl LimitsChange {
    /// `limits` with this change applied.
    pub fn apply(self, mut limits: ClientLimits) -> ClientLimits {
        if let Some(rate) = self.rate {
            limits.rate = rate;
        }
        if let Some(n) = self.per_hour {
            limits.quota.per_hour = n;
        }
        if let Some(n) = self.per_day {
            limits.quota.per_day = n;
        }
        limits
    }
}

impl fmt::Debug for NewClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClientSpec")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("scopes", &self.scopes)
            .field("auth_method", &self.auth_method)
            .field("dpop", &self.dpop)
            .field("grant_types", &self.grant_types)
            .field(
                "supplied_secret",
                &self.supplied_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("limits", &self.limits)
            .finish()
    }
}

/// A created client and its secret's plaintext, which exists nowhere else: show it once.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCreated {
    pub client: Client,
    /// The generated or supplied secret; `None` for a `private_key_jwt` client.
    pub secret_plaintext: Option<String>,
    /// Things the operator should know because the token endpoint will act on them, e.g. a
    /// delegated scope the owner does not hold (never granted until the owner gets the role).
    pub warnings: Vec<String>,
}

impl fmt::Debug for ClientCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCreated")
            .field("client", &self.client)
            .field("secret_plaintext", &"<redacted>")
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// A rotated client secret: the new plaintext (show it once) and until when the previous
/// secret(s) keep working.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRotated {
    pub client_id: ClientId,
    pub secret_plaintext: String,
    pub previous_valid_until: Timestamp,
}

impl fmt::Debug for SecretRotated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRotated")
            .field("client_id", &self.client_id)
            .field("secret_plaintext", &"<redacted>")
            .field("previous_valid_until", &self.previous_valid_until)
            .finish()
    }
}

/// A secret's plaintext (shown once) and its stored hash.
struct NewSecret {
    plaintext: String,
    hash: String,
}

impl Admin {
    /// Longest grace period for a rotated-out secret: 30 days.
    pub const MAX_GRACE_SECS: u64 = 30 * 24 * 3600;

    /// Creates an active client with one secret (generated, or the operator's own).
    pub async fn create_client(&self, spec: NewClientSpec) -> Result<ClientCreated, AdminError> {
        self.create_client_as(None, spec).await
    }

    /// [`Admin::create_client`] with a client id the caller chose (`grantd apply`); a taken id
    /// is a conflict.
    pub async fn create_client_with_id(
        &self,
        id: &str,
        spec: NewClientSpec,
    ) -> Result<ClientCreated, AdminError> {
        let id = parse_client_id(id)?;
        self.create_client_as(Some(id), spec).await
    }

    /// `id: None` draws a new id, after every check passed.
    async fn create_client_as(
        &self,
        id: Option<ClientId>,
        spec: NewClientSpec,
    ) -> Result<ClientCreated, AdminError> {
        let name = validate_name(Named::Client, &spec.name)?;
        let owner_id = parse_user_id(&spec.owner)?;
        let catalog = &self.policy.catalog;
        let scopes = parse_scope_list(catalog, ScopeItem::Scope, &spec.scopes)?;
        if scopes.is_empty() {
            return Err(AdminError::Invalid(InvalidReason::NoScopes));
        }
        let grant_types = if spec.grant_types.is_empty() {
            GrantTypes::from(vec![GrantType::ClientCredentials])
        } else {
            GrantTypes::from(spec.grant_types.clone())
        };
        let owner = self.find_user(&owner_id).await?;
        let warnings = self.client_warnings(&scopes, &owner);
        check_keys_fit(spec.auth_method, &spec.keys, spec.supplied_secret.is_some())?;
        let secret = match spec.auth_method {
            AuthMethod::PrivateKeyJwt | AuthMethod::Federated => None,
            _ => Some(self.new_secret(spec.supplied_secret).await?),
        };

        let now = self.ports.clock.now();
        let client = Client {
            dpop: spec.dpop,
            id: id.unwrap_or_else(|| self.ports.ids.client_id()),
            keys: spec.keys,
            name,
            owner_id: owner.id.clone().into(),
            scopes: StoredScopes::parse(
                catalog,
                &scopes.iter().map(|s| s.name()).collect::<Vec<_>>(),
            ),
            grant_types,
            auth_method: spec.auth_method,
            active: true,
            secrets: secret
                .iter()
                .map(|s| ClientSecret {
                    hash: s.hash.clone(),
                    created_at: now,
                    valid_until: None,
                })
                .collect(),
            created_at: now,
            updated_at: now,
            limits: spec.limits,
        };
        match self.ports.clients.create_client(&client).await {
            Ok(()) => {
                self.audit(|| super::audit::client_created(&client));
                Ok(ClientCreated {
                    client,
                    secret_plaintext: secret.map(|s| s.plaintext),
                    warnings,
                })
            }
            Err(StoreError::Conflict(_)) => {
                Err(AdminError::Conflict(ConflictKind::ClientId(client.id)))
            }
            Err(StoreError::NotFound(_)) => Err(AdminError::NotFound(Missing::User(owner.id))),
            Err(e) => Err(AdminError::store("creating client", e)),
        }
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AdminError> {
        self.ports
            .clients
            .list_clients()
            .await
            .map_err(|e| AdminError::store("listing clients", e))
    }

    pub async fn show_client(&self, id: &str) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        self.find_client(&id).await
    }

    /// Enables or disables a client and returns it as stored afterwards.
    pub async fn set_client_active(&self, id: &str, active: bool) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        // Read for the audit event only (the state before the change).
        let before = match self.audit.is_on() {
            true => Some(self.find_client(&id).await?.active),
            false => None,
        };
        let now = self.ports.clock.now();
        let found = self
            .ports
            .clients
            .set_client_active(&id, active, now)
            .await
            .map_err(|e| AdminError::store("updating client", e))?;
        if !found {
            return Err(AdminError::NotFound(Missing::Client(id)));
        }
        let client = self.find_client(&id).await?;
        self.audit(|| super::audit::activation("client", id.to_string(), before, client.active));
        Ok(client)
    }

    /// Sets whether the client's token requests must carry a DPoP proof; returns the client as
    /// stored afterwards.
    pub async fn set_client_dpop(&self, id: &str, dpop: DpopPolicy) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        // Read for the audit event only (the state before the change).
        let before = match self.audit.is_on() {
            true => Some(self.find_client(&id).await?.dpop),
            false => None,
        };
        let now = self.ports.clock.now();
        let found = self
            .ports
            .clients
            .set_client_dpop(&id, dpop, now)
            .await
            .map_err(|e| AdminError::store("updating client", e))?;
        if !found {
            return Err(AdminError::NotFound(Missing::Client(id)));
        }
        let client = self.find_client(&id).await?;
        self.audit(|| super::audit::dpop_changed(id.to_string(), before, client.dpop));
        Ok(client)
    }

    /// Gives the client a new generated secret; its current secret(s) keep working for
    /// `grace_secs` more seconds (0: they stop now).
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        grace_secs: u64,
    ) -> Result<SecretRotated, AdminError> {
        let id = parse_client_id(client_id)?;
        let grace = i64::try_from(grace_secs)
            .ok()
            .filter(|_| grace_secs <= Self::MAX_GRACE_SECS)
            .ok_or(AdminError::Invalid(InvalidReason::GracePeriod(grace_secs)))?;
        let generated = self.ports.secrets.generate();
        let now = self.ports.clock.now();
        let previous_valid_until = now.plus_secs(grace);
        let secret = ClientSecret {
            hash: generated.hash,
            created_at: now,
            valid_until: None,
        };
        let found = self
            .ports
            .clients
            .rotate_secret(&id, &secret, previous_valid_until)
            .await
            .map_err(|e| AdminError::store("rotating secret", e))?;
        if !found {
            return Err(AdminError::NotFound(Missing::Client(id)));
        }
        self.audit(|| super::audit::secret_rotated(id.to_string(), previous_valid_until));
        Ok(SecretRotated {
            client_id: id,
            secret_plaintext: generated.plaintext,
            previous_valid_until,
        })
    }

    /// Changes a client's own rate and quotas and returns it as stored afterwards. Servers
    /// see the change when it reaches their client cache (change notifications).
    pub async fn update_client_limits(
        &self,
        id: &str,
        change: LimitsChange,
    ) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        let before = self.find_client(&id).await?.limits;
        let limits = change.apply(before);
        let now = self.ports.clock.now();
        let found = self
            .ports
            .clients
            .set_client_limits(&id, &limits, now)
            .await
            .map_err(|e| AdminError::store("updating client limits", e))?;
        if !found {
            return Err(AdminError::NotFound(Missing::Client(id)));
        }
        let client = self.find_client(&id).await?;
        self.audit(|| super::audit::limits_changed(id.to_string(), &before, &client.limits));
        Ok(client)
    }

    /// The client's use of each quota window it has, counted from its session rows now.
    pub async fn quota_usage(&self, client: &Client) -> Result<Vec<QuotaUsage>, AdminError> {
        let now = self.ports.clock.now();
        crate::quota::usage_from_rows(&*self.ports.sessions, &client.id, &client.limits.quota, now)
            .await
            .map_err(|e| AdminError::store("counting issued tokens", e))
    }

    pub(super) async fn find_client(&self, id: &ClientId) -> Result<Client, AdminError> {
        self.ports
            .clients
            .find_client(id)
            .await
            .map_err(|e| AdminError::store("loading client", e))?
            .ok_or_else(|| AdminError::NotFound(Missing::Client(id.clone())))
    }

    /// The operator's own secret hashed (slowly), or a generated one.
    async fn new_secret(&self, supplied: Option<String>) -> Result<NewSecret, AdminError> {
        let Some(plaintext) = supplied else {
            let g = self.ports.secrets.generate();
            return Ok(NewSecret {
                plaintext: g.plaintext,
                hash: g.hash,
            });
        };
        let hash = self
            .ports
            .secrets
            .hash_supplied(&plaintext)
            .await
            .map_err(secret_error)?;
        Ok(NewSecret { plaintext, hash })
    }

    /// What the token endpoint will do differently from what the operator probably expects.
    pub(super) fn client_warnings(&self, scopes: &[&ScopeDef], owner: &Owner) -> Vec<String> {
        let roles = &owner.roles;
        let mut warnings = Vec::new();
        if !owner.active {
            warnings.push(format!(
                "owner {} is inactive: the token endpoint refuses this client until the owner is activated",
                owner.id
            ));
        }
        for s in scopes {
            if s.tier() == Tier::Delegated && !roles.contains(s.name()) {
                warnings.push(format!(
                    "scope {} is delegated and owner {} does not hold it: it will not be granted until the owner has that role",
                    s.name(),
                    owner.id
                ));
            }
            if let Some(required) = s.requires_audience() {
                let rules = &self.policy.audiences;
                let reachable =
                    rules.allowed().contains(required) || rules.defaults().contains(required);
                if !reachable {
                    warnings.push(format!(
                        "scope {} requires audience {}, which the audience configuration neither defaults to nor allows: it can never be granted",
                        s.name(),
                        required
                    ));
                }
            }
        }
        warnings
    }
}

/// A hasher's refusal is the operator's to fix; its failure is internal. Neither can carry the
/// secret: both are typed reasons.
fn secret_error(e: SecretError) -> AdminError {
    match e {
        SecretError::Rejected(why) => AdminError::Invalid(InvalidReason::SecretRejected(why)),
        SecretError::Failed(why) => AdminError::Internal(InternalCause::SecretHashing(why)),
    }
}

/// A `private_key_jwt` client needs keys and no secret; a federated client neither (its
/// credentials are added after it exists); a secret-based client no keys.
pub(super) fn check_keys_fit(
    method: AuthMethod,
    keys: &ClientKeys,
    secret: bool,
) -> Result<(), AdminError> {
    let fits = match method {
        AuthMethod::PrivateKeyJwt => !keys.is_empty() && !secret,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => keys.is_empty(),
        AuthMethod::Federated => keys.is_empty() && !secret,
    };
    if fits {
        Ok(())
    } else {
        Err(AdminError::Invalid(InvalidReason::KeysDoNotFitMethod))
    }
}
