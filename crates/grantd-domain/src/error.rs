//! The ways a token request can be refused, partitioned by RFC 6749 §5.2 error code (plus
//! RFC 8707's `invalid_target`). Each variant carries what a precise description needs.
//!
//! Only *refusals* live here. "A dependency is unavailable" and "something internal broke" are
//! not domain outcomes; the app layer adds them beside this enum.

use std::fmt;

use crate::dpop::ProofRejection;

/// A refused request, by OAuth error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainError {
    InvalidRequest(InvalidRequest),
    InvalidClient(ClientRejection),
    UnauthorizedClient {
        grant_type: String,
    },
    UnsupportedGrantType(String),
    InvalidScope(ScopeProblem),
    InvalidTarget(TargetProblem),
    /// A DPoP proof was presented and refused (RFC 9449 §4.3).
    InvalidDpopProof(ProofRejection),
    /// The proof needs a server nonce (RFC 9449 §8): the answer carries `nonce` in `DPoP-Nonce`.
    UseDpopNonce {
        nonce: String,
    },
}

/// Why a request is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidRequest {
    MissingParameter(&'static str),
    RepeatedParameter(String),
    InvalidParameter {
        name: &'static str,
        reason: String,
    },
    AudienceResourceConflict,
    MultipleClientAuthMethods,
    CredentialsInQuery,
    /// The client's policy requires a DPoP proof and the request has none.
    DpopProofRequired,
    Body(String),
}

/// Why client authentication failed. Every variant answers the client identically
/// (`invalid_client`, one fixed description): the reason is for the operator's log only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRejection {
    NoCredentials,
    MalformedClientId,
    UnknownClient,
    ClientDisabled,
    WrongSecret,
    AuthMethodNotRegistered {
        registered: &'static str,
        used: &'static str,
    },
    OwnerMissing,
    OwnerInactive,
    OwnerIdMalformed,
    /// A `private_key_jwt` assertion failed a check.
    BadAssertion(crate::assertion::AssertionRejection),
}

/// Why no (acceptable) scope could be granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeProblem {
    /// A token outside RFC 6749 §3.3's character set.
    Malformed(String),
    /// Tokens separated by something other than a space (%x20): tab, CR or LF.
    Separator(char),
    /// A token the catalog does not know.
    Unknown(String),
    NotInClientGrant(Vec<String>),
    NotHeldByOwner(Vec<String>),
    NoneRequested,
    /// Granted scopes that need an audience the token does not carry.
    AudienceRequired {
        scopes: Vec<String>,
        audience: String,
    },
}

/// Why the requested audience/resource is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetProblem {
    NotAllowed(String),
    MultipleResources,
    ResourceNotAbsoluteUri(String),
}

/// Longest piece of caller input echoed back in a description.
const ECHO_MAX: usize = 64;

fn echo(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(ECHO_MAX)
        .collect();
    // ASCII, so a cut echo stays within RFC 6749 §5.2's description characters.
    if s.chars().count() > ECHO_MAX {
        out.push_str("...");
    }
    out
}

/// A refused scope separator, named so a caller can find it (it is invisible in most tools).
fn separator_name(c: char) -> String {
    match c {
        '\t' => "tab (%x09)".to_owned(),
        '\n' => "line feed (%x0A)".to_owned(),
        '\r' => "carriage return (%x0D)".to_owned(),
        other => format!("U+{:04X}", u32::from(other)),
    }
}

impl DomainError {
    /// The RFC error code.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidRequest(_) => "invalid_request",
            DomainError::InvalidClient(_) => "invalid_client",
            DomainError::UnauthorizedClient { .. } => "unauthorized_client",
            DomainError::UnsupportedGrantType(_) => "unsupported_grant_type",
            DomainError::InvalidScope(_) => "invalid_scope",
            DomainError::InvalidTarget(_) => "invalid_target",
            DomainError::InvalidDpopProof(_) => "invalid_dpop_proof",
            DomainError::UseDpopNonce { .. } => "use_dpop_nonce",
        }
    }

    /// The `error_description` a caller may see. Never names why client authentication
    /// failed, never echoes more than a short, control-free piece of input.
    pub fn description(&self) -> String {
        match self {
            DomainError::InvalidRequest(r) => match r {
                InvalidRequest::MissingParameter(p) => format!("missing parameter: {p}"),
                InvalidRequest::RepeatedParameter(p) => format!("parameter repeated: {}", echo(p)),
                InvalidRequest::InvalidParameter { name, reason } => {
                    format!("invalid {name}: {reason}")
                }
                InvalidRequest::AudienceResourceConflict => {
                    "audience and resource name different targets".to_owned()
                }
                InvalidRequest::MultipleClientAuthMethods => {
                    "more than one client authentication method used".to_owned()
                }
                InvalidRequest::CredentialsInQuery => {
                    "client credentials must not be sent in the query string".to_owned()
                }
                InvalidRequest::DpopProofRequired => {
                    "this client must present a DPoP proof (DPoP header)".to_owned()
                }
                InvalidRequest::Body(reason) => reason.clone(),
            },
            DomainError::InvalidClient(_) => "client authentication failed".to_owned(),
            DomainError::UnauthorizedClient { grant_type } => {
                format!(
                    "client is not registered for grant type {}",
                    echo(grant_type)
                )
            }
            DomainError::UnsupportedGrantType(g) => format!("unsupported grant type: {}", echo(g)),
            DomainError::InvalidScope(p) => match p {
                ScopeProblem::Malformed(t) => format!("malformed scope: {}", echo(t)),
                ScopeProblem::Separator(c) => format!(
                    "scope tokens must be separated by spaces (%x20), found {}",
                    separator_name(*c)
                ),
                ScopeProblem::Unknown(t) => format!("unknown scope: {}", echo(t)),
                ScopeProblem::NotInClientGrant(s) => {
                    format!("requested scopes not in client grant: {}", s.join(" "))
                }
                ScopeProblem::NotHeldByOwner(s) => {
                    format!("delegated scopes not held by owner: {}", s.join(" "))
                }
                ScopeProblem::NoneRequested => "no scopes requested".to_owned(),
                ScopeProblem::AudienceRequired { scopes, audience } => {
                    if audience == "hook" && scopes.iter().all(|s| s.starts_with("hook:")) {
                        format!("hook scopes require audience=hook ({})", scopes.join(" "))
                    } else {
                        format!("scopes {} require audience={audience}", scopes.join(" "))
                    }
                }
            },
            DomainError::InvalidDpopProof(r) => r.description().to_owned(),
            DomainError::UseDpopNonce { .. } => {
                ProofRejection::NonceRequired.description().to_owned()
            }
            DomainError::InvalidTarget(p) => match p {
                TargetProblem::NotAllowed(a) => format!("audience not allowed: {}", echo(a)),
                TargetProblem::MultipleResources => "more than one resource requested".to_owned(),
                TargetProblem::ResourceNotAbsoluteUri(r) => {
                    format!(
                        "resource must be an absolute URI without fragment: {}",
                        echo(r)
                    )
                }
            },
        }
    }
}

impl fmt::Display for DomainError {
    /// For logs: the code, the public description and, for `invalid_client`, the private reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::InvalidClient(reason) => write!(f, "invalid_client: {reason:?}"),
            other => write!(f, "{}: {}", other.code(), other.description()),
        }
    }
}

impl std::error::Error for DomainError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_descriptions() {
        let cases: Vec<(DomainError, &str, &str)> = vec![
            (
                DomainError::InvalidRequest(InvalidRequest::MissingParameter("grant_type")),
                "invalid_request",
                "missing parameter: grant_type",
            ),
            (
                DomainError::InvalidClient(ClientRejection::WrongSecret),
                "invalid_client",
                "client authentication failed",
            ),
            (
                DomainError::InvalidClient(ClientRejection::UnknownClient),
                "invalid_client",
                "client authentication failed",
            ),
            (
                DomainError::UnauthorizedClient {
                    grant_type: "client_credentials".into(),
                },
                "unauthorized_client",
                "client is not registered for grant type client_credentials",
            ),
            (
                DomainError::UnsupportedGrantType("password".into()),
                "unsupported_grant_type",
                "unsupported grant type: password",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::NotInClientGrant(vec![
                    "admin".into(),
                    "mcp".into(),
                ])),
                "invalid_scope",
                "requested scopes not in client grant: admin mcp",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::NotHeldByOwner(vec!["user".into()])),
                "invalid_scope",
                "delegated scopes not held by owner: user",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::Separator('\t')),
                "invalid_scope",
                "scope tokens must be separated by spaces (%x20), found tab (%x09)",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::Separator('\n')),
                "invalid_scope",
                "scope tokens must be separated by spaces (%x20), found line feed (%x0A)",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::Separator('\r')),
                "invalid_scope",
                "scope tokens must be separated by spaces (%x20), found carriage return (%x0D)",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::NoneRequested),
                "invalid_scope",
                "no scopes requested",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::AudienceRequired {
                    scopes: vec!["hook:track".into()],
                    audience: "hook".into(),
                }),
                "invalid_scope",
                "hook scopes require audience=hook (hook:track)",
            ),
            (
                DomainError::InvalidScope(ScopeProblem::AudienceRequired {
                    scopes: vec!["orders:read".into()],
                    audience: "orders".into(),
                }),
                "invalid_scope",
                "scopes orders:read require audience=orders",
            ),
            (
                DomainError::InvalidDpopProof(ProofRejection::Replayed),
                "invalid_dpop_proof",
                "DPoP proof was already used",
            ),
            (
                DomainError::UseDpopNonce { nonce: "n".into() },
                "use_dpop_nonce",
                "authorization server requires nonce in DPoP proof",
            ),
            (
                DomainError::InvalidRequest(InvalidRequest::DpopProofRequired),
                "invalid_request",
                "this client must present a DPoP proof (DPoP header)",
            ),
            (
                DomainError::InvalidTarget(TargetProblem::MultipleResources),
                "invalid_target",
                "more than one resource requested",
            ),
        ];
        for (err, code, desc) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.description(), desc);
        }
    }

    #[test]
    fn echoed_input_is_short_and_control_free() {
        let long = "x".repeat(1000);
        let d = DomainError::InvalidScope(ScopeProblem::Unknown(long)).description();
        assert!(d.len() < 100, "{d}");
        let d =
            DomainError::InvalidScope(ScopeProblem::Malformed("a\u{1}\nb".into())).description();
        assert_eq!(d, "malformed scope: ab");
    }

    #[test]
    fn invalid_client_reason_only_in_display() {
        let e = DomainError::InvalidClient(ClientRejection::OwnerInactive);
        assert!(e.to_string().contains("OwnerInactive"));
        assert!(!e.description().contains("Owner"));
    }
}
