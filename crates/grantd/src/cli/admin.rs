//! `grantd admin bootstrap`: the first client of the admin HTTP API. Creates an owner user and
//! a client holding every admin scope, through the same use cases as `user create` and
//! `client create`, and prints the client's secret once. Refuses when a client already holds
//! an admin scope: a second bootstrap would be a silent second root credential.

use anyhow::bail;
use clap::Subcommand;
use grantd_app::{Admin, NewClientSpec, NewUserSpec};
use grantd_domain::{ADMIN_AUDIENCE, ADMIN_SCOPES, AuthMethod, Owner};
use serde_json::json;

use super::Output;

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Create the first admin API client (every `grantd:*` admin scope) and print its secret
    /// once. Refused when a client holding an admin scope exists.
    Bootstrap {
        /// The owning user's email; an existing user with it is reused.
        #[arg(long, default_value = "admin@grantd.invalid")]
        email: String,
        /// The client's name.
        #[arg(long, default_value = "grantd admin")]
        name: String,
    },
}

pub(super) async fn run(cmd: AdminCmd, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    let AdminCmd::Bootstrap { email, name } = cmd;
    let clients = admin.list_clients().await?;
    let holder = clients
        .iter()
        .find(|c| ADMIN_SCOPES.iter().any(|s| c.scopes.contains(s)));
    if let Some(c) = holder {
        bail!(
            "an admin client already exists ({}): not creating another; rotate its secret with \
             `grantd client rotate-secret {}` if it is lost",
            c.id,
            c.id
        );
    }
    let owner = owner(admin, &email, &name).await?;
    let created = admin
        .create_client(NewClientSpec {
            name,
            owner: owner.id.to_string(),
            scopes: ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: Vec::new(),
            supplied_secret: None,
            limits: Default::default(),
            dpop: Default::default(),
            keys: Default::default(),
        })
        .await?;
    let c = &created.client;
    if out.json {
        return out.print_json(&json!({
            "client_id": c.id.as_str(),
            "client_secret": created.secret_plaintext,
            "owner": owner.id.as_str(),
            "scopes": c.scopes.names(),
            "audience": ADMIN_AUDIENCE,
        }));
    }
    out.line(&format!("client_id: {}", c.id))?;
    if let Some(secret) = &created.secret_plaintext {
        out.line(&format!("client_secret: {secret}"))?;
    }
    out.line("(shown once: store it now)")?;
    out.line(&format!(
        "get a token: POST /oauth/token grant_type=client_credentials audience={ADMIN_AUDIENCE} scope=\"{}\"",
        ADMIN_SCOPES.join(" ")
    ))
}

/// The user with `email`, or a new one.
async fn owner(admin: &Admin, email: &str, name: &str) -> anyhow::Result<Owner> {
    let users = admin.list_users().await?;
    if let Some(u) = users.into_iter().find(|u| u.email == email) {
        return Ok(u);
    }
    Ok(admin
        .create_user(NewUserSpec {
            name: name.to_owned(),
            email: email.to_owned(),
            roles: Vec::new(),
        })
        .await?)
}
