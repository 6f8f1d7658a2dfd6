//! `grantd apply` without `--plan`: refuses what no use case can change yet, then runs the
//! plan's steps through the admin use cases (users first, then clients, then `--prune`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use grantd_app::{Admin, LimitsChange};
use serde_json::{Value, json};

use super::diff::{self, PlanHasChanges, Step};
use super::{Wanted, check, read};
use crate::cli::Output;

/// Fields `apply` can change on an existing entry; any other difference is refused before
/// the first write (there is no use case for it yet).
const CHANGEABLE: &[(&str, &[&str])] = &[
    ("user", &["active"]),
    ("client", &["active", "dpop", "rate_limit", "quota"]),
];

/// `grantd apply -f FILE [--plan] [--prune]`.
pub(in crate::cli) async fn run(
    admin: &Admin,
    path: &Path,
    plan_only: bool,
    prune: bool,
    out: &Output,
) -> anyhow::Result<()> {
    let users = admin.list_users().await?;
    let clients = admin.list_clients().await?;
    let wanted = check(admin, read(path)?, &users)?;
    let steps = diff::plan(&wanted, &users, &clients, prune)?;
    if plan_only {
        diff::print(out, &steps, None)?;
        return if steps.is_empty() {
            Ok(())
        } else {
            Err(PlanHasChanges.into())
        };
    }
    refuse_unchangeable(&steps)?;
    let mut ids: BTreeMap<String, String> = users
        .iter()
        .map(|u| (u.email.clone(), u.id.as_str().to_owned()))
        .collect();
    for s in steps.iter().filter(|s| s.kind == "user") {
        apply_user(admin, &wanted, s, &mut ids).await?;
    }
    let mut secrets = Vec::new();
    for s in steps.iter().filter(|s| s.kind == "client") {
        if let Some(secret) = apply_client(admin, &wanted, s, &ids).await? {
            secrets.push(json!({ "client_id": s.key, "client_secret": secret }));
        }
    }
    diff::print(out, &steps, out.json.then(|| Value::Array(secrets.clone())))?;
    if !out.json {
        for s in &secrets {
            out.line(&format!(
                "client_secret of {}: {}",
                s["client_id"].as_str().unwrap_or(""),
                s["client_secret"].as_str().unwrap_or("")
            ))?;
        }
        if !secrets.is_empty() {
            out.line("(shown once: store them now)")?;
        }
    }
    Ok(())
}

fn refuse_unchangeable(steps: &[Step]) -> anyhow::Result<()> {
    for s in steps.iter().filter(|s| s.action == "change") {
        let ok = CHANGEABLE
            .iter()
            .find(|(k, _)| *k == s.kind)
            .map_or(&[][..], |(_, f)| f);
        if let Some(field) = s.changes.keys().find(|f| !ok.contains(&f.as_str())) {
            bail!(
                "{} {:?}: changing {field} is not supported by apply yet (no use case for it); nothing was written",
                s.kind,
                s.key
            );
        }
    }
    Ok(())
}

async fn apply_user(
    admin: &Admin,
    w: &Wanted,
    s: &Step,
    ids: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let active = w
        .users
        .iter()
        .find(|u| u.email == s.key)
        .is_none_or(|u| u.active);
    match s.action {
        "create" => {
            let Some(u) = w.users.iter().find(|u| u.email == s.key) else {
                bail!("internal: no user {}", s.key)
            };
            let created = admin.create_user(u.spec.clone()).await?;
            if !active {
                admin.set_user_active(created.id.as_str(), false).await?;
            }
            ids.insert(created.email.clone(), created.id.as_str().to_owned());
        }
        "disable" => {
            admin.set_user_active(id_of(ids, &s.key)?, false).await?;
        }
        _ => {
            admin.set_user_active(id_of(ids, &s.key)?, active).await?;
        }
    }
    Ok(())
}

fn id_of<'a>(ids: &'a BTreeMap<String, String>, email: &str) -> anyhow::Result<&'a str> {
    match ids.get(email) {
        Some(id) => Ok(id),
        None => bail!("internal: no user {email:?}"),
    }
}

/// Runs one client step; returns the generated secret of a created client.
async fn apply_client(
    admin: &Admin,
    w: &Wanted,
    s: &Step,
    ids: &BTreeMap<String, String>,
) -> anyhow::Result<Option<String>> {
    if s.action == "disable" {
        admin.set_client_active(&s.key, false).await?;
        return Ok(None);
    }
    let Some(c) = w.clients.iter().find(|c| c.id == s.key) else {
        bail!("internal: no client {}", s.key)
    };
    if s.action == "create" {
        let mut spec = c.spec.clone();
        spec.owner = id_of(ids, &c.owner_email)?.to_owned();
        let generated = spec.supplied_secret.is_none();
        let created = admin.create_client_with_id(&c.id, spec).await?;
        for warning in &created.warnings {
            eprintln!("warning: client {}: {warning}", c.id);
        }
        if !c.active {
            admin.set_client_active(&c.id, false).await?;
        }
        return Ok(created.secret_plaintext.filter(|_| generated));
    }
    if s.changes.contains_key("active") {
        admin.set_client_active(&c.id, c.active).await?;
    }
    if s.changes.contains_key("dpop") {
        admin.set_client_dpop(&c.id, c.spec.dpop).await?;
    }
    if s.changes.contains_key("rate_limit") || s.changes.contains_key("quota") {
        let l = c.spec.limits;
        let change = LimitsChange {
            rate: Some(l.rate),
            per_hour: Some(l.quota.per_hour),
            per_day: Some(l.quota.per_day),
        };
        admin.update_client_limits(&c.id, change).await?;
    }
    Ok(None)
}
