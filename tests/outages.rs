//! Outside-in fault tests under load: the real binary while its database goes away, while it
//! is itself killed, and while its database stops answering.
//!
//! * Postgres stopped mid-load (`pg_ctl stop -m fast` of a cluster this test creates on its
//!   own port and data directory): from one second after the stop every token request is a
//!   503 with `Retry-After`, answered within a second, never a 500 or a 200 without a row;
//!   `/readyz` says not ready; after `pg_ctl start` grantd recovers by itself; every 200 has its
//!   session row and there are exactly as many rows as 200s.
//! * `kill -9` of grantd during a burst, both backends: after a restart every token that got a
//!   200 has its session row, with its jti.
//! * A Postgres that accepts TCP but never answers (every process of the test's cluster
//!   stopped with SIGSTOP): token requests and `/readyz` answer 503 within the stated bound
//!   (pool acquire timeout + statement timeout + 1 s) instead of waiting for ever, and grantd
//!   recovers when the server resumes.
//!
//! The Postgres cluster is started as the `postgres` OS user (tests run as root) from the
//! binaries under /usr/lib/postgresql/*/bin; a missing facility fails the test loudly. Every
//! process a test starts is stopped by a guard, by pid, also when the test panics.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Backend, Env, Server};

/// Runs a command that must succeed; panics with its output otherwise.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (this test needs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The newest installed PostgreSQL's `bin` folder.
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("this test needs PostgreSQL's server binaries under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/pg_ctl: this test needs PostgreSQL installed")
        .1
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL cluster of the test's own: its data directory in a temporary folder, its own
/// port. Stopped (immediately) and removed on drop.
struct OwnPostgres {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let bin = pg_bin();
        let root = std::env::temp_dir().join(format!("grantd-pg-{}", support::unique()));
        std::fs::create_dir_all(&root).unwrap();
        run("chown", &["postgres:postgres", root.to_str().unwrap()]);
        let pg = OwnPostgres {
            bin,
            root,
            port: free_port(),
        };
        let data = pg.data();
        pg.as_postgres(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        pg.pg_ctl_start();
        pg
    }

    fn data(&self) -> String {
        self.root.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> String {
        let tool = self.bin.join(tool).display().to_string();
        let mut all = vec!["-u", "postgres", "--", tool.as_str()];
        all.extend_from_slice(args);
        run("runuser", &all)
    }

    fn pg_ctl_start(&self) {
        // fsync off: only the Postgres process is stopped or killed, never the machine, so what
        // reached the kernel is durable.
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.root.display()
        );
        let log = self.root.join("server.log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "-o",
                &opts,
                "start",
            ],
        );
    }

    fn pg_ctl_stop(&self, mode: &str) {
        self.as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"],
        );
    }

    /// The postmaster's pid, if it runs.
    fn postmaster(&self) -> Option<String> {
        let pidfile = std::fs::read_to_string(self.root.join("data/postmaster.pid")).ok()?;
        pidfile.lines().next().map(|l| l.trim().to_owned())
    }

    /// The postmaster and its children (backends, checkpointer, …), by pid.
    fn processes(&self) -> Vec<String> {
        let Some(main) = self.postmaster() else {
            return Vec::new();
        };
        let children = Command::new("pgrep")
            .args(["-P", &main])
            .output()
            .expect("this test needs pgrep");
        let mut pids = vec![main];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        pids
    }

    /// Sends `signal` to every process of the cluster.
    fn signal(&self, signal: &str) {
        let pids = self.processes();
        assert!(!pids.is_empty(), "the test's Postgres is not running");
        let mut args = vec![signal.to_owned()];
        args.extend(pids);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("kill", &args);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if let Some(main) = self.postmaster() {
            // A stopped cluster (SIGSTOP) must resume to shut down.
            for pid in self.processes() {
                let _ = Command::new("kill").args(["-CONT", &pid]).status();
            }
            let data = self.data();
            let tool = self.bin.join("pg_ctl").display().to_string();
            let stopped = Command::new("runuser")
                .args(["-u", "postgres", "--", &tool, "-D", &data])
                .args(["-m", "immediate", "-w", "-t", "10", "stop"])
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = Command::new("kill").args(["-KILL", &main]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// One token request's outcome, seen by the client.
#[derive(Debug, Clone)]
struct Shot {
    sent: Instant,
    took: Duration,
    /// 0: no HTTP answer (connection refused or reset).
    status: u16,
    retry_after: bool,
    error: String,
    /// From the token's claims, for a 200.
    session_id: Option<String>,
    jti: Option<String>,
}

/// Token requests from `threads` threads, back to back, until stopped. Stopped and joined on
/// drop.
struct Load {
    stop: Arc<AtomicBool>,
    shots: Arc<Mutex<Vec<Shot>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(base: &str, id: &str, secret: &str, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let shots = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|_| {
                let (stop, shots) = (stop.clone(), shots.clone());
                let url = format!("{base}/oauth/token");
                let auth = support::basic_header(id, secret);
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(30)))
                        .build()
                        .into();
                    while !stop.load(Ordering::Relaxed) {
                        let shot = one_token(&agent, &url, &auth);
                        let pause = shot.status != 200;
                        shots.lock().unwrap().push(shot);
                        if pause {
                            // Refused or failed: do not spin.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            shots,
            threads,
        }
    }

    fn snapshot(&self) -> Vec<Shot> {
        self.shots.lock().unwrap().clone()
    }

    fn finish(mut self) -> Vec<Shot> {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.halt();
    }
}

fn one_token(agent: &ureq::Agent, url: &str, auth: &str) -> Shot {
    let sent = Instant::now();
    let resp = agent
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", auth)
        .send("grant_type=client_credentials&scope=service");
    let mut shot = Shot {
        sent,
        took: Duration::ZERO,
        status: 0,
        retry_after: false,
        error: String::new(),
        session_id: None,
        jti: None,
    };
    match resp {
        Err(e) => shot.error = e.to_string(),
        Ok(mut r) => {
            shot.status = r.status().as_u16();
            shot.retry_after = r.headers().contains_key("retry-after");
            let body = r.body_mut().read_to_string().unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if shot.status == 200 {
                let claims = claims(json["access_token"].as_str().unwrap_or_default());
                shot.session_id = claims["session_id"].as_str().map(str::to_owned);
                shot.jti = claims["jti"].as_str().map(str::to_owned);
            } else {
                shot.error = json["error"].as_str().unwrap_or(&body).to_owned();
            }
        }
    }
    shot.took = sent.elapsed();
    shot
}

/// A JWT's claims, decoded without verification (the other tests verify tokens).
fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Every session row of `client`, as session id → jti (through `grantd session list`).
fn session_rows(env: &Env, client: &str) -> HashMap<String, String> {
    let out = env.cli(&["session", "list", "--client", client, "--json-lines"]);
    assert!(
        out.status.success(),
        "session list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON row per line");
            (
                v["id"].as_str().unwrap().to_owned(),
                v["jti"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every 200 has its session row with its jti; returns how many 200s there were.
fn every_200_has_its_row(shots: &[Shot], rows: &HashMap<String, String>) -> usize {
    let mut ok = 0;
    for s in shots.iter().filter(|s| s.status == 200) {
        let id = s
            .session_id
            .as_ref()
            .expect("a 200 carries a session_id claim");
        let jti = rows
            .get(id)
            .unwrap_or_else(|| panic!("token with session {id} got a 200 but has no row"));
        assert_eq!(Some(jti), s.jti.as_ref(), "session {id}: jti differs");
        ok += 1;
    }
    ok
}

fn count(shots: &[Shot], status: u16) -> usize {
    shots.iter().filter(|s| s.status == status).count()
}

fn summary(label: &str, shots: &[Shot]) {
    let mut by: HashMap<u16, (usize, Duration)> = HashMap::new();
    for s in shots {
        let e = by.entry(s.status).or_default();
        e.0 += 1;
        e.1 = e.1.max(s.took);
    }
    let mut by: Vec<_> = by.into_iter().collect();
    by.sort();
    eprintln!(
        "{label}: {} requests; status → (count, slowest): {by:?}",
        shots.len()
    );
}

fn readyz(server: &Server) -> u16 {
    server.get("/readyz").status
}

/// Waits up to `limit` for `cond`; returns whether it held.
fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A 503 is `temporarily_unavailable` with `Retry-After`.
fn assert_503s_are_proper(shots: &[Shot]) {
    for s in shots.iter().filter(|s| s.status == 503) {
        assert!(s.retry_after, "a 503 without Retry-After: {s:?}");
        assert_eq!(s.error, "temporarily_unavailable", "{s:?}");
    }
}

/// An environment over the test's own Postgres.
fn env_on(pg: &OwnPostgres) -> Env {
    let mut env = Env::new(Backend::Sqlite);
    env.set("GRANTD_DATABASE__URL", &pg.url());
    let migrated = env.cli(&["migrate"]);
    assert!(
        migrated.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    env
}

#[test]
fn postgres_stopped_mid_load_answers_503_then_recovers_without_restart() {
    let pg = OwnPostgres::start();
    let env = env_on(&pg);
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let server = env.start();
    assert_eq!(server.token(&id, &secret, "scope=service").status, 200);
    let load = Load::start(&server.base, &id, &secret, 6);
    assert!(
        within(Duration::from_secs(10), || count(&load.snapshot(), 200)
            >= 50),
        "the load never got going"
    );

    let stopping = Instant::now();
    pg.pg_ctl_stop("fast");
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let mut ready_while_down = Vec::new();
    while stopped.elapsed() < Duration::from_secs(4) {
        ready_while_down.push(readyz(&server));
        std::thread::sleep(Duration::from_millis(250));
    }
    let restarting = Instant::now();
    pg.pg_ctl_start();
    let restarted = Instant::now();
    let recovered = within(Duration::from_secs(15), || {
        load.snapshot()
            .iter()
            .any(|s| s.sent > restarted && s.status == 200)
    });
    std::thread::sleep(Duration::from_millis(500));
    let shots = load.finish();
    summary("before the stop", &filter(&shots, |s| s.sent < stopping));
    summary(
        "during pg_ctl stop",
        &filter(&shots, |s| s.sent >= stopping && s.sent < stopped),
    );
    eprintln!("pg_ctl stop took {:?}", stopped - stopping);
    // Until `pg_ctl start` is called: once it runs, Postgres may take connections before it
    // returns.
    let down = filter(&shots, |s| {
        s.sent >= stopped && s.sent + s.took < restarting
    });
    summary("while stopped", &down);
    summary(
        "after the restart",
        &filter(&shots, |s| s.sent >= restarted),
    );
    eprintln!("pg_ctl start took {:?}", restarted - restarting);
    eprintln!("/readyz while stopped (from 1 s on): {ready_while_down:?}");

    // Never a 500, never a dropped connection: a token or a proper 503.
    for s in &shots {
        assert!(matches!(s.status, 200 | 503), "unexpected answer: {s:?}");
    }
    assert_503s_are_proper(&shots);
    // From one second after the stop, until the restart: every request a 503, within 1 s.
    let settled: Vec<&Shot> = down
        .iter()
        .filter(|s| s.sent >= stopped + Duration::from_secs(1))
        .collect();
    assert!(
        settled.len() >= 20,
        "too few requests while stopped: {}",
        settled.len()
    );
    for s in &settled {
        assert_eq!(s.status, 503, "{s:?}");
        assert!(s.took < Duration::from_secs(1), "a slow 503: {s:?}");
    }
    // Requests in flight at the stop are answered within a second of it too.
    for s in &down {
        assert!(
            s.sent + s.took <= s.sent.max(stopped) + Duration::from_secs(1),
            "answered more than 1 s after the stop: {s:?}"
        );
    }
    assert!(
        ready_while_down.iter().all(|&s| s == 503),
        "/readyz while Postgres was stopped: {ready_while_down:?}"
    );
    assert!(recovered, "no token within 15 s of Postgres's restart");
    assert!(
        within(Duration::from_secs(10), || readyz(&server) == 200),
        "/readyz did not recover"
    );

    let rows = session_rows(&env, &id);
    let tokens = every_200_has_its_row(&shots, &rows) + 1; // + the first token
    eprintln!("200s: {tokens}, session rows: {}", rows.len());
    assert_eq!(tokens, rows.len(), "count(200) != new session rows");
}

fn filter(shots: &[Shot], keep: impl Fn(&Shot) -> bool) -> Vec<Shot> {
    shots.iter().filter(|s| keep(s)).cloned().collect()
}

/// `kill -9` of grantd while a burst of token requests is in flight; after a restart, every
/// token that got a 200 has its session row (with its jti).
fn killed_during_a_burst(env: &Env) {
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let mut server = env.start();
    let load = Load::start(&server.base, &id, &secret, 6);
    assert!(
        within(Duration::from_secs(10), || count(&load.snapshot(), 200)
            >= 200),
        "the burst never got going"
    );
    server.child.kill().expect("SIGKILL grantd");
    server.child.wait().expect("reap grantd");
    std::thread::sleep(Duration::from_millis(200));
    let shots = load.finish();
    summary("burst", &shots);
    for s in &shots {
        assert!(matches!(s.status, 0 | 200), "unexpected answer: {s:?}");
    }

    let server = env.start();
    assert_eq!(server.token(&id, &secret, "scope=service").status, 200);
    let rows = session_rows(env, &id);
    let tokens = every_200_has_its_row(&shots, &rows);
    eprintln!(
        "200s before the kill: {tokens}; rows after the restart: {} (+1 token after it)",
        rows.len()
    );
    assert!(tokens >= 200);
    // A row may exist whose answer the kill cut off; never a 200 without a row.
    assert!(
        rows.len() > tokens,
        "{} rows for {tokens} + 1 tokens",
        rows.len()
    );
}

#[test]
fn sqlite_kill_9_during_a_burst_keeps_every_issued_tokens_row() {
    killed_during_a_burst(&Env::new(Backend::Sqlite));
}

#[test]
fn postgres_kill_9_during_a_burst_keeps_every_issued_tokens_row() {
    killed_during_a_burst(&Env::new(Backend::Postgres));
}

/// Every process of the Postgres cluster stopped (SIGSTOP): the kernel still accepts its TCP
/// connections and acknowledges what grantd sends, nothing ever answers. A token request and
/// `/readyz` must answer 503 within the pool acquire timeout (5 s) + `statement_timeout` +
/// 1 s, and grantd must serve again once Postgres resumes. (Before the store bounded how long
/// a caller waits, a request whose statement was sent on a pooled connection waited for ever:
/// 2 of 5 were still waiting when the client gave up at 31 s.)
#[test]
fn postgres_that_never_answers_is_a_503_within_the_stated_bound() {
    let pg = OwnPostgres::start();
    let mut env = env_on(&pg);
    env.set("GRANTD_DATABASE__STATEMENT_TIMEOUT", "1s");
    // The store's deadline (acquire 5 s + statement 1 s + 1 s) and 1 s for HTTP.
    let bound = Duration::from_secs(5 + 1 + 1 + 1);
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let server = env.start();
    assert_eq!(server.token(&id, &secret, "scope=service").status, 200);

    pg.signal("-STOP");
    let load = Load::start(&server.base, &id, &secret, 3);
    let start = Instant::now();
    let ready = server.get("/readyz");
    let ready_took = start.elapsed();
    std::thread::sleep(bound + Duration::from_secs(1));
    let stuck = load.finish();
    pg.signal("-CONT");
    summary("while Postgres never answers", &stuck);
    eprintln!("/readyz: {} after {ready_took:?}", ready.status);

    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready_took <= bound, "/readyz took {ready_took:?}");
    assert!(
        !stuck.is_empty(),
        "no request was answered within {bound:?}"
    );
    for s in &stuck {
        assert_eq!(s.status, 503, "{s:?}");
        assert!(s.took <= bound, "answered after {:?}: {s:?}", s.took);
    }
    assert_503s_are_proper(&stuck);

    assert!(
        within(Duration::from_secs(15), || server
            .token(&id, &secret, "scope=service")
            .status
            == 200),
        "no token after Postgres resumed"
    );
}
