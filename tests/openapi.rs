//! The OpenAPI document of the public endpoints, outside-in: the real binary serves at
//! `/openapi.json` exactly the checked-in `docs/openapi.json`, and `schemathesis` (PyPI, pinned,
//! installed into a virtualenv under the target folder on first use) finds no server error, no
//! undocumented status, content type or body in a bounded run against it with real client
//! credentials. A missing Python, a failed install or any schemathesis finding fails the test.
//!
//! `GRANTD_UPDATE_OPENAPI=1` rewrites `docs/openapi.json` from the served document instead of
//! comparing (`just openapi`). The admin API's document (`/admin/v1/openapi.json` on the admin
//! listener) gets the same schemathesis run with a bootstrap client's admin token.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use support::{Backend, Env, basic_header};

/// The schemathesis release the suite runs (bump deliberately: a new release may check more).
const SCHEMATHESIS: &str = "4.32.5";

/// Test cases per operation: enough to reach every error path of the form parser and the
/// authentication, small enough for the run to take well under a minute.
const MAX_EXAMPLES: &str = "40";

/// A fixed seed, so a finding reproduces and the suite is not flaky; set
/// `GRANTD_SCHEMATHESIS_SEED` to explore other inputs.
const DEFAULT_SEED: &str = "20261201";

fn checked_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn the_served_document_is_the_generated_and_checked_in_one() {
    let env = Env::new(Backend::Sqlite);
    let server = env.start();
    let resp = server.get("/openapi.json");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.body,
        grantd_api::openapi_document(),
        "served ≠ generated"
    );
    let post = server.post_form("/openapi.json", None, "");
    assert_eq!((post.status, post.header("allow")), (405, Some("GET")));
    if std::env::var_os("GRANTD_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(checked_in(), &resp.body).expect("write docs/openapi.json");
        return;
    }
    let file = std::fs::read_to_string(checked_in()).expect("read docs/openapi.json");
    assert!(
        file == resp.body,
        "docs/openapi.json differs from the document the server serves: run `just openapi` \
         (GRANTD_UPDATE_OPENAPI=1 cargo test -p grantd --test openapi) and commit the file"
    );
}

/// A command running schemathesis [`SCHEMATHESIS`], installed from PyPI under the target folder
/// on first use (see [`support::interop::pip_packages`]). Panics when that fails.
fn schemathesis() -> Command {
    support::interop::pip_packages("schemathesis", &[("schemathesis", SCHEMATHESIS)]).bin("st")
}

fn run_schemathesis(backend: Backend) {
    let env = Env::new(backend);
    // A client holding a service scope, so authenticated requests can succeed too.
    let (_, id, secret) = env.user_and_client(&["admin"], "service", "client_secret_basic");
    let server = env.start();
    let url = format!("{}/openapi.json", server.base);
    let auth = format!("Authorization: {}", basic_header(&id, &secret));
    schemathesis_run(&env, backend, &url, &auth);
}

/// The admin API's own document on the admin listener, with a bootstrap client's admin token
/// holding every admin scope, so the operations can succeed (and change state) too.
fn run_schemathesis_admin(backend: Backend) {
    let env = Env::new(backend);
    let admin = env.json(&["admin", "bootstrap"]);
    let server = env.start();
    let (id, secret) = (
        admin["client_id"].as_str().unwrap(),
        admin["client_secret"].as_str().unwrap(),
    );
    let scope = admin["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("%20");
    let resp = server.token(id, secret, &format!("audience=grantd-admin&scope={scope}"));
    assert_eq!(resp.status, 200, "{}", resp.body);
    let token = resp.json()["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/admin/v1/openapi.json", server.admin);
    schemathesis_run(
        &env,
        backend,
        &url,
        &format!("Authorization: Bearer {token}"),
    );
}

fn schemathesis_run(env: &Env, backend: Backend, url: &str, auth: &str) {
    let seed = std::env::var("GRANTD_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let started = Instant::now();
    let out = schemathesis()
        .arg("run")
        .arg(url)
        .args([
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,\
             content_type_conformance",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            &seed,
            "--workers",
            "1",
            "--request-timeout",
            "10",
        ])
        .arg("--header")
        .arg(auth)
        // Its example database and reports go to the scratch folder, not the source tree.
        .current_dir(&env.dir)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "schemathesis {SCHEMATHESIS} on {url} ({backend:?}), {:.1} s:\n{stdout}{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found a defect in {url} on {backend:?} (seed {seed}); see its output above"
    );
}

#[test]
fn schemathesis_finds_no_defect_on_sqlite() {
    run_schemathesis(Backend::Sqlite);
}

#[test]
fn schemathesis_finds_no_defect_on_postgres() {
    run_schemathesis(Backend::Postgres);
}

#[test]
fn schemathesis_finds_no_defect_in_the_admin_api_on_sqlite() {
    run_schemathesis_admin(Backend::Sqlite);
}

#[test]
fn schemathesis_finds_no_defect_in_the_admin_api_on_postgres() {
    run_schemathesis_admin(Backend::Postgres);
}
