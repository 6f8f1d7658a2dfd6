//! `grantd apply` without `--plan`: checks every change with the use cases' own validators
//! first, then runs the plan's steps through the admin use cases in ONE transaction
//! ([`Admin::begin`]; users first, then clients, then `--prune`): a step that fails (a store
//! error, a concurrent change) rolls every step back, and the audit events of the steps are
//! recorded only once the transaction committed. The steps: a new entry through `create_*`, a changed one through one `update_*` call
//! (one compare-and-set write) with every field the file gives; then a client's keys through
//! `set_client_keys` and its federated credentials through `add_/remove_federated_credential`
//! (what the file lacks is removed, what it adds is added).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use grantd_app::{Admin, ClientChange, LimitsChange, NewFederatedCredential, UserChange};
use grantd_domain::{Client, FederatedCredential, Owner};
use serde_json::{Value, json};

use super::diff::{self, PlanHasChanges, Step};
use super::{Credentials, WantClient, Wanted, check, credentials_of, read, stored_credentials};
use crate::cli::Output;

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
    let creds = stored_credentials(admin, &clients).await?;
    let steps = diff::plan(admin, &wanted, (&users, &clients, &creds), prune)?;
    check_changes(admin, &wanted, &clients, &steps)?;
    if plan_only {
        diff::print(out, &steps, None)?;
        return if steps.is_empty() {
            Ok(())
        } else {
            Err(PlanHasChanges.into())
        };
    }
    let tx = admin.begin().await?;
    let written = write_steps(tx.admin(), &wanted, &steps, (&users, &clients, &creds)).await;
    let secrets = match written {
        Ok(secrets) => secrets,
        Err(e) => {
            if let Err(re) = tx.rollback().await {
                eprintln!("warning: rolling back: {re}");
            }
            return Err(e.context("nothing was written (the transaction was rolled back)"));
        }
    };
    tx.commit().await?;
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

/// Runs the plan's steps (users first, then clients) on `admin`, the use cases of one open
/// transaction; returns the generated secrets of created clients, to print once committed.
async fn write_steps(
    admin: &Admin,
    wanted: &Wanted,
    steps: &[Step],
    (users, clients, creds): (&[Owner], &[Client], &Credentials),
) -> anyhow::Result<Vec<Value>> {
    let mut ids: BTreeMap<String, String> = users
        .iter()
        .map(|u| (u.email.clone(), u.id.as_str().to_owned()))
        .collect();
    for s in steps.iter().filter(|s| s.kind == "user") {
        apply_user(admin, wanted, s, &mut ids).await?;
    }
    let mut secrets = Vec::new();
    for s in steps.iter().filter(|s| s.kind == "client") {
        if let Some(secret) = apply_client(admin, wanted, s, &ids, (clients, creds)).await? {
            secrets.push(json!({ "client_id": s.key, "client_secret": secret }));
        }
    }
    Ok(secrets)
}

/// Runs the store-free checks of every client creation and change before the first write
/// (e.g. a `private_key_jwt` client without keys, an auth method switch to or from
/// `private_key_jwt`), so a file that one step would refuse writes nothing.
fn check_changes(
    admin: &Admin,
    w: &Wanted,
    clients: &[grantd_domain::Client],
    steps: &[Step],
) -> anyhow::Result<()> {
    let refused = |key: &str, e: grantd_app::AdminError| {
        anyhow::anyhow!("client {key:?}: {e}; nothing was written")
    };
    for s in steps
        .iter()
        .filter(|s| s.kind == "client" && s.action == "create")
    {
        let Some(c) = w.clients.iter().find(|c| c.id == s.key) else {
            bail!("internal: no client {}", s.key)
        };
        admin
            .check_new_client_keys(&c.spec)
            .map_err(|e| refused(&s.key, e))?;
    }
    for s in steps
        .iter()
        .filter(|s| s.kind == "client" && s.action == "change")
    {
        let (Some(c), Some(stored)) = (
            w.clients.iter().find(|c| c.id == s.key),
            clients.iter().find(|c| c.id.as_str() == s.key),
        ) else {
            bail!("internal: no client {}", s.key)
        };
        let mut change = client_change(c);
        change.owner = None;
        admin
            .check_client_change(stored, change)
            .map_err(|e| refused(&s.key, e))?;
    }
    Ok(())
}

/// Every field of the file's client (the owner's id is set by the caller).
fn client_change(c: &super::WantClient) -> ClientChange {
    let l = c.spec.limits;
    ClientChange {
        name: Some(c.spec.name.clone()),
        owner: None,
        scopes: Some(c.spec.scopes.clone()),
        grant_types: Some(c.spec.grant_types.clone()),
        auth_method: Some(c.spec.auth_method),
        active: Some(c.active),
        dpop: Some(c.spec.dpop),
        limits: LimitsChange {
            rate: Some(l.rate),
            per_hour: Some(l.quota.per_hour),
            per_day: Some(l.quota.per_day),
        },
    }
}

async fn apply_user(
    admin: &Admin,
    w: &Wanted,
    s: &Step,
    ids: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    if s.action == "disable" {
        admin.set_user_active(id_of(ids, &s.key)?, false).await?;
        return Ok(());
    }
    let Some(u) = w.users.iter().find(|u| u.email == s.key) else {
        bail!("internal: no user {}", s.key)
    };
    if s.action == "create" {
        let created = admin.create_user(u.spec.clone()).await?;
        if !u.active {
            admin.set_user_active(created.id.as_str(), false).await?;
        }
        ids.insert(created.email.clone(), created.id.as_str().to_owned());
        return Ok(());
    }
    let change = UserChange {
        name: Some(u.spec.name.clone()),
        roles: Some(u.spec.roles.clone()),
        active: Some(u.active),
    };
    let updated = admin.update_user(id_of(ids, &s.key)?, change, None).await?;
    for warning in &updated.warnings {
        eprintln!("warning: user {}: {warning}", s.key);
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
    stored: (&[Client], &Credentials),
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
        sync_credentials(admin, c, &[]).await?;
        return Ok(created.secret_plaintext.filter(|_| generated));
    }
    let mut change = client_change(c);
    change.owner = Some(id_of(ids, &c.owner_email)?.to_owned());
    let updated = admin.update_client(&c.id, change, None).await?;
    for warning in &updated.warnings {
        eprintln!("warning: client {}: {warning}", c.id);
    }
    if updated.client.keys != c.spec.keys {
        // The use case fits keys without an algorithm to the registered one, as the plan did.
        admin
            .set_client_keys(&c.id, c.spec.keys.clone(), None)
            .await?;
    }
    let (clients, creds) = stored;
    let now = clients.iter().find(|n| n.id.as_str() == c.id);
    sync_credentials(admin, c, now.map_or(&[], |n| credentials_of(creds, n))).await?;
    Ok(None)
}

/// Removes the stored credentials the file does not list, then adds those it adds.
async fn sync_credentials(
    admin: &Admin,
    c: &WantClient,
    stored: &[FederatedCredential],
) -> anyhow::Result<()> {
    for gone in stored.iter().filter(|f| !c.credentials.contains(*f)) {
        admin
            .remove_federated_credential(&c.id, gone.issuer.as_str(), &gone.subject)
            .await?;
    }
    for new in c.credentials.iter().filter(|f| !stored.contains(*f)) {
        let spec = NewFederatedCredential {
            issuer: new.issuer.to_string(),
            subject: new.subject.clone(),
            claims: new.claims.clone(),
        };
        admin.add_federated_credential(&c.id, spec).await?;
    }
    Ok(())
}
