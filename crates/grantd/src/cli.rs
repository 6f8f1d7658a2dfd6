//! The command line: clap definitions and the admin commands. Every command reads the same
//! configuration as `serve` and goes through the same use cases (`grantd_app::Admin`), so the
//! CLI can never accept what the token endpoint would reject. `--json` prints exactly one JSON
//! document on stdout; human output is aligned tables; errors are one line on stderr, exit 1.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use grantd_app::{ExplainOutcome, Explanation, NewClientSpec, NewUserSpec};
use grantd_domain::{AuthMethod, Client, GrantType, Owner, Timestamp};
use grantd_ports::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::wiring;

mod sessions;
mod text;

pub use sessions::SessionCmd;

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
    },
}

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
    Deactivate {
        id: String,
    },
    Activate {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Create a client and print its secret once.
    Create(ClientCreateArgs),
    List,
    Show {
        id: String,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    /// Issue a new secret; the old one keeps working for --grace seconds.
    RotateSecret {
        id: String,
        #[arg(long, default_value_t = 0)]
        grace: u64,
    },
}

#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    #[arg(long)]
    name: String,
    /// The owning user's id.
    #[arg(long)]
    owner: String,
    /// Scopes, space-separated and/or repeated.
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post"], default_value = "client_secret_basic")]
    auth_method: String,
    #[arg(long = "grant-type", value_parser = ["client_credentials"])]
    grant_types: Vec<String>,
    /// Read an operator-supplied secret from stdin instead of generating one.
    #[arg(long)]
    secret_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Signing keys: kid, algorithm, state, created.
    List,
    /// next → active, active → retired, and a new next.
    Rotate,
}

pub async fn run(command: Command, settings: Settings, json_out: bool) -> anyhow::Result<()> {
    let out = Output { json: json_out };
    if let Command::Migrate = command {
        let (_store, applied) = wiring::open_store(&settings).await?;
        if out.json {
            return out.print_json(&json!({ "applied": applied }));
        }
        if applied.is_empty() {
            return out.line("no pending migrations");
        }
        return out.line(&format!("applied: {}", applied.join(", ")));
    }
    let wired = wiring::wire(settings).await?;
    let admin = wired.admin();
    match command {
        Command::Serve { .. } | Command::Migrate => bail!("internal: handled elsewhere"),
        Command::User(cmd) => match cmd {
            UserCmd::Create { name, email, roles } => {
                let u = admin
                    .create_user(NewUserSpec { name, email, roles })
                    .await?;
                out.users(&[u], true)
            }
            UserCmd::List => out.users(&admin.list_users().await?, false),
            UserCmd::Show { id } => out.users(&[admin.show_user(&id).await?], true),
            UserCmd::Deactivate { id } => {
                out.users(&[admin.set_user_active(&id, false).await?], true)
            }
            UserCmd::Activate { id } => out.users(&[admin.set_user_active(&id, true).await?], true),
        },
        Command::Client(cmd) => match cmd {
            ClientCmd::Create(args) => {
                let supplied_secret = if args.secret_stdin {
                    Some(read_secret_from_stdin()?)
                } else {
                    None
                };
                let auth_method =
                    AuthMethod::parse(&args.auth_method).context("unknown auth method")?;
                let grant_types = args
                    .grant_types
                    .iter()
                    .map(|g| GrantType::parse(g).with_context(|| format!("unknown grant type {g}")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let created = admin
                    .create_client(NewClientSpec {
                        name: args.name,
                        owner: args.owner,
                        scopes: args.scopes,
                        auth_method,
                        grant_types,
                        supplied_secret,
                    })
                    .await?;
                for w in &created.warnings {
                    eprintln!("warning: {w}");
                }
                let c = &created.client;
                if out.json {
                    return out.print_json(&json!({
                        "client_id": c.id.as_str(),
                        "client_secret": created.secret_plaintext,
                        "name": c.name,
                        "owner": c.owner_id.as_str(),
                        "scopes": c.scopes.names(),
                        "auth_method": c.auth_method.as_str(),
                    }));
                }
                out.clients(std::slice::from_ref(c), true)?;
                out.line(&format!("client_secret: {}", created.secret_plaintext))?;
                out.line("(shown once: store it now)")
            }
            ClientCmd::List => out.clients(&admin.list_clients().await?, false),
            ClientCmd::Show { id } => out.clients(&[admin.show_client(&id).await?], true),
            ClientCmd::Disable { id } => {
                out.clients(&[admin.set_client_active(&id, false).await?], true)
            }
            ClientCmd::Enable { id } => {
                out.clients(&[admin.set_client_active(&id, true).await?], true)
            }
            ClientCmd::RotateSecret { id, grace } => {
                let r = admin.rotate_secret(&id, grace).await?;
                let doc = json!({
                    "client_id": r.client_id.as_str(),
                    "client_secret": r.secret_plaintext,
                    "previous_valid_until": rfc3339(r.previous_valid_until),
                });
                if out.json {
                    return out.print_json(&doc);
                }
                out.table(
                    &["CLIENT", "NEW SECRET", "PREVIOUS VALID UNTIL"],
                    &[vec![
                        r.client_id.as_str().to_owned(),
                        r.secret_plaintext.clone(),
                        rfc3339(r.previous_valid_until),
                    ]],
                )
            }
        },
        Command::Key(cmd) => match cmd {
            KeyCmd::List => out.keys(&wired),
            KeyCmd::Rotate => {
                let report = wired
                    .jwt
                    .rotate(SystemClock.now())
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
        },
        Command::Session(cmd) => sessions::run(cmd, &wired, &admin, &out).await,
        Command::Explain {
            client,
            scope,
            audience,
        } => {
            let e = admin
                .explain(&client, scope.as_deref(), audience.as_deref())
                .await?;
            out.explanation(&e)
        }
    }
}

fn read_secret_from_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .context("cannot read the secret from stdin")?;
    let s = s.strip_suffix('\n').unwrap_or(&s);
    let s = s.strip_suffix('\r').unwrap_or(s);
    Ok(s.to_owned())
}

pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(t.as_micros())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.as_secs().to_string())
}

fn parse_rfc3339(flag: &str, s: &str) -> anyhow::Result<Timestamp> {
    let d = chrono::DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("{flag}: {s:?} is not an RFC 3339 time"))?;
    Ok(Timestamp::from_micros(d.timestamp_micros()))
}

fn opt_time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
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

    fn users(&self, users: &[Owner], single: bool) -> anyhow::Result<()> {
        let docs: Vec<Value> = users
            .iter()
            .map(|u| json!({ "id": u.id.as_str(), "name": u.name, "email": u.email, "roles": u.roles.names(), "active": u.active }))
            .collect();
        if self.json {
            return self.print_json(&if single && docs.len() == 1 {
                docs[0].clone()
            } else {
                Value::Array(docs)
            });
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
        self.table(&["ID", "NAME", "EMAIL", "ROLES", "ACTIVE"], &rows)
    }

    fn clients(&self, clients: &[Client], single: bool) -> anyhow::Result<()> {
        let docs: Vec<Value> = clients
            .iter()
            .map(|c| {
                json!({
                    "client_id": c.id.as_str(),
                    "name": c.name,
                    "owner": c.owner_id.as_str(),
                    "scopes": c.scopes.names(),
                    "grant_types": c.grant_types.names(),
                    "auth_method": c.auth_method.as_str(),
                    "active": c.active,
                    "created_at": rfc3339(c.created_at),
                    "updated_at": rfc3339(c.updated_at),
                })
            })
            .collect();
        if self.json {
            return self.print_json(&if single && docs.len() == 1 {
                docs[0].clone()
            } else {
                Value::Array(docs)
            });
        }
        let rows = clients
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    c.owner_id.to_string(),
                    c.scopes.names().join(" "),
                    c.auth_method.as_str().to_owned(),
                    yes_no(c.active),
                ]
            })
            .collect::<Vec<_>>();
        self.table(
            &[
                "CLIENT_ID",
                "NAME",
                "OWNER",
                "SCOPES",
                "AUTH_METHOD",
                "ACTIVE",
            ],
            &rows,
        )
    }

    fn keys(&self, wired: &wiring::Wired) -> anyhow::Result<()> {
        let keys = wired.jwt.key_summaries();
        if self.json {
            let docs: Vec<Value> = keys
                .iter()
                .map(|k| json!({ "kid": k.kid.as_str(), "alg": k.algorithm.as_str(), "state": k.state.as_str(), "created": rfc3339(k.created_at) }))
                .collect();
            return self.print_json(&Value::Array(docs));
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
        self.table(&["KID", "ALG", "STATE", "CREATED"], &rows)
    }

    fn explanation(&self, e: &Explanation) -> anyhow::Result<()> {
        let outcome = match &e.outcome {
            ExplainOutcome::Ok { scope, audience } => {
                json!({ "granted": true, "scope": scope, "audience": audience })
            }
            ExplainOutcome::Err { error, description } => {
                json!({ "granted": false, "error": error, "error_description": description })
            }
        };
        if self.json {
            let scopes: Vec<Value> = e
                .scopes
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name, "tier": s.tier.as_str(), "level": s.level,
                        "in_client_grant": s.in_client_grant, "held_by_owner": s.held_by_owner,
                        "audience_required": s.audience_required, "audience_met": s.audience_met,
                        "verdict": s.verdict,
                    })
                })
                .collect();
            return self.print_json(&json!({
                "client_id": e.client_id,
                "client_active": e.client_active,
                "owner_id": e.owner_id,
                "owner_active": e.owner_active,
                "scopes": scopes,
                "outcome": outcome,
            }));
        }
        let rows: Vec<Vec<String>> = e
            .scopes
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.tier.as_str().to_owned(),
                    s.level.to_string(),
                    yes_no(s.in_client_grant),
                    yes_no(s.held_by_owner),
                    match (&s.audience_required, s.audience_met) {
                        (None, _) => "-".to_owned(),
                        (Some(a), Some(true)) => format!("{a}: met"),
                        (Some(a), _) => format!("{a}: missing"),
                    },
                    s.verdict.clone(),
                ]
            })
            .collect();
        self.table(
            &[
                "SCOPE",
                "TIER",
                "LEVEL",
                "IN CLIENT",
                "OWNER HOLDS",
                "AUDIENCE",
                "VERDICT",
            ],
            &rows,
        )?;
        match &e.outcome {
            ExplainOutcome::Ok { scope, audience } => self.line(&format!(
                "\noutcome: granted scope=\"{scope}\" aud={}",
                audience.join(",")
            )),
            ExplainOutcome::Err { error, description } => {
                self.line(&format!("\noutcome: refused {error}: {description}"))
            }
        }
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}
