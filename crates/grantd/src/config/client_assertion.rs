//! `[client_assertion]`: how `private_key_jwt` assertions (RFC 7523) are bounded, and the rule
//! tying those bounds to how long session rows (which hold each assertion's replay key) live.

use std::time::Duration;

use anyhow::bail;
use grantd_app::AssertionLimits;
use serde::Deserialize;

use super::bounded_duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAssertionSection {
    /// Longest lifetime of an assertion (`exp − iat`, or `exp − now` without `iat`).
    pub max_lifetime: String,
    /// How far ahead of the server's clock an assertion's `iat`/`nbf` may be.
    pub max_skew: String,
}

impl Default for ClientAssertionSection {
    fn default() -> Self {
        let d = AssertionLimits::default();
        Self {
            max_lifetime: format!("{}s", d.max_lifetime.as_secs()),
            max_skew: format!("{}s", d.max_skew.as_secs()),
        }
    }
}

/// An assertion lifetime: from one second to one hour (RFC 7523 asks for short-lived ones).
const MAX_LIFETIME: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// Clock skew tolerated ahead of the server: up to five minutes.
const MAX_SKEW: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(300));

impl TryFrom<&ClientAssertionSection> for AssertionLimits {
    type Error = anyhow::Error;

    fn try_from(s: &ClientAssertionSection) -> anyhow::Result<Self> {
        Ok(Self {
            max_lifetime: bounded_duration(
                "client_assertion.max_lifetime",
                &s.max_lifetime,
                MAX_LIFETIME.0,
                MAX_LIFETIME.1,
            )?,
            max_skew: bounded_duration(
                "client_assertion.max_skew",
                &s.max_skew,
                MAX_SKEW.0,
                MAX_SKEW.1,
            )?,
        })
    }
}

/// An accepted assertion's replay key is its token's session row, kept for the token's
/// lifetime plus `[sessions] retention` past its expiry; the assertion itself stays presentable
/// for up to `max_lifetime + max_skew` after it was accepted. A row purged before then would
/// let the same assertion buy a second token, so such a configuration does not start.
pub fn check_replay_memory(
    limits: AssertionLimits,
    token_ttl: Duration,
    retention: Duration,
) -> anyhow::Result<()> {
    let kept = token_ttl.saturating_add(retention);
    let needed = limits.replay_window();
    if kept < needed {
        bail!(
            "invalid `client_assertion.max_lifetime`: an accepted assertion stays presentable for \
             up to {} (max_lifetime + max_skew), but its replay key lives in the session row, \
             kept only {} (token.access_token_ttl + sessions.retention); raise \
             `sessions.retention` or `token.access_token_ttl`, or lower \
             `client_assertion.max_lifetime`",
            humantime::format_duration(needed),
            humantime::format_duration(kept),
        );
    }
    Ok(())
}
