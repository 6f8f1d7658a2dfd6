//! DPoP proofs (RFC 9449) at the token endpoint: the checks of §4.3 in order, each refusal a
//! [`ProofRejection`], and stateless server nonces (§8).
//!
//! What is checked here is a pure function of the proof, the request's method and URL, `now`
//! and the configuration. Single use is not: a proof's replay key (a digest of the key
//! thumbprint and `jti`) goes into the session row under a unique index, so the database
//! refuses a second token for the same proof atomically across replicas, at no extra write.
//!
//! Nonces are an HMAC of a time slot under a key derived from the master key: every replica
//! can check every replica's nonce without sharing state. The current and the previous slot
//! are accepted, so a nonce lives between one and two slots.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantd_domain::{DpopBinding, Jkt, ProofRejection, ProofTarget, Timestamp};
use grantd_ports::DpopProofs;
use serde_json::{Map, Value};

use crate::jwk::{JwkError, JwsAlg, PublicJwk};
use crate::master::MasterKey;

/// Longest proof looked at (a proof with a 4096-bit RSA `jwk` is ~1.5 KiB).
const MAX_PROOF_LEN: usize = 8 * 1024;
/// The JOSE `typ` of a proof (RFC 9449 §4.2).
const PROOF_TYPE: &str = "dpop+jwt";
/// Longest `jti` accepted (it is hashed, never stored as sent).
const MAX_JTI_LEN: usize = 256;
/// The master-key label of the nonce key.
const NONCE_KEY_LABEL: &str = "grantd dpop nonce v1";
/// Bytes of HMAC kept in a nonce.
const NONCE_TAG_LEN: usize = 16;
/// Checked proof headers kept, by their base64url segment (see [`DpopVerifier`]).
const HEADER_CACHE: usize = 4096;

/// How proofs are judged (`[dpop]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpopConfig {
    /// How old a proof's `iat` may be, in seconds; also the nonce slot length.
    pub max_age_secs: i64,
    /// How far in the future a proof's `iat` may be (client clock ahead), in seconds.
    pub max_skew_secs: i64,
    /// Whether proofs must carry a server nonce.
    pub nonces: bool,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            max_age_secs: 60,
            max_skew_secs: 5,
            nonces: false,
        }
    }
}

/// The [`DpopProofs`] port.
///
/// A client signs every proof with the same key, so every proof it sends has the same header
/// segment (`typ`, `alg`, `jwk`). The verifier keeps the outcome of the header checks — the
/// parsed, validated key and its thumbprint — per segment, and a proof whose header was seen
/// before skips the JSON, the point validation and the thumbprint hash. Only headers that pass
/// are kept; the signature and every claim are checked on every proof.
pub struct DpopVerifier {
    config: DpopConfig,
    nonce_key: hmac::Key,
    headers: quick_cache::sync::Cache<String, Arc<CheckedHeader>>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DpopVerifier {
    pub fn new(master: &MasterKey, config: DpopConfig) -> Self {
        let key = master.derive(NONCE_KEY_LABEL);
        Self {
            config,
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, key.as_slice()),
            headers: quick_cache::sync::Cache::new(HEADER_CACHE),
        }
    }

    /// The checked header of this segment, from the cache or checked now.
    fn header(&self, segment: &str) -> Result<Arc<CheckedHeader>, ProofRejection> {
        self.headers
            .get_or_insert_with(segment, || CheckedHeader::check(segment).map(Arc::new))
    }

    fn slot(&self, now: Timestamp) -> i64 {
        now.as_secs().div_euclid(self.config.max_age_secs.max(1))
    }

    fn nonce_for(&self, slot: i64) -> String {
        let bytes = slot.to_be_bytes();
        let tag = hmac::sign(&self.nonce_key, &bytes);
        let mut out = bytes.to_vec();
        out.extend_from_slice(&tag.as_ref()[..NONCE_TAG_LEN]);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// A nonce of this slot or the previous one, made with this key.
    fn nonce_is_current(&self, nonce: &str, now: Timestamp) -> bool {
        let current = self.slot(now);
        [current, current - 1]
            .into_iter()
            .any(|slot| constant_time_eq(nonce.as_bytes(), self.nonce_for(slot).as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl DpopProofs for DpopVerifier {
    fn check(
        &self,
        proof: &str,
        target: ProofTarget<'_>,
        now: Timestamp,
    ) -> Result<DpopBinding, ProofRejection> {
        let nonce = |n: Option<&str>| {
            !self.config.nonces || n.is_some_and(|n| self.nonce_is_current(n, now))
        };
        let header = |segment: &str| self.header(segment);
        check_proof_with(proof, target, now, &self.config, &nonce, &header)
    }

    fn nonce(&self, now: Timestamp) -> Option<String> {
        self.config.nonces.then(|| self.nonce_for(self.slot(now)))
    }

    fn algorithms(&self) -> &'static [&'static str] {
        &JwsAlg::NAMES
    }
}

/// A proof split and decoded, its signature not yet checked.
pub(crate) struct Parts<'a> {
    pub(crate) signing_input: &'a str,
    pub(crate) header: Map<String, Value>,
    pub(crate) payload: &'a str,
    pub(crate) signature: Vec<u8>,
}

pub(crate) fn json_object(segment: &str) -> Result<Map<String, Value>, ProofRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ProofRejection::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ProofRejection::Malformed),
    }
}

/// A proof split, its header not yet decoded.
struct Raw<'a> {
    signing_input: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

pub(crate) fn split(proof: &str) -> Result<Parts<'_>, ProofRejection> {
    let raw = split_raw(proof)?;
    Ok(Parts {
        signing_input: raw.signing_input,
        header: json_object(raw.header)?,
        payload: raw.payload,
        signature: raw.signature,
    })
}

fn split_raw(proof: &str) -> Result<Raw<'_>, ProofRejection> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofRejection::Malformed);
    }
    let (signing_input, signature) = proof.rsplit_once('.').ok_or(ProofRejection::Malformed)?;
    let (header, payload) = signing_input
        .split_once('.')
        .ok_or(ProofRejection::Malformed)?;
    if header.is_empty() || payload.is_empty() || payload.contains('.') {
        return Err(ProofRejection::Malformed);
    }
    Ok(Raw {
        signing_input,
        header,
        payload,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| ProofRejection::Malformed)?,
    })
}

/// The header checks: `typ`, `alg`, no `crit`, a public `jwk` that pins `alg`.
fn check_header(header: &Map<String, Value>) -> Result<(JwsAlg, PublicJwk), ProofRejection> {
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYPE) {
        return Err(ProofRejection::WrongType);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(JwsAlg::parse)
        .ok_or(ProofRejection::UnsupportedAlgorithm)?;
    // No extension is implemented, so any `crit` is one not understood (RFC 7515 §4.1.11).
    if header.contains_key("crit") {
        return Err(ProofRejection::Malformed);
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(ProofRejection::BadKey)?;
    let key = PublicJwk::parse(jwk).map_err(|e| match e {
        JwkError::Private => ProofRejection::PrivateKey,
        JwkError::Symmetric | JwkError::Unsupported | JwkError::WeakRsa => ProofRejection::BadKey,
    })?;
    if !key.allows(alg) {
        return Err(ProofRejection::AlgorithmKeyMismatch);
    }
    Ok((alg, key))
}

/// What the header checks found: the algorithm, the key that pins it, and its thumbprint.
struct CheckedHeader {
    alg: JwsAlg,
    key: PublicJwk,
    jkt: Jkt,
}

impl CheckedHeader {
    fn check(segment: &str) -> Result<Self, ProofRejection> {
        let (alg, key) = check_header(&json_object(segment)?)?;
        let jkt = Jkt::parse(key.thumbprint()).ok_or(ProofRejection::BadKey)?;
        Ok(Self { alg, key, jkt })
    }
}

/// RFC 9449 §4.3's checks in order; `nonce_ok` judges the `nonce` claim (absent: `None`).
#[cfg(test)]
pub(crate) fn check_proof(
    proof: &str,
    target: ProofTarget<'_>,
    now: Timestamp,
    config: &DpopConfig,
    nonce_ok: &dyn Fn(Option<&str>) -> bool,
) -> Result<DpopBinding, ProofRejection> {
    let header = |segment: &str| CheckedHeader::check(segment).map(Arc::new);
    check_proof_with(proof, target, now, config, nonce_ok, &header)
}

/// [`check_proof`] with the header checks done by `header` (checked now or remembered).
fn check_proof_with(
    proof: &str,
    target: ProofTarget<'_>,
    now: Timestamp,
    config: &DpopConfig,
    nonce_ok: &dyn Fn(Option<&str>) -> bool,
    header: &dyn Fn(&str) -> Result<Arc<CheckedHeader>, ProofRejection>,
) -> Result<DpopBinding, ProofRejection> {
    let parts = split_raw(proof)?;
    let checked = header(parts.header)?;
    let CheckedHeader { alg, key, jkt } = &*checked;
    if !key.verify(*alg, parts.signing_input.as_bytes(), &parts.signature) {
        return Err(ProofRejection::BadSignature);
    }
    let claims = json_object(parts.payload)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(target.method) {
        return Err(ProofRejection::WrongMethod);
    }
    if !text("htu").is_some_and(|htu| same_uri(htu, target.uri)) {
        return Err(ProofRejection::WrongUri);
    }
    let now_secs = now.as_secs();
    let iat = claims.get("iat").and_then(Value::as_i64);
    let recent = iat.is_some_and(|iat| {
        iat >= now_secs.saturating_sub(config.max_age_secs)
            && iat <= now_secs.saturating_add(config.max_skew_secs)
    });
    if !recent {
        return Err(ProofRejection::IssuedAtOutOfWindow);
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(ProofRejection::MissingJti)?;
    if !nonce_ok(text("nonce")) {
        return Err(ProofRejection::NonceRequired);
    }
    let proof_key = replay_key(jkt, jti);
    Ok(DpopBinding {
        jkt: jkt.clone(),
        proof_key,
    })
}

/// base64url(SHA-256(jkt "." jti)): fixed length whatever the client's `jti`, and two keys'
/// proofs never collide on a `jti` they happen to share.
fn replay_key(jkt: &Jkt, jti: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(jkt.as_str().as_bytes());
    ctx.update(b".");
    ctx.update(jti.as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.finish())
}

/// `htu` names `expected` (RFC 9449 §4.3 item 9): both parsed as URLs, query and fragment
/// dropped, scheme and host compared case-insensitively and a default port equal to none
/// (the `url` crate's normalization, per RFC 3986 §6.2.2–6.2.3).
///
/// The same string is the same URL: `expected` is the server's own token endpoint URL, valid by
/// construction, so the usual proof (a client copies the published URL) is judged without
/// parsing either.
fn same_uri(htu: &str, expected: &str) -> bool {
    if htu == expected {
        return true;
    }
    let normal = |s: &str| {
        let mut u = url::Url::parse(s).ok()?;
        u.set_query(None);
        u.set_fragment(None);
        (u.scheme() == "https" || u.scheme() == "http").then(|| u.to_string())
    };
    match (normal(htu), normal(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
