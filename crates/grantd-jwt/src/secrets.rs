//! Client secrets: generation, hashing and constant-time verification (`SecretHasher`).
//!
//! Generated secrets carry 256 bits of randomness, so a fast keyed hash is enough: stored as
//! `hmac-sha256$v1$<base64url HMAC-SHA-256(pepper, secret)>`, with the pepper derived from the
//! master key (a stolen database alone cannot even test guesses). Operator-supplied secrets
//! may be weak, so they get argon2id (PHC string), run on the blocking pool with a bound on
//! how many hashes run at once.

use std::fmt;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;
use grantd_ports::{GeneratedSecret, SecretError, SecretHasher};
use subtle::{Choice, ConstantTimeEq as _};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::master::MasterKey;
use crate::random;

const PEPPER_LABEL: &str = "grantd client-secret pepper v1";
const HMAC_PREFIX: &str = "hmac-sha256$v1$";
const ARGON2_PREFIX: &str = "$argon2id$";

/// Bounds for operator-supplied secrets, in characters (= bytes: printable ASCII only).
const SUPPLIED_MIN: usize = 16;
const SUPPLIED_MAX: usize = 512;

/// Random bytes in a generated secret: 256 bits, 43 base64url characters.
const GENERATED_BYTES: usize = 32;

/// Checked when there is no stored hash at all (unknown client), so that case costs the same
/// HMAC, decoding and comparison as a known client with one generated secret. (Its digest is
/// 32 bytes of 0x5a; it is never reported as a match anyway.)
const DUMMY_HASH: &str = "hmac-sha256$v1$WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo";

/// Implements `SecretHasher`. Cheap to share (`Arc` it); `Debug` shows no key material.
pub struct Secrets {
    pepper: hmac::Key,
    argon2_permits: Arc<Semaphore>,
    argon2_limit: usize,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("pepper", &"<redacted>")
            .field("argon2_limit", &self.argon2_limit)
            .finish()
    }
}

impl Secrets {
    /// At most as many argon2 computations at once as there are CPUs.
    pub fn new(master: &MasterKey) -> Secrets {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_argon2_limit(master, cpus)
    }

    /// At most `limit` (at least 1) argon2 computations at once; further callers wait.
    pub fn with_argon2_limit(master: &MasterKey, limit: usize) -> Secrets {
        let limit = limit.max(1);
        let pepper = master.derive(PEPPER_LABEL);
        Secrets {
            pepper: hmac::Key::new(hmac::HMAC_SHA256, pepper.as_slice()),
            argon2_permits: Arc::new(Semaphore::new(limit)),
            argon2_limit: limit,
        }
    }

    fn digest(&self, secret: &str) -> hmac::Tag {
        hmac::sign(&self.pepper, secret.as_bytes())
    }

    /// The stored form of a generated (high-entropy) secret.
    fn fast_hash(&self, secret: &str) -> String {
        format!(
            "{HMAC_PREFIX}{}",
            random::b64url(self.digest(secret).as_ref())
        )
    }

    /// Runs argon2 work on the blocking pool, holding a permit for as long as it runs (also if
    /// the caller stops waiting).
    async fn run_argon2<T, F>(&self, work: F) -> Result<T, SecretError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.argon2_permits)
            .acquire_owned()
            .await
            .map_err(|_| SecretError::Failed("argon2 limiter closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| SecretError::Failed(format!("argon2 task failed: {e}")))
    }
}

/// Why an operator-supplied secret is unacceptable. Never includes the secret.
fn check_supplied(secret: &str) -> Result<(), SecretError> {
    if !secret.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(SecretError::Rejected(
            "a client secret may contain only printable ASCII characters (space to ~)".into(),
        ));
    }
    let len = secret.len();
    if len < SUPPLIED_MIN {
        return Err(SecretError::Rejected(format!(
            "a client secret must be at least {SUPPLIED_MIN} characters long (got {len})"
        )));
    }
    if len > SUPPLIED_MAX {
        return Err(SecretError::Rejected(format!(
            "a client secret must be at most {SUPPLIED_MAX} characters long (got {len})"
        )));
    }
    Ok(())
}

#[async_trait]
impl SecretHasher for Secrets {
    fn generate(&self) -> GeneratedSecret {
        let bytes = Zeroizing::new(random::bytes::<GENERATED_BYTES>());
        let plaintext = random::b64url(bytes.as_slice());
        let hash = self.fast_hash(&plaintext);
        GeneratedSecret { plaintext, hash }
    }

    async fn hash_supplied(&self, plaintext: &str) -> Result<String, SecretError> {
        check_supplied(plaintext)?;
        let secret = Zeroizing::new(plaintext.to_owned());
        let salt = random::bytes::<16>();
        self.run_argon2(move || {
            let salt = SaltString::encode_b64(&salt)
                .map_err(|e| SecretError::Failed(format!("argon2 salt: {e}")))?;
            Argon2::default()
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| SecretError::Failed(format!("argon2: {e}")))
        })
        .await?
    }

    async fn verify(&self, presented: &str, stored: &[String]) -> bool {
        let tag = self.digest(presented);
        let tag = tag.as_ref();
        let unknown_client = stored.is_empty();
        let mut matched = Choice::from(0);
        let mut slow = Vec::new();
        // Every stored hash is checked, whatever matched before it: the time taken depends on
        // how many secrets the client has, not on which one (if any) was presented.
        let hashes = stored
            .iter()
            .map(String::as_str)
            .chain(unknown_client.then_some(DUMMY_HASH));
        for hash in hashes {
            if let Some(encoded) = hash.strip_prefix(HMAC_PREFIX) {
                let mut expected = [0u8; 32];
                let ok = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode_slice(encoded, &mut expected)
                    .is_ok_and(|n| n == expected.len());
                if !ok {
                    tracing::warn!("stored client-secret hash is damaged; ignoring it");
                    continue;
                }
                matched |= tag.ct_eq(&expected);
            } else if hash.starts_with(ARGON2_PREFIX) {
                slow.push(hash.to_owned());
            } else {
                tracing::warn!("stored client-secret hash has an unknown format; ignoring it");
            }
        }
        // Presented secrets longer than any acceptable supplied one cannot match an argon2
        // hash; refusing them here bounds the work a caller can force.
        if !slow.is_empty() && presented.len() <= SUPPLIED_MAX {
            let presented = Zeroizing::new(presented.to_owned());
            let result = self
                .run_argon2(move || {
                    let mut any = Choice::from(0);
                    for hash in &slow {
                        let ok = match PasswordHash::new(hash) {
                            Ok(parsed) => Argon2::default()
                                .verify_password(presented.as_bytes(), &parsed)
                                .is_ok(),
                            Err(_) => {
                                tracing::warn!(
                                    "stored argon2 client-secret hash is damaged; ignoring it"
                                );
                                false
                            }
                        };
                        any |= Choice::from(u8::from(ok));
                    }
                    any
                })
                .await;
            match result {
                Ok(any) => matched |= any,
                Err(e) => tracing::error!(error = %e, "client-secret verification failed"),
            }
        }
        !unknown_client && bool::from(std::hint::black_box(matched))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::new(&MasterKey::generate())
    }

    #[tokio::test]
    async fn generated_secret_verifies_and_others_do_not() {
        let s = secrets();
        let g = s.generate();
        assert_eq!(g.plaintext.len(), 43);
        assert!(
            g.plaintext
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(g.hash.starts_with("hmac-sha256$v1$"));
        assert!(!g.hash.contains(&g.plaintext));
        assert!(s.verify(&g.plaintext, std::slice::from_ref(&g.hash)).await);

        let other = s.generate();
        assert_ne!(other.plaintext, g.plaintext);
        assert!(
            !s.verify(&other.plaintext, std::slice::from_ref(&g.hash))
                .await
        );
        assert!(!s.verify("", std::slice::from_ref(&g.hash)).await);
        assert!(
            !s.verify(&g.plaintext[..42], std::slice::from_ref(&g.hash))
                .await
        );
        assert!(!s.verify(&g.plaintext, &[]).await);
    }

    #[tokio::test]
    async fn the_pepper_comes_from_the_master_key() {
        let g = secrets().generate();
        assert!(!secrets().verify(&g.plaintext, &[g.hash]).await);
    }

    #[tokio::test]
    async fn during_rotation_either_secret_verifies() {
        let s = secrets();
        let old = s.generate();
        let new = s.generate();
        let supplied = "operator+supplied%secret:with colons";
        let argon = s.hash_supplied(supplied).await.unwrap();
        let stored = vec![old.hash.clone(), new.hash.clone(), argon];
        assert!(s.verify(&old.plaintext, &stored).await);
        assert!(s.verify(&new.plaintext, &stored).await);
        assert!(s.verify(supplied, &stored).await);
        assert!(!s.verify(&s.generate().plaintext, &stored).await);
    }

    #[tokio::test]
    async fn supplied_secrets_use_argon2id() {
        let s = secrets();
        let secret = "p+ss%w:rd with spaces~!";
        let hash = s.hash_supplied(secret).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains(secret));
        assert!(s.verify(secret, std::slice::from_ref(&hash)).await);
        assert!(
            !s.verify("p+ss%w:rd with spaces~?", std::slice::from_ref(&hash))
                .await
        );
        // Salted: the same secret hashes differently each time.
        assert_ne!(s.hash_supplied(secret).await.unwrap(), hash);
    }

    #[tokio::test]
    async fn unacceptable_supplied_secrets_are_rejected_without_echo() {
        let s = secrets();
        let too_long = "x".repeat(513);
        for bad in [
            "short-secret-15",
            "",
            "sixteen-chars-but\u{e9}-accent",
            "tab\tinside-a-long-secret",
            "newline\ninside-a-long-secret",
            "nul\0inside-a-long-secret",
            too_long.as_str(),
        ] {
            match s.hash_supplied(bad).await {
                Err(SecretError::Rejected(msg)) => {
                    if !bad.is_empty() {
                        assert!(!msg.contains(bad), "{msg}");
                    }
                }
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
        assert!(s.hash_supplied(&"x".repeat(16)).await.is_ok());
        assert!(s.hash_supplied(&"x".repeat(512)).await.is_ok());
    }

    #[tokio::test]
    async fn unknown_or_damaged_hashes_never_match() {
        let s = secrets();
        let g = s.generate();
        let digest = g.hash.trim_start_matches("hmac-sha256$v1$");
        for stored in [
            format!("sha256${digest}"),
            format!("hmac-sha256$v2${digest}"),
            "hmac-sha256$v1$not*base64".to_owned(),
            "hmac-sha256$v1$AAAA".to_owned(),
            "$argon2id$garbage".to_owned(),
            g.plaintext.clone(),
        ] {
            assert!(
                !s.verify(&g.plaintext, std::slice::from_ref(&stored)).await,
                "{stored}"
            );
        }
    }

    #[tokio::test]
    async fn argon2_concurrency_is_bounded() {
        let s = Arc::new(Secrets::with_argon2_limit(&MasterKey::generate(), 1));
        assert_eq!(s.argon2_permits.available_permits(), 1);
        let hash = s.hash_supplied("a-supplied-secret!").await.unwrap();
        // Hold the only permit: verification of an argon2 hash must wait for it.
        let held = Arc::clone(&s.argon2_permits).acquire_owned().await.unwrap();
        let waiting = {
            let s = Arc::clone(&s);
            let hash = hash.clone();
            tokio::spawn(async move { s.verify("a-supplied-secret!", &[hash]).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(held);
        assert!(waiting.await.unwrap());
        assert_eq!(s.argon2_permits.available_permits(), 1);
    }

    #[test]
    fn the_dummy_hash_is_a_well_formed_hmac_hash() {
        let digest = DUMMY_HASH.strip_prefix(HMAC_PREFIX).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(digest)
            .unwrap();
        assert_eq!(bytes, [0x5a; 32]);
    }

    #[test]
    fn debug_shows_no_secret_material() {
        let master = MasterKey::generate();
        let s = Secrets::with_argon2_limit(&master, 3);
        let d = format!("{s:?}");
        assert_eq!(d, "Secrets { pepper: \"<redacted>\", argon2_limit: 3 }");
        let g = s.generate();
        let d = format!("{g:?}");
        assert!(!d.contains(&g.plaintext) && !d.contains(&g.hash), "{d}");
    }
}
