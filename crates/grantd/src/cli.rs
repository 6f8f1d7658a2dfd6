//! The command line: clap definitions and the dispatch to one module per subcommand group
//! (`users`, `clients`, `keys`, `sessions`, `explain`). Every command reads the same
//! configuration as `serve` and goes through the same use cases (`grantd_app::Admin`), so the
//! CLI can never accept what the token endpoint would reject. `--json` prints exactly one JSON
//! document on stdout; human output is aligned tables; errors are one line on stderr, exit 1.

use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use grantd_domain::Timestamp;
use serde_json::{Value, json};

use crate::config::Settings;
use crate::wiring;

mod admin;
mod apply;
mod clients;
mod explain;
mod federate;
mod keys;
mod limits;
mod sessions;
mod text;
mod users;

pub use admin::AdminCmd;
pub use apply::{Format as StateFormat, PlanHasChanges};
pub use clients::ClientCmd;
pub use keys::KeyCmd;
pub use sessions::SessionCmd;
pub use users::UserCmd;

#[derive(Debug, Parser)]
#[command(
    name = "grantd",
    version,
    about = "OAuth 2.0 client_credentials authorization server"
)]
pub struct Cli {
    /// Configuration file (TOML). Every key can also be set as GRANTD_<SECTION>__<KEY>.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, load or create the signing keys, and serve HTTP.
    Serve {
        /// Listen address, overriding `server.bind`.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage users (client owners).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Inspect and purge sessions.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Dry-run the token decision for a client: no session, no token.
    Explain {
        #[arg(long)]
        client: String,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        audience: Option<String>,
        /// Explain against the state FILE would leave (`grantd apply --plan`), not the database.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
    },
    /// Administer the admin HTTP API: `bootstrap` creates its first client.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Converge users and clients to a state file (TOML, or YAML for `.yaml`/`.yml`);
    /// `--plan` only prints the diff (exit 2 when there are changes).
    Apply {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Print the plan without writing; exit 2 when it has changes, 0 when none.
        #[arg(long)]
        plan: bool,
        /// Also disable (never delete) users and clients the file does not list.
        #[arg(long)]
        prune: bool,
    },
    /// Print the current users and clients as a state file (TOML or YAML; never a secret).
    Export {
        #[arg(long, value_enum, default_value = "toml")]
        format: StateFormat,
    },
}

pub async fn run(command: Command, settings: Settings, json_out: bool) -> anyhow::Result<()> {
    let out = Output { json: json_out };
    if let Command::Migrate = command {
        return migrate(&settings, &out).await;
    }
    let wired = wiring::wire(settings, wiring::Role::Cli).await?;
    let result = dispatch(command, &wired, &out).await;
    wired.close_audit();
    result
}

async fn dispatch(command: Command, wired: &wiring::Wired, out: &Output) -> anyhow::Result<()> {
    let (admin, out) = (wired.admin(), out);
    match command {
        Command::Serve { .. } | Command::Migrate => bail!("internal: handled elsewhere"),
        Command::User(cmd) => users::run(cmd, &admin, out).await,
        Command::Client(cmd) => clients::run(cmd, &admin, out).await,
        Command::Key(cmd) => keys::run(cmd, &wired.key_admin(), out).await,
        Command::Session(cmd) => sessions::run(cmd, wired, &admin, out).await,
        Command::Explain {
            client,
            scope,
            audience,
            plan: None,
        } => explain::run(&admin, &client, scope.as_deref(), audience.as_deref(), out).await,
        Command::Explain {
            client,
            scope,
            audience,
            plan: Some(file),
        } => {
            let (scope, audience) = (scope.as_deref(), audience.as_deref());
            apply::explain_plan(&admin, &file, &client, scope, audience, out).await
        }
        Command::Admin(cmd) => admin::run(cmd, &admin, out).await,
        Command::Apply { file, plan, prune } => {
            apply::write::run(&admin, &file, plan, prune, out).await
        }
        Command::Export { format } => apply::export(&admin, format, out).await,
    }
}

/// `grantd migrate`: only the database, no keys (a fresh database gets its keys at `serve`).
async fn migrate(settings: &Settings, out: &Output) -> anyhow::Result<()> {
    let (_store, applied) = wiring::open_store(settings).await?;
    if out.json {
        return out.print_json(&json!({ "applied": applied }));
    }
    if applied.is_empty() {
        return out.line("no pending migrations");
    }
    out.line(&format!("applied: {}", applied.join(", ")))
}

pub use grantd_api::admin::views::rfc3339;

fn parse_rfc3339(flag: &str, s: &str) -> anyhow::Result<Timestamp> {
    let d = chrono::DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("{flag}: {s:?} is not an RFC 3339 time"))?;
    Ok(Timestamp::from_micros(d.timestamp_micros()))
}

struct Output {
    json: bool,
}

impl Output {
    fn print_json(&self, v: &Value) -> anyhow::Result<()> {
        let text = text::json_for_terminal(serde_json::to_string_pretty(v)?);
        writeln!(std::io::stdout().lock(), "{text}")?;
        Ok(())
    }

    /// The JSON documents of a listing: the one object when `single` asked for one (`show`,
    /// `create`, …), an array otherwise.
    fn print_docs(&self, mut docs: Vec<Value>, single: bool) -> anyhow::Result<()> {
        if single && docs.len() == 1 {
            return self.print_json(&docs.swap_remove(0));
        }
        self.print_json(&Value::Array(docs))
    }

    fn line(&self, s: &str) -> anyhow::Result<()> {
        writeln!(std::io::stdout().lock(), "{s}")?;
        Ok(())
    }

    /// Aligned columns; every cell is printed through [`text::for_terminal`].
    fn table(&self, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
        let rows: Vec<Vec<Cow<'_, str>>> = rows
            .iter()
            .map(|row| row.iter().map(|c| text::for_terminal(c)).collect())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut stdout = std::io::stdout().lock();
        let fmt_row = |cells: Vec<&str>| {
            let mut line = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i + 1 == cells.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            line
        };
        writeln!(stdout, "{}", fmt_row(header.to_vec()))?;
        for row in &rows {
            writeln!(stdout, "{}", fmt_row(row.iter().map(|c| &**c).collect()))?;
        }
        Ok(())
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}
