//! In-memory fakes of grantd's ports, shared by the tests, benchmarks and fuzz targets that need
//! whole port implementations rather than per-call `mockall` expectations: the API's HTTP tests,
//! the app's `explain` property, the micro-benchmarks and the JWS fuzz target.
//!
//! Each fake records what it was asked (where tests look) and takes an injected failure (where
//! tests need one). An operation no caller fakes panics, naming itself: a test that reaches it
//! is testing something the fake does not model. A dev-dependency only: no production crate
//! depends on this one (`.ci/guards.sh` checks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use grantd_domain::{ClientId, Jti, SessionId, Timestamp, UserId};
use grantd_ports::{Clock, IdSource};

mod secrets;
mod signer;
mod stores;

pub use secrets::FakeSecrets;
pub use signer::FakeSigner;
pub use stores::{FakeClients, FakeSessions, FakeUsers, MemKeys};

/// A clock stopped at one instant.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Ids from a counter: session ids of 16 equal bytes (the counter's low byte), `jti-<n>`,
/// UUIDs and `client-<n>`. Distinct for the first 256 sessions.
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl SequentialIds {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

impl IdSource for SequentialIds {
    fn session_id(&self) -> SessionId {
        SessionId::from_bytes([self.next().to_le_bytes()[0]; 16])
    }
    fn jti(&self) -> Jti {
        Jti::parse(&format!("jti-{}", self.next())).unwrap_or_else(|e| panic!("SequentialIds: {e}"))
    }
    fn user_id(&self) -> UserId {
        let mut bytes = [0u8; 16];
        bytes[8..].copy_from_slice(&self.next().to_be_bytes());
        UserId::from_bytes(bytes)
    }
    fn client_id(&self) -> ClientId {
        ClientId::parse(&format!("client-{}", self.next()))
            .unwrap_or_else(|e| panic!("SequentialIds: {e}"))
    }
}

/// No client is registered by `jwks_uri`: every fetch is `Unreachable` (benchmarks and tests
/// of clients with inline keys, which never ask).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRemoteKeys;

#[async_trait::async_trait]
impl grantd_ports::RemoteKeys for NoRemoteKeys {
    async fn keys(
        &self,
        _: &grantd_domain::JwksUri,
        _: grantd_ports::KeysWanted,
    ) -> Result<std::sync::Arc<grantd_domain::ClientKeys>, grantd_domain::JwksFailure> {
        Err(grantd_domain::JwksFailure::Unreachable)
    }
}

/// A fake's state, whatever a panicking test thread left behind.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_differ() {
        let ids = SequentialIds::default();
        assert_ne!(ids.session_id(), ids.session_id());
        assert_ne!(ids.jti(), ids.jti());
        assert_ne!(ids.user_id(), ids.user_id());
        assert_ne!(ids.client_id(), ids.client_id());
    }

    #[test]
    fn fixed_clock_stands_still() {
        let clock = FixedClock(Timestamp::from_secs(42));
        assert_eq!(clock.now(), Timestamp::from_secs(42));
        assert_eq!(clock.now(), clock.now());
    }
}
