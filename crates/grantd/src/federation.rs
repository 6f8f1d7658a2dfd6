//! Federated workload identities in the binary: the `[federation]` section (trusted issuers)
//! and the [`IssuerKeys`] adapter that finds each issuer's keys through the shared JWKS
//! fetcher ([`RemoteKeys`]: caching, single flight, rate-limited refetch), discovering the
//! `jwks_uri` from the issuer when none is configured.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use grantd_domain::{ClientKeys, Federation, IssuerKind, IssuerName, JwksUri, TrustedIssuer};
use grantd_jwks::FetchPolicy;
use grantd_ports::{IssuerKeys, IssuerKeysError, KeysWanted, RemoteKeys};
use serde::Deserialize;
use tokio::sync::OnceCell;

/// `[federation]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSection {
    /// Whether an issuer's `jwks_uri` (or discovery URL) may be `http://` to loopback: for
    /// tests and local development only.
    pub allow_http_loopback: bool,
    pub issuers: Vec<IssuerEntry>,
}

/// One `[[federation.issuers]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerEntry {
    pub name: String,
    /// The `iss` of its tokens (`kind = "oidc"`), or the trust domain `spiffe://example.org`.
    pub issuer: String,
    #[serde(default = "oidc")]
    pub kind: String,
    /// Where its keys are; without it, discovered from `issuer` (OIDC only).
    pub jwks_uri: Option<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The `aud` its tokens must carry; default: grantd's issuer.
    pub audience: Option<String>,
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: String,
    #[serde(default)]
    pub single_use_jti: bool,
}

fn oidc() -> String {
    "oidc".into()
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

fn default_max_lifetime() -> String {
    "1h".into()
}

/// The algorithms an issuer may be trusted with (never `none` or HS*).
const ALGORITHMS: [&str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Where one issuer's keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Uri(JwksUri),
    /// `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discover(String),
}

/// One trusted issuer, checked; its audience still `None` when it defaults to grantd's issuer
/// (known for sure only once `serve` has bound).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerSettings {
    pub trusted: TrustedIssuer,
    pub audience: Option<String>,
    pub keys: KeySource,
}

/// `[federation]`, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FederationSettings {
    pub allow_http_loopback: bool,
    pub issuers: Vec<IssuerSettings>,
}

impl FederationSettings {
    /// The trusted issuers, a default audience resolved to grantd's `issuer`.
    pub fn federation(&self, grantd_issuer: &str) -> Federation {
        Federation::new(
            self.issuers
                .iter()
                .map(|i| TrustedIssuer {
                    audience: i
                        .audience
                        .clone()
                        .unwrap_or_else(|| grantd_issuer.to_owned()),
                    ..i.trusted.clone()
                })
                .collect(),
        )
    }
}

impl TryFrom<&FederationSection> for FederationSettings {
    type Error = anyhow::Error;

    fn try_from(f: &FederationSection) -> anyhow::Result<Self> {
        let mut issuers: Vec<IssuerSettings> = Vec::new();
        for (n, e) in f.issuers.iter().enumerate() {
            let key = |field: &str| format!("federation.issuers[{n}].{field}");
            let checked = issuer(e, f.allow_http_loopback, &key)?;
            if issuers
                .iter()
                .any(|i| i.trusted.name == checked.trusted.name)
            {
                bail!("invalid `{}`: {:?} is used twice", key("name"), e.name);
            }
            if issuers
                .iter()
                .any(|i| i.trusted.issuer == checked.trusted.issuer)
            {
                bail!(
                    "invalid `{}`: {:?} is trusted twice",
                    key("issuer"),
                    e.issuer
                );
            }
            issuers.push(checked);
        }
        Ok(Self {
            allow_http_loopback: f.allow_http_loopback,
            issuers,
        })
    }
}

fn issuer(
    e: &IssuerEntry,
    allow_http_loopback: bool,
    key: &dyn Fn(&str) -> String,
) -> anyhow::Result<IssuerSettings> {
    let name = IssuerName::parse(&e.name).with_context(|| {
        format!(
            "invalid `{}`: {:?} (1-64 of A-Z a-z 0-9 . _ -)",
            key("name"),
            e.name
        )
    })?;
    let kind = IssuerKind::parse(&e.kind).with_context(|| {
        format!(
            "invalid `{}`: {:?} (expected \"oidc\" or \"spiffe\")",
            key("kind"),
            e.kind
        )
    })?;
    let issuer_ok = match kind {
        IssuerKind::Oidc => e.issuer.starts_with("https://") || e.issuer.starts_with("http://"),
        IssuerKind::Spiffe => e
            .issuer
            .strip_prefix("spiffe://")
            .is_some_and(|td| !td.is_empty() && !td.contains('/')),
    };
    if !issuer_ok
        || e.issuer
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        bail!(
            "invalid `{}`: {:?} (an http(s) URL for kind \"oidc\", spiffe://TRUST-DOMAIN for \"spiffe\")",
            key("issuer"),
            e.issuer
        );
    }
    let keys = key_source(e, kind, allow_http_loopback, key)?;
    let lifetime = policy_checks(e, key)?;
    if let Some(a) = &e.audience
        && (a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        bail!("invalid `{}`: {a:?}", key("audience"));
    }
    Ok(IssuerSettings {
        trusted: TrustedIssuer {
            name,
            issuer: e.issuer.trim_end_matches('/').to_owned(),
            kind,
            algorithms: e.algorithms.clone(),
            audience: String::new(),
            max_lifetime_secs: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
            single_use_jti: e.single_use_jti,
        },
        audience: e.audience.clone(),
        keys,
    })
}

/// Where the issuer's keys are: its `jwks_uri`, or discovery from an OIDC `issuer`.
fn key_source(
    e: &IssuerEntry,
    kind: IssuerKind,
    allow_http_loopback: bool,
    key: &dyn Fn(&str) -> String,
) -> anyhow::Result<KeySource> {
    let source = match (&e.jwks_uri, kind) {
        (Some(uri), _) => {
            let parsed = JwksUri::parse(uri)
                .and_then(|u| u.usable(allow_http_loopback).map(|()| u))
                .map_err(|p| anyhow::anyhow!("invalid `{}`: {uri:?} {p}", key("jwks_uri")))?;
            KeySource::Uri(parsed)
        }
        (None, IssuerKind::Oidc) => {
            let discovery = format!(
                "{}/.well-known/openid-configuration",
                e.issuer.trim_end_matches('/')
            );
            JwksUri::parse(&discovery)
                .and_then(|u| u.usable(allow_http_loopback))
                .map_err(|p| anyhow::anyhow!("invalid `{}`: {:?} {p}", key("issuer"), e.issuer))?;
            KeySource::Discover(e.issuer.clone())
        }
        (None, IssuerKind::Spiffe) => {
            bail!(
                "missing `{}`: a SPIFFE issuer needs its JWKS (bundle) URL",
                key("jwks_uri")
            )
        }
    };
    Ok(source)
}

/// The algorithms (never `none` or HS*) and the lifetime bound.
fn policy_checks(e: &IssuerEntry, key: &dyn Fn(&str) -> String) -> anyhow::Result<Duration> {
    if e.algorithms.is_empty() {
        bail!("invalid `{}`: at least one algorithm", key("algorithms"));
    }
    if let Some(a) = e
        .algorithms
        .iter()
        .find(|a| !ALGORITHMS.contains(&a.as_str()))
    {
        bail!(
            "invalid `{}`: {a:?} (one of {})",
            key("algorithms"),
            ALGORITHMS.join(", ")
        );
    }
    humantime::parse_duration(&e.max_lifetime)
        .ok()
        .filter(|d| *d >= Duration::from_secs(1) && *d <= MAX_LIFETIME)
        .with_context(|| {
            format!(
                "invalid `{}`: {:?} (1s to 24h)",
                key("max_lifetime"),
                e.max_lifetime
            )
        })
}

/// The [`IssuerKeys`] port over the shared fetcher: each configured issuer's `jwks_uri`, or
/// the one its discovery document names (looked up once, on first use, retried while it
/// fails).
pub struct IssuerJwks {
    remote: Arc<dyn RemoteKeys>,
    fetch: FetchPolicy,
    sources: HashMap<IssuerName, (KeySource, OnceCell<JwksUri>)>,
}

impl IssuerJwks {
    pub fn new(
        settings: &FederationSettings,
        remote: Arc<dyn RemoteKeys>,
        fetch: FetchPolicy,
    ) -> Self {
        let sources = settings
            .issuers
            .iter()
            .map(|i| (i.trusted.name.clone(), (i.keys.clone(), OnceCell::new())))
            .collect();
        Self {
            remote,
            fetch,
            sources,
        }
    }

    async fn uri(&self, issuer: &IssuerName) -> Result<JwksUri, IssuerKeysError> {
        let (source, found) = self
            .sources
            .get(issuer)
            .ok_or(IssuerKeysError::UnknownIssuer)?;
        match source {
            KeySource::Uri(u) => Ok(u.clone()),
            KeySource::Discover(iss) => found
                .get_or_try_init(|| grantd_jwks::discover_jwks_uri(iss, &self.fetch))
                .await
                .cloned()
                .map_err(|_| IssuerKeysError::Unavailable),
        }
    }
}

#[async_trait]
impl IssuerKeys for IssuerJwks {
    async fn issuer_keys<'a>(
        &self,
        issuer: &IssuerName,
        kid: Option<&'a str>,
    ) -> Result<ClientKeys, IssuerKeysError> {
        let uri = self.uri(issuer).await?;
        let unavailable = |e| {
            tracing::warn!(issuer = %issuer, failure = %e, "federated issuer JWKS unavailable");
            IssuerKeysError::Unavailable
        };
        let keys = self
            .remote
            .keys(&uri, KeysWanted::Current)
            .await
            .map_err(unavailable)?;
        let known = |k: &ClientKeys| {
            kid.is_none_or(|kid| k.keys().iter().any(|r| r.kid.as_deref() == Some(kid)))
        };
        if known(&keys) {
            return Ok((*keys).clone());
        }
        // An unknown kid: the issuer rotated; the fetcher refetches at most once per interval.
        let keys = self
            .remote
            .keys(&uri, KeysWanted::KeyNotFound)
            .await
            .map_err(unavailable)?;
        Ok((*keys).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<FederationSettings> {
        let section: FederationSection = toml::from_str(text)?;
        FederationSettings::try_from(&section)
    }

    #[test]
    fn issuers_parse_with_defaults_and_the_audience_follows_grantd() {
        let s = parse(
            "[[issuers]]\nname = \"k8s\"\nissuer = \"https://k8s.example/\"\n\
             [[issuers]]\nname = \"spire\"\nkind = \"spiffe\"\nissuer = \"spiffe://example.org\"\n\
             jwks_uri = \"https://bundle.example/keys\"\nsingle_use_jti = true\n",
        )
        .unwrap();
        let k8s = &s.issuers[0];
        assert_eq!(k8s.keys, KeySource::Discover("https://k8s.example/".into()));
        assert_eq!(k8s.trusted.issuer, "https://k8s.example");
        assert_eq!(k8s.trusted.algorithms, ["RS256", "ES256"]);
        assert_eq!(k8s.trusted.max_lifetime_secs, 3600);
        assert!(!k8s.trusted.single_use_jti);
        let fed = s.federation("https://grantd.example");
        assert_eq!(fed.issuers()[0].audience, "https://grantd.example");
        assert_eq!(fed.issuers()[1].kind, IssuerKind::Spiffe);
        assert!(fed.issuers()[1].single_use_jti);
    }

    #[test]
    fn every_mistake_names_its_key() {
        let base = "name = \"k\"\nissuer = \"https://k.example\"\n";
        let cases = [
            (
                "name = \"a b\"\nissuer = \"https://k\"\n",
                "issuers[0].name",
            ),
            ("name = \"k\"\nissuer = \"ftp://k\"\n", "issuers[0].issuer"),
            (
                &format!("{base}kind = \"saml\"\n") as &str,
                "issuers[0].kind",
            ),
            (
                &format!("{base}algorithms = [\"HS256\"]\n"),
                "issuers[0].algorithms",
            ),
            (
                &format!("{base}algorithms = [\"none\"]\n"),
                "issuers[0].algorithms",
            ),
            (&format!("{base}algorithms = []\n"), "issuers[0].algorithms"),
            (
                &format!("{base}max_lifetime = \"2d\"\n"),
                "issuers[0].max_lifetime",
            ),
            (
                &format!("{base}jwks_uri = \"http://example.com/k\"\n"),
                "issuers[0].jwks_uri",
            ),
            (
                &format!("{base}jwks_uri = \"http://127.0.0.1/k\"\n"),
                "issuers[0].jwks_uri",
            ),
            (
                "name = \"s\"\nkind = \"spiffe\"\nissuer = \"spiffe://td\"\n",
                "issuers[0].jwks_uri",
            ),
        ];
        for (entry, want) in cases {
            let err = parse(&format!("[[issuers]]\n{entry}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{entry}: {err}");
        }
        let twice = format!("[[issuers]]\n{base}[[issuers]]\n{base}");
        assert!(parse(&twice).unwrap_err().to_string().contains("twice"));
        // Loopback http is fine once allowed.
        let ok = format!(
            "allow_http_loopback = true\n[[issuers]]\n{base}jwks_uri = \"http://127.0.0.1:9/k\"\n"
        );
        assert!(parse(&ok).is_ok());
    }
}
