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

/// A client's registered public keys: an inline JWKS (no two keys with the same `kid`), or the
/// `jwks_uri` where the client publishes its JWKS (fetched and cached by an adapter behind the
/// `RemoteKeys` port; the keys fetched from it come back as an inline set); and the one
/// algorithm its assertions must use, if it registered one (`token_endpoint_auth_signing_alg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKeys {
    source: KeySource,
    alg: Option<AssertionAlg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum KeySource {
    Inline(Vec<RegisteredKey>),
    Remote(JwksUri),
}

impl Default for ClientKeys {
    fn default() -> Self {
        Self {
            source: KeySource::Inline(Vec::new()),
            alg: None,
        }
    }
}

/// Two keys of one JWKS share a `kid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKid(pub String);

/// The signing algorithms a client assertion may use: asymmetric only (never `none` or HS*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssertionAlg {
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}

impl AssertionAlg {
    pub const ALL: [AssertionAlg; 4] = [Self::Es256, Self::EdDsa, Self::Rs256, Self::Ps256];

    /// The JOSE name (`alg`), exactly; `Ed25519` (RFC 9864's fully specified name) is EdDSA.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "Ed25519" {
            return Some(Self::EdDsa);
        }
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    /// The JWK `kty` a key must have to sign with it.
    pub const fn kty(self) -> &'static str {
        match self {
            Self::Es256 => "EC",
            Self::EdDsa => "OKP",
            Self::Rs256 | Self::Ps256 => "RSA",
        }
    }
}

impl fmt::Display for AssertionAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered algorithm that none of the client's keys can sign with (wrong `kty`, or every
/// key pins another `alg`): no assertion could ever pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoKeyForAlg(pub AssertionAlg);

impl ClientKeys {
    /// An inline set. Refuses a set in which two keys share a `kid` (a verifier could not tell
    /// them apart).
    pub fn new(keys: Vec<RegisteredKey>) -> Result<Self, DuplicateKid> {
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = &k.kid
                && keys[..i].iter().any(|o| o.kid.as_ref() == Some(kid))
            {
                return Err(DuplicateKid(kid.clone()));
            }
        }
        Ok(Self {
            source: KeySource::Inline(keys),
            alg: None,
        })
    }

    /// Keys published at `uri`, fetched when needed.
    pub fn remote(uri: JwksUri) -> Self {
        Self {
            source: KeySource::Remote(uri),
            alg: None,
        }
    }

    /// The same keys, with assertions bound to `alg` (or to whatever the keys pin, `None`).
    /// Refused when no inline key could sign with `alg` (keys at a `jwks_uri` are not known
    /// until fetched: the verifier refuses then).
    pub fn with_alg(self, alg: Option<AssertionAlg>) -> Result<Self, NoKeyForAlg> {
        if let (Some(a), KeySource::Inline(keys)) = (alg, &self.source) {
            let fits = |k: &RegisteredKey| {
                k.kty == a.kty()
                    && k.alg
                        .as_deref()
                        .is_none_or(|p| AssertionAlg::parse(p) == Some(a))
            };
            if !keys.iter().any(fits) {
                return Err(NoKeyForAlg(a));
            }
        }
        Ok(Self { alg, ..self })
    }

    /// The inline keys; none for a set registered by `jwks_uri`.
    pub fn keys(&self) -> &[RegisteredKey] {
        match &self.source {
            KeySource::Inline(keys) => keys,
            KeySource::Remote(_) => &[],
        }
    }

    /// Where the keys are published, for a set registered by `jwks_uri`.
    pub fn jwks_uri(&self) -> Option<&JwksUri> {
        match &self.source {
            KeySource::Inline(_) => None,
            KeySource::Remote(uri) => Some(uri),
        }
    }

    /// The algorithm the client registered for its assertions, if any.
    pub fn alg(&self) -> Option<AssertionAlg> {
        self.alg
    }

    /// No inline key and no `jwks_uri`: nothing a client assertion could be checked with.
    pub fn is_empty(&self) -> bool {
        matches!(&self.source, KeySource::Inline(keys) if keys.is_empty())
    }

    /// Each inline key's `kid` (or "-" for a key without one): what may be shown and audited
    /// of a key set, never key material. Empty for a set registered by `jwks_uri`.
    pub fn kids(&self) -> Vec<String> {
        self.keys()
            .iter()
            .map(|k| k.kid.clone().unwrap_or_else(|| "-".into()))
            .collect()
    }
}

/// A `jwks_uri` (RFC 7591 §2): an absolute `https` URL, or an `http` URL whose host is the
/// loopback interface (`localhost`, 127.0.0.0/8, `[::1]`; for tests and local development,
/// usable only while the configuration allows it). No user info, no fragment, no whitespace.
/// Checked once when registered or read back; the fetching adapter checks the scheme rule
/// again against the configuration of the moment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JwksUri {
    text: String,
    http_loopback: bool,
}

/// Why a text is not a usable `jwks_uri`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwksUriProblem {
    /// Not `https://host…` (nor `http://` to loopback), or user info, a fragment, a bad port,
    /// whitespace or control characters, or longer than 2,000 bytes.
    Malformed,
    /// `http://` to a host that is not the loopback interface.
    HttpNotLoopback,
    /// `http://` to loopback while the configuration does not allow it.
    HttpNotAllowed,
}

impl fmt::Display for JwksUriProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwksUriProblem::Malformed => {
                "must be an absolute https URL (no user info, no fragment, at most 2000 bytes)"
            }
            JwksUriProblem::HttpNotLoopback => "http is allowed only to the loopback interface",
            JwksUriProblem::HttpNotAllowed => {
                "http to loopback needs [jwks_fetch] allow_http_loopback = true"
            }
        })
    }
}

/// Longest `jwks_uri` accepted, bytes.
const MAX_JWKS_URI_LEN: usize = 2000;

impl JwksUri {
    /// Checks the syntax and the scheme rule; an `http` loopback URL parses (whether it may be
    /// used is [`JwksUri::usable`]'s question).
    pub fn parse(text: &str) -> Result<Self, JwksUriProblem> {
        let bad = JwksUriProblem::Malformed;
        if text.len() > MAX_JWKS_URI_LEN
            || text.contains('#')
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad);
        }
        let lower = text
            .get(..8)
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let (http, rest) = if lower == "https://" {
            (false, &text[8..])
        } else if lower.starts_with("http://") {
            (true, &text[7..])
        } else {
            return Err(bad);
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host_of(authority).ok_or(bad)?;
        if http && !is_loopback(host) {
            return Err(JwksUriProblem::HttpNotLoopback);
        }
        Ok(Self {
            text: text.to_owned(),
            http_loopback: http,
        })
    }

    /// Whether the URL may be fetched: always for `https`, for `http` (to loopback) only when
    /// `allow_http_loopback`.
    pub fn usable(&self, allow_http_loopback: bool) -> Result<(), JwksUriProblem> {
        if self.http_loopback && !allow_http_loopback {
            Err(JwksUriProblem::HttpNotAllowed)
        } else {
            Ok(())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The host of an authority (`host[:port]`, `[v6][:port]`), if it is well formed: no user
/// info, a port of digits only.
fn host_of(authority: &str) -> Option<&str> {
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        (inside, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let host_ok = !host.is_empty()
        && (authority.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'));
    (port_ok && host_ok).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why keys could not be had from a `jwks_uri`. The detail (status, size, error text) is
/// logged by the adapter where it happens; this is what the refusal records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwksFailure {
    /// `http://` while the configuration does not allow it (or not to loopback).
    NotAllowed,
    /// No connection, TLS failure, the timeout, or the connection broke mid-body.
    Unreachable,
    /// An answer other than 200 (a redirect included).
    Status,
    /// A `Content-Type` that is not JSON.
    NotJson,
    /// A body above the configured size cap.
    TooLarge,
    /// Not a JWKS, a private or symmetric member, duplicate kids, or no usable key.
    Invalid,
}

impl JwksFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            JwksFailure::NotAllowed => "not_allowed",
            JwksFailure::Unreachable => "unreachable",
            JwksFailure::Status => "status",
            JwksFailure::NotJson => "not_json",
            JwksFailure::TooLarge => "too_large",
            JwksFailure::Invalid => "invalid",
        }
    }
}

impl fmt::Display for JwksFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// An algorithm the keys allow, but not the one the client registered
    /// (`token_endpoint_auth_signing_alg`).
    AlgorithmNotRegistered,
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
    /// The client's `jwks_uri` gave no usable keys (and no cached set is still usable).
    KeysUnavailable(JwksFailure),
}

impl AssertionRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionRejection::Malformed => "assertion_malformed",
            AssertionRejection::IssuerSubjectMismatch => "assertion_iss_sub",
            AssertionRejection::UnsupportedAlgorithm => "assertion_alg",
            AssertionRejection::AlgorithmNotRegistered => "assertion_alg_not_registered",
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
            AssertionRejection::KeysUnavailable(f) => match f {
                JwksFailure::NotAllowed => "assertion_jwks_not_allowed",
                JwksFailure::Unreachable => "assertion_jwks_unreachable",
                JwksFailure::Status => "assertion_jwks_status",
                JwksFailure::NotJson => "assertion_jwks_not_json",
                JwksFailure::TooLarge => "assertion_jwks_too_large",
                JwksFailure::Invalid => "assertion_jwks_invalid",
            },
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

    fn typed(kid: &str, kty: &str, alg: Option<&str>) -> RegisteredKey {
        RegisteredKey {
            kid: Some(kid.into()),
            kty: kty.into(),
            alg: alg.map(str::to_owned),
            jwk: "{}".into(),
        }
    }

    #[test]
    fn a_registered_alg_needs_a_key_that_can_sign_with_it() {
        let keys = ClientKeys::new(vec![
            typed("e", "EC", None),
            typed("r", "RSA", Some("PS256")),
        ])
        .unwrap();
        for (alg, ok) in [
            (AssertionAlg::Es256, true),
            (AssertionAlg::Ps256, true),
            (AssertionAlg::Rs256, false),
            (AssertionAlg::EdDsa, false),
        ] {
            let got = keys.clone().with_alg(Some(alg));
            assert_eq!(got.is_ok(), ok, "{alg}");
            assert_eq!(
                got.map(|k| k.alg()),
                if ok {
                    Ok(Some(alg))
                } else {
                    Err(NoKeyForAlg(alg))
                }
            );
        }
        assert_eq!(keys.clone().with_alg(None).unwrap().alg(), None);
        assert_eq!(keys.kids(), ["e", "r"]);
    }

    #[test]
    fn assertion_algs_parse_exactly_their_jose_names() {
        for a in AssertionAlg::ALL {
            assert_eq!(AssertionAlg::parse(a.as_str()), Some(a));
        }
        for bad in ["es256", "HS256", "none", "", "EDDSA"] {
            assert_eq!(AssertionAlg::parse(bad), None, "{bad}");
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

    #[test]
    fn a_remote_set_has_a_uri_and_no_inline_keys_and_is_not_empty() {
        let uri = JwksUri::parse("https://client.example/jwks.json").unwrap();
        let keys = ClientKeys::remote(uri.clone());
        assert_eq!(keys.jwks_uri(), Some(&uri));
        assert!(keys.keys().is_empty());
        assert!(!keys.is_empty());
        assert!(ClientKeys::default().is_empty());
    }

    #[test]
    fn jwks_uris_are_https_or_http_to_loopback() {
        use JwksUriProblem::*;
        for ok in [
            "https://client.example/jwks.json",
            "HTTPS://client.example:8443/.well-known/jwks?v=2",
            "https://[2001:db8::1]/k",
            "https://10.0.0.1",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://localhost:1/jwks",
            "http://[::1]:9/jwks",
        ] {
            assert!(JwksUri::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://client.example/jwks", HttpNotLoopback),
            ("http://10.0.0.1/jwks", HttpNotLoopback),
            ("http://localhost.evil.example/jwks", HttpNotLoopback),
            ("http://127.0.0.1.nip.io/jwks", HttpNotLoopback),
            ("ftp://client.example/jwks", Malformed),
            ("client.example/jwks", Malformed),
            ("https://", Malformed),
            ("https://user@client.example/jwks", Malformed),
            ("http://evil@127.0.0.1/jwks", Malformed),
            ("https://client.example/jwks#frag", Malformed),
            ("https://client.example:99999/jwks", Malformed),
            ("https://client.example:/jwks", Malformed),
            ("https://client example/jwks", Malformed),
            ("https://[::1/jwks", Malformed),
        ] {
            assert_eq!(JwksUri::parse(bad), Err(why), "{bad}");
        }
        let long = format!("https://a.example/{}", "x".repeat(2000));
        assert_eq!(JwksUri::parse(&long), Err(Malformed));
    }

    #[test]
    fn http_to_loopback_is_usable_only_when_allowed() {
        let http = JwksUri::parse("http://127.0.0.1:8080/jwks").unwrap();
        assert_eq!(http.usable(false), Err(JwksUriProblem::HttpNotAllowed));
        assert_eq!(http.usable(true), Ok(()));
        let https = JwksUri::parse("https://client.example/jwks").unwrap();
        assert_eq!(https.usable(false), Ok(()));
    }
}
