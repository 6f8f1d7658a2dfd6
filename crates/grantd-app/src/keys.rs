//! Signing-key administration: list the keys (`grantd key list`), rotate them on demand
//! (`grantd key rotate`) and the server's periodic check (reload the ring, rotate when due,
//! delete expired keys). The key ring adapter does the mechanics (generating, sealing, loading
//! keys); the policy is here: when a rotation is due, and how long a retired key stays
//! published.

use std::sync::Arc;
use std::time::Duration;

use grantd_domain::{Timestamp, Ttl};
use grantd_ports::{
    AdminChange, AuditKind, Clock, FieldChange, KeyRing, KeyRingError, KeyState, KeySummary,
    RotationReport,
};

use crate::audit::Audit;

/// Extra lifetime of a retired key beyond the longest token lifetime. Replicas keep signing
/// with the old key until their next reload, so their last tokens expire up to one reload
/// interval after `rotation + ttl`: every replica must reload more often than this.
pub const ROTATION_MARGIN_SECS: i64 = 300;

/// What key administration needs from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The longest access-token lifetime in force: a retired key stays published this long
    /// (plus [`ROTATION_MARGIN_SECS`]) after rotation, so every token it signed verifies
    /// until it expires.
    pub max_token_ttl: Ttl,
    /// Scheduled rotation: the active key is replaced once it has signed this long. `None`:
    /// only on demand.
    pub rotate_every: Option<Duration>,
}

/// What one periodic check did, for tests; the check logs it as it goes.
#[derive(Debug)]
pub struct KeyCheck {
    /// The reload from the store. On failure nothing else was attempted.
    pub refreshed: Result<(), KeyRingError>,
    /// The rotation, if one was due.
    pub rotated: Option<Result<RotationReport, KeyRingError>>,
    /// How many expired retired keys were deleted (absent if the reload failed).
    pub deleted: Option<Result<u64, KeyRingError>>,
}

/// The key-administration use case: the CLI and the server's background task both go
/// through it.
#[derive(Clone)]
pub struct KeyAdmin {
    ring: Arc<dyn KeyRing>,
    clock: Arc<dyn Clock>,
    policy: KeyPolicy,
    audit: Audit,
}

impl std::fmt::Debug for KeyAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAdmin")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KeyAdmin {
    pub fn new(ring: Arc<dyn KeyRing>, clock: Arc<dyn Clock>, policy: KeyPolicy) -> Self {
        Self {
            ring,
            clock,
            policy,
            audit: Audit::off(),
        }
    }

    /// The same administration, recording each rotation to `audit`.
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    /// Records a rotation that happened at `now`.
    fn audit_rotation(&self, now: Timestamp, outcome: &Result<RotationReport, KeyRingError>) {
        if let Ok(report) = outcome {
            self.audit.emit(now, || rotation_event(report));
        }
    }

    /// Every stored key as of the last reload, oldest first.
    pub fn list(&self) -> Vec<KeySummary> {
        self.ring.summaries()
    }

    /// Rotates now: next → active, active → retired (published until every token it signed
    /// has expired, plus the margin), and a new next key.
    pub async fn rotate(&self) -> Result<RotationReport, KeyRingError> {
        let now = self.clock.now();
        let outcome = self.ring.rotate(now, self.retired_not_after(now)).await;
        self.audit_rotation(now, &outcome);
        outcome
    }

    /// The periodic check: reload the ring so rotations made elsewhere are followed, rotate
    /// if the active key has served `rotate_every`, and delete retired keys past their end.
    /// Every outcome is logged here; the result is for tests.
    pub async fn scheduled_check(&self) -> KeyCheck {
        let now = self.clock.now();
        if let Err(e) = self.ring.refresh(now).await {
            tracing::warn!(error = %e, "signing key refresh failed");
            return KeyCheck {
                refreshed: Err(e),
                rotated: None,
                deleted: None,
            };
        }
        let rotated = match self.policy.rotate_every {
            Some(every)
                if active_since(&self.ring.summaries())
                    .is_some_and(|since| rotation_due(since, now, every)) =>
            {
                let outcome = self.ring.rotate(now, self.retired_not_after(now)).await;
                log_scheduled_rotation(&outcome);
                self.audit_rotation(now, &outcome);
                Some(outcome)
            }
            _ => None,
        };
        let deleted = self.ring.delete_expired(now).await;
        if let Err(e) = &deleted {
            tracing::warn!(error = %e, "deleting expired signing keys failed");
        }
        KeyCheck {
            refreshed: Ok(()),
            rotated,
            deleted: Some(deleted),
        }
    }

    /// Until when a key retired at `now` stays published.
    fn retired_not_after(&self, now: Timestamp) -> Timestamp {
        now.plus_secs(
            i64::from(self.policy.max_token_ttl.secs()).saturating_add(ROTATION_MARGIN_SECS),
        )
    }
}

/// A rotation as an administrative change: which key signs, which is next, which retired.
fn rotation_event(r: &RotationReport) -> AuditKind {
    let change = |field, before: Option<String>, after: String| FieldChange {
        field,
        before,
        after: Some(after),
    };
    AuditKind::AdminChange(AdminChange {
        action: "signing_key.rotate",
        target_kind: "signing_key",
        target_id: r.new_active.to_string(),
        changes: vec![
            change(
                "active",
                Some(r.old_active.to_string()),
                r.new_active.to_string(),
            ),
            change(
                "next",
                Some(r.new_active.to_string()),
                r.new_next.to_string(),
            ),
            change(
                "retired_not_after",
                None,
                r.retired_not_after.as_secs().to_string(),
            ),
        ],
    })
}

fn log_scheduled_rotation(outcome: &Result<RotationReport, KeyRingError>) {
    match outcome {
        Ok(report) => tracing::info!(
            retired = %report.old_active, active = %report.new_active, next = %report.new_next,
            "scheduled signing key rotation"
        ),
        // Another node rotated first: that is the outcome we wanted.
        Err(KeyRingError::RotationRaced(_)) => {
            tracing::info!("signing keys were rotated by another node")
        }
        Err(e) => tracing::warn!(error = %e, "scheduled signing key rotation failed"),
    }
}

/// Whether a key active since `since` has served `every` by `now`. `every` is at most ten years
/// (config), and the arithmetic saturates rather than wrap whatever it is.
fn rotation_due(since: Timestamp, now: Timestamp, every: Duration) -> bool {
    let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
    now.as_secs().saturating_sub(since.as_secs()) >= every
}

/// When the active key started signing (its creation time if it never recorded activation).
fn active_since(keys: &[KeySummary]) -> Option<Timestamp> {
    keys.iter()
        .find(|k| k.state == KeyState::Active)
        .map(|k| k.activated_at.unwrap_or(k.created_at))
}

#[cfg(test)]
mod tests;
