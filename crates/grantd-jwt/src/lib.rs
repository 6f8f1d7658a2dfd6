//! grantd's crypto adapter: the master key, signing keys (generation, encryption at rest,
//! rotation), JWT signing and verification (`TokenSigner`), client-secret hashing
//! (`SecretHasher`) and random identifiers (`IdSource`).
//!
//! Everything cryptographic goes through aws-lc-rs (directly, or through jsonwebtoken's
//! `aws_lc_rs` backend), so the binary carries one crypto library. No secret (master key,
//! private key, client secret or its hash) ever appears in an error, a log line or `Debug`.

mod claims;
mod error;
mod ids;
mod keys;
mod master;
mod random;
mod seal;
mod secrets;
mod service;

#[cfg(test)]
mod test_support;

pub use error::KeyError;
pub use ids::RandomIds;
pub use master::MasterKey;
pub use secrets::Secrets;
pub use service::{JwtConfig, JwtService, KeySummary, ROTATION_MARGIN_SECS, RotationReport};
