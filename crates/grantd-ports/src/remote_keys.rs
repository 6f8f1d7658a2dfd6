//! `RemoteKeys`: public keys published at a URL (a client's `jwks_uri`, RFC 7591 §2; later a
//! trusted federation issuer's `jwks_uri`). The app asks for "the keys at this URI", never
//! speaks HTTP; the adapter (`grantd-jwks`) fetches, checks, caches and refreshes.

use std::sync::Arc;

use async_trait::async_trait;
use grantd_domain::{ClientKeys, JwksFailure, JwksUri};

/// Why the caller wants the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysWanted {
    /// The set to check a signature with: the cached one while it is fresh, else a fetch.
    Current,
    /// The set the caller was given has no key for the signature (an unknown `kid`, the usual
    /// sign of a key rotation at the publisher): refetch, unless a fetch of this URI was
    /// attempted within the adapter's refetch interval, in which case that attempt's set is
    /// the answer (it may be newer than the one the caller saw).
    KeyNotFound,
}

/// Keys published as a JWK Set at a URL.
///
/// Contract for an implementation: at most one fetch of a URI at a time (concurrent callers
/// wait for the same fetch and share its outcome); a fetched set is kept for its HTTP
/// lifetime within configured bounds; while a refetch fails, the last good set keeps being
/// answered until its lifetime plus a configured grace have passed, then the failure is;
/// every member of a returned set is a checked public key (as for an inline JWKS), so a
/// verifier can treat it exactly like registered keys.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RemoteKeys: Send + Sync {
    /// The keys published at `uri`, as an inline set; `Err` says why none can be used.
    async fn keys(&self, uri: &JwksUri, wanted: KeysWanted)
    -> Result<Arc<ClientKeys>, JwksFailure>;
}
