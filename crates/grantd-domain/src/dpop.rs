//! DPoP (RFC 9449) as data: a client's policy, the key thumbprint a token is bound to, the
//! binding a session row records, and every reason a proof is refused. Checking a proof is
//! cryptography and JSON, an adapter's job; what it may conclude is named here.

use std::fmt;

/// Whether a client must present a DPoP proof at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DpopPolicy {
    /// A proof binds the token; without one the token is a Bearer token.
    #[default]
    Optional,
    /// Without a proof the request is refused (`invalid_request`).
    Required,
}

impl DpopPolicy {
    pub const ALL: [DpopPolicy; 2] = [DpopPolicy::Optional, DpopPolicy::Required];

    pub fn as_str(self) -> &'static str {
        match self {
            DpopPolicy::Optional => "optional",
            DpopPolicy::Required => "required",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for DpopPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 7638 JWK SHA-256 thumbprint, base64url without padding (43 characters): the `jkt`
/// of a token's `cnf` claim.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Jkt(String);

impl Jkt {
    /// Length of the base64url of a SHA-256 digest.
    pub const LEN: usize = 43;

    /// Accepts exactly 43 base64url characters (what an adapter computed, or a stored value).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jkt({})", self.0)
    }
}

impl fmt::Display for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an accepted proof binds a token to: the key's thumbprint, and the proof's replay key
/// (a digest of thumbprint and `jti`, fixed length whatever the client sent) which the session
/// row stores under a unique index, so a proof buys at most one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopBinding {
    pub jkt: Jkt,
    pub proof_key: String,
}

/// The request a DPoP proof must name (RFC 9449 §4.3): its method and the endpoint's URL as
/// the issuer publishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProofTarget<'a> {
    pub method: &'a str,
    pub uri: &'a str,
}

/// Why a DPoP proof is refused (`invalid_dpop_proof`, RFC 9449 §4.3), or why a nonce is
/// asked for first (`use_dpop_nonce`, §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProofRejection {
    /// More than one `DPoP` header.
    MultipleHeaders,
    /// Not a compact JWS of three base64url parts with JSON-object header and claims.
    Malformed,
    /// The header's `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is none, symmetric, or not one grantd supports.
    UnsupportedAlgorithm,
    /// No `jwk` header, or one that is not a supported public key (wrong curve, RSA below
    /// 2048 bits, symmetric `oct`).
    BadKey,
    /// The `jwk` carries private members.
    PrivateKey,
    /// The `alg` is not the one the key's type pins.
    AlgorithmKeyMismatch,
    /// The signature does not verify with the header's `jwk`.
    BadSignature,
    /// `htm` missing or not the request's method.
    WrongMethod,
    /// `htu` missing or not the endpoint's URL.
    WrongUri,
    /// `iat` missing or outside the accepted window.
    IssuedAtOutOfWindow,
    /// `jti` missing or empty.
    MissingJti,
    /// The proof was already used for a token.
    Replayed,
    /// A nonce is required and the proof has none, or one that is not current.
    NonceRequired,
}

impl ProofRejection {
    /// The public description: names the check, echoes nothing of the proof.
    pub fn description(self) -> &'static str {
        match self {
            ProofRejection::MultipleHeaders => "more than one DPoP header",
            ProofRejection::Malformed => "DPoP proof is not a well-formed JWS",
            ProofRejection::WrongType => "DPoP proof typ must be dpop+jwt",
            ProofRejection::UnsupportedAlgorithm => "DPoP proof alg is not supported",
            ProofRejection::BadKey => "DPoP proof jwk is missing or not a supported public key",
            ProofRejection::PrivateKey => "DPoP proof jwk must not contain private key members",
            ProofRejection::AlgorithmKeyMismatch => "DPoP proof alg does not match its jwk",
            ProofRejection::BadSignature => "DPoP proof signature does not verify with its jwk",
            ProofRejection::WrongMethod => "DPoP proof htm does not match the request method",
            ProofRejection::WrongUri => "DPoP proof htu does not match the token endpoint URL",
            ProofRejection::IssuedAtOutOfWindow => "DPoP proof iat is missing or not recent",
            ProofRejection::MissingJti => "DPoP proof jti is missing",
            ProofRejection::Replayed => "DPoP proof was already used",
            ProofRejection::NonceRequired => "authorization server requires nonce in DPoP proof",
        }
    }

    /// A short stable label (metrics, logs).
    pub fn label(self) -> &'static str {
        match self {
            ProofRejection::MultipleHeaders => "multiple_headers",
            ProofRejection::Malformed => "malformed",
            ProofRejection::WrongType => "wrong_type",
            ProofRejection::UnsupportedAlgorithm => "unsupported_alg",
            ProofRejection::BadKey => "bad_key",
            ProofRejection::PrivateKey => "private_key",
            ProofRejection::AlgorithmKeyMismatch => "alg_key_mismatch",
            ProofRejection::BadSignature => "bad_signature",
            ProofRejection::WrongMethod => "wrong_method",
            ProofRejection::WrongUri => "wrong_uri",
            ProofRejection::IssuedAtOutOfWindow => "iat_window",
            ProofRejection::MissingJti => "missing_jti",
            ProofRejection::Replayed => "replayed",
            ProofRejection::NonceRequired => "nonce_required",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_and_unknown_is_none() {
        for p in DpopPolicy::ALL {
            assert_eq!(DpopPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(DpopPolicy::parse("Required"), None);
        assert_eq!(DpopPolicy::default(), DpopPolicy::Optional);
    }

    #[test]
    fn jkt_is_43_base64url_characters() {
        let ok = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(Jkt::parse(ok).map(|j| j.to_string()).as_deref(), Some(ok));
        assert!(Jkt::parse(&ok[1..]).is_none());
        assert!(Jkt::parse(&format!("{}=", &ok[1..])).is_none());
        assert!(Jkt::parse(&format!("+{}", &ok[1..])).is_none());
    }

    #[test]
    fn descriptions_name_dpop_and_labels_are_distinct() {
        use ProofRejection::*;
        let all = [
            MultipleHeaders,
            Malformed,
            WrongType,
            UnsupportedAlgorithm,
            BadKey,
            PrivateKey,
            AlgorithmKeyMismatch,
            BadSignature,
            WrongMethod,
            WrongUri,
            IssuedAtOutOfWindow,
            MissingJti,
            Replayed,
            NonceRequired,
        ];
        let labels: std::collections::HashSet<_> = all.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), all.len());
        for r in all {
            assert!(r.description().contains("DPoP"), "{r:?}");
        }
    }
}
