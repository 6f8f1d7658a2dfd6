//! Client secrets: generation, hashing and constant-time verification (`SecretHasher`).
//!
//! Generated secrets carry 256 bits of randomness, so a fast keyed hash is enough: stored as
//! `hmac-sha256$v1$<base64url HMAC-SHA-256(pepper, secret)>`, with the pepper derived from the
//! master key (a stolen database alone cannot even test guesses). Operator-supplied secrets
//! may be weak, so they get argon2id, keyed the same way: argon2's own secret input (RFC 9106
//! §3.1, "K") is a master-key-derived subkey, stored as `pepper-v1` + the PHC string. Unkeyed
//! PHC strings (`$argon2id$…`, written before keying) still verify and are reported outdated,
//! so the caller replaces them on next use. argon2 runs on the blocking pool, at most one per
//! CPU at once and with a bounded queue behind them: past that, a check is refused at once
//! (`Overloaded`) instead of waiting behind an attacker's wrong guesses.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;
use grantd_ports::{
    GeneratedSecret, HashFailure, SecretCheck, SecretError, SecretHasher, SecretRejection,
};
use subtle::{Choice, ConstantTimeEq as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::master::MasterKey;
use crate::random;

const PEPPER_LABEL: &str = "grantd client-secret pepper v1";
const ARGON2_KEY_LABEL: &str = "grantd client-secret argon2 key v1";
const HMAC_PREFIX: &str = "hmac-sha256$v1$";
/// An argon2id PHC string keyed with the master-key-derived argon2 key follows this mark. The
/// PHC string itself cannot say that a key was used, so the mark does.
const KEYED_ARGON2_MARK: &str = "pepper-v1";
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
    argon2_key: Arc<Zeroizing<[u8; 32]>>,
    argon2_permits: Arc<Semaphore>,
    argon2_limit: usize,
    /// Callers waiting for a permit, and how many may.
    argon2_waiting: AtomicUsize,
    argon2_queue: usize,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("pepper", &"<redacted>")
            .field("argon2_limit", &self.argon2_limit)
            .field("argon2_queue", &self.argon2_queue)
            .finish()
    }
}

/// Why argon2 work did not run.
enum Argon2Error {
    /// Every permit is taken and the queue is full.
    Busy,
    Failed(HashFailure),
}

/// A place in the argon2 queue, given back however the wait ends (permit, or the caller gone).
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Secrets {
    /// At most as many argon2 computations at once as there are CPUs, and twice as many
    /// callers waiting: a waiter is then answered within about two hash times.
    pub fn new(master: &MasterKey) -> Secrets {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_argon2_limits(master, cpus, 2 * cpus)
    }

    /// At most `limit` (at least 1) argon2 computations at once and `queue` callers waiting
    /// for one; further callers are refused at once.
    pub fn with_argon2_limits(master: &MasterKey, limit: usize, queue: usize) -> Secrets {
        let limit = limit.max(1);
        let pepper = master.derive(PEPPER_LABEL);
        Secrets {
            pepper: hmac::Key::new(hmac::HMAC_SHA256, pepper.as_slice()),
            argon2_key: Arc::new(master.derive(ARGON2_KEY_LABEL)),
            argon2_permits: Arc::new(Semaphore::new(limit)),
            argon2_limit: limit,
            argon2_waiting: AtomicUsize::new(0),
            argon2_queue: queue,
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

    /// A permit to run argon2: at once if one is free, after a wait if the queue has room,
    /// otherwise `Busy` without waiting.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, Argon2Error> {
        if let Ok(permit) = Arc::clone(&self.argon2_permits).try_acquire_owned() {
            return Ok(permit);
        }
        let queue = self.argon2_queue;
        self.argon2_waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < queue).then_some(n + 1)
            })
            .map_err(|_| Argon2Error::Busy)?;
        let _place = QueuePlace(&self.argon2_waiting);
        Arc::clone(&self.argon2_permits)
            .acquire_owned()
            .await
            .map_err(|_| Argon2Error::Failed(HashFailure::LimiterClosed))
    }

    /// Runs argon2 work on the blocking pool, holding a permit for as long as it runs (also if
    /// the caller stops waiting).
    async fn run_argon2<T, F>(&self, work: F) -> Result<T, Argon2Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.admit().await?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "argon2 task failed");
            Argon2Error::Failed(HashFailure::TaskFailed)
        })
    }
}

/// argon2id with grantd's parameters, keyed with `key`.
fn keyed_argon2(key: &[u8]) -> Result<Argon2<'_>, argon2::Error> {
    Argon2::new_with_secret(key, Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Whether `presented` matches one stored slow hash: keyed (`pepper-v1$argon2id$…`) or legacy
/// unkeyed (`$argon2id$…`). A damaged hash never matches.
fn argon2_matches(key: &[u8], presented: &[u8], stored: &str) -> bool {
    let (phc, keyed) = match stored.strip_prefix(KEYED_ARGON2_MARK) {
        Some(phc) => (phc, true),
        None => (stored, false),
    };
    let parsed = PasswordHash::new(phc)
        .ok()
        .filter(|h| h.algorithm.as_str() == "argon2id");
    let Some(parsed) = parsed else {
        tracing::warn!("stored argon2 client-secret hash is damaged; ignoring it");
        return false;
    };
    if keyed {
        match keyed_argon2(key) {
            Ok(a) => a.verify_password(presented, &parsed).is_ok(),
            Err(_) => false,
        }
    } else {
        Argon2::default()
            .verify_password(presented, &parsed)
            .is_ok()
    }
}

/// Why an operator-supplied secret is unacceptable. Never includes the secret.
fn check_supplied(secret: &str) -> Result<(), SecretError> {
    if !secret.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(SecretError::Rejected(SecretRejection::NotPrintableAscii));
    }
    let len = secret.len();
    if len < SUPPLIED_MIN {
        return Err(SecretError::Rejected(SecretRejection::TooShort {
            min: SUPPLIED_MIN,
            len,
        }));
    }
    if len > SUPPLIED_MAX {
        return Err(SecretError::Rejected(SecretRejection::TooLong {
            max: SUPPLIED_MAX,
            len,
        }));
    }
    Ok(())
}

/// A hash failure as data, its library detail logged here (it never contains the secret:
/// argon2's errors name parameters and lengths).
fn hash_failed(why: HashFailure, detail: &dyn fmt::Display) -> SecretError {
    tracing::error!(error = %detail, "{why}");
    SecretError::Failed(why)
}

/// A slow hash to check, and whether it is in the legacy (unkeyed) format.
struct Slow {
    hash: String,
    legacy: bool,
}

impl Secrets {
    /// Checks the slow hashes, all of them whatever matched: whether any matched, and the
    /// legacy one that did (to be replaced).
    async fn verify_slow(
        &self,
        presented: &str,
        slow: Vec<Slow>,
    ) -> Result<(Choice, Option<String>), Argon2Error> {
        let presented = Zeroizing::new(presented.to_owned());
        let key = Arc::clone(&self.argon2_key);
        self.run_argon2(move || {
            let mut any = Choice::from(0);
            let mut outdated = None;
            for s in slow {
                let ok = argon2_matches(key.as_slice(), presented.as_bytes(), &s.hash);
                any |= Choice::from(u8::from(ok));
                if ok && s.legacy {
                    outdated = Some(s.hash);
                }
            }
            (any, outdated)
        })
        .await
    }
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
        let key = Arc::clone(&self.argon2_key);
        let hashed = self.run_argon2(move || {
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| hash_failed(HashFailure::Salt, &e))?;
            keyed_argon2(key.as_slice())
                .map_err(|e| hash_failed(HashFailure::Hash, &e))?
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| format!("{KEYED_ARGON2_MARK}{h}"))
                .map_err(|e| hash_failed(HashFailure::Hash, &e))
        });
        match hashed.await {
            Ok(result) => result,
            Err(Argon2Error::Busy) => Err(SecretError::Failed(HashFailure::Busy)),
            Err(Argon2Error::Failed(why)) => Err(SecretError::Failed(why)),
        }
    }

    async fn verify(&self, presented: &str, stored: &[String]) -> SecretCheck {
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
            } else if hash.starts_with(KEYED_ARGON2_MARK) || hash.starts_with(ARGON2_PREFIX) {
                let legacy = hash.starts_with(ARGON2_PREFIX);
                slow.push(Slow {
                    hash: hash.to_owned(),
                    legacy,
                });
            } else {
                tracing::warn!("stored client-secret hash has an unknown format; ignoring it");
            }
        }
        let mut outdated = None;
        // Presented secrets longer than any acceptable supplied one cannot match an argon2
        // hash; refusing them here bounds the work a caller can force.
        if !slow.is_empty() && presented.len() <= SUPPLIED_MAX {
            match self.verify_slow(presented, slow).await {
                Ok((any, legacy_match)) => {
                    matched |= any;
                    outdated = legacy_match;
                }
                Err(Argon2Error::Busy) => return SecretCheck::Overloaded,
                Err(Argon2Error::Failed(e)) => {
                    tracing::error!(error = %e, "client-secret verification failed");
                }
            }
        }
        if !unknown_client && bool::from(std::hint::black_box(matched)) {
            SecretCheck::Match { outdated }
        } else {
            SecretCheck::Mismatch
        }
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
        assert!(
            s.verify(&g.plaintext, std::slice::from_ref(&g.hash))
                .await
                .is_match()
        );

        let other = s.generate();
        assert_ne!(other.plaintext, g.plaintext);
        assert!(
            !s.verify(&other.plaintext, std::slice::from_ref(&g.hash))
                .await
                .is_match()
        );
        assert!(!s.verify("", std::slice::from_ref(&g.hash)).await.is_match());
        assert!(
            !s.verify(&g.plaintext[..42], std::slice::from_ref(&g.hash))
                .await
                .is_match()
        );
        assert!(!s.verify(&g.plaintext, &[]).await.is_match());
    }

    #[tokio::test]
    async fn the_pepper_comes_from_the_master_key() {
        let g = secrets().generate();
        assert!(!secrets().verify(&g.plaintext, &[g.hash]).await.is_match());
    }

    #[tokio::test]
    async fn during_rotation_either_secret_verifies() {
        let s = secrets();
        let old = s.generate();
        let new = s.generate();
        let supplied = "operator+supplied%secret:with colons";
        let argon = s.hash_supplied(supplied).await.unwrap();
        let stored = vec![old.hash.clone(), new.hash.clone(), argon];
        assert!(s.verify(&old.plaintext, &stored).await.is_match());
        assert!(s.verify(&new.plaintext, &stored).await.is_match());
        assert!(s.verify(supplied, &stored).await.is_match());
        assert!(!s.verify(&s.generate().plaintext, &stored).await.is_match());
    }

    #[tokio::test]
    async fn supplied_secrets_use_keyed_argon2id() {
        let s = secrets();
        let secret = "p+ss%w:rd with spaces~!";
        let hash = s.hash_supplied(secret).await.unwrap();
        assert!(
            hash.starts_with("pepper-v1$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains(secret));
        assert_eq!(
            s.verify(secret, std::slice::from_ref(&hash)).await,
            SecretCheck::Match { outdated: None }
        );
        assert!(
            !s.verify("p+ss%w:rd with spaces~?", std::slice::from_ref(&hash))
                .await
                .is_match()
        );
        // Salted: the same secret hashes differently each time.
        assert_ne!(s.hash_supplied(secret).await.unwrap(), hash);
    }

    #[tokio::test]
    async fn a_keyed_argon2_hash_does_not_verify_under_another_master_key() {
        let secret = "operator-supplied-secret";
        let hash = secrets().hash_supplied(secret).await.unwrap();
        assert_eq!(
            secrets().verify(secret, std::slice::from_ref(&hash)).await,
            SecretCheck::Mismatch
        );
        // Nor with the mark taken off (read as an unkeyed hash).
        let unmarked = hash.strip_prefix(KEYED_ARGON2_MARK).unwrap().to_owned();
        assert_eq!(
            secrets().verify(secret, &[unmarked]).await,
            SecretCheck::Mismatch
        );
    }

    /// An argon2id hash as grantd wrote them before keying: default parameters, no key.
    fn legacy_hash(secret: &str) -> String {
        let salt = SaltString::encode_b64(&random::bytes::<16>()).unwrap();
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_legacy_unkeyed_hash_verifies_and_is_reported_outdated() {
        let s = secrets();
        let secret = "an-old-operator-secret";
        let legacy = legacy_hash(secret);
        assert!(legacy.starts_with("$argon2id$v=19$"), "{legacy}");
        let generated = s.generate();
        let stored = vec![generated.hash.clone(), legacy.clone()];
        assert_eq!(
            s.verify(secret, &stored).await,
            SecretCheck::Match {
                outdated: Some(legacy.clone())
            }
        );
        // Another secret of the client matching is no reason to replace the legacy hash.
        assert_eq!(
            s.verify(&generated.plaintext, &stored).await,
            SecretCheck::Match { outdated: None }
        );
        assert_eq!(
            s.verify("an-old-operator-secreT", &stored).await,
            SecretCheck::Mismatch
        );
        // Its replacement is keyed, and no longer outdated.
        let fresh = s.hash_supplied(secret).await.unwrap();
        assert!(fresh.starts_with("pepper-v1$argon2id$"), "{fresh}");
        assert_eq!(
            s.verify(secret, &[generated.hash, fresh]).await,
            SecretCheck::Match { outdated: None }
        );
    }

    #[tokio::test]
    async fn unacceptable_supplied_secrets_are_rejected_without_echo() {
        let s = secrets();
        let too_long = "x".repeat(513);
        let short = |len| SecretRejection::TooShort { min: 16, len };
        for (bad, why) in [
            ("short-secret-15", short(15)),
            ("", short(0)),
            (
                "sixteen-chars-but\u{e9}-accent",
                SecretRejection::NotPrintableAscii,
            ),
            (
                "tab\tinside-a-long-secret",
                SecretRejection::NotPrintableAscii,
            ),
            (
                "newline\ninside-a-long-secret",
                SecretRejection::NotPrintableAscii,
            ),
            (
                "nul\0inside-a-long-secret",
                SecretRejection::NotPrintableAscii,
            ),
            (
                too_long.as_str(),
                SecretRejection::TooLong { max: 512, len: 513 },
            ),
        ] {
            match s.hash_supplied(bad).await {
                Err(e @ SecretError::Rejected(got)) => {
                    assert_eq!(got, why, "{bad:?}");
                    let msg = format!("{e} {e:?}");
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
                !s.verify(&g.plaintext, std::slice::from_ref(&stored))
                    .await
                    .is_match(),
                "{stored}"
            );
        }
    }

    #[tokio::test]
    async fn argon2_concurrency_is_bounded() {
        let s = Arc::new(Secrets::with_argon2_limits(&MasterKey::generate(), 1, 1));
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
        assert!(waiting.await.unwrap().is_match());
        assert_eq!(s.argon2_permits.available_permits(), 1);
    }

    /// Polls `fut` once: `Some` if it finished without waiting.
    fn at_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
    }

    async fn until(mut f: impl FnMut() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_argon2_queue_is_bounded_and_the_next_caller_refused_at_once() {
        const LIMIT: usize = 2;
        const QUEUE: usize = 3;
        let s = Arc::new(Secrets::with_argon2_limits(
            &MasterKey::generate(),
            LIMIT,
            QUEUE,
        ));
        let secret = "a-supplied-secret!";
        let hash = s.hash_supplied(secret).await.unwrap();
        // LIMIT computations running (their permits held), QUEUE callers waiting behind them.
        let running = Arc::clone(&s.argon2_permits)
            .acquire_many_owned(LIMIT as u32)
            .await
            .unwrap();
        let queued: Vec<_> = (0..QUEUE)
            .map(|_| {
                let s = Arc::clone(&s);
                let hash = hash.clone();
                tokio::spawn(async move { s.verify(secret, &[hash]).await })
            })
            .collect();
        until(|| s.argon2_waiting.load(Ordering::Acquire) == QUEUE).await;

        // The (LIMIT + QUEUE + 1)-th is refused without waiting, right or wrong secret alike.
        for presented in [secret, "a-wrong-secret-guess"] {
            let refused = at_once(s.verify(presented, std::slice::from_ref(&hash)));
            assert_eq!(refused, Some(SecretCheck::Overloaded), "{presented}");
        }
        // Generated secrets and unknown clients never queue.
        let g = s.generate();
        assert!(
            at_once(s.verify(&g.plaintext, std::slice::from_ref(&g.hash)))
                .is_some_and(|c| c.is_match())
        );
        assert_eq!(at_once(s.verify(secret, &[])), Some(SecretCheck::Mismatch));

        drop(running);
        for q in queued {
            assert!(q.await.unwrap().is_match());
        }
        assert_eq!(s.argon2_waiting.load(Ordering::Acquire), 0);
        assert!(s.verify(secret, &[hash]).await.is_match());
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_gives_its_queue_place_back() {
        let s = Arc::new(Secrets::with_argon2_limits(&MasterKey::generate(), 1, 1));
        let hash = s.hash_supplied("a-supplied-secret!").await.unwrap();
        let held = Arc::clone(&s.argon2_permits).acquire_owned().await.unwrap();
        let waiter = {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.verify("a-supplied-secret!", &[hash]).await })
        };
        until(|| s.argon2_waiting.load(Ordering::Acquire) == 1).await;
        waiter.abort();
        assert!(waiter.await.is_err());
        assert_eq!(s.argon2_waiting.load(Ordering::Acquire), 0);
        drop(held);
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
        let s = Secrets::with_argon2_limits(&master, 3, 6);
        let d = format!("{s:?}");
        assert_eq!(
            d,
            "Secrets { pepper: \"<redacted>\", argon2_limit: 3, argon2_queue: 6 }"
        );
        let g = s.generate();
        let d = format!("{g:?}");
        assert!(!d.contains(&g.plaintext) && !d.contains(&g.hash), "{d}");
    }
}
