//! Whether the database takes writes: the write half of readiness and of start-up.
//!
//! A database can answer `SELECT 1` while every write fails (a read-only or full disk, I/O
//! errors, a read-only Postgres replica). Readiness must say so, or a load balancer keeps
//! sending token requests that all fail. Two signals, neither adding work to a token request:
//! - the session writer records the outcome of each batch (one atomic store): a batch that
//!   failed for the database's sake marks writes as failing at once, a committed one clears it;
//! - a probe, one upsert of the single row of `write_probe`, run by readiness at most once per
//!   [`PROBE_EVERY`] (concurrent checks share it). A node taken out of rotation gets no token
//!   traffic, so only the probe can notice that writes work again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use grantd_ports::StoreError;

use crate::db::{Db, with_write};
use crate::error::Error;

/// How often readiness may write its probe row; a flood of `/readyz` costs one write per
/// interval at most.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct WriteHealth {
    failing: AtomicBool,
    /// When the probe last ran; the lock makes concurrent readiness checks wait for one probe.
    last_probe: tokio::sync::Mutex<Option<Instant>>,
}

impl WriteHealth {
    /// Records the outcome of a write. Only failures of the database itself count: a
    /// conflict or invalid row says nothing about the disk.
    pub(crate) fn record(&self, outcome: Result<(), &StoreError>) {
        match outcome {
            Ok(()) => self.failing.store(false, Ordering::Relaxed),
            Err(StoreError::Unavailable(_)) => self.failing.store(true, Ordering::Relaxed),
            Err(_) => {}
        }
    }

    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Runs `probe` unless it ran less than [`PROBE_EVERY`] ago, records its outcome, and
    /// answers whether writes currently succeed.
    pub(crate) async fn check<F, Fut>(&self, probe: F) -> Result<(), StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), StoreError>>,
    {
        let mut last = self.last_probe.lock().await;
        if last.is_none_or(|at| at.elapsed() >= PROBE_EVERY) {
            let outcome = probe().await;
            self.record(outcome.as_ref().map(|_| ()));
            *last = Some(Instant::now());
            outcome?;
        }
        drop(last);
        if self.failing() {
            return Err(StoreError::Unavailable(
                grantd_ports::Unavailable::WritesFailing,
            ));
        }
        Ok(())
    }
}

/// One committed write: the single `write_probe` row, its counter bumped so the page really
/// changes. On SQLite it goes through the one writer connection like every other write.
pub(crate) async fn probe(db: Db) -> Result<(), Error> {
    const UPSERT: &str = "INSERT INTO write_probe (id, probes) VALUES (1, 1) \
                          ON CONFLICT (id) DO UPDATE SET probes = write_probe.probes + 1";
    with_write!(&db, |c| {
        diesel_async::RunQueryDsl::execute(diesel::sql_query(UPSERT), c).await?
    });
    Ok(())
}
