//! Errors of master-key handling and signing-key management. Messages name where the problem
//! is (a file, the environment variable, a key id) and what to do, never key material.

use grantd_ports::StoreError;

/// Why the master key or the signing keys cannot be loaded, created or rotated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The master key could not be read or is malformed. `origin` names where it came from
    /// (`GRANTD_MASTER_KEY` or `file <path>`).
    #[error("master key from {origin}: {reason}")]
    MasterKey { origin: String, reason: String },

    /// A stored private key does not decrypt: the master key differs from the one the keys were
    /// created with (or the stored blob was altered).
    #[error(
        "signing keys cannot be decrypted with this master key (key {kid}); start grantd with \
         the master key they were created with"
    )]
    Decrypt { kid: String },

    /// A stored key decrypts but cannot be used (unknown blob version, not a key of its
    /// algorithm).
    #[error("signing key {kid} is unusable: {reason}")]
    BadKey { kid: String, reason: String },

    /// The signing-key store failed.
    #[error("signing key store: {0}")]
    Store(#[from] StoreError),

    /// Key generation or encryption failed inside the crypto library.
    #[error("crypto failure: {0}")]
    Crypto(String),

    /// There is no active key where one is needed (rotation before `init`).
    #[error("no active signing key; start `grantd serve` once to create the keys")]
    NoActiveKey,

    /// There is no `next` key to promote.
    #[error("no next signing key to promote; the key store is inconsistent")]
    NoNextKey,

    /// Another replica rotated between our read and our write; nothing was changed by us.
    #[error(
        "another replica rotated the signing keys first; nothing changed (active key: {active})"
    )]
    RotationRaced { active: String },
}
