//! Signing keys: the records the key store keeps, and the key ring that loads, rotates and
//! deletes them (`KeyRing`, behind the key-administration use case).

use std::fmt;

use async_trait::async_trait;

use grantd_domain::{Kid, Timestamp};

/// JWS algorithms grantd signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    Es256,
    EdDsa,
    Rs256,
}

impl SigningAlgorithm {
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
        SigningAlgorithm::Rs256,
    ];

    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signing.
    Active,
    /// Published until every token it signed has expired (`not_after`), then deleted.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A stored signing key. The private key is encrypted at rest under the master key; the store
/// never sees it in the clear.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: Kid,
    pub algorithm: SigningAlgorithm,
    pub encrypted_private_key: Vec<u8>,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub state: KeyState,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("encrypted_private_key", &"<redacted>")
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// One stored key as the key ring last loaded it, for `grantd key list`.
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

/// Why the key ring could not reload, rotate or delete keys. Both variants carry the adapter's
/// own error, whose message says what to do; they differ in what a caller does about them.
#[derive(Debug)]
pub enum KeyRingError {
    /// Another replica rotated between this one's read and its write: nothing changed here,
    /// and the keys are rotated, which is what was asked.
    RotationRaced(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else (no key to promote, a key that does not decrypt, the store failing).
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for KeyRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRingError::RotationRaced(e) | KeyRingError::Failed(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for KeyRingError {}

/// The signing keys in force in this process, loaded from the key store: the mechanics of key
/// administration (generating, sealing, loading keys). When to rotate and how long a retired
/// key stays published are the caller's policy.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait KeyRing: Send + Sync {
    /// Reloads every key from the store, so this process follows rotations made elsewhere. On
    /// error the keys loaded before stay in force.
    async fn refresh(&self, now: Timestamp) -> Result<(), KeyRingError>;

    /// Every stored key as of the last reload, oldest first.
    fn summaries(&self) -> Vec<KeySummary>;

    /// One rotation: a new `next` key is generated, the current `next` becomes active and the
    /// active key is retired, published until `retired_not_after`.
    async fn rotate(
        &self,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<RotationReport, KeyRingError>;

    /// Deletes retired keys past their `not_after`; returns how many went.
    async fn delete_expired(&self, now: Timestamp) -> Result<u64, KeyRingError>;
}
