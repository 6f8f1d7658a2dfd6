//! `grantd client …`: create clients (printing the secret once), list, show, enable, disable,
//! update them (name, owner, scopes, grant types, auth method, rate, quotas, DPoP policy: one
//! `Admin::update_client`), replace their public keys, and rotate their secrets.

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use grantd_api::admin::views;
use grantd_app::{Admin, ClientChange, KeySource, NewClientSpec};
use grantd_domain::{AssertionAlg, AuthMethod, Client, ClientKeys, DpopPolicy, GrantType};
use serde_json::{Value, json};

use super::limits::{self, LimitArgs, LimitUpdateArgs};
use super::{Output, rfc3339, yes_no};

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
    /// Change the client's name, owner, scopes, grant types, auth method (between the two
    /// secret methods), rate limit, token quotas or DPoP policy, in one write.
    Update(ClientUpdateArgs),
    /// Replace a private_key_jwt client's public keys (its registered algorithm stays unless
    /// --assertion-alg changes it).
    SetKeys(ClientSetKeysArgs),
    /// Issue a new secret; the old one keeps working for --grace seconds.
    RotateSecret {
        id: String,
        #[arg(long, default_value_t = 0)]
        grace: u64,
    },
    /// A federated client's credentials (trusted issuer, subject, pinned claims).
    Federate {
        #[command(subcommand)]
        cmd: super::federate::FederateCmd,
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
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "federated"], default_value = "client_secret_basic")]
    auth_method: String,
    #[arg(long = "grant-type", value_parser = ["client_credentials"])]
    grant_types: Vec<String>,
    /// Read an operator-supplied secret from stdin instead of generating one.
    #[arg(long)]
    secret_stdin: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// Whether token requests must carry a DPoP proof (RFC 9449).
    #[arg(long, value_parser = ["optional", "required"], default_value = "optional")]
    dpop: String,
    /// The client's public keys, a JWKS file (`{"keys":[…]}`), for `private_key_jwt`; no
    /// secret is generated then.
    #[arg(long, group = "keys")]
    jwks_file: Option<std::path::PathBuf>,
    /// Instead of --jwks-file: the URL where the client publishes its JWKS (`https`; `http`
    /// to loopback only with `[jwks_fetch] allow_http_loopback`), fetched when needed.
    #[arg(long, group = "keys")]
    jwks_uri: Option<String>,
    /// The one algorithm its assertions must use (`token_endpoint_auth_signing_alg`); default:
    /// whatever its keys allow.
    #[arg(long, value_parser = ASSERTION_ALGS, requires = "keys")]
    assertion_alg: Option<String>,
}

const ASSERTION_ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

#[derive(Debug, Args)]
pub struct ClientSetKeysArgs {
    id: String,
    /// The new public keys, a JWKS file (`{"keys":[…]}`): they replace all current ones.
    #[arg(long, group = "keys", required = true)]
    jwks_file: Option<std::path::PathBuf>,
    /// Instead of --jwks-file: the URL where the client now publishes its JWKS.
    #[arg(long, group = "keys")]
    jwks_uri: Option<String>,
    /// The one algorithm its assertions must use from now on.
    #[arg(long, value_parser = ASSERTION_ALGS)]
    assertion_alg: Option<String>,
}

#[derive(Debug, Args)]
pub struct ClientUpdateArgs {
    id: String,
    #[arg(long)]
    name: Option<String>,
    /// The new owning user's id.
    #[arg(long)]
    owner: Option<String>,
    /// The new scopes (replacing the current ones), space-separated and/or repeated.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// The new grant types (replacing the current ones).
    #[arg(long = "grant-type", value_parser = ["client_credentials"])]
    grant_types: Vec<String>,
    /// Between the two secret methods only; to or from private_key_jwt, create a new client.
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt"])]
    auth_method: Option<String>,
    #[command(flatten)]
    limits: LimitUpdateArgs,
    /// Whether token requests must carry a DPoP proof (RFC 9449).
    #[arg(long, value_parser = ["optional", "required"])]
    dpop: Option<String>,
}

pub(super) async fn run(cmd: ClientCmd, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Create(args) => create(args, admin, out).await,
        ClientCmd::List => clients(out, &admin.list_clients().await?, false),
        ClientCmd::Show { id } => show(out, admin, admin.show_client(&id).await?).await,
        ClientCmd::Update(args) => update(args, admin, out).await,
        ClientCmd::Disable { id } => {
            clients(out, &[admin.set_client_active(&id, false).await?], true)
        }
        ClientCmd::Enable { id } => {
            clients(out, &[admin.set_client_active(&id, true).await?], true)
        }
        ClientCmd::SetKeys(args) => {
            let file = args.jwks_file.as_deref();
            let alg = args.assertion_alg.as_deref();
            let Some(keys) = keys_from_flags(admin, file, args.jwks_uri.as_deref(), alg)? else {
                bail!("--jwks-file or --jwks-uri is required");
            };
            let client = admin.set_client_keys(&args.id, keys, None).await?;
            show(out, admin, client).await
        }
        ClientCmd::RotateSecret { id, grace } => rotate_secret(&id, grace, admin, out).await,
        ClientCmd::Federate { cmd } => super::federate::run(cmd, admin, out).await,
    }
}

/// Changes what the flags name (at least one) in one write, then shows the client.
async fn update(args: ClientUpdateArgs, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    let change = ClientChange {
        name: args.name,
        owner: args.owner,
        scopes: (!args.scopes.is_empty()).then_some(args.scopes),
        grant_types: match args.grant_types.is_empty() {
            true => None,
            false => Some(parse_grant_types(&args.grant_types)?),
        },
        auth_method: args
            .auth_method
            .as_deref()
            .map(|m| AuthMethod::parse(m).context("unknown auth method"))
            .transpose()?,
        active: None,
        dpop: args
            .dpop
            .as_deref()
            .map(|d| DpopPolicy::parse(d).context("unknown DPoP policy"))
            .transpose()?,
        limits: args.limits.change().unwrap_or_default(),
    };
    if change == ClientChange::default() {
        bail!(
            "nothing to update: give --name, --owner, --scope, --grant-type, --auth-method, --rate-limit, --quota-hour, --quota-day, a --no-… flag or --dpop"
        );
    }
    let updated = admin.update_client(&args.id, change, None).await?;
    for w in &updated.warnings {
        eprintln!("warning: {w}");
    }
    show(out, admin, updated.client).await
}

fn parse_grant_types(given: &[String]) -> anyhow::Result<Vec<GrantType>> {
    given
        .iter()
        .map(|g| GrantType::parse(g).with_context(|| format!("unknown grant type {g}")))
        .collect()
}

/// Creates the client and prints its secret, once.
async fn create(args: ClientCreateArgs, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    let supplied_secret = if args.secret_stdin {
        Some(read_secret_from_stdin()?)
    } else {
        None
    };
    let auth_method = AuthMethod::parse(&args.auth_method).context("unknown auth method")?;
    let dpop = DpopPolicy::parse(&args.dpop).context("unknown DPoP policy")?;
    let file = args.jwks_file.as_deref();
    let alg = args.assertion_alg.as_deref();
    let keys = keys_from_flags(admin, file, args.jwks_uri.as_deref(), alg)?.unwrap_or_default();
    let grant_types = parse_grant_types(&args.grant_types)?;
    let created = admin
        .create_client(NewClientSpec {
            name: args.name,
            owner: args.owner,
            scopes: args.scopes,
            auth_method,
            grant_types,
            supplied_secret,
            limits: args.limits.limits(),
            dpop,
            keys,
        })
        .await?;
    for w in &created.warnings {
        eprintln!("warning: {w}");
    }
    let c = &created.client;
    if out.json {
        return out.print_json(&views::client_created(&created));
    }
    clients(out, std::slice::from_ref(c), true)?;
    match &created.secret_plaintext {
        Some(secret) => {
            out.line(&format!("client_secret: {secret}"))?;
            out.line("(shown once: store it now)")
        }
        None => keys_lines(out, c),
    }
}

/// The keys `--jwks-file` or `--jwks-uri` name (`None`: neither), bound to `--assertion-alg`
/// if given, read and checked by the use case (the admin API and `apply` use the same one).
fn keys_from_flags(
    admin: &Admin,
    file: Option<&std::path::Path>,
    uri: Option<&str>,
    alg: Option<&str>,
) -> anyhow::Result<Option<ClientKeys>> {
    let alg = alg
        .map(|a| AssertionAlg::parse(a).with_context(|| format!("unknown algorithm {a}")))
        .transpose()?;
    let source = match (file, uri) {
        (Some(path), _) => KeySource::Jwks(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        (None, Some(uri)) => KeySource::Uri(uri.to_owned()),
        (None, None) => return Ok(None),
    };
    let keys = admin.client_keys(&source, alg);
    match file {
        Some(path) => keys.with_context(|| path.display().to_string()).map(Some),
        None => Ok(Some(keys?)),
    }
}

/// Issues a new secret and prints it, once, with the old secrets' end of validity.
async fn rotate_secret(id: &str, grace: u64, admin: &Admin, out: &Output) -> anyhow::Result<()> {
    let r = admin.rotate_secret(id, grace).await?;
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

/// One client, with its own rate and each quota window's use (counted from the rows now).
async fn show(out: &Output, admin: &Admin, c: Client) -> anyhow::Result<()> {
    let usage = admin.quota_usage(&c).await?;
    if out.json {
        let mut doc = views::client(&c);
        doc["quota_usage"] = views::quota_usage(&usage);
        return out.print_json(&doc);
    }
    clients(out, std::slice::from_ref(&c), true)?;
    for line in limits::lines(c.limits.rate, &usage) {
        out.line(&line)?;
    }
    if !c.keys.is_empty() {
        keys_lines(out, &c)?;
    }
    Ok(())
}

/// The client's public keys (kid, kty, alg) or where it publishes them, and its registered
/// algorithm, if any.
fn keys_lines(out: &Output, c: &Client) -> anyhow::Result<()> {
    match c.keys.jwks_uri() {
        Some(uri) => out.line(&format!("jwks_uri: {}", uri.as_str()))?,
        None => out.line(&format!("keys: {}", views::keys(c)))?,
    }
    match c.keys.alg() {
        Some(alg) => out.line(&format!("token_endpoint_auth_signing_alg: {alg}")),
        None => Ok(()),
    }
}

fn clients(out: &Output, clients: &[Client], single: bool) -> anyhow::Result<()> {
    let docs: Vec<Value> = clients.iter().map(views::client).collect();
    if out.json {
        return out.print_docs(docs, single);
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
                c.dpop.as_str().to_owned(),
                yes_no(c.active),
            ]
        })
        .collect::<Vec<_>>();
    out.table(
        &[
            "CLIENT_ID",
            "NAME",
            "OWNER",
            "SCOPES",
            "AUTH_METHOD",
            "DPOP",
            "ACTIVE",
        ],
        &rows,
    )
}
