//! A secret hasher without hashing: the stored form of secret `s` is `plain:s`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use grantd_domain::{ClientSecret, Timestamp};
use grantd_ports::{GeneratedSecret, SecretCheck, SecretError, SecretHasher};

use crate::lock;

/// Records every presented secret. With `overloaded` set, a check against stored hashes
/// answers `Overloaded` (as a full slow-hash queue does); a check with none stored (unknown
/// client) never does, as with the real hasher.
#[derive(Debug, Default)]
pub struct FakeSecrets {
    pub presented: Mutex<Vec<String>>,
    pub overloaded: AtomicBool,
    generated: AtomicU64,
}

impl FakeSecrets {
    /// The stored form of `plaintext`.
    pub fn hash(plaintext: &str) -> String {
        format!("plain:{plaintext}")
    }

    /// A current client secret (no expiry) whose plaintext is `plaintext`.
    pub fn secret(plaintext: &str) -> ClientSecret {
        ClientSecret {
            hash: Self::hash(plaintext),
            created_at: Timestamp::from_secs(0),
            valid_until: None,
        }
    }
}

#[async_trait]
impl SecretHasher for FakeSecrets {
    fn generate(&self) -> GeneratedSecret {
        let n = self.generated.fetch_add(1, Ordering::SeqCst);
        let plaintext = format!("generated-secret-{n}");
        GeneratedSecret {
            hash: Self::hash(&plaintext),
            plaintext,
        }
    }
    async fn hash_supplied(&self, plaintext: &str) -> Result<String, SecretError> {
        Ok(Self::hash(plaintext))
    }
    async fn verify(&self, presented: &str, stored: &[String]) -> SecretCheck {
        lock(&self.presented).push(presented.to_owned());
        if !stored.is_empty() && self.overloaded.load(Ordering::SeqCst) {
            return SecretCheck::Overloaded;
        }
        let hash = Self::hash(presented);
        if stored.contains(&hash) {
            SecretCheck::Match { outdated: None }
        } else {
            SecretCheck::Mismatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn matches_only_the_stored_plaintext() {
        let s = FakeSecrets::default();
        let stored = [FakeSecrets::hash("right")];
        assert!(s.verify("right", &stored).await.is_match());
        assert!(!s.verify("wrong", &stored).await.is_match());
        assert!(!s.verify("right", &[]).await.is_match());
        s.overloaded.store(true, Ordering::SeqCst);
        assert!(matches!(
            s.verify("right", &stored).await,
            SecretCheck::Overloaded
        ));
        assert!(matches!(s.verify("x", &[]).await, SecretCheck::Mismatch));
        assert_eq!(lock(&s.presented).len(), 5);
    }
}
