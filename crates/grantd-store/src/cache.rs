//! A short-lived read cache for the two lookups every token request makes, the client (with
//! its secrets) and its owner, and for the session lookup of every introspection. It decorates
//! any [`ClientStore`] + [`UserStore`] (+ [`SessionStore`]).
//!
//! Freshness: writes made through the decorator (disable, rotate, deactivate, revoke, …) drop
//! the affected entry at once; writes made by another process (the CLI, another replica, SQL)
//! reach it through [`Cached::apply`], fed by the store's change notifications (see
//! `changes.rs`: Postgres LISTEN/NOTIFY, a polled change marker on SQLite) within a fraction of
//! a second. `ttl` remains as the bound for a missed notification: an entry older than that is
//! read again.
//!
//! A stale read never overwrites a newer invalidation: each map has a generation, taken before
//! a miss reads the store and bumped by every invalidation; the row read is stored only if the
//! generation is unchanged when it comes back (checked and inserted under one lock). Otherwise
//! a lookup that read a row just before a revocation or a disable would store it just after the
//! invalidation dropped the entry, and serve the old state for a whole `ttl`.
//!
//! Unknown client ids are cached too ("no such client"), in a map of their own: an unknown id
//! then costs what a known one costs (no database read on repeat), and a flood of made-up ids
//! evicts only other made-up ids, never a live client's entry. Every map is bounded
//! (`quick_cache`, S3-FIFO eviction), so no caller can grow memory without limit.
//!
//! Federated credentials (which platform identities may act as a client) are read on every
//! federated token, so they are cached per client under the client's own rule: a write through
//! the decorator, a change notification naming the client (their table notifies like the
//! client's own rows: migration `…000400_federated_credentials_notify`) or "everything" drops
//! them together with the client's entry, and `ttl` bounds a missed notification.
//!
//! Sessions: a revocation through the decorator (`/oauth/revoke` on this node) drops the entry
//! at once; one made by another replica shows within `ttl`, the propagation delay RFC 7009 §2.2
//! allows for. A revoked session is final, so only the "not revoked yet" answer can be stale.

use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use grantd_domain::{
    Client, ClientId, ClientLimits, ClientSecret, FederatedCredential, IssuerName, NewSession,
    Owner, SessionId, SessionRecord, Timestamp, UserId,
};
use grantd_ports::{
    ClientStore, FederatedCredentialStore, IssuedSince, SessionFilter, SessionStore, StoreError,
    UpdateOutcome, UserStore,
};

use crate::changes::Change;

/// Clients and owners kept (each a few hundred bytes): more than any deployment has live.
const MAX_ENTRIES: usize = 100_000;

/// Unknown client ids kept: enough for every mistyped id of a busy deployment, small enough
/// (~1 MB) that a flood of made-up ids costs nothing but churn in this map.
const MAX_UNKNOWN_CLIENTS: usize = 10_000;

/// Sessions are many more and short-lived: a smaller cap keeps memory bounded (~10 MB) when
/// many distinct tokens are introspected.
const MAX_SESSION_ENTRIES: usize = 20_000;

#[derive(Clone)]
struct Entry<T> {
    at: Instant,
    value: T,
}

/// Taken before a miss reads the store; the row is stored only if no invalidation came since.
#[derive(Clone, Copy)]
struct Ticket {
    generation: u64,
    at: Instant,
}

/// One bounded map and its generation.
struct Map<K, V> {
    entries: quick_cache::sync::Cache<K, Entry<V>>,
    /// Bumped by every invalidation; fills compare it under this lock, so a fill and an
    /// invalidation cannot interleave.
    generation: Mutex<u64>,
}

impl<K: Hash + Eq + Clone, V: Clone> Map<K, V> {
    fn new(capacity: usize) -> Self {
        Map {
            entries: quick_cache::sync::Cache::new(capacity),
            generation: Mutex::new(0),
        }
    }

    fn get(&self, key: &K, ttl: Duration) -> Option<V> {
        let found = self
            .entries
            .get(key)
            .and_then(|e| (e.at.elapsed() < ttl).then_some(e.value));
        // Counted through the `metrics` facade: a no-op unless the binary installed a recorder.
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!("grantd_cache_lookups_total", "result" => result).increment(1);
        found
    }

    fn ticket(&self) -> Ticket {
        Ticket {
            generation: *self.lock(),
            at: Instant::now(),
        }
    }

    /// Stores what a miss read, unless an invalidation happened since its ticket was taken.
    /// The entry's age counts from the ticket, i.e. from before the read.
    fn fill(&self, ticket: Ticket, key: K, value: V) {
        let generation = self.lock();
        if *generation == ticket.generation {
            let entry = Entry {
                at: ticket.at,
                value,
            };
            self.entries.insert(key, entry);
        }
    }

    fn forget(&self, key: &K) {
        let mut generation = self.lock();
        self.entries.remove(key);
        *generation += 1;
    }

    fn clear(&self) {
        let mut generation = self.lock();
        self.entries.clear();
        *generation += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // The guarded value is a counter that is always valid: a panic elsewhere cannot leave
        // it half-written.
        self.generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The caching decorator.
pub struct Cached<S> {
    inner: S,
    ttl: Duration,
    clients: Map<ClientId, Client>,
    unknown_clients: Map<ClientId, ()>,
    users: Map<UserId, Owner>,
    sessions: Map<SessionId, SessionRecord>,
    /// Per client, its federated credentials (empty for most clients).
    credentials: Map<ClientId, Vec<FederatedCredential>>,
}

impl<S> fmt::Debug for Cached<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<S> Cached<S> {
    /// `ttl` zero disables caching (every lookup goes to the store).
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            clients: Map::new(MAX_ENTRIES),
            unknown_clients: Map::new(MAX_UNKNOWN_CLIENTS),
            users: Map::new(MAX_ENTRIES),
            sessions: Map::new(MAX_SESSION_ENTRIES),
            credentials: Map::new(MAX_ENTRIES),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Drops what a change made elsewhere made stale (a change notification).
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Client(id) => self.forget_client(id),
            Change::User(id) => self.users.forget(id),
            Change::All => {
                self.clients.clear();
                self.unknown_clients.clear();
                self.users.clear();
                self.credentials.clear();
            }
        }
    }

    fn forget_client(&self, id: &ClientId) {
        self.clients.forget(id);
        self.unknown_clients.forget(id);
        self.credentials.forget(id);
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }
}

#[async_trait]
impl<S: ClientStore + UserStore> ClientStore for Cached<S> {
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if !self.enabled() {
            return self.inner.find_client(id).await;
        }
        if let Some(c) = self.clients.get(id, self.ttl) {
            return Ok(Some(c));
        }
        if self.unknown_clients.get(id, self.ttl).is_some() {
            return Ok(None);
        }
        let (known, unknown) = (self.clients.ticket(), self.unknown_clients.ticket());
        let found = self.inner.find_client(id).await?;
        match &found {
            Some(c) => self.clients.fill(known, id.clone(), c.clone()),
            None => self.unknown_clients.fill(unknown, id.clone(), ()),
        }
        Ok(found)
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let r = self.inner.create_client(client).await;
        self.forget_client(&client.id);
        r
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients().await
    }

    async fn set_client_active(
        &self,
        id: &ClientId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = self.inner.set_client_active(id, active, now).await;
        self.forget_client(id);
        r
    }

    async fn set_client_dpop(
        &self,
        id: &ClientId,
        dpop: grantd_domain::DpopPolicy,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = self.inner.set_client_dpop(id, dpop, now).await;
        self.forget_client(id);
        r
    }

    async fn set_client_keys(
        &self,
        id: &ClientId,
        keys: &grantd_domain::ClientKeys,
        expected: Timestamp,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let r = self.inner.set_client_keys(id, keys, expected, now).await;
        self.forget_client(id);
        r
    }

    async fn rotate_secret(
        &self,
        id: &ClientId,
        secret: &ClientSecret,
        previous_valid_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = self
            .inner
            .rotate_secret(id, secret, previous_valid_until)
            .await;
        self.forget_client(id);
        r
    }

    async fn replace_secret_hash(
        &self,
        id: &ClientId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let r = self.inner.replace_secret_hash(id, old_hash, new_hash).await;
        self.forget_client(id);
        r
    }

    async fn set_client_limits(
        &self,
        id: &ClientId,
        limits: &ClientLimits,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = self.inner.set_client_limits(id, limits, now).await;
        self.forget_client(id);
        r
    }

    async fn update_client(
        &self,
        client: &Client,
        expected: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let r = self.inner.update_client(client, expected).await;
        self.forget_client(&client.id);
        r
    }
}

#[async_trait]
impl<S: ClientStore + UserStore> UserStore for Cached<S> {
    async fn find_user(&self, id: &UserId) -> Result<Option<Owner>, StoreError> {
        if !self.enabled() {
            return self.inner.find_user(id).await;
        }
        if let Some(u) = self.users.get(id, self.ttl) {
            return Ok(Some(u));
        }
        let ticket = self.users.ticket();
        let found = self.inner.find_user(id).await?;
        if let Some(u) = &found {
            self.users.fill(ticket, id.clone(), u.clone());
        }
        Ok(found)
    }

    async fn create_user(&self, user: &Owner) -> Result<(), StoreError> {
        let r = self.inner.create_user(user).await;
        self.users.forget(&user.id);
        r
    }

    async fn list_users(&self) -> Result<Vec<Owner>, StoreError> {
        self.inner.list_users().await
    }

    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = self.inner.set_user_active(id, active, now).await;
        self.users.forget(id);
        r
    }

    async fn update_user(
        &self,
        user: &Owner,
        expected: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let r = self.inner.update_user(user, expected).await;
        self.users.forget(&user.id);
        r
    }
}

#[async_trait]
impl<S: FederatedCredentialStore> FederatedCredentialStore for Cached<S> {
    async fn federated_credentials(
        &self,
        client: &ClientId,
    ) -> Result<Vec<FederatedCredential>, StoreError> {
        if !self.enabled() {
            return self.inner.federated_credentials(client).await;
        }
        if let Some(c) = self.credentials.get(client, self.ttl) {
            return Ok(c);
        }
        let ticket = self.credentials.ticket();
        let found = self.inner.federated_credentials(client).await?;
        self.credentials.fill(ticket, client.clone(), found.clone());
        Ok(found)
    }

    async fn add_federated_credential(
        &self,
        client: &ClientId,
        credential: &FederatedCredential,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let r = self
            .inner
            .add_federated_credential(client, credential, now)
            .await;
        self.forget_client(client);
        r
    }

    async fn remove_federated_credential(
        &self,
        client: &ClientId,
        issuer: &IssuerName,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let r = self
            .inner
            .remove_federated_credential(client, issuer, subject)
            .await;
        self.forget_client(client);
        r
    }
}

#[async_trait]
impl<S: ClientStore + UserStore + SessionStore> SessionStore for Cached<S> {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.inner.insert_session(session).await
    }

    async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        if !self.enabled() {
            return self.inner.find_session(id).await;
        }
        if let Some(s) = self.sessions.get(id, self.ttl) {
            return Ok(Some(s));
        }
        let ticket = self.sessions.ticket();
        let found = self.inner.find_session(id).await?;
        if let Some(s) = &found {
            self.sessions.fill(ticket, id.clone(), s.clone());
        }
        Ok(found)
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        at: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let r = self.inner.revoke_session(id, at, reason).await;
        self.sessions.forget(id);
        r
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_sessions(filter).await
    }

    async fn purge_sessions(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let r = self.inner.purge_sessions(before, batch).await;
        self.sessions.clear();
        r
    }

    /// Never cached: the quota counter calls it once per client per sync interval.
    async fn issued_since(
        &self,
        client: &ClientId,
        since: Timestamp,
    ) -> Result<IssuedSince, StoreError> {
        self.inner.issued_since(client, since).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use grantd_domain::{AuthMethod, GrantTypes, Jti, OwnerId, ScopeCatalog, StoredScopes};
    use tokio::sync::Notify;

    use super::*;

    const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";

    /// A store that counts reads and can be changed behind the cache's back (as another
    /// process would).
    #[derive(Default)]
    struct Fake {
        client_reads: AtomicUsize,
        user_reads: AtomicUsize,
        session_reads: AtomicUsize,
        active: Mutex<bool>,
        user_active: Mutex<Option<bool>>,
        /// Whether the client "late" exists (it is created during a test).
        late: Mutex<bool>,
        revoked: Mutex<Option<Timestamp>>,
        credential_reads: AtomicUsize,
        credentials: Mutex<Vec<FederatedCredential>>,
        /// When set, the next read stops after reading (holding what it read) until released.
        gate: Mutex<Option<Gate>>,
    }

    /// A paused read: `reached` when the row has been read, continues on `release`.
    #[derive(Clone, Default)]
    struct Gate {
        reached: Arc<Notify>,
        release: Arc<Notify>,
    }

    impl Fake {
        fn pause_next_read(&self) -> Gate {
            let gate = Gate::default();
            *self.gate.lock().unwrap() = Some(gate.clone());
            gate
        }

        /// Called by every read after it read its row: waits there if a pause was asked for.
        async fn after_read(&self) {
            let gate = self.gate.lock().unwrap().take();
            if let Some(g) = gate {
                g.reached.notify_one();
                g.release.notified().await;
            }
        }
    }

    fn client(active: bool) -> Client {
        named_client("svc", active)
    }

    fn named_client(id: &str, active: bool) -> Client {
        Client {
            dpop: Default::default(),
            keys: Default::default(),
            id: ClientId::parse(id).unwrap(),
            name: "svc".into(),
            owner_id: OwnerId::parse(OWNER),
            scopes: StoredScopes::parse(&ScopeCatalog::builtin(), &["service"]),
            grant_types: GrantTypes::parse(&["client_credentials"]),
            auth_method: AuthMethod::ClientSecretBasic,
            active,
            secrets: vec![],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
            limits: Default::default(),
        }
    }

    fn owner(active: bool) -> Owner {
        Owner {
            id: UserId::parse(OWNER).unwrap(),
            name: "o".into(),
            email: "o@example.com".into(),
            roles: StoredScopes::default(),
            active,
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        }
    }

    #[async_trait]
    impl ClientStore for Fake {
        async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
            self.client_reads.fetch_add(1, Ordering::SeqCst);
            let found = match id.as_str() {
                "svc" => Some(client(*self.active.lock().unwrap())),
                "late" if *self.late.lock().unwrap() => Some(named_client("late", true)),
                _ => None,
            };
            self.after_read().await;
            Ok(found)
        }
        async fn create_client(&self, _: &Client) -> Result<(), StoreError> {
            *self.late.lock().unwrap() = true;
            Ok(())
        }
        async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
            Ok(vec![])
        }
        async fn set_client_active(
            &self,
            _: &ClientId,
            active: bool,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            *self.active.lock().unwrap() = active;
            Ok(true)
        }
        async fn set_client_dpop(
            &self,
            _: &ClientId,
            _: grantd_domain::DpopPolicy,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            Ok(true)
        }
        async fn set_client_keys(
            &self,
            _: &ClientId,
            _: &grantd_domain::ClientKeys,
            _: Timestamp,
            _: Timestamp,
        ) -> Result<UpdateOutcome, StoreError> {
            Ok(UpdateOutcome::Updated)
        }
        async fn rotate_secret(
            &self,
            _: &ClientId,
            _: &ClientSecret,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            Ok(true)
        }
        async fn replace_secret_hash(
            &self,
            _: &ClientId,
            _: &str,
            _: &str,
        ) -> Result<bool, StoreError> {
            Ok(true)
        }
        async fn set_client_limits(
            &self,
            _: &ClientId,
            _: &ClientLimits,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            Ok(true)
        }
        async fn update_client(
            &self,
            _: &Client,
            _: Timestamp,
        ) -> Result<UpdateOutcome, StoreError> {
            Ok(UpdateOutcome::Updated)
        }
    }

    #[async_trait]
    impl UserStore for Fake {
        async fn find_user(&self, _: &UserId) -> Result<Option<Owner>, StoreError> {
            self.user_reads.fetch_add(1, Ordering::SeqCst);
            let found = owner(self.user_active.lock().unwrap().unwrap_or(true));
            self.after_read().await;
            Ok(Some(found))
        }
        async fn create_user(&self, _: &Owner) -> Result<(), StoreError> {
            Ok(())
        }
        async fn list_users(&self) -> Result<Vec<Owner>, StoreError> {
            Ok(vec![])
        }
        async fn set_user_active(
            &self,
            _: &UserId,
            active: bool,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            *self.user_active.lock().unwrap() = Some(active);
            Ok(true)
        }
        async fn update_user(&self, _: &Owner, _: Timestamp) -> Result<UpdateOutcome, StoreError> {
            Ok(UpdateOutcome::Updated)
        }
    }

    #[async_trait]
    impl FederatedCredentialStore for Fake {
        async fn federated_credentials(
            &self,
            _: &ClientId,
        ) -> Result<Vec<FederatedCredential>, StoreError> {
            self.credential_reads.fetch_add(1, Ordering::SeqCst);
            let found = self.credentials.lock().unwrap().clone();
            self.after_read().await;
            Ok(found)
        }
        async fn add_federated_credential(
            &self,
            _: &ClientId,
            credential: &FederatedCredential,
            _: Timestamp,
        ) -> Result<(), StoreError> {
            self.credentials.lock().unwrap().push(credential.clone());
            Ok(())
        }
        async fn remove_federated_credential(
            &self,
            _: &ClientId,
            _: &IssuerName,
            subject: &str,
        ) -> Result<bool, StoreError> {
            let mut all = self.credentials.lock().unwrap();
            let before = all.len();
            all.retain(|c| c.subject != subject);
            Ok(all.len() < before)
        }
    }

    fn credential(subject: &str) -> FederatedCredential {
        FederatedCredential {
            issuer: IssuerName::parse("ci").unwrap(),
            subject: subject.to_owned(),
            claims: vec![],
        }
    }

    const SESSION: &str = "sess_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";

    fn record(revoked_at: Option<Timestamp>) -> SessionRecord {
        SessionRecord {
            session: NewSession {
                id: SessionId::parse(SESSION).unwrap(),
                user_id: UserId::parse(OWNER).unwrap(),
                client_id: ClientId::parse("svc").unwrap(),
                source: grantd_domain::SessionSource::Oauth,
                jti: Jti::parse("0b7d4c1e-6f1a-4b8e-9a39-2a4c5f7d8e90").unwrap(),
                context: grantd_domain::RequestContext::default(),
                created_at: Timestamp::from_secs(0),
                expires_at: Timestamp::from_secs(3600),
                dpop: None,
                assertion_key: None,
                auth: None,
            },
            revoked_at,
            revoke_reason: revoked_at.map(|_| "test".to_owned()),
        }
    }

    #[async_trait]
    impl SessionStore for Fake {
        async fn insert_session(&self, _: &NewSession) -> Result<(), StoreError> {
            Ok(())
        }
        async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
            self.session_reads.fetch_add(1, Ordering::SeqCst);
            let found = (id.as_str() == SESSION).then(|| record(*self.revoked.lock().unwrap()));
            self.after_read().await;
            Ok(found)
        }
        async fn revoke_session(
            &self,
            _: &SessionId,
            at: Timestamp,
            _: &str,
        ) -> Result<bool, StoreError> {
            self.revoked.lock().unwrap().get_or_insert(at);
            Ok(true)
        }
        async fn list_sessions(&self, _: &SessionFilter) -> Result<Vec<SessionRecord>, StoreError> {
            Ok(vec![])
        }
        async fn issued_since(
            &self,
            _: &ClientId,
            _: Timestamp,
        ) -> Result<IssuedSince, StoreError> {
            Ok(IssuedSince::default())
        }
        async fn purge_sessions(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn fake(active: bool) -> Fake {
        Fake {
            active: Mutex::new(active),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn hits_are_served_from_memory_within_ttl() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let id = ClientId::parse("svc").unwrap();
        for _ in 0..5 {
            assert!(c.find_client(&id).await.unwrap().is_some());
            assert!(
                c.find_user(&UserId::parse(OWNER).unwrap())
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(c.inner().client_reads.load(Ordering::SeqCst), 1);
        assert_eq!(c.inner().user_reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn unknown_clients_are_cached_in_a_bounded_map_of_their_own() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let nobody = ClientId::parse("nobody").unwrap();
        for _ in 0..3 {
            assert!(c.find_client(&nobody).await.unwrap().is_none());
        }
        assert_eq!(c.inner().client_reads.load(Ordering::SeqCst), 1);

        // A flood of made-up ids: the map of unknown ids stays bounded, and the live client's
        // entry is still served from memory afterwards.
        let svc = ClientId::parse("svc").unwrap();
        assert!(c.find_client(&svc).await.unwrap().is_some());
        for i in 0..3 * MAX_UNKNOWN_CLIENTS {
            let id = ClientId::parse(&format!("made-up-{i}")).unwrap();
            assert!(c.find_client(&id).await.unwrap().is_none());
        }
        assert!(c.unknown_clients.len() <= MAX_UNKNOWN_CLIENTS);
        let reads = c.inner().client_reads.load(Ordering::SeqCst);
        assert!(c.find_client(&svc).await.unwrap().is_some());
        assert_eq!(c.inner().client_reads.load(Ordering::SeqCst), reads);
    }

    #[tokio::test]
    async fn a_client_created_after_a_miss_is_found() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let late = ClientId::parse("late").unwrap();
        // Created through this process: the write drops the "unknown" entry.
        assert!(c.find_client(&late).await.unwrap().is_none());
        c.create_client(&named_client("late", true)).await.unwrap();
        assert!(c.find_client(&late).await.unwrap().is_some());

        // Created by another process: the change notification drops it.
        let c = Cached::new(fake(true), Duration::from_secs(60));
        assert!(c.find_client(&late).await.unwrap().is_none());
        *c.inner().late.lock().unwrap() = true;
        assert!(c.find_client(&late).await.unwrap().is_none(), "cached miss");
        c.apply(&Change::Client(late.clone()));
        assert!(c.find_client(&late).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn change_notifications_drop_entries() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let id = ClientId::parse("svc").unwrap();
        let uid = UserId::parse(OWNER).unwrap();
        assert!(c.find_client(&id).await.unwrap().unwrap().active);
        assert!(c.find_user(&uid).await.unwrap().unwrap().active);
        // Another process disables both; the notifications arrive.
        *c.inner().active.lock().unwrap() = false;
        *c.inner().user_active.lock().unwrap() = Some(false);
        c.apply(&Change::Client(id.clone()));
        c.apply(&Change::User(uid.clone()));
        assert!(!c.find_client(&id).await.unwrap().unwrap().active);
        assert!(!c.find_user(&uid).await.unwrap().unwrap().active);
        // A lost notification connection drops everything.
        *c.inner().active.lock().unwrap() = true;
        *c.inner().user_active.lock().unwrap() = Some(true);
        c.apply(&Change::All);
        assert!(c.find_client(&id).await.unwrap().unwrap().active);
        assert!(c.find_user(&uid).await.unwrap().unwrap().active);
    }

    #[tokio::test]
    async fn federated_credentials_are_cached_and_dropped_with_their_client() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let id = ClientId::parse("svc").unwrap();
        let reads = || c.inner().credential_reads.load(Ordering::SeqCst);
        *c.inner().credentials.lock().unwrap() = vec![credential("repo:a")];
        for _ in 0..3 {
            let found = c.federated_credentials(&id).await.unwrap();
            assert_eq!(found, vec![credential("repo:a")]);
        }
        assert_eq!(reads(), 1);
        // Removed by another process: the notification naming the client drops them.
        c.inner().credentials.lock().unwrap().clear();
        c.apply(&Change::Client(id.clone()));
        assert_eq!(c.federated_credentials(&id).await.unwrap(), vec![]);
        // Added, then removed, through the cache: each shows at once.
        let at = Timestamp::from_secs(1);
        c.add_federated_credential(&id, &credential("repo:b"), at)
            .await
            .unwrap();
        let found = c.federated_credentials(&id).await.unwrap();
        assert_eq!(found, vec![credential("repo:b")]);
        let ci = IssuerName::parse("ci").unwrap();
        c.remove_federated_credential(&id, &ci, "repo:b")
            .await
            .unwrap();
        assert_eq!(c.federated_credentials(&id).await.unwrap(), vec![]);
        // Any change to the client (here: disabled elsewhere) drops them too, and so does
        // "everything".
        *c.inner().credentials.lock().unwrap() = vec![credential("repo:c")];
        c.set_client_active(&id, false, at).await.unwrap();
        let found = c.federated_credentials(&id).await.unwrap();
        assert_eq!(found, vec![credential("repo:c")]);
        c.inner().credentials.lock().unwrap().clear();
        c.apply(&Change::All);
        assert_eq!(c.federated_credentials(&id).await.unwrap(), vec![]);
        assert_eq!(reads(), 6);
    }

    #[tokio::test]
    async fn writes_through_the_cache_invalidate_at_once() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let id = ClientId::parse("svc").unwrap();
        assert!(c.find_client(&id).await.unwrap().unwrap().active);
        c.set_client_active(&id, false, Timestamp::from_secs(1))
            .await
            .unwrap();
        assert!(!c.find_client(&id).await.unwrap().unwrap().active);
    }

    #[tokio::test]
    async fn a_rehashed_secret_drops_the_cached_client() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let id = ClientId::parse("svc").unwrap();
        c.find_client(&id).await.unwrap();
        c.replace_secret_hash(&id, "old", "new").await.unwrap();
        c.find_client(&id).await.unwrap();
        assert_eq!(c.inner().client_reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn writes_elsewhere_show_after_ttl() {
        let ttl = Duration::from_millis(200);
        let c = Cached::new(fake(true), ttl);
        let id = ClientId::parse("svc").unwrap();
        assert!(c.find_client(&id).await.unwrap().unwrap().active);
        // Another process disables the client: the cache may serve the old row for < ttl...
        *c.inner().active.lock().unwrap() = false;
        assert!(c.find_client(&id).await.unwrap().unwrap().active);
        // ...and never after.
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        assert!(!c.find_client(&id).await.unwrap().unwrap().active);
    }

    #[tokio::test]
    async fn zero_ttl_disables_caching() {
        let c = Cached::new(fake(true), Duration::ZERO);
        let id = ClientId::parse("svc").unwrap();
        c.find_client(&id).await.unwrap();
        c.find_client(&id).await.unwrap();
        assert_eq!(c.inner().client_reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn sessions_are_cached_and_revocation_here_shows_at_once() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let id = SessionId::parse(SESSION).unwrap();
        for _ in 0..3 {
            let s = c.find_session(&id).await.unwrap().unwrap();
            assert_eq!(s.revoked_at, None);
        }
        assert_eq!(c.inner().session_reads.load(Ordering::SeqCst), 1);
        let unknown = SessionId::parse("sess_00000000000000000000000000000001").unwrap();
        assert!(c.find_session(&unknown).await.unwrap().is_none());
        assert!(c.find_session(&unknown).await.unwrap().is_none());
        assert_eq!(c.inner().session_reads.load(Ordering::SeqCst), 3);

        let at = Timestamp::from_secs(7);
        assert!(c.revoke_session(&id, at, "test").await.unwrap());
        let s = c.find_session(&id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(at));
    }

    #[tokio::test]
    async fn revocation_elsewhere_shows_after_ttl_and_purge_forgets() {
        let ttl = Duration::from_millis(200);
        let c = Cached::new(fake(true), ttl);
        let id = SessionId::parse(SESSION).unwrap();
        assert_eq!(c.find_session(&id).await.unwrap().unwrap().revoked_at, None);
        // Another replica revokes: the old answer may be served for < ttl...
        let at = Timestamp::from_secs(9);
        *c.inner().revoked.lock().unwrap() = Some(at);
        assert_eq!(c.find_session(&id).await.unwrap().unwrap().revoked_at, None);
        // ...but a purge through the cache drops every entry,
        c.purge_sessions(Timestamp::from_secs(1), 10).await.unwrap();
        assert_eq!(
            c.find_session(&id).await.unwrap().unwrap().revoked_at,
            Some(at)
        );
        // and without one, the ttl bounds it.
        *c.inner().revoked.lock().unwrap() = None;
        assert_eq!(
            c.find_session(&id).await.unwrap().unwrap().revoked_at,
            Some(at)
        );
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        assert_eq!(c.find_session(&id).await.unwrap().unwrap().revoked_at, None);
    }

    // A lookup that read the row before an invalidation must not store it after: the
    // invalidated (revoked, disabled, deactivated) state wins. Each test pauses the store's
    // read right after it read the old row, makes the change through the cache (which drops
    // the entry), then lets the read finish and store what it read.

    #[tokio::test]
    async fn a_read_racing_a_revocation_cannot_resurrect_the_session() {
        let c = Arc::new(Cached::new(fake(true), Duration::from_secs(60)));
        let id = SessionId::parse(SESSION).unwrap();
        let gate = c.inner().pause_next_read();
        let reader = tokio::spawn({
            let (c, id) = (c.clone(), id.clone());
            async move { c.find_session(&id).await }
        });
        gate.reached.notified().await;
        let at = Timestamp::from_secs(7);
        assert!(c.revoke_session(&id, at, "test").await.unwrap());
        gate.release.notify_one();
        let raced = reader.await.unwrap().unwrap().unwrap();
        assert_eq!(raced.revoked_at, None, "read before the revocation");
        let s = c.find_session(&id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(at), "the revocation must win");
    }

    #[tokio::test]
    async fn a_read_racing_a_disable_cannot_resurrect_the_client() {
        let c = Arc::new(Cached::new(fake(true), Duration::from_secs(60)));
        let id = ClientId::parse("svc").unwrap();
        let gate = c.inner().pause_next_read();
        let reader = tokio::spawn({
            let (c, id) = (c.clone(), id.clone());
            async move { c.find_client(&id).await }
        });
        gate.reached.notified().await;
        c.set_client_active(&id, false, Timestamp::from_secs(1))
            .await
            .unwrap();
        gate.release.notify_one();
        assert!(reader.await.unwrap().unwrap().unwrap().active);
        assert!(!c.find_client(&id).await.unwrap().unwrap().active);
    }

    #[tokio::test]
    async fn a_read_racing_a_notification_cannot_resurrect_the_owner() {
        let c = Arc::new(Cached::new(fake(true), Duration::from_secs(60)));
        let uid = UserId::parse(OWNER).unwrap();
        let gate = c.inner().pause_next_read();
        let reader = tokio::spawn({
            let (c, uid) = (c.clone(), uid.clone());
            async move { c.find_user(&uid).await }
        });
        gate.reached.notified().await;
        // Deactivated by another process: the row changes, then the notification arrives.
        *c.inner().user_active.lock().unwrap() = Some(false);
        c.apply(&Change::User(uid.clone()));
        gate.release.notify_one();
        assert!(reader.await.unwrap().unwrap().unwrap().active);
        assert!(!c.find_user(&uid).await.unwrap().unwrap().active);
    }

    #[tokio::test]
    async fn a_read_racing_a_credential_removal_cannot_resurrect_it() {
        let c = Arc::new(Cached::new(fake(true), Duration::from_secs(60)));
        let id = ClientId::parse("svc").unwrap();
        *c.inner().credentials.lock().unwrap() = vec![credential("repo:a")];
        let gate = c.inner().pause_next_read();
        let reader = tokio::spawn({
            let (c, id) = (c.clone(), id.clone());
            async move { c.federated_credentials(&id).await }
        });
        gate.reached.notified().await;
        let ci = IssuerName::parse("ci").unwrap();
        assert!(
            c.remove_federated_credential(&id, &ci, "repo:a")
                .await
                .unwrap()
        );
        gate.release.notify_one();
        assert_eq!(reader.await.unwrap().unwrap(), vec![credential("repo:a")]);
        assert_eq!(c.federated_credentials(&id).await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn a_miss_racing_a_creation_cannot_hide_the_new_client() {
        let c = Arc::new(Cached::new(fake(true), Duration::from_secs(60)));
        let late = ClientId::parse("late").unwrap();
        let gate = c.inner().pause_next_read();
        let reader = tokio::spawn({
            let (c, late) = (c.clone(), late.clone());
            async move { c.find_client(&late).await }
        });
        gate.reached.notified().await;
        c.create_client(&named_client("late", true)).await.unwrap();
        gate.release.notify_one();
        assert!(reader.await.unwrap().unwrap().is_none());
        assert!(c.find_client(&late).await.unwrap().is_some());
    }
}
