//! `JwtService`: signing-key management through the key store (`KeyRing`) and the
//! `TokenSigner` implementation on the ring it loads (`ring.rs`).
//!
//! The ring is rebuilt off the hot path (`init`, `refresh`, `rotate`, `delete_expired`) and
//! swapped in whole behind an `RwLock<Arc<Ring>>`: `sign` and `verify` take the read lock only
//! long enough to clone an `Arc`, and never parse or decrypt a key: each loaded key holds its
//! parsed aws-lc-rs key pair and public key and its encoded header (`jws::JwsKey`).

use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use grantd_domain::{AccessTokenClaims, Timestamp};
use grantd_ports::{
    KeyRing, KeyRingError, KeyState, KeySummary, RotationReport, SignError, SignedToken,
    SigningAlgorithm, SigningKeyRecord, SigningKeyStore, TokenSigner, VerifyError,
};

use crate::claims::{InClaims, OutClaims};
use crate::error::KeyError;
use crate::jws::{self, Compact, TOKEN_TYPE};
use crate::keys;
use crate::master::MasterKey;
use crate::ring::{Ring, is_past, log_changes};
use crate::seal::KeySealer;
use crate::verified::VerifiedCache;

/// What the signer needs from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtConfig {
    /// `iss` of issued tokens; `verify` accepts only this issuer.
    pub issuer: String,
    /// Algorithm of newly generated keys. Existing keys keep theirs, so a change takes effect
    /// through rotation: the first rotation after it creates a `next` key of the new algorithm,
    /// the second makes that key active.
    pub algorithm: SigningAlgorithm,
}

/// Signs and verifies access tokens; manages signing keys through the key store.
pub struct JwtService {
    config: JwtConfig,
    sealer: KeySealer,
    store: Arc<dyn SigningKeyStore>,
    ring: RwLock<Arc<Ring>>,
    /// Serializes reloads and rotations inside this process, so an older ring never replaces a
    /// newer one.
    reload: tokio::sync::Mutex<()>,
    verified: VerifiedCache,
}

impl fmt::Debug for JwtService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.current();
        f.debug_struct("JwtService")
            .field("issuer", &self.config.issuer)
            .field("algorithm", &self.config.algorithm)
            .field("active", &ring.active.as_ref().map(|k| k.kid.as_str()))
            .field("published", &ring.published.len())
            .finish_non_exhaustive()
    }
}

impl JwtService {
    /// A service with no keys loaded yet: call `init` before signing.
    pub fn new(config: JwtConfig, master: MasterKey, store: Arc<dyn SigningKeyStore>) -> Self {
        JwtService {
            config,
            sealer: KeySealer::new(&master),
            store,
            ring: RwLock::new(Arc::new(Ring::default())),
            reload: tokio::sync::Mutex::new(()),
            verified: VerifiedCache::new(),
        }
    }

    /// Loads the keys; on first start (no active key) generates an active and a next key with
    /// the configured algorithm and stores them. If another replica bootstraps at the same
    /// time, its keys win and are loaded.
    pub async fn init(&self, now: Timestamp) -> Result<(), KeyError> {
        let _guard = self.reload.lock().await;
        if self.reload_locked(now).await?.active.is_some() {
            return Ok(());
        }
        let active = self.new_record(KeyState::Active, now).await?;
        let next = self.new_record(KeyState::Next, now).await?;
        if self.store.bootstrap_signing_keys(&active, &next).await? {
            tracing::info!(
                active = %active.kid,
                next = %next.kid,
                algorithm = %self.config.algorithm,
                "created signing keys"
            );
        } else {
            tracing::info!("another replica created the signing keys first; using those");
        }
        match self.reload_locked(now).await?.active {
            Some(_) => Ok(()),
            None => Err(KeyError::NoActiveKey),
        }
    }

    /// Reloads the ring from the store, so this replica follows rotations made elsewhere.
    /// Keys already loaded are reused (no decryption or parsing when nothing changed). On
    /// error the previous ring stays in force.
    pub async fn refresh(&self, now: Timestamp) -> Result<(), KeyError> {
        let _guard = self.reload.lock().await;
        self.reload_locked(now).await.map(|_| ())
    }

    /// One rotation: a new `next` key (configured algorithm) is generated, the current `next`
    /// becomes active and the active key is retired, published until `retired_not_after`. If
    /// another replica rotated concurrently, nothing changes and `KeyError::RotationRaced` says
    /// which key is active now.
    pub async fn rotate(
        &self,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<RotationReport, KeyError> {
        let _guard = self.reload.lock().await;
        let ring = self.reload_locked(now).await?;
        let old_active = ring
            .active
            .as_ref()
            .map(|k| k.kid.clone())
            .ok_or(KeyError::NoActiveKey)?;
        if !ring.summaries.iter().any(|s| s.state == KeyState::Next) {
            return Err(KeyError::NoNextKey);
        }
        let new_next = self.new_record(KeyState::Next, now).await?;
        let outcome = self
            .store
            .rotate_signing_keys(&old_active, &new_next, now, retired_not_after)
            .await?;
        let ring = self.reload_locked(now).await?;
        match outcome {
            Some(new_active) => {
                tracing::info!(
                    old_active = %old_active,
                    new_active = %new_active,
                    new_next = %new_next.kid,
                    "rotated signing keys"
                );
                Ok(RotationReport {
                    old_active,
                    new_active,
                    new_next: new_next.kid,
                    retired_not_after,
                })
            }
            None => Err(KeyError::RotationRaced {
                active: ring
                    .active
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |k| k.kid.to_string()),
            }),
        }
    }

    /// Deletes retired keys past their `not_after` from the store and, if any went, reloads.
    /// Returns how many were deleted. (A key past `not_after` is already unpublished by the
    /// ring, so nothing changes when none was deleted.)
    pub async fn delete_expired(&self, now: Timestamp) -> Result<u64, KeyError> {
        let deleted = self.store.delete_expired_keys(now).await?;
        if deleted > 0 {
            let _guard = self.reload.lock().await;
            self.reload_locked(now).await?;
        }
        Ok(deleted)
    }

    /// Every stored key as of the last reload, oldest first.
    pub fn key_summaries(&self) -> Vec<KeySummary> {
        self.current().summaries.clone()
    }

    fn current(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            // A panic while holding the write lock cannot leave a half-built ring: the lock
            // only guards an Arc assignment.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, ring: Arc<Ring>) {
        match self.ring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// Builds a ring from the store and installs it. Caller holds `self.reload`.
    async fn reload_locked(&self, now: Timestamp) -> Result<Arc<Ring>, KeyError> {
        let records = self.store.list_signing_keys().await?;
        let previous = self.current();
        let ring = Arc::new(Ring::build(&records, &previous, now, &self.sealer)?);
        log_changes(&previous, &ring);
        self.install(Arc::clone(&ring));
        Ok(ring)
    }

    /// A freshly generated key of the configured algorithm, encrypted, as a store record.
    async fn new_record(
        &self,
        state: KeyState,
        now: Timestamp,
    ) -> Result<SigningKeyRecord, KeyError> {
        let algorithm = self.config.algorithm;
        let kid = keys::new_kid();
        // RSA generation takes tens of milliseconds: keep it off the async worker threads.
        let pkcs8 = tokio::task::spawn_blocking(move || keys::generate_pkcs8(algorithm))
            .await
            .map_err(|e| KeyError::Crypto(format!("key generation task failed: {e}")))??;
        let material = keys::material(&kid, algorithm, &pkcs8)?;
        let encrypted_private_key = self.sealer.seal(&kid, algorithm, &pkcs8)?;
        Ok(SigningKeyRecord {
            kid,
            algorithm,
            encrypted_private_key,
            public_jwk: material.jwk,
            state,
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retired_at: None,
            not_after: None,
        })
    }
}

/// The port the key-administration use case drives; the inherent methods do the work.
#[async_trait]
impl KeyRing for JwtService {
    async fn refresh(&self, now: Timestamp) -> Result<(), KeyRingError> {
        JwtService::refresh(self, now).await.map_err(key_ring_error)
    }

    fn summaries(&self) -> Vec<KeySummary> {
        self.key_summaries()
    }

    async fn rotate(
        &self,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<RotationReport, KeyRingError> {
        JwtService::rotate(self, now, retired_not_after)
            .await
            .map_err(key_ring_error)
    }

    async fn delete_expired(&self, now: Timestamp) -> Result<u64, KeyRingError> {
        JwtService::delete_expired(self, now)
            .await
            .map_err(key_ring_error)
    }
}

fn key_ring_error(e: KeyError) -> KeyRingError {
    match e {
        KeyError::RotationRaced { .. } => KeyRingError::RotationRaced(Box::new(e)),
        e => KeyRingError::Failed(Box::new(e)),
    }
}

impl TokenSigner for JwtService {
    fn sign(&self, claims: &AccessTokenClaims) -> Result<SignedToken, SignError> {
        let ring = self.current();
        let key = ring.active.as_ref().ok_or(SignError::NoKey)?;
        let claims = OutClaims::from(claims);
        let token = key.material.jws.sign(&claims, claims.json_len_estimate())?;
        Ok(SignedToken {
            token,
            kid: key.kid.clone(),
        })
    }

    fn verify(&self, token: &str, now: Timestamp) -> Result<AccessTokenClaims, VerifyError> {
        // Shape and size first (no decoding), then the header; an `alg` outside the known JWS
        // names (including "none") or a `crit` member is malformed.
        let jws = Compact::split(token)?;
        let mut header_buf = [0u8; jws::MAX_HEADER_JSON];
        let header = jws.header(&mut header_buf)?;
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let ring = self.current();
        let published = ring.published.get(kid).ok_or(VerifyError::UnknownKey)?;
        if is_past(published.not_after, now) {
            return Err(VerifyError::UnknownKey);
        }
        let loaded = &published.key;
        // The key decides the algorithm, never the token: HS256 signed with a public key as
        // the secret, or RS256 under an EC kid, is a forgery. Refused before any crypto.
        let key = &loaded.material.jws;
        if header.alg != key.algorithm().as_str() {
            return Err(VerifyError::BadSignature);
        }
        let digest = VerifiedCache::digest(token);
        let claims = match self.verified.get(&digest, loaded) {
            Some(claims) => claims,
            None => {
                key.verify_signature(&jws)?;
                let claims = AccessTokenClaims::try_from(jws.claims::<InClaims>()?)?;
                if !is_access_token_type(header.typ.as_deref()) {
                    return Err(VerifyError::WrongType);
                }
                if claims.iss != self.config.issuer {
                    return Err(VerifyError::WrongIssuer);
                }
                self.verified.put(digest, loaded, &claims, now);
                claims
            }
        };
        // No leeway: grantd checks its own tokens with its own clock.
        if Timestamp::from_secs(claims.exp) <= now {
            return Err(VerifyError::Expired);
        }
        if Timestamp::from_secs(claims.nbf) > now {
            return Err(VerifyError::NotYetValid);
        }
        Ok(claims)
    }

    fn public_jwks(&self) -> Vec<String> {
        self.current().jwks.clone()
    }

    fn ready(&self) -> bool {
        self.current().active.is_some()
    }
}

/// `typ` is a media type: case-insensitive, `application/` prefix optional (RFC 7515 §4.1.9).
fn is_access_token_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case(TOKEN_TYPE)
}

#[cfg(test)]
mod tests;
