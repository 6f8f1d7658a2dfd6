//! Clients and their owners, as loaded from a store.

use std::fmt;
use std::num::NonZeroU32;

use crate::assertion::ClientKeys;
use crate::dpop::DpopPolicy;
use crate::ids::{ClientId, UserId};
use crate::scope::StoredScopes;
use crate::time::Timestamp;

/// How a client proves its identity at the token endpoint (RFC 6749 §2.3.1, RFC 8414 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// A platform token (Kubernetes service account, GitHub Actions, SPIFFE JWT-SVID) from a
    /// trusted issuer, matched to one of the client's federated credentials. On the wire it
    /// is `private_key_jwt` (or `jwt-spiffe`): [`AuthMethod::wire_name`].
    Federated,
}

impl AuthMethod {
    /// The RFC 8414 methods a client uses on the wire (what discovery lists).
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
    ];

    /// Every method a client can be registered with.
    pub const REGISTRABLE: [AuthMethod; 4] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::Federated,
    ];

    /// The registered name (`federated` is grantd's own; the others are RFC 8414's).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::Federated => "federated",
        }
    }

    /// The RFC 8414 name of what the client sends: a federated client sends a JWT assertion.
    pub fn wire_name(self) -> &'static str {
        match self {
            AuthMethod::Federated => AuthMethod::PrivateKeyJwt.as_str(),
            m => m.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::REGISTRABLE.into_iter().find(|m| m.as_str() == s)
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

/// A client's stored owner id. The database only ever receives user ids, but a row edited by
/// hand can hold anything; such a value is kept verbatim so an operator can see it, and the
/// client is then refused at the token endpoint as having no owner (`OwnerIdMalformed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerId {
    User(UserId),
    Malformed(String),
}

impl OwnerId {
    /// Parses a stored owner id; a value that is not a user id is kept as [`OwnerId::Malformed`].
    pub fn parse(stored: &str) -> Self {
        match UserId::parse(stored) {
            Ok(id) => OwnerId::User(id),
            Err(_) => OwnerId::Malformed(stored.to_owned()),
        }
    }

    /// The user id, if the stored value is one.
    pub fn user(&self) -> Option<&UserId> {
        match self {
            OwnerId::User(id) => Some(id),
            OwnerId::Malformed(_) => None,
        }
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            OwnerId::User(id) => id.as_str(),
            OwnerId::Malformed(s) => s,
        }
    }
}

impl From<UserId> for OwnerId {
    fn from(id: UserId) -> Self {
        OwnerId::User(id)
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client's registered grant types, parsed when it is loaded. A stored name grantd does not
/// implement (written by hand, or by a later version) allows nothing and is kept apart,
/// verbatim, for the operator to see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantTypes {
    known: Vec<GrantType>,
    unknown: Vec<String>,
}

impl GrantTypes {
    /// Parses stored names; repeats collapse.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Self {
        let mut out = GrantTypes::default();
        for item in items {
            match GrantType::parse(item.as_ref()) {
                Some(g) => {
                    if !out.known.contains(&g) {
                        out.known.push(g);
                    }
                }
                None => out.unknown.push(item.as_ref().to_owned()),
            }
        }
        out
    }

    pub fn known(&self) -> &[GrantType] {
        &self.known
    }

    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    pub fn contains(&self, grant: GrantType) -> bool {
        self.known.contains(&grant)
    }

    /// Every stored name, known ones first: what an operator sees and what is written back.
    pub fn names(&self) -> Vec<&str> {
        self.known
            .iter()
            .map(|g| g.as_str())
            .chain(self.unknown.iter().map(String::as_str))
            .collect()
    }
}

impl From<Vec<GrantType>> for GrantTypes {
    fn from(mut known: Vec<GrantType>) -> Self {
        let mut seen = Vec::with_capacity(known.len());
        known.retain(|g| {
            let first = !seen.contains(g);
            seen.push(*g);
            first
        });
        GrantTypes {
            known,
            unknown: Vec::new(),
        }
    }
}

/// A registered client, with its secrets, as parsed once by the store: owner id, provisioned
/// scopes and grant types are typed; stored values grantd cannot parse are kept apart (see
/// [`OwnerId`], [`StoredScopes`], [`GrantTypes`]) and grant nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub owner_id: OwnerId,
    pub scopes: StoredScopes,
    pub grant_types: GrantTypes,
    pub auth_method: AuthMethod,
    pub active: bool,
    pub secrets: Vec<ClientSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Its own rate and token quotas; the default is none (the global bucket, no quota).
    pub limits: ClientLimits,
    /// Whether its token requests must carry a DPoP proof (RFC 9449).
    pub dpop: DpopPolicy,
    /// Its registered public keys (`private_key_jwt`); empty for a secret-based client.
    pub keys: ClientKeys,
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(grant)
    }
}

/// A client's own token bucket: `per_second` refilled each second, at most `burst` held. It
/// replaces the global per-client bucket for that client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientRate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// The windows a token quota counts over: the last hour and the last day (sliding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaWindow {
    Hour,
    Day,
}

impl QuotaWindow {
    pub const ALL: [QuotaWindow; 2] = [QuotaWindow::Hour, QuotaWindow::Day];

    pub const fn secs(self) -> i64 {
        match self {
            QuotaWindow::Hour => 3_600,
            QuotaWindow::Day => 86_400,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            QuotaWindow::Hour => "hour",
            QuotaWindow::Day => "day",
        }
    }
}

/// Tokens a client may be issued per hour and per day; `None` is no limit for that window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenQuota {
    pub per_hour: Option<NonZeroU32>,
    pub per_day: Option<NonZeroU32>,
}

impl TokenQuota {
    pub fn limit(&self, window: QuotaWindow) -> Option<NonZeroU32> {
        match window {
            QuotaWindow::Hour => self.per_hour,
            QuotaWindow::Day => self.per_day,
        }
    }

    pub fn is_set(&self) -> bool {
        self.per_hour.is_some() || self.per_day.is_some()
    }

    /// The first window whose limit `used` (tokens issued in each window) has reached, if any.
    pub fn exhausted(&self, used: impl Fn(QuotaWindow) -> u64) -> Option<QuotaWindow> {
        QuotaWindow::ALL.into_iter().find(|&w| {
            self.limit(w)
                .is_some_and(|limit| used(w) >= u64::from(limit.get()))
        })
    }
}

/// What a client may consume beyond the global limits: an own rate, token quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientLimits {
    pub rate: Option<ClientRate>,
    pub quota: TokenQuota,
}

/// A user: the owner a client acts for. Its roles are delegated scopes, parsed against the
/// catalog when loaded (names the catalog no longer knows are kept apart and count for nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub roles: StoredScopes,
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
        for m in AuthMethod::REGISTRABLE {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(AuthMethod::parse("none"), None);
        assert_eq!(GrantType::parse("password"), None);
    }

    #[test]
    fn stored_values_grantd_cannot_parse_are_kept_apart() {
        let g = GrantTypes::parse(&["password", "client_credentials", "client_credentials"]);
        assert_eq!(g.known(), [GrantType::ClientCredentials]);
        assert_eq!(g.unknown(), ["password"]);
        assert_eq!(g.names(), ["client_credentials", "password"]);
        assert!(!GrantTypes::parse(&["password"]).contains(GrantType::ClientCredentials));

        let good = "7F9C24E8-3B12-4FEF-91E0-3A6B6B1C2D4E";
        let owner = OwnerId::parse(good);
        assert_eq!(owner.user(), UserId::parse(good).ok().as_ref());
        assert_eq!(owner.as_str(), good.to_ascii_lowercase());
        let bad = OwnerId::parse("owner-7");
        assert_eq!((bad.user(), bad.as_str()), (None, "owner-7"));
    }

    #[test]
    fn a_quota_is_exhausted_by_the_first_window_at_its_limit() {
        let n = |v| NonZeroU32::new(v);
        let q = TokenQuota {
            per_hour: n(10),
            per_day: n(50),
        };
        assert_eq!(q.exhausted(|_| 9), None);
        assert_eq!(q.exhausted(|_| 10), Some(QuotaWindow::Hour));
        let used = |w| if w == QuotaWindow::Day { 50 } else { 3 };
        assert_eq!(q.exhausted(used), Some(QuotaWindow::Day));
        let day_only = TokenQuota {
            per_hour: None,
            per_day: n(2),
        };
        assert_eq!(
            day_only.exhausted(|_| 1_000_000_000),
            Some(QuotaWindow::Day)
        );
        assert!(day_only.is_set());
        assert_eq!(TokenQuota::default().exhausted(|_| u64::MAX), None);
        assert!(!TokenQuota::default().is_set());
        assert_eq!(QuotaWindow::Day.secs(), 24 * QuotaWindow::Hour.secs());
    }
}
