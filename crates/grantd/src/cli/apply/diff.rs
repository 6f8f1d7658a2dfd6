//! The plan: what `apply` would create, change (field by field, before → after) and, with
//! `--prune`, disable. Computed from the checked file and the database, without writing.

use std::collections::BTreeMap;

use grantd_domain::{Client, Owner, UserId};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Credentials, Wanted, client_view, credentials_of, planned_client, user_view};
use crate::cli::Output;

/// `apply --plan` found changes: exit code 2 (the plan itself was printed on stdout).
#[derive(Debug)]
pub struct PlanHasChanges;

impl std::fmt::Display for PlanHasChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plan has changes")
    }
}

impl std::error::Error for PlanHasChanges {}

/// One step of the plan.
#[derive(Debug, Serialize)]
pub(in crate::cli) struct Step {
    /// `user` or `client`.
    pub kind: &'static str,
    /// The email of a user, the client id of a client.
    pub key: String,
    /// `create`, `change` or `disable`.
    pub action: &'static str,
    /// Each field that differs: `{before, after}` (`before` is null for a creation).
    pub changes: BTreeMap<String, Value>,
}

/// A placeholder id for a user the plan would create (it has none until then).
pub(super) fn planned_user_id() -> UserId {
    #[allow(clippy::expect_used, reason = "a constant, valid UUID")]
    UserId::parse("00000000-0000-0000-0000-000000000000").expect("nil uuid")
}

fn step(
    kind: &'static str,
    key: &str,
    before: Option<Map<String, Value>>,
    after: Map<String, Value>,
) -> Option<Step> {
    let action = if before.is_some() { "change" } else { "create" };
    let before = before.unwrap_or_default();
    let changes: BTreeMap<String, Value> = after
        .into_iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, v)| {
            let was = before.get(&k).cloned().unwrap_or(Value::Null);
            (k, json!({ "before": was, "after": v }))
        })
        .collect();
    (!changes.is_empty()).then(|| Step {
        kind,
        key: key.to_owned(),
        action,
        changes,
    })
}

fn disable(kind: &'static str, key: &str) -> Step {
    let changes = BTreeMap::from([(
        "active".to_owned(),
        json!({ "before": true, "after": false }),
    )]);
    Step {
        kind,
        key: key.to_owned(),
        action: "disable",
        changes,
    }
}

/// The plan, users first (a client's owner may be created by it), then clients, then what
/// `--prune` disables.
pub(in crate::cli) fn plan(
    admin: &grantd_app::Admin,
    w: &Wanted,
    stored: (&[Owner], &[Client], &Credentials),
    prune: bool,
) -> anyhow::Result<Vec<Step>> {
    let (users, clients, creds) = stored;
    let mut steps = Vec::new();
    for u in &w.users {
        let now = users.iter().find(|c| c.email == u.email);
        let before = now.map(|c| user_view(&c.name, &c.roles, c.active));
        steps.extend(step(
            "user",
            &u.email,
            before,
            user_view(&u.spec.name, &u.roles, u.active),
        ));
    }
    let emails: BTreeMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.email.as_str()))
        .collect();
    for c in &w.clients {
        let now = clients.iter().find(|n| n.id.as_str() == c.id);
        let before = now.map(|n| {
            let owner = n.owner_id.as_str();
            let email = emails.get(owner).copied().unwrap_or(owner);
            client_view(n, email, credentials_of(creds, n))
        });
        let planned = planned_client(admin, c, &planned_user_id(), now)?;
        let after = client_view(&planned, &c.owner_email, &c.credentials);
        steps.extend(step("client", &c.id, before, after));
    }
    if prune {
        let gone_u = users
            .iter()
            .filter(|u| u.active && !w.users.iter().any(|x| x.email == u.email));
        steps.extend(gone_u.map(|u| disable("user", &u.email)));
        let gone_c = clients
            .iter()
            .filter(|c| c.active && !w.clients.iter().any(|x| x.id == c.id.as_str()));
        steps.extend(gone_c.map(|c| disable("client", c.id.as_str())));
    }
    Ok(steps)
}

/// The owner as the plan would leave it: the file's entry (with the stored id when it
/// exists), else the stored user.
pub(in crate::cli) fn planned_owner(w: &Wanted, known: &[Owner], email: &str) -> Option<Owner> {
    let stored = known.iter().find(|u| u.email == email);
    let Some(u) = w.users.iter().find(|u| u.email == email) else {
        return stored.cloned();
    };
    let at = grantd_domain::Timestamp::from_micros(chrono::Utc::now().timestamp_micros());
    Some(Owner {
        id: stored.map_or_else(planned_user_id, |s| s.id.clone()),
        name: u.spec.name.clone(),
        email: u.email.clone(),
        roles: u.roles.clone(),
        active: u.active,
        created_at: stored.map_or(at, |s| s.created_at),
        updated_at: at,
    })
}

/// Prints the plan (or what was applied): one line per step, or `{"changes": […]}`.
pub(in crate::cli) fn print(
    out: &Output,
    steps: &[Step],
    extra: Option<Value>,
) -> anyhow::Result<()> {
    if out.json {
        let mut doc = json!({ "changes": steps });
        if let Some(extra) = extra {
            doc["secrets"] = extra;
        }
        return out.print_json(&doc);
    }
    if steps.is_empty() {
        return out.line("no changes");
    }
    for s in steps {
        let mark = match s.action {
            "create" => "+",
            "disable" => "-",
            _ => "~",
        };
        out.line(&format!("{mark} {} {} ({})", s.kind, s.key, s.action))?;
        for (field, v) in &s.changes {
            out.line(&format!("    {field}: {} → {}", v["before"], v["after"]))?;
        }
    }
    Ok(())
}
