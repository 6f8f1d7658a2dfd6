//! The audit events of administrative changes: what changed, each changed field before and
//! after, as display text. Built from the domain's values after the change committed; no secret
//! or hash is ever read here (a client's `secrets` are not part of any event).

use grantd_domain::{Client, Owner, Timestamp};
use grantd_ports::{AdminChange, AuditKind, FieldChange};

use super::Admin;

fn set(field: &'static str, after: String) -> FieldChange {
    FieldChange {
        field,
        before: None,
        after: Some(after),
    }
}

fn flag(active: bool) -> String {
    active.to_string()
}

fn change(
    action: &'static str,
    kind: &'static str,
    id: String,
    changes: Vec<FieldChange>,
) -> AuditKind {
    AuditKind::AdminChange(AdminChange {
        action,
        target_kind: kind,
        target_id: id,
        changes,
    })
}

pub(super) fn user_created(user: &Owner) -> AuditKind {
    let changes = vec![
        set("name", user.name.clone()),
        set("email", user.email.clone()),
        set("roles", user.roles.names().join(" ")),
        set("active", flag(user.active)),
    ];
    change("user.create", "user", user.id.to_string(), changes)
}

pub(super) fn client_created(client: &Client) -> AuditKind {
    let changes = vec![
        set("name", client.name.clone()),
        set("owner_id", client.owner_id.to_string()),
        set("scopes", client.scopes.names().join(" ")),
        set("grant_types", client.grant_types.names().join(" ")),
        set("auth_method", client.auth_method.as_str().to_owned()),
        set("active", flag(client.active)),
    ];
    change("client.create", "client", client.id.to_string(), changes)
}

/// `active` of a user or client went from `before` to `after`.
pub(super) fn activation(
    kind: &'static str,
    id: String,
    before: Option<bool>,
    after: bool,
) -> AuditKind {
    let action = match (kind, after) {
        ("user", true) => "user.activate",
        ("user", false) => "user.deactivate",
        (_, true) => "client.enable",
        (_, false) => "client.disable",
    };
    let changes = vec![FieldChange {
        field: "active",
        before: before.map(flag),
        after: Some(flag(after)),
    }];
    change(action, kind, id, changes)
}

/// A new current secret; the previous ones stop at `until` (Unix seconds). The secret itself is
/// not in the event.
pub(super) fn secret_rotated(id: String, until: Timestamp) -> AuditKind {
    let changes = vec![set(
        "previous_secrets_valid_until",
        until.as_secs().to_string(),
    )];
    change("client.secret.rotate", "client", id, changes)
}

pub(super) fn sessions_purged(before: Timestamp, deleted: u64) -> AuditKind {
    let changes = vec![
        set("expired_before", before.as_secs().to_string()),
        set("deleted", deleted.to_string()),
    ];
    change("session.purge", "sessions", String::new(), changes)
}

impl Admin {
    /// Records an administrative change made now, if audit is on.
    pub(super) fn audit(&self, kind: impl FnOnce() -> AuditKind) {
        if self.audit.is_on() {
            self.audit.emit(self.ports.clock.now(), kind);
        }
    }
}
