//! `RandomIds`: fresh session ids, jtis, user ids and client ids from aws-lc's CSPRNG.

use grantd_domain::{ClientId, Jti, SessionId, UserId};
use grantd_ports::IdSource;

use crate::random;

/// Prefix of generated client ids, so they are recognizable in logs and support requests.
const CLIENT_ID_PREFIX: &str = "cl_";

/// Implements `IdSource`. Every id carries 122–128 random bits, so ids are unguessable and
/// collisions are not a practical concern.
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

impl IdSource for RandomIds {
    fn session_id(&self) -> SessionId {
        SessionId::from_bytes(random::bytes())
    }

    fn jti(&self) -> Jti {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid_v4().hyphenated().encode_lower(&mut buf);
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
        assert_eq!(parsed.get_version_num(), 4);
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
