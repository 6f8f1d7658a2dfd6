//! A short-lived read cache for the two lookups every token request makes: the client (with
//! its secrets) and its owner. It decorates any [`ClientStore`] + [`UserStore`].
//!
//! Staleness is bounded by `ttl`: an entry older than that is read again. Writes made through
//! the decorator (disable, rotate, deactivate, …) drop the affected entry at once, so in the
//! same process they take effect immediately; a write made by another process (the CLI,
//! another replica) takes effect within `ttl`. Only hits are cached — an unknown client id is
//! always read from the store, so a caller cannot fill memory with made-up ids — and the number
//! of entries is capped.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use grantd_domain::{Client, ClientId, ClientSecret, Owner, Timestamp, UserId};
use grantd_ports::{ClientStore, StoreError, UserStore};

/// Entries kept per map before the map is cleared (a crude but bounded eviction: a full map
/// only happens with more live clients than this, each re-read at most once per `ttl`).
const MAX_ENTRIES: usize = 100_000;

struct Entry<T> {
    at: Instant,
    value: Arc<T>,
}

/// The caching decorator.
pub struct Cached<S> {
    inner: S,
    ttl: Duration,
    clients: RwLock<HashMap<ClientId, Entry<Client>>>,
    users: RwLock<HashMap<UserId, Entry<Owner>>>,
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
        (e.at.elapsed() < self.ttl).then(|| (*e.value).clone())
    }

    fn put<K: std::hash::Hash + Eq, T>(
        &self,
        map: &RwLock<HashMap<K, Entry<T>>>,
        key: K,
        value: T,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut guard) = map.write() {
            if guard.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                guard.retain(|_, e| e.at.elapsed() < ttl);
                if guard.len() >= MAX_ENTRIES {
                    guard.clear();
                }
            }
            guard.insert(
                key,
                Entry {
                    at: Instant::now(),
                    value: Arc::new(value),
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
        active: Mutex<bool>,
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
}
