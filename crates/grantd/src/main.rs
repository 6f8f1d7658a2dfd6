//! `grantd`: the binary. Reads configuration, wires adapters to use cases, serves HTTP and runs
//! the operators' commands.

mod audit;
mod cli;
mod config;
mod federation;
mod gauges;
mod serve;
mod wiring;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc instead of glibc malloc: a token request makes a few dozen short-lived allocations
/// on two threads, which glibc's arenas serve at a visible cost under load (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut settings = match config::load(cli.config.as_deref(), &env) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    init_tracing(&settings.log, matches!(cli.command, Command::Serve { .. }));
    let result = match cli.command {
        Command::Serve { bind } => actix_web::rt::System::new().block_on(async move {
            // Bound before wiring, so an issuer derived from the address knows its real port.
            let bound = serve::bind(&mut settings, bind)?;
            let wired = wiring::wire(settings, wiring::Role::Serve).await?;
            serve::serve(wired, bound).await
        }),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(cli::run(command, settings, cli.json)),
                Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One line on stderr, exit 1 (clap itself exits 2 on usage errors).
fn fail(e: &anyhow::Error) -> ExitCode {
    // `apply --plan` printed a non-empty plan: exit 2, for CI.
    if e.downcast_ref::<cli::PlanHasChanges>().is_some() {
        return ExitCode::from(2);
    }
    eprintln!("grantd: {e:#}");
    ExitCode::from(1)
}

/// Logs go to stderr (stdout is for command output). The filter is `GRANTD_LOG`, else
/// `RUST_LOG`, else `log.level`, else "info" for the server and "warn" for the CLI: a command's
/// stderr carries its error and nothing else. Colour only when stderr is a terminal.
fn init_tracing(log: &config::LogSettings, serving: bool) {
    use std::io::IsTerminal;
    let default = if serving { "info" } else { "warn" };
    let filter = std::env::var("GRANTD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .or_else(|| log.level.clone())
        .unwrap_or_else(|| default.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match log.format {
        config::LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
