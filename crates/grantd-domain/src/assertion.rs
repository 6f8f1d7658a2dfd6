//! `private_key_jwt` (RFC 7523 §2.2) as data: a client's registered public keys, what an
//! assertion is checked against, and every reason one is refused. Parsing keys and checking
//! signatures is cryptography and JSON, an adapter's job; what it may conclude is named here.

use std::fmt;

/// One registered public key: its `kid` and `alg` when the JWKS gave them, its `kty`, and the
/// public JWK as JSON text (checked by the adapter when it was registered: public, usable,
/// RSA ≥ 2048 bits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredKey {
    pub kid: Option<String>,
    pub kty: String,
    pub alg: Option<String>,
    pub jwk: String,
}

/// A client's registered public keys (an inline JWKS): no two with the same `kid`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientKeys(Vec<RegisteredKey>);

/// Two keys of one JWKS share a `kid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKid(pub String);

impl ClientKeys {
    /// Refuses a set in which two keys share a `kid` (a verifier could not tell them apart).
    pub fn new(keys: Vec<RegisteredKey>) -> Result<Self, DuplicateKid> {
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = &k.kid
                && keys[..i].iter().any(|o| o.kid.as_ref() == Some(kid))
            {
                return Err(DuplicateKid(kid.clone()));
            }
        }
        Ok(Self(keys))
    }

    pub fn keys(&self) -> &[RegisteredKey] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What an assertion must name and how long it may live (`[client_assertion]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssertionTarget<'a> {
    /// This server's issuer identifier (an accepted `aud`).
    pub issuer: &'a str,
    /// The token endpoint URL (the other accepted `aud`).
    pub token_endpoint: &'a str,
    /// Longest lifetime accepted (`exp − iat`, or `exp − now` without `iat`), seconds.
    pub max_lifetime_secs: i64,
    /// How far `iat`/`nbf` may lie in the future (client clock ahead), seconds.
    pub max_skew_secs: i64,
}

/// Why a client assertion is refused. Every one is the same `invalid_client` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssertionRejection {
    /// Not a compact JWS with JSON objects, or too long.
    Malformed,
    /// `iss` or `sub` missing, different from each other, or from the sent `client_id`.
    IssuerSubjectMismatch,
    /// `alg` missing, `none`, HS* or another algorithm no registered key pins.
    UnsupportedAlgorithm,
    /// A `kid` no registered key has.
    UnknownKey,
    /// No registered key (of the right type) verifies the signature.
    BadSignature,
    /// `aud` is neither the issuer nor the token endpoint (string or one-element array).
    WrongAudience,
    /// `exp` missing or passed.
    Expired,
    /// `exp − iat` (or `exp − now`) above the configured bound.
    TooLongLived,
    /// `iat` or `nbf` in the future beyond the skew.
    NotYetValid,
    /// `jti` missing, empty or too long.
    MissingJti,
    /// The `jti` was used before (the session row's unique index refused it).
    Replayed,
    /// The client is not registered for `private_key_jwt`, or has no keys.
    NoKeys,
    /// Federation: the token's issuer is not a trusted one (or not of the kind the
    /// `client_assertion_type` names).
    UntrustedIssuer,
    /// Federation: no credential of the client names the token's `sub` under that issuer.
    SubjectMismatch,
    /// Federation: a credential names the `sub`, but a pinned claim is missing or differs.
    ClaimMismatch,
    /// Federation: the issuer's keys could not be had (fetch failed, nothing cached).
    IssuerKeysUnavailable,
    /// Federation needs the grantd `client_id` in the request (the token's `iss` is the
    /// platform's); or a `jwt-spiffe` assertion for a client that is not federated.
    ClientIdRequired,
}

impl AssertionRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionRejection::Malformed => "assertion_malformed",
            AssertionRejection::IssuerSubjectMismatch => "assertion_iss_sub",
            AssertionRejection::UnsupportedAlgorithm => "assertion_alg",
            AssertionRejection::UnknownKey => "assertion_unknown_kid",
            AssertionRejection::BadSignature => "assertion_signature",
            AssertionRejection::WrongAudience => "assertion_aud",
            AssertionRejection::Expired => "assertion_expired",
            AssertionRejection::TooLongLived => "assertion_lifetime",
            AssertionRejection::NotYetValid => "assertion_not_yet_valid",
            AssertionRejection::MissingJti => "assertion_jti",
            AssertionRejection::Replayed => "assertion_replayed",
            AssertionRejection::NoKeys => "assertion_no_keys",
            AssertionRejection::UntrustedIssuer => "federation_untrusted_issuer",
            AssertionRejection::SubjectMismatch => "federation_subject",
            AssertionRejection::ClaimMismatch => "federation_claim",
            AssertionRejection::IssuerKeysUnavailable => "federation_keys_unavailable",
            AssertionRejection::ClientIdRequired => "federation_client_id",
        }
    }
}

impl fmt::Display for AssertionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: Option<&str>) -> RegisteredKey {
        RegisteredKey {
            kid: kid.map(str::to_owned),
            kty: "EC".into(),
            alg: None,
            jwk: "{}".into(),
        }
    }

    #[test]
    fn duplicate_kids_are_refused_and_missing_kids_are_not_duplicates() {
        assert_eq!(
            ClientKeys::new(vec![key(Some("a")), key(None), key(Some("a"))]),
            Err(DuplicateKid("a".into()))
        );
        let ok = ClientKeys::new(vec![key(Some("a")), key(None), key(None)]).unwrap();
        assert_eq!(ok.keys().len(), 3);
    }
}
