//! Outside-in tests of a database that stops taking writes: the real binary over SQLite on file
//! systems this test mounts (a read-only one, a full one) and over a Postgres database switched
//! to read-only. A failing database is a 503 with `Retry-After` (never a 500), `/readyz` says
//! "not ready" while writes fail and "ready" once they work again, and `grantd serve` refuses
//! to start on a database it cannot write. Also: the SQLite files are readable by their owner
//! alone.
//!
//! The SQLite tests mount file systems, so they need root (CI and the dev container run as
//! root), `mount`, and for the read-only case a loop device, `mkfs.ext4` and ext4's
//! `trigger_fs_error`. Linux refuses `mount -o remount,ro` while a file is open for writing
//! (EBUSY), so a running server's file system is made read-only the way a failing disk makes it
//! so: an ext4 error with `errors=remount-ro`. A missing facility fails the test loudly.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Backend, Env, Resp, Server};

/// Runs a command that must succeed; panics with its output otherwise.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (this test needs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed (this test needs root and {program}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file system mounted by the test, unmounted (and its folder removed) on drop.
struct Mount {
    dir: PathBuf,
    /// Removed on drop: the mount point and anything beside it (the ext4 image).
    root: PathBuf,
}

impl Mount {
    /// A tmpfs of `size` (e.g. "8m").
    fn tmpfs(dir: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        let opts = format!("size={size},mode=0755");
        run(
            "mount",
            &["-t", "tmpfs", "-o", &opts, "tmpfs", dir.to_str().unwrap()],
        );
        Mount {
            dir: dir.to_owned(),
            root: dir.to_owned(),
        }
    }

    /// An ext4 file system in an image file on a loop device, which turns read-only on the
    /// first error (`errors=remount-ro`).
    fn ext4(dir: &Path, image: &Path) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        let file = std::fs::File::create(image).unwrap();
        file.set_len(32 * 1024 * 1024).unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                image.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        Mount {
            dir: dir.to_owned(),
            root: image.parent().expect("image folder").to_owned(),
        }
    }

    fn remount(&self, mode: &str) {
        let opts = format!("remount,{mode}");
        run("mount", &["-o", &opts, self.dir.to_str().unwrap()]);
    }

    /// Makes the ext4 file system read-only under the running server, as a disk error would.
    fn fail_ext4(&self) {
        let source = run(
            "findmnt",
            &[
                "-n",
                "-o",
                "SOURCE",
                "--mountpoint",
                self.dir.to_str().unwrap(),
            ],
        );
        let device = Path::new(source.trim())
            .file_name()
            .expect("loop device name")
            .to_str()
            .unwrap()
            .to_owned();
        let trigger = format!("/sys/fs/ext4/{device}/trigger_fs_error");
        std::fs::write(&trigger, "1")
            .unwrap_or_else(|e| panic!("cannot write {trigger} (this test needs it): {e}"));
        let probe = self.dir.join("probe");
        let err = std::fs::write(&probe, "x").expect_err("the file system is read-only now");
        assert_eq!(err.raw_os_error(), Some(30), "EROFS expected: {err}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazy: the server may still be exiting.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A SQLite environment whose database lives in `dir` (a mount point).
fn sqlite_env_in(dir: &Path) -> Env {
    let mut env = Env::new(Backend::Sqlite);
    let url = format!("sqlite://{}", dir.join("grantd.db").display());
    env.set("GRANTD_DATABASE__URL", &url);
    env
}

/// A 503 as RFC 6749 §5.2 JSON with `Retry-After`.
fn assert_unavailable(what: &str, resp: &Resp) {
    assert_eq!(resp.status, 503, "{what}: {}", resp.body);
    assert!(
        resp.header("retry-after").is_some(),
        "{what}: no Retry-After"
    );
    assert_eq!(resp.json()["error"], "temporarily_unavailable", "{what}");
}

/// The server is still running and logged no panic (a panic in a store task or a handler is
/// caught and answered, but it is still a defect).
fn assert_no_panic(server: &mut Server) {
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "grantd exited during the fault"
    );
    let logs = server.logs.lock().unwrap();
    let panics: Vec<&String> = logs.iter().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "grantd panicked: {panics:?}");
}

fn ready_status(server: &Server) -> u16 {
    server.get("/readyz").status
}

/// Polls `/readyz` until it answers `want` (readiness probes the database at most once a
/// second); returns whether it did within `limit`.
fn readiness_becomes(server: &Server, want: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready_status(server) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn revoke(server: &Server, caller: (&str, &str), token: &str) -> Resp {
    server.post_form("/oauth/revoke", Some(caller), &format!("token={token}"))
}

fn introspect(server: &Server, caller: (&str, &str), token: &str) -> Resp {
    server.post_form("/oauth/introspect", Some(caller), &format!("token={token}"))
}

#[test]
fn sqlite_on_a_read_only_file_system_answers_503_and_is_not_ready() {
    let root = std::env::temp_dir().join(format!("grantd-ro-{}", support::unique()));
    std::fs::create_dir_all(&root).unwrap();
    let mount = Mount::ext4(&root.join("mnt"), &root.join("fs.img"));
    let env = sqlite_env_in(&mount.dir);
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let mut server = env.start();
    let before = server.token(&id, &secret, "scope=service");
    assert_eq!(before.status, 200, "{}", before.body);
    let token = before.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(ready_status(&server), 200);

    mount.fail_ext4();

    for i in 0..5 {
        assert_unavailable(
            &format!("token request {i}"),
            &server.token(&id, &secret, "scope=service"),
        );
    }
    assert_unavailable("revocation", &revoke(&server, (&id, &secret), &token));
    // Introspection only reads: it may still answer, but never with a 500.
    let seen = introspect(&server, (&id, &secret), &token);
    assert!(matches!(seen.status, 200 | 503), "{}", seen.body);
    let ready = server.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["status"], "not ready");
    assert_no_panic(&mut server);
    drop(server);
}

#[test]
fn sqlite_on_a_full_disk_answers_503_then_recovers() {
    let root = std::env::temp_dir().join(format!("grantd-full-{}", support::unique()));
    let mount = Mount::tmpfs(&root, "8m");
    let env = sqlite_env_in(&mount.dir);
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let mut server = env.start();
    assert_eq!(server.token(&id, &secret, "scope=service").status, 200);
    assert_eq!(ready_status(&server), 200);

    // Fill every free block.
    let filler = mount.dir.join("filler");
    let out = Command::new("dd")
        .args([
            "if=/dev/zero",
            "bs=64k",
            &format!("of={}", filler.display()),
        ])
        .output()
        .expect("run dd");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left"),
        "the tmpfs did not fill up: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Rows keep landing in pages SQLite already holds until one needs a new page: every answer
    // is a token or a 503, and the 503 comes.
    let mut refused = 0;
    for i in 0..400 {
        let resp = server.token(&id, &secret, "scope=service");
        match resp.status {
            200 => {}
            _ => {
                assert_unavailable(&format!("token request {i}"), &resp);
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused, 3, "a full disk never refused a token");
    let ready = server.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);

    std::fs::remove_file(&filler).unwrap();
    assert!(
        readiness_becomes(&server, 200, Duration::from_secs(10)),
        "/readyz did not recover once the disk had room"
    );
    let after = server.token(&id, &secret, "scope=service");
    assert_eq!(after.status, 200, "{}", after.body);
    assert_no_panic(&mut server);
    drop(server);
    drop(mount);
}

#[test]
fn serve_refuses_a_database_it_cannot_write() {
    let root = std::env::temp_dir().join(format!("grantd-rostart-{}", support::unique()));
    let mount = Mount::tmpfs(&root, "16m");
    let env = sqlite_env_in(&mount.dir);
    let migrated = env.cli(&["migrate"]);
    assert!(migrated.status.success());

    // A database whose -wal and -shm were left behind (a crash): SQLite opens it, reads work,
    // writes cannot.
    let mut server = env.start();
    let pid = server.child.id().to_string();
    run("kill", &["-KILL", &pid]);
    let _ = server.child.wait();
    assert!(mount.dir.join("grantd.db-shm").exists());
    mount.remount("ro");
    let (code, stderr) = serve_must_exit(&env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot be written") && stderr.contains("read-only"),
        "{stderr}"
    );
    // A write through the CLI: SQLITE_READONLY is an outage, named as such, not an internal
    // "database error".
    let out = env.cli(&[
        "user",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("database is read-only"), "{stderr}");

    // A cleanly closed database: SQLite cannot even open it without creating -shm.
    mount.remount("rw");
    for leftover in ["grantd.db-wal", "grantd.db-shm"] {
        std::fs::remove_file(mount.dir.join(leftover)).unwrap();
    }
    mount.remount("ro");
    let (code, stderr) = serve_must_exit(&env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the database file"), "{stderr}");
    mount.remount("rw");
}

/// `grantd serve`, which must exit by itself; a server that starts is stopped and fails the
/// test.
fn serve_must_exit(env: &Env) -> (Option<i32>, String) {
    let mut child = env
        .command()
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn grantd serve");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().expect("grantd output");
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("grantd output");
    panic!(
        "grantd serve started on a database it cannot write: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Postgres: the database switched to read-only (as on a replica promoted away, or
/// `default_transaction_read_only`) and its connections terminated (SQLSTATE 57P01): 503s and
/// not ready; switched back, ready again and tokens flow.
#[test]
fn postgres_read_only_database_answers_503_and_readiness_recovers() {
    let env = Env::new(Backend::Postgres);
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let server = env.start();
    let token = server.token(&id, &secret, "scope=service");
    assert_eq!(token.status, 200, "{}", token.body);
    let token = token.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(ready_status(&server), 200);

    let name = env.db.url.rsplit('/').next().unwrap().to_owned();
    set_read_only(&name, true);
    for i in 0..5 {
        assert_unavailable(
            &format!("token request {i}"),
            &server.token(&id, &secret, "scope=service"),
        );
    }
    assert_unavailable("revocation", &revoke(&server, (&id, &secret), &token));
    assert!(
        readiness_becomes(&server, 503, Duration::from_secs(5)),
        "/readyz stayed ready on a read-only database"
    );

    set_read_only(&name, false);
    assert!(
        readiness_becomes(&server, 200, Duration::from_secs(10)),
        "/readyz did not recover"
    );
    let after = server.token(&id, &secret, "scope=service");
    assert_eq!(after.status, 200, "{}", after.body);
}

/// Sets `default_transaction_read_only` on database `name` and ends its connections, so the
/// server's pool reconnects under the new setting.
fn set_read_only(name: &str, on: bool) {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| grantd_store::testing::DEFAULT_TEST_DATABASE_URL.to_owned());
    let value = if on { "on" } else { "off" };
    let sql = format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = {value}; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    );
    run(
        "psql",
        &[&server, "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql],
    );
}

#[test]
fn sqlite_files_are_readable_by_their_owner_only() {
    let mut env = Env::new(Backend::Sqlite);
    let db = env.dir.join("fresh.db");
    env.set(
        "GRANTD_DATABASE__URL",
        &format!("sqlite://{}", db.display()),
    );
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let server = env.start();
    assert_eq!(server.token(&id, &secret, "scope=service").status, 200);
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{path} has mode {mode:o}");
    }
}
