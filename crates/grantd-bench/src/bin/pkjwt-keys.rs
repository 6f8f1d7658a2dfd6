//! `pkjwt-keys`: makes the ES256 keys of the `private_key_jwt` bench clients. For each of
//! `--count` clients it writes `DIR/jwks-N.json` (the public JWKS to register with `grantd
//! client create --auth-method private_key_jwt --jwks-file`) and prints one JSON array
//! `[{"kid", "private_key"}, …]` (the PKCS#8 keys `loadgen --mode pkjwt` signs with) on stdout.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "ES256 keys for the private_key_jwt bench clients")]
struct Args {
    /// How many clients (one key each).
    #[arg(long)]
    count: usize,
    /// Where the JWKS files go.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut private = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let key = grantd_bench::pkjwt::generate(&format!("bench-{i}"))?;
        let path = args.out.join(format!("jwks-{i}.json"));
        std::fs::write(&path, serde_json::to_vec(&key.jwks)?)
            .with_context(|| format!("writing {}", path.display()))?;
        private.push(serde_json::json!({"kid": key.kid, "private_key": key.private_key}));
    }
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &private)?;
    std::io::Write::write_all(&mut stdout, b"\n")?;
    Ok(())
}
