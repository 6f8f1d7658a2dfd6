//! The key ring: the signing keys in force (active, next and unexpired retired keys), each
//! decrypted and parsed once, and how a ring is built from the key store's records.

use std::collections::HashMap;
use std::sync::Arc;

use grantd_domain::{Kid, Timestamp};
use grantd_ports::{KeyState, KeySummary, SigningAlgorithm, SigningKeyRecord};

use crate::error::KeyError;
use crate::keys::{self, KeyMaterial};
use crate::seal::KeySealer;

/// A key decrypted and parsed once, with everything `sign` and `verify` need prepared.
pub(crate) struct LoadedKey {
    pub(crate) kid: Kid,
    pub(crate) algorithm: SigningAlgorithm,
    /// The stored ciphertext, to tell on the next refresh whether the row is the same key.
    pub(crate) encrypted: Vec<u8>,
    pub(crate) material: KeyMaterial,
}

pub(crate) struct PublishedKey {
    pub(crate) key: Arc<LoadedKey>,
    pub(crate) not_after: Option<Timestamp>,
}

/// The keys in force, as of the last reload.
#[derive(Default)]
pub(crate) struct Ring {
    pub(crate) active: Option<Arc<LoadedKey>>,
    /// Every key `verify` accepts (next, active, unexpired retired), by kid.
    pub(crate) published: HashMap<String, PublishedKey>,
    /// Public JWKs: active, then next, then retired (newest first).
    pub(crate) jwks: Vec<String>,
    pub(crate) summaries: Vec<KeySummary>,
}

impl Ring {
    /// The ring `records` describe as of `now`. Keys already loaded in `previous` (same kid,
    /// algorithm and ciphertext) are reused, so an unchanged key is never decrypted or parsed
    /// again.
    pub(crate) fn build(
        records: &[SigningKeyRecord],
        previous: &Ring,
        now: Timestamp,
        sealer: &KeySealer,
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
                None => match load_key(sealer, r) {
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
}

/// Decrypts and parses one stored key.
fn load_key(sealer: &KeySealer, r: &SigningKeyRecord) -> Result<LoadedKey, KeyError> {
    let pkcs8 = sealer.open(&r.kid, r.algorithm, &r.encrypted_private_key)?;
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

/// Whether a retired key's `not_after` has passed. A retired key without one stays published
/// until deleted (the store always sets it; being lenient here only keeps a key a bit longer).
pub(crate) fn is_past(not_after: Option<Timestamp>, now: Timestamp) -> bool {
    not_after.is_some_and(|na| na < now)
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

pub(crate) fn log_changes(old: &Ring, new: &Ring) {
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
