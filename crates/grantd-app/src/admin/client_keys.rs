//! A `private_key_jwt` client's public keys: read from a JWKS document or a `jwks_uri` (the
//! one check, whether the keys come from the CLI, the admin API or a state file), fitted to
//! the client, and replaced in one compare-and-set write.

use grantd_domain::{AssertionAlg, Client, ClientKeys, JwksUri};

use super::changes::{Precondition, client_written};
use super::clients::check_keys_fit;
use super::input::parse_client_id;
use super::{Admin, AdminError, InvalidReason, NewClientSpec};

/// Where a `private_key_jwt` client's public keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS document (`{"keys":[…]}`), registered as given.
    Jwks(String),
    /// The URL where the client publishes its JWKS (`https`; `http` to loopback only when
    /// allowed), fetched when needed: its keys are not fetched now.
    Uri(String),
}

impl Admin {
    /// Reads `source` as registered keys, bound to `alg` if given (some inline key must be
    /// able to sign with it): public keys of a usable type only, unique kids; a `jwks_uri`
    /// that is `https` or allowed `http` to loopback. No write.
    pub fn client_keys(
        &self,
        source: &KeySource,
        alg: Option<AssertionAlg>,
    ) -> Result<ClientKeys, AdminError> {
        let keys = match source {
            KeySource::Jwks(text) => self
                .ports
                .assertions
                .registration_keys(text)
                .map_err(|e| AdminError::Invalid(InvalidReason::Jwks(e)))?,
            KeySource::Uri(text) => {
                let uri = JwksUri::parse(text)
                    .and_then(|u| u.usable(self.jwks_http_loopback).map(|()| u))
                    .map_err(|problem| {
                        AdminError::Invalid(InvalidReason::JwksUri {
                            uri: text.clone(),
                            problem,
                        })
                    })?;
                ClientKeys::remote(uri)
            }
        };
        keys.with_alg(alg)
            .map_err(|e| AdminError::Invalid(InvalidReason::NoKeyForAlg(e.0)))
    }

    /// Whether a client to create has the keys its method needs (`private_key_jwt`: some and
    /// no secret; others: none), as `create_client` checks it, without a write.
    pub fn check_new_client_keys(&self, spec: &NewClientSpec) -> Result<(), AdminError> {
        check_keys_fit(spec.auth_method, &spec.keys, spec.supplied_secret.is_some())
    }

    /// `keys` as [`Admin::set_client_keys`] would store them on `client`, checked (the client
    /// must be `private_key_jwt`; without an algorithm of their own, `keys` keep the client's
    /// registered one, which must fit them). No write: `grantd apply` runs it on every
    /// changed client before its first write.
    pub fn check_client_keys(
        &self,
        client: &Client,
        keys: ClientKeys,
    ) -> Result<ClientKeys, AdminError> {
        check_keys_fit(client.auth_method, &keys, false)?;
        match keys.alg() {
            Some(_) => Ok(keys),
            None => keys
                .with_alg(client.keys.alg())
                .map_err(|e| AdminError::Invalid(InvalidReason::NoKeyForAlg(e.0))),
        }
    }

    /// Replaces a `private_key_jwt` client's registered public keys (from
    /// [`Admin::client_keys`]) in one compare-and-set write, if `precondition` (when given)
    /// holds for the stored client, and returns the client as stored afterwards (unchanged,
    /// and nothing written, when the keys are the same). The audit event names the kids
    /// before and after, never key material. Servers see the change when it reaches their
    /// client cache (change notifications), as with every client update.
    pub async fn set_client_keys(
        &self,
        id: &str,
        keys: ClientKeys,
        precondition: Option<Precondition<'_, Client>>,
    ) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        let before = self.client_to_change(&id, precondition).await?;
        let keys = self.check_client_keys(&before, keys)?;
        if keys == before.keys {
            return Ok(before);
        }
        let now = self.ports.clock.now();
        let outcome = self
            .ports
            .clients
            .set_client_keys(&id, &keys, before.updated_at, now)
            .await
            .map_err(|e| AdminError::store("updating client keys", e))?;
        client_written(outcome, &id)?;
        let client = self.find_client(&id).await?;
        self.audit(|| super::audit::keys_changed(id.to_string(), &before.keys, &client.keys));
        Ok(client)
    }
}
