//! A client's own rate and token quotas on the command line: the flags of `client create` and
//! `client update`, and how `client show` and `explain` print them.

use std::num::NonZeroU32;

use clap::Args;
use grantd_app::{LimitsChange, QuotaUsage};
use grantd_domain::{ClientLimits, ClientRate, TokenQuota};

/// `--rate-limit`, `--rate-burst`, `--quota-hour`, `--quota-day` of `client create`.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// The client's own token bucket, e.g. `50/s`, replacing the global per-client bucket.
    #[arg(long, value_parser = parse_rate)]
    rate_limit: Option<NonZeroU32>,
    /// Requests the bucket may save up (default: the rate).
    #[arg(long, requires = "rate_limit", value_parser = parse_count)]
    rate_burst: Option<NonZeroU32>,
    /// Tokens the client may be issued in any hour.
    #[arg(long, value_parser = parse_count)]
    quota_hour: Option<NonZeroU32>,
    /// Tokens the client may be issued in any day (24 hours).
    #[arg(long, value_parser = parse_count)]
    quota_day: Option<NonZeroU32>,
}

/// `client update`'s flags: the create flags, and a way to clear each.
#[derive(Debug, Args)]
pub struct LimitUpdateArgs {
    #[command(flatten)]
    set: LimitArgs,
    /// Back to the global per-client bucket.
    #[arg(long, conflicts_with = "rate_limit")]
    no_rate_limit: bool,
    /// No hourly quota.
    #[arg(long, conflicts_with = "quota_hour")]
    no_quota_hour: bool,
    /// No daily quota.
    #[arg(long, conflicts_with = "quota_day")]
    no_quota_day: bool,
}

fn parse_count(s: &str) -> Result<NonZeroU32, String> {
    s.trim()
        .parse::<NonZeroU32>()
        .map_err(|_| format!("{s:?} is not a whole number from 1 to {}", u32::MAX))
}

/// `50/s` or `50` (per second).
fn parse_rate(s: &str) -> Result<NonZeroU32, String> {
    parse_count(s.trim().strip_suffix("/s").unwrap_or(s))
        .map_err(|_| format!("{s:?} is not a rate: use N/s with N from 1 to {}", u32::MAX))
}

impl LimitArgs {
    fn rate(&self) -> Option<ClientRate> {
        self.rate_limit.map(|per_second| ClientRate {
            per_second,
            burst: self.rate_burst.unwrap_or(per_second),
        })
    }

    pub fn limits(&self) -> ClientLimits {
        ClientLimits {
            rate: self.rate(),
            quota: TokenQuota {
                per_hour: self.quota_hour,
                per_day: self.quota_day,
            },
        }
    }
}

impl LimitUpdateArgs {
    /// What to change; `None` when no limit flag was given.
    pub fn change(&self) -> Option<LimitsChange> {
        let clear_or = |clear: bool, set: Option<NonZeroU32>| {
            if clear { Some(None) } else { set.map(Some) }
        };
        let rate = if self.no_rate_limit {
            Some(None)
        } else {
            self.set.rate().map(Some)
        };
        let change = LimitsChange {
            rate,
            per_hour: clear_or(self.no_quota_hour, self.set.quota_hour),
            per_day: clear_or(self.no_quota_day, self.set.quota_day),
        };
        (change != LimitsChange::default()).then_some(change)
    }
}

/// The text lines of `client show` and `explain`.
pub fn lines(rate: Option<ClientRate>, usage: &[QuotaUsage]) -> Vec<String> {
    let mut out = vec![match rate {
        Some(r) => format!("rate_limit: {}/s, burst {}", r.per_second, r.burst),
        None => "rate_limit: global".to_owned(),
    }];
    if usage.is_empty() {
        out.push("quota: none".to_owned());
    }
    for u in usage {
        out.push(format!(
            "quota per {}: {} used of {}, {} remaining",
            u.window.as_str(),
            u.used,
            u.limit,
            u.remaining()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_counts_parse_strictly() {
        assert_eq!(parse_rate("50/s").unwrap().get(), 50);
        assert_eq!(parse_rate("7").unwrap().get(), 7);
        for bad in ["0/s", "-1", "50/m", "", "4294967296"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_count("0").is_err());
    }
}
