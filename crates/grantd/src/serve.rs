//! `grantd serve`: migrate, load or create the signing keys, start the HTTP server and the
//! background tasks (key-ring refresh and scheduled rotation, session purge). SIGTERM drains
//! in-flight requests and exits 0.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use grantd_api::{ApiConfig, ApiState, Readiness};
use grantd_domain::Timestamp;
use grantd_jwt::{JwtService, KeyError};
use grantd_ports::KeyState;
use grantd_ports::{Clock, SystemClock};
use grantd_store::Store;

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

/// Runs the server until SIGTERM/SIGINT. Must be called inside an actix system.
pub async fn serve(wired: Wired, bind_override: Option<SocketAddr>) -> anyhow::Result<()> {
    // A database that answers reads but takes no write (read-only file or file system, full
    // disk, read-only replica) would fail every token request: refuse to start instead.
    wired.store.check_writable().await.map_err(|e| {
        anyhow::anyhow!(
            "the database {} cannot be written ({e}): `grantd serve` needs a writable database \
             (a file system mounted read-write with free space, or a Postgres primary)",
            redact_url(&wired.settings.database_url)
        )
    })?;
    let bind = bind_override.unwrap_or(wired.settings.bind);
    let listener = TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr()?;
    let api_config = ApiConfig::new(wired.policy.issuer.clone(), &wired.settings.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("invalid `server.trusted_proxies`: {e}"))?;
    let readiness = Arc::new(Ready {
        store: wired.store.clone(),
    });
    let state = ApiState::new(wired.token_service(), readiness, api_config);

    spawn_background(&wired);

    let server = grantd_api::server(state, listener, wired.settings.workers)?;
    tracing::info!(
        %local,
        issuer = %wired.policy.issuer,
        database = %redact_url(&wired.settings.database_url),
        algorithm = %wired.settings.algorithm,
        workers = wired.settings.workers,
        migrations_applied = wired.applied_migrations.len(),
        master_key = %wired.master_key_source,
        "grantd listening"
    );
    // Machine-readable line for scripts and tests that bind port 0.
    eprintln!("grantd listening on http://{local}");
    server.await?;
    let stats = wired.store.stats();
    tracing::info!(
        session_batches = stats.session_batches,
        session_rows = stats.session_rows,
        batch_fallbacks = stats.session_batch_fallbacks,
        "grantd stopped"
    );
    Ok(())
}

/// Rows deleted per purge statement: small enough that one batch holds the (SQLite) writer for
/// a few milliseconds at most.
const PURGE_BATCH: u32 = 500;

fn spawn_background(wired: &Wired) {
    let clock = SystemClock;

    // Key ring: reload from the database so rotations made by other nodes (or `grantd key
    // rotate`) are picked up within `refresh_every`; rotate on schedule; drop expired keys.
    let jwt = wired.jwt.clone();
    let refresh_every = wired.settings.refresh_every;
    let rotate_every = wired.settings.rotate_every;
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(refresh_every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = clock.now();
            if let Err(e) = jwt.refresh(now).await {
                tracing::warn!(error = %e, "signing key refresh failed");
                continue;
            }
            if let Some(every) = rotate_every
                && active_since(&jwt)
                    .is_some_and(|since| now.as_secs() - since.as_secs() >= every.as_secs() as i64)
            {
                match jwt.rotate(now).await {
                    Ok(report) => tracing::info!(
                        retired = %report.old_active, active = %report.new_active, next = %report.new_next,
                        "scheduled signing key rotation"
                    ),
                    // Another node rotated first: that is the outcome we wanted.
                    Err(KeyError::RotationRaced { .. }) => {
                        tracing::info!("signing keys were rotated by another node")
                    }
                    Err(e) => tracing::warn!(error = %e, "scheduled signing key rotation failed"),
                }
            }
            if let Err(e) = jwt.delete_expired(now).await {
                tracing::warn!(error = %e, "deleting expired signing keys failed");
            }
        }
    });

    // Sessions: purge rows past expiry + retention in small batches, pausing between batches
    // so the single SQLite writer is never held for long.
    let sessions = wired.ports.sessions.clone();
    let retention = wired.settings.retention;
    let purge_every = wired.settings.purge_every;
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(purge_every);
        loop {
            tick.tick().await;
            let before = clock
                .now()
                .minus_secs(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
            let mut deleted = 0u64;
            loop {
                match sessions.purge_sessions(before, PURGE_BATCH).await {
                    Ok(n) => {
                        deleted += n;
                        if n < u64::from(PURGE_BATCH) {
                            break;
                        }
                        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "session purge failed");
                        break;
                    }
                }
            }
            if deleted > 0 {
                tracing::info!(deleted, "purged expired sessions");
            }
        }
    });
}

/// When the active key started signing (its creation time if it never recorded activation).
fn active_since(jwt: &JwtService) -> Option<Timestamp> {
    jwt.key_summaries()
        .into_iter()
        .find(|k| k.state == KeyState::Active)
        .map(|k| k.activated_at.unwrap_or(k.created_at))
}
