//! Typed identifiers. Each has a private field and a fallible constructor, so a value of the
//! type is always well-formed (parse, don't validate).

use std::fmt;

/// Why a string is not a valid identifier of some kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for IdError {}

/// RFC 3986 "unreserved" characters: safe in URLs, headers and logs without escaping.
fn is_url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn parse_url_safe(kind: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError {
            kind,
            reason: "empty",
        });
    }
    if s.len() > max {
        return Err(IdError {
            kind,
            reason: "too long",
        });
    }
    if !s.bytes().all(is_url_safe) {
        return Err(IdError {
            kind,
            reason: "only A-Z a-z 0-9 - . _ ~ are allowed",
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A registered client's id: opaque, 1–128 URL-safe characters, compared case-sensitively.
    ClientId
);
string_id!(
    /// A user (client owner) id: a UUID in canonical lowercase hyphenated form.
    UserId
);
string_id!(
    /// A session id: `sess_` followed by 32 lowercase hex digits.
    SessionId
);
string_id!(
    /// A JWT id (`jti`): 1–128 URL-safe characters (grantd issues UUIDs).
    Jti
);
string_id!(
    /// A signing key id (`kid`): 1–128 URL-safe characters.
    Kid
);

impl ClientId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_url_safe("client id", s, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

impl Jti {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_url_safe("jti", s, 128)?;
        Ok(Self(s.to_owned()))
    }
}

impl Kid {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_url_safe("kid", s, 128)?;
        Ok(Self(s.to_owned()))
    }
}

impl UserId {
    /// Accepts a UUID in hyphenated form, any case; stores it lowercase.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: &str = "user id";
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(IdError {
                kind: KIND,
                reason: "not a UUID (8-4-4-4-12 hex digits)",
            });
        }
        for (i, &c) in b.iter().enumerate() {
            let ok = match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_hexdigit(),
            };
            if !ok {
                return Err(IdError {
                    kind: KIND,
                    reason: "not a UUID (8-4-4-4-12 hex digits)",
                });
            }
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// Builds the canonical form from 16 raw bytes (used by id sources).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let h = hex(&bytes);
        Self(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }
}

impl SessionId {
    pub const PREFIX: &'static str = "sess_";

    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: &str = "session id";
        let Some(rest) = s.strip_prefix(Self::PREFIX) else {
            return Err(IdError {
                kind: KIND,
                reason: "must start with sess_",
            });
        };
        if rest.len() != 32
            || !rest
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err(IdError {
                kind: KIND,
                reason: "must be sess_ and 32 lowercase hex digits",
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds a session id from 16 random bytes (used by id sources).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(format!("{}{}", Self::PREFIX, hex(&bytes)))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        let cases: &[(&str, bool)] = &[
            ("svc-a", true),
            ("A.b_c~d-9", true),
            ("", false),
            ("has space", false),
            ("colon:no", false),
            ("slash/no", false),
            ("ünicode", false),
            (&"x".repeat(128), true),
            (&"x".repeat(129), false),
        ];
        for (s, ok) in cases {
            assert_eq!(ClientId::parse(s).is_ok(), *ok, "{s:?}");
        }
        // Case-sensitive: two ids differing in case are different ids.
        assert_ne!(ClientId::parse("Svc").ok(), ClientId::parse("svc").ok());
    }

    #[test]
    fn user_ids() {
        let good = "7F9C24E8-3B12-4FEF-91E0-3A6B6B1C2D4E";
        assert_eq!(
            UserId::parse(good).map(|u| u.into_string()),
            Ok(good.to_ascii_lowercase())
        );
        for bad in [
            "",
            "not-a-uuid",
            "7f9c24e83b124fef91e03a6b6b1c2d4e",
            "7f9c24e8-3b12-4fef-91e0-3a6b6b1c2d4g",
            "7f9c24e8-3b12-4fef-91e0+3a6b6b1c2d4e",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
        let u = UserId::from_bytes([0xab; 16]);
        assert_eq!(u.as_str(), "abababab-abab-abab-abab-abababababab");
        assert_eq!(UserId::parse(u.as_str()), Ok(u));
    }

    #[test]
    fn session_ids() {
        let s = SessionId::from_bytes([0x0f; 16]);
        assert_eq!(s.as_str(), "sess_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f");
        assert_eq!(SessionId::parse(s.as_str()), Ok(s));
        for bad in [
            "sess_",
            "sess_0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F",
            "ses_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
            "sess_0f0f",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_names_the_kind() {
        let id = ClientId::parse("abc").map(|c| format!("{c:?}"));
        assert_eq!(id.as_deref(), Ok("ClientId(\"abc\")"));
    }
}
