//! Several admin use cases as one unit ([`Admin::begin`]): `grantd apply` converges a whole
//! state file in one database transaction, so a failure midway (a store error, a concurrent
//! change) leaves nothing of it behind.
//!
//! The use cases run unchanged on a copy of [`Admin`] whose stores are the transaction's
//! ([`grantd_ports::Transactions`]): same validation, same compare-and-set writes, same audit
//! events. The events are held until the commit succeeds and dropped on rollback, so the audit
//! stream never records a change that did not happen.

use std::fmt;
use std::sync::{Arc, Mutex};

use grantd_ports::{AuditEvent, AuditSink, Transaction, Transactions};

use super::{Admin, AdminError, InternalCause};
use crate::audit::Audit;

/// The port [`Admin::begin`] opens transactions with.
#[derive(Clone)]
pub(super) struct Source(pub(super) Arc<dyn Transactions>);

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Transactions")
    }
}

/// An open unit of admin use cases; see the module docs. Dropped without [`commit`]: rolled
/// back, and its audit events never recorded.
///
/// [`commit`]: AdminTransaction::commit
pub struct AdminTransaction {
    /// The use cases on the transaction's stores, recording into `held`.
    admin: Admin,
    tx: Box<dyn Transaction>,
    held: Arc<HeldEvents>,
    /// Where the held events go once committed.
    audit: Audit,
}

impl fmt::Debug for AdminTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminTransaction { .. }")
    }
}

impl Admin {
    /// Opens a transaction and returns the use cases bound to it. Without a transaction port
    /// ([`Admin::with_transactions`]): `Internal(NoTransactions)`.
    pub async fn begin(&self) -> Result<AdminTransaction, AdminError> {
        let Some(source) = &self.transactions else {
            return Err(AdminError::Internal(InternalCause::NoTransactions));
        };
        let tx = source
            .0
            .begin()
            .await
            .map_err(|e| AdminError::store("opening a transaction", e))?;
        let stores = tx.stores();
        let held = Arc::new(HeldEvents::default());
        let mut admin = self.clone();
        admin.ports.clients = stores.clients;
        admin.ports.users = stores.users;
        if let Some(federation) = &mut admin.federation {
            federation.credentials = stores.credentials;
        }
        admin.transactions = None;
        if self.audit.is_on() {
            admin.audit = Audit::new(held.clone());
        }
        Ok(AdminTransaction {
            admin,
            tx,
            held,
            audit: self.audit.clone(),
        })
    }
}

impl AdminTransaction {
    /// The use cases, each writing inside the transaction.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Commits every write, then records the held audit events in order. `Err`: nothing was
    /// written, and no event is recorded.
    pub async fn commit(self) -> Result<(), AdminError> {
        self.tx
            .commit()
            .await
            .map_err(|e| AdminError::store("committing the transaction", e))?;
        for event in self.held.take() {
            self.audit.record(event);
        }
        Ok(())
    }

    /// Undoes every write; the held audit events are dropped.
    pub async fn rollback(self) -> Result<(), AdminError> {
        self.tx
            .rollback()
            .await
            .map_err(|e| AdminError::store("rolling the transaction back", e))
    }
}

/// Audit events of an open transaction, in the order they were made.
#[derive(Default)]
struct HeldEvents(Mutex<Vec<AuditEvent>>);

impl HeldEvents {
    fn take(&self) -> Vec<AuditEvent> {
        match self.0.lock() {
            Ok(mut events) => std::mem::take(&mut *events),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl AuditSink for HeldEvents {
    fn record(&self, event: AuditEvent) {
        match self.0.lock() {
            Ok(mut events) => events.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }
}
