//! Random bytes from aws-lc's CSPRNG, the only randomness source of this crate.

/// `N` random bytes.
///
/// aws-lc's `RAND_bytes` aborts the process itself when the entropy source fails, so the error
/// branch is unreachable in practice. If it were ever taken we stop rather than continue with
/// predictable ids, secrets or keys.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if aws_lc_rs::rand::fill(&mut out).is_err() {
        tracing::error!("the system random number generator failed; stopping");
        std::process::abort();
    }
    out
}

/// Base64url without padding: the alphabet of every random token grantd hands out.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
