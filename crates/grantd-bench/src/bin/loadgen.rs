//! `loadgen`: drives a running `grantd serve` over loopback with N keep-alive connections for T
//! seconds, every request a real `client_credentials` (or introspection) request with HTTP Basic
//! auth over a pool of clients, and reports throughput, latency percentiles, status counts and
//! the server's peak RSS as one JSON document.
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
    /// DPoP proof), "introspect" (POST /oauth/introspect), or "healthz" (GET /healthz: the HTTP
    /// floor of this machine, server and load generator included).
    #[arg(long, default_value = "token")]
    mode: String,
    /// JSON file: [{"client_id": "...", "client_secret": "..."}, ...]
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
    /// For --mode dpop: how many proofs to mint before the run (each is sent once; a
    /// connection stops when they run out, and the report says so).
    #[arg(long, default_value_t = 100_000)]
    dpop_proofs: usize,
    /// For --mode dpop: the `htu` of the proofs (default: http://ADDR/oauth/token, the URL of
    /// a server whose issuer follows its bound address).
    #[arg(long)]
    htu: Option<String>,
}

/// `--mode dpop`: per client the request head up to the DPoP header, the proofs, and the next
/// proof to send (shared by every connection, so no proof is sent twice).
struct DpopRequests {
    heads: Vec<String>,
    tail: String,
    proofs: Vec<String>,
    next: AtomicUsize,
}

impl DpopRequests {
    fn new(args: &Args, clients: &[ClientCreds]) -> anyhow::Result<Self> {
        let htu = args
            .htu
            .clone()
            .unwrap_or_else(|| format!("http://{}/oauth/token", args.addr));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let run = format!("{:x}", now.as_nanos());
        let started = Instant::now();
        let proofs =
            grantd_bench::dpop::mint(args.dpop_proofs, clients.len(), &htu, now.as_secs(), &run)?;
        eprintln!(
            "minted {} DPoP proofs in {:.1}s",
            proofs.len(),
            started.elapsed().as_secs_f64()
        );
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
            heads,
            tail: format!("\r\n\r\n{body}"),
            proofs,
            next: AtomicUsize::new(0),
        })
    }

    /// Request `i`: proof `i` with the credentials of the client whose key signed it.
    fn request(&self, i: usize) -> Vec<u8> {
        let head = &self.heads[i % self.heads.len()];
        let proof = &self.proofs[i];
        let mut out = Vec::with_capacity(head.len() + proof.len() + self.tail.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(proof.as_bytes());
        out.extend_from_slice(self.tail.as_bytes());
        out
    }

    /// The next unsent request, or `None` when every proof was sent.
    fn take(&self) -> Option<Vec<u8>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.proofs.len()).then(|| self.request(i))
    }

    fn sent(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.proofs.len())
    }
}

/// What the connections send: fixed requests in turn, or each DPoP proof once.
enum Source {
    Fixed(Vec<Vec<u8>>),
    Dpop(DpopRequests),
}

impl Source {
    /// The `i`-th request of a connection; `None` once every DPoP proof was sent.
    fn request(&self, i: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Source::Fixed(requests) => Some((&requests[i % requests.len()][..]).into()),
            Source::Dpop(d) => d.take().map(Into::into),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ClientCreds {
    client_id: String,
    client_secret: String,
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

/// Proofs at most this many are sent a second time after the run.
const REPLAYS: usize = 100;

/// After the run: the first proofs sent (during the warm-up, each already answered) are sent
/// again on one connection; every one must be refused. Also says whether the proofs ran out.
async fn replays(addr: SocketAddr, d: &DpopRequests) -> anyhow::Result<serde_json::Value> {
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
        "proofs_minted": d.proofs.len(),
        "proofs_sent": sent,
        "proofs_exhausted": sent >= d.proofs.len(),
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
    let source = Arc::new(if args.mode == "dpop" {
        Source::Dpop(DpopRequests::new(&args, &clients)?)
    } else {
        Source::Fixed(build_requests(&args, &clients)?)
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
    let dpop = match &*source {
        Source::Dpop(d) => Some(replays(args.addr, d).await?),
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
        "dpop": dpop,
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &report)?;
    std::io::Write::write_all(&mut stdout, b"\n")?;
    Ok(())
}
