//! `RandomIds`: fresh session ids, jtis, user ids and client ids from aws-lc's CSPRNG.

use grantd_domain::{ClientId, Jti, SessionId, UserId};
use grantd_ports::IdSource;

use crate::random;

/// Prefix of generated client ids, so they are recognizable in logs and support requests.
const CLIENT_ID_PREFIX: &str = "cl_";

/// Implements `IdSource`. User and client ids carry 122–128 random bits. Session ids and jtis
/// are *time-ordered*: a 48-bit millisecond timestamp followed by 74–80 random bits (jti is a
/// UUIDv7). Neither is a bearer secret (the signed token is), they stay unique and
/// unguessable, and time order makes every insert land at the right edge of the session
/// table's primary-key and jti indexes instead of on a random page: at tens of thousands of
/// tokens per second that is the difference between rewriting a few pages per commit and
/// rewriting one page per row (and, on a table of millions of rows, between a cached and an
/// uncached B-tree).
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl RandomIds {
    pub fn new() -> RandomIds {
        RandomIds
    }
}

/// A random (version 4) UUID.
fn uuid_v4() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(random::bytes()).into_uuid()
}

/// Milliseconds since the Unix epoch, as the 48 bits UUIDv7 uses.
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A time-ordered (version 7) UUID: 48-bit milliseconds, then random bits.
fn uuid_v7() -> uuid::Uuid {
    uuid::Builder::from_unix_timestamp_millis(unix_millis(), &random::bytes::<10>()).into_uuid()
}

impl IdSource for RandomIds {
    fn session_id(&self) -> SessionId {
        // 6 bytes of big-endian milliseconds, then 10 random bytes.
        let mut bytes: [u8; 16] = random::bytes();
        bytes[..6].copy_from_slice(&unix_millis().to_be_bytes()[2..]);
        SessionId::from_bytes(bytes)
    }

    fn jti(&self) -> Jti {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid_v7().hyphenated().encode_lower(&mut buf);
        // A hyphenated UUID is 36 characters of [0-9a-f-]: always a valid jti.
        Jti::parse(text).unwrap_or_else(|e| unreachable!("UUID rejected as jti: {e}"))
    }

    fn user_id(&self) -> UserId {
        UserId::from_bytes(uuid_v4().into_bytes())
    }

    fn client_id(&self) -> ClientId {
        let id = format!(
            "{CLIENT_ID_PREFIX}{}",
            random::b64url(&random::bytes::<16>())
        );
        // "cl_" plus base64url: only unreserved URL characters, 25 long.
        ClientId::parse(&id).unwrap_or_else(|e| unreachable!("generated client id rejected: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_have_their_formats() {
        let ids = RandomIds::new();

        let s = ids.session_id();
        assert_eq!(SessionId::parse(s.as_str()), Ok(s.clone()));

        let j = ids.jti();
        let parsed = uuid::Uuid::parse_str(j.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(j.as_str(), j.as_str().to_ascii_lowercase());

        let u = ids.user_id();
        assert_eq!(UserId::parse(u.as_str()), Ok(u.clone()));
        assert_eq!(
            uuid::Uuid::parse_str(u.as_str()).unwrap().get_version_num(),
            4
        );

        let c = ids.client_id();
        assert!(c.as_str().starts_with("cl_"));
        assert_eq!(c.as_str().len(), 3 + 22);
        assert!(
            c.as_str()[3..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn session_ids_and_jtis_are_time_ordered() {
        let ids = RandomIds::new();
        let (s1, j1) = (ids.session_id(), ids.jti());
        std::thread::sleep(std::time::Duration::from_millis(3));
        let (s2, j2) = (ids.session_id(), ids.jti());
        assert!(s1 < s2, "{s1} !< {s2}");
        assert!(j1 < j2, "{j1} !< {j2}");
        // The first 12 hex digits are the current time in milliseconds.
        let ms = u64::from_str_radix(&s2.as_str()[5..17], 16).unwrap();
        let now = unix_millis();
        assert!(now >= ms && now - ms < 5_000, "{ms} vs {now}");
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids = RandomIds::new();
        let n = 1000;
        let sessions: HashSet<_> = (0..n).map(|_| ids.session_id()).collect();
        let jtis: HashSet<_> = (0..n).map(|_| ids.jti()).collect();
        let users: HashSet<_> = (0..n).map(|_| ids.user_id()).collect();
        let clients: HashSet<_> = (0..n).map(|_| ids.client_id()).collect();
        assert_eq!(
            [sessions.len(), jtis.len(), users.len(), clients.len()],
            [n; 4]
        );
    }
}
