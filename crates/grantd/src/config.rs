//! Configuration: `grantd.toml` plus `GRANTD_<SECTION>__<KEY>` environment overrides, checked
//! strictly (unknown keys and invalid values fail start-up naming the key) and resolved into
//! [`Settings`], the typed values the rest of the binary uses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use grantd_domain::{
    Audience, AudienceRules, ScopeCatalog, ScopeDef, ScopePolicy, SubjectMode, Tier, TokenPolicy,
    Ttl,
};
use grantd_ports::SigningAlgorithm;
use serde::Deserialize;

#[path = "config/client_assertion.rs"]
mod client_assertion;
#[path = "config/jwks_fetch.rs"]
mod jwks_fetch;
pub use client_assertion::ClientAssertionSection;

/// The file format, section by section. Every field has a default, so an empty file (or none)
/// is a valid configuration: the embedded SQLite default on 127.0.0.1:8080.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub token: TokenSection,
    pub signing: SigningSection,
    pub sessions: SessionsSection,
    pub cache: CacheSection,
    pub rate_limit: RateLimitSection,
    pub quota: QuotaSection,
    pub log: LogSection,
    pub admin: AdminSection,
    pub metrics: MetricsSection,
    pub audit: AuditSection,
    pub scopes: Vec<ScopeEntry>,
    pub dpop: DpopSection,
    pub jwks_fetch: jwks_fetch::JwksFetchSection,
    /// `[federation]`: trusted issuers of workload identities.
    pub federation: crate::federation::FederationSection,
    pub client_assertion: ClientAssertionSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub bind: String,
    pub trusted_proxies: Vec<String>,
    /// HTTP worker threads; default: the number of cores.
    pub workers: Option<usize>,
    /// Total time a request body may take to arrive (408 and the connection closed after).
    pub body_timeout: String,
    /// Most open connections per worker.
    pub max_connections: usize,
    /// Connections the kernel queues while no worker accepts one.
    pub backlog: u32,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            trusted_proxies: Vec::new(),
            workers: None,
            body_timeout: "5s".into(),
            max_connections: grantd_api::DEFAULT_MAX_CONNECTIONS,
            backlog: grantd_api::DEFAULT_BACKLOG,
        }
    }
}

/// How the HTTP server bounds slow and numerous clients (`[server]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub backlog: u32,
}

impl TryFrom<&ServerSection> for ServerLimits {
    type Error = anyhow::Error;

    fn try_from(s: &ServerSection) -> anyhow::Result<Self> {
        let body_timeout = duration("server.body_timeout", &s.body_timeout)?;
        if body_timeout.is_zero() || body_timeout > Duration::from_secs(300) {
            bail!("invalid `server.body_timeout`: must be between 1ms and 300s");
        }
        if !(1..=1_000_000).contains(&s.max_connections) {
            bail!("invalid `server.max_connections`: between 1 and 1000000 (per worker)");
        }
        if !(1..=65_535).contains(&s.backlog) {
            bail!("invalid `server.backlog`: between 1 and 65535");
        }
        Ok(Self {
            body_timeout,
            max_connections: s.max_connections,
            backlog: s.backlog,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    pub url: String,
    pub max_connections: Option<usize>,
    /// Group commit: how long the first session row of a batch waits for others. "0ms" takes
    /// whatever queued up while the previous batch was committing, adding no delay.
    pub group_commit_window: String,
    /// Group commit: the most rows written by one INSERT/commit.
    pub group_commit_max_rows: usize,
    /// Postgres: batches committing at once.
    pub group_commit_inflight: usize,
    /// Postgres: `statement_timeout` of every pooled connection ("0" leaves the server's).
    pub statement_timeout: String,
    /// Postgres: idle time before TCP keepalive probes start.
    pub tcp_keepalive: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: "sqlite://grantd.db".into(),
            max_connections: None,
            group_commit_window: "0ms".into(),
            group_commit_max_rows: 256,
            group_commit_inflight: 2,
            statement_timeout: "5s".into(),
            tcp_keepalive: "30s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSection {
    /// Absent: `http://` + the address `serve` actually bound (so `--bind` and port 0 follow).
    pub issuer: Option<String>,
    pub access_token_ttl: u64,
    pub audiences: Vec<String>,
    pub allowed_resource_audiences: Vec<String>,
    pub subject: String,
    pub scope_policy: String,
}

impl Default for TokenSection {
    fn default() -> Self {
        Self {
            issuer: None,
            access_token_ttl: 3600,
            audiences: vec!["api".into()],
            allowed_resource_audiences: ["api", "mcp", "a2a", "hook"].map(String::from).to_vec(),
            subject: "owner".into(),
            scope_policy: "narrow".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSection {
    pub algorithm: String,
    pub master_key_file: Option<PathBuf>,
    /// Scheduled key rotation, e.g. "30d"; absent = only `grantd key rotate`.
    pub rotate_every: Option<String>,
    /// How often each node reloads the key ring from the database (bounds how late a node
    /// notices a rotation made elsewhere).
    pub refresh_every: String,
}

impl Default for SigningSection {
    fn default() -> Self {
        Self {
            algorithm: "ES256".into(),
            master_key_file: None,
            rotate_every: None,
            refresh_every: "30s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsSection {
    pub retention: String,
    pub purge_every: String,
}

impl Default for SessionsSection {
    fn default() -> Self {
        Self {
            retention: "7d".into(),
            purge_every: "10m".into(),
        }
    }
}

/// `[dpop]`: how DPoP proofs (RFC 9449) are judged at the token endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopSection {
    /// How old a proof's `iat` may be; also how long one nonce slot lasts.
    pub max_age: String,
    /// How far ahead of the server's clock a proof's `iat` may be.
    pub max_skew: String,
    /// Whether proofs must carry a server nonce (`use_dpop_nonce`, RFC 9449 §8).
    pub nonce: bool,
}

impl Default for DpopSection {
    fn default() -> Self {
        Self {
            max_age: "60s".into(),
            max_skew: "5s".into(),
            nonce: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    /// How long a client, owner or session looked up may be reused before it is read again.
    /// Admin changes made by any process reach a running server through change notifications
    /// within a fraction of a second; this bounds a missed notification, and how late another
    /// replica's revocation is seen. "0s" turns the cache off.
    pub ttl: String,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self { ttl: "2s".into() }
    }
}

/// `[rate_limit]`: per-process token buckets and failed-authentication throttling.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    pub enabled: bool,
    /// Requests per second per presented client id, and the burst it may save up.
    pub per_client: u32,
    pub per_client_burst: u32,
    /// Requests per second per source IP (IPv6: per /64), and its burst.
    pub per_ip: u32,
    pub per_ip_burst: u32,
    /// Failed authentications of one (client id, source IP) within `failure_window` that
    /// start a wait of `backoff_base`, doubled by each further run, at most `backoff_cap`.
    pub max_failures: u32,
    pub failure_window: String,
    pub backoff_base: String,
    pub backoff_cap: String,
    /// Most keys each bucket store and the failure cache hold.
    pub max_keys: usize,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        let d = grantd_api::RateLimitConfig::default();
        let secs = |d: Duration| format!("{}s", d.as_secs());
        Self {
            enabled: d.enabled,
            per_client: d.per_client.per_second.get(),
            per_client_burst: d.per_client.burst.get(),
            per_ip: d.per_ip.per_second.get(),
            per_ip_burst: d.per_ip.burst.get(),
            max_failures: d.max_failures,
            failure_window: secs(d.failure_window),
            backoff_base: secs(d.backoff_base),
            backoff_cap: secs(d.backoff_cap),
            max_keys: d.max_keys,
        }
    }
}

/// `[quota]`: how per-client token quotas are counted (the quotas themselves are set per
/// client by the CLI).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSection {
    /// How often each process reads a quota-bound client's count from the session rows: what
    /// one replica may miss of the others' tokens ("0s": on every token request).
    pub sync_interval: String,
}

impl Default for QuotaSection {
    fn default() -> Self {
        Self {
            sync_interval: format!("{}s", grantd_app::DEFAULT_SYNC_INTERVAL.as_secs()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// "text" (human-readable) or "json" (one JSON object per line).
    pub format: String,
    /// A `tracing` filter ("info", "grantd=debug,warn"); `GRANTD_LOG` or `RUST_LOG` override it.
    /// Absent: "info" for `serve`, "warn" for the CLI, whose stderr carries only its errors.
    pub level: Option<String>,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: None,
        }
    }
}

/// `[admin]`: the listener for `/metrics`, `/healthz` and `/readyz`, apart from the public port,
/// and where the admin HTTP API (`/admin/v1`) is served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    pub bind: String,
    pub api: AdminApiPlacement,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9464".into(),
            api: AdminApiPlacement::Admin,
        }
    }
}

/// `[admin] api`: which listener serves the admin HTTP API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminApiPlacement {
    /// The admin listener (default): reachable only where `[admin] bind` is.
    #[default]
    Admin,
    /// The public port, for deployments whose automation reaches grantd only there.
    Public,
    /// Not served.
    Off,
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// false: no recorder is installed (counting is a no-op) and `/metrics` is not served.
    pub enabled: bool,
    /// Client ids counted under their own `client` label; all others as "other". Client ids
    /// are unbounded, so only the operator's list gets series of its own.
    pub per_client: Vec<String>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            per_client: Vec::new(),
        }
    }
}

/// Most client ids `[metrics] per_client` may list (each adds a few series).
const PER_CLIENT_MAX: usize = 100;

/// `[metrics] per_client`, checked: client ids, at most [`PER_CLIENT_MAX`], not "other".
fn per_client(m: &MetricsSection) -> anyhow::Result<Vec<String>> {
    if m.per_client.len() > PER_CLIENT_MAX {
        bail!(
            "invalid `metrics.per_client`: {} ids (at most {PER_CLIENT_MAX})",
            m.per_client.len()
        );
    }
    for id in &m.per_client {
        grantd_domain::ClientId::parse(id)
            .map_err(|e| anyhow::anyhow!("invalid `metrics.per_client`: {id:?}: {e}"))?;
        if id == "other" {
            bail!("invalid `metrics.per_client`: \"other\" is the label of every unlisted client");
        }
    }
    Ok(m.per_client.clone())
}

/// `[audit]`: where the decision events go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// "stdout" (JSON lines on the server's stdout), "file" (appended to `file`) or "off".
    pub output: String,
    /// The JSON-lines file: `serve`'s events with `output = "file"`, and the CLI's admin changes
    /// whatever `output` says unless it is "off" (the CLI's stdout is its result). Default:
    /// `grantd-audit.jsonl` next to the SQLite database, or in the working directory.
    pub file: Option<PathBuf>,
    /// Events waiting for the writer at most; more are dropped and counted.
    pub queue: usize,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            output: "stdout".into(),
            file: None,
            queue: 8192,
        }
    }
}

/// `[audit]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    pub output: AuditOutput,
    pub file: Option<PathBuf>,
    pub queue: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutput {
    Stdout,
    File,
    Off,
}

impl TryFrom<&AuditSection> for AuditSettings {
    type Error = anyhow::Error;

    fn try_from(a: &AuditSection) -> anyhow::Result<Self> {
        let output = match a.output.as_str() {
            "stdout" => AuditOutput::Stdout,
            "file" => AuditOutput::File,
            "off" => AuditOutput::Off,
            other => {
                bail!("invalid `audit.output`: {other:?} (use \"stdout\", \"file\" or \"off\")")
            }
        };
        if !(1..=1_048_576).contains(&a.queue) {
            bail!(
                "invalid `audit.queue`: {} (use 1 to 1048576 events)",
                a.queue
            );
        }
        Ok(Self {
            output,
            file: a.file.clone(),
            queue: a.queue,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeEntry {
    pub name: String,
    pub tier: String,
    pub level: u16,
    pub requires_audience: Option<String>,
}

/// The typed, checked configuration: one value per concern, each built from its section by
/// its own `TryFrom`, so a section's rules live beside its typed form.
#[derive(Debug)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    /// `[token]` and `[[scopes]]`: what the token endpoint decides with.
    pub policy: TokenPolicy,
    pub signing: SigningSettings,
    pub sessions: SessionSettings,
    pub cache: CacheSettings,
    pub rate_limit: grantd_api::RateLimitConfig,
    /// `[quota] sync_interval`.
    pub quota_sync: Duration,
    pub log: LogSettings,
    /// `[admin] bind`.
    pub admin_bind: SocketAddr,
    /// `[admin] api`.
    pub admin_api: AdminApiPlacement,
    /// `[metrics] enabled`.
    pub metrics_enabled: bool,
    pub dpop: DpopSettings,
    /// `[jwks_fetch]`: fetching and caching the keys at a client's `jwks_uri`.
    pub jwks_fetch: grantd_jwks::FetchPolicy,
    /// `[client_assertion]`.
    pub client_assertion: grantd_app::AssertionLimits,
    /// `[metrics] per_client`.
    pub metrics_per_client: Vec<String>,
    /// `[audit]`.
    pub audit: AuditSettings,
    /// `[federation]`.
    pub federation: crate::federation::FederationSettings,
    /// No `token.issuer` was configured: `serve` replaces `policy.issuer` (derived from
    /// `server.bind`) with the address it actually bound.
    pub issuer_from_bind: bool,
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl TryFrom<&LogSection> for LogSettings {
    type Error = anyhow::Error;

    fn try_from(l: &LogSection) -> anyhow::Result<Self> {
        let format = match l.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("invalid `log.format`: {other:?} (expected \"text\" or \"json\")"),
        };
        if let Some(level) = &l.level {
            tracing_subscriber::EnvFilter::try_new(level)
                .with_context(|| format!("invalid `log.level`: {level:?}"))?;
        }
        Ok(Self {
            format,
            level: l.level.clone(),
        })
    }
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub trusted_proxies: Vec<String>,
    pub workers: usize,
    pub limits: ServerLimits,
}

/// `[database]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: Option<usize>,
    pub group_commit_window: Duration,
    pub group_commit_max_rows: usize,
    pub group_commit_inflight: usize,
    /// `None`: the server's own setting.
    pub statement_timeout: Option<Duration>,
    pub tcp_keepalive: Duration,
}

/// `[signing]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningSettings {
    pub algorithm: SigningAlgorithm,
    pub master_key_file: Option<PathBuf>,
    pub rotate_every: Option<Duration>,
    pub refresh_every: Duration,
}

/// `[sessions]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    pub retention: Duration,
    pub purge_every: Duration,
}

/// `[dpop]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpopSettings {
    pub max_age: Duration,
    pub max_skew: Duration,
    pub nonce: bool,
}

/// `[cache]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    pub ttl: Duration,
}

const ENV_PREFIX: &str = "GRANTD_";

/// Loads the file (if given) and applies the environment.
pub fn load(path: Option<&Path>, env: &BTreeMap<String, String>) -> anyhow::Result<Settings> {
    let mut root = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?;
            text.parse::<toml::Table>()
                .with_context(|| format!("config file {} is not valid TOML", p.display()))?
        }
        None => toml::Table::new(),
    };
    apply_env(&mut root, env)?;
    let file: FileConfig =
        serde_path_to_error::deserialize(toml::Value::Table(root)).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("invalid configuration at `{path}`: {}", e.inner())
        })?;
    resolve(file)
}

/// `GRANTD_TOKEN__ACCESS_TOKEN_TTL=60` sets `token.access_token_ttl`. Values are read as TOML
/// (numbers, booleans, arrays) and fall back to a plain string.
fn apply_env(root: &mut toml::Table, env: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        if section.is_empty() || key.is_empty() || key.contains("__") {
            bail!("environment variable {name}: expected GRANTD_<SECTION>__<KEY>");
        }
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let value = parse_env_value(raw);
        let table = root
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| {
                format!("environment variable {name}: `{section}` is not a section")
            })?;
        table.insert(key, value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn duration(key: &str, s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).with_context(|| {
        format!("invalid duration for `{key}`: {s:?} (use e.g. \"45s\", \"10m\", \"7d\")")
    })
}

/// A duration that must lie in `min..=max`: the error names the key and the range, so a value
/// that would overflow where it is used (seconds as `i64`, timer deadlines) never gets there.
fn bounded_duration(key: &str, s: &str, min: Duration, max: Duration) -> anyhow::Result<Duration> {
    let d = duration(key, s)?;
    if !(min..=max).contains(&d) {
        bail!(
            "invalid `{key}`: {:?} is out of range: must be between {} and {}",
            s.trim(),
            humantime::format_duration(min),
            humantime::format_duration(max)
        );
    }
    Ok(d)
}

const DAY: u64 = 86_400;
/// Scheduled key rotation: from one minute to ten years.
const ROTATE_EVERY: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(3650 * DAY));
/// Session retention after expiry: from none to a hundred years.
const RETENTION: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(36_500 * DAY));
/// Background purge interval: from one second to a week.
const PURGE_EVERY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(7 * DAY));

fn resolve(f: FileConfig) -> anyhow::Result<Settings> {
    let settings = sections(f)?;
    // Across sections, so after each was checked on its own.
    client_assertion::check_replay_memory(
        settings.client_assertion,
        Duration::from_secs(u64::from(settings.policy.ttl.secs())),
        settings.sessions.retention,
    )?;
    Ok(settings)
}

/// Each section by its own rules.
fn sections(f: FileConfig) -> anyhow::Result<Settings> {
    // Sections in file order, so the first error reported is the first one in the file.
    let server = ServerSettings::try_from(&f.server)?;
    let database = DatabaseSettings::try_from(&f.database)?;
    let policy = token_policy(&f.token, &f.scopes, server.bind)?;
    Ok(Settings {
        server,
        database,
        policy,
        signing: SigningSettings::try_from(&f.signing)?,
        sessions: SessionSettings::try_from(&f.sessions)?,
        cache: CacheSettings::try_from(&f.cache)?,
        log: LogSettings::try_from(&f.log)?,
        admin_bind: f
            .admin
            .bind
            .parse()
            .with_context(|| format!("invalid `admin.bind`: {:?} (use IP:PORT)", f.admin.bind))?,
        admin_api: f.admin.api,
        metrics_enabled: f.metrics.enabled,
        metrics_per_client: per_client(&f.metrics)?,
        audit: AuditSettings::try_from(&f.audit)?,
        issuer_from_bind: f.token.issuer.is_none(),
        rate_limit: rate_limit(&f.rate_limit)?,
        quota_sync: bounded_duration(
            "quota.sync_interval",
            &f.quota.sync_interval,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?,
        dpop: DpopSettings::try_from(&f.dpop)?,
        jwks_fetch: grantd_jwks::FetchPolicy::try_from(&f.jwks_fetch)?,
        federation: crate::federation::FederationSettings::try_from(&f.federation)?,
        client_assertion: grantd_app::AssertionLimits::try_from(&f.client_assertion)?,
    })
}

fn nonzero(key: &str, n: u32) -> anyhow::Result<std::num::NonZeroU32> {
    std::num::NonZeroU32::new(n)
        .with_context(|| format!("invalid `{key}`: must be at least 1 (use `rate_limit.enabled = false` to turn limits off)"))
}

/// `[rate_limit]`.
fn rate_limit(r: &RateLimitSection) -> anyhow::Result<grantd_api::RateLimitConfig> {
    let hour = Duration::from_secs(3600);
    let max_secs = Duration::from_secs(DAY);
    Ok(grantd_api::RateLimitConfig {
        enabled: r.enabled,
        per_client: grantd_api::Rate {
            per_second: nonzero("rate_limit.per_client", r.per_client)?,
            burst: nonzero("rate_limit.per_client_burst", r.per_client_burst)?,
        },
        per_ip: grantd_api::Rate {
            per_second: nonzero("rate_limit.per_ip", r.per_ip)?,
            burst: nonzero("rate_limit.per_ip_burst", r.per_ip_burst)?,
        },
        max_failures: nonzero("rate_limit.max_failures", r.max_failures)?.get(),
        failure_window: bounded_duration(
            "rate_limit.failure_window",
            &r.failure_window,
            Duration::from_secs(1),
            max_secs,
        )?,
        backoff_base: bounded_duration(
            "rate_limit.backoff_base",
            &r.backoff_base,
            Duration::from_millis(1),
            hour,
        )?,
        backoff_cap: bounded_duration(
            "rate_limit.backoff_cap",
            &r.backoff_cap,
            Duration::from_millis(1),
            max_secs,
        )?,
        max_keys: r.max_keys.max(1),
    })
}

impl TryFrom<&ServerSection> for ServerSettings {
    type Error = anyhow::Error;

    fn try_from(s: &ServerSection) -> anyhow::Result<Self> {
        let bind: SocketAddr = s
            .bind
            .parse()
            .with_context(|| format!("invalid `server.bind`: {:?} (use IP:PORT)", s.bind))?;
        let workers = match s.workers {
            Some(0) => bail!("invalid `server.workers`: must be at least 1"),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        Ok(Self {
            bind,
            trusted_proxies: s.trusted_proxies.clone(),
            workers,
            limits: ServerLimits::try_from(s)?,
        })
    }
}

impl TryFrom<&DatabaseSection> for DatabaseSettings {
    type Error = anyhow::Error;

    fn try_from(d: &DatabaseSection) -> anyhow::Result<Self> {
        if d.url.trim().is_empty() {
            bail!("invalid `database.url`: empty");
        }
        if d.max_connections == Some(0) {
            bail!("invalid `database.max_connections`: must be at least 1");
        }
        let group_commit_window = duration("database.group_commit_window", &d.group_commit_window)?;
        if group_commit_window > Duration::from_millis(50) {
            bail!(
                "invalid `database.group_commit_window`: at most 50ms (every token waits for it)"
            );
        }
        if !(1..=2000).contains(&d.group_commit_max_rows) {
            bail!("invalid `database.group_commit_max_rows`: between 1 and 2000");
        }
        if !(1..=64).contains(&d.group_commit_inflight) {
            bail!("invalid `database.group_commit_inflight`: between 1 and 64");
        }
        let statement_timeout = duration("database.statement_timeout", &d.statement_timeout)?;
        if statement_timeout > Duration::from_secs(600)
            || (!statement_timeout.is_zero() && statement_timeout < Duration::from_millis(100))
        {
            bail!("invalid `database.statement_timeout`: 0 (off) or between 100ms and 10m");
        }
        let tcp_keepalive = duration("database.tcp_keepalive", &d.tcp_keepalive)?;
        if !(Duration::from_secs(1)..=Duration::from_secs(7200)).contains(&tcp_keepalive) {
            bail!("invalid `database.tcp_keepalive`: between 1s and 2h");
        }
        Ok(Self {
            url: d.url.clone(),
            max_connections: d.max_connections,
            group_commit_window,
            group_commit_max_rows: d.group_commit_max_rows,
            group_commit_inflight: d.group_commit_inflight,
            statement_timeout: (!statement_timeout.is_zero()).then_some(statement_timeout),
            tcp_keepalive,
        })
    }
}

/// `[token]` with the catalog `[[scopes]]` extends. A free function rather than a `TryFrom`:
/// `TokenPolicy` is the domain's type, and it needs two sections.
fn token_policy(
    t: &TokenSection,
    scopes: &[ScopeEntry],
    bind: SocketAddr,
) -> anyhow::Result<TokenPolicy> {
    let configured = t.issuer.clone().unwrap_or_else(|| issuer_for(bind));
    let issuer = configured.trim_end_matches('/').to_owned();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        || issuer.contains(['?', '#', ' '])
    {
        bail!(
            "invalid `token.issuer`: {configured:?} must be an http(s) URL without query or fragment"
        );
    }
    let ttl = Ttl::from_secs(t.access_token_ttl)
        .map_err(|e| anyhow::anyhow!("invalid `token.access_token_ttl`: {e}"))?;
    let subject = SubjectMode::parse(&t.subject).with_context(|| {
        format!(
            "invalid `token.subject`: {:?} (expected \"owner\" or \"client\")",
            t.subject
        )
    })?;
    let scope_policy = ScopePolicy::parse(&t.scope_policy).with_context(|| {
        format!(
            "invalid `token.scope_policy`: {:?} (expected \"narrow\" or \"strict\")",
            t.scope_policy
        )
    })?;
    let audiences = AudienceRules::new(
        t.audiences.iter().map(|a| Audience::parse(a)).collect(),
        t.allowed_resource_audiences
            .iter()
            .map(|a| Audience::parse(a))
            .collect(),
    )
    .map_err(|e| {
        anyhow::anyhow!("invalid `token.audiences`/`token.allowed_resource_audiences`: {e}")
    })?;
    Ok(TokenPolicy {
        issuer,
        catalog: catalog(scopes)?,
        audiences,
        scope_policy,
        ttl,
        subject,
    })
}

/// The issuer of a server that has no `token.issuer`: where it listens.
pub fn issuer_for(bind: SocketAddr) -> String {
    format!("http://{bind}")
}

/// The built-in scopes plus the operator's `[[scopes]]`.
fn catalog(scopes: &[ScopeEntry]) -> anyhow::Result<ScopeCatalog> {
    let mut custom = Vec::with_capacity(scopes.len());
    for (i, s) in scopes.iter().enumerate() {
        let tier = Tier::parse(&s.tier).with_context(|| {
            format!(
                "invalid `scopes[{i}].tier`: {:?} (expected \"service\" or \"delegated\")",
                s.tier
            )
        })?;
        if let Some(a) = &s.requires_audience
            && !Audience::is_valid(a)
        {
            bail!("invalid `scopes[{i}].requires_audience`: {a:?}");
        }
        let def = ScopeDef::new(
            &s.name,
            tier,
            s.level,
            s.requires_audience.as_deref().map(Audience::parse),
        )
        .map_err(|e| anyhow::anyhow!("invalid `scopes[{i}].name`: {e}"))?;
        custom.push(def);
    }
    ScopeCatalog::with_custom(custom).map_err(|e| anyhow::anyhow!("invalid `scopes`: {e}"))
}

impl TryFrom<&SigningSection> for SigningSettings {
    type Error = anyhow::Error;

    fn try_from(s: &SigningSection) -> anyhow::Result<Self> {
        let algorithm = SigningAlgorithm::parse(&s.algorithm).with_context(|| {
            format!(
                "invalid `signing.algorithm`: {:?} (expected ES256, EdDSA or RS256)",
                s.algorithm
            )
        })?;
        let rotate_every = s
            .rotate_every
            .as_deref()
            .map(|r| bounded_duration("signing.rotate_every", r, ROTATE_EVERY.0, ROTATE_EVERY.1))
            .transpose()?;
        let refresh_every = duration("signing.refresh_every", &s.refresh_every)?;
        // A retired key stays valid for grantd_app::ROTATION_MARGIN_SECS past the longest token
        // lifetime, so every node must have reloaded its ring well within that margin.
        if refresh_every.is_zero() || refresh_every > Duration::from_secs(240) {
            bail!("invalid `signing.refresh_every`: must be between 1s and 240s");
        }
        Ok(Self {
            algorithm,
            master_key_file: s.master_key_file.clone(),
            rotate_every,
            refresh_every,
        })
    }
}

impl TryFrom<&SessionsSection> for SessionSettings {
    type Error = anyhow::Error;

    fn try_from(s: &SessionsSection) -> anyhow::Result<Self> {
        Ok(Self {
            retention: bounded_duration(
                "sessions.retention",
                &s.retention,
                RETENTION.0,
                RETENTION.1,
            )?,
            purge_every: bounded_duration(
                "sessions.purge_every",
                &s.purge_every,
                PURGE_EVERY.0,
                PURGE_EVERY.1,
            )?,
        })
    }
}

/// A proof's age: from one second to an hour (a proof is meant to be fresh, RFC 9449 §11.1).
const DPOP_MAX_AGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// Clock skew tolerated ahead of the server: up to five minutes.
const DPOP_MAX_SKEW: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(300));

impl TryFrom<&DpopSection> for DpopSettings {
    type Error = anyhow::Error;

    fn try_from(s: &DpopSection) -> anyhow::Result<Self> {
        Ok(Self {
            max_age: bounded_duration("dpop.max_age", &s.max_age, DPOP_MAX_AGE.0, DPOP_MAX_AGE.1)?,
            max_skew: bounded_duration(
                "dpop.max_skew",
                &s.max_skew,
                DPOP_MAX_SKEW.0,
                DPOP_MAX_SKEW.1,
            )?,
            nonce: s.nonce,
        })
    }
}

impl TryFrom<&CacheSection> for CacheSettings {
    type Error = anyhow::Error;

    fn try_from(c: &CacheSection) -> anyhow::Result<Self> {
        let ttl = duration("cache.ttl", &c.ttl)?;
        if ttl > Duration::from_secs(60) {
            bail!(
                "invalid `cache.ttl`: at most 60s (it bounds how long a missed change notification leaves a disabled client getting tokens, and how late another replica's revocation is seen)"
            );
        }
        Ok(Self { ttl })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn from_toml(text: &str, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = std::env::temp_dir().join(format!(
            "grantd-config-test-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir)?;
        let p = dir.join("grantd.toml");
        std::fs::write(&p, text)?;
        let r = load(Some(&p), &env(vars));
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }

    #[test]
    fn defaults_without_a_file() {
        let s = load(None, &BTreeMap::new()).unwrap();
        assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.server.limits,
            ServerLimits {
                body_timeout: Duration::from_secs(5),
                max_connections: 1024,
                backlog: 1024,
            }
        );
        assert_eq!(
            (
                s.database.group_commit_window,
                s.database.group_commit_max_rows,
                s.database.group_commit_inflight
            ),
            (Duration::ZERO, 256, 2)
        );
        assert_eq!(s.database.url, "sqlite://grantd.db");
        assert_eq!(
            (s.database.statement_timeout, s.database.tcp_keepalive),
            (Some(Duration::from_secs(5)), Duration::from_secs(30))
        );
        assert_eq!(s.policy.ttl.secs(), 3600);
        assert_eq!(s.policy.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.policy.audiences.defaults(), &[Audience::Api]);
        assert_eq!(s.policy.scope_policy, ScopePolicy::Narrow);
        assert_eq!(s.policy.subject, SubjectMode::Owner);
        assert_eq!(s.signing.algorithm, SigningAlgorithm::Es256);
        assert_eq!(s.sessions.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(s.sessions.purge_every, Duration::from_secs(600));
        assert!(s.signing.rotate_every.is_none());
        assert_eq!(s.rate_limit, grantd_api::RateLimitConfig::default());
    }

    #[test]
    fn rate_limits_from_the_environment() {
        let s = load(
            None,
            &env(&[
                ("GRANTD_RATE_LIMIT__ENABLED", "false"),
                ("GRANTD_RATE_LIMIT__PER_CLIENT", "100000"),
                ("GRANTD_RATE_LIMIT__PER_IP_BURST", "7"),
                ("GRANTD_RATE_LIMIT__BACKOFF_CAP", "10m"),
            ]),
        )
        .unwrap();
        let r = s.rate_limit;
        assert!(!r.enabled);
        assert_eq!(r.per_client.per_second.get(), 100_000);
        assert_eq!(r.per_ip.burst.get(), 7);
        assert_eq!(r.backoff_cap, Duration::from_secs(600));
    }

    #[test]
    fn the_quota_sync_interval_is_read_and_bounded() {
        let d = load(None, &env(&[])).unwrap();
        assert_eq!(d.quota_sync, grantd_app::DEFAULT_SYNC_INTERVAL);
        let s = load(None, &env(&[("GRANTD_QUOTA__SYNC_INTERVAL", "250ms")])).unwrap();
        assert_eq!(s.quota_sync, Duration::from_millis(250));
        let e = load(None, &env(&[("GRANTD_QUOTA__SYNC_INTERVAL", "2h")])).unwrap_err();
        assert!(format!("{e:#}").contains("quota.sync_interval"), "{e:#}");
    }

    #[test]
    fn the_documented_example_file_loads() {
        let s = from_toml(
            r#"
[server]
bind = "0.0.0.0:9000"
trusted_proxies = ["10.0.0.0/8"]
body_timeout = "2s"
max_connections = 512
backlog = 256
[database]
url = "postgres://grantd@db/grantd"
[token]
issuer = "https://auth.example.com/"
access_token_ttl = 90
audiences = ["api"]
allowed_resource_audiences = ["api", "mcp", "a2a", "hook", "orders"]
subject = "client"
scope_policy = "strict"
[signing]
algorithm = "EdDSA"
master_key_file = "/etc/grantd/master.key"
rotate_every = "30d"
[sessions]
retention = "7d"
purge_every = "10m"
[[scopes]]
name = "orders:read"
tier = "service"
level = 25
requires_audience = "orders"
"#,
            &[],
        )
        .unwrap();
        assert_eq!(s.server.bind.port(), 9000);
        assert_eq!(
            s.server.limits,
            ServerLimits {
                body_timeout: Duration::from_secs(2),
                max_connections: 512,
                backlog: 256,
            }
        );
        assert_eq!(s.policy.issuer, "https://auth.example.com");
        assert_eq!(s.policy.ttl.secs(), 90);
        assert_eq!(s.policy.subject, SubjectMode::Client);
        assert_eq!(s.policy.scope_policy, ScopePolicy::Strict);
        assert_eq!(s.signing.algorithm, SigningAlgorithm::EdDsa);
        assert_eq!(
            s.signing.rotate_every,
            Some(Duration::from_secs(30 * 86_400))
        );
        let orders = s.policy.catalog.get("orders:read").unwrap();
        assert_eq!(
            (
                orders.tier(),
                orders.level(),
                orders.requires_audience().map(|a| a.as_str())
            ),
            (Tier::Service, 25, Some("orders"))
        );
    }

    #[test]
    fn env_overrides_without_a_file() {
        let s = load(
            None,
            &env(&[
                ("GRANTD_DATABASE__URL", "postgres://u@127.0.0.1/db"),
                ("GRANTD_SERVER__BIND", "127.0.0.1:0"),
                ("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "61"),
                ("GRANTD_TOKEN__AUDIENCES", r#"["web", "api"]"#),
                ("GRANTD_MASTER_KEY", "not a section key: ignored here"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url, "postgres://u@127.0.0.1/db");
        assert_eq!(s.server.bind.port(), 0);
        assert_eq!(s.policy.ttl.secs(), 61);
        assert_eq!(
            s.policy.audiences.defaults(),
            &[Audience::Web, Audience::Api]
        );
    }

    #[test]
    fn env_beats_file() {
        let s = from_toml(
            "[token]\naccess_token_ttl = 100\n",
            &[("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "200")],
        )
        .unwrap();
        assert_eq!(s.policy.ttl.secs(), 200);
    }

    #[test]
    fn audit_and_per_client_settings() {
        let s = from_toml("", &[]).unwrap();
        assert_eq!(s.audit.output, AuditOutput::Stdout, "stdout by default");
        assert_eq!((s.audit.file.clone(), s.audit.queue), (None, 8192));
        assert!(s.metrics_per_client.is_empty());
        let s = from_toml(
            "[audit]\noutput = \"file\"\nfile = \"/var/log/grantd/audit.jsonl\"\nqueue = 16\n[metrics]\nper_client = [\"svc-a\"]\n",
            &[("GRANTD_AUDIT__QUEUE", "32")],
        )
        .unwrap();
        assert_eq!(
            s.audit,
            AuditSettings {
                output: AuditOutput::File,
                file: Some(PathBuf::from("/var/log/grantd/audit.jsonl")),
                queue: 32,
            }
        );
        assert_eq!(s.metrics_per_client, ["svc-a"]);
        let off = from_toml("", &[("GRANTD_AUDIT__OUTPUT", "off")]).unwrap();
        assert_eq!(off.audit.output, AuditOutput::Off);
    }

    #[test]
    fn errors_name_the_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("[audit]\noutput = \"syslog\"\n", &[], "audit.output"),
            ("[audit]\nqueue = 0\n", &[], "audit.queue"),
            ("[audit]\nsink = \"x\"\n", &[], "sink"),
            (
                "[metrics]\nper_client = [\"other\"]\n",
                &[],
                "metrics.per_client",
            ),
            (
                "[metrics]\nper_client = [\"a b\"]\n",
                &[],
                "metrics.per_client",
            ),
            ("[token]\nissuer_url = \"x\"\n", &[], "issuer_url"),
            ("[tokens]\n", &[], "tokens"),
            (
                "[token]\naccess_token_ttl = 0\n",
                &[],
                "token.access_token_ttl",
            ),
            (
                "[token]\naccess_token_ttl = \"soon\"\n",
                &[],
                "token.access_token_ttl",
            ),
            ("[token]\nsubject = \"user\"\n", &[], "token.subject"),
            (
                "[token]\nscope_policy = \"lax\"\n",
                &[],
                "token.scope_policy",
            ),
            ("[token]\nissuer = \"ftp://x\"\n", &[], "token.issuer"),
            ("[token]\naudiences = []\n", &[], "token.audiences"),
            (
                "[signing]\nalgorithm = \"HS256\"\n",
                &[],
                "signing.algorithm",
            ),
            (
                "[signing]\nrotate_every = \"often\"\n",
                &[],
                "signing.rotate_every",
            ),
            ("[server]\nbind = \"localhost\"\n", &[], "server.bind"),
            (
                "[server]\nbody_timeout = \"0s\"\n",
                &[],
                "server.body_timeout",
            ),
            (
                "[server]\nbody_timeout = \"slow\"\n",
                &[],
                "server.body_timeout",
            ),
            (
                "[server]\nmax_connections = 0\n",
                &[],
                "server.max_connections",
            ),
            ("[server]\nbacklog = 0\n", &[], "server.backlog"),
            (
                "[sessions]\npurge_every = \"0s\"\n",
                &[],
                "sessions.purge_every",
            ),
            ("[cache]\nttl = \"10m\"\n", &[], "cache.ttl"),
            (
                "[rate_limit]\nper_client = 0\n",
                &[],
                "rate_limit.per_client",
            ),
            (
                "[rate_limit]\nper_ip_burst = 0\n",
                &[],
                "rate_limit.per_ip_burst",
            ),
            (
                "[rate_limit]\nbackoff_cap = \"2d\"\n",
                &[],
                "rate_limit.backoff_cap",
            ),
            (
                "[rate_limit]\nenabled = \"maybe\"\n",
                &[],
                "rate_limit.enabled",
            ),
            (
                "[database]\ngroup_commit_window = \"1s\"\n",
                &[],
                "database.group_commit_window",
            ),
            (
                "[database]\ngroup_commit_max_rows = 0\n",
                &[],
                "database.group_commit_max_rows",
            ),
            (
                "[database]\nstatement_timeout = \"1h\"\n",
                &[],
                "database.statement_timeout",
            ),
            (
                "[database]\ntcp_keepalive = \"0s\"\n",
                &[],
                "database.tcp_keepalive",
            ),
            (
                "[[scopes]]\nname = \"admin\"\ntier = \"service\"\nlevel = 1\n",
                &[],
                "built in",
            ),
            (
                "[[scopes]]\nname = \"x\"\ntier = \"service\"\nlevel = 1\n[[scopes]]\nname = \"x\"\ntier = \"service\"\nlevel = 2\n",
                &[],
                "more than once",
            ),
            (
                "[[scopes]]\nname = \"x\"\ntier = \"both\"\nlevel = 1\n",
                &[],
                "scopes[0].tier",
            ),
            (
                "[[scopes]]\nname = \"x y\"\ntier = \"service\"\nlevel = 1\n",
                &[],
                "scopes[0].name",
            ),
            ("", &[("GRANTD_TOKEN__NOPE", "1")], "nope"),
            (
                "",
                &[("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "abc")],
                "token.access_token_ttl",
            ),
        ];
        for (text, vars, needle) in cases {
            let err = from_toml(text, vars)
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(
                err.contains(needle),
                "{text:?} {vars:?}: {err:?} should name {needle:?}"
            );
        }
    }

    #[test]
    fn each_section_converts_on_its_own() {
        let all = load(None, &BTreeMap::new()).unwrap();
        let server = ServerSettings::try_from(&ServerSection::default()).unwrap();
        assert_eq!(
            (server.bind, server.limits),
            (all.server.bind, all.server.limits)
        );
        let database = DatabaseSettings::try_from(&DatabaseSection::default()).unwrap();
        assert_eq!(database, all.database);
        let signing = SigningSettings::try_from(&SigningSection::default()).unwrap();
        assert_eq!(signing, all.signing);
        assert_eq!(signing.refresh_every, Duration::from_secs(30));
        let sessions = SessionSettings::try_from(&SessionsSection::default()).unwrap();
        assert_eq!(sessions, all.sessions);
        let cache = CacheSettings::try_from(&CacheSection::default()).unwrap();
        assert_eq!(cache, all.cache);
        assert_eq!(cache.ttl, Duration::from_secs(2));
        // A node must reload its key ring well within the retired keys' margin.
        for bad in ["0s", "241s"] {
            let section = SigningSection {
                refresh_every: bad.into(),
                ..SigningSection::default()
            };
            let err = SigningSettings::try_from(&section).unwrap_err().to_string();
            assert!(err.contains("`signing.refresh_every`"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_out_of_range_name_the_key_and_the_range() {
        let huge = u64::MAX.to_string();
        for (section, key, bad, good) in [
            ("signing", "rotate_every", huge.as_str(), "3650d"),
            ("signing", "rotate_every", "3651d", "60s"),
            ("signing", "rotate_every", "59s", "30d"),
            ("sessions", "retention", huge.as_str(), "36500d"),
            ("sessions", "retention", "36501d", "0s"),
            ("sessions", "purge_every", huge.as_str(), "7d"),
            ("sessions", "purge_every", "8d", "1s"),
        ] {
            let name = format!("{section}.{key}");
            let err = from_toml(&format!("[{section}]\n{key} = \"{bad}\"\n"), &[])
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(
                err.contains(&format!("`{name}`")) && err.contains("between"),
                "{name} = {bad:?}: {err:?} should name the key and the allowed range"
            );
            let ok = from_toml(&format!("[{section}]\n{key} = \"{good}\"\n"), &[]);
            assert!(ok.is_ok(), "{name} = {good:?}: {:?}", ok.err());
        }
    }

    #[test]
    fn client_assertion_bounds_are_read_and_must_fit_the_replay_memory() {
        let d = load(None, &env(&[])).unwrap().client_assertion;
        assert_eq!(
            (d.max_lifetime, d.max_skew),
            (Duration::from_secs(300), Duration::from_secs(5))
        );
        let s = from_toml(
            "[client_assertion]\nmax_lifetime = \"2m\"\nmax_skew = \"1s\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            (s.client_assertion.max_lifetime, s.client_assertion.max_skew),
            (Duration::from_secs(120), Duration::from_secs(1))
        );
        for (key, bad) in [
            ("max_lifetime", "0s"),
            ("max_lifetime", "2h"),
            ("max_skew", "10m"),
        ] {
            let e =
                from_toml(&format!("[client_assertion]\n{key} = \"{bad}\"\n"), &[]).unwrap_err();
            assert!(
                format!("{e:#}").contains(&format!("`client_assertion.{key}`")),
                "{e:#}"
            );
        }
        // 60 s token + no retention < 300 s + 5 s: the row (the replay key) would go first.
        let short = [
            ("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "60"),
            ("GRANTD_SESSIONS__RETENTION", "0s"),
        ];
        let e = load(None, &env(&short)).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("sessions.retention") && msg.contains("5m 5s") && msg.contains("1m"),
            "{msg}"
        );
        // Exactly enough is enough.
        let fits = [
            ("GRANTD_TOKEN__ACCESS_TOKEN_TTL", "60"),
            ("GRANTD_SESSIONS__RETENTION", "0s"),
            ("GRANTD_CLIENT_ASSERTION__MAX_LIFETIME", "55s"),
        ];
        assert!(load(None, &env(&fits)).is_ok());
    }

    #[test]
    fn missing_or_broken_file() {
        let e = load(
            Some(Path::new("/nonexistent/grantd.toml")),
            &BTreeMap::new(),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        assert!(e.contains("/nonexistent/grantd.toml"), "{e}");
        let e = from_toml("[token\n", &[])
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("not valid TOML"), "{e}");
    }
}
