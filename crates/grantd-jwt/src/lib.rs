//! grantd's crypto adapter: the master key, signing keys (generation, encryption at rest,
//! rotation), JWT signing and verification (`TokenSigner`), client-secret hashing
//! (`SecretHasher`), random identifiers (`IdSource`) and the system clock (`Clock`).
//!
//! Everything cryptographic goes through aws-lc-rs, so the binary carries one crypto library.
//! No secret (master key, private key, client secret or its hash) ever appears in an error, a
//! log line or `Debug`.
//!
//! # Why tokens are signed and verified with aws-lc-rs directly
//!
//! `sign` and `verify` are on the hot path of every token request and every introspection.
//! `jsonwebtoken::encode` rebuilds the signer from the PKCS#8 DER on every call (its
//! `signer_factory` runs `EcdsaKeyPair::from_pkcs8`, including the EC key check), so key
//! parsing is a large share of the cost of each signature (docs/benchmarks.md has the figures).
//! `decode` likewise re-parses the public key per token, and jsonwebtoken has no public API to
//! keep a parsed key. So each loaded key keeps its parsed aws-lc-rs key pair,
//! its parsed public key (`ParsedPublicKey`) and its base64url header, and `jws` writes and
//! checks the compact serialization itself. That is the same library underneath: jsonwebtoken's
//! `aws_lc_rs` backend calls these very aws-lc-rs primitives (`ECDSA_P256_SHA256_FIXED`,
//! `ED25519`, `RSA_PKCS1_SHA256` / `RSA_PKCS1_2048_8192_SHA256`), minus the caching.
//! jsonwebtoken remains the independent verifier in the tests: they decode grantd's tokens
//! through the published JWKS with it, compare deterministic (EdDSA, RS256) signatures byte for
//! byte, and forge the hostile tokens `verify` must refuse.

mod assertion;
mod claims;
mod client_keys;
mod clock;
mod dpop;
mod error;
mod federation;
mod ids;
mod jwk;
mod jws;
mod keys;
mod master;
mod random;
mod ring;
mod seal;
mod secrets;
mod service;
mod verified;

#[cfg(test)]
mod test_support;

pub use assertion::AssertionVerifier;
pub use client_keys::{JwksError, parse_client_jwks, parse_remote_jwks};
pub use clock::SystemClock;
pub use dpop::{DpopConfig, DpopVerifier};
pub use error::KeyError;
pub use federation::PlatformTokenVerifier;
pub use ids::RandomIds;
pub use master::MasterKey;
pub use secrets::Secrets;
pub use service::{JwtConfig, JwtService};
