//! What `grantd apply` needs besides the ordinary use cases: the store-free checks of a user
//! or client to create (the same validators `create_user` and `create_client` run, so a plan
//! refuses exactly what those would refuse), and `explain` against a planned client and owner
//! that are not stored (yet).

use grantd_domain::{Client, ClientId, Owner, StoredScopes};

use super::explain::{Explanation, explain_decision, with_quota};
use super::input::{parse_client_id, parse_scope_list, validate_email, validate_name};
use super::{Admin, AdminError, InvalidReason, Named, NewClientSpec, NewUserSpec, ScopeItem};

impl Admin {
    /// `create_user`'s checks (name, email, roles) without a write; returns the roles as they
    /// would be stored.
    pub fn check_user_spec(&self, spec: &NewUserSpec) -> Result<StoredScopes, AdminError> {
        validate_name(Named::User, &spec.name)?;
        validate_email(&spec.email)?;
        self.parse_roles(&spec.roles)
    }

    /// `create_client`'s store-free checks (id, name, scopes; not the owner, which the caller
    /// resolves) without a write; returns the id and the scopes as they would be stored.
    pub fn check_client_spec(
        &self,
        id: &str,
        spec: &NewClientSpec,
    ) -> Result<(ClientId, StoredScopes), AdminError> {
        let id = parse_client_id(id)?;
        validate_name(Named::Client, &spec.name)?;
        let catalog = &self.policy.catalog;
        let scopes = parse_scope_list(catalog, ScopeItem::Scope, &spec.scopes)?;
        if scopes.is_empty() {
            return Err(AdminError::Invalid(InvalidReason::NoScopes));
        }
        let names: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
        Ok((id, StoredScopes::parse(catalog, &names)))
    }

    /// [`Admin::explain`] for a client and owner as a plan would leave them: the same pure
    /// decision (`decide`), with the quota use counted from the client id's session rows now.
    pub async fn explain_planned(
        &self,
        client: &Client,
        owner: Option<&Owner>,
        scope: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Explanation, AdminError> {
        let owner = owner.filter(|o| Some(&o.id) == client.owner_id.user());
        let quota = self.quota_usage(client).await?;
        let explanation = explain_decision(&self.policy, client, owner, scope, audience);
        Ok(with_quota(explanation, quota))
    }
}
