//! `Admin::begin`: the use cases of a transaction write through its stores only, a failed step
//! leaves the commit to nobody, and audit events wait for the commit.

use std::sync::Mutex;

use async_trait::async_trait;
use grantd_ports::{
    AuditEvent, AuditKind, AuditSink, MockFederatedCredentialStore, MockTransactions, Transaction,
    TransactionStores, Unavailable,
};

use super::*;
use crate::audit::Audit;

/// What happened to the transaction and the audit stream, in order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl AuditSink for Log {
    fn record(&self, event: AuditEvent) {
        let what = match event.kind {
            AuditKind::AdminChange(c) => format!("audit {}", c.action),
            _ => "audit other".into(),
        };
        self.push(what);
    }
}

struct FakeTx {
    stores: TransactionStores,
    log: Arc<Log>,
}

#[async_trait]
impl Transaction for FakeTx {
    fn stores(&self) -> TransactionStores {
        self.stores.clone()
    }
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.log.push("commit");
        Ok(())
    }
    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.log.push("rollback");
        Ok(())
    }
}

/// An admin whose own stores must never be written (the mocks have no expectations) and whose
/// transaction's user store takes `fail_at`-th `create_user` badly (1-based; 0: never).
fn admin_with_tx(log: &Arc<Log>, fail_at: usize) -> Admin {
    let mut users = MockUserStore::new();
    let mut n = 0;
    let tx_log = log.clone();
    users.expect_create_user().returning(move |u| {
        n += 1;
        if n == fail_at {
            return Err(StoreError::Unavailable(Unavailable::PoolTimeout));
        }
        tx_log.push(format!("write {}", u.email));
        Ok(())
    });
    let stores = TransactionStores {
        clients: Arc::new(MockClientStore::new()),
        users: Arc::new(users),
        credentials: Arc::new(MockFederatedCredentialStore::new()),
    };
    let fake = FakeTx {
        stores,
        log: log.clone(),
    };
    let mut source = MockTransactions::new();
    source
        .expect_begin()
        .times(1)
        .return_once(move || Ok(Box::new(fake)));
    let mut fx = Fx::new();
    fx.ids
        .expect_user_id()
        .returning(|| UserId::parse(NEW_USER).unwrap());
    fx.admin()
        .with_transactions(Arc::new(source))
        .with_audit(Audit::new(log.clone()))
}

async fn create_three(admin: &Admin) -> Result<(), AdminError> {
    for who in ["a", "b", "c"] {
        let spec = user_spec(who, &format!("{who}@example.com"), &[]);
        admin.create_user(spec).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_failed_third_write_is_rolled_back_and_audits_nothing() {
    let log = Arc::new(Log::default());
    let admin = admin_with_tx(&log, 3);
    let tx = admin.begin().await.unwrap();
    let err = create_three(tx.admin()).await.unwrap_err();
    assert!(matches!(err, AdminError::Unavailable(_)), "{err:?}");
    tx.rollback().await.unwrap();
    assert_eq!(
        log.lines(),
        ["write a@example.com", "write b@example.com", "rollback"],
        "no event for the two rolled-back creations"
    );
}

#[tokio::test]
async fn events_are_recorded_after_the_commit_in_order() {
    let log = Arc::new(Log::default());
    let admin = admin_with_tx(&log, 0);
    let tx = admin.begin().await.unwrap();
    create_three(tx.admin()).await.unwrap();
    assert_eq!(log.lines().len(), 3, "only the writes before the commit");
    tx.commit().await.unwrap();
    let lines = log.lines();
    assert_eq!(lines[3], "commit");
    assert_eq!(lines[4..], ["audit user.create"; 3]);
}

#[tokio::test]
async fn an_abandoned_transaction_never_commits_nor_audits() {
    let log = Arc::new(Log::default());
    let admin = admin_with_tx(&log, 0);
    let tx = admin.begin().await.unwrap();
    create_three(tx.admin()).await.unwrap();
    drop(tx);
    assert_eq!(log.lines().len(), 3, "{:?}", log.lines());
}

#[tokio::test]
async fn without_a_transaction_port_begin_is_refused() {
    let admin = Fx::new().admin();
    let err = admin.begin().await.unwrap_err();
    assert_eq!(err, AdminError::Internal(InternalCause::NoTransactions));
}
