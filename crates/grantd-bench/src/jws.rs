//! What the pre-minted credentials share: an ES256 key, a compact JWS signed with it, and
//! minting many of them on every core before the measured window.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh ES256 key pair.
pub(crate) fn es256_key() -> anyhow::Result<EcdsaKeyPair> {
    EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| anyhow::anyhow!("ES256 key generation failed"))
}

/// The public JWK members of an ES256 key (`kty`, `crv`, `x`, `y`).
pub(crate) fn public_jwk(pair: &EcdsaKeyPair) -> serde_json::Value {
    let point = pair.public_key().as_ref();
    serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    })
}

/// base64url of a JOSE header (computed once per key).
pub(crate) fn encode_header(header: &serde_json::Value) -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?))
}

/// The compact JWS `header.claims.signature`, ES256.
pub(crate) fn sign(
    pair: &EcdsaKeyPair,
    header: &str,
    claims: &serde_json::Value,
) -> anyhow::Result<String> {
    let mut out = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let sig = pair
        .sign(&SystemRandom::new(), out.as_bytes())
        .map_err(|_| anyhow::anyhow!("ES256 signature failed"))?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut out);
    Ok(out)
}

/// `make(0) … make(count - 1)`, in order, computed on every core.
pub(crate) fn in_parallel(
    count: usize,
    make: impl Fn(usize) -> anyhow::Result<String> + Sync,
) -> anyhow::Result<Vec<String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let make = &make;
    let parts: Vec<anyhow::Result<Vec<String>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| s.spawn(move || (start..(start + chunk).min(count)).map(make).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("minting thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}
