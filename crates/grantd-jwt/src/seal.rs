//! Encryption at rest of signing keys' private parts: AES-256-GCM under a key derived from the
//! master key, bound to the key's id and algorithm.
//!
//! Blob format, version 1: `0x01 | nonce (12 bytes, random) | ciphertext | tag (16 bytes)`.
//! The associated data is `"grantd signing key\0" | alg | "\0" | kid`, so a blob copied onto
//! another key row (or with its algorithm column changed) fails to decrypt instead of being
//! used under the wrong identity. The version byte leaves room for another scheme later.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use grantd_domain::Kid;
use grantd_ports::SigningAlgorithm;
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::master::MasterKey;

const LABEL: &str = "grantd signing-key encryption v1";
const VERSION_1: u8 = 1;
const TAG_LEN: usize = 16;

/// Seals and opens private keys. Holds only the derived key, not the master key.
pub(crate) struct KeySealer {
    key: Zeroizing<[u8; 32]>,
}

impl KeySealer {
    pub(crate) fn new(master: &MasterKey) -> KeySealer {
        KeySealer {
            key: master.derive(LABEL),
        }
    }

    fn aead_key(&self) -> Result<RandomizedNonceKey, KeyError> {
        RandomizedNonceKey::new(&AES_256_GCM, self.key.as_slice())
            .map_err(|_| KeyError::Crypto("AES-256-GCM key setup failed".into()))
    }

    /// Encrypts a PKCS#8 private key for storage.
    pub(crate) fn seal(
        &self,
        kid: &Kid,
        alg: SigningAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mut sealed = pkcs8.to_vec();
        let nonce = self
            .aead_key()?
            .seal_in_place_append_tag(Aad::from(aad(kid, alg)), &mut sealed)
            .map_err(|_| KeyError::Crypto("AES-256-GCM encryption failed".into()))?;
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        blob.push(VERSION_1);
        blob.extend_from_slice(nonce.as_ref());
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Decrypts a stored private key. A wrong master key (or an altered blob, kid or algorithm)
    /// is `KeyError::Decrypt`.
    pub(crate) fn open(
        &self,
        kid: &Kid,
        alg: SigningAlgorithm,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let bad = |reason: &str| KeyError::BadKey {
            kid: kid.to_string(),
            reason: reason.to_owned(),
        };
        let Some((&version, rest)) = blob.split_first() else {
            return Err(bad("the encrypted private key is empty"));
        };
        if version != VERSION_1 {
            return Err(bad(&format!(
                "unknown private-key encryption format {version} (written by a newer grantd?)"
            )));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(bad("the encrypted private key is truncated"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| bad("the encrypted private key has a bad nonce"))?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain_len = self
            .aead_key()?
            .open_in_place(nonce, Aad::from(aad(kid, alg)), buf.as_mut_slice())
            .map_err(|_| KeyError::Decrypt {
                kid: kid.to_string(),
            })?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

fn aad(kid: &Kid, alg: SigningAlgorithm) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + kid.as_str().len());
    aad.extend_from_slice(b"grantd signing key\0");
    aad.extend_from_slice(alg.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(kid.as_str().as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(s: &str) -> Kid {
        Kid::parse(s).unwrap()
    }

    #[test]
    fn round_trip_with_random_nonces() {
        let sealer = KeySealer::new(&MasterKey::generate());
        let secret = b"pkcs8 private key bytes".to_vec();
        let a = sealer
            .seal(&kid("k1"), SigningAlgorithm::Es256, &secret)
            .unwrap();
        let b = sealer
            .seal(&kid("k1"), SigningAlgorithm::Es256, &secret)
            .unwrap();
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(a[0], 1);
        assert_eq!(a.len(), 1 + 12 + secret.len() + 16);
        assert!(!a.windows(secret.len()).any(|w| w == secret.as_slice()));
        let opened = sealer
            .open(&kid("k1"), SigningAlgorithm::Es256, &a)
            .unwrap();
        assert_eq!(opened.as_slice(), secret.as_slice());
    }

    #[test]
    fn wrong_master_key_kid_or_algorithm_does_not_decrypt() {
        let sealer = KeySealer::new(&MasterKey::generate());
        let blob = sealer
            .seal(&kid("k1"), SigningAlgorithm::EdDsa, b"secret")
            .unwrap();
        let other = KeySealer::new(&MasterKey::generate());
        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        for (s, k, alg, b) in [
            (&other, "k1", SigningAlgorithm::EdDsa, &blob),
            (&sealer, "k2", SigningAlgorithm::EdDsa, &blob),
            (&sealer, "k1", SigningAlgorithm::Es256, &blob),
            (&sealer, "k1", SigningAlgorithm::EdDsa, &tampered),
        ] {
            match s.open(&kid(k), alg, b) {
                Err(e @ KeyError::Decrypt { .. }) => assert_eq!(
                    e.to_string(),
                    format!(
                        "signing keys cannot be decrypted with this master key (key {k}); \
                         start grantd with the master key they were created with"
                    )
                ),
                other => panic!("expected Decrypt, got {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_blobs_are_bad_keys() {
        let sealer = KeySealer::new(&MasterKey::generate());
        let mut blob = sealer
            .seal(&kid("k1"), SigningAlgorithm::Rs256, b"x")
            .unwrap();
        for bad in [vec![], vec![1u8; 20], {
            blob[0] = 2;
            blob.clone()
        }] {
            assert!(matches!(
                sealer.open(&kid("k1"), SigningAlgorithm::Rs256, &bad),
                Err(KeyError::BadKey { .. })
            ));
        }
    }
}
