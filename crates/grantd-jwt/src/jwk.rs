//! Public JSON Web Keys presented by clients (RFC 7517): parsed and checked once, their RFC
//! 7638 SHA-256 thumbprint, and JWS signature checks under the algorithm the key's type pins.
//!
//! Written for every place a client shows grantd a key: the `jwk` header of a DPoP proof (RFC
//! 9449) today, registered keys checking `private_key_jwt` assertions (RFC 7523) later. Only
//! asymmetric public keys are accepted: EC P-256, OKP Ed25519 and RSA of at least 2048 bits. A
//! key with private members or a symmetric `oct` key is refused, never used.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// Shortest RSA modulus accepted, in bytes (RFC 7518 §3.3: 2048 bits).
const MIN_RSA_MODULUS_LEN: usize = 256;
/// Longest RSA modulus accepted, in bytes (8192 bits, the verifiers' upper bound).
const MAX_RSA_MODULUS_LEN: usize = 1024;

/// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWS algorithm a client key may sign with. `none` and the HMAC algorithms are not here:
/// a client's key is public, so nothing symmetric can be verified with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JwsAlg {
    Es256,
    /// `EdDSA` (RFC 8037) or its fully specified name `Ed25519` (RFC 9864): the same
    /// algorithm for an Ed25519 key.
    EdDsa,
    Rs256,
    Ps256,
}

impl JwsAlg {
    /// The names accepted in a JWS header, in the order the metadata lists them.
    pub(crate) const NAMES: [&'static str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(JwsAlg::Es256),
            "EdDSA" | "Ed25519" => Some(JwsAlg::EdDsa),
            "RS256" => Some(JwsAlg::Rs256),
            "PS256" => Some(JwsAlg::Ps256),
            _ => None,
        }
    }
}

impl From<grantd_domain::AssertionAlg> for JwsAlg {
    fn from(a: grantd_domain::AssertionAlg) -> Self {
        use grantd_domain::AssertionAlg as A;
        match a {
            A::Es256 => JwsAlg::Es256,
            A::EdDsa => JwsAlg::EdDsa,
            A::Rs256 => JwsAlg::Rs256,
            A::Ps256 => JwsAlg::Ps256,
        }
    }
}

/// Why a JWK is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JwkError {
    /// It has private members (`d`, `p`, …): a client must never send its private key, and
    /// one that did has lost it.
    Private,
    /// `kty: oct`: a shared secret, not a public key.
    Symmetric,
    /// Another key type, curve, or a member missing, not base64url, of the wrong length, or
    /// not a valid point.
    Unsupported,
    /// An RSA modulus below 2048 bits (or above 8192).
    WeakRsa,
}

enum Key {
    Ec(ParsedPublicKey),
    Ed25519(ParsedPublicKey),
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A client's public key, checked, with its thumbprint.
pub(crate) struct PublicJwk {
    key: Key,
    thumbprint: String,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, JwkError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError::Unsupported)
}

/// Strict base64url (no padding, canonical trailing bits).
fn b64(s: &str) -> Result<Vec<u8>, JwkError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| JwkError::Unsupported)
}

/// base64url of the SHA-256 of the RFC 7638 canonical JSON: the required members only, in
/// lexicographic order, no whitespace. The members are base64url or fixed names, so no JSON
/// escaping is ever needed.
fn thumbprint_of(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

impl PublicJwk {
    /// Parses a JWK object. Private members are refused first, whatever the key type.
    pub(crate) fn parse(jwk: &Map<String, Value>) -> Result<Self, JwkError> {
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(if jwk.get("kty").and_then(Value::as_str) == Some("oct") {
                JwkError::Symmetric
            } else {
                JwkError::Private
            });
        }
        match member(jwk, "kty")? {
            "EC" => Self::ec(jwk),
            "OKP" => Self::okp(jwk),
            "RSA" => Self::rsa(jwk),
            "oct" => Err(JwkError::Symmetric),
            _ => Err(JwkError::Unsupported),
        }
    }

    fn ec(jwk: &Map<String, Value>) -> Result<Self, JwkError> {
        let (crv, x, y) = (member(jwk, "crv")?, member(jwk, "x")?, member(jwk, "y")?);
        let (xb, yb) = (b64(x)?, b64(y)?);
        if crv != "P-256" || xb.len() != 32 || yb.len() != 32 {
            return Err(JwkError::Unsupported);
        }
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(&xb);
        point.extend_from_slice(&yb);
        // Refuses a point not on the curve.
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .map_err(|_| JwkError::Unsupported)?;
        Ok(PublicJwk {
            key: Key::Ec(key),
            thumbprint: thumbprint_of(&format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#
            )),
        })
    }

    fn okp(jwk: &Map<String, Value>) -> Result<Self, JwkError> {
        let (crv, x) = (member(jwk, "crv")?, member(jwk, "x")?);
        let xb = b64(x)?;
        if crv != "Ed25519" || xb.len() != 32 {
            return Err(JwkError::Unsupported);
        }
        let key = ParsedPublicKey::new(&ED25519, xb).map_err(|_| JwkError::Unsupported)?;
        Ok(PublicJwk {
            key: Key::Ed25519(key),
            thumbprint: thumbprint_of(&format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#)),
        })
    }

    fn rsa(jwk: &Map<String, Value>) -> Result<Self, JwkError> {
        let (n, e) = (member(jwk, "n")?, member(jwk, "e")?);
        let (nb, eb) = (b64(n)?, b64(e)?);
        // RFC 7518 §6.3.1.1: no leading zero octets; a modulus with one is malformed.
        if nb.first() == Some(&0) || eb.first().is_none_or(|b| *b == 0) || eb.len() > 8 {
            return Err(JwkError::Unsupported);
        }
        if !(MIN_RSA_MODULUS_LEN..=MAX_RSA_MODULUS_LEN).contains(&nb.len()) {
            return Err(JwkError::WeakRsa);
        }
        Ok(PublicJwk {
            key: Key::Rsa { n: nb, e: eb },
            thumbprint: thumbprint_of(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#)),
        })
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url (43 characters).
    pub(crate) fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Whether `alg` is the algorithm this key's type pins (RSA allows PKCS#1 v1.5 and PSS).
    pub(crate) fn allows(&self, alg: JwsAlg) -> bool {
        matches!(
            (&self.key, alg),
            (Key::Ec(_), JwsAlg::Es256)
                | (Key::Ed25519(_), JwsAlg::EdDsa)
                | (Key::Rsa { .. }, JwsAlg::Rs256 | JwsAlg::Ps256)
        )
    }

    /// Verifies `signature` over `signing_input` under `alg`; `false` for an algorithm the
    /// key does not allow, whatever the bytes.
    pub(crate) fn verify(&self, alg: JwsAlg, signing_input: &[u8], signature: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        match &self.key {
            Key::Ec(k) | Key::Ed25519(k) => k.verify_sig(signing_input, signature).is_ok(),
            Key::Rsa { n, e } => {
                let params = if alg == JwsAlg::Ps256 {
                    &RSA_PSS_2048_8192_SHA256
                } else {
                    &RSA_PKCS1_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, signing_input, signature)
                    .is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests;
