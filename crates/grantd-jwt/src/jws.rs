//! JWS compact serialization (RFC 7515 §3.1, §7.1) for grantd's access tokens: the hot path of
//! `sign` and `verify`, on aws-lc-rs keys parsed once per key rather than once per token (the
//! crate docs say why this is not jsonwebtoken's `encode`/`decode`).
//!
//! Tokens are the bytes jsonwebtoken produced (up to ECDSA's random signature). `verify` keeps
//! the error variants and the order of checks it had on jsonwebtoken, and is stricter in three
//! ways: tokens over `MAX_TOKEN_LEN` bytes, a header with `crit`, and a header or claims set
//! that is a JSON array rather than an object are refused as malformed.

use std::borrow::Cow;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantd_domain::Kid;
use grantd_ports::{SignError, SignFailure, SigningAlgorithm, VerifyError};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};

/// Longest token `verify` looks at. grantd's tokens are well under 1 KiB (RS256 ~ 900 bytes);
/// anything this long is refused before any decoding, parsing or crypto.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Longest decoded header. Ours is ~60 bytes; the limit lets the header be decoded on the
/// stack.
pub(crate) const MAX_HEADER_JSON: usize = 512;

/// Longest signature of a key we hold (RSA-4096); also the stack buffer RSA signs into.
const MAX_SIGNATURE_LEN: usize = 512;

/// Shortest RSA modulus accepted, in bytes: RFC 7518 §3.3 requires 2048 bits, and
/// `RSA_PKCS1_2048_8192_SHA256` would refuse to verify anything shorter.
const MIN_RSA_MODULUS_LEN: usize = 256;

/// The JOSE `typ` of an access token (RFC 9068 §2.1).
pub(crate) const TOKEN_TYPE: &str = "at+jwt";

/// The algorithm names jsonwebtoken knows. A header naming one of these that is not the key's
/// is a forgery attempt (`BadSignature`); any other name, `none` included, is `Malformed`, as it
/// was when jsonwebtoken parsed the header.
const KNOWN_ALGORITHMS: [&str; 12] = [
    "HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384",
    "PS512", "EdDSA",
];

/// A parsed private key, ready to sign.
pub(crate) enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl Signer {
    fn algorithm(&self) -> SigningAlgorithm {
        match self {
            Signer::Es256(_) => SigningAlgorithm::Es256,
            Signer::EdDsa(_) => SigningAlgorithm::EdDsa,
            Signer::Rs256(_) => SigningAlgorithm::Rs256,
        }
    }

    /// Length of a signature in bytes.
    fn signature_len(&self) -> usize {
        match self {
            // ES256 in JWS is the fixed-width r || s (RFC 7518 §3.4), not DER.
            Signer::Es256(_) | Signer::EdDsa(_) => 64,
            Signer::Rs256(pair) => pair.public_modulus_len(),
        }
    }

    /// Signs `message` into `buf`; returns the signature's length.
    fn sign(&self, message: &[u8], buf: &mut [u8; MAX_SIGNATURE_LEN]) -> Result<usize, SignError> {
        let failed = || SignError::Failed(SignFailure::Signature(self.algorithm()));
        let len = self.signature_len();
        let out = buf.get_mut(..len).ok_or_else(failed)?;
        match self {
            // aws-lc draws the ECDSA nonce from its own generator; the argument is there for
            // ring API compatibility.
            Signer::Es256(pair) => {
                let sig = pair
                    .sign(&SystemRandom::new(), message)
                    .map_err(|_| failed())?;
                copy_exact(sig.as_ref(), out).ok_or_else(failed)?;
            }
            Signer::EdDsa(pair) => {
                copy_exact(pair.sign(message).as_ref(), out).ok_or_else(failed)?
            }
            Signer::Rs256(pair) => pair
                .sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    out,
                )
                .map_err(|_| failed())?,
        }
        Ok(len)
    }
}

/// Copies `src` into `dst` if they have the same length.
fn copy_exact(src: &[u8], dst: &mut [u8]) -> Option<()> {
    (src.len() == dst.len()).then(|| dst.copy_from_slice(src))
}

/// One key's signing and verifying state, prepared once when the key is loaded.
pub(crate) struct JwsKey {
    algorithm: SigningAlgorithm,
    /// base64url of `{"typ":"at+jwt","alg":…,"kid":…}`: the first segment of every token this
    /// key signs. Same members and order as jsonwebtoken's `Header` produced before.
    header: String,
    signer: Signer,
    verifier: ParsedPublicKey,
}

/// The JOSE header `sign` writes.
#[derive(Serialize)]
struct OutHeader<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
}

impl JwsKey {
    /// Prepares `signer` and its public half `verifier` for key `kid`. Fails if the RSA modulus
    /// is outside 2048–4096 bits.
    pub(crate) fn new(
        kid: &Kid,
        signer: Signer,
        verifier: ParsedPublicKey,
    ) -> Result<Self, String> {
        let algorithm = signer.algorithm();
        let len = signer.signature_len();
        if algorithm == SigningAlgorithm::Rs256
            && !(MIN_RSA_MODULUS_LEN..=MAX_SIGNATURE_LEN).contains(&len)
        {
            return Err(format!(
                "a {}-bit RSA key is outside the supported 2048–4096 bits",
                len * 8
            ));
        }
        let json = serde_json::to_vec(&OutHeader {
            typ: TOKEN_TYPE,
            alg: algorithm.as_str(),
            kid: kid.as_str(),
        })
        .map_err(|e| format!("header serialization: {e}"))?;
        Ok(JwsKey {
            algorithm,
            header: URL_SAFE_NO_PAD.encode(json),
            signer,
            verifier,
        })
    }

    pub(crate) fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The private key as PKCS#8, for tests that sign with jsonwebtoken using the same key.
    #[cfg(test)]
    pub(crate) fn private_pkcs8(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer as _;
        match &self.signer {
            Signer::Es256(pair) => pair.to_pkcs8v1().unwrap().as_ref().to_vec(),
            Signer::EdDsa(pair) => pair.to_pkcs8v1().unwrap().as_ref().to_vec(),
            Signer::Rs256(pair) => {
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().unwrap();
                der.as_ref().to_vec()
            }
        }
    }

    /// The compact JWS of `claims`: header segment, `.`, base64url of the claims' JSON, `.`,
    /// base64url of the signature over the first two. `json_len_hint` sizes the JSON buffer;
    /// the token itself is built in one allocation of its exact length.
    pub(crate) fn sign<T: Serialize>(
        &self,
        claims: &T,
        json_len_hint: usize,
    ) -> Result<String, SignError> {
        let mut json = Vec::with_capacity(json_len_hint);
        serde_json::to_writer(&mut json, claims).map_err(|e| {
            tracing::error!(error = %e, "cannot serialize token claims");
            SignError::Failed(SignFailure::Serialization)
        })?;
        let len =
            self.header.len() + 1 + b64_len(json.len()) + 1 + b64_len(self.signer.signature_len());
        let mut token = String::with_capacity(len);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        // What is written so far is the JWS signing input.
        let mut sig = [0u8; MAX_SIGNATURE_LEN];
        let sig_len = self.signer.sign(token.as_bytes(), &mut sig)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig[..sig_len], &mut token);
        debug_assert_eq!(token.len(), len, "token capacity estimate");
        Ok(token)
    }

    /// Checks the signature of `jws` with this key. Bad base64 is `Malformed`; a signature that
    /// does not verify (including an empty or over-long one) is `BadSignature`.
    pub(crate) fn verify_signature(&self, jws: &Compact<'_>) -> Result<(), VerifyError> {
        let mut buf = [0u8; MAX_SIGNATURE_LEN + 3];
        let signature = match decode_into(jws.signature, &mut buf) {
            Ok(sig) => sig,
            Err(Decode::TooLong) => return Err(VerifyError::BadSignature),
            Err(Decode::Invalid) => return Err(VerifyError::Malformed),
        };
        if signature.is_empty() {
            return Err(VerifyError::BadSignature);
        }
        self.verifier
            .verify_sig(jws.signing_input.as_bytes(), signature)
            .map_err(|_| VerifyError::BadSignature)
    }
}

/// Length of the unpadded base64 of `n` bytes.
const fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// A compact JWS split into its segments, nothing decoded yet. No `Debug`: it is a bearer
/// token.
pub(crate) struct Compact<'a> {
    /// `header.payload`: what the signature covers.
    signing_input: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Compact<'a> {
    /// Exactly three segments separated by two dots, header and payload non-empty, at most
    /// `MAX_TOKEN_LEN` bytes in all. An empty signature passes here and fails verification.
    pub(crate) fn split(token: &'a str) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(VerifyError::Malformed)?;
        if header.is_empty() || payload.is_empty() || payload.contains('.') {
            return Err(VerifyError::Malformed);
        }
        Ok(Compact {
            signing_input,
            header,
            payload,
            signature,
        })
    }

    /// Decodes the header into `buf` (no allocation unless a member has JSON escapes).
    pub(crate) fn header<'b>(
        &self,
        buf: &'b mut [u8; MAX_HEADER_JSON],
    ) -> Result<Header<'b>, VerifyError> {
        let json = decode_into(self.header, buf).map_err(|_| VerifyError::Malformed)?;
        let header: Header<'b> = from_json_object(json)?;
        // We implement no extension, so any `crit` is one we do not understand: RFC 7515
        // §4.1.11 says to reject the token. (jsonwebtoken parses `crit` and ignores it.)
        if header.crit {
            return Err(VerifyError::Malformed);
        }
        if !KNOWN_ALGORITHMS.contains(&header.alg.as_ref()) {
            return Err(VerifyError::Malformed);
        }
        Ok(header)
    }

    /// Decodes the payload. Call only after the signature verified.
    pub(crate) fn claims<T: DeserializeOwned>(&self) -> Result<T, VerifyError> {
        let json = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| VerifyError::Malformed)?;
        from_json_object(&json)
    }
}

/// The JOSE header members `verify` reads. Other members are ignored (as jsonwebtoken did),
/// except `crit`; a member given twice is an error.
#[derive(Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) kid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) typ: Option<Cow<'a, str>>,
    /// Whether `crit` is present at all (even as `null`).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Parses a JSON object. serde's derived structs also accept a JSON array (fields by position),
/// which no JWS header or claims set is.
fn from_json_object<'de, T: Deserialize<'de>>(json: &'de [u8]) -> Result<T, VerifyError> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::Malformed);
    }
    serde_json::from_slice(json).map_err(|_| VerifyError::Malformed)
}

enum Decode {
    Invalid,
    TooLong,
}

/// Decodes base64url (no padding, canonical trailing bits: the engine jsonwebtoken uses) into
/// `buf`.
fn decode_into<'b>(segment: &str, buf: &'b mut [u8]) -> Result<&'b [u8], Decode> {
    if base64::decoded_len_estimate(segment.len()) > buf.len() {
        return Err(Decode::TooLong);
    }
    let n = URL_SAFE_NO_PAD
        .decode_slice(segment, buf)
        .map_err(|_| Decode::Invalid)?;
    Ok(&buf[..n])
}
