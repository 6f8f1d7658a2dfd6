//! `grantd client federate add|list|remove`: a federated client's credentials (which subject
//! of which trusted issuer, with which pinned claims, may authenticate as it).

use anyhow::{Context, bail};
use clap::Subcommand;
use grantd_api::admin::views;
use grantd_app::{Admin, NewFederatedCredential};
use grantd_domain::{FederatedCredential, PinnedClaim};
use serde_json::Value;

use super::Output;

#[derive(Debug, Subcommand)]
pub enum FederateCmd {
    /// Let tokens of a trusted issuer whose `sub` (and pinned claims) match act as CLIENT.
    Add {
        client: String,
        /// The trusted issuer's name (`[[federation.issuers]] name`).
        #[arg(long)]
        issuer: String,
        /// The token's `sub`, exactly.
        #[arg(long)]
        subject: String,
        /// A claim the token must carry with this string value exactly (repeatable).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// A claim the token must carry with this JSON value exactly (a number, boolean,
        /// object, …; repeatable).
        #[arg(long = "claim-json", value_name = "NAME=JSON")]
        json_claims: Vec<String>,
    },
    /// The client's credentials.
    List { client: String },
    /// Remove the credential of ISSUER and SUBJECT.
    Remove {
        client: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
    },
}

pub(super) async fn run(cmd: FederateCmd, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    match cmd {
        FederateCmd::Add {
            client,
            issuer,
            subject,
            claims,
            json_claims,
        } => {
            let claims = pinned(&claims, &json_claims)?;
            let spec = NewFederatedCredential {
                issuer,
                subject,
                claims,
            };
            let added = admin.add_federated_credential(&client, spec).await?;
            print(out, &[added], true)
        }
        FederateCmd::List { client } => print(
            out,
            &admin.list_federated_credentials(&client).await?,
            false,
        ),
        FederateCmd::Remove {
            client,
            issuer,
            subject,
        } => {
            admin
                .remove_federated_credential(&client, &issuer, &subject)
                .await?;
            if out.json {
                return out.print_json(&serde_json::json!({ "removed": true }));
            }
            out.line("removed")
        }
    }
}

/// `NAME=VALUE` as a JSON string, `NAME=JSON` parsed: each value in canonical JSON text, so
/// equal JSON values compare equal as text.
fn pinned(strings: &[String], json: &[String]) -> anyhow::Result<Vec<PinnedClaim>> {
    let split = |arg: &str, flag: &str| -> anyhow::Result<(String, String)> {
        let (name, value) = arg
            .split_once('=')
            .with_context(|| format!("{flag} {arg:?}: expected NAME=VALUE"))?;
        if name.is_empty() {
            bail!("{flag} {arg:?}: the claim name is empty");
        }
        Ok((name.to_owned(), value.to_owned()))
    };
    let mut out = Vec::new();
    for arg in strings {
        let (name, value) = split(arg, "--claim")?;
        out.push(PinnedClaim {
            name,
            value_json: Value::String(value).to_string(),
        });
    }
    for arg in json {
        let (name, value) = split(arg, "--claim-json")?;
        let v: Value = serde_json::from_str(&value)
            .with_context(|| format!("--claim-json {arg:?}: the value is not JSON"))?;
        out.push(PinnedClaim {
            name,
            value_json: v.to_string(),
        });
    }
    Ok(out)
}

fn print(out: &Output, creds: &[FederatedCredential], single: bool) -> anyhow::Result<()> {
    if out.json {
        let docs = creds.iter().map(views::federated_credential).collect();
        return out.print_docs(docs, single);
    }
    let rows: Vec<Vec<String>> = creds
        .iter()
        .map(|c| {
            let claims: Vec<String> = c
                .claims
                .iter()
                .map(|p| format!("{}={}", p.name, p.value_json))
                .collect();
            vec![c.issuer.to_string(), c.subject.clone(), claims.join(" ")]
        })
        .collect();
    out.table(&["ISSUER", "SUBJECT", "CLAIMS"], &rows)
}
