//! The audit events of administrative changes: what changed, each changed field before and
//! after, as display text. Built from the domain's values after the change committed; no secret
//! or hash is ever read here (a client's `secrets` are not part of any event).

use grantd_domain::{Client, ClientKeys, ClientLimits, DpopPolicy, Owner, Timestamp};
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
        set("dpop", client.dpop.as_str().to_owned()),
        set("active", flag(client.active)),
    ];
    let mut changes = changes;
    if !client.keys.keys().is_empty() {
        changes.push(set("kids", client.keys.kids().join(",")));
    }
    if let Some(uri) = client.keys.jwks_uri() {
        changes.push(set("jwks_uri", uri.as_str().to_owned()));
    }
    if let Some(alg) = client.keys.alg() {
        changes.push(set(
            "token_endpoint_auth_signing_alg",
            alg.as_str().to_owned(),
        ));
    }
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

/// The DPoP policy went from `before` (when it was read) to `after`.
pub(super) fn dpop_changed(id: String, before: Option<DpopPolicy>, after: DpopPolicy) -> AuditKind {
    let changes = vec![FieldChange {
        field: "dpop",
        before: before.map(|d| d.as_str().to_owned()),
        after: Some(after.as_str().to_owned()),
    }];
    change("client.dpop.update", "client", id, changes)
}

/// A client's registered keys replaced: the kids before and after (never key material), and
/// the `jwks_uri` and the registered algorithm when they changed.
pub(super) fn keys_changed(id: String, before: &ClientKeys, after: &ClientKeys) -> AuditKind {
    let kids = |k: &ClientKeys| Some(k.kids().join(","));
    let uri = |k: &ClientKeys| k.jwks_uri().map(|u| u.as_str().to_owned());
    let alg = |k: &ClientKeys| k.alg().map(|a| a.as_str().to_owned());
    let mut changes = vec![FieldChange {
        field: "kids",
        before: kids(before),
        after: kids(after),
    }];
    if before.jwks_uri() != after.jwks_uri() {
        changes.push(FieldChange {
            field: "jwks_uri",
            before: uri(before),
            after: uri(after),
        });
    }
    if before.alg() != after.alg() {
        changes.push(FieldChange {
            field: "token_endpoint_auth_signing_alg",
            before: alg(before),
            after: alg(after),
        });
    }
    change("client.keys.update", "client", id, changes)
}

/// The client's own rate and quotas, each field that changed.
pub(super) fn limits_changed(id: String, before: &ClientLimits, after: &ClientLimits) -> AuditKind {
    let rate = |l: &ClientLimits| {
        l.rate.map_or_else(
            || "none".to_owned(),
            |r| format!("{}/s burst {}", r.per_second, r.burst),
        )
    };
    let count =
        |n: Option<std::num::NonZeroU32>| n.map_or_else(|| "none".to_owned(), |n| n.to_string());
    let fields = [
        ("rate_limit", rate(before), rate(after)),
        (
            "quota_per_hour",
            count(before.quota.per_hour),
            count(after.quota.per_hour),
        ),
        (
            "quota_per_day",
            count(before.quota.per_day),
            count(after.quota.per_day),
        ),
    ];
    let changes = fields
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(field, before, after)| FieldChange {
            field,
            before: Some(before),
            after: Some(after),
        })
        .collect();
    change("client.limits.update", "client", id, changes)
}

/// Each field a client update changed, before and after (never a secret: `secrets` and `keys`
/// are not compared here).
pub(super) fn client_updated(before: &Client, after: &Client) -> AuditKind {
    let fields = |c: &Client| {
        [
            ("name", c.name.clone()),
            ("owner_id", c.owner_id.to_string()),
            ("scopes", c.scopes.names().join(" ")),
            ("grant_types", c.grant_types.names().join(" ")),
            ("auth_method", c.auth_method.as_str().to_owned()),
            ("dpop", c.dpop.as_str().to_owned()),
            ("active", flag(c.active)),
        ]
    };
    let mut changes = diff(fields(before), fields(after));
    if let AuditKind::AdminChange(limits) =
        limits_changed(String::new(), &before.limits, &after.limits)
    {
        changes.extend(limits.changes);
    }
    change("client.update", "client", after.id.to_string(), changes)
}

/// Each field a user update changed, before and after.
pub(super) fn user_updated(before: &Owner, after: &Owner) -> AuditKind {
    let fields = |u: &Owner| {
        [
            ("name", u.name.clone()),
            ("roles", u.roles.names().join(" ")),
            ("active", flag(u.active)),
        ]
    };
    let changes = diff(fields(before), fields(after));
    change("user.update", "user", after.id.to_string(), changes)
}

fn diff<const N: usize>(
    before: [(&'static str, String); N],
    after: [(&'static str, String); N],
) -> Vec<FieldChange> {
    before
        .into_iter()
        .zip(after)
        .filter(|((_, b), (_, a))| b != a)
        .map(|((field, b), (_, a))| FieldChange {
            field,
            before: Some(b),
            after: Some(a),
        })
        .collect()
}

/// An operator revoked the session `id`.
pub(super) fn session_revoked(id: String) -> AuditKind {
    change("session.revoke", "session", id, Vec::new())
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

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use grantd_domain::{ClientLimits, ClientRate, DpopPolicy, TokenQuota};
    use grantd_ports::{AdminChange, AuditKind};

    use super::{dpop_changed, limits_changed, session_revoked};

    fn n(v: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(v)
    }

    fn admin(kind: AuditKind) -> AdminChange {
        match kind {
            AuditKind::AdminChange(c) => c,
            other => panic!("not an admin change: {other:?}"),
        }
    }

    /// Only the fields that changed are listed, each with its text before and after.
    #[test]
    fn limits_changes_list_only_what_changed() {
        let before = ClientLimits::default();
        let after = ClientLimits {
            rate: Some(ClientRate {
                per_second: n(50).unwrap(),
                burst: n(100).unwrap(),
            }),
            quota: TokenQuota {
                per_hour: None,
                per_day: n(1000),
            },
        };
        let c = admin(limits_changed("svc".into(), &before, &after));
        assert_eq!(
            (c.action, c.target_kind, c.target_id.as_str()),
            ("client.limits.update", "client", "svc")
        );
        let got: Vec<_> = c
            .changes
            .iter()
            .map(|f| (f.field, f.before.as_deref(), f.after.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("rate_limit", Some("none"), Some("50/s burst 100")),
                ("quota_per_day", Some("none"), Some("1000")),
            ]
        );
        let none = admin(limits_changed("svc".into(), &after, &after));
        assert!(none.changes.is_empty());
    }

    #[test]
    fn dpop_and_revocation_events_name_their_target() {
        let c = admin(dpop_changed(
            "svc".into(),
            Some(DpopPolicy::Optional),
            DpopPolicy::Required,
        ));
        assert_eq!(c.action, "client.dpop.update");
        assert_eq!(c.changes[0].before.as_deref(), Some("optional"));
        assert_eq!(c.changes[0].after.as_deref(), Some("required"));
        let r = admin(session_revoked("sid".into()));
        assert_eq!(
            (r.action, r.target_kind, r.target_id.as_str()),
            ("session.revoke", "session", "sid")
        );
    }

    /// A client update lists each changed field before and after, the limits among them, and
    /// nothing of its secrets.
    #[test]
    fn client_updates_list_changed_fields_and_no_secret() {
        use grantd_domain::{
            AuthMethod, Client, ClientId, ClientSecret, GrantTypes, OwnerId, ScopeCatalog,
            StoredScopes, Timestamp,
        };
        let catalog = ScopeCatalog::builtin();
        let before = Client {
            id: ClientId::parse("svc").unwrap(),
            name: "Old".into(),
            owner_id: OwnerId::parse("0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d"),
            scopes: StoredScopes::parse(&catalog, &["service"]),
            grant_types: GrantTypes::parse(&["client_credentials"]),
            auth_method: AuthMethod::ClientSecretBasic,
            active: true,
            secrets: vec![ClientSecret {
                hash: "hmac$SECRETHASH".into(),
                created_at: Timestamp::from_secs(0),
                valid_until: None,
            }],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
            limits: ClientLimits::default(),
            dpop: DpopPolicy::Optional,
            keys: Default::default(),
        };
        let mut after = before.clone();
        after.name = "New".into();
        after.scopes = StoredScopes::parse(&catalog, &["service", "mcp"]);
        after.limits.quota.per_day = n(10);
        let c = admin(super::client_updated(&before, &after));
        assert_eq!((c.action, c.target_id.as_str()), ("client.update", "svc"));
        let got: Vec<_> = c
            .changes
            .iter()
            .map(|f| (f.field, f.before.as_deref(), f.after.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("name", Some("Old"), Some("New")),
                ("scopes", Some("service"), Some("service mcp")),
                ("quota_per_day", Some("none"), Some("10")),
            ]
        );
        assert!(!format!("{c:?}").contains("SECRETHASH"));
    }
}
