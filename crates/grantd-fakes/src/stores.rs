//! The store ports in memory: clients and owners that are only read, sessions that are written
//! and revoked, and signing keys with the whole port contract.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use grantd_domain::{
    Client, ClientId, ClientLimits, ClientSecret, DpopPolicy, Kid, NewSession, Owner, SessionId,
    SessionRecord, Timestamp, UserId,
};
use grantd_ports::{
    ClientStore, Constraint, Internal, IssuedSince, KeyState, SessionFilter, SessionStore,
    SigningKeyRecord, SigningKeyStore, StoreError, UpdateOutcome, UserStore,
};

use crate::lock;

fn not_faked(what: &str) -> ! {
    panic!("{what} is not faked: no caller of this fake writes or lists it")
}

/// Registered clients, read-only. Records every id looked up; `fail` makes lookups fail.
#[derive(Debug, Default)]
pub struct FakeClients {
    clients: HashMap<String, Client>,
    pub lookups: Mutex<Vec<String>>,
    pub fail: Mutex<Option<StoreError>>,
}

impl FakeClients {
    pub fn new(clients: impl IntoIterator<Item = Client>) -> Self {
        Self {
            clients: clients
                .into_iter()
                .map(|c| (c.id.as_str().to_owned(), c))
                .collect(),
            ..Self::default()
        }
    }
}

#[async_trait]
impl ClientStore for FakeClients {
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        lock(&self.lookups).push(id.as_str().to_owned());
        if let Some(e) = lock(&self.fail).clone() {
            return Err(e);
        }
        Ok(self.clients.get(id.as_str()).cloned())
    }
    async fn create_client(&self, _: &Client) -> Result<(), StoreError> {
        not_faked("FakeClients::create_client")
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        not_faked("FakeClients::list_clients")
    }
    async fn set_client_active(
        &self,
        _: &ClientId,
        _: bool,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        not_faked("FakeClients::set_client_active")
    }
    async fn rotate_secret(
        &self,
        _: &ClientId,
        _: &ClientSecret,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        not_faked("FakeClients::rotate_secret")
    }
    async fn replace_secret_hash(
        &self,
        _: &ClientId,
        _: &str,
        _: &str,
    ) -> Result<bool, StoreError> {
        not_faked("FakeClients::replace_secret_hash")
    }
    async fn set_client_dpop(
        &self,
        _: &ClientId,
        _: DpopPolicy,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        not_faked("FakeClients::set_client_dpop")
    }
    async fn set_client_keys(
        &self,
        _: &ClientId,
        _: &grantd_domain::ClientKeys,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        not_faked("FakeClients::set_client_keys")
    }
    async fn set_client_limits(
        &self,
        _: &ClientId,
        _: &ClientLimits,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        not_faked("FakeClients::set_client_limits")
    }
    async fn update_client(&self, _: &Client, _: Timestamp) -> Result<UpdateOutcome, StoreError> {
        not_faked("FakeClients::update_client")
    }
}

/// Users (client owners), read-only.
#[derive(Debug, Default)]
pub struct FakeUsers(HashMap<UserId, Owner>);

impl FakeUsers {
    pub fn new(owners: impl IntoIterator<Item = Owner>) -> Self {
        Self(owners.into_iter().map(|o| (o.id.clone(), o)).collect())
    }
}

#[async_trait]
impl UserStore for FakeUsers {
    async fn find_user(&self, id: &UserId) -> Result<Option<Owner>, StoreError> {
        Ok(self.0.get(id).cloned())
    }
    async fn create_user(&self, _: &Owner) -> Result<(), StoreError> {
        not_faked("FakeUsers::create_user")
    }
    async fn list_users(&self) -> Result<Vec<Owner>, StoreError> {
        not_faked("FakeUsers::list_users")
    }
    async fn set_user_active(&self, _: &UserId, _: bool, _: Timestamp) -> Result<bool, StoreError> {
        not_faked("FakeUsers::set_user_active")
    }
    async fn update_user(&self, _: &Owner, _: Timestamp) -> Result<UpdateOutcome, StoreError> {
        not_faked("FakeUsers::update_user")
    }
}

/// Session rows in insertion order and the ids revoked; `fail` makes every operation fail.
/// A revoked session is found with `revoked_at` = its expiry and reason `revoked`.
#[derive(Debug, Default)]
pub struct FakeSessions {
    pub rows: Mutex<Vec<NewSession>>,
    pub revoked: Mutex<Vec<String>>,
    pub fail: Mutex<Option<StoreError>>,
}

impl FakeSessions {
    fn check(&self) -> Result<(), StoreError> {
        lock(&self.fail).clone().map_or(Ok(()), Err)
    }
}

#[async_trait]
impl SessionStore for FakeSessions {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.rows).push(session.clone());
        Ok(())
    }
    async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.check()?;
        let revoked = lock(&self.revoked).iter().any(|r| r == id.as_str());
        Ok(lock(&self.rows)
            .iter()
            .find(|r| &r.id == id)
            .map(|r| SessionRecord {
                session: r.clone(),
                revoked_at: revoked.then_some(r.created_at),
                revoke_reason: revoked.then(|| "revoked".to_owned()),
            }))
    }
    async fn revoke_session(
        &self,
        id: &SessionId,
        _: Timestamp,
        _: &str,
    ) -> Result<bool, StoreError> {
        self.check()?;
        lock(&self.revoked).push(id.as_str().to_owned());
        Ok(true)
    }
    async fn list_sessions(&self, _: &SessionFilter) -> Result<Vec<SessionRecord>, StoreError> {
        not_faked("FakeSessions::list_sessions")
    }
    async fn purge_sessions(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
        not_faked("FakeSessions::purge_sessions")
    }
    /// Counted from the rows, as the store counts them.
    async fn issued_since(
        &self,
        client: &ClientId,
        since: Timestamp,
    ) -> Result<IssuedSince, StoreError> {
        self.check()?;
        let rows = lock(&self.rows);
        let times = rows
            .iter()
            .filter(|r| &r.client_id == client && r.created_at >= since)
            .map(|r| r.created_at);
        Ok(IssuedSince {
            count: times.clone().count() as u64,
            oldest: times.min(),
        })
    }
}

/// The signing-key store in memory, following the port's contract: atomic bootstrap (a no-op
/// once an active key exists), guarded rotation (only from the expected active key, a `next`
/// key required), deletion of retired keys past `not_after`. One mutex makes every operation
/// atomic, as the real stores' transactions do.
#[derive(Debug, Default)]
pub struct MemKeys {
    pub keys: Mutex<Vec<SigningKeyRecord>>,
}

impl MemKeys {
    pub fn snapshot(&self) -> Vec<SigningKeyRecord> {
        lock(&self.keys).clone()
    }

    /// How many keys are in `state`.
    pub fn count(&self, state: KeyState) -> usize {
        lock(&self.keys).iter().filter(|k| k.state == state).count()
    }
}

#[async_trait]
impl SigningKeyStore for MemKeys {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        Ok(self.snapshot())
    }

    async fn bootstrap_signing_keys(
        &self,
        active: &SigningKeyRecord,
        next: &SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        let mut keys = lock(&self.keys);
        if keys.iter().any(|k| k.state == KeyState::Active) {
            return Ok(false);
        }
        if keys
            .iter()
            .any(|k| k.kid == active.kid || k.kid == next.kid)
        {
            return Err(StoreError::Conflict(Constraint::KeyKid));
        }
        keys.push(active.clone());
        keys.push(next.clone());
        Ok(true)
    }

    async fn rotate_signing_keys(
        &self,
        expected_active: &Kid,
        new_next: &SigningKeyRecord,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<Option<Kid>, StoreError> {
        let mut keys = lock(&self.keys);
        let Some(active) = keys.iter().position(|k| k.state == KeyState::Active) else {
            return Ok(None);
        };
        if &keys[active].kid != expected_active {
            return Ok(None);
        }
        let Some(next) = keys.iter().position(|k| k.state == KeyState::Next) else {
            return Err(StoreError::Internal(Internal::Database));
        };
        if keys.iter().any(|k| k.kid == new_next.kid) {
            return Err(StoreError::Conflict(Constraint::KeyKid));
        }
        keys[active].state = KeyState::Retired;
        keys[active].retired_at = Some(now);
        keys[active].not_after = Some(retired_not_after);
        keys[next].state = KeyState::Active;
        keys[next].activated_at = Some(now);
        let promoted = keys[next].kid.clone();
        let mut inserted = new_next.clone();
        inserted.state = KeyState::Next;
        keys.push(inserted);
        Ok(Some(promoted))
    }

    async fn delete_expired_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut keys = lock(&self.keys);
        let before = keys.len();
        keys.retain(|k| !(k.state == KeyState::Retired && k.not_after.is_some_and(|na| na < now)));
        Ok((before - keys.len()) as u64)
    }
}
