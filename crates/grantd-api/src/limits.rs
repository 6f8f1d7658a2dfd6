//! Rate limits checked before any secret or signature work: token buckets per source IP and per
//! presented client id (`governor`), and failed-authentication throttling per (client id,
//! source IP) pair with exponential backoff. All of it is per process (see ARCHITECTURE.md).
//!
//! Memory is bounded whatever ids or addresses an attacker makes up: the buckets are swept of
//! idle keys on a timer (`sweep`, which the binary calls) and a bucket store still over
//! `max_keys` after the sweep is replaced by an empty one (everyone starts with a full bucket,
//! logged at WARN); the failure counters live in a fixed-capacity evicting cache.
//!
//! A client's own rate (`client create|update --rate-limit`) replaces the global per-client
//! bucket for it. It is learned from the client as each successful authentication loaded it
//! (through the client cache, which follows the store's change notifications), so the check
//! before the secret work needs no database read: the first request of a process, and the
//! first after a change reaches the cache, still go by what was known before. Only
//! authenticated clients are learned, so made-up ids cannot grow this map.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Longest piece of a presented client id used as a key (longer ids cannot exist: the store
/// refuses them; an attacker's long ids are cut rather than stored whole).
const KEY_MAX: usize = 128;

/// A token bucket: `per_second` tokens refilled each second, at most `burst` held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// `[rate_limit]` of the binary's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Off: no bucket, no throttling (the benchmark's "disabled" arm).
    pub enabled: bool,
    /// Every request presenting a client id (known or not).
    pub per_client: Rate,
    /// Every request to the token, introspection and revocation endpoints from one source IP
    /// (IPv6: one /64, what one host is usually given).
    pub per_ip: Rate,
    /// Failed authentications of one (client id, source IP) pair within `failure_window` that
    /// start a wait.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// The first wait; each further run of `max_failures` failures doubles it, up to
    /// `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Most keys each bucket store and the failure cache hold.
    pub max_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let rate = |per_second, burst| Rate {
            per_second: NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        };
        Self {
            enabled: true,
            per_client: rate(20_000, 40_000),
            per_ip: rate(100_000, 200_000),
            max_failures: 20,
            failure_window: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            max_keys: 100_000,
        }
    }
}

type Keyed<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One bucket store, replaceable by the sweep when it holds too many keys.
struct Buckets<K: std::hash::Hash + Eq + Clone, C: Clock> {
    rate: Rate,
    clock: C,
    inner: RwLock<Arc<Keyed<K, C>>>,
}

impl<K: std::hash::Hash + Eq + Clone, C: Clock + Clone> Buckets<K, C> {
    fn new(rate: Rate, clock: C) -> Self {
        let inner = RwLock::new(Arc::new(Keyed::dashmap_with_clock(
            rate.quota(),
            clock.clone(),
        )));
        Self { rate, clock, inner }
    }

    fn current(&self) -> Arc<Keyed<K, C>> {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `Err(wait)` when the key's bucket is empty.
    fn check(&self, key: &K) -> Result<(), Duration> {
        self.current()
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops idle keys; a store still over `max_keys` is replaced by an empty one.
    fn sweep(&self, max_keys: usize, what: &str) {
        let current = self.current();
        current.retain_recent();
        current.shrink_to_fit();
        let len = current.len();
        if len > max_keys {
            tracing::warn!(
                keys = len,
                max_keys,
                what,
                "rate-limit buckets over their bound: reset"
            );
            let fresh = Arc::new(Keyed::dashmap_with_clock(
                self.rate.quota(),
                self.clock.clone(),
            ));
            match self.inner.write() {
                Ok(mut g) => *g = fresh,
                Err(poisoned) => *poisoned.into_inner() = fresh,
            }
        }
    }
}

/// Failed authentications of one (client id, source IP) pair.
#[derive(Clone, Copy, Debug)]
struct Failures {
    /// Failures in the current window, and when it began (nanoseconds on the limiter's clock).
    count: u32,
    window_start: u64,
    /// Runs of `max_failures` so far: the wait doubles with each.
    level: u32,
    /// No attempt before this instant.
    blocked_until: u64,
}

type PairKey = (Box<str>, Option<IpAddr>);

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A client's own bucket, with the rate it was made for (a changed rate makes a new one).
struct Override<C: Clock> {
    rate: Rate,
    bucket: Direct<C>,
}

/// The limiter of one server process. `C` is governor's clock (a fake one in tests).
pub(crate) struct Limits<C: Clock = DefaultClock> {
    config: RateLimitConfig,
    clock: C,
    start: C::Instant,
    per_ip: Buckets<IpAddr, C>,
    per_client: Buckets<Box<str>, C>,
    /// Clients with their own rate, by id (see the module's notes).
    overrides: quick_cache::sync::Cache<Box<str>, Arc<Override<C>>>,
    failures: quick_cache::sync::Cache<PairKey, Failures>,
}

impl<C: Clock> std::fmt::Debug for Limits<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The bucket key of an address: IPv6 by its /64 (one host usually holds a whole /64).
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

fn client_key(id: &str) -> Box<str> {
    let mut end = id.len().min(KEY_MAX);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].into()
}

impl Limits<DefaultClock> {
    pub(crate) fn new(config: RateLimitConfig) -> Self {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    pub(crate) fn with_clock(config: RateLimitConfig, clock: C) -> Self {
        Self {
            start: clock.now(),
            per_ip: Buckets::new(config.per_ip, clock.clone()),
            per_client: Buckets::new(config.per_client, clock.clone()),
            overrides: quick_cache::sync::Cache::new(config.max_keys.max(1)),
            failures: quick_cache::sync::Cache::new(config.max_keys.max(1)),
            config,
            clock,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_u64()
    }

    /// The source address's bucket; `Err(wait)` when it is empty. No address (not a TCP peer):
    /// nothing to key on.
    pub(crate) fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        match ip {
            Some(ip) if self.config.enabled => self.per_ip.check(&ip_key(ip)),
            _ => Ok(()),
        }
    }

    /// The presented client id's bucket, then its failure throttle from this address.
    pub(crate) fn check_client(&self, client_id: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        if !self.config.enabled {
            return Ok(());
        }
        let key = client_key(client_id);
        let now = self.now();
        if let Some(f) = self.failures.get(&(key.clone(), ip))
            && f.blocked_until > now
        {
            return Err(Duration::from_nanos(f.blocked_until - now));
        }
        match self.overrides.get(&key) {
            Some(own) => own
                .bucket
                .check()
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
            None => self.per_client.check(&key),
        }
    }

    /// The rate an authenticated client carries (`None`: the global bucket). A new or changed
    /// rate starts a full bucket of its own.
    pub(crate) fn learn(&self, client_id: &str, rate: Option<Rate>) {
        if !self.config.enabled {
            return;
        }
        let key = client_key(client_id);
        match rate {
            None => {
                self.overrides.remove(&key);
            }
            Some(rate) if self.overrides.get(&key).is_some_and(|o| o.rate == rate) => {}
            Some(rate) => {
                let bucket = RateLimiter::direct_with_clock(rate.quota(), self.clock.clone());
                self.overrides
                    .insert(key, Arc::new(Override { rate, bucket }));
            }
        }
    }

    /// A failed authentication of `client_id` from `ip` (unknown ids count alike).
    pub(crate) fn failed(&self, client_id: &str, ip: Option<IpAddr>) {
        if !self.config.enabled {
            return;
        }
        let key = (client_key(client_id), ip);
        let now = self.now();
        let mut f = self.failures.get(&key).unwrap_or(Failures {
            count: 0,
            window_start: now,
            level: 0,
            blocked_until: 0,
        });
        if now.saturating_sub(f.window_start) > nanos(self.config.failure_window) {
            // A quiet window forgives the earlier runs too, unless a wait is still running.
            if f.blocked_until <= now && f.count < self.config.max_failures {
                f.level = 0;
            }
            f.count = 0;
            f.window_start = now;
        }
        f.count += 1;
        if f.count >= self.config.max_failures.max(1) {
            let wait = self
                .config
                .backoff_base
                .saturating_mul(1u32 << f.level.min(20))
                .min(self.config.backoff_cap);
            f.blocked_until = now.saturating_add(nanos(wait));
            f.level = f.level.saturating_add(1);
            f.count = 0;
            f.window_start = now;
        }
        self.failures.insert(key, f);
    }

    /// A successful authentication: the pair's failures are forgotten.
    pub(crate) fn succeeded(&self, client_id: &str, ip: Option<IpAddr>) {
        if self.config.enabled {
            self.failures.remove(&(client_key(client_id), ip));
        }
    }

    /// Drops idle bucket keys and bounds the stores; call every few seconds.
    pub(crate) fn sweep(&self) {
        if self.config.enabled {
            self.per_ip.sweep(self.config.max_keys, "per_ip");
            self.per_client.sweep(self.config.max_keys, "per_client");
        }
    }
}

/// Seconds for `Retry-After`: the wait rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn limits(config: RateLimitConfig) -> (Limits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (Limits::with_clock(config, clock.clone()), clock)
    }

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            per_client: rate(1, 3),
            per_ip: rate(10, 5),
            max_failures: 3,
            failure_window: Duration::from_secs(60),
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(5),
            max_keys: 10,
            ..RateLimitConfig::default()
        }
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_client_bucket_empties_and_refills_without_touching_others() {
        let (l, clock) = limits(config());
        for _ in 0..3 {
            assert!(l.check_client("svc", A).is_ok());
        }
        let wait = l.check_client("svc", A).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(retry_after_secs(wait), 1);
        assert!(l.check_client("other", A).is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(l.check_client("svc", A).is_ok());
        assert!(l.check_client("svc", A).is_err());
    }

    #[test]
    fn an_ip_bucket_keys_ipv6_by_its_64() {
        let (l, _) = limits(config());
        let v6 = |last| {
            Some(IpAddr::V6(Ipv6Addr::new(
                0x2001, 0xdb8, 0, 1, 0, 0, 0, last,
            )))
        };
        for i in 0..5 {
            assert!(l.check_ip(v6(i)).is_ok());
        }
        assert!(l.check_ip(v6(99)).is_err(), "same /64, same bucket");
        assert!(l.check_ip(A).is_ok());
        assert!(l.check_ip(None).is_ok());
    }

    #[test]
    fn failures_throttle_the_pair_only_with_doubling_capped_waits() {
        let mut c = config();
        c.per_client = rate(1000, 1000);
        let (l, clock) = limits(c);
        for _ in 0..2 {
            l.failed("svc", A);
        }
        assert!(l.check_client("svc", A).is_ok(), "under the threshold");
        l.failed("svc", A);
        assert_eq!(l.check_client("svc", A), Err(Duration::from_secs(2)));
        assert!(
            l.check_client("svc", B).is_ok(),
            "the real client's address is not locked out"
        );
        clock.advance(Duration::from_secs(2));
        assert!(l.check_client("svc", A).is_ok());
        for _ in 0..3 {
            l.failed("svc", A);
        }
        assert_eq!(l.check_client("svc", A), Err(Duration::from_secs(4)));
        clock.advance(Duration::from_secs(4));
        for _ in 0..3 {
            l.failed("svc", A);
        }
        assert_eq!(
            l.check_client("svc", A),
            Err(Duration::from_secs(5)),
            "capped"
        );
        // Unknown ids count the same way; success forgets.
        for _ in 0..3 {
            l.failed("nobody", A);
        }
        assert!(l.check_client("nobody", A).is_err());
        clock.advance(Duration::from_secs(5));
        l.succeeded("svc", A);
        l.failed("svc", A);
        assert!(l.check_client("svc", A).is_ok());
    }

    #[test]
    fn a_quiet_window_forgets_failures() {
        let (l, clock) = limits(config());
        l.failed("svc", A);
        l.failed("svc", A);
        clock.advance(Duration::from_secs(61));
        l.failed("svc", A);
        assert!(l.check_client("svc", A).is_ok());
    }

    #[test]
    fn made_up_ids_cannot_grow_memory_without_bound() {
        let (l, clock) = limits(config());
        for i in 0..50 {
            let _ = l.check_client(&format!("made-up-{i}"), A);
            l.failed(&format!("made-up-{i}"), A);
        }
        assert!(l.failures.len() <= 10);
        assert!(l.per_client.current().len() > 10);
        l.sweep();
        assert!(l.per_client.current().len() <= 10);
        let _ = l.check_client("x", A);
        clock.advance(Duration::from_secs(10));
        l.sweep();
        assert_eq!(l.per_client.current().len(), 0, "idle keys are swept");
        let long = "é".repeat(200);
        assert_eq!(client_key(&long).len(), 128);
    }

    #[test]
    fn a_learned_rate_replaces_the_global_bucket_for_that_client_only() {
        let (l, clock) = limits(config());
        l.learn("big", Some(rate(10, 5)));
        for _ in 0..5 {
            assert!(
                l.check_client("big", A).is_ok(),
                "beyond the global burst of 3"
            );
        }
        assert_eq!(l.check_client("big", A), Err(Duration::from_millis(100)));
        for _ in 0..3 {
            assert!(l.check_client("small", A).is_ok());
        }
        assert!(
            l.check_client("small", A).is_err(),
            "others keep the global bucket"
        );
        // The same rate again keeps the (empty) bucket; a new rate starts a full one.
        l.learn("big", Some(rate(10, 5)));
        assert!(l.check_client("big", A).is_err());
        l.learn("big", Some(rate(1, 1)));
        assert!(l.check_client("big", A).is_ok());
        assert_eq!(l.check_client("big", A), Err(Duration::from_secs(1)));
        // Cleared: back to the global bucket (full, it was never used by "big").
        l.learn("big", None);
        for _ in 0..3 {
            assert!(l.check_client("big", A).is_ok());
        }
        assert!(l.check_client("big", A).is_err());
        clock.advance(Duration::from_secs(1));
        assert!(l.check_client("big", A).is_ok());
    }

    #[test]
    fn disabled_limits_nothing() {
        let (l, _) = limits(RateLimitConfig {
            enabled: false,
            ..config()
        });
        for _ in 0..10 {
            l.failed("svc", A);
            assert!(l.check_client("svc", A).is_ok());
            assert!(l.check_ip(A).is_ok());
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
