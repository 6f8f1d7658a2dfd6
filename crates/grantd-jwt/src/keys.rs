//! Signing-key material: generation (PKCS#8, via aws-lc-rs), key ids, and turning a decrypted
//! PKCS#8 key into a parsed aws-lc-rs key pair and public key (`JwsKey`) plus its public JWK.
//!
//! The public JWK and the verifying key are derived from the private key itself, not read
//! from the store's `public_jwk` column, so what grantd publishes always matches what it signs
//! with.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair,
};
use grantd_domain::Kid;
use grantd_ports::SigningAlgorithm;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::jws::{JwsKey, Signer};
use crate::random;

/// RSA modulus size for new RS256 keys. 2048 bits is the RFC 7518 minimum and NIST's floor
/// through 2030; RS256 is the compatibility option, and a larger modulus would make every
/// signature markedly slower for no gain a compatibility option needs.
const RSA_KEY_SIZE: aws_lc_rs::rsa::KeySize = aws_lc_rs::rsa::KeySize::Rsa2048;

/// A new key id: 16 random bytes, base64url (22 characters). Random rather than a thumbprint:
/// it says nothing about the key and never collides across algorithms.
pub(crate) fn new_kid() -> Kid {
    let kid = random::b64url(&random::bytes::<16>());
    // Base64url output is always within Kid's alphabet and length.
    Kid::parse(&kid).unwrap_or_else(|e| unreachable!("generated kid rejected: {e}"))
}

/// A new private key for `alg`, PKCS#8 DER. CPU-bound (RSA: tens of milliseconds); call it off
/// the async threads.
pub(crate) fn generate_pkcs8(alg: SigningAlgorithm) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let failed = || KeyError::Crypto(format!("generating a {alg} key failed"));
    let der = match alg {
        SigningAlgorithm::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| failed())?
                .as_ref()
                .to_vec()
        }
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| failed())?
            .as_ref()
            .to_vec(),
        SigningAlgorithm::Rs256 => aws_lc_rs::rsa::KeyPair::generate(RSA_KEY_SIZE)
            .map_err(|_| failed())?
            .as_der()
            .map_err(|_| failed())?
            .as_ref()
            .to_vec(),
    };
    Ok(Zeroizing::new(der))
}

/// Everything needed to sign with and verify for one key, parsed once.
pub(crate) struct KeyMaterial {
    /// The parsed key pair, its parsed public key and the pre-encoded JOSE header.
    pub(crate) jws: JwsKey,
    /// The public JWK as JSON text: `kty`, curve or modulus parameters, `kid`, `alg`, `use`.
    pub(crate) jwk: String,
}

/// The public JWK. Private members (`d`, `p`, `q`, `dp`, `dq`, `qi`) have no field here, so
/// they cannot be serialized by mistake.
#[derive(Serialize)]
struct PublicJwk<'a> {
    kty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    kid: &'a str,
    alg: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
}

impl<'a> PublicJwk<'a> {
    fn new(kty: &'static str, kid: &'a Kid, alg: SigningAlgorithm) -> Self {
        PublicJwk {
            kty,
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            kid: kid.as_str(),
            alg: alg.as_str(),
            use_: "sig",
        }
    }
}

/// Parses a decrypted PKCS#8 key of algorithm `alg`.
pub(crate) fn material(
    kid: &Kid,
    alg: SigningAlgorithm,
    pkcs8: &[u8],
) -> Result<KeyMaterial, KeyError> {
    let bad = |what: &str| KeyError::BadKey {
        kid: kid.to_string(),
        reason: format!("the private key is not a valid {alg} PKCS#8 key ({what})"),
    };
    // The verifying key is parsed from the same public values the JWK publishes.
    let (signer, verifier, jwk) = match alg {
        SigningAlgorithm::Es256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(|_| bad("P-256"))?;
            // Uncompressed SEC1 point: 0x04 | x (32 bytes) | y (32 bytes).
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(bad("public point"));
            }
            let mut jwk = PublicJwk::new("EC", kid, alg);
            jwk.crv = Some("P-256");
            jwk.x = Some(random::b64url(&point[1..33]));
            jwk.y = Some(random::b64url(&point[33..65]));
            let verifier = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .map_err(|_| bad("public point"))?;
            (Signer::Es256(pair), verifier, jwk_text(&jwk)?)
        }
        SigningAlgorithm::EdDsa => {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| bad("Ed25519"))?;
            let public = pair.public_key().as_ref();
            let mut jwk = PublicJwk::new("OKP", kid, alg);
            jwk.crv = Some("Ed25519");
            jwk.x = Some(random::b64url(public));
            let verifier = ParsedPublicKey::new(&ED25519, public).map_err(|_| bad("public key"))?;
            (Signer::EdDsa(pair), verifier, jwk_text(&jwk)?)
        }
        SigningAlgorithm::Rs256 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| bad("RSA"))?;
            let public = pair.public_key();
            let n = public.modulus().big_endian_without_leading_zero();
            let e = public.exponent().big_endian_without_leading_zero();
            let mut jwk = PublicJwk::new("RSA", kid, alg);
            jwk.n = Some(random::b64url(n));
            jwk.e = Some(random::b64url(e));
            // `as_ref` is the PKCS#1 RSAPublicKey DER of exactly these n and e.
            let verifier = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
                .map_err(|_| bad("public key"))?;
            let jwk = jwk_text(&jwk)?;
            (Signer::Rs256(pair), verifier, jwk)
        }
    };
    let jws = JwsKey::new(kid, signer, verifier).map_err(|reason| KeyError::BadKey {
        kid: kid.to_string(),
        reason,
    })?;
    Ok(KeyMaterial { jws, jwk })
}

fn jwk_text(jwk: &PublicJwk<'_>) -> Result<String, KeyError> {
    serde_json::to_string(jwk).map_err(|e| KeyError::Crypto(format!("JWK serialization: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

    #[test]
    fn generated_keys_parse_and_publish_only_public_members() {
        for alg in SigningAlgorithm::ALL {
            let kid = new_kid();
            let der = generate_pkcs8(alg).unwrap();
            let m = material(&kid, alg, &der).unwrap();
            let jwk: serde_json::Value = serde_json::from_str(&m.jwk).unwrap();
            let obj = jwk.as_object().unwrap();
            for member in PRIVATE_MEMBERS {
                assert!(!obj.contains_key(member), "{alg}: {member} in {}", m.jwk);
            }
            assert_eq!(jwk["kid"], kid.as_str());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            let expected_members: &[&str] = match alg {
                SigningAlgorithm::Es256 => &["kty", "crv", "x", "y", "kid", "alg", "use"],
                SigningAlgorithm::EdDsa => &["kty", "crv", "x", "kid", "alg", "use"],
                SigningAlgorithm::Rs256 => &["kty", "n", "e", "kid", "alg", "use"],
            };
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            let mut expected = expected_members.to_vec();
            keys.sort_unstable();
            expected.sort_unstable();
            assert_eq!(keys, expected, "{alg}");
            match alg {
                SigningAlgorithm::Es256 => {
                    assert_eq!(
                        (jwk["kty"].as_str(), jwk["crv"].as_str()),
                        (Some("EC"), Some("P-256"))
                    );
                    assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
                    assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
                }
                SigningAlgorithm::EdDsa => {
                    assert_eq!(
                        (jwk["kty"].as_str(), jwk["crv"].as_str()),
                        (Some("OKP"), Some("Ed25519"))
                    );
                    assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
                }
                SigningAlgorithm::Rs256 => {
                    assert_eq!(jwk["kty"], "RSA");
                    assert_eq!(jwk["e"], "AQAB");
                    // 2048-bit modulus: 256 bytes, 342 base64url characters.
                    assert_eq!(jwk["n"].as_str().unwrap().len(), 342);
                }
            }
        }
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let ed = generate_pkcs8(SigningAlgorithm::EdDsa).unwrap();
        let kid = new_kid();
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::Rs256] {
            assert!(matches!(
                material(&kid, alg, &ed),
                Err(KeyError::BadKey { .. })
            ));
        }
    }

    #[test]
    fn kids_are_url_safe_and_distinct() {
        let a = new_kid();
        let b = new_kid();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22);
    }
}
