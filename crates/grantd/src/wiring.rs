//! The composition root: turns [`Settings`] into connected adapters and the use cases that run
//! on them. Every command (serve and the admin commands) goes through here, so they all see the
//! same database, master key, catalog and policy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use grantd_app::{Admin, Audit, FederationPorts, KeyAdmin, KeyPolicy, Ports, TokenService};
use grantd_domain::TokenPolicy;
use grantd_jwt::{
    DpopConfig, DpopVerifier, JwtConfig, JwtService, MasterKey, RandomIds, Secrets, SystemClock,
};
use grantd_ports::Clock;
use grantd_store::cache::Cached;
use grantd_store::{Backend, Store, StoreOptions};

use crate::audit::AuditQueue;
use crate::config::{AuditOutput, Settings};

/// Which command is being wired: `serve` writes its audit events where `audit.output` says,
/// the CLI always to the audit file (its stdout is the command's result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Serve,
    Cli,
}

/// Where the master key comes from, for messages.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    Env,
    File(PathBuf),
    Created(PathBuf),
}

impl std::fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKeySource::Env => f.write_str("GRANTD_MASTER_KEY"),
            MasterKeySource::File(p) => write!(f, "file {}", p.display()),
            MasterKeySource::Created(p) => write!(f, "file {} (created)", p.display()),
        }
    }
}

/// Everything a command needs, connected and migrated.
pub struct Wired {
    pub settings: Settings,
    pub store: Store,
    /// The read cache behind `ports` (clients, owners, sessions) and federation's credentials;
    /// `serve` feeds it the store's change notifications.
    pub cache: Arc<Cached<Store>>,
    pub jwt: Arc<JwtService>,
    pub ports: Ports,
    pub policy: Arc<TokenPolicy>,
    pub applied_migrations: Vec<String>,
    pub master_key_source: MasterKeySource,
    /// The audit queue, unless `audit.output` is "off"; closed (written out) by the command.
    pub audit: Option<Arc<AuditQueue>>,
    /// Trusted issuers and their ports, when `[[federation.issuers]]` has any.
    pub federation: Option<FederationPorts>,
}

impl Wired {
    pub fn token_service(&self) -> TokenService {
        let service = TokenService::new(self.ports.clone(), self.policy.clone())
            .with_quota_sync(self.settings.quota_sync)
            .with_assertion_limits(self.settings.client_assertion)
            .with_audit(self.audit_sink());
        match &self.federation {
            Some(f) => service.with_federation(f.clone()),
            None => service,
        }
    }

    /// The use cases' handle on the audit queue.
    pub fn audit_sink(&self) -> Audit {
        match &self.audit {
            Some(q) => Audit::new(q.clone()),
            None => Audit::off(),
        }
    }

    /// Writes out the queued audit events; call once the command is done.
    pub fn close_audit(&self) {
        if let Some(q) = &self.audit {
            q.close();
        }
    }

    pub fn admin(&self) -> Admin {
        let admin = Admin::new(self.ports.clone(), self.policy.clone())
            .with_transactions(Arc::new(self.store.clone()))
            .with_audit(self.audit_sink())
            .with_jwks_http_loopback(self.settings.jwks_fetch.allow_http_loopback);
        match &self.federation {
            Some(f) => admin.with_federation(f.clone()),
            None => admin,
        }
    }

    /// Signing-key administration on the key ring loaded by `wire`.
    pub fn key_admin(&self) -> KeyAdmin {
        KeyAdmin::new(
            self.jwt.clone(),
            Arc::new(SystemClock),
            KeyPolicy {
                max_token_ttl: self.policy.ttl,
                rotate_every: self.settings.signing.rotate_every,
            },
        )
        .with_audit(self.audit_sink())
    }
}

/// Connects to the database and applies pending migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<(Store, Vec<String>)> {
    let mut opts = StoreOptions::default();
    if let Some(n) = settings.database.max_connections {
        opts.max_connections = n;
    }
    opts.batch_window = settings.database.group_commit_window;
    opts.max_batch = settings.database.group_commit_max_rows;
    opts.max_inflight_batches = settings.database.group_commit_inflight;
    opts.statement_timeout = settings.database.statement_timeout;
    opts.tcp_keepalive = settings.database.tcp_keepalive;
    opts.catalog = Arc::new(settings.policy.catalog.clone());
    let store = Store::connect(&settings.database.url, opts)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open database {}: {e}",
                redact_url(&settings.database.url)
            )
        })?;
    let applied = store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    Ok((store, applied))
}

/// Connects, migrates, loads the master key and the signing keys (creating them on first start).
pub async fn wire(settings: Settings, role: Role) -> anyhow::Result<Wired> {
    let (store, applied_migrations) = open_store(&settings).await?;
    let audit = audit_queue(&settings, store.backend(), role)?;
    let (master, master_key_source) = master_key(&settings, store.backend())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store_arc = Arc::new(store.clone());
    let jwt = Arc::new(JwtService::new(
        JwtConfig {
            issuer: settings.policy.issuer.clone(),
            algorithm: settings.signing.algorithm,
        },
        master.clone(),
        store_arc.clone(),
    ));
    jwt.init(clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("signing keys: {e}"))?;
    let secrets = Arc::new(Secrets::new(&master));
    // Client and owner lookups (two per token request) and the session lookup of introspection
    // go through a cache; `serve` keeps it fresh with change notifications, and `cache.ttl`
    // bounds a missed one.
    let cache = Arc::new(Cached::new(store.clone(), settings.cache.ttl));
    let remote_keys = grantd_jwks::JwksFetcher::new(settings.jwks_fetch.clone(), clock.clone())?;
    let remote_keys = Arc::new(remote_keys);
    let ports = Ports {
        clients: cache.clone(),
        users: cache.clone(),
        sessions: cache.clone(),
        signer: jwt.clone(),
        secrets,
        clock,
        ids: Arc::new(RandomIds::new()),
        assertions: Arc::new(grantd_jwt::AssertionVerifier::default()),
        remote_keys,
        dpop: Arc::new(DpopVerifier::new(&master, dpop_config(&settings))),
    };
    let federation = federation(&settings, &cache, &ports)?;
    let policy = Arc::new(settings.policy.clone());
    Ok(Wired {
        settings,
        store,
        cache,
        jwt,
        ports,
        policy,
        applied_migrations,
        master_key_source,
        audit,
        federation,
    })
}

/// The federation ports, when issuers are trusted: their keys through one JWKS fetcher
/// (its cache shared by every request of this process), credentials read through the client
/// cache (dropped with their client's entry, see `grantd_store::cache`).
fn federation(
    settings: &Settings,
    cache: &Arc<Cached<Store>>,
    ports: &Ports,
) -> anyhow::Result<Option<FederationPorts>> {
    let f = &settings.federation;
    if f.issuers.is_empty() {
        return Ok(None);
    }
    let fetch = grantd_jwks::FetchPolicy {
        allow_http_loopback: f.allow_http_loopback,
        ..Default::default()
    };
    let fetcher = grantd_jwks::JwksFetcher::new(fetch.clone(), ports.clock.clone())
        .map_err(|e| anyhow::anyhow!("federation: {e}"))?;
    let keys = crate::federation::IssuerJwks::new(f, Arc::new(fetcher), fetch);
    Ok(Some(FederationPorts {
        issuers: Arc::new(f.federation(&settings.policy.issuer)),
        credentials: cache.clone(),
        tokens: Arc::new(grantd_jwt::PlatformTokenVerifier::default()),
        keys: Arc::new(keys),
    }))
}

/// `[dpop]` as the proof checker takes it (whole seconds).
fn dpop_config(settings: &Settings) -> DpopConfig {
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    DpopConfig {
        max_age_secs: secs(settings.dpop.max_age),
        max_skew_secs: secs(settings.dpop.max_skew),
        nonces: settings.dpop.nonce,
    }
}

/// The audit queue `role` writes to: stdout or the audit file, or none with `audit.output =
/// "off"`.
fn audit_queue(
    settings: &Settings,
    backend: Backend,
    role: Role,
) -> anyhow::Result<Option<Arc<AuditQueue>>> {
    let a = &settings.audit;
    let queue = match (a.output, role) {
        (AuditOutput::Off, _) => return Ok(None),
        (AuditOutput::Stdout, Role::Serve) => AuditQueue::to_stdout(a.queue)?,
        (AuditOutput::File, _) | (AuditOutput::Stdout, Role::Cli) => {
            AuditQueue::to_file(&audit_file(settings, backend), a.queue)?
        }
    };
    Ok(Some(queue))
}

/// `audit.file`, else `grantd-audit.jsonl` next to the SQLite database, else (Postgres) in the
/// working directory.
pub fn audit_file(settings: &Settings, backend: Backend) -> PathBuf {
    const NAME: &str = "grantd-audit.jsonl";
    match (&settings.audit.file, backend) {
        (Some(p), _) => p.clone(),
        (None, Backend::Sqlite) => sqlite_sibling(&settings.database.url, NAME),
        (None, Backend::Postgres) => PathBuf::from(NAME),
    }
}

/// `GRANTD_MASTER_KEY`, else `signing.master_key_file`, else (SQLite only) `grantd.key` next to
/// the database, created with mode 0600 on first start. With Postgres one must be given, since
/// every replica must share it.
fn master_key(
    settings: &Settings,
    backend: Backend,
) -> anyhow::Result<(MasterKey, MasterKeySource)> {
    if let Ok(value) = std::env::var("GRANTD_MASTER_KEY") {
        // The error names its origin ("master key from GRANTD_MASTER_KEY: …").
        let key = MasterKey::from_base64url(&value)?;
        return Ok((key, MasterKeySource::Env));
    }
    let path = match (&settings.signing.master_key_file, backend) {
        (Some(p), Backend::Postgres) => {
            let key = MasterKey::load_file(p)?;
            return Ok((key, MasterKeySource::File(p.clone())));
        }
        (Some(p), Backend::Sqlite) => p.clone(),
        (None, Backend::Sqlite) => sqlite_sibling(&settings.database.url, "grantd.key"),
        (None, Backend::Postgres) => bail!(
            "no master key: with Postgres every replica must share one. Set GRANTD_MASTER_KEY to 32 random bytes in \
             base64url (e.g. `head -c32 /dev/urandom | basenc --base64url`) or point `signing.master_key_file` \
             (GRANTD_SIGNING__MASTER_KEY_FILE) at a file holding it"
        ),
    };
    let (key, created) = MasterKey::load_or_create_file(&path)?;
    if created {
        tracing::info!(path = %path.display(), "created a new master key file (mode 0600): back it up with the database");
        Ok((key, MasterKeySource::Created(path)))
    } else {
        Ok((key, MasterKeySource::File(path)))
    }
}

/// A file next to the SQLite database named by `url` (which the store has already opened, so
/// it is a plain path).
fn sqlite_sibling(url: &str, name: &str) -> PathBuf {
    let path = grantd_store::sqlite_path(url).unwrap_or(url);
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

/// The database URL without its credentials, for messages (one implementation, the store's).
pub use grantd_store::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_sits_next_to_the_database() {
        assert_eq!(
            sqlite_sibling("sqlite://grantd.db", "grantd.key"),
            PathBuf::from("grantd.key")
        );
        assert_eq!(
            sqlite_sibling("sqlite:///var/lib/grantd/g.db", "grantd.key"),
            PathBuf::from("/var/lib/grantd/grantd.key")
        );
        assert_eq!(
            sqlite_sibling("data/g.db", "grantd.key"),
            PathBuf::from("data/grantd.key")
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("sqlite://grantd.db"), "sqlite://grantd.db");
        assert_eq!(
            redact_url("postgres://db/x?user=u&password=hunter2"),
            "postgres://db/x?user=u&password=***"
        );
    }
}
