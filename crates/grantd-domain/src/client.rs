//! Clients and their owners, as loaded from a store.

use std::fmt;

use crate::ids::{ClientId, UserId};
use crate::time::Timestamp;

/// How a client proves its identity at the token endpoint (RFC 6749 §2.3.1, RFC 8414 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 2] = [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Grant types grantd implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 1] = [GrantType::ClientCredentials];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored secret of a client. `hash` is self-describing (algorithm, parameters, digest);
/// the plaintext is never stored. `valid_until = None` is a current secret; a rotated-out
/// secret keeps working until its `valid_until` (the grace period).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret {
    pub hash: String,
    pub created_at: Timestamp,
    pub valid_until: Option<Timestamp>,
}

impl ClientSecret {
    /// Whether this secret may authenticate a request at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

impl fmt::Debug for ClientSecret {
    /// The hash is not a secret in the strict sense, but it is an offline-attack target: keep it
    /// out of logs too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

/// A registered client, with its secrets.
///
/// `owner_id`, `scopes` and `grant_types` are kept as stored: the use case parses them (the
/// owner id strictly, scopes leniently against the catalog in force).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub owner_id: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub auth_method: AuthMethod,
    pub active: bool,
    pub secrets: Vec<ClientSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.iter().any(|g| g == grant.as_str())
    }
}

/// A user: the owner a client acts for. Its roles are delegated scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_validity_window() {
        let s = |until: Option<i64>| ClientSecret {
            hash: "h".into(),
            created_at: Timestamp::from_secs(0),
            valid_until: until.map(Timestamp::from_secs),
        };
        let now = Timestamp::from_secs(100);
        assert!(s(None).is_valid_at(now));
        assert!(s(Some(101)).is_valid_at(now));
        assert!(!s(Some(100)).is_valid_at(now), "valid_until is exclusive");
        assert!(!s(Some(99)).is_valid_at(now));
    }

    #[test]
    fn secret_hash_is_redacted_in_debug() {
        let s = ClientSecret {
            hash: "hmac$TOPSECRET".into(),
            created_at: Timestamp::from_secs(0),
            valid_until: None,
        };
        assert!(!format!("{s:?}").contains("TOPSECRET"));
    }

    #[test]
    fn names_round_trip() {
        for m in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(AuthMethod::parse("none"), None);
        assert_eq!(GrantType::parse("password"), None);
    }
}
