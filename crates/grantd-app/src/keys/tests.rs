//! Key administration against mocks of the key ring and the clock: the rotation schedule, the
//! retirement period, and what the periodic check does when a step fails.

use super::*;
use grantd_domain::Kid;
use grantd_ports::{MockClock, MockKeyRing, SigningAlgorithm};

const TTL_SECS: u32 = 3600;
const NOW: i64 = 1_800_000_000;

fn kid(s: &str) -> Kid {
    Kid::parse(s).unwrap()
}

fn summary(k: &str, state: KeyState, created: i64, activated: Option<i64>) -> KeySummary {
    KeySummary {
        kid: kid(k),
        algorithm: SigningAlgorithm::Es256,
        state,
        created_at: Timestamp::from_secs(created),
        activated_at: activated.map(Timestamp::from_secs),
        retired_at: None,
        not_after: None,
        published: true,
    }
}

fn report(now: Timestamp) -> RotationReport {
    RotationReport {
        old_active: kid("old"),
        new_active: kid("new"),
        new_next: kid("next"),
        retired_not_after: now.plus_secs(i64::from(TTL_SECS) + ROTATION_MARGIN_SECS),
    }
}

fn admin(ring: MockKeyRing, rotate_every: Option<u64>) -> KeyAdmin {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(Timestamp::from_secs(NOW));
    KeyAdmin::new(
        Arc::new(ring),
        Arc::new(clock),
        KeyPolicy {
            max_token_ttl: Ttl::from_secs(u64::from(TTL_SECS)).unwrap(),
            rotate_every: rotate_every.map(Duration::from_secs),
        },
    )
}

fn failed() -> KeyRingError {
    KeyRingError::Failed("store down".into())
}

/// A ring whose active key was activated at `activated`.
fn ring_active_since(activated: i64) -> MockKeyRing {
    let mut ring = MockKeyRing::new();
    ring.expect_refresh().returning(|_| Ok(()));
    ring.expect_summaries().returning(move || {
        vec![
            summary("act", KeyState::Active, 0, Some(activated)),
            summary("nxt", KeyState::Next, 0, None),
        ]
    });
    ring
}

#[test]
fn rotation_is_due_after_the_interval_and_never_wraps() {
    let since = Timestamp::from_secs(1_000);
    for (now, every, due) in [
        (1_059, 60, false),
        (1_060, 60, true),
        (999, 60, false),
        (i64::MAX / 1_000_000, u64::MAX, false),
        (i64::MAX / 1_000_000, 60, true),
    ] {
        assert_eq!(
            rotation_due(since, Timestamp::from_secs(now), Duration::from_secs(every)),
            due,
            "now {now}, every {every}"
        );
    }
}

#[test]
fn a_key_that_never_recorded_activation_counts_from_its_creation() {
    let keys = [
        summary("old", KeyState::Retired, 1, Some(2)),
        summary("act", KeyState::Active, 10, None),
    ];
    assert_eq!(active_since(&keys), Some(Timestamp::from_secs(10)));
    let keys = [summary("act", KeyState::Active, 10, Some(20))];
    assert_eq!(active_since(&keys), Some(Timestamp::from_secs(20)));
    assert_eq!(active_since(&[summary("n", KeyState::Next, 1, None)]), None);
}

#[tokio::test]
async fn a_retired_key_stays_published_for_the_longest_token_lifetime_plus_the_margin() {
    let mut ring = MockKeyRing::new();
    let now = Timestamp::from_secs(NOW);
    ring.expect_rotate()
        .withf(move |at, until| {
            *at == now && *until == now.plus_secs(i64::from(TTL_SECS) + ROTATION_MARGIN_SECS)
        })
        .times(1)
        .returning(move |_, _| Ok(report(now)));
    let got = admin(ring, None).rotate().await.unwrap();
    assert_eq!(got, report(now));
}

#[tokio::test]
async fn list_is_the_rings_summaries() {
    let mut ring = MockKeyRing::new();
    ring.expect_summaries()
        .returning(|| vec![summary("act", KeyState::Active, 1, Some(1))]);
    let keys = admin(ring, None).list();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, kid("act"));
}

#[tokio::test]
async fn a_failed_reload_stops_the_check() {
    let mut ring = MockKeyRing::new();
    ring.expect_refresh().times(1).returning(|_| Err(failed()));
    ring.expect_rotate().never();
    ring.expect_delete_expired().never();
    let check = admin(ring, Some(60)).scheduled_check().await;
    assert!(check.refreshed.is_err());
    assert!(check.rotated.is_none() && check.deleted.is_none());
}

#[tokio::test]
async fn no_rotation_before_it_is_due_or_without_a_schedule() {
    for (activated, every) in [(NOW - 59, Some(60)), (0, None)] {
        let mut ring = ring_active_since(activated);
        ring.expect_rotate().never();
        ring.expect_delete_expired().times(1).returning(|_| Ok(0));
        let check = admin(ring, every).scheduled_check().await;
        assert!(check.refreshed.is_ok());
        assert!(
            check.rotated.is_none(),
            "activated {activated}, every {every:?}"
        );
        assert!(matches!(check.deleted, Some(Ok(0))));
    }
}

#[tokio::test]
async fn a_due_rotation_happens_and_expired_keys_go() {
    let mut ring = ring_active_since(NOW - 60);
    let now = Timestamp::from_secs(NOW);
    ring.expect_rotate()
        .withf(move |at, until| {
            *at == now && *until == now.plus_secs(i64::from(TTL_SECS) + ROTATION_MARGIN_SECS)
        })
        .times(1)
        .returning(move |_, _| Ok(report(now)));
    ring.expect_delete_expired().times(1).returning(|_| Ok(2));
    let check = admin(ring, Some(60)).scheduled_check().await;
    assert!(matches!(check.rotated, Some(Ok(ref r)) if *r == report(now)));
    assert!(matches!(check.deleted, Some(Ok(2))));
}

#[tokio::test]
async fn a_raced_or_failed_rotation_still_deletes_expired_keys() {
    for error in [
        KeyRingError::RotationRaced("another replica rotated".into()),
        failed(),
    ] {
        let raced = matches!(error, KeyRingError::RotationRaced(_));
        let error = std::sync::Mutex::new(Some(error));
        let mut ring = ring_active_since(0);
        ring.expect_rotate()
            .times(1)
            .returning(move |_, _| Err(error.lock().unwrap().take().unwrap()));
        ring.expect_delete_expired().times(1).returning(|_| Ok(0));
        let check = admin(ring, Some(60)).scheduled_check().await;
        match check.rotated {
            Some(Err(KeyRingError::RotationRaced(_))) => assert!(raced),
            Some(Err(KeyRingError::Failed(_))) => assert!(!raced),
            other => panic!("expected a failed rotation, got {other:?}"),
        }
        assert!(matches!(check.deleted, Some(Ok(0))));
    }
}

#[tokio::test]
async fn a_failed_deletion_is_reported() {
    let mut ring = ring_active_since(NOW);
    ring.expect_delete_expired()
        .times(1)
        .returning(|_| Err(failed()));
    let check = admin(ring, Some(60)).scheduled_check().await;
    assert!(check.rotated.is_none());
    assert!(matches!(check.deleted, Some(Err(KeyRingError::Failed(_)))));
}
