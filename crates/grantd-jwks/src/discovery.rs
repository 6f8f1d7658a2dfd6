//! OpenID Provider discovery for a trusted federation issuer configured without a `jwks_uri`:
//! `GET {issuer}/.well-known/openid-configuration`, the document's `issuer` must equal the
//! configured one (OIDC Discovery §4.3), and its `jwks_uri` is where the keys are.

use grantd_domain::{JwksFailure, JwksUri};

use crate::cache::FetchPolicy;
use crate::http::BuildError;

/// Finds `issuer`'s `jwks_uri` under the same rules as a JWKS fetch: the scheme rule (http
/// only to loopback, when allowed), no redirects, the timeout and size cap, `200` + JSON.
pub async fn discover_jwks_uri(issuer: &str, policy: &FetchPolicy) -> Result<JwksUri, JwksFailure> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let parsed = JwksUri::parse(&url).map_err(|_| JwksFailure::NotAllowed)?;
    parsed
        .usable(policy.allow_http_loopback)
        .map_err(|_| JwksFailure::NotAllowed)?;
    let client = client(policy).map_err(|e| {
        tracing::warn!(issuer, error = %e, "discovery client");
        JwksFailure::Unreachable
    })?;
    let response = client.get(&url).send().await.map_err(|e| {
        tracing::warn!(issuer, error = %e, "issuer discovery unreachable");
        JwksFailure::Unreachable
    })?;
    if response.status().as_u16() != 200 {
        tracing::warn!(
            issuer,
            status = response.status().as_u16(),
            "issuer discovery: not 200"
        );
        return Err(JwksFailure::Status);
    }
    let body = response
        .bytes()
        .await
        .map_err(|_| JwksFailure::Unreachable)?;
    if body.len() > policy.max_bytes {
        return Err(JwksFailure::TooLarge);
    }
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|_| JwksFailure::NotJson)?;
    let named = doc.get("issuer").and_then(serde_json::Value::as_str);
    if named.map(|s| s.trim_end_matches('/')) != Some(issuer.trim_end_matches('/')) {
        tracing::warn!(
            issuer,
            "issuer discovery: the document names another issuer"
        );
        return Err(JwksFailure::Invalid);
    }
    let jwks = doc
        .get("jwks_uri")
        .and_then(serde_json::Value::as_str)
        .ok_or(JwksFailure::Invalid)?;
    let uri = JwksUri::parse(jwks).map_err(|_| JwksFailure::Invalid)?;
    uri.usable(policy.allow_http_loopback)
        .map_err(|_| JwksFailure::NotAllowed)?;
    Ok(uri)
}

fn client(policy: &FetchPolicy) -> Result<reqwest::Client, BuildError> {
    Ok(reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("grantd/", env!("CARGO_PKG_VERSION"), " discovery"))
        .build()?)
}
