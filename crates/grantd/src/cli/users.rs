//! `grantd user …`: create, list, show, update (name, roles: one `Admin::update_user`),
//! activate and deactivate users (client owners).

use anyhow::bail;
use clap::Subcommand;
use grantd_app::{Admin, NewUserSpec, UserChange};
use grantd_domain::Owner;
use serde_json::{Value, json};

use super::{Output, yes_no};

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an active user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// A delegated scope the user holds (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    List,
    Show {
        id: String,
    },
    /// Change the user's name or roles, in one write. Warns about its clients' delegated
    /// scopes it no longer holds.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// The new roles (replacing the current ones; repeatable).
        #[arg(long = "role", conflicts_with = "no_roles")]
        roles: Vec<String>,
        /// Remove every role.
        #[arg(long)]
        no_roles: bool,
    },
    Deactivate {
        id: String,
    },
    Activate {
        id: String,
    },
}

pub(super) async fn run(cmd: UserCmd, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create { name, email, roles } => {
            let u = admin
                .create_user(NewUserSpec { name, email, roles })
                .await?;
            users(out, &[u], true)
        }
        UserCmd::List => users(out, &admin.list_users().await?, false),
        UserCmd::Show { id } => users(out, &[admin.show_user(&id).await?], true),
        UserCmd::Update {
            id,
            name,
            roles,
            no_roles,
        } => {
            let roles = (no_roles || !roles.is_empty()).then_some(roles);
            if name.is_none() && roles.is_none() {
                bail!("nothing to update: give --name, --role or --no-roles");
            }
            let change = UserChange {
                name,
                roles,
                active: None,
            };
            let updated = admin.update_user(&id, change, None).await?;
            for w in &updated.warnings {
                eprintln!("warning: {w}");
            }
            users(out, &[updated.user], true)
        }
        UserCmd::Deactivate { id } => users(out, &[admin.set_user_active(&id, false).await?], true),
        UserCmd::Activate { id } => users(out, &[admin.set_user_active(&id, true).await?], true),
    }
}

fn users(out: &Output, users: &[Owner], single: bool) -> anyhow::Result<()> {
    let docs: Vec<Value> = users
        .iter()
        .map(|u| json!({ "id": u.id.as_str(), "name": u.name, "email": u.email, "roles": u.roles.names(), "active": u.active }))
        .collect();
    if out.json {
        return out.print_docs(docs, single);
    }
    let rows = users
        .iter()
        .map(|u| {
            vec![
                u.id.to_string(),
                u.name.clone(),
                u.email.clone(),
                u.roles.names().join(" "),
                yes_no(u.active),
            ]
        })
        .collect::<Vec<_>>();
    out.table(&["ID", "NAME", "EMAIL", "ROLES", "ACTIVE"], &rows)
}
