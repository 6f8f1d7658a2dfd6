//! A database transaction held open across several store operations ([`Transactions`]): what
//! `grantd apply` writes through, so a file converges all at once or not at all.
//!
//! [`Store::begin`] opens the transaction on a connection of its own (a pooled one on Postgres;
//! SQLite's single writer with `BEGIN IMMEDIATE`, so the write lock is held until the end) and
//! hands out a copy of the store bound to it: every operation of that copy runs on the pinned
//! connection, reads included, so they see the transaction's own writes. An operation that is
//! itself a transaction (`with_tx!`) becomes a savepoint of the open one. Nothing is visible to
//! other connections before [`StoreTransaction::commit`]; Postgres delivers the change
//! notifications of the triggers at commit, and SQLite's change rows commit with the rest.
//!
//! A transaction dropped without `commit` or `rollback` is rolled back on the store's runtime.

use async_trait::async_trait;
use grantd_ports::{StoreError, Transaction, TransactionStores, Transactions};
use std::sync::Arc;

use crate::Store;

/// An open transaction of a [`Store`]. No `Clone`: it is finished once.
pub struct StoreTransaction {
    /// The store bound to the transaction; its `tx` is taken when the transaction finishes.
    bound: Store,
}

impl std::fmt::Debug for StoreTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTransaction")
            .field("open", &self.bound.tx.is_some())
            .finish()
    }
}

impl Store {
    /// Opens a transaction; see the module docs.
    pub async fn begin(&self) -> Result<StoreTransaction, StoreError> {
        let tx = self.run(|db| async move { db.begin().await }).await?;
        Ok(StoreTransaction {
            bound: Store {
                inner: Arc::clone(&self.inner),
                tx: Some(tx),
            },
        })
    }
}

impl StoreTransaction {
    /// The store bound to the transaction: every port, each operation inside it.
    pub fn store(&self) -> &Store {
        &self.bound
    }

    /// Commits every write made through [`StoreTransaction::store`].
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.finish(true).await
    }

    /// Rolls every write back.
    pub async fn rollback(mut self) -> Result<(), StoreError> {
        self.finish(false).await
    }

    async fn finish(&mut self, commit: bool) -> Result<(), StoreError> {
        match self.bound.tx.take() {
            Some(tx) => {
                self.bound
                    .run(|_| async move { tx.finish(commit).await })
                    .await
            }
            None => Ok(()),
        }
    }
}

impl Drop for StoreTransaction {
    fn drop(&mut self) {
        if let Some(tx) = self.bound.tx.take() {
            // Not awaited: the rollback runs on the store's runtime, which outlives this
            // call; until it has run, the connection stays out of its pool.
            self.bound.inner.runtime.handle.spawn(async move {
                if let Err(e) = tx.finish(false).await {
                    tracing::warn!(error = %e.0, "rollback of an abandoned transaction failed");
                }
            });
        }
    }
}

#[async_trait]
impl Transactions for Store {
    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError> {
        Ok(Box::new(Store::begin(self).await?))
    }
}

#[async_trait]
impl Transaction for StoreTransaction {
    fn stores(&self) -> TransactionStores {
        let store = Arc::new(self.bound.clone());
        TransactionStores {
            clients: store.clone(),
            users: store.clone(),
            credentials: store,
        }
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        StoreTransaction::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        StoreTransaction::rollback(*self).await
    }
}
