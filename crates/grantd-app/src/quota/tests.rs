//! The counting and sync rules of `quota.rs`, against a mock session store whose answers (and
//! the number of times it is asked) the tests control.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use grantd_ports::{MockSessionStore, StoreError, Unavailable};

use super::*;

const T: i64 = 1_800_000_000;
const SYNC: Duration = Duration::from_secs(5);

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T + secs)
}

fn id() -> ClientId {
    ClientId::parse("svc-a").unwrap()
}

fn per_hour(n: u32) -> TokenQuota {
    TokenQuota {
        per_hour: NonZeroU32::new(n),
        per_day: None,
    }
}

/// A store whose rows hold `rows` tokens (the oldest at `at(-100)`), counting the reads.
fn store(rows: Arc<AtomicU64>, reads: Arc<AtomicU64>) -> MockSessionStore {
    let mut s = MockSessionStore::new();
    s.expect_issued_since().returning(move |_, _| {
        reads.fetch_add(1, Ordering::SeqCst);
        let count = rows.load(Ordering::SeqCst);
        Ok(IssuedSince {
            count,
            oldest: (count > 0).then(|| at(-100)),
        })
    });
    s
}

fn exhausted(r: Result<Slot, AppError>) -> (QuotaWindow, Duration) {
    match r {
        Err(AppError::QuotaExhausted {
            window,
            retry_after,
        }) => (window, retry_after),
        other => panic!("expected an exhausted quota, got {other:?}"),
    }
}

#[tokio::test]
async fn n_tokens_then_refused_until_the_oldest_leaves_the_window() {
    let (rows, reads) = (Arc::new(AtomicU64::new(2)), Arc::new(AtomicU64::new(0)));
    let s = store(rows.clone(), reads.clone());
    let q = Quotas::new(SYNC);
    for _ in 0..3 {
        q.take(&s, &id(), &per_hour(5), at(0))
            .await
            .unwrap()
            .settle();
    }
    assert_eq!(reads.load(Ordering::SeqCst), 1, "read once, at first use");
    let (w, wait) = exhausted(q.take(&s, &id(), &per_hour(5), at(1)).await);
    assert_eq!(w, QuotaWindow::Hour);
    // The oldest row (at -100) leaves the hour at 3500; asked at 1.
    assert_eq!(wait, Duration::from_secs(3_499));
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "no read within the interval"
    );
}

#[tokio::test]
async fn a_resync_sees_what_other_replicas_issued_and_what_left_the_window() {
    let (rows, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let s = store(rows.clone(), reads.clone());
    let q = Quotas::new(SYNC);
    q.take(&s, &id(), &per_hour(3), at(0))
        .await
        .unwrap()
        .settle();
    // Another replica issues 2: not seen before the interval is over...
    rows.store(3, Ordering::SeqCst);
    q.take(&s, &id(), &per_hour(3), at(4))
        .await
        .unwrap()
        .settle();
    // ...then seen (3 rows, ours included: the local count is replaced, not added to).
    exhausted(q.take(&s, &id(), &per_hour(3), at(5)).await);
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    // Rows leave the window: the next read frees the slots.
    rows.store(1, Ordering::SeqCst);
    exhausted(q.take(&s, &id(), &per_hour(3), at(9)).await);
    q.take(&s, &id(), &per_hour(3), at(10))
        .await
        .unwrap()
        .settle();
    assert_eq!(reads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_slot_not_settled_is_given_back_and_pending_slots_survive_a_read() {
    let (rows, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let s = store(rows.clone(), reads);
    let q = Quotas::new(SYNC);
    drop(q.take(&s, &id(), &per_hour(1), at(0)).await.unwrap());
    let held = q.take(&s, &id(), &per_hour(1), at(1)).await.unwrap();
    exhausted(q.take(&s, &id(), &per_hour(1), at(2)).await);
    // A read while the slot is still being issued (not in the rows yet) still counts it.
    exhausted(q.take(&s, &id(), &per_hour(1), at(6)).await);
    drop(held);
    q.take(&s, &id(), &per_hour(1), at(7))
        .await
        .unwrap()
        .settle();
}

#[tokio::test]
async fn each_window_counts_and_a_newly_set_window_is_read_at_once() {
    let (rows, reads) = (Arc::new(AtomicU64::new(4)), Arc::new(AtomicU64::new(0)));
    let s = store(rows, reads.clone());
    let q = Quotas::new(SYNC);
    q.take(&s, &id(), &per_hour(10), at(0))
        .await
        .unwrap()
        .settle();
    let both = TokenQuota {
        per_hour: NonZeroU32::new(10),
        per_day: NonZeroU32::new(4),
    };
    let (w, wait) = exhausted(q.take(&s, &id(), &both, at(1)).await);
    assert_eq!(
        (w, wait),
        (QuotaWindow::Day, Duration::from_secs(86_400 - 101))
    );
    assert_eq!(reads.load(Ordering::SeqCst), 3, "1 + hour and day again");
    // No quota: no read, no count.
    q.take(&s, &id(), &TokenQuota::default(), at(2))
        .await
        .unwrap()
        .settle();
    assert_eq!(reads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_failed_read_is_a_503_at_first_use_and_keeps_the_old_count_later() {
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut s = MockSessionStore::new();
    let f = fail.clone();
    s.expect_issued_since().returning(move |_, _| {
        if f.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(Unavailable::ConnectionLost))
        } else {
            Ok(IssuedSince::default())
        }
    });
    let q = Quotas::new(SYNC);
    let r = q.take(&s, &id(), &per_hour(1), at(0)).await;
    assert!(matches!(r, Err(AppError::Unavailable(_))), "{r:?}");
    fail.store(false, Ordering::SeqCst);
    q.take(&s, &id(), &per_hour(1), at(1))
        .await
        .unwrap()
        .settle();
    fail.store(true, Ordering::SeqCst);
    exhausted(q.take(&s, &id(), &per_hour(1), at(10)).await);
}

#[test]
fn usage_reports_what_is_left() {
    let u = QuotaUsage {
        window: QuotaWindow::Hour,
        limit: 5,
        used: 7,
    };
    assert_eq!(u.remaining(), 0);
    assert_eq!(QuotaUsage { used: 2, ..u }.remaining(), 3);
}
