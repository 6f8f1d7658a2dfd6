//! The verified-token cache: tokens whose signature and intrinsic claims already checked out,
//! so introspecting the same token again skips the signature check.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use grantd_domain::{AccessTokenClaims, Timestamp};

use crate::ring::LoadedKey;

/// Tokens whose signature and intrinsic claims already checked out, by the SHA-256 of their
/// exact bytes (so no bearer token is kept in memory past its request).
///
/// Introspection sees the same token again and again (every call of a resource server that
/// does not cache), and an ES256 verification costs more than the rest of the request together
/// (docs/benchmarks.md: introspection with and without this cache). Checking a signature is a pure function of the token's bytes and the
/// key, so its result is remembered together with the very key (`Arc`) that checked it: a hit
/// counts only while that same loaded key is still published and not past `not_after`, and the
/// time checks (`exp`, `nbf`) run on every call. Only successes are stored (a caller cannot fill
/// it with junk; every entry is a token this service signed), and the map is bounded.
pub(crate) struct VerifiedCache {
    map: RwLock<HashMap<[u8; 32], Verified>>,
}

struct Verified {
    key: Arc<LoadedKey>,
    claims: AccessTokenClaims,
}

/// Entries before expired ones are dropped (and, if all are live, the map is cleared).
const VERIFIED_CACHE_ENTRIES: usize = 8192;

impl VerifiedCache {
    pub(crate) fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn digest(token: &str) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    pub(crate) fn get(&self, digest: &[u8; 32], key: &Arc<LoadedKey>) -> Option<AccessTokenClaims> {
        let map = self.map.read().ok()?;
        let hit = map.get(digest)?;
        Arc::ptr_eq(&hit.key, key).then(|| hit.claims.clone())
    }

    pub(crate) fn put(
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
    pub(crate) fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}
