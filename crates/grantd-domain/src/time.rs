//! Time as plain numbers: the domain never reads a clock, it is handed `now`.

use std::fmt;

/// A point in time, microseconds since the Unix epoch (UTC).
///
/// Microseconds because that is what Postgres `TIMESTAMP` keeps: a value survives a round trip
/// through either store unchanged.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded towards the past (what JWT `iat`/`exp` carry).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// This instant truncated to the whole second.
    pub const fn trunc_secs(self) -> Self {
        Self::from_secs(self.as_secs())
    }

    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1_000_000)))
    }

    pub const fn minus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_sub(secs.saturating_mul(1_000_000)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Timestamp({}.{:06})",
            self.as_secs(),
            self.0.rem_euclid(1_000_000)
        )
    }
}

/// Access-token lifetime in whole seconds, at least one.
///
/// `exp = iat + ttl` exactly: there is no rounding to hours or minutes anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttl(u32);

impl Ttl {
    /// The longest lifetime accepted: 30 days. A longer-lived bearer token is a liability, not a
    /// feature.
    pub const MAX_SECS: u32 = 30 * 24 * 3600;

    pub fn from_secs(secs: u64) -> Result<Self, String> {
        match u32::try_from(secs) {
            Ok(s) if (1..=Self::MAX_SECS).contains(&s) => Ok(Self(s)),
            _ => Err(format!(
                "access token lifetime must be between 1 and {} seconds, got {secs}",
                Self::MAX_SECS
            )),
        }
    }

    pub const fn secs(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_towards_the_past() {
        assert_eq!(Timestamp::from_micros(1_999_999).as_secs(), 1);
        assert_eq!(Timestamp::from_micros(-1).as_secs(), -1);
        assert_eq!(
            Timestamp::from_micros(2_500_000).trunc_secs(),
            Timestamp::from_secs(2)
        );
        assert_eq!(
            Timestamp::from_secs(10).plus_secs(5),
            Timestamp::from_secs(15)
        );
        assert_eq!(
            Timestamp::from_secs(10).minus_secs(5),
            Timestamp::from_secs(5)
        );
    }

    #[test]
    fn ttl_bounds() {
        for (secs, ok) in [
            (0, false),
            (1, true),
            (59, true),
            (3600, true),
            (2_592_000, true),
            (2_592_001, false),
            (u64::MAX, false),
        ] {
            assert_eq!(Ttl::from_secs(secs).is_ok(), ok, "ttl {secs}");
        }
        assert_eq!(Ttl::from_secs(90).map(Ttl::secs), Ok(90));
    }
}
