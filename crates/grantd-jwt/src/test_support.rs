//! Test helpers: a private temporary directory and an in-memory `SigningKeyStore` that follows
//! the port's contract (atomic bootstrap, guarded rotation, expiry deletion).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use grantd_domain::{Kid, Timestamp};
use grantd_ports::{KeyState, SigningKeyRecord, SigningKeyStore, StoreError};

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        let name = format!(
            "grantd-jwt-test-{}",
            crate::random::b64url(&crate::random::bytes::<12>())
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The key store in memory. One mutex makes every operation atomic, as the real stores'
/// transactions do.
#[derive(Default)]
pub(crate) struct FakeKeyStore {
    pub(crate) keys: Mutex<Vec<SigningKeyRecord>>,
}

impl FakeKeyStore {
    pub(crate) fn snapshot(&self) -> Vec<SigningKeyRecord> {
        self.keys.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, state: KeyState) -> usize {
        self.snapshot().iter().filter(|k| k.state == state).count()
    }
}

#[async_trait]
impl SigningKeyStore for FakeKeyStore {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        Ok(self.snapshot())
    }

    async fn bootstrap_signing_keys(
        &self,
        active: &SigningKeyRecord,
        next: &SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().unwrap();
        if keys.iter().any(|k| k.state == KeyState::Active) {
            return Ok(false);
        }
        if keys
            .iter()
            .any(|k| k.kid == active.kid || k.kid == next.kid)
        {
            return Err(StoreError::Conflict(grantd_ports::Constraint::KeyKid));
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
        let mut keys = self.keys.lock().unwrap();
        let Some(active) = keys.iter().position(|k| k.state == KeyState::Active) else {
            return Ok(None);
        };
        if &keys[active].kid != expected_active {
            return Ok(None);
        }
        let Some(next) = keys.iter().position(|k| k.state == KeyState::Next) else {
            return Err(StoreError::Internal(grantd_ports::Internal::Database));
        };
        if keys.iter().any(|k| k.kid == new_next.kid) {
            return Err(StoreError::Conflict(grantd_ports::Constraint::KeyKid));
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
        let mut keys = self.keys.lock().unwrap();
        let before = keys.len();
        keys.retain(|k| !(k.state == KeyState::Retired && k.not_after.is_some_and(|na| na < now)));
        Ok((before - keys.len()) as u64)
    }
}
