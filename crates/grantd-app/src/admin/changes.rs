//! Changing a client or a user: one typed change (`None` keeps a field) checked with the same
//! validators as creation, applied in one compare-and-set store write (a concurrent change is
//! refused, never overwritten), audited field by field, and seen by every server's cache through
//! the store's change notifications like every other client or user write.
//!
//! A client's authentication method may move between `client_secret_basic` and
//! `client_secret_post` (both present the same secret). A switch to or from `private_key_jwt` is
//! refused: one side needs registered keys and no secret, the other a secret, so the safe way is
//! to create a new client with the new method and retire the old one.

use grantd_domain::{
    AuthMethod, Client, ClientId, DpopPolicy, GrantType, GrantTypes, Owner, ScopeDef, StoredScopes,
    Tier,
};
use grantd_ports::{StoreError, UpdateOutcome};

use super::clients::LimitsChange;
use super::input::{parse_client_id, parse_scope_list, parse_user_id, validate_name};
use super::{Admin, AdminError, InvalidReason, Missing, Named, ScopeItem};

/// A change to a client: `None` keeps a field. Every given field is checked as
/// `create_client` checks it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientChange {
    pub name: Option<String>,
    /// The new owning user's id (a UUID); it must exist.
    pub owner: Option<String>,
    /// Catalog scopes; an element may hold several, space-separated. Must not be empty.
    pub scopes: Option<Vec<String>>,
    /// Empty means `[ClientCredentials]`, as at creation.
    pub grant_types: Option<Vec<GrantType>>,
    /// Only between the two secret-based methods (see the module text).
    pub auth_method: Option<AuthMethod>,
    pub active: Option<bool>,
    pub dpop: Option<DpopPolicy>,
    pub limits: LimitsChange,
}

/// A change to a user: `None` keeps a field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    pub name: Option<String>,
    /// Delegated scopes of the catalog, replacing the current roles.
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Only the state the caller saw may be changed (`If-Match`): a predicate over the stored
/// value the change is applied to. `false` refuses the change as [`AdminError::Stale`].
pub type Precondition<'a, T> = &'a (dyn Fn(&T) -> bool + Sync);

/// A client as it was and as it is now (equal when the change changed nothing: then nothing
/// was written), and what the token endpoint will do differently from what the operator
/// probably expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientUpdated {
    pub before: Client,
    pub client: Client,
    pub warnings: Vec<String>,
}

impl ClientUpdated {
    pub fn changed(&self) -> bool {
        self.before != self.client
    }
}

/// A user as it was and as it is now (equal when nothing changed: then nothing was written),
/// and warnings about its clients (a delegated scope it no longer holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserUpdated {
    pub before: Owner,
    pub user: Owner,
    pub warnings: Vec<String>,
}

impl UserUpdated {
    pub fn changed(&self) -> bool {
        self.before != self.user
    }
}

impl Admin {
    /// The stored client `id`, if `precondition` (when given) holds for it: what a
    /// compare-and-set change of the client starts from.
    pub(super) async fn client_to_change(
        &self,
        id: &ClientId,
        precondition: Option<Precondition<'_, Client>>,
    ) -> Result<Client, AdminError> {
        let client = self.find_client(id).await?;
        if precondition.is_some_and(|holds| !holds(&client)) {
            return Err(stale_client(id));
        }
        Ok(client)
    }

    /// Applies `change` to client `id` in one write, if `precondition` (when given) holds for
    /// the stored client; returns it before and after.
    pub async fn update_client(
        &self,
        id: &str,
        change: ClientChange,
        precondition: Option<Precondition<'_, Client>>,
    ) -> Result<ClientUpdated, AdminError> {
        let id = parse_client_id(id)?;
        let before = self.client_to_change(&id, precondition).await?;
        let mut after = self.check_client_change(&before, change)?;
        let owner = match after.owner_id.user() {
            Some(owner) => Some(self.find_user(owner).await?),
            None => None,
        };
        let defs: Vec<&ScopeDef> = after.scopes.known().collect();
        let warnings = owner
            .map(|o| self.client_warnings(&defs, &o))
            .unwrap_or_default();
        if after == before {
            return Ok(ClientUpdated {
                client: before.clone(),
                before,
                warnings,
            });
        }
        after.updated_at = self.ports.clock.now();
        let outcome = self.ports.clients.update_client(&after, before.updated_at);
        match outcome.await {
            Ok(written) => client_written(written, &id)?,
            Err(StoreError::NotFound(_)) => {
                let owner = after.owner_id.user().cloned();
                return Err(owner.map_or_else(
                    || AdminError::NotFound(Missing::Client(id)),
                    |o| AdminError::NotFound(Missing::User(o)),
                ));
            }
            Err(e) => return Err(AdminError::store("updating client", e)),
        }
        self.audit(|| super::audit::client_updated(&before, &after));
        Ok(ClientUpdated {
            before,
            client: after,
            warnings,
        })
    }

    /// `before` with `change` applied, every given field checked as [`Admin::update_client`]
    /// checks it (all but the owner's existence), without a write; `updated_at` unchanged.
    /// `grantd apply` runs it on every changed client before its first write.
    pub fn check_client_change(
        &self,
        before: &Client,
        change: ClientChange,
    ) -> Result<Client, AdminError> {
        let mut after = before.clone();
        if let Some(name) = change.name {
            after.name = validate_name(Named::Client, &name)?;
        }
        if let Some(owner) = change.owner {
            after.owner_id = parse_user_id(&owner)?.into();
        }
        if let Some(scopes) = change.scopes {
            let catalog = &self.policy.catalog;
            let parsed = parse_scope_list(catalog, ScopeItem::Scope, &scopes)?;
            if parsed.is_empty() {
                return Err(AdminError::Invalid(InvalidReason::NoScopes));
            }
            let names: Vec<&str> = parsed.iter().map(|s| s.name()).collect();
            after.scopes = StoredScopes::parse(catalog, &names);
        }
        if let Some(grants) = change.grant_types {
            after.grant_types = match grants.is_empty() {
                true => GrantTypes::from(vec![GrantType::ClientCredentials]),
                false => GrantTypes::from(grants),
            };
        }
        if let Some(method) = change.auth_method {
            check_method_switch(before.auth_method, method)?;
            after.auth_method = method;
        }
        if let Some(active) = change.active {
            after.active = active;
        }
        if let Some(dpop) = change.dpop {
            after.dpop = dpop;
        }
        after.limits = change.limits.apply(before.limits);
        Ok(after)
    }

    /// Applies `change` to user `id` in one write, if `precondition` (when given) holds for the
    /// stored user; returns it before and after.
    pub async fn update_user(
        &self,
        id: &str,
        change: UserChange,
        precondition: Option<Precondition<'_, Owner>>,
    ) -> Result<UserUpdated, AdminError> {
        let id = parse_user_id(id)?;
        let before = self.find_user(&id).await?;
        let stale = || AdminError::Stale {
            what: Named::User,
            id: id.to_string(),
        };
        if precondition.is_some_and(|holds| !holds(&before)) {
            return Err(stale());
        }
        let mut after = before.clone();
        if let Some(name) = change.name {
            after.name = validate_name(Named::User, &name)?;
        }
        if let Some(roles) = change.roles {
            after.roles = self.parse_roles(&roles)?;
        }
        if let Some(active) = change.active {
            after.active = active;
        }
        if after == before {
            return Ok(UserUpdated {
                user: before.clone(),
                before,
                warnings: Vec::new(),
            });
        }
        let warnings = match after.roles == before.roles {
            true => Vec::new(),
            false => self.role_warnings(&after).await?,
        };
        after.updated_at = self.ports.clock.now();
        match self
            .ports
            .users
            .update_user(&after, before.updated_at)
            .await
        {
            Ok(UpdateOutcome::Updated) => {}
            Ok(UpdateOutcome::Stale) => return Err(stale()),
            Ok(UpdateOutcome::NotFound) => return Err(AdminError::NotFound(Missing::User(id))),
            Err(e) => return Err(AdminError::store("updating user", e)),
        }
        self.audit(|| super::audit::user_updated(&before, &after));
        Ok(UserUpdated {
            before,
            user: after,
            warnings,
        })
    }

    /// The check `create_client` makes, from the owner's side: each delegated scope of one of
    /// the user's clients that the user's new roles do not hold (never granted until it has
    /// the role again).
    async fn role_warnings(&self, user: &Owner) -> Result<Vec<String>, AdminError> {
        let clients = self.list_clients().await?;
        let mut warnings = Vec::new();
        let owned = clients
            .iter()
            .filter(|c| c.owner_id.user() == Some(&user.id));
        for c in owned {
            let lost = c
                .scopes
                .known()
                .filter(|s| s.tier() == Tier::Delegated && !user.roles.contains(s.name()));
            for s in lost {
                warnings.push(format!(
                    "client {} has delegated scope {} and its owner {} does not hold it: it will not be granted until the owner has that role",
                    c.id,
                    s.name(),
                    user.id
                ));
            }
        }
        Ok(warnings)
    }
}

/// `client_secret_basic` ↔ `client_secret_post` is safe; anything to or from `private_key_jwt`
/// is refused (see the module text).
fn check_method_switch(from: AuthMethod, to: AuthMethod) -> Result<(), AdminError> {
    let keyed = |m| m == AuthMethod::PrivateKeyJwt;
    if from == to || (!keyed(from) && !keyed(to)) {
        Ok(())
    } else {
        Err(AdminError::Invalid(InvalidReason::AuthMethodSwitch {
            from,
            to,
        }))
    }
}

fn stale_client(id: &ClientId) -> AdminError {
    AdminError::Stale {
        what: Named::Client,
        id: id.to_string(),
    }
}

/// A compare-and-set write of client `id`, as the use cases answer it.
pub(super) fn client_written(outcome: UpdateOutcome, id: &ClientId) -> Result<(), AdminError> {
    match outcome {
        UpdateOutcome::Updated => Ok(()),
        UpdateOutcome::Stale => Err(stale_client(id)),
        UpdateOutcome::NotFound => Err(AdminError::NotFound(Missing::Client(id.clone()))),
    }
}
