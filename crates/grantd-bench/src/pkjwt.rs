//! `private_key_jwt` client assertions (RFC 7523 §2.2) for the load generator: one ES256 key
//! per bench client (made by `pkjwt-keys`, registered with `client create --jwks-file`), every
//! assertion with its own `jti`, all minted before the measured window so the load generator
//! spends no signature inside it.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::jws::{encode_header, es256_key, in_parallel, public_jwk, sign};

/// A new client key: the JWKS to register and the private key the load generator signs with.
pub struct GeneratedKey {
    pub kid: String,
    /// `{"keys":[…]}`, the public key only.
    pub jwks: serde_json::Value,
    /// base64url of the PKCS#8 v1 document.
    pub private_key: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A fresh ES256 key named `kid`.
pub fn generate(kid: &str) -> anyhow::Result<GeneratedKey> {
    let pair = es256_key()?;
    let mut jwk = public_jwk(&pair);
    jwk["kid"] = kid.into();
    jwk["alg"] = "ES256".into();
    jwk["use"] = "sig".into();
    let der = pair
        .to_pkcs8v1()
        .map_err(|_| anyhow::anyhow!("PKCS#8 encoding failed"))?;
    Ok(GeneratedKey {
        kid: kid.to_owned(),
        jwks: serde_json::json!({ "keys": [jwk] }),
        private_key: URL_SAFE_NO_PAD.encode(der.as_ref()),
    })
}

/// A bench client's signing key and the base64url header of its assertions.
pub struct AssertionKey {
    client_id: String,
    pair: EcdsaKeyPair,
    header: String,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl AssertionKey {
    /// The key of `client_id`, from [`GeneratedKey::private_key`].
    pub fn new(client_id: &str, kid: &str, private_key: &str) -> anyhow::Result<Self> {
        let der = URL_SAFE_NO_PAD.decode(private_key)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| anyhow::anyhow!("{client_id}: not an ES256 PKCS#8 key"))?;
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        Ok(Self {
            client_id: client_id.to_owned(),
            header: encode_header(&header)?,
            pair,
        })
    }

    fn assertion(&self, window: &Window, jti: &str) -> anyhow::Result<String> {
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": window.aud,
            "iat": window.iat,
            "exp": window.exp,
            "jti": jti,
        });
        sign(&self.pair, &self.header, &claims)
    }
}

/// What every assertion of a run says besides its client and `jti`.
#[derive(Debug, Clone)]
pub struct Window {
    /// The server's issuer (or its token endpoint URL).
    pub aud: String,
    pub iat: u64,
    /// `iat` plus the longest lifetime the server allows (`[client_assertion] max_lifetime`).
    pub exp: u64,
}

/// `count` assertions: assertion `i` is client `i % keys`'s, signed with its key, with the
/// unique `jti` `{run}-{i}`. Minted on every core.
pub fn mint(
    count: usize,
    keys: &[AssertionKey],
    window: &Window,
    run: &str,
) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(!keys.is_empty(), "no client key to sign assertions with");
    in_parallel(count, |i| {
        keys[i % keys.len()].assertion(window, &format!("{run}-{i}"))
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    use super::*;

    fn decode(segment: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn assertions_are_distinct_and_verify_under_their_clients_registered_key() {
        let generated = [generate("k0").unwrap(), generate("k1").unwrap()];
        let keys: Vec<_> = generated
            .iter()
            .enumerate()
            .map(|(i, g)| AssertionKey::new(&format!("cl_{i}"), &g.kid, &g.private_key).unwrap())
            .collect();
        let window = Window {
            aud: "http://127.0.0.1:1".into(),
            iat: 1_800_000_000,
            exp: 1_800_000_300,
        };
        let minted = mint(5, &keys, &window, "r").unwrap();
        assert_eq!(minted.len(), 5);
        let unique: std::collections::HashSet<_> = minted.iter().collect();
        assert_eq!(unique.len(), 5);
        for (i, a) in minted.iter().enumerate() {
            let parts: Vec<&str> = a.split('.').collect();
            let claims = decode(parts[1]);
            let client = format!("cl_{}", i % 2);
            assert_eq!(claims["iss"], client.as_str());
            assert_eq!(claims["sub"], client.as_str());
            assert_eq!(claims["jti"], format!("r-{i}"));
            assert_eq!(claims["exp"], 1_800_000_300);
            assert_eq!(decode(parts[0])["kid"], format!("k{}", i % 2));
            // The registered JWK (x, y) verifies it, and the other client's does not.
            let point = |g: &GeneratedKey| {
                let jwk = &g.jwks["keys"][0];
                let coord = |n: &str| URL_SAFE_NO_PAD.decode(jwk[n].as_str().unwrap()).unwrap();
                [vec![4u8], coord("x"), coord("y")].concat()
            };
            let signed = format!("{}.{}", parts[0], parts[1]);
            let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            let verify = |g: &GeneratedKey| {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point(g))
                    .verify(signed.as_bytes(), &sig)
                    .is_ok()
            };
            assert!(verify(&generated[i % 2]));
            assert!(!verify(&generated[(i + 1) % 2]));
        }
        assert!(generated[0].jwks["keys"][0].get("d").is_none());
    }
}
