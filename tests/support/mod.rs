//! Outside-in test support: starts the real `grantd` binary on port 0 over a fresh SQLite file
//! or a fresh Postgres database, runs its CLI with the same environment, and talks HTTP to it
//! with an independent client (ureq). Tokens are verified with jsonwebtoken through the JWKS.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use grantd_store::testing::TestDb;
use serde_json::Value;

pub mod interop;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A fixed master key for tests (32 bytes, base64url).
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A database for one test, plus a scratch folder.
pub struct Env {
    pub db: TestDb,
    pub dir: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new(backend: Backend) -> Env {
        let rt = runtime();
        let db = rt.block_on(async {
            match backend {
                Backend::Sqlite => TestDb::sqlite().await,
                Backend::Postgres => TestDb::postgres().await,
            }
        });
        let dir =
            std::env::temp_dir().join(format!("grantd-e2e-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let vars = vec![
            ("GRANTD_DATABASE__URL".to_owned(), db.url.clone()),
            ("GRANTD_MASTER_KEY".to_owned(), MASTER_KEY.to_owned()),
            ("GRANTD_SERVER__BIND".to_owned(), "127.0.0.1:0".to_owned()),
            ("GRANTD_ADMIN__BIND".to_owned(), "127.0.0.1:0".to_owned()),
            ("GRANTD_LOG".to_owned(), "warn".to_owned()),
            // Without it the issuer follows the bound port; tests compare with a fixed one.
            (
                "GRANTD_TOKEN__ISSUER".to_owned(),
                "http://127.0.0.1:8080".to_owned(),
            ),
        ];
        Env { db, dir, vars }
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != key);
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_grantd"));
        c.current_dir(&self.dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("GRANTD_") {
                c.env_remove(k);
            }
        }
        c.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// Runs the CLI; returns its output whatever the exit status.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run grantd")
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn grantd");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait grantd")
    }

    /// Runs the CLI with `--json`, asserts success and parses stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "grantd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "grantd {args:?}: stdout is not one JSON document ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Creates a user with `roles` and a client with `scopes`; returns (user id, client id, secret).
    pub fn user_and_client(
        &self,
        roles: &[&str],
        scopes: &str,
        auth_method: &str,
    ) -> (String, String, String) {
        let mut args = vec!["user", "create", "--name", "Ada", "--email"];
        let email = format!("ada-{}@example.com", unique());
        args.push(&email);
        for r in roles {
            args.push("--role");
            args.push(r);
        }
        let user = self.json(&args);
        let uid = user["id"].as_str().expect("user id").to_owned();
        let client = self.json(&[
            "client",
            "create",
            "--name",
            "svc",
            "--owner",
            &uid,
            "--scope",
            scopes,
            "--auth-method",
            auth_method,
        ]);
        (
            uid,
            client["client_id"].as_str().expect("client_id").to_owned(),
            client["client_secret"].as_str().expect("secret").to_owned(),
        )
    }

    pub fn start(&self) -> Server {
        self.start_with(&[])
    }

    pub fn start_with(&self, args: &[&str]) -> Server {
        let mut child = self
            .command()
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn grantd serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let kept = logs.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.strip_prefix("grantd listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let admin = rest
                        .split_once(" admin ")
                        .and_then(|(_, a)| a.split_whitespace().next())
                        .unwrap_or_default();
                    let _ = tx.send(Ok((url.to_owned(), admin.to_owned())));
                    kept.lock().unwrap().push(line.clone());
                    sent = true;
                } else if !sent {
                    let _ = tx.send(Err(line));
                } else {
                    eprintln!("[grantd] {line}");
                    kept.lock().unwrap().push(strip_ansi(&line));
                }
            }
        });
        let mut early = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(Ok((base, admin))) => {
                    return Server {
                        child,
                        base,
                        admin,
                        agent: agent(),
                        logs,
                    };
                }
                Ok(Err(line)) => early.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("grantd serve did not start: {}", early.join("\n"));
                }
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `line` without terminal colour sequences (`ESC [ … m`), which the log carries when it is
/// written to a pipe.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A running `grantd serve`; stopped with SIGTERM on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin: String,
    pub agent: ureq::Agent,
    /// The server's stderr lines after the "listening" line (its log, at `GRANTD_LOG`).
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn read(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut resp = resp.expect("HTTP request");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

impl Server {
    /// Waits up to 5 s for a log line containing `needle`; returns it.
    pub fn wait_for_log(&self, needle: &str) -> Option<String> {
        for _ in 0..100 {
            if let Some(l) = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn get_admin(&self, path: &str) -> Resp {
        read(self.agent.get(format!("{}{path}", self.admin)).call())
    }

    pub fn get(&self, path: &str) -> Resp {
        read(self.agent.get(format!("{}{path}", self.base)).call())
    }

    pub fn post_form(&self, path: &str, basic: Option<(&str, &str)>, body: &str) -> Resp {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            req = req.header("Authorization", basic_header(id, secret));
        }
        read(req.send(body))
    }

    /// [`Server::post_form`] with extra request headers (e.g. `X-Forwarded-For`).
    pub fn post_form_with(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            req = req.header("Authorization", basic_header(id, secret));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        read(req.send(body))
    }

    /// A client_credentials token request with Basic auth.
    pub fn token(&self, id: &str, secret: &str, extra: &str) -> Resp {
        let body = if extra.is_empty() {
            "grant_type=client_credentials".to_owned()
        } else {
            format!("grant_type=client_credentials&{extra}")
        };
        self.post_form("/oauth/token", Some((id, secret)), &body)
    }

    /// Sends SIGTERM and waits; returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

pub fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_encode(id),
            form_encode(secret)
        ))
    )
}

/// Verifies `token` independently: fetches the JWKS, picks the key by `kid`, pins the algorithm
/// to `alg`, checks issuer, audience and expiry. Returns the claims.
pub fn verify_via_jwks(
    server: &Server,
    token: &str,
    alg: &str,
    audience: &str,
    issuer: &str,
) -> Value {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let jwks: JwkSet =
        serde_json::from_str(&server.get("/.well-known/jwks.json").body).expect("JWKS parses");
    let header = decode_header(token).expect("JWT header");
    let kid = header.kid.clone().expect("kid in header");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in JWKS"));
    let algorithm: Algorithm = alg.parse().expect("algorithm");
    assert_eq!(header.alg, algorithm, "header alg");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "typ");
    let key = DecodingKey::from_jwk(jwk).expect("decoding key from JWK");
    let mut v = Validation::new(algorithm);
    v.set_audience(&[audience]);
    v.set_issuer(&[issuer]);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    decode::<Value>(token, &key, &v)
        .expect("token verifies via JWKS")
        .claims
}
