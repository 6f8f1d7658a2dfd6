//! Federated credentials of a client (`grantd client federate add|list|remove`): which subject
//! of which trusted issuer, with which pinned claims, may authenticate as the client.

use grantd_domain::{AuthMethod, ClientId, FederatedCredential, IssuerName, PinnedClaim};
use grantd_ports::{AdminChange, AuditKind, FieldChange, StoreError};

use super::input::parse_client_id;
use super::{Admin, AdminError, ConflictKind, InvalidReason, Missing};
use crate::federation::FederationPorts;

/// Longest subject or pinned-claim name accepted, bytes.
pub const FEDERATED_TEXT_MAX: usize = 320;

/// A credential to add: the issuer's configured name, the exact `sub`, the pinned claims
/// (each value canonical JSON, as the CLI or API parsed it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFederatedCredential {
    pub issuer: String,
    pub subject: String,
    pub claims: Vec<PinnedClaim>,
}

impl Admin {
    /// The same facade, managing federated credentials against these issuers and ports.
    pub fn with_federation(mut self, federation: FederationPorts) -> Self {
        self.federation = Some(federation);
        self
    }

    fn federation(&self) -> Result<&FederationPorts, AdminError> {
        self.federation
            .as_ref()
            .ok_or(AdminError::Invalid(InvalidReason::NoTrustedIssuers))
    }

    /// Adds a credential to a federated client. The issuer must be configured; the subject
    /// and claim names non-empty, without control characters; no claim pinned twice.
    pub async fn add_federated_credential(
        &self,
        client_id: &str,
        spec: NewFederatedCredential,
    ) -> Result<FederatedCredential, AdminError> {
        let fed = self.federation()?;
        let id = parse_client_id(client_id)?;
        let credential = check_credential(fed, spec)?;
        self.federated_client(&id).await?;
        let now = self.ports.clock.now();
        fed.credentials
            .add_federated_credential(&id, &credential, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AdminError::Conflict(ConflictKind::FederatedCredential {
                        issuer: credential.issuer.to_string(),
                        subject: credential.subject.clone(),
                    })
                }
                e => AdminError::store("adding federated credential", e),
            })?;
        self.audit(|| credential_event("client.federate.add", &id, &credential, true));
        Ok(credential)
    }

    /// `spec` for client `client_id` registered with `method`, checked as
    /// [`Admin::add_federated_credential`] checks it (all but the client's existence), without
    /// a write: `grantd apply` runs it on every credential of the file before its first write.
    pub fn check_federated_credential(
        &self,
        client_id: &str,
        method: AuthMethod,
        spec: NewFederatedCredential,
    ) -> Result<FederatedCredential, AdminError> {
        let fed = self.federation()?;
        let id = parse_client_id(client_id)?;
        if method != AuthMethod::Federated {
            return Err(AdminError::Invalid(InvalidReason::NotFederated {
                client: id,
                method: method.as_str(),
            }));
        }
        check_credential(fed, spec)
    }

    /// The client's credentials (the client must exist).
    pub async fn list_federated_credentials(
        &self,
        client_id: &str,
    ) -> Result<Vec<FederatedCredential>, AdminError> {
        let fed = self.federation()?;
        let id = parse_client_id(client_id)?;
        self.find_client(&id).await?;
        fed.credentials
            .federated_credentials(&id)
            .await
            .map_err(|e| AdminError::store("listing federated credentials", e))
    }

    /// Removes the credential of `issuer` and `subject`; none such is `NotFound`.
    pub async fn remove_federated_credential(
        &self,
        client_id: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<(), AdminError> {
        let fed = self.federation()?;
        let id = parse_client_id(client_id)?;
        let issuer_name = IssuerName::parse(issuer)
            .ok_or_else(|| AdminError::Invalid(InvalidReason::UnknownIssuer(issuer.to_owned())))?;
        self.find_client(&id).await?;
        let removed = fed
            .credentials
            .remove_federated_credential(&id, &issuer_name, subject)
            .await
            .map_err(|e| AdminError::store("removing federated credential", e))?;
        if !removed {
            return Err(AdminError::NotFound(Missing::FederatedCredential {
                client: id,
                issuer: issuer.to_owned(),
                subject: subject.to_owned(),
            }));
        }
        let gone = FederatedCredential {
            issuer: issuer_name,
            subject: subject.to_owned(),
            claims: Vec::new(),
        };
        self.audit(|| credential_event("client.federate.remove", &id, &gone, false));
        Ok(())
    }

    /// The client's credentials for `explain`, when it is federated and federation is on.
    pub(super) async fn credentials_of(
        &self,
        id: &ClientId,
        method: AuthMethod,
    ) -> Result<Vec<FederatedCredential>, AdminError> {
        match (&self.federation, method) {
            (Some(fed), AuthMethod::Federated) => fed
                .credentials
                .federated_credentials(id)
                .await
                .map_err(|e| AdminError::store("listing federated credentials", e)),
            _ => Ok(Vec::new()),
        }
    }

    /// The client, which must exist and be registered as federated.
    async fn federated_client(&self, id: &ClientId) -> Result<(), AdminError> {
        let client = self.find_client(id).await?;
        if client.auth_method != AuthMethod::Federated {
            return Err(AdminError::Invalid(InvalidReason::NotFederated {
                client: id.clone(),
                method: client.auth_method.as_str(),
            }));
        }
        Ok(())
    }
}

fn check_text(what: &'static str, s: &str) -> Result<(), AdminError> {
    if s.is_empty() || s.len() > FEDERATED_TEXT_MAX || s.chars().any(char::is_control) {
        return Err(AdminError::Invalid(InvalidReason::FederatedText { what }));
    }
    Ok(())
}

fn check_credential(
    fed: &FederationPorts,
    spec: NewFederatedCredential,
) -> Result<FederatedCredential, AdminError> {
    let unknown = || AdminError::Invalid(InvalidReason::UnknownIssuer(spec.issuer.clone()));
    let issuer = IssuerName::parse(&spec.issuer).ok_or_else(unknown)?;
    if fed.issuers.by_name(&issuer).is_none() {
        return Err(unknown());
    }
    check_text("subject", &spec.subject)?;
    let mut claims = spec.claims;
    for c in &claims {
        check_text("claim name", &c.name)?;
        if matches!(c.name.as_str(), "sub" | "iss") {
            return Err(AdminError::Invalid(InvalidReason::FederatedText {
                what: "claim name (sub and iss are matched already)",
            }));
        }
    }
    claims.sort();
    if claims.windows(2).any(|w| w[0].name == w[1].name) {
        return Err(AdminError::Invalid(InvalidReason::FederatedText {
            what: "claim name (pinned twice)",
        }));
    }
    Ok(FederatedCredential {
        issuer,
        subject: spec.subject,
        claims,
    })
}

/// The audit event of a credential added (`after`) or removed.
fn credential_event(
    action: &'static str,
    client: &ClientId,
    c: &FederatedCredential,
    added: bool,
) -> AuditKind {
    let text = format!(
        "{} {}{}",
        c.issuer,
        c.subject,
        c.claims
            .iter()
            .map(|p| format!(" {}={}", p.name, p.value_json))
            .collect::<String>()
    );
    let (before, after) = if added {
        (None, Some(text))
    } else {
        (Some(text), None)
    };
    AuditKind::AdminChange(AdminChange {
        action,
        target_kind: "client",
        target_id: client.to_string(),
        changes: vec![FieldChange {
            field: "federated_credential",
            before,
            after,
        }],
    })
}

#[cfg(test)]
mod tests;
