//! The access token's claims (RFC 9068 profile), built from a grant. Encoding and signing are
//! an adapter's job; this is only the data.

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

/// Claims of an access token. `exp = iat + ttl` exactly; `nbf = iat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    pub session_id: String,
    pub plugin_id: Option<String>,
    /// RFC 8693 actor: `act.sub`, present when `sub` is the owner.
    pub act_sub: Option<String>,
}

impl AccessTokenClaims {
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
    fn subject_modes() {
        assert_eq!(SubjectMode::parse("owner"), Some(SubjectMode::Owner));
        assert_eq!(SubjectMode::parse("client"), Some(SubjectMode::Client));
        assert_eq!(SubjectMode::parse("Owner"), None);
    }
}
