//! Test helpers: a private temporary directory. (The in-memory key store is
//! `grantd_fakes::MemKeys`.)

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        let name = format!(
            "grantd-jwt-test-{}",
            crate::random::b64url(&crate::random::bytes::<12>())
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A client's key pair, as a DPoP client or a `private_key_jwt` client holds it: signs compact
/// JWSs and gives its public JWK.
pub(crate) enum ClientKey {
    Es256(aws_lc_rs::signature::EcdsaKeyPair),
    Ed25519(aws_lc_rs::signature::Ed25519KeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl ClientKey {
    pub(crate) fn es256() -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        ClientKey::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub(crate) fn ed25519() -> Self {
        ClientKey::Ed25519(aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap())
    }

    pub(crate) fn rsa(size: aws_lc_rs::rsa::KeySize) -> Self {
        ClientKey::Rsa(aws_lc_rs::rsa::KeyPair::generate(size).unwrap())
    }

    /// The public JWK as a JSON value.
    pub(crate) fn public_jwk(&self) -> serde_json::Value {
        use aws_lc_rs::signature::KeyPair as _;
        match self {
            ClientKey::Es256(p) => {
                let point = p.public_key().as_ref();
                serde_json::json!({"kty": "EC", "crv": "P-256",
                    "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            ClientKey::Ed25519(p) => {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(p.public_key().as_ref())})
            }
            ClientKey::Rsa(p) => {
                let public = p.public_key();
                serde_json::json!({"kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
        }
    }

    /// The signature over `input` under `alg` (PS256 or RS256 for RSA keys; ignored otherwise).
    pub(crate) fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        use aws_lc_rs::rand::SystemRandom;
        match self {
            ClientKey::Es256(p) => p
                .sign(&SystemRandom::new(), input)
                .unwrap()
                .as_ref()
                .to_vec(),
            ClientKey::Ed25519(p) => p.sign(input).as_ref().to_vec(),
            ClientKey::Rsa(p) => {
                let padding: &'static dyn aws_lc_rs::signature::RsaEncoding = if alg == "PS256" {
                    &aws_lc_rs::signature::RSA_PSS_SHA256
                } else {
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256
                };
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(padding, &SystemRandom::new(), input, &mut sig)
                    .unwrap();
                sig
            }
        }
    }

    /// A compact JWS of `header` and `claims` signed under `alg`.
    pub(crate) fn jws(
        &self,
        alg: &str,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> String {
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).unwrap()),
            b64(&serde_json::to_vec(claims).unwrap())
        );
        let sig = self.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }
}
