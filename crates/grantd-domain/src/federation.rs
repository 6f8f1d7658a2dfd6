//! Federated workload identities as data: the issuers an operator trusts (`[[federation.issuers]]`),
//! the per-client credentials that say which of their subjects may act as a client, and the one
//! rule that matches a verified platform token to a credential. Checking the token's signature
//! and times is an adapter's job; what it found arrives here as [`VerifiedIdentity`].

use std::collections::BTreeMap;
use std::fmt;

use crate::client::AuthMethod;

/// An operator-chosen name for a trusted issuer: 1–64 of `A-Z a-z 0-9 . _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuerName(String);

impl IssuerName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IssuerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of platform issues the tokens: an OIDC-style issuer (Kubernetes, GitHub Actions;
/// found by the token's `iss`) or a SPIFFE trust domain (JWT-SVIDs, found by the trust domain
/// of the token's `sub`, since a JWT-SVID's `iss` is optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssuerKind {
    Oidc,
    Spiffe,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerKind::Oidc => "oidc",
            IssuerKind::Spiffe => "spiffe",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(IssuerKind::Oidc),
            "spiffe" => Some(IssuerKind::Spiffe),
            _ => None,
        }
    }
}

/// One trusted issuer and the policy its tokens are held to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub name: IssuerName,
    /// The `iss` its tokens carry (OIDC), or the trust domain's SPIFFE ID `spiffe://example.org`.
    pub issuer: String,
    pub kind: IssuerKind,
    /// JWS algorithms accepted from it (a key's own type and `alg` pin further).
    pub algorithms: Vec<String>,
    /// The `aud` its tokens must carry for grantd (a string or a one-element array, as for
    /// `private_key_jwt`; default: grantd's issuer).
    pub audience: String,
    /// Longest lifetime accepted (`exp − iat`, or `exp − now` without `iat`), seconds.
    pub max_lifetime_secs: i64,
    /// Whether a token's `jti` buys one grantd token only (issuers that mint one per call);
    /// off for Kubernetes projected tokens and SVIDs, which are reused by design.
    pub single_use_jti: bool,
}

impl TrustedIssuer {
    /// Whether a token whose (unverified) `iss` and `sub` are these comes from this issuer.
    pub fn claims_token(&self, iss: Option<&str>, sub: Option<&str>) -> bool {
        match self.kind {
            IssuerKind::Oidc => iss == Some(self.issuer.as_str()),
            IssuerKind::Spiffe => sub.is_some_and(|s| {
                s.strip_prefix(self.issuer.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            }),
        }
    }
}

/// The trusted issuers in force. Names and issuer identifiers are unique (config enforces it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Federation {
    issuers: Vec<TrustedIssuer>,
}

impl Federation {
    pub fn new(issuers: Vec<TrustedIssuer>) -> Self {
        Self { issuers }
    }

    pub fn issuers(&self) -> &[TrustedIssuer] {
        &self.issuers
    }

    pub fn by_name(&self, name: &IssuerName) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|i| &i.name == name)
    }

    /// The issuer a token claims to come from. `spiffe` is the request's assertion type:
    /// `jwt-spiffe` names SPIFFE issuers only, `jwt-bearer` OIDC ones only.
    pub fn issuer_of(
        &self,
        iss: Option<&str>,
        sub: Option<&str>,
        spiffe: bool,
    ) -> Option<&TrustedIssuer> {
        self.issuers
            .iter()
            .filter(|i| (i.kind == IssuerKind::Spiffe) == spiffe)
            .find(|i| i.claims_token(iss, sub))
    }
}

/// A claim a credential pins: its name and the value as canonical JSON text (the adapter
/// serializes both the pinned value and the token's so that equal JSON values are equal text).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PinnedClaim {
    pub name: String,
    pub value_json: String,
}

/// One federated credential of a client: tokens of `issuer` whose `sub` is `subject` and whose
/// pinned claims all hold exactly may authenticate as the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedCredential {
    pub issuer: IssuerName,
    pub subject: String,
    pub claims: Vec<PinnedClaim>,
}

/// What a verified platform token says about its bearer: `sub`, and each top-level claim as
/// canonical JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub subject: String,
    pub claims: BTreeMap<String, String>,
}

/// Why no credential of a client matches a verified token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialMismatch {
    /// No credential of this issuer names the token's `sub`.
    Subject,
    /// A credential names the `sub`, but a pinned claim is missing or differs.
    Claim,
}

/// The credential of `issuer` among `credentials` that `token` satisfies: same issuer, `sub`
/// equal byte for byte, every pinned claim present with an equal JSON value. No wildcards.
pub fn match_credential<'c>(
    credentials: &'c [FederatedCredential],
    issuer: &IssuerName,
    token: &VerifiedIdentity,
) -> Result<&'c FederatedCredential, CredentialMismatch> {
    let mut subject_seen = false;
    for c in credentials
        .iter()
        .filter(|c| &c.issuer == issuer && c.subject == token.subject)
    {
        subject_seen = true;
        let pinned_hold = c
            .claims
            .iter()
            .all(|p| token.claims.get(&p.name) == Some(&p.value_json));
        if pinned_hold {
            return Ok(c);
        }
    }
    Err(if subject_seen {
        CredentialMismatch::Claim
    } else {
        CredentialMismatch::Subject
    })
}

/// Who a federated client authenticated as: the trusted issuer and the token's `sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub issuer: IssuerName,
    pub subject: String,
}

/// How a session's client authenticated, as its row records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionAuth {
    pub method: AuthMethod,
    /// For [`AuthMethod::Federated`]: whose platform token it presented.
    pub federated: Option<FederatedIdentity>,
}

impl SessionAuth {
    pub fn method(method: AuthMethod) -> Self {
        Self {
            method,
            federated: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> IssuerName {
        IssuerName::parse(s).unwrap()
    }

    fn cred(issuer: &str, sub: &str, claims: &[(&str, &str)]) -> FederatedCredential {
        FederatedCredential {
            issuer: name(issuer),
            subject: sub.into(),
            claims: claims
                .iter()
                .map(|(n, v)| PinnedClaim {
                    name: (*n).into(),
                    value_json: (*v).into(),
                })
                .collect(),
        }
    }

    fn token(sub: &str, claims: &[(&str, &str)]) -> VerifiedIdentity {
        VerifiedIdentity {
            subject: sub.into(),
            claims: claims
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn issuer_names() {
        for ok in ["k8s", "gh-actions", "spire.prod_1", &"a".repeat(64)] {
            assert!(IssuerName::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "has space", "slash/", "é", &"a".repeat(65)] {
            assert!(IssuerName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn matching_table() {
        let creds = [
            cred("k8s", "system:serviceaccount:ns:a", &[]),
            cred(
                "gh",
                "repo:org/app:ref:refs/heads/main",
                &[("repository_id", "\"42\""), ("run_attempt", "1")],
            ),
        ];
        let cases: [(&str, VerifiedIdentity, Result<usize, CredentialMismatch>); 8] = [
            ("k8s", token("system:serviceaccount:ns:a", &[]), Ok(0)),
            (
                "k8s",
                token("system:serviceaccount:ns:A", &[]),
                Err(CredentialMismatch::Subject),
            ),
            (
                "k8s",
                token("system:serviceaccount:ns:a ", &[]),
                Err(CredentialMismatch::Subject),
            ),
            // The right subject under another issuer is no match.
            (
                "gh",
                token("system:serviceaccount:ns:a", &[]),
                Err(CredentialMismatch::Subject),
            ),
            (
                "gh",
                token(
                    "repo:org/app:ref:refs/heads/main",
                    &[
                        ("repository_id", "\"42\""),
                        ("run_attempt", "1"),
                        ("x", "2"),
                    ],
                ),
                Ok(1),
            ),
            // A pinned string "42" is not the number 42.
            (
                "gh",
                token(
                    "repo:org/app:ref:refs/heads/main",
                    &[("repository_id", "42"), ("run_attempt", "1")],
                ),
                Err(CredentialMismatch::Claim),
            ),
            (
                "gh",
                token(
                    "repo:org/app:ref:refs/heads/main",
                    &[("repository_id", "\"42\"")],
                ),
                Err(CredentialMismatch::Claim),
            ),
            (
                "gh",
                token(
                    "repo:org/app:ref:refs/heads/main",
                    &[("repository_id", "\"43\""), ("run_attempt", "1")],
                ),
                Err(CredentialMismatch::Claim),
            ),
        ];
        for (issuer, t, want) in cases {
            let got = match_credential(&creds, &name(issuer), &t)
                .map(|c| creds.iter().position(|x| x == c).unwrap_or(usize::MAX));
            assert_eq!(got, want, "{issuer} {t:?}");
        }
    }

    fn issuer(n: &str, iss: &str, kind: IssuerKind) -> TrustedIssuer {
        TrustedIssuer {
            name: name(n),
            issuer: iss.into(),
            kind,
            algorithms: vec!["ES256".into()],
            audience: "https://grantd".into(),
            max_lifetime_secs: 3600,
            single_use_jti: false,
        }
    }

    #[test]
    fn issuer_lookup_by_iss_or_trust_domain() {
        let f = Federation::new(vec![
            issuer("k8s", "https://k8s.example", IssuerKind::Oidc),
            issuer("spire", "spiffe://example.org", IssuerKind::Spiffe),
        ]);
        let found = |iss, sub, spiffe| f.issuer_of(iss, sub, spiffe).map(|i| i.name.as_str());
        assert_eq!(
            found(Some("https://k8s.example"), Some("x"), false),
            Some("k8s")
        );
        assert_eq!(found(Some("https://k8s.example/"), Some("x"), false), None);
        assert_eq!(found(Some("https://k8s.example"), Some("x"), true), None);
        assert_eq!(
            found(None, Some("spiffe://example.org/ns/a"), true),
            Some("spire")
        );
        // Trust domains compare whole: example.org is not example.org.evil.
        assert_eq!(found(None, Some("spiffe://example.org.evil/a"), true), None);
        assert_eq!(found(None, Some("spiffe://example.org"), true), None);
        // A SPIFFE issuer is never reached with jwt-bearer.
        assert_eq!(found(None, Some("spiffe://example.org/a"), false), None);
    }
}
