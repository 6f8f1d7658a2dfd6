//! Per-client token quotas (tokens per hour and per day, sliding windows), counted from the
//! session rows so that every replica on one database agrees, without a count query per
//! request.
//!
//! Each process keeps, per client with a quota, how many tokens each window held when it last
//! read the rows (`SessionStore::issued_since`: one aggregate query per window) plus the tokens
//! it issued since. It reads the rows again at a client's first token request and then at most
//! once per sync interval (on the first request after the interval, not on a timer). Between
//! two reads a process does not see what other replicas issued, so all replicas together may
//! overshoot a quota by at most what the others issued within one sync interval. Tokens that
//! leave the window are seen leaving at the next read too, so a process may refuse up to one
//! interval longer than strictly needed, never less.
//!
//! A refusal says when to come back: when the oldest token counted in the exhausted window
//! leaves it (a slot frees), at least one second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use grantd_domain::{ClientId, QuotaWindow, Timestamp, TokenQuota};
use grantd_ports::{IssuedSince, SessionStore};

use crate::error::AppError;

/// How often each process reads a client's quota count from the rows, by default.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// One window's count: the rows seen at the last read plus the tokens issued here since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Count {
    tracked: bool,
    used: u64,
    /// The oldest token counted (from the rows, or issued here when the rows held none).
    oldest: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Usage {
    synced_at: Option<Timestamp>,
    /// Hour, day (the order of [`QuotaWindow::ALL`]).
    windows: [Count; 2],
    /// Taken here and not yet settled: not in the rows, whatever a read returns.
    pending: u64,
}

impl Usage {
    fn window(&mut self, w: QuotaWindow) -> &mut Count {
        &mut self.windows[w as usize]
    }

    fn needs_sync(&self, quota: &TokenQuota, now: Timestamp, interval: Duration) -> bool {
        let stale = self
            .synced_at
            .is_none_or(|at| now.as_micros().saturating_sub(at.as_micros()) >= micros(interval));
        stale
            || QuotaWindow::ALL
                .into_iter()
                .any(|w| quota.limit(w).is_some() && !self.windows[w as usize].tracked)
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn lock(m: &Mutex<Usage>) -> MutexGuard<'_, Usage> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a quota check found: the quota, what each window holds, what is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaUsage {
    pub window: QuotaWindow,
    pub limit: u32,
    pub used: u64,
}

impl QuotaUsage {
    pub fn remaining(&self) -> u64 {
        u64::from(self.limit).saturating_sub(self.used)
    }
}

/// Every client's count in this process. Only authenticated clients with a quota get an entry,
/// so the map holds at most one per such client.
#[derive(Debug)]
pub(crate) struct Quotas {
    interval: Duration,
    clients: Mutex<HashMap<ClientId, Arc<Mutex<Usage>>>>,
}

/// A token slot taken from a client's quota: dropped without [`Slot::settle`] (the token was
/// not issued), it is given back.
#[derive(Debug)]
pub(crate) struct Slot {
    usage: Option<Arc<Mutex<Usage>>>,
    windows: Vec<QuotaWindow>,
}

impl Slot {
    /// The token's session row is written: the slot is in the rows from now on.
    pub(crate) fn settle(mut self) {
        if let Some(usage) = self.usage.take() {
            let mut u = lock(&usage);
            u.pending = u.pending.saturating_sub(1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(usage) = self.usage.take() {
            let mut u = lock(&usage);
            u.pending = u.pending.saturating_sub(1);
            for &w in &self.windows {
                let c = u.window(w);
                c.used = c.used.saturating_sub(1);
            }
        }
    }
}

impl Quotas {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn usage(&self, id: &ClientId) -> Arc<Mutex<Usage>> {
        let mut map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id.clone()).or_default().clone()
    }

    /// Reads the client's windows from the rows when its count is stale. A failed read keeps
    /// the count it had; with none yet, the failure is the answer (503).
    async fn sync(
        &self,
        sessions: &dyn SessionStore,
        id: &ClientId,
        quota: &TokenQuota,
        now: Timestamp,
    ) -> Result<Arc<Mutex<Usage>>, AppError> {
        let usage = self.usage(id);
        if !lock(&usage).needs_sync(quota, now, self.interval) {
            return Ok(usage);
        }
        let mut read: Vec<(QuotaWindow, IssuedSince)> = Vec::new();
        for w in QuotaWindow::ALL
            .into_iter()
            .filter(|&w| quota.limit(w).is_some())
        {
            match sessions.issued_since(id, now.minus_secs(w.secs())).await {
                Ok(got) => read.push((w, got)),
                Err(e) if lock(&usage).synced_at.is_some() => {
                    tracing::warn!(client_id = %id, error = %e, "quota count not refreshed");
                    return Ok(usage);
                }
                Err(e) => return Err(AppError::from_store("counting issued tokens", e)),
            }
        }
        let mut u = lock(&usage);
        let pending = u.pending;
        for (w, got) in read {
            *u.window(w) = Count {
                tracked: true,
                used: got.count.saturating_add(pending),
                oldest: got.oldest,
            };
        }
        u.synced_at = Some(now);
        drop(u);
        Ok(usage)
    }

    /// Takes a slot of `quota` for one token to `id` at `now`, or says which window is
    /// exhausted and how long until it frees a slot.
    pub(crate) async fn take(
        &self,
        sessions: &dyn SessionStore,
        id: &ClientId,
        quota: &TokenQuota,
        now: Timestamp,
    ) -> Result<Slot, AppError> {
        if !quota.is_set() {
            return Ok(Slot {
                usage: None,
                windows: Vec::new(),
            });
        }
        let usage = self.sync(sessions, id, quota, now).await?;
        let mut u = lock(&usage);
        if let Some(w) = quota.exhausted(|w| u.windows[w as usize].used) {
            let c = u.windows[w as usize];
            let frees_at = c.oldest.unwrap_or(now).plus_secs(w.secs());
            let wait = frees_at.as_micros().saturating_sub(now.as_micros()).max(1);
            return Err(AppError::QuotaExhausted {
                window: w,
                retry_after: Duration::from_micros(u64::try_from(wait).unwrap_or(1)),
            });
        }
        let windows: Vec<QuotaWindow> = QuotaWindow::ALL
            .into_iter()
            .filter(|&w| quota.limit(w).is_some())
            .collect();
        for &w in &windows {
            let c = u.window(w);
            c.used += 1;
            c.oldest.get_or_insert(now);
        }
        u.pending += 1;
        drop(u);
        Ok(Slot {
            usage: Some(usage),
            windows,
        })
    }
}

/// A client's usage of each window its quota sets, read from the rows (what `explain` and
/// `client show` print).
pub(crate) async fn usage_from_rows(
    sessions: &dyn SessionStore,
    id: &ClientId,
    quota: &TokenQuota,
    now: Timestamp,
) -> Result<Vec<QuotaUsage>, grantd_ports::StoreError> {
    let mut out = Vec::new();
    for w in QuotaWindow::ALL {
        if let Some(limit) = quota.limit(w) {
            let got = sessions.issued_since(id, now.minus_secs(w.secs())).await?;
            out.push(QuotaUsage {
                window: w,
                limit: limit.get(),
                used: got.count,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
