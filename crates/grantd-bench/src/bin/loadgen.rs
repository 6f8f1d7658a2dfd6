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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// "token" (POST /oauth/token), "introspect" (POST /oauth/introspect), or "healthz"
    /// (GET /healthz: the HTTP floor of this machine, server and load generator included).
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

fn build_request(addr: SocketAddr, path: &str, creds: &ClientCreds, body: &str) -> Vec<u8> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        pct_encode(&creds.client_id),
        pct_encode(&creds.client_secret)
    ));
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
    requests: Arc<Vec<Vec<u8>>>,
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
            let req = &requests[i % requests.len()];
            i = i.wrapping_add(1);
            let started = Instant::now();
            let result = async {
                stream.write_all(req).await?;
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
            let body = if args.extra.is_empty() {
                "grant_type=client_credentials".to_owned()
            } else {
                format!("grant_type=client_credentials&{}", args.extra)
            };
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
    let requests = Arc::new(build_requests(&args, &clients)?);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(args.connections);
    for c in 0..args.connections {
        tasks.push(tokio::spawn(connection(
            args.addr,
            requests.clone(),
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
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &report)?;
    std::io::Write::write_all(&mut stdout, b"\n")?;
    Ok(())
}
