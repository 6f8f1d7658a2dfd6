//! `grantd session …`: list a page of sessions or stream them all as JSON lines, purge the
//! expired ones, count them, and seed synthetic ones for benchmarks.

use std::io::{BufWriter, Write};

use anyhow::Context;
use clap::{Args, Subcommand};
use grantd_app::{Admin, PurgeCutoff, SessionQuery};
use grantd_domain::SessionRecord;
use grantd_jwt::SystemClock;
use grantd_ports::Clock;
use serde_json::{Value, json};

use super::text::json_for_terminal;
use super::{Output, parse_rfc3339, rfc3339};
use crate::wiring::Wired;

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Newest first (by creation time, then id). Page with --after, or export every row with
    /// --json-lines.
    List(ListArgs),
    /// Delete expired sessions kept longer than `sessions.retention` (default 7 days), as the
    /// server does on its own every `sessions.purge_every`; with --before, those that expired
    /// before that time instead.
    Purge {
        #[arg(long, value_name = "RFC3339")]
        before: Option<String>,
    },
    /// Revoke one session: the token it backs stops at once.
    Revoke { id: String },
    /// How many session rows exist.
    Count,
    /// Benchmark support: insert --count synthetic live sessions for a client.
    #[command(hide = true)]
    Seed {
        #[arg(long)]
        count: u64,
        #[arg(long)]
        client: String,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    client: Option<String>,
    #[arg(long)]
    user: Option<String>,
    /// Only sessions created at or after this time.
    #[arg(long, value_name = "RFC3339")]
    since: Option<String>,
    /// Only sessions created before this time.
    #[arg(long, value_name = "RFC3339")]
    until: Option<String>,
    /// Start after this session: the last id of the previous page.
    #[arg(long, value_name = "SESSION_ID")]
    after: Option<String>,
    /// Rows to show: default 50, at most 10000. With --json-lines: no limit unless given.
    #[arg(long)]
    limit: Option<u32>,
    /// Print every matching session as one JSON object per line (the rows of --json), read
    /// page by page: an export of any size in constant memory.
    #[arg(long, conflicts_with = "json")]
    json_lines: bool,
}

pub(super) async fn run(
    cmd: SessionCmd,
    wired: &Wired,
    admin: &Admin,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        SessionCmd::List(args) => list(args, admin, out).await,
        SessionCmd::Purge { before } => {
            let cutoff = match before {
                Some(s) => PurgeCutoff::Before(parse_rfc3339("--before", &s)?),
                None => PurgeCutoff::Retention(wired.settings.sessions.retention),
            };
            let deleted = admin.purge_sessions(cutoff).await?;
            if out.json {
                return out.print_json(&json!({ "deleted": deleted }));
            }
            out.line(&format!("deleted {deleted} sessions"))
        }
        SessionCmd::Revoke { id } => {
            let record = admin.revoke_session(&id).await?;
            if out.json {
                return out.print_json(&grantd_api::admin::views::session(&record));
            }
            table(out, std::slice::from_ref(&record))
        }
        SessionCmd::Count => {
            let n = wired.store.count_sessions().await?;
            if out.json {
                return out.print_json(&json!({ "count": n }));
            }
            out.line(&n.to_string())
        }
        SessionCmd::Seed { count, client } => {
            let c = admin.show_client(&client).await?;
            let owner = c
                .owner_id
                .user()
                .cloned()
                .context("the client's owner id is not a UUID")?;
            let now = SystemClock.now();
            let n = wired
                .store
                .seed_sessions(count, &c.id, &owner, now, now.plus_secs(86_400))
                .await?;
            if out.json {
                return out.print_json(&json!({ "seeded": n }));
            }
            out.line(&format!("seeded {n} sessions"))
        }
    }
}

async fn list(args: ListArgs, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    let query = SessionQuery {
        client_id: args.client,
        user_id: args.user,
        since: args
            .since
            .map(|s| parse_rfc3339("--since", &s))
            .transpose()?,
        until: args
            .until
            .map(|s| parse_rfc3339("--until", &s))
            .transpose()?,
        after: args.after,
        limit: args.limit,
    };
    if args.json_lines {
        return export(query, admin).await;
    }
    let limit = query.limit.unwrap_or(Admin::DEFAULT_SESSION_LIMIT);
    let rows = admin.list_sessions(query).await?;
    if out.json {
        return out.print_json(&Value::Array(
            rows.iter().map(grantd_api::admin::views::session).collect(),
        ));
    }
    table(out, &rows)?;
    if let Some(last) = rows.last().filter(|_| rows.len() == limit as usize) {
        eprintln!("more may follow: add --after {}", last.session.id);
    }
    Ok(())
}

/// Streams every row as it arrives, one page in memory at a time.
async fn export(query: SessionQuery, admin: &Admin) -> anyhow::Result<()> {
    let mut pages = admin.export_sessions(query).await?;
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    while let Some(page) = pages.next_page().await? {
        for r in &page {
            let line = serde_json::to_string(&grantd_api::admin::views::session(r))?;
            writeln!(stdout, "{}", json_for_terminal(line))?;
        }
        stdout.flush()?;
    }
    Ok(())
}

fn table(out: &Output, rows: &[SessionRecord]) -> anyhow::Result<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = &r.session;
            let text = |v: &Option<String>| v.as_deref().unwrap_or_default().to_owned();
            vec![
                s.id.to_string(),
                s.client_id.to_string(),
                s.user_id.to_string(),
                s.context.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                rfc3339(s.created_at),
                rfc3339(s.expires_at),
                r.revoked_at.map(rfc3339).unwrap_or_default(),
                text(&s.context.referer),
                text(&s.context.user_agent),
            ]
        })
        .collect();
    out.table(
        &[
            "ID",
            "CLIENT",
            "USER",
            "IP",
            "CREATED",
            "EXPIRES",
            "REVOKED",
            "REFERER",
            "USER AGENT",
        ],
        &cells,
    )
}
