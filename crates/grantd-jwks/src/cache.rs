//! The per-URI cache: lifetimes clamped to the policy, one fetch at a time per URI, refetches
//! rate-limited, and the outage rule (a set outlives a failing publisher by `stale_grace`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use grantd_domain::{ClientKeys, JwksFailure, JwksUri, Timestamp};
use grantd_ports::{Clock, KeysWanted, RemoteKeys};

use crate::http::{BuildError, Fetched, HttpSource, Source};

/// How sets are fetched and kept (`[jwks_fetch]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Whole request (connect, TLS, head and body).
    pub timeout: Duration,
    /// Largest body accepted, bytes.
    pub max_bytes: usize,
    /// Shortest time a set is kept (also its lifetime without a `max-age`).
    pub min_cache: Duration,
    /// Longest time a set is kept, whatever its `max-age`.
    pub max_cache: Duration,
    /// At most one fetch attempt per URI within this interval (expired set or unknown `kid`
    /// alike): what bounds the load an attacker sending unknown kids can cause.
    pub refetch_interval: Duration,
    /// How long after its lifetime a set still answers while refetches fail.
    pub stale_grace: Duration,
    /// Whether `http://` to the loopback interface may be fetched (tests, local development).
    pub allow_http_loopback: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: 64 * 1024,
            min_cache: Duration::from_secs(5 * 60),
            max_cache: Duration::from_secs(24 * 3600),
            refetch_interval: Duration::from_secs(10),
            stale_grace: Duration::from_secs(15 * 60),
            allow_http_loopback: false,
        }
    }
}

/// `t + d`, saturating.
fn after(t: Timestamp, d: Duration) -> Timestamp {
    let d = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(t.as_micros().saturating_add(d))
}

/// What is known of one URI.
#[derive(Default)]
struct State {
    /// The last good set, until when it is fresh, and until when it may still be used.
    good: Option<(Arc<ClientKeys>, Timestamp, Timestamp)>,
    /// When the last fetch attempt ended, and its failure if it failed.
    last_attempt: Option<Timestamp>,
    last_failure: Option<JwksFailure>,
    /// Counts attempts, so a caller that waited for the fetch lock knows one happened.
    attempts: u64,
}

enum Next {
    Answer(Result<Arc<ClientKeys>, JwksFailure>),
    Fetch,
}

impl State {
    fn decide(&self, now: Timestamp, wanted: KeysWanted, policy: &FetchPolicy) -> Next {
        let fresh = self.good.as_ref().is_some_and(|(_, fresh, _)| now < *fresh);
        if fresh && wanted == KeysWanted::Current {
            return Next::Answer(self.outcome(now));
        }
        let recent = self
            .last_attempt
            .is_some_and(|t| now < after(t, policy.refetch_interval));
        if recent {
            Next::Answer(self.outcome(now))
        } else {
            Next::Fetch
        }
    }

    /// The last good set while usable, else the last failure.
    fn outcome(&self, now: Timestamp) -> Result<Arc<ClientKeys>, JwksFailure> {
        match &self.good {
            Some((keys, _, usable)) if now < *usable => Ok(Arc::clone(keys)),
            _ => Err(self.last_failure.unwrap_or(JwksFailure::Unreachable)),
        }
    }

    fn record(&mut self, result: Result<Fetched, JwksFailure>, now: Timestamp, p: &FetchPolicy) {
        self.attempts += 1;
        self.last_attempt = Some(now);
        match result {
            Ok(fetched) => {
                let life = fetched
                    .max_age
                    .unwrap_or(p.min_cache)
                    .clamp(p.min_cache, p.max_cache.max(p.min_cache));
                let fresh = after(now, life);
                let usable = after(fresh, p.stale_grace);
                self.good = Some((Arc::new(fetched.keys), fresh, usable));
                self.last_failure = None;
            }
            Err(failure) => self.last_failure = Some(failure),
        }
    }
}

/// One URI: its state, and the lock a fetch holds (the single flight).
#[derive(Default)]
struct Entry {
    state: Mutex<State>,
    fetch: tokio::sync::Mutex<()>,
}

impl Entry {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The [`RemoteKeys`] port: sets fetched over HTTP(S) and cached per URI (see the crate docs
/// for every rule). One per process; cheap to share behind an `Arc`. Entries are kept for as
/// long as the process runs, one per URI ever asked for (registered clients and configured
/// issuers: a bounded set).
pub struct JwksFetcher {
    policy: FetchPolicy,
    clock: Arc<dyn Clock>,
    source: Arc<dyn Source>,
    entries: Mutex<HashMap<JwksUri, Arc<Entry>>>,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl JwksFetcher {
    /// A fetcher over HTTP(S) with rustls and the platform's trusted roots.
    pub fn new(policy: FetchPolicy, clock: Arc<dyn Clock>) -> Result<Self, BuildError> {
        let source = Arc::new(HttpSource::new(&policy)?);
        Ok(Self::with_source(policy, clock, source))
    }

    fn with_source(policy: FetchPolicy, clock: Arc<dyn Clock>, source: Arc<dyn Source>) -> Self {
        Self {
            policy,
            clock,
            source,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, uri: &JwksUri) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(entries.entry(uri.clone()).or_default())
    }
}

#[async_trait]
impl RemoteKeys for JwksFetcher {
    async fn keys(
        &self,
        uri: &JwksUri,
        wanted: KeysWanted,
    ) -> Result<Arc<ClientKeys>, JwksFailure> {
        let entry = self.entry(uri);
        let seen = {
            let state = entry.state();
            match state.decide(self.clock.now(), wanted, &self.policy) {
                Next::Answer(answer) => return answer,
                Next::Fetch => state.attempts,
            }
        };
        let _flight = entry.fetch.lock().await;
        {
            // Another caller fetched while this one waited: its outcome is the answer.
            let state = entry.state();
            if state.attempts != seen {
                return state.outcome(self.clock.now());
            }
        }
        let result = self.source.fetch(uri).await;
        let now = self.clock.now();
        let mut state = entry.state();
        state.record(result, now, &self.policy);
        let answer = state.outcome(now);
        if let (Ok(_), Some(failure)) = (&answer, state.last_failure) {
            tracing::warn!(
                url = uri.as_str(),
                %failure,
                "jwks_uri refetch failed: the previous set is used until its grace ends"
            );
        }
        answer
    }
}

#[cfg(test)]
mod tests;
