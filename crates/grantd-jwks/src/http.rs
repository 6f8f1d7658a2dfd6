//! One fetch of a JWK Set over HTTP(S) with reqwest (rustls): the scheme rule, no redirects,
//! the timeout, the size cap, `200` and a JSON `Content-Type` only, the `max-age`.

use std::time::Duration;

use async_trait::async_trait;
use grantd_domain::{ClientKeys, JwksFailure, JwksUri};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap};

use crate::cache::FetchPolicy;

/// A fetched, checked set and how long its publisher says it may be kept.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) keys: ClientKeys,
    /// `Cache-Control: max-age`; `Some(0)` for `no-cache`/`no-store`, `None` without either.
    pub(crate) max_age: Option<Duration>,
}

/// Where sets come from: HTTP in production, a script in the cache's tests.
#[async_trait]
pub(crate) trait Source: Send + Sync {
    async fn fetch(&self, uri: &JwksUri) -> Result<Fetched, JwksFailure>;
}

/// The HTTP client could not be built (no TLS roots, …): a start-up error.
#[derive(Debug, thiserror::Error)]
#[error("building the JWKS HTTP client: {0}")]
pub struct BuildError(#[from] reqwest::Error);

pub(crate) struct HttpSource {
    client: reqwest::Client,
    max_bytes: usize,
    allow_http_loopback: bool,
}

impl HttpSource {
    pub(crate) fn new(policy: &FetchPolicy) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            // A redirect could lead anywhere (http, another host): the URL registered is the
            // one fetched, and a 3xx is an answer other than 200.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("grantd/", env!("CARGO_PKG_VERSION"), " jwks-fetch"))
            .build()?;
        Ok(Self {
            client,
            max_bytes: policy.max_bytes,
            allow_http_loopback: policy.allow_http_loopback,
        })
    }
}

#[async_trait]
impl Source for HttpSource {
    async fn fetch(&self, uri: &JwksUri) -> Result<Fetched, JwksFailure> {
        let url = uri.as_str();
        if uri.usable(self.allow_http_loopback).is_err() {
            tracing::warn!(
                url,
                "jwks_uri refused: http while allow_http_loopback is off"
            );
            return Err(JwksFailure::NotAllowed);
        }
        let mut response = self.client.get(url).send().await.map_err(|e| {
            tracing::warn!(url, error = %e, "jwks_uri unreachable");
            JwksFailure::Unreachable
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            tracing::warn!(url, status, "jwks_uri answered other than 200");
            return Err(JwksFailure::Status);
        }
        if !is_json(response.headers()) {
            tracing::warn!(url, "jwks_uri answered a Content-Type that is not JSON");
            return Err(JwksFailure::NotJson);
        }
        let max_age = max_age(response.headers());
        let too_large = |size: u64| {
            tracing::warn!(
                url,
                size,
                max_bytes = self.max_bytes,
                "jwks_uri body too large"
            );
            JwksFailure::TooLarge
        };
        if let Some(len) = response.content_length()
            && len > self.max_bytes as u64
        {
            return Err(too_large(len));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            tracing::warn!(url, error = %e, "jwks_uri body broke off");
            JwksFailure::Unreachable
        })? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| JwksFailure::Invalid)?;
        let (keys, skipped) = grantd_jwt::parse_remote_jwks(text).map_err(|e| {
            tracing::warn!(url, problem = %e, "jwks_uri served an unusable JWKS");
            JwksFailure::Invalid
        })?;
        if skipped > 0 {
            tracing::info!(
                url,
                skipped,
                "jwks_uri: keys grantd cannot use were skipped"
            );
        }
        Ok(Fetched { keys, max_age })
    }
}

/// `application/json`, `application/jwk-set+json` or any `…+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The `max-age` of every `Cache-Control` header (the smallest if repeated); `no-cache` or
/// `no-store` count as 0.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut age: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            let this = if directive == "no-cache" || directive == "no-store" {
                Some(0)
            } else {
                directive
                    .strip_prefix("max-age=")
                    .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
            };
            if let Some(n) = this {
                age = Some(age.map_or(n, |a| a.min(n)));
            }
        }
    }
    age.map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn json_content_types_are_recognised() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JWK-Set+JSON",
        ] {
            assert!(is_json(&headers(&[(CONTENT_TYPE, ok)])), "{ok}");
        }
        for bad in [
            "text/html",
            "text/json+html",
            "application/jsonp",
            "text/plain",
        ] {
            assert!(!is_json(&headers(&[(CONTENT_TYPE, bad)])), "{bad}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let secs = |v: &[&str]| {
            let pairs: Vec<_> = v.iter().map(|s| (CACHE_CONTROL, *s)).collect();
            max_age(&headers(&pairs)).map(|d| d.as_secs())
        };
        assert_eq!(secs(&["public, max-age=600"]), Some(600));
        assert_eq!(secs(&["MAX-AGE=60, must-revalidate"]), Some(60));
        assert_eq!(secs(&["max-age=600", "no-cache"]), Some(0));
        assert_eq!(secs(&["no-store"]), Some(0));
        assert_eq!(secs(&["public"]), None);
        assert_eq!(secs(&["max-age=abc"]), None);
        assert_eq!(secs(&[]), None);
    }
}
