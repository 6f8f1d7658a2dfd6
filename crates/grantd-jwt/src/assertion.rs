//! `private_key_jwt` client assertions (RFC 7523 §3): every check but single use, against the
//! client's registered keys, with [`PublicJwk`] (the parser and pinned-algorithm verifier DPoP
//! uses) and DPoP's compact-JWS splitting. Single use is the session row's unique index.
//!
//! Registered keys are parsed once: [`ParsedKeys`] keeps each parsed key under its registered
//! JWK text, the whole text, so a lookup can only ever return the key that text describes.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantd_domain::{AssertionRejection as R, AssertionTarget, ClientId, ClientKeys, Timestamp};
use grantd_ports::ClientAssertions;
use serde_json::{Map, Value};

use crate::dpop::{Parts, json_object, split};
use crate::jwk::{JwsAlg, PublicJwk};

/// Longest `jti` accepted (it is hashed, never stored as sent).
pub(crate) const MAX_JTI_LEN: usize = 256;

/// Parsed registered keys kept (a P-256 key's JWK text is ~150 bytes, an RSA-4096 one ~800).
const PARSED_KEYS: usize = 4096;

/// Registered keys, parsed: each registered JWK's text mapped to its parsed, checked
/// [`PublicJwk`] (the JSON, base64url, curve-point check and thumbprint done once per key
/// instead of once per assertion).
///
/// Keyed by the JWK's full text, never by a `kid` or a client id: parsing is a pure function
/// of that text, so a cached entry is exactly what parsing it again would give, whichever client
/// registered it. Which keys a client may use is still read from its current [`ClientKeys`] on
/// every assertion: keys replaced with `set_client_keys` (or a refetched `jwks_uri`) are simply
/// other texts, and an old key's entry is never consulted for that client again; it ages out
/// (bounded, S3-FIFO). Only keys that parse are kept.
pub(crate) struct ParsedKeys(quick_cache::sync::Cache<String, Arc<PublicJwk>>);

impl ParsedKeys {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(quick_cache::sync::Cache::new(capacity))
    }

    /// The parsed key of this registered JWK text; `None` if it does not parse.
    fn get(&self, jwk: &str) -> Option<Arc<PublicJwk>> {
        self.0
            .get_or_insert_with(jwk, || parse_registered(jwk).map(Arc::new).ok_or(()))
            .ok()
    }
}

impl Default for ParsedKeys {
    fn default() -> Self {
        Self::new(PARSED_KEYS)
    }
}

impl fmt::Debug for ParsedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKeys")
            .field("len", &self.0.len())
            .finish()
    }
}

/// The [`ClientAssertions`] port.
#[derive(Debug, Default)]
pub struct AssertionVerifier {
    parsed: ParsedKeys,
}

impl ClientAssertions for AssertionVerifier {
    fn issuer(&self, assertion: &str) -> Result<String, R> {
        let parts = split(assertion).map_err(|_| R::Malformed)?;
        let claims = json_object(parts.payload).map_err(|_| R::Malformed)?;
        issuer_of(&claims).map(str::to_owned)
    }

    fn check(
        &self,
        assertion: &str,
        client_id: &ClientId,
        keys: &ClientKeys,
        target: AssertionTarget<'_>,
        now: Timestamp,
    ) -> Result<String, R> {
        let parts = split(assertion).map_err(|_| R::Malformed)?;
        verify_signature(&parts, keys, &self.parsed)?;
        let claims = json_object(parts.payload).map_err(|_| R::Malformed)?;
        if issuer_of(&claims)? != client_id.as_str() {
            return Err(R::IssuerSubjectMismatch);
        }
        check_audience(&claims, target)?;
        check_times(&claims, target, now.as_secs())?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or(R::MissingJti)?;
        Ok(replay_key(client_id, jti))
    }

    fn registration_keys(&self, jwks: &str) -> Result<ClientKeys, grantd_ports::JwksError> {
        crate::client_keys::parse_client_jwks(jwks)
    }
}

/// `iss`, which must equal `sub` (RFC 7523 §3 items 1–2 for client authentication).
fn issuer_of(claims: &Map<String, Value>) -> Result<&str, R> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str);
    match (text("iss"), text("sub")) {
        (Some(iss), Some(sub)) if iss == sub && !iss.is_empty() => Ok(iss),
        _ => Err(R::IssuerSubjectMismatch),
    }
}

/// The header's `alg` (never `none` or HS*: [`JwsAlg`] has neither) and the client's
/// registered algorithm if it has one, then the key named by `kid`, or else any registered key
/// whose type pins that `alg`.
pub(crate) fn verify_signature(
    parts: &Parts<'_>,
    keys: &ClientKeys,
    parsed: &ParsedKeys,
) -> Result<(), R> {
    let alg = parts
        .header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(JwsAlg::parse)
        .ok_or(R::UnsupportedAlgorithm)?;
    if keys.alg().is_some_and(|a| JwsAlg::from(a) != alg) {
        return Err(R::AlgorithmNotRegistered);
    }
    if parts.header.contains_key("crit") {
        return Err(R::Malformed);
    }
    let kid = parts.header.get("kid").and_then(Value::as_str);
    let candidates: Vec<_> = keys
        .keys()
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    if candidates.is_empty() {
        return Err(if keys.is_empty() {
            R::NoKeys
        } else {
            R::UnknownKey
        });
    }
    let mut fitting = false;
    for k in candidates {
        let Some(key) = parsed.get(&k.jwk) else {
            continue;
        };
        if !key.allows(alg)
            || k.alg
                .as_deref()
                .is_some_and(|a| JwsAlg::parse(a) != Some(alg))
        {
            continue;
        }
        fitting = true;
        if key.verify(alg, parts.signing_input.as_bytes(), &parts.signature) {
            return Ok(());
        }
    }
    Err(if fitting {
        R::BadSignature
    } else {
        R::UnsupportedAlgorithm
    })
}

fn parse_registered(jwk: &str) -> Option<PublicJwk> {
    let map: Map<String, Value> = serde_json::from_str(jwk).ok()?;
    PublicJwk::parse(&map).ok()
}

/// `aud` is the issuer or the token endpoint, as a string or a one-element array.
pub(crate) fn check_audience(
    claims: &Map<String, Value>,
    target: AssertionTarget<'_>,
) -> Result<(), R> {
    let aud = match claims.get("aud") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_str(),
        _ => None,
    };
    match aud {
        Some(a) if a == target.issuer || a == target.token_endpoint => Ok(()),
        _ => Err(R::WrongAudience),
    }
}

/// `exp` present and future; lifetime (`exp − iat`, or `exp − now`) within the bound;
/// `iat`/`nbf` not beyond the skew in the future.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    t: AssertionTarget<'_>,
    now: i64,
) -> Result<(), R> {
    let num = |n: &str| {
        claims
            .get(n)
            .map(|v| v.as_i64().ok_or(R::Malformed))
            .transpose()
    };
    let exp = num("exp")?.ok_or(R::Expired)?;
    if exp <= now {
        return Err(R::Expired);
    }
    let iat = num("iat")?;
    let latest = now.saturating_add(t.max_skew_secs);
    if iat.is_some_and(|i| i > latest) || num("nbf")?.is_some_and(|n| n > latest) {
        return Err(R::NotYetValid);
    }
    if exp.saturating_sub(iat.unwrap_or(now)) > t.max_lifetime_secs {
        return Err(R::TooLongLived);
    }
    Ok(())
}

/// base64url(SHA-256(client id "." jti)): fixed length, and two clients never collide on a
/// `jti` they happen to share.
fn replay_key(client_id: &ClientId, jti: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(client_id.as_str().as_bytes());
    ctx.update(b".");
    ctx.update(jti.as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.finish())
}

#[cfg(test)]
mod tests;
