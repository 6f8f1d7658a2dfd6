//! `JwtService`: the key ring (active, next and retired keys loaded from the key store) and the
//! `TokenSigner` implementation on top of it.
//!
//! The ring is rebuilt off the hot path (`init`, `refresh`, `rotate`, `delete_expired`) and
//! swapped in whole behind an `RwLock<Arc<Ring>>`: `sign` and `verify` take the read lock only
//! long enough to clone an `Arc`, and never parse or decrypt a key: each loaded key holds its
//! parsed aws-lc-rs key pair and public key and its encoded header (`jws::JwsKey`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use grantd_domain::{AccessTokenClaims, Kid, Timestamp};
use grantd_ports::{
    KeyState, SignError, SignedToken, SigningAlgorithm, SigningKeyRecord, SigningKeyStore,
    TokenSigner, VerifyError,
};

use crate::claims::{InClaims, OutClaims};
use crate::error::KeyError;
use crate::jws::{self, Compact, TOKEN_TYPE};
use crate::keys::{self, KeyMaterial};
use crate::master::MasterKey;
use crate::seal::KeySealer;

/// Extra lifetime of a retired key beyond the longest token lifetime. Replicas keep signing
/// with the old key until their next `refresh`, so their last tokens expire up to one refresh
/// interval after `rotation + ttl`: the binary must refresh more often than this.
pub const ROTATION_MARGIN_SECS: i64 = 300;

/// What the signer needs from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtConfig {
    /// `iss` of issued tokens; `verify` accepts only this issuer.
    pub issuer: String,
    /// Algorithm of newly generated keys. Existing keys keep theirs, so a change takes effect
    /// through rotation: the first rotation after it creates a `next` key of the new algorithm,
    /// the second makes that key active.
    pub algorithm: SigningAlgorithm,
    /// The longest access-token lifetime in force: a retired key stays published this long
    /// (plus `ROTATION_MARGIN_SECS`) after rotation.
    pub max_token_ttl_secs: u32,
}

/// One stored key, for `grantd key list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySummary {
    pub kid: Kid,
    pub algorithm: SigningAlgorithm,
    pub state: KeyState,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    /// Whether the key is in the JWKS (false for a retired key past `not_after` that is not
    /// deleted yet).
    pub published: bool,
}

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The key that signed until now; retired, published until `retired_not_after`.
    pub old_active: Kid,
    /// The former `next` key, now signing.
    pub new_active: Kid,
    /// The newly generated `next` key.
    pub new_next: Kid,
    pub retired_not_after: Timestamp,
}

/// A key decrypted and parsed once, with everything `sign` and `verify` need prepared.
struct LoadedKey {
    kid: Kid,
    algorithm: SigningAlgorithm,
    /// The stored ciphertext, to tell on the next refresh whether the row is the same key.
    encrypted: Vec<u8>,
    material: KeyMaterial,
}

struct PublishedKey {
    key: Arc<LoadedKey>,
    not_after: Option<Timestamp>,
}

/// The keys in force, as of the last reload.
#[derive(Default)]
struct Ring {
    active: Option<Arc<LoadedKey>>,
    /// Every key `verify` accepts (next, active, unexpired retired), by kid.
    published: HashMap<String, PublishedKey>,
    /// Public JWKs: active, then next, then retired (newest first).
    jwks: Vec<String>,
    summaries: Vec<KeySummary>,
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

/// Tokens whose signature and intrinsic claims already checked out, by the SHA-256 of their
/// exact bytes (so no bearer token is kept in memory past its request).
///
/// Introspection sees the same token again and again (every call of a resource server that
/// does not cache), and an ES256 verification costs tens of microseconds, more than the rest of
/// the request together. Checking a signature is a pure function of the token's bytes and the
/// key, so its result is remembered together with the very key (`Arc`) that checked it: a hit
/// counts only while that same loaded key is still published and not past `not_after`, and the
/// time checks (`exp`, `nbf`) run on every call. Only successes are stored (a caller cannot fill
/// it with junk; every entry is a token this service signed), and the map is bounded.
struct VerifiedCache {
    map: RwLock<HashMap<[u8; 32], Verified>>,
}

struct Verified {
    key: Arc<LoadedKey>,
    claims: AccessTokenClaims,
}

/// Entries before expired ones are dropped (and, if all are live, the map is cleared).
const VERIFIED_CACHE_ENTRIES: usize = 8192;

impl VerifiedCache {
    fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    fn digest(token: &str) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    fn get(&self, digest: &[u8; 32], key: &Arc<LoadedKey>) -> Option<AccessTokenClaims> {
        let map = self.map.read().ok()?;
        let hit = map.get(digest)?;
        Arc::ptr_eq(&hit.key, key).then(|| hit.claims.clone())
    }

    fn put(
        &self,
        digest: [u8; 32],
        key: &Arc<LoadedKey>,
        claims: &AccessTokenClaims,
        now: Timestamp,
    ) {
        if Timestamp::from_secs(claims.exp) <= now {
            return;
        }
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= VERIFIED_CACHE_ENTRIES {
            map.retain(|_, v| Timestamp::from_secs(v.claims.exp) > now);
            if map.len() >= VERIFIED_CACHE_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            digest,
            Verified {
                key: Arc::clone(key),
                claims: claims.clone(),
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
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
    /// becomes active and the active key is retired until `now + max_token_ttl +
    /// ROTATION_MARGIN_SECS`. If another replica rotated concurrently, nothing changes and
    /// `KeyError::RotationRaced` says which key is active now.
    pub async fn rotate(&self, now: Timestamp) -> Result<RotationReport, KeyError> {
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
        let retired_not_after = now.plus_secs(
            i64::from(self.config.max_token_ttl_secs).saturating_add(ROTATION_MARGIN_SECS),
        );
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
        let ring = Arc::new(self.build_ring(&records, &previous, now)?);
        log_changes(&previous, &ring);
        self.install(Arc::clone(&ring));
        Ok(ring)
    }

    fn build_ring(
        &self,
        records: &[SigningKeyRecord],
        previous: &Ring,
        now: Timestamp,
    ) -> Result<Ring, KeyError> {
        let mut ring = Ring::default();
        let mut actives: Vec<(Option<Timestamp>, Arc<LoadedKey>)> = Vec::new();
        let mut nexts = Vec::new();
        let mut retired = Vec::new();
        for r in records {
            let published = !(r.state == KeyState::Retired && is_past(r.not_after, now));
            ring.summaries.push(KeySummary {
                kid: r.kid.clone(),
                algorithm: r.algorithm,
                state: r.state,
                created_at: r.created_at,
                activated_at: r.activated_at,
                retired_at: r.retired_at,
                not_after: r.not_after,
                published,
            });
            if !published {
                continue;
            }
            let reused = previous.published.get(r.kid.as_str()).and_then(|p| {
                (p.key.algorithm == r.algorithm && p.key.encrypted == r.encrypted_private_key)
                    .then(|| Arc::clone(&p.key))
            });
            let key = match reused {
                Some(key) => key,
                None => match self.load_key(r) {
                    Ok(key) => Arc::new(key),
                    // A damaged retired key only stops verifying its old tokens; refusing the
                    // whole ring for it would stop issuance too.
                    Err(e) if r.state == KeyState::Retired => {
                        tracing::error!(kid = %r.kid, error = %e, "skipping unusable retired signing key");
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            match r.state {
                KeyState::Active => actives.push((r.activated_at, Arc::clone(&key))),
                KeyState::Next => nexts.push(Arc::clone(&key)),
                KeyState::Retired => retired.push((r.retired_at, Arc::clone(&key))),
            }
            ring.published.insert(
                r.kid.as_str().to_owned(),
                PublishedKey {
                    key,
                    not_after: r.not_after.filter(|_| r.state == KeyState::Retired),
                },
            );
        }
        if actives.len() > 1 {
            tracing::warn!(
                count = actives.len(),
                "several signing keys are active; signing with the most recently activated"
            );
        }
        actives.sort_by_key(|(activated_at, _)| *activated_at);
        ring.active = actives.pop().map(|(_, k)| k);
        retired.sort_by_key(|(retired_at, _)| std::cmp::Reverse(*retired_at));
        ring.jwks = ring
            .active
            .iter()
            .chain(actives.iter().rev().map(|(_, k)| k))
            .chain(nexts.iter())
            .chain(retired.iter().map(|(_, k)| k))
            .map(|k| k.material.jwk.clone())
            .collect();
        Ok(ring)
    }

    /// Decrypts and parses one stored key.
    fn load_key(&self, r: &SigningKeyRecord) -> Result<LoadedKey, KeyError> {
        let pkcs8 = self
            .sealer
            .open(&r.kid, r.algorithm, &r.encrypted_private_key)?;
        let material = keys::material(&r.kid, r.algorithm, &pkcs8)?;
        if !same_json(&material.jwk, &r.public_jwk) {
            // The published JWK is always derived from the private key; a differing stored
            // copy is reported, not used.
            tracing::warn!(kid = %r.kid, "stored public JWK differs from the private key; publishing the derived one");
        }
        Ok(LoadedKey {
            kid: r.kid.clone(),
            algorithm: r.algorithm,
            encrypted: r.encrypted_private_key.clone(),
            material,
        })
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

/// Whether a retired key's `not_after` has passed. A retired key without one stays published
/// until deleted (the store always sets it; being lenient here only keeps a key a bit longer).
fn is_past(not_after: Option<Timestamp>, now: Timestamp) -> bool {
    not_after.is_some_and(|na| na < now)
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

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn log_changes(old: &Ring, new: &Ring) {
    let old_active = old.active.as_ref().map(|k| &k.kid);
    let new_active = new.active.as_ref().map(|k| &k.kid);
    if old_active != new_active
        && let Some(kid) = new_active
    {
        tracing::info!(kid = %kid, "signing key in use");
    }
    if old.published.len() != new.published.len()
        || new.published.keys().any(|k| !old.published.contains_key(k))
    {
        tracing::debug!(
            published = new.published.len(),
            "published signing keys changed"
        );
    }
}

#[cfg(test)]
mod tests;
