//! A short-lived read cache for the two lookups every token request makes, the client (with
//! its secrets) and its owner, and for the session lookup of every introspection. It decorates
//! any [`ClientStore`] + [`UserStore`] (+ [`SessionStore`]).
//!
//! Staleness is bounded by `ttl`: an entry older than that is read again. Writes made through
//! the decorator (disable, rotate, deactivate, …) drop the affected entry at once, so in the
//! same process they take effect immediately; a write made by another process (the CLI,
//! another replica) takes effect within `ttl`. Only hits are cached — an unknown client id is
//! always read from the store, so a caller cannot fill memory with made-up ids — and the number
//! of entries is capped.
//!
//! Sessions: a revocation through the decorator (`/oauth/revoke` on this node) drops the entry
//! at once; one made elsewhere (another replica, `grantd session purge`) shows within `ttl`,
//! the propagation delay RFC 7009 §2.2 allows for. A revoked session is final, so only the
//! "not revoked yet" answer can be stale.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use grantd_domain::{
    Client, ClientId, ClientSecret, Jti, NewSession, Owner, SessionId, SessionRecord, Timestamp,
    UserId,
};
use grantd_ports::{ClientStore, SessionFilter, SessionStore, StoreError, UserStore};

/// Entries kept per map before the map is cleared (a crude but bounded eviction: a full map
/// only happens with more live clients than this, each re-read at most once per `ttl`).
const MAX_ENTRIES: usize = 100_000;

/// The same for sessions, which are many more and short-lived: a smaller cap keeps memory
/// bounded (~10 MB) when many distinct tokens are introspected.
const MAX_SESSION_ENTRIES: usize = 20_000;

struct Entry<T> {
    at: Instant,
    value: T,
}

/// The caching decorator.
pub struct Cached<S> {
    inner: S,
    ttl: Duration,
    clients: RwLock<HashMap<ClientId, Entry<Client>>>,
    users: RwLock<HashMap<UserId, Entry<Owner>>>,
    sessions: RwLock<HashMap<SessionId, Entry<SessionRecord>>>,
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
            clients: RwLock::new(HashMap::new()),
            users: RwLock::new(HashMap::new()),
            sessions: RwLock::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn get<K: std::hash::Hash + Eq, T: Clone>(
        &self,
        map: &RwLock<HashMap<K, Entry<T>>>,
        key: &K,
    ) -> Option<T> {
        if self.ttl.is_zero() {
            return None;
        }
        let guard = map.read().ok()?;
        let e = guard.get(key)?;
        (e.at.elapsed() < self.ttl).then(|| e.value.clone())
    }

    fn put<K: std::hash::Hash + Eq, T>(
        &self,
        map: &RwLock<HashMap<K, Entry<T>>>,
        key: K,
        value: T,
    ) {
        self.put_capped(map, key, value, MAX_ENTRIES);
    }

    fn put_capped<K: std::hash::Hash + Eq, T>(
        &self,
        map: &RwLock<HashMap<K, Entry<T>>>,
        key: K,
        value: T,
        max_entries: usize,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut guard) = map.write() {
            if guard.len() >= max_entries {
                let ttl = self.ttl;
                guard.retain(|_, e| e.at.elapsed() < ttl);
                if guard.len() >= max_entries {
                    guard.clear();
                }
            }
            guard.insert(
                key,
                Entry {
                    at: Instant::now(),
                    value,
                },
            );
        }
    }

    fn forget<K: std::hash::Hash + Eq, T>(map: &RwLock<HashMap<K, Entry<T>>>, key: &K) {
        if let Ok(mut guard) = map.write() {
            guard.remove(key);
        }
    }
}

#[async_trait]
impl<S: ClientStore + UserStore> ClientStore for Cached<S> {
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if let Some(c) = self.get(&self.clients, id) {
            return Ok(Some(c));
        }
        let found = self.inner.find_client(id).await?;
        if let Some(c) = &found {
            self.put(&self.clients, id.clone(), c.clone());
        }
        Ok(found)
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let r = self.inner.create_client(client).await;
        Self::forget(&self.clients, &client.id);
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
        Self::forget(&self.clients, id);
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
        Self::forget(&self.clients, id);
        r
    }

    async fn replace_secret_hash(
        &self,
        id: &ClientId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let r = self.inner.replace_secret_hash(id, old_hash, new_hash).await;
        Self::forget(&self.clients, id);
        r
    }
}

#[async_trait]
impl<S: ClientStore + UserStore> UserStore for Cached<S> {
    async fn find_user(&self, id: &UserId) -> Result<Option<Owner>, StoreError> {
        if let Some(u) = self.get(&self.users, id) {
            return Ok(Some(u));
        }
        let found = self.inner.find_user(id).await?;
        if let Some(u) = &found {
            self.put(&self.users, id.clone(), u.clone());
        }
        Ok(found)
    }

    async fn create_user(&self, user: &Owner) -> Result<(), StoreError> {
        let r = self.inner.create_user(user).await;
        Self::forget(&self.users, &user.id);
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
        Self::forget(&self.users, id);
        r
    }
}

#[async_trait]
impl<S: ClientStore + UserStore + SessionStore> SessionStore for Cached<S> {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.inner.insert_session(session).await
    }

    async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(s) = self.get(&self.sessions, id) {
            return Ok(Some(s));
        }
        let found = self.inner.find_session(id).await?;
        if let Some(s) = &found {
            self.put_capped(&self.sessions, id.clone(), s.clone(), MAX_SESSION_ENTRIES);
        }
        Ok(found)
    }

    async fn find_session_by_jti(&self, jti: &Jti) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.find_session_by_jti(jti).await
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        at: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let r = self.inner.revoke_session(id, at, reason).await;
        Self::forget(&self.sessions, id);
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
        if let Ok(mut guard) = self.sessions.write() {
            guard.clear();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use grantd_domain::AuthMethod;

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
        revoked: Mutex<Option<Timestamp>>,
    }

    fn client(active: bool) -> Client {
        Client {
            id: ClientId::parse("svc").unwrap(),
            name: "svc".into(),
            owner_id: OWNER.into(),
            scopes: vec!["service".into()],
            grant_types: vec!["client_credentials".into()],
            auth_method: AuthMethod::ClientSecretBasic,
            active,
            secrets: vec![],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        }
    }

    fn owner() -> Owner {
        Owner {
            id: UserId::parse(OWNER).unwrap(),
            name: "o".into(),
            email: "o@example.com".into(),
            roles: vec![],
            active: true,
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        }
    }

    #[async_trait]
    impl ClientStore for Fake {
        async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
            self.client_reads.fetch_add(1, Ordering::SeqCst);
            Ok((id.as_str() == "svc").then(|| client(*self.active.lock().unwrap())))
        }
        async fn create_client(&self, _: &Client) -> Result<(), StoreError> {
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
    }

    #[async_trait]
    impl UserStore for Fake {
        async fn find_user(&self, _: &UserId) -> Result<Option<Owner>, StoreError> {
            self.user_reads.fetch_add(1, Ordering::SeqCst);
            Ok(Some(owner()))
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
            _: bool,
            _: Timestamp,
        ) -> Result<bool, StoreError> {
            Ok(true)
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
            Ok((id.as_str() == SESSION).then(|| record(*self.revoked.lock().unwrap())))
        }
        async fn find_session_by_jti(&self, _: &Jti) -> Result<Option<SessionRecord>, StoreError> {
            Ok(None)
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
    async fn misses_are_never_cached() {
        let c = Cached::new(fake(true), Duration::from_secs(60));
        let nobody = ClientId::parse("nobody").unwrap();
        for _ in 0..3 {
            assert!(c.find_client(&nobody).await.unwrap().is_none());
        }
        assert_eq!(c.inner().client_reads.load(Ordering::SeqCst), 3);
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
}
