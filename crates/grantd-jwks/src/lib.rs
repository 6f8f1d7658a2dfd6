//! The remote-JWKS adapter: the [`RemoteKeys`](grantd_ports::RemoteKeys) port over HTTPS.
//!
//! [`JwksFetcher`] fetches a JWK Set from a URL (a `private_key_jwt` client's `jwks_uri`, or a
//! trusted federation issuer's), checks every member with grantd's JWK parser
//! ([`grantd_jwt::parse_remote_jwks`]: a private or symmetric member refuses the document, a
//! key grantd cannot use is skipped) and caches it per URI:
//!
//! - **fetch**: `https` only (`http` to loopback when [`FetchPolicy::allow_http_loopback`]),
//!   no redirects, a total timeout, a body-size cap, only `200` with a JSON `Content-Type`;
//! - **lifetime**: `Cache-Control: max-age` clamped to `[min_cache, max_cache]` (`min_cache`
//!   without one, or with `no-cache`/`no-store`);
//! - **single flight**: one fetch per URI at a time; callers arriving meanwhile wait for it
//!   and share its outcome;
//! - **refetch**: at most one fetch attempt per URI per `refetch_interval`, whether it was
//!   asked for by an expired set or by an unknown `kid`;
//! - **outage**: a set stays usable for its lifetime plus `stale_grace`; a failed refetch
//!   within that answers the last good set, after it the failure.
//!
//! Nothing here knows about clients or assertions: a caller asks "the keys at this URI".

mod cache;
mod discovery;
mod http;

pub use cache::{FetchPolicy, JwksFetcher};
pub use discovery::discover_jwks_uri;
pub use http::BuildError;
