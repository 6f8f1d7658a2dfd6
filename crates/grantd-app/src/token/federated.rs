//! Client authentication with a platform token (federated workload identities): the token's
//! issuer must be trusted, its signature and times good under that issuer's keys and policy,
//! and its `sub` and pinned claims must match one of the client's federated credentials.
//! Every refusal is the same `invalid_client` outside; the typed reason goes to the log,
//! the metrics and the audit record.

use grantd_domain::{
    AssertionRejection as R, AuthMethod, Client, ClientId, ClientRejection, CredentialMismatch,
    DomainError, FederatedIdentity, SessionAuth, match_credential,
};

use super::{AuthenticatedClient, TokenService, secs_i64};
use crate::error::AppError;

fn reject(r: ClientRejection) -> AppError {
    AppError::Refused(DomainError::InvalidClient(r))
}

fn bad(r: R) -> AppError {
    reject(ClientRejection::BadAssertion(r))
}

impl TokenService {
    /// The client named by a `jwt-bearer` request's `client_id` when it is registered as
    /// federated (its assertion is then a platform token); `None` sends the request down
    /// the `private_key_jwt` path, which judges everything else.
    pub(super) async fn federated_client(
        &self,
        sent_id: Option<&str>,
    ) -> Result<Option<Client>, AppError> {
        let Some(id) = sent_id.and_then(|s| ClientId::parse(s).ok()) else {
            return Ok(None);
        };
        let found = self.ports.clients.find_client(&id).await;
        let found = found.map_err(|e| AppError::from_store("loading client", e))?;
        Ok(found.filter(|c| c.auth_method == AuthMethod::Federated))
    }

    /// A `jwt-spiffe` assertion: the `client_id` is required and must name a federated client.
    pub(super) async fn check_spiffe(
        &self,
        sent_id: Option<&str>,
        assertion: &str,
    ) -> Result<AuthenticatedClient, AppError> {
        let sent = sent_id.ok_or_else(|| bad(R::ClientIdRequired))?;
        let id = ClientId::parse(sent).map_err(|_| reject(ClientRejection::MalformedClientId))?;
        let found = self.ports.clients.find_client(&id).await;
        let found = found.map_err(|e| AppError::from_store("loading client", e))?;
        let client = found.ok_or_else(|| reject(ClientRejection::UnknownClient))?;
        if client.auth_method != AuthMethod::Federated {
            return Err(reject(ClientRejection::AuthMethodNotRegistered {
                registered: client.auth_method.as_str(),
                used: AuthMethod::Federated.as_str(),
            }));
        }
        self.check_federated(client, assertion, true).await
    }

    /// The checks, cheapest first: a trusted issuer (of the kind the assertion type names),
    /// a credential of the client under it, the issuer's keys (cached), the token's signature
    /// and times, then `sub` and pinned claims against the credentials.
    pub(super) async fn check_federated(
        &self,
        client: Client,
        token: &str,
        spiffe: bool,
    ) -> Result<AuthenticatedClient, AppError> {
        let fed = self
            .federation
            .as_ref()
            .ok_or_else(|| bad(R::UntrustedIssuer))?;
        let peek = fed.tokens.peek(token).map_err(bad)?;
        let issuer = fed
            .issuers
            .issuer_of(peek.iss.as_deref(), peek.sub.as_deref(), spiffe)
            .ok_or_else(|| bad(R::UntrustedIssuer))?;
        let credentials = fed.credentials.federated_credentials(&client.id).await;
        let credentials =
            credentials.map_err(|e| AppError::from_store("loading federated credentials", e))?;
        if !credentials.iter().any(|c| c.issuer == issuer.name) {
            return Err(bad(R::SubjectMismatch));
        }
        let keys = fed
            .keys
            .issuer_keys(&issuer.name, peek.kid.as_deref())
            .await;
        let keys = keys.map_err(|e| {
            tracing::warn!(issuer = %issuer.name, error = %e, "federated issuer keys unavailable");
            bad(R::IssuerKeysUnavailable)
        })?;
        let now = self.ports.clock.now();
        let verified = fed
            .tokens
            .check(
                token,
                issuer,
                &keys,
                secs_i64(self.assertion_limits.max_skew),
                now,
            )
            .map_err(bad)?;
        let credential = match_credential(&credentials, &issuer.name, &verified.identity).map_err(
            |m| match m {
                CredentialMismatch::Subject => bad(R::SubjectMismatch),
                CredentialMismatch::Claim => bad(R::ClaimMismatch),
            },
        )?;
        if !client.active {
            return Err(reject(ClientRejection::ClientDisabled));
        }
        let federated = FederatedIdentity {
            issuer: issuer.name.clone(),
            subject: credential.subject.clone(),
        };
        Ok(AuthenticatedClient {
            client,
            assertion_key: verified.replay_key,
            auth: SessionAuth {
                method: AuthMethod::Federated,
                federated: Some(federated),
            },
        })
    }
}

#[cfg(test)]
mod tests;
