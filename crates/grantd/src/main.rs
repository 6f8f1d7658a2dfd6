//! `grantd`: the binary. Reads configuration, wires adapters to use cases, serves HTTP and runs
//! the operators' commands.

mod cli;
mod config;
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
    init_tracing();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let settings = match config::load(cli.config.as_deref(), &env) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let result = match cli.command {
        Command::Serve { bind } => actix_web::rt::System::new().block_on(async move {
            let wired = wiring::wire(settings).await?;
            serve::serve(wired, bind).await
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
    eprintln!("grantd: {e:#}");
    ExitCode::from(1)
}

/// Logs go to stderr (stdout is for command output); `GRANTD_LOG` or `RUST_LOG` sets the filter.
fn init_tracing() {
    let filter = std::env::var("GRANTD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
