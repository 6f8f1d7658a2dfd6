//! `loadgen`: drives a running `grantd serve` over loopback with N keep-alive connections for T
//! seconds, every request a real `client_credentials` (or introspection) request over a pool of
//! clients (HTTP Basic auth, or a pre-minted `private_key_jwt` assertion), and reports
//! throughput, latency percentiles, status counts and the server's peak RSS as one JSON
//! document.
//!
//! It speaks just enough HTTP/1.1 itself (pre-built request bytes, Content-Length framing) to
//! cost the server's two cores as little as possible.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use clap::Parser;
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "HTTP load generator for grantd")]
struct Args {
    /// Server address (IP:PORT).
    #[arg(long)]
    addr: SocketAddr,
    /// "token" (POST /oauth/token), "dpop" (token requests, each with its own pre-minted ES256
    /// DPoP proof), "pkjwt" (token requests authenticated by `private_key_jwt`, each with its
    /// own pre-minted ES256 assertion, no Basic header), "introspect" (POST /oauth/introspect),
    /// or "healthz" (GET /healthz: the HTTP floor of this machine, server and load generator
    /// included).
    #[arg(long, default_value = "token")]
    mode: String,
    /// JSON file: [{"client_id": "...", "client_secret": "..."}, ...]; for --mode pkjwt
    /// [{"client_id": "...", "kid": "...", "private_key": "<base64url PKCS#8>"}, ...] (see
    /// `pkjwt-keys`).
    #[arg(long)]
    clients: PathBuf,
    /// For --mode introspect: a file holding the access tokens to introspect, one per line.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Extra form parameters appended to every token request, e.g. "scope=service".
    #[arg(long, default_value = "")]
    extra: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Server process to sample VmRSS/VmHWM from.
    #[arg(long)]
    server_pid: Option<u32>,
    /// For --mode dpop and pkjwt: how many proofs or assertions to mint before the run (each
    /// is sent once; a connection stops when they run out, and the report says so).
    #[arg(long = "minted", alias = "dpop-proofs", default_value_t = 100_000)]
    minted: usize,
    /// For --mode dpop: the `htu` of the proofs (default: http://ADDR/oauth/token, the URL of
    /// a server whose issuer follows its bound address).
    #[arg(long)]
    htu: Option<String>,
    /// For --mode pkjwt: the assertions' `aud` (default: http://ADDR, the issuer of a server
    /// whose issuer follows its bound address).
    #[arg(long)]
    aud: Option<String>,
    /// For --mode pkjwt: seconds from `iat` to `exp` (at most the server's
    /// `[client_assertion] max_lifetime`, 300 s by default). The run must end before.
    #[arg(long, default_value_t = 300)]
    assertion_lifetime: u64,
}

/// How a pre-minted credential goes into a request.
enum Shape {
    /// `--mode dpop`: per client the request head up to the DPoP header value, then the proof,
    /// then `tail` (the end of the head and the body).
    Dpop { heads: Vec<String>, tail: String },
    /// `--mode pkjwt`: the head up to the Content-Length value, then the body: `body`, then
    /// the assertion (its last parameter).
    Pkjwt { head: String, body: String },
}

/// `--mode dpop` and `pkjwt`: credentials minted before the run, each sent once, and the next
/// one to send (shared by every connection, so none is sent twice). Credential `i` belongs to
/// client `i % clients`.
struct PreMinted {
    shape: Shape,
    minted: Vec<String>,
    next: AtomicUsize,
}

/// Seconds since the epoch, and a tag unique to this run (the `jti` prefix).
fn run_clock() -> anyhow::Result<(u64, String)> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok((now.as_secs(), format!("{:x}", now.as_nanos())))
}

fn report_minted(what: &str, minted: &[String], started: Instant) {
    eprintln!(
        "minted {} {what} in {:.1}s",
        minted.len(),
        started.elapsed().as_secs_f64()
    );
}

impl PreMinted {
    fn dpop(args: &Args, clients: &[ClientCreds]) -> anyhow::Result<Self> {
        let htu = args
            .htu
            .clone()
            .unwrap_or_else(|| format!("http://{}/oauth/token", args.addr));
        let (now, run) = run_clock()?;
        let started = Instant::now();
        let minted = grantd_bench::dpop::mint(args.minted, clients.len(), &htu, now, &run)?;
        report_minted("DPoP proofs", &minted, started);
        let body = token_body(args);
        let heads = clients
            .iter()
            .map(|c| {
                format!(
                    "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nUser-Agent: grantd-loadgen\r\nContent-Length: {}\r\nDPoP: ",
                    args.addr,
                    basic(c),
                    body.len()
                )
            })
            .collect();
        Ok(Self {
            shape: Shape::Dpop {
                heads,
                tail: format!("\r\n\r\n{body}"),
            },
            minted,
            next: AtomicUsize::new(0),
        })
    }

    fn pkjwt(args: &Args, clients: &[ClientCreds]) -> anyhow::Result<Self> {
        let run_secs = args.warmup + args.duration + RUN_MARGIN_SECS;
        if run_secs > args.assertion_lifetime {
            bail!(
                "the run ({run_secs} s with margin) outlives the assertions \
                 (--assertion-lifetime {}): raise it and the server's [client_assertion] max_lifetime",
                args.assertion_lifetime
            );
        }
        let keys = clients
            .iter()
            .map(|c| match (&c.kid, &c.private_key) {
                (Some(kid), Some(key)) => {
                    grantd_bench::pkjwt::AssertionKey::new(&c.client_id, kid, key)
                }
                _ => bail!(
                    "--mode pkjwt: client {} has no kid and private_key",
                    c.client_id
                ),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (now, run) = run_clock()?;
        let window = grantd_bench::pkjwt::Window {
            aud: args
                .aud
                .clone()
                .unwrap_or_else(|| format!("http://{}", args.addr)),
            iat: now,
            exp: now + args.assertion_lifetime,
        };
        let started = Instant::now();
        let minted = grantd_bench::pkjwt::mint(args.minted, &keys, &window, &run)?;
        report_minted("client assertions", &minted, started);
        Ok(Self {
            shape: Shape::Pkjwt {
                head: format!(
                    "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nUser-Agent: grantd-loadgen\r\nContent-Length: ",
                    args.addr
                ),
                body: format!(
                    "{}&client_assertion_type={JWT_BEARER}&client_assertion=",
                    token_body(args)
                ),
            },
            minted,
            next: AtomicUsize::new(0),
        })
    }

    /// Request `i`: credential `i`, with what its client sends besides.
    fn request(&self, i: usize) -> Vec<u8> {
        let cred = &self.minted[i];
        match &self.shape {
            Shape::Dpop { heads, tail } => {
                let head = &heads[i % heads.len()];
                [head.as_bytes(), cred.as_bytes(), tail.as_bytes()].concat()
            }
            Shape::Pkjwt { head, body } => {
                let len = body.len() + cred.len();
                format!("{head}{len}\r\n\r\n{body}{cred}").into_bytes()
            }
        }
    }

    /// The next unsent request, or `None` when every credential was sent.
    fn take(&self) -> Option<Vec<u8>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.minted.len()).then(|| self.request(i))
    }

    fn sent(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.minted.len())
    }
}

/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2), form-encoded.
const JWT_BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// Seconds a pkjwt run must leave before its assertions expire, for minting and draining.
const RUN_MARGIN_SECS: u64 = 30;

/// What the connections send: fixed requests in turn, or each pre-minted credential once.
enum Source {
    Fixed(Vec<Vec<u8>>),
    PreMinted(PreMinted),
}

impl Source {
    /// The `i`-th request of a connection; `None` once every pre-minted credential was sent.
    fn request(&self, i: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Source::Fixed(requests) => Some((&requests[i % requests.len()][..]).into()),
            Source::PreMinted(d) => d.take().map(Into::into),
        }
    }
}

/// No `Debug`: it holds secrets and private keys.
#[derive(Deserialize)]
struct ClientCreds {
    client_id: String,
    #[serde(default)]
    client_secret: String,
    /// `--mode pkjwt`: the kid of the client's registered key, and the key.
    kid: Option<String>,
    private_key: Option<String>,
}

fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn basic(creds: &ClientCreds) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        pct_encode(&creds.client_id),
        pct_encode(&creds.client_secret)
    ))
}

fn token_body(args: &Args) -> String {
    if args.extra.is_empty() {
        "grant_type=client_credentials".to_owned()
    } else {
        format!("grant_type=client_credentials&{}", args.extra)
    }
}

fn build_request(addr: SocketAddr, path: &str, creds: &ClientCreds, body: &str) -> Vec<u8> {
    let basic = basic(creds);
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nUser-Agent: grantd-loadgen\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Default)]
struct Tally {
    hist: Option<Histogram<u64>>,
    status: BTreeMap<u16, u64>,
    io_errors: u64,
    /// 200s over the whole run, warm-up and drain included (each left one session row).
    ok_all: u64,
}

/// Reads one response; returns its status. `buf` keeps bytes of a following response, if any.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).context("non-UTF-8 response head")?;
            let status: u16 = head
                .get(9..12)
                .context("short status line")?
                .parse()
                .context("bad status")?;
            let len = head
                .split("\r\n")
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                read_more(stream, buf).await?;
            }
            buf.drain(..total);
            return Ok(status);
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        bail!("connection closed");
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn connection(
    addr: SocketAddr,
    source: Arc<Source>,
    offset: usize,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally {
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).ok(),
        ..Default::default()
    };
    let mut i = offset;
    let mut buf = Vec::with_capacity(16 * 1024);
    'outer: while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tally.io_errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        buf.clear();
        while !stop.load(Ordering::Relaxed) {
            let Some(req) = source.request(i) else {
                break 'outer;
            };
            i = i.wrapping_add(1);
            let started = Instant::now();
            let result = async {
                stream.write_all(&req).await?;
                read_response(&mut stream, &mut buf).await
            }
            .await;
            let elapsed = started.elapsed();
            if matches!(result, Ok(200)) {
                tally.ok_all += 1;
            }
            if !measuring.load(Ordering::Relaxed) {
                if result.is_err() {
                    continue 'outer;
                }
                continue;
            }
            match result {
                Ok(status) => {
                    *tally.status.entry(status).or_default() += 1;
                    if let Some(h) = tally.hist.as_mut() {
                        let _ = h.record(
                            u64::try_from(elapsed.as_micros())
                                .unwrap_or(u64::MAX)
                                .max(1),
                        );
                    }
                }
                Err(_) => {
                    tally.io_errors += 1;
                    continue 'outer;
                }
            }
        }
    }
    tally
}

fn read_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

/// The request texts of `--mode`, sent in turn by every connection.
fn build_requests(args: &Args, clients: &[ClientCreds]) -> anyhow::Result<Vec<Vec<u8>>> {
    let requests: Vec<Vec<u8>> = match args.mode.as_str() {
        "token" => {
            let body = token_body(args);
            clients
                .iter()
                .map(|c| build_request(args.addr, "/oauth/token", c, &body))
                .collect()
        }
        "introspect" => {
            let path = args
                .token_file
                .as_ref()
                .context("--mode introspect needs --token-file")?;
            // One token per line; request i introspects token i (mod n) as client i (mod m).
            let tokens: Vec<String> = std::fs::read_to_string(path)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            if tokens.is_empty() {
                bail!("{} holds no token", path.display());
            }
            tokens
                .iter()
                .enumerate()
                .map(|(i, token)| {
                    let body = format!("token={}", pct_encode(token));
                    build_request(
                        args.addr,
                        "/oauth/introspect",
                        &clients[i % clients.len()],
                        &body,
                    )
                })
                .collect()
        }
        "healthz" => vec![
            format!(
                "GET /healthz HTTP/1.1\r\nHost: {}\r\nUser-Agent: grantd-loadgen\r\n\r\n",
                args.addr
            )
            .into_bytes(),
        ],
        other => bail!("unknown --mode {other}"),
    };
    Ok(requests)
}

/// Every connection's tally, added up.
struct Totals {
    hist: Histogram<u64>,
    status: BTreeMap<u16, u64>,
    io_errors: u64,
    ok_all: u64,
}

async fn totals(tasks: Vec<tokio::task::JoinHandle<Tally>>) -> anyhow::Result<Totals> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut io_errors = 0;
    let mut ok_all = 0;
    for t in tasks {
        let tally = t.await?;
        if let Some(h) = tally.hist {
            hist.add(h)?;
        }
        for (k, v) in tally.status {
            *status.entry(k).or_default() += v;
        }
        io_errors += tally.io_errors;
        ok_all += tally.ok_all;
    }
    Ok(Totals {
        hist,
        status,
        io_errors,
        ok_all,
    })
}

/// Pre-minted credentials at most this many are sent a second time after the run.
const REPLAYS: usize = 100;

/// After the run: the first proofs or assertions sent (during the warm-up, each already
/// answered) are sent again on one connection; every one must be refused. Also says whether
/// they ran out.
async fn replays(addr: SocketAddr, d: &PreMinted) -> anyhow::Result<serde_json::Value> {
    let sent = d.sent();
    let mut stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..sent.min(REPLAYS) {
        stream.write_all(&d.request(i)).await?;
        let s = read_response(&mut stream, &mut buf).await?;
        *status.entry(s.to_string()).or_default() += 1;
    }
    Ok(serde_json::json!({
        "minted": d.minted.len(),
        "sent": sent,
        "exhausted": sent >= d.minted.len(),
        "replays_sent": sent.min(REPLAYS),
        "replays_accepted": status.get("200").copied().unwrap_or(0),
        "replay_status": status,
    }))
}

/// Samples the server's resident set every 100 ms into `peak` until `stop`.
async fn watch_rss(pid: u32, peak: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Some(kib) = read_status_kib(pid, "VmRSS:") {
            peak.fetch_max(kib, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let clients: Vec<ClientCreds> = serde_json::from_slice(
        &std::fs::read(&args.clients)
            .with_context(|| format!("reading {}", args.clients.display()))?,
    )
    .context("clients file: expected [{\"client_id\",\"client_secret\"}]")?;
    if clients.is_empty() {
        bail!("clients file is empty");
    }
    let source = Arc::new(match args.mode.as_str() {
        "dpop" => Source::PreMinted(PreMinted::dpop(&args, &clients)?),
        "pkjwt" => Source::PreMinted(PreMinted::pkjwt(&args, &clients)?),
        _ => Source::Fixed(build_requests(&args, &clients)?),
    });
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(args.connections);
    for c in 0..args.connections {
        tasks.push(tokio::spawn(connection(
            args.addr,
            source.clone(),
            c * 7919,
            measuring.clone(),
            stop.clone(),
        )));
    }

    let rss_peak = Arc::new(AtomicU64::new(0));
    if let Some(pid) = args.server_pid {
        tokio::spawn(watch_rss(pid, rss_peak.clone(), stop.clone()));
    }

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let Totals {
        hist,
        status,
        io_errors,
        ok_all,
    } = totals(tasks).await?;
    let single_use = match &*source {
        Source::PreMinted(d) => Some(replays(args.addr, d).await?),
        Source::Fixed(_) => None,
    };
    let ok = status.get(&200).copied().unwrap_or(0);
    let total: u64 = status.values().sum();
    let ms = |us: u64| us as f64 / 1000.0;
    let report = serde_json::json!({
        "mode": args.mode,
        "connections": args.connections,
        "seconds": elapsed,
        "requests": total,
        "ok": ok,
        "ok_all": ok_all,
        "per_second": ok as f64 / elapsed,
        "latency_ms": {
            "p50": ms(hist.value_at_quantile(0.50)),
            "p90": ms(hist.value_at_quantile(0.90)),
            "p99": ms(hist.value_at_quantile(0.99)),
            "max": ms(hist.max()),
        },
        "status": status.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
        "io_errors": io_errors,
        "server_rss_peak_kib": args.server_pid.map(|_| rss_peak.load(Ordering::Relaxed)),
        "server_vmhwm_kib": args.server_pid.and_then(|p| read_status_kib(p, "VmHWM:")),
        "single_use": single_use,
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &report)?;
    std::io::Write::write_all(&mut stdout, b"\n")?;
    Ok(())
}
