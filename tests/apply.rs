//! Outside-in tests of the declarative state file, on both backends, through the real binary:
//! `apply` → `export` → `apply` is a no-op; `apply --plan` lists exactly the changes (exit 2)
//! and writes nothing; an invalid file writes nothing; a write the database refuses midway
//! rolls the whole file back (one transaction) and audits nothing; `--prune` disables (never
//! deletes); `explain --plan` answers from the file, not the database.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use grantd_store::Backend;
use serde_json::{Value, json};
use support::{BACKENDS, Env};

const STATE: &str = r#"
[[users]]
email = "ada@example.com"
name = "Ada"
roles = ["admin"]

[[clients]]
client_id = "billing-svc"
name = "Billing"
owner = "ada@example.com"
scopes = ["service", "admin"]
quota_per_hour = 100
rate_limit = { per_second = 5 }

[[clients]]
client_id = "reports"
name = "Reports"
owner = "ada@example.com"
scopes = ["service"]
active = false
"#;

/// A `private_key_jwt` client with an inline key (RFC 7515 A.3's P-256 public key) and its
/// registered algorithm.
const KEYED: &str = r#"
[[clients]]
client_id = "signer"
name = "Signer"
owner = "ada@example.com"
scopes = ["service"]
auth_method = "private_key_jwt"
token_endpoint_auth_signing_alg = "ES256"
jwks = { keys = [{ kty = "EC", crv = "P-256", kid = "k1", x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
"#;

fn write(env: &Env, name: &str, text: &str) -> PathBuf {
    let path = env.dir.join(name);
    std::fs::write(&path, text).expect("write state file");
    path
}

fn run(env: &Env, args: &[&str]) -> (Option<i32>, String, String) {
    let out: Output = env.cli(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `apply --json --plan -f FILE`: exit code and the steps.
fn plan(env: &Env, path: &Path) -> (Option<i32>, Vec<Value>) {
    let (code, stdout, stderr) = run(env, &["--json", "apply", "--plan", "-f", path_str(path)]);
    let doc: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (code, doc["changes"].as_array().expect("changes").clone())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Each stored client by id: (active, dpop, quota).
fn clients(env: &Env) -> Vec<(String, bool, String, Value)> {
    let list = env.json(&["client", "list"]);
    let mut out: Vec<_> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["client_id"].as_str().unwrap().to_owned(),
                c["active"].as_bool().unwrap(),
                c["dpop"].as_str().unwrap().to_owned(),
                c["quota"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn apply_export_apply_is_a_no_op_and_plan_lists_exactly_the_changes() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let text = format!("{STATE}{KEYED}");
        let state = write(&env, "state.toml", &text);
        let (code, steps) = plan(&env, &state);
        assert_eq!(code, Some(2), "{backend:?}: a plan with changes exits 2");
        let created: Vec<(&str, &str)> = steps
            .iter()
            .map(|s| (s["kind"].as_str().unwrap(), s["action"].as_str().unwrap()))
            .collect();
        assert_eq!(
            created,
            [
                ("user", "create"),
                ("client", "create"),
                ("client", "create"),
                ("client", "create")
            ]
        );
        assert_eq!(
            steps[3]["changes"]["token_endpoint_auth_signing_alg"]["after"], "ES256",
            "{backend:?}: {steps:?}"
        );
        assert_eq!(
            env.json(&["client", "list"]),
            json!([]),
            "{backend:?}: plan wrote"
        );
        assert_eq!(
            env.json(&["user", "list"]),
            json!([]),
            "{backend:?}: plan wrote"
        );

        let applied = env.json(&["apply", "-f", path_str(&state)]);
        let secrets = applied["secrets"].as_array().expect("secrets");
        assert_eq!(
            secrets.len(),
            2,
            "{backend:?}: each created client's secret, once"
        );
        assert!(
            secrets
                .iter()
                .all(|s| s["client_secret"].as_str().unwrap().len() >= 43)
        );
        let stored = clients(&env);
        assert_eq!(stored[0].0, "billing-svc");
        assert_eq!(stored[0].3, json!({"per_hour": 100, "per_day": null}));
        assert_eq!((stored[1].0.as_str(), stored[1].1), ("reports", false));
        let signer = env.json(&["client", "show", "signer"]);
        assert_eq!(
            signer["keys"],
            json!([{"kid": "k1", "kty": "EC", "alg": null}])
        );
        assert_eq!(signer["token_endpoint_auth_signing_alg"], "ES256");

        let (code, exported, _) = run(&env, &["export"]);
        assert_eq!(code, Some(0));
        for s in secrets {
            assert!(
                !exported.contains(s["client_secret"].as_str().unwrap()),
                "secret exported"
            );
        }
        let exported = write(&env, "exported.toml", &exported);
        assert_eq!(
            plan(&env, &exported),
            (Some(0), vec![]),
            "{backend:?}: export → plan"
        );
        assert_eq!(
            plan(&env, &state),
            (Some(0), vec![]),
            "{backend:?}: apply → plan"
        );

        let changed = text.replace(
            "quota_per_hour = 100",
            "quota_per_hour = 50\ndpop = \"required\"",
        );
        let changed = write(&env, "changed.toml", &changed);
        let (code, steps) = plan(&env, &changed);
        assert_eq!(code, Some(2));
        assert_eq!(steps.len(), 1, "{backend:?}: {steps:?}");
        assert_eq!(
            (steps[0]["key"].as_str(), steps[0]["action"].as_str()),
            (Some("billing-svc"), Some("change"))
        );
        assert_eq!(
            steps[0]["changes"],
            json!({
                "dpop": {"before": "optional", "after": "required"},
                "quota": {"before": {"per_hour": 100, "per_day": null}, "after": {"per_hour": 50, "per_day": null}},
            })
        );
        assert_eq!(clients(&env), stored, "{backend:?}: --plan wrote");
        env.json(&["apply", "-f", path_str(&changed)]);
        assert_eq!(
            plan(&env, &changed),
            (Some(0), vec![]),
            "{backend:?}: converged"
        );
        assert_eq!(clients(&env)[0].2, "required");
        rekey(&env, &changed);
    }
}

/// Another key in the file: the plan lists exactly the `jwks` change, `apply` replaces the
/// key (the registered algorithm stays) and converges.
fn rekey(env: &Env, state: &Path) {
    let text = std::fs::read_to_string(state).unwrap();
    let rekeyed = write(
        env,
        "rekeyed.toml",
        &text.replace("kid = \"k1\"", "kid = \"k2\""),
    );
    let (code, steps) = plan(env, &rekeyed);
    assert_eq!(code, Some(2));
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["key"], "signer");
    let fields: Vec<&String> = steps[0]["changes"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["jwks"], "{steps:?}");
    assert_eq!(
        steps[0]["changes"]["jwks"]["after"]["keys"][0]["kid"], "k2",
        "{steps:?}"
    );
    env.json(&["apply", "-f", path_str(&rekeyed)]);
    assert_eq!(plan(env, &rekeyed), (Some(0), vec![]), "converged");
    let signer = env.json(&["client", "show", "signer"]);
    assert_eq!(signer["keys"][0]["kid"], "k2");
    assert_eq!(signer["token_endpoint_auth_signing_alg"], "ES256");
}

/// `--config CONFIG` and `args`.
fn with_config<'a>(config: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--config", config];
    all.extend_from_slice(args);
    all
}

/// A trusted issuer `k8s` (its keys are never fetched here: no token is verified).
const FEDERATION: &str = r#"
[federation]
allow_http_loopback = true

[[federation.issuers]]
name = "k8s"
issuer = "http://127.0.0.1:9/k8s"
jwks_uri = "http://127.0.0.1:9/jwks"
algorithms = ["ES256"]
"#;

const FEDERATED: &str = r#"
[[users]]
email = "ada@example.com"
name = "Ada"

[[clients]]
client_id = "builder"
name = "Builder"
owner = "ada@example.com"
scopes = ["service"]
auth_method = "federated"

[[clients.federated_credentials]]
issuer = "k8s"
subject = "system:serviceaccount:ci:builder"
claims = { "kubernetes.io" = { namespace = "ci" } }

[[clients.federated_credentials]]
issuer = "k8s"
subject = "system:serviceaccount:ci:deployer"
"#;

/// A federated client's credentials: created with the client, exported, converged (a
/// changed claim is one removal and one addition; a credential the file drops is removed),
/// and a credential the configuration cannot check (unknown issuer) writes nothing.
#[test]
fn federated_credentials_round_trip() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let config = env.dir.join("grantd.toml");
        std::fs::write(&config, FEDERATION).unwrap();
        let config = path_str(&config).to_owned();
        let state = write(&env, "fed.toml", FEDERATED);
        env.json(&with_config(&config, &["apply", "-f", path_str(&state)]));
        let list = with_config(&config, &["client", "federate", "list", "builder"]);
        let creds = env.json(&list);
        assert_eq!(creds.as_array().unwrap().len(), 2, "{backend:?}: {creds}");
        assert_eq!(
            creds[0]["claims"],
            json!({"kubernetes.io": {"namespace": "ci"}})
        );

        let (code, exported, stderr) = run(&env, &with_config(&config, &["export"]));
        assert_eq!(code, Some(0), "{stderr}");
        assert!(exported.contains("federated_credentials"), "{exported}");
        let exported = write(&env, "exported.toml", &exported);
        let plan_of = |p: &Path| {
            let (code, out, err) = run(
                &env,
                &with_config(&config, &["--json", "apply", "--plan", "-f", path_str(p)]),
            );
            let doc: Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
            (code, doc["changes"].as_array().unwrap().clone())
        };
        assert_eq!(
            plan_of(&exported),
            (Some(0), vec![]),
            "{backend:?}: export → plan"
        );

        let changed = FEDERATED
            .replace("namespace = \"ci\"", "namespace = \"prod\"")
            .replace(
                "subject = \"system:serviceaccount:ci:deployer\"\n",
                "subject = \"system:serviceaccount:ci:other\"\n",
            );
        let changed = write(&env, "changed.toml", &changed);
        let (code, steps) = plan_of(&changed);
        assert_eq!(code, Some(2));
        assert_eq!(steps.len(), 1, "{backend:?}: {steps:?}");
        let fields: Vec<&String> = steps[0]["changes"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["federated_credentials"], "{steps:?}");
        env.json(&with_config(&config, &["apply", "-f", path_str(&changed)]));
        assert_eq!(
            plan_of(&changed),
            (Some(0), vec![]),
            "{backend:?}: converged"
        );
        let creds = env.json(&list);
        let subjects: Vec<&str> = creds
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["subject"].as_str().unwrap())
            .collect();
        assert_eq!(
            subjects,
            [
                "system:serviceaccount:ci:builder",
                "system:serviceaccount:ci:other"
            ]
        );
        assert_eq!(creds[0]["claims"]["kubernetes.io"]["namespace"], "prod");

        let unknown = FEDERATED.replace(
            "issuer = \"k8s\"\nsubject = \"system:serviceaccount:ci:deployer\"",
            "issuer = \"nope\"\nsubject = \"x\"",
        );
        let unknown = write(&env, "unknown.toml", &unknown);
        let (code, _, stderr) = run(
            &env,
            &with_config(&config, &["apply", "-f", path_str(&unknown)]),
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("unknown issuer"), "{stderr}");
        assert_eq!(env.json(&list), creds, "{backend:?}: nothing written");
    }
}

#[test]
fn an_invalid_file_changes_nothing() {
    let bad = [
        (
            "scopes = [\"service\"]\nactive",
            "scopes = [\"service\", \"nope\"]\nactive",
            "unknown scope",
        ),
        (
            "client_id = \"reports\"",
            "client_id = \"billing-svc\"",
            "duplicate client",
        ),
        (
            "client_id = \"reports\"",
            "client_id = \"has space\"",
            "client id",
        ),
        (
            "owner = \"ada@example.com\"\nscopes = [\"service\"]",
            "owner = \"bob@example.com\"\nscopes = [\"service\"]",
            "unknown owner",
        ),
        (
            "roles = [\"admin\"]",
            "roles = [\"admin\"]\ncolour = \"red\"",
            "unknown field",
        ),
        ("roles = [\"admin\"]", "roles = [\"service\"]", "delegated"),
        (
            "active = false",
            "active = false\nauth_method = \"private_key_jwt\"",
            "private_key_jwt client needs",
        ),
        (
            "active = false",
            "active = false\nauth_method = \"private_key_jwt\"\njwks = { keys = [{ kty = \"oct\", k = \"c2VjcmV0\" }] }",
            "symmetric",
        ),
    ];
    for backend in BACKENDS {
        let env = Env::new(backend);
        for (from, to, expect) in bad {
            let text = STATE.replacen(from, to, 1);
            assert_ne!(text, STATE, "{expect}: the test's edit must apply");
            let path = write(&env, "bad.toml", &text);
            for args in [
                vec!["apply", "-f", path_str(&path)],
                vec!["apply", "--plan", "-f", path_str(&path)],
            ] {
                let (code, _, stderr) = run(&env, &args);
                assert_eq!(code, Some(1), "{backend:?} {expect}: {stderr}");
                assert!(
                    stderr.contains(expect),
                    "{backend:?}: {expect:?} not in {stderr}"
                );
                assert!(!stderr.contains("panicked"), "{stderr}");
                assert!(!stderr.contains("c2VjcmV0"), "key material in {stderr}");
            }
            assert_eq!(
                env.json(&["user", "list"]),
                json!([]),
                "{backend:?} {expect}: wrote users"
            );
            assert_eq!(
                env.json(&["client", "list"]),
                json!([]),
                "{backend:?} {expect}: wrote clients"
            );
        }
    }
}

/// Runs `sql` on the test's database: psql on Postgres, Python's sqlite3 module on SQLite.
fn sql(env: &Env, sql: &str) {
    let out = match env.db.backend() {
        Backend::Postgres => std::process::Command::new("psql")
            .args([env.db.url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql (this test needs it)"),
        Backend::Sqlite => std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
                grantd_store::sqlite_path(&env.db.url).expect("a SQLite URL"),
                sql,
            ])
            .output()
            .expect("python3 (this test needs it)"),
    };
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A trigger that makes the database refuse to insert the client "reports": the third write
/// of `STATE` (user ada, client billing-svc, then reports), after two that succeeded.
fn refuse_third_write(env: &Env) {
    match env.db.backend() {
        Backend::Postgres => sql(
            env,
            "CREATE FUNCTION refuse_reports() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_reports BEFORE INSERT ON clients FOR EACH ROW \
             WHEN (NEW.id = 'reports') EXECUTE FUNCTION refuse_reports();",
        ),
        Backend::Sqlite => sql(
            env,
            "CREATE TRIGGER refuse_reports BEFORE INSERT ON clients WHEN NEW.id = 'reports' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        ),
    }
}

#[test]
fn a_write_refused_midway_rolls_the_whole_file_back() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        let audit = env.dir.join("audit.jsonl");
        env.set("GRANTD_AUDIT__FILE", audit.to_str().unwrap());
        let state = write(&env, "state.toml", STATE);
        refuse_third_write(&env);
        let (code, stdout, stderr) = run(&env, &["apply", "-f", path_str(&state)]);
        assert_eq!(code, Some(1), "{backend:?}: {stdout} {stderr}");
        assert!(stderr.contains("rolled back"), "{backend:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !stdout.contains("client_secret"),
            "{backend:?}: a rolled-back client's secret was shown: {stdout}"
        );
        assert_eq!(env.json(&["user", "list"]), json!([]), "{backend:?}: users");
        assert_eq!(env.json(&["client", "list"]), json!([]), "{backend:?}");
        let events = std::fs::read_to_string(&audit).unwrap_or_default();
        assert!(
            !events.contains("user.create") && !events.contains("client.create"),
            "{backend:?}: audited changes that were rolled back: {events}"
        );
        // Without the refusal the same file applies whole, and is audited.
        let drop = match env.db.backend() {
            Backend::Postgres => "DROP TRIGGER refuse_reports ON clients;",
            Backend::Sqlite => "DROP TRIGGER refuse_reports;",
        };
        sql(&env, drop);
        let (code, _, stderr) = run(&env, &["apply", "-f", path_str(&state)]);
        assert_eq!(code, Some(0), "{backend:?}: {stderr}");
        let names: Vec<String> = clients(&env).into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["billing-svc", "reports"], "{backend:?}");
        let events = std::fs::read_to_string(&audit).unwrap();
        assert_eq!(events.matches("client.create").count(), 2, "{backend:?}");
    }
}

#[test]
fn prune_disables_what_the_file_does_not_list() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (uid, cid, _) = env.user_and_client(&[], "service", "client_secret_basic");
        let state = write(&env, "state.toml", STATE);
        env.json(&["apply", "-f", path_str(&state)]);
        assert!(
            env.json(&["client", "show", &cid])["active"]
                .as_bool()
                .unwrap(),
            "no --prune: kept"
        );

        let (code, _, _) = run(&env, &["apply", "--plan", "-f", path_str(&state)]);
        assert_eq!(code, Some(0), "{backend:?}: without --prune nothing to do");
        let (code, steps) = {
            let (code, stdout, _) = run(
                &env,
                &[
                    "--json",
                    "apply",
                    "--plan",
                    "--prune",
                    "-f",
                    path_str(&state),
                ],
            );
            (
                code,
                serde_json::from_str::<Value>(&stdout).unwrap()["changes"].clone(),
            )
        };
        assert_eq!(code, Some(2));
        let disabled: Vec<&str> = steps
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap())
            .collect();
        assert_eq!(disabled.len(), 2, "{steps}");
        assert!(disabled.contains(&cid.as_str()), "{steps}");
        assert!(
            steps
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["action"] == "disable")
        );

        env.json(&["apply", "--prune", "-f", path_str(&state)]);
        assert!(
            !env.json(&["client", "show", &cid])["active"]
                .as_bool()
                .unwrap()
        );
        assert!(
            !env.json(&["user", "show", &uid])["active"]
                .as_bool()
                .unwrap()
        );
        assert_eq!(clients(&env).len(), 3, "{backend:?}: disabled, not deleted");
        let (code, _, _) = run(
            &env,
            &["apply", "--plan", "--prune", "-f", path_str(&state)],
        );
        assert_eq!(code, Some(0), "{backend:?}: converged");
    }
}

#[test]
fn explain_plan_answers_from_the_file() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let state = write(&env, "state.toml", STATE);
        let granted = |args: &[&str]| env.json(args)["outcome"]["granted"].as_bool().unwrap();
        // Not applied yet: the database knows no such client, the plan does.
        let now = ["explain", "--client", "billing-svc", "--scope", "admin"];
        assert!(!granted(&now), "{backend:?}: no client yet");
        let planned = [
            "explain",
            "--plan",
            path_str(&state),
            "--client",
            "billing-svc",
            "--scope",
            "admin",
        ];
        assert!(
            granted(&planned),
            "{backend:?}: the planned client gets admin"
        );

        env.json(&["apply", "-f", path_str(&state)]);
        assert!(granted(&now));
        // The owner loses the delegated role in the file: the plan refuses, the database not.
        let without_role = write(
            &env,
            "norole.toml",
            &STATE.replacen("roles = [\"admin\"]", "roles = []", 1),
        );
        let planned = [
            "explain",
            "--plan",
            path_str(&without_role),
            "--client",
            "billing-svc",
            "--scope",
            "admin",
        ];
        let e = env.json(&planned);
        assert_eq!(e["outcome"]["granted"], false, "{backend:?}: {e}");
        assert_eq!(e["scopes"][0]["held_by_owner"], false);
        assert!(granted(&now), "{backend:?}: explain --plan wrote nothing");
        // A planned quota is what the plan explains.
        let e = env.json(&[
            "explain",
            "--plan",
            path_str(&state),
            "--client",
            "billing-svc",
        ]);
        assert_eq!(e["quota_usage"][0]["limit"], 100, "{e}");
    }
}

/// Changed names, scopes, owners and roles converge through the update use cases (one write
/// per changed entry, no new secret); the plan lists exactly those fields; a change one use
/// case would refuse (an auth method switch to `private_key_jwt`) fails the whole file before
/// its first write.
#[test]
fn changed_fields_converge_and_a_refused_change_writes_nothing() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        env.json(&["apply", "-f", path_str(&write(&env, "state.toml", STATE))]);
        let changed = STATE
            .replacen("roles = [\"admin\"]", "roles = [\"admin\", \"user\"]", 1)
            .replacen("name = \"Billing\"", "name = \"Billing v2\"", 1)
            .replacen(
                "scopes = [\"service\", \"admin\"]",
                "scopes = [\"service\"]",
                1,
            )
            .replacen(
                "owner = \"ada@example.com\"\nscopes = [\"service\"]\nactive",
                "owner = \"bob@example.com\"\nscopes = [\"service\"]\nactive",
                1,
            )
            + "\n[[users]]\nemail = \"bob@example.com\"\nname = \"Bob\"\n";
        let changed = write(&env, "changed.toml", &changed);
        let (code, steps) = plan(&env, &changed);
        assert_eq!(code, Some(2));
        let got: Vec<(&str, &str, Vec<&String>)> = steps
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap(),
                    s["action"].as_str().unwrap(),
                    s["changes"].as_object().unwrap().keys().collect(),
                )
            })
            .collect();
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (roles, billing, owner) = (
            keys(&["roles"]),
            keys(&["name", "scopes"]),
            keys(&["owner"]),
        );
        let bob = keys(&["active", "name", "roles"]);
        assert_eq!(
            got,
            [
                ("ada@example.com", "change", roles.iter().collect()),
                ("bob@example.com", "create", bob.iter().collect()),
                ("billing-svc", "change", billing.iter().collect()),
                ("reports", "change", owner.iter().collect()),
            ],
            "{backend:?}: {steps:?}"
        );
        let applied = env.json(&["apply", "-f", path_str(&changed)]);
        assert_eq!(applied["secrets"], json!([]), "{backend:?}: no new secret");
        assert_eq!(
            plan(&env, &changed),
            (Some(0), vec![]),
            "{backend:?}: converged"
        );
        let billing = env.json(&["client", "show", "billing-svc"]);
        assert_eq!(
            (billing["name"].as_str(), &billing["scopes"]),
            (Some("Billing v2"), &json!(["service"]))
        );

        let switch = std::fs::read_to_string(&changed).unwrap().replacen(
            "name = \"Billing v2\"",
            "name = \"Billing v3\"\nauth_method = \"private_key_jwt\"",
            1,
        );
        let switch = write(&env, "switch.toml", &switch);
        let (code, _, stderr) = run(&env, &["apply", "-f", path_str(&switch)]);
        assert_eq!(code, Some(1), "{backend:?}: {stderr}");
        assert!(stderr.contains("create a new client"), "{stderr}");
        assert_eq!(
            env.json(&["client", "show", "billing-svc"])["name"],
            "Billing v2",
            "{backend:?}: nothing written"
        );
    }
}

/// `export --format yaml` → `apply -f state.yaml` is a no-op; an edit of the YAML file
/// converges like a TOML one; unknown YAML keys are refused.
#[test]
fn yaml_state_files_round_trip() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        env.json(&["apply", "-f", path_str(&write(&env, "state.toml", STATE))]);
        let (code, yaml, stderr) = run(&env, &["export", "--format", "yaml"]);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(yaml.contains("client_id: billing-svc"), "{yaml}");
        let exported = write(&env, "state.yaml", &yaml);
        assert_eq!(
            plan(&env, &exported),
            (Some(0), vec![]),
            "{backend:?}: {yaml}"
        );

        let edited = yaml.replacen("name: Billing\n", "name: Billing YAML\n", 1);
        assert_ne!(edited, yaml, "the test's edit must apply: {yaml}");
        let edited = write(&env, "edited.yml", &edited);
        let (code, steps) = plan(&env, &edited);
        assert_eq!((code, steps.len()), (Some(2), 1), "{steps:?}");
        env.json(&["apply", "-f", path_str(&edited)]);
        assert_eq!(
            env.json(&["client", "show", "billing-svc"])["name"],
            "Billing YAML"
        );
        assert_eq!(plan(&env, &edited), (Some(0), vec![]));

        let bad = write(&env, "bad.yaml", &format!("{yaml}colour: red\n"));
        let (code, _, stderr) = run(&env, &["apply", "--plan", "-f", path_str(&bad)]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("invalid state file"), "{stderr}");
    }
}

/// `client update` and `user update` change names, scopes, owners and roles through the same
/// use cases, with the same refusals.
#[test]
fn cli_update_flags_change_clients_and_users() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        env.json(&["apply", "-f", path_str(&write(&env, "state.toml", STATE))]);
        let ada = env.json(&["user", "list"])[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let bob = env.json(&[
            "user",
            "create",
            "--name",
            "Bob",
            "--email",
            "bob@example.com",
        ]);
        let bob = bob["id"].as_str().unwrap().to_owned();
        let c = env.json(&[
            "client",
            "update",
            "billing-svc",
            "--name",
            "Renamed",
            "--owner",
            &bob,
            "--scope",
            "service mcp",
            "--auth-method",
            "client_secret_post",
        ]);
        assert_eq!(c["name"], "Renamed");
        assert_eq!(c["owner"], bob.as_str());
        assert_eq!(c["scopes"], json!(["service", "mcp"]));
        assert_eq!(c["auth_method"], "client_secret_post");
        let (code, _, stderr) = run(
            &env,
            &[
                "client",
                "update",
                "billing-svc",
                "--auth-method",
                "private_key_jwt",
            ],
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("create a new client"), "{stderr}");
        let (code, _, stderr) = run(&env, &["client", "update", "billing-svc"]);
        assert!(
            code == Some(1) && stderr.contains("nothing to update"),
            "{stderr}"
        );

        let u = env.json(&["user", "update", &ada, "--name", "Ada L.", "--role", "user"]);
        assert_eq!(
            (u["name"].as_str(), &u["roles"]),
            (Some("Ada L."), &json!(["user"]))
        );
        let (code, _, stderr) = run(&env, &["user", "update", &ada, "--role", "service"]);
        assert!(code == Some(1) && stderr.contains("delegated"), "{stderr}");
        let u = env.json(&["user", "update", &ada, "--no-roles"]);
        assert_eq!(u["roles"], json!([]), "{backend:?}");
    }
}
