//! DPoP proofs (RFC 9449) for the load generator: one ES256 key per client, every proof with
//! its own `jti`, all minted before the measured window so the load generator spends no
//! signature inside it.

use aws_lc_rs::signature::EcdsaKeyPair;

use crate::jws::{encode_header, es256_key, in_parallel, public_jwk, sign};

/// A client's DPoP key and the base64url header every one of its proofs carries.
struct ProofKey {
    pair: EcdsaKeyPair,
    header: String,
}

impl ProofKey {
    fn new() -> anyhow::Result<Self> {
        let pair = es256_key()?;
        let header =
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&pair)});
        Ok(Self {
            header: encode_header(&header)?,
            pair,
        })
    }

    fn proof(&self, htu: &str, iat: u64, jti: &str) -> anyhow::Result<String> {
        let claims = serde_json::json!({"htm": "POST", "htu": htu, "iat": iat, "jti": jti});
        sign(&self.pair, &self.header, &claims)
    }
}

/// `count` proofs for `htu`, issued at `iat`: proof `i` is signed by client `i % clients`'s key
/// (so it must be sent with that client's credentials) and carries the unique `jti`
/// `{run}-{i}`. Minted on every core.
pub fn mint(
    count: usize,
    clients: usize,
    htu: &str,
    iat: u64,
    run: &str,
) -> anyhow::Result<Vec<String>> {
    let keys = (0..clients.max(1))
        .map(|_| ProofKey::new())
        .collect::<anyhow::Result<Vec<_>>>()?;
    in_parallel(count, |i| {
        keys[i % keys.len()].proof(htu, iat, &format!("{run}-{i}"))
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn proofs_are_distinct_and_signed_by_their_clients_key() {
        let proofs = mint(10, 3, "http://127.0.0.1:1/oauth/token", 1_800_000_000, "r").unwrap();
        assert_eq!(proofs.len(), 10);
        let unique: std::collections::HashSet<_> = proofs.iter().collect();
        assert_eq!(unique.len(), 10);
        let header = |p: &String| p.split('.').next().unwrap().to_owned();
        assert_eq!(
            header(&proofs[0]),
            header(&proofs[3]),
            "same client, same key"
        );
        assert_ne!(
            header(&proofs[0]),
            header(&proofs[1]),
            "clients have their own keys"
        );
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(proofs[4].split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["jti"], "r-4");
        assert_eq!(claims["htm"], "POST");
    }
}
