//! `[jwks_fetch]`: how keys published at a URL (a `private_key_jwt` client's `jwks_uri`) are
//! fetched and cached, checked into the adapter's `FetchPolicy`.

use std::time::Duration;

use anyhow::bail;
use grantd_jwks::FetchPolicy;
use serde::Deserialize;

use super::bounded_duration;

/// `[jwks_fetch]` as written; see the README for each key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwksFetchSection {
    pub timeout: String,
    pub max_bytes: u64,
    pub min_cache: String,
    pub max_cache: String,
    pub refetch_interval: String,
    pub stale_grace: String,
    pub allow_http_loopback: bool,
}

impl Default for JwksFetchSection {
    fn default() -> Self {
        Self {
            timeout: "5s".into(),
            max_bytes: 64 * 1024,
            min_cache: "5m".into(),
            max_cache: "24h".into(),
            refetch_interval: "10s".into(),
            stale_grace: "15m".into(),
            allow_http_loopback: false,
        }
    }
}

const SEC: Duration = Duration::from_secs(1);
const WEEK: Duration = Duration::from_secs(7 * 86_400);
/// A JWKS is a few keys: a kilobyte fits one, a mebibyte is far more than any publisher needs.
const MAX_BYTES: (u64, u64) = (1024, 1024 * 1024);

impl TryFrom<&JwksFetchSection> for FetchPolicy {
    type Error = anyhow::Error;

    fn try_from(s: &JwksFetchSection) -> anyhow::Result<Self> {
        let d = |key: &str, v: &str, min, max| bounded_duration(key, v, min, max);
        let timeout = d("jwks_fetch.timeout", &s.timeout, SEC / 10, 60 * SEC)?;
        let min_cache = d("jwks_fetch.min_cache", &s.min_cache, SEC, WEEK)?;
        let max_cache = d("jwks_fetch.max_cache", &s.max_cache, SEC, WEEK)?;
        if max_cache < min_cache {
            bail!("invalid `jwks_fetch.max_cache`: below `jwks_fetch.min_cache`");
        }
        if !(MAX_BYTES.0..=MAX_BYTES.1).contains(&s.max_bytes) {
            bail!(
                "invalid `jwks_fetch.max_bytes`: {} is out of range: must be between {} and {}",
                s.max_bytes,
                MAX_BYTES.0,
                MAX_BYTES.1
            );
        }
        Ok(FetchPolicy {
            timeout,
            max_bytes: usize::try_from(s.max_bytes)?,
            min_cache,
            max_cache,
            refetch_interval: d(
                "jwks_fetch.refetch_interval",
                &s.refetch_interval,
                Duration::ZERO,
                3600 * SEC,
            )?,
            stale_grace: d(
                "jwks_fetch.stale_grace",
                &s.stale_grace,
                Duration::ZERO,
                WEEK,
            )?,
            allow_http_loopback: s.allow_http_loopback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(edit: impl FnOnce(&mut JwksFetchSection)) -> anyhow::Result<FetchPolicy> {
        let mut s = JwksFetchSection::default();
        edit(&mut s);
        FetchPolicy::try_from(&s)
    }

    #[test]
    fn defaults_are_the_adapters_defaults() {
        assert_eq!(section(|_| {}).unwrap(), FetchPolicy::default());
    }

    #[test]
    fn values_out_of_range_are_refused_naming_the_key() {
        type Edit = fn(&mut JwksFetchSection);
        let cases: [(&str, Edit); 6] = [
            ("jwks_fetch.timeout", |s| s.timeout = "0s".into()),
            ("jwks_fetch.timeout", |s| s.timeout = "2m".into()),
            ("jwks_fetch.max_bytes", |s| s.max_bytes = 10),
            ("jwks_fetch.max_cache", |s| s.max_cache = "1m".into()),
            ("jwks_fetch.min_cache", |s| s.min_cache = "0s".into()),
            ("jwks_fetch.refetch_interval", |s| {
                s.refetch_interval = "2h".into();
            }),
        ];
        for (key, edit) in cases {
            let e = section(edit).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let ok = section(|s| {
            s.refetch_interval = "0s".into();
            s.stale_grace = "0s".into();
            s.min_cache = "1s".into();
            s.allow_http_loopback = true;
        })
        .unwrap();
        assert_eq!(ok.refetch_interval, Duration::ZERO);
        assert!(ok.allow_http_loopback);
    }
}
