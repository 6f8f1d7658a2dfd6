//! The access token's claims (RFC 9068 profile), built from a grant. Encoding and signing are
//! an adapter's job; this is only the data.

use crate::dpop::Jkt;
use crate::ids::{ClientId, Jti, SessionId, UserId};
use crate::time::{Timestamp, Ttl};

/// Whose id goes into `sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectMode {
    /// The owning user (the seed's audit attribution); the client is named in `act.sub`.
    Owner,
    /// The client itself; no `act` claim.
    Client,
}

impl SubjectMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(SubjectMode::Owner),
            "client" => Some(SubjectMode::Client),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectMode::Owner => "owner",
            SubjectMode::Client => "client",
        }
    }
}

/// Who a token's `sub` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The owning user; the client is the RFC 8693 actor (`act.sub` = `client_id`).
    Owner(UserId),
    /// The client itself (`sub` = `client_id`, no `act`).
    Client,
}

/// Claims of an access token. `exp = iat + ttl` exactly; `nbf = iat`. Ids are typed: the
/// adapter that reads a token back parses them, so no use case parses a claim again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub subject: Subject,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Jti,
    pub client_id: ClientId,
    pub scope: String,
    pub session_id: SessionId,
    pub plugin_id: Option<String>,
    /// RFC 9449 §6.1 `cnf.jkt`: the thumbprint of the DPoP key the token is bound to.
    pub cnf_jkt: Option<Jkt>,
}

impl AccessTokenClaims {
    /// The `sub` claim: the owner's id, or the client's.
    pub fn sub(&self) -> &str {
        match &self.subject {
            Subject::Owner(owner) => owner.as_str(),
            Subject::Client => self.client_id.as_str(),
        }
    }

    /// The RFC 8693 `act.sub` claim: the client, when `sub` is the owner.
    pub fn act_sub(&self) -> Option<&ClientId> {
        match self.subject {
            Subject::Owner(_) => Some(&self.client_id),
            Subject::Client => None,
        }
    }

    /// Issue time and expiry for a token issued at `now`: whole seconds, `exp = iat + ttl`.
    pub fn times(now: Timestamp, ttl: Ttl) -> (i64, i64) {
        let iat = now.as_secs();
        (iat, iat + i64::from(ttl.secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_iat_plus_ttl_for_any_ttl() {
        let now = Timestamp::from_micros(1_700_000_000_999_999);
        for secs in [1u64, 59, 60, 61, 599, 3599, 3600, 3601, 86_400, 2_592_000] {
            let ttl = Ttl::from_secs(secs).unwrap();
            let (iat, exp) = AccessTokenClaims::times(now, ttl);
            assert_eq!(iat, 1_700_000_000);
            assert_eq!(exp - iat, secs as i64, "ttl {secs}");
        }
    }

    #[test]
    fn sub_and_act_follow_the_subject() {
        let owner = UserId::from_bytes([0xab; 16]);
        let mut c = AccessTokenClaims {
            iss: "https://issuer.test".into(),
            subject: Subject::Owner(owner.clone()),
            aud: vec![],
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: Jti::parse("j").unwrap(),
            client_id: ClientId::parse("svc").unwrap(),
            scope: String::new(),
            session_id: SessionId::from_bytes([0; 16]),
            plugin_id: None,
            cnf_jkt: None,
        };
        assert_eq!((c.sub(), c.act_sub()), (owner.as_str(), Some(&c.client_id)));
        c.subject = Subject::Client;
        assert_eq!((c.sub(), c.act_sub()), ("svc", None));
    }

    #[test]
    fn subject_modes() {
        assert_eq!(SubjectMode::parse("owner"), Some(SubjectMode::Owner));
        assert_eq!(SubjectMode::parse("client"), Some(SubjectMode::Client));
        assert_eq!(SubjectMode::parse("Owner"), None);
    }
}
