//! `grantd key …`: list the signing keys and rotate them, through the same key-administration
//! use case as the server's scheduled rotation.

use clap::Subcommand;
use grantd_app::KeyAdmin;
use grantd_ports::KeySummary;
use serde_json::{Value, json};

use super::{Output, rfc3339};

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Signing keys: kid, algorithm, state, created.
    List,
    /// next → active, active → retired, and a new next.
    Rotate,
}

pub(super) async fn run(cmd: KeyCmd, keys: &KeyAdmin, out: &Output) -> anyhow::Result<()> {
    match cmd {
        KeyCmd::List => keys_table(out, &keys.list()),
        KeyCmd::Rotate => {
            let report = keys
                .rotate()
                .await
                .map_err(|e| anyhow::anyhow!("key rotation failed: {e}"))?;
            if out.json {
                return out.print_json(&json!({
                    "retired": report.old_active.as_str(),
                    "active": report.new_active.as_str(),
                    "next": report.new_next.as_str(),
                    "retired_valid_until": rfc3339(report.retired_not_after),
                }));
            }
            out.line(&format!(
                "rotated: {} retired, {} active, {} next",
                report.old_active, report.new_active, report.new_next
            ))?;
            out.line("running servers pick this up within signing.refresh_every")
        }
    }
}

fn keys_table(out: &Output, keys: &[KeySummary]) -> anyhow::Result<()> {
    if out.json {
        let docs: Vec<Value> = keys
            .iter()
            .map(|k| json!({ "kid": k.kid.as_str(), "alg": k.algorithm.as_str(), "state": k.state.as_str(), "created": rfc3339(k.created_at) }))
            .collect();
        return out.print_json(&Value::Array(docs));
    }
    let rows = keys
        .iter()
        .map(|k| {
            vec![
                k.kid.to_string(),
                k.algorithm.as_str().to_owned(),
                k.state.as_str().to_owned(),
                rfc3339(k.created_at),
            ]
        })
        .collect::<Vec<_>>();
    out.table(&["KID", "ALG", "STATE", "CREATED"], &rows)
}
