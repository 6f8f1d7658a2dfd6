//! Federated workload identities: platform tokens (Kubernetes service-account tokens, GitHub
//! Actions OIDC tokens, SPIFFE JWT-SVIDs) checked against a trusted issuer's keys and policy,
//! with the `private_key_jwt` checks of [`crate::assertion`] (signature with the algorithm the
//! key pins, `aud`, `exp`, lifetime, `iat`/`nbf`).

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantd_domain::{
    AssertionRejection as R, AssertionTarget, ClientKeys, IssuerKind, Timestamp, TrustedIssuer,
    VerifiedIdentity,
};
use grantd_ports::{FederatedTokens, TokenPeek, VerifiedPlatformToken};
use serde_json::Value;

use crate::assertion::{MAX_JTI_LEN, ParsedKeys, check_audience, check_times, verify_signature};
use crate::dpop::{json_object, split};
use crate::jwk::JwsAlg;

/// The [`FederatedTokens`] port. An issuer's keys are parsed once per key, as a client's are
/// ([`ParsedKeys`]).
#[derive(Debug, Default)]
pub struct PlatformTokenVerifier {
    parsed: ParsedKeys,
}

impl FederatedTokens for PlatformTokenVerifier {
    fn peek(&self, token: &str) -> Result<TokenPeek, R> {
        let parts = split(token).map_err(|_| R::Malformed)?;
        let claims = json_object(parts.payload).map_err(|_| R::Malformed)?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        Ok(TokenPeek {
            iss: text(claims.get("iss")),
            sub: text(claims.get("sub")),
            kid: text(parts.header.get("kid")),
        })
    }

    fn check(
        &self,
        token: &str,
        issuer: &TrustedIssuer,
        keys: &ClientKeys,
        max_skew_secs: i64,
        now: Timestamp,
    ) -> Result<VerifiedPlatformToken, R> {
        let parts = split(token).map_err(|_| R::Malformed)?;
        let alg = parts.header.get("alg").and_then(Value::as_str);
        let allowed = alg.and_then(JwsAlg::parse).is_some_and(|a| {
            issuer
                .algorithms
                .iter()
                .any(|n| JwsAlg::parse(n) == Some(a))
        });
        if !allowed {
            return Err(R::UnsupportedAlgorithm);
        }
        verify_signature(&parts, keys, &self.parsed)?;
        let claims = json_object(parts.payload).map_err(|_| R::Malformed)?;
        let text = |n: &str| claims.get(n).and_then(Value::as_str);
        if issuer.kind == IssuerKind::Oidc && text("iss") != Some(issuer.issuer.as_str()) {
            return Err(R::UntrustedIssuer);
        }
        let subject = text("sub")
            .filter(|s| !s.is_empty() && issuer.claims_token(text("iss"), Some(s)))
            .ok_or(R::SubjectMismatch)?
            .to_owned();
        let target = AssertionTarget {
            issuer: &issuer.audience,
            token_endpoint: &issuer.audience,
            max_lifetime_secs: issuer.max_lifetime_secs,
            max_skew_secs,
        };
        check_audience(&claims, target)?;
        check_times(&claims, target, now.as_secs())?;
        let replay_key = if issuer.single_use_jti {
            let jti = text("jti")
                .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
                .ok_or(R::MissingJti)?;
            Some(replay_key(issuer.name.as_str(), jti))
        } else {
            None
        };
        let claims: BTreeMap<String, String> = claims
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        Ok(VerifiedPlatformToken {
            identity: VerifiedIdentity { subject, claims },
            replay_key,
        })
    }
}

/// base64url(SHA-256("federated:" issuer name "." jti)): a token of a single-use issuer buys
/// one grantd token, whichever client presents it; it never collides with a
/// `private_key_jwt` replay key (a client id has no colon... and the prefix differs).
fn replay_key(issuer: &str, jti: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"federated:");
    ctx.update(issuer.as_bytes());
    ctx.update(b".");
    ctx.update(jti.as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.finish())
}

#[cfg(test)]
mod tests;
