//! `grantd serve`: migrate, load or create the signing keys, start the HTTP server and the
//! background tasks (key-ring refresh and scheduled rotation, session purge, the cache's change
//! notifications). SIGTERM drains in-flight requests and exits 0.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use grantd_api::{ApiConfig, ApiState, Readiness};
use grantd_app::PurgeCutoff;
use grantd_store::Store;

use crate::config::{AdminApiPlacement, Settings};
use crate::wiring::{Wired, redact_url};

/// The database half of `/readyz` (the handler checks the signer itself).
struct Ready {
    store: Store,
}

#[async_trait]
impl Readiness for Ready {
    async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}

/// The public listener, bound before the rest is wired.
pub struct Bound {
    listener: std::net::TcpListener,
    local: SocketAddr,
}

/// Binds `--bind` (else `server.bind`); without a configured `token.issuer`, the issuer becomes
/// the address actually bound (the real port when asked for port 0).
pub fn bind(settings: &mut Settings, bind_override: Option<SocketAddr>) -> anyhow::Result<Bound> {
    let bind = bind_override.unwrap_or(settings.server.bind);
    let listener = grantd_api::listener(bind, settings.server.limits.backlog)
        .with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr()?;
    if settings.issuer_from_bind {
        settings.policy.issuer = crate::config::issuer_for(local);
    }
    Ok(Bound { listener, local })
}

/// Runs the server until SIGTERM/SIGINT. Must be called inside an actix system.
pub async fn serve(wired: Wired, bound: Bound) -> anyhow::Result<()> {
    // A database that answers reads but takes no write (read-only file or file system, full
    // disk, read-only replica) would fail every token request: refuse to start instead.
    wired.store.check_writable().await.map_err(|e| {
        anyhow::anyhow!(
            "the database {} cannot be written ({e}): `grantd serve` needs a writable database \
             (a file system mounted read-write with free space, or a Postgres primary)",
            redact_url(&wired.settings.database.url)
        )
    })?;
    let Bound { listener, local } = bound;
    let state = api_state(&wired)?;
    let admin = start_admin(&wired, state.clone())?;

    spawn_background(&wired);
    spawn_rate_limit_sweeper(state.clone());
    // Admin changes made by any process (CLI, another replica) drop the cached entries they
    // made stale within a fraction of a second; watched until the server stops.
    let cache = wired.cache.clone();
    let watch = wired
        .store
        .watch_changes(move |change| cache.apply(&change));

    let workers = wired.settings.server.workers;
    let server = match wired.settings.admin_api {
        AdminApiPlacement::Public => {
            grantd_api::server_with_admin_api(state, listener, workers, admin_api(&wired))?
        }
        AdminApiPlacement::Admin | AdminApiPlacement::Off => {
            grantd_api::server(state, listener, workers)?
        }
    };
    announce(&wired, local, admin);
    let served = server.await;
    drop(watch);
    // Every event of a request answered before the stop is written out, even if the server
    // stopped on an error.
    wired.close_audit();
    served?;
    let stats = wired.store.stats();
    tracing::info!(
        audit_dropped = wired.audit.as_ref().map_or(0, |q| q.dropped()),
        session_batches = stats.session_batches,
        session_rows = stats.session_rows,
        batch_fallbacks = stats.session_batch_fallbacks,
        "grantd stopped"
    );
    Ok(())
}

/// The HTTP layer's configuration and state, from the settings.
fn api_state(wired: &Wired) -> anyhow::Result<ApiState> {
    let limits = wired.settings.server.limits;
    let mut api_config = ApiConfig::new(
        wired.policy.issuer.clone(),
        &wired.settings.server.trusted_proxies,
    )
    .map_err(|e| anyhow::anyhow!("invalid `server.trusted_proxies`: {e}"))?;
    api_config.body_timeout = limits.body_timeout;
    api_config.max_connections = limits.max_connections;
    api_config.rate_limit = wired.settings.rate_limit;
    api_config.algorithm = wired.settings.signing.algorithm.as_str();
    // Label values must live as long as the recorder: the configured ids, leaked once here
    // (a bounded list read at start-up).
    api_config.per_client = wired
        .settings
        .metrics_per_client
        .iter()
        .map(|id| &*Box::leak(id.clone().into_boxed_str()))
        .collect();
    let readiness = Arc::new(Ready {
        store: wired.store.clone(),
    });
    Ok(ApiState::new(wired.token_service(), readiness, api_config))
}

/// Rate-limit buckets of idle keys are dropped, and a store over its bound reset, every few
/// seconds: made-up client ids cannot grow memory for long.
fn spawn_rate_limit_sweeper(state: ApiState) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            state.sweep_rate_limits();
        }
    });
}

/// The start-up log event, and the one line that says where it listens, machine-readable for
/// scripts and tests that bind port 0 (the URL is the fourth word).
fn announce(wired: &Wired, local: std::net::SocketAddr, admin: std::net::SocketAddr) {
    tracing::info!(
        database = %redact_url(&wired.settings.database.url),
        algorithm = %wired.settings.signing.algorithm,
        workers = wired.settings.server.workers,
        migrations_applied = wired.applied_migrations.len(),
        master_key = %wired.master_key_source,
        "grantd started"
    );
    let issuer_origin = if wired.settings.issuer_from_bind {
        " (from the bind address; set token.issuer to override)"
    } else {
        ""
    };
    let metrics = if wired.settings.metrics_enabled {
        format!("http://{admin}/metrics")
    } else {
        "off".to_owned()
    };
    eprintln!(
        "grantd listening on http://{local} issuer {}{issuer_origin} admin http://{admin} metrics {metrics}",
        wired.policy.issuer
    );
}

/// Seconds: from 100 µs (a cached, in-memory decision) to 5 s (a statement timing out).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Rows per group commit, up to `database.group_commit_max_rows`' ceiling.
const ROW_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 2000.0,
];

/// The admin listener (`/metrics`, `/healthz`, `/readyz`, the admin API under `/admin/v1`), with the Prometheus recorder
/// installed unless `metrics.enabled` is false. Returns the address it bound.
fn start_admin(wired: &Wired, state: ApiState) -> anyhow::Result<SocketAddr> {
    let bind = wired.settings.admin_bind;
    let listener =
        grantd_api::listener(bind, 128).with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr()?;
    let render = if wired.settings.metrics_enabled {
        use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
        // Histograms with buckets (aggregatable across replicas), not client-side summaries.
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_rows".into()), ROW_BUCKETS))
            .context("metric buckets")?
            .install_recorder()
            .context("cannot install the metrics recorder")?;
        metrics::gauge!("grantd_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        // Present from the first scrape, so a dashboard and an alert see 0, not "no data".
        metrics::counter!("grantd_audit_dropped_total").absolute(0);
        let (store, jwt) = (wired.store.clone(), wired.jwt.clone());
        let render: grantd_api::RenderMetrics = Arc::new(move || {
            crate::gauges::sample(&store, &jwt);
            handle.render()
        });
        Some(render)
    } else {
        None
    };
    let server = match wired.settings.admin_api {
        AdminApiPlacement::Admin => {
            grantd_api::admin_api_server(state, listener, render, admin_api(wired))?
        }
        AdminApiPlacement::Public | AdminApiPlacement::Off => {
            grantd_api::admin_server(state, listener, render)?
        }
    };
    actix_web::rt::spawn(server);
    Ok(local)
}

/// The admin HTTP API over the same use cases as the CLI.
fn admin_api(wired: &Wired) -> grantd_api::admin::AdminApi {
    grantd_api::admin::AdminApi::new(
        wired.admin(),
        wired.key_admin(),
        wired.token_service(),
        wired.settings.sessions.retention,
    )
}

fn spawn_background(wired: &Wired) {
    // Key ring: reload from the database so rotations made by other nodes (or `grantd key
    // rotate`) are picked up within `refresh_every`; rotate on schedule; drop expired keys.
    // The check logs its own outcomes.
    let keys = wired.key_admin();
    let refresh_every = wired.settings.signing.refresh_every;
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(refresh_every);
        tick.tick().await;
        loop {
            tick.tick().await;
            keys.scheduled_check().await;
        }
    });

    // Sessions: the same purge as `grantd session purge` (rows past expiry + retention, in
    // batches), on a timer.
    let admin = wired.admin();
    let cutoff = PurgeCutoff::Retention(wired.settings.sessions.retention);
    let purge_every = wired.settings.sessions.purge_every;
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(purge_every);
        loop {
            tick.tick().await;
            match admin.purge_sessions(cutoff).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "purged expired sessions"),
                Err(e) => tracing::warn!(error = %e, "session purge failed"),
            }
        }
    });
}
