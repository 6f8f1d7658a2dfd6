//! Sessions: the durable record behind every issued token (who asked, from where, for whom).

use std::net::IpAddr;

use crate::dpop::DpopBinding;
use crate::federation::SessionAuth;
use crate::ids::{ClientId, Jti, SessionId, UserId};
use crate::time::Timestamp;

/// Where a session came from. grantd writes `oauth` only; the type leaves room for others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionSource {
    Oauth,
}

impl SessionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionSource::Oauth => "oauth",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s == "oauth").then_some(SessionSource::Oauth)
    }
}

/// What the HTTP layer learned about the caller. Each text field is bounded and free of control
/// characters by the time it gets here (see [`RequestContext::clean`]); the address stays typed
/// until the store writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
    pub referer: Option<String>,
}

impl RequestContext {
    /// The longest value kept per field; longer ones are cut (on a char boundary).
    pub const MAX_FIELD: usize = 512;

    /// Normalises a header value for storage: drops control characters (NUL included, which
    /// Postgres text cannot hold), cuts it to [`Self::MAX_FIELD`] bytes, maps blank to `None`.
    pub fn clean(value: Option<&str>) -> Option<String> {
        let v = value?;
        let mut out = String::with_capacity(v.len().min(Self::MAX_FIELD));
        for c in v.chars().filter(|c| !c.is_control()) {
            if out.len() + c.len_utf8() > Self::MAX_FIELD {
                break;
            }
            out.push(c);
        }
        let trimmed = out.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == out.len() {
            Some(out)
        } else {
            Some(trimmed.to_owned())
        }
    }
}

/// A session row to write when a token is issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub source: SessionSource,
    pub jti: Jti,
    pub context: RequestContext,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The DPoP key the token is bound to and the proof that bound it; `None` for Bearer.
    pub dpop: Option<DpopBinding>,
    /// The `private_key_jwt` assertion's replay key (digest of client id and `jti`) when the
    /// client authenticated with one: unique across sessions, so an assertion buys one token.
    pub assertion_key: Option<String>,
    /// How the client authenticated (method; issuer and subject for federation). `None` on
    /// rows written before grantd recorded it.
    pub auth: Option<SessionAuth>,
}

/// A stored session, as listed or looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub session: NewSession,
    pub revoked_at: Option<Timestamp>,
    pub revoke_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_cleaning() {
        assert_eq!(RequestContext::clean(None), None);
        assert_eq!(RequestContext::clean(Some("   ")), None);
        assert_eq!(
            RequestContext::clean(Some("curl/8\u{0}\r\n")).as_deref(),
            Some("curl/8")
        );
        let long = "é".repeat(400);
        let cut = RequestContext::clean(Some(&long)).unwrap_or_default();
        assert!(
            cut.len() <= RequestContext::MAX_FIELD && cut.len() >= RequestContext::MAX_FIELD - 1
        );
    }
}
