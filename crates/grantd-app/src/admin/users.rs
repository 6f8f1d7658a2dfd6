//! Operators' user (client owner) use cases: create, list, show, activate and deactivate. A
//! user's roles are delegated scopes of the catalog.

use grantd_domain::{Owner, ScopeDef, StoredScopes, Tier, UserId};
use grantd_ports::StoreError;

use super::input::{parse_scope_list, parse_user_id, validate_email, validate_name};
use super::{Admin, AdminError, ConflictKind, InvalidReason, Missing, Named, ScopeItem};

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUserSpec {
    pub name: String,
    pub email: String,
    /// Delegated scopes of the catalog; an element may hold several, space-separated.
    pub roles: Vec<String>,
}

impl Admin {
    /// Creates an active user. Roles must be delegated scopes of the catalog.
    pub async fn create_user(&self, spec: NewUserSpec) -> Result<Owner, AdminError> {
        let name = validate_name(Named::User, &spec.name)?;
        validate_email(&spec.email)?;
        let roles = self.parse_roles(&spec.roles)?;

        let now = self.ports.clock.now();
        let user = Owner {
            id: self.ports.ids.user_id(),
            name,
            email: spec.email,
            roles,
            active: true,
            created_at: now,
            updated_at: now,
        };
        match self.ports.users.create_user(&user).await {
            Ok(()) => {
                self.audit(|| super::audit::user_created(&user));
                Ok(user)
            }
            Err(StoreError::Conflict(_)) => {
                Err(AdminError::Conflict(ConflictKind::Email(user.email)))
            }
            Err(e) => Err(AdminError::store("creating user", e)),
        }
    }

    pub async fn list_users(&self) -> Result<Vec<Owner>, AdminError> {
        self.ports
            .users
            .list_users()
            .await
            .map_err(|e| AdminError::store("listing users", e))
    }

    pub async fn show_user(&self, id: &str) -> Result<Owner, AdminError> {
        let id = parse_user_id(id)?;
        self.find_user(&id).await
    }

    /// Activates or deactivates a user and returns it as stored afterwards.
    pub async fn set_user_active(&self, id: &str, active: bool) -> Result<Owner, AdminError> {
        let id = parse_user_id(id)?;
        // Read for the audit event only (the state before the change).
        let before = match self.audit.is_on() {
            true => Some(self.find_user(&id).await?.active),
            false => None,
        };
        let now = self.ports.clock.now();
        let found = self
            .ports
            .users
            .set_user_active(&id, active, now)
            .await
            .map_err(|e| AdminError::store("updating user", e))?;
        if !found {
            return Err(AdminError::NotFound(Missing::User(id)));
        }
        let user = self.find_user(&id).await?;
        self.audit(|| super::audit::activation("user", id.to_string(), before, user.active));
        Ok(user)
    }

    pub(super) async fn find_user(&self, id: &UserId) -> Result<Owner, AdminError> {
        self.ports
            .users
            .find_user(id)
            .await
            .map_err(|e| AdminError::store("loading user", e))?
            .ok_or_else(|| AdminError::NotFound(Missing::User(id.clone())))
    }

    pub(super) fn parse_roles(&self, roles: &[String]) -> Result<StoredScopes, AdminError> {
        let catalog = &self.policy.catalog;
        if let Some(blank) = roles.iter().find(|r| r.trim().is_empty()) {
            return Err(AdminError::Invalid(InvalidReason::EmptyRole(blank.clone())));
        }
        let scopes = parse_scope_list(catalog, ScopeItem::Role, roles)?;
        if let Some(service) = scopes.iter().find(|s| s.tier() != Tier::Delegated) {
            let delegated = catalog
                .iter()
                .filter(|s| s.tier() == Tier::Delegated)
                .map(|s| s.name().to_owned())
                .collect();
            return Err(AdminError::Invalid(InvalidReason::RoleNotDelegated {
                role: service.name().to_owned(),
                tier: service.tier(),
                delegated,
            }));
        }
        let names: Vec<&str> = scopes.iter().map(|s| ScopeDef::name(s)).collect();
        Ok(StoredScopes::parse(catalog, &names))
    }
}
