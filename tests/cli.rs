//! Black-box tests of the admin CLI over a fresh SQLite file and a fresh Postgres database:
//! the command set, `--json` shapes, exit codes, and its effect on the running token endpoint.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BACKENDS, Backend, Env};

/// Polls `f` until it returns true or `bound` passes; returns how long it took.
fn within(bound: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > bound {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn create_get_token_disable_enable_on_both_backends() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_CACHE__TTL", "1s");
        let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        assert_eq!(
            server.token(&client_id, &secret, "").status,
            200,
            "{backend:?}"
        );

        let disabled = env.json(&["client", "disable", &client_id]);
        assert_eq!(disabled["active"], false);
        // The server sees the change within the cache's staleness bound (1 s here).
        let took = within(Duration::from_secs(3), || {
            server.token(&client_id, &secret, "").status == 401
        });
        assert!(
            took.is_some(),
            "{backend:?}: a disabled client still gets tokens after the bound"
        );
        let resp = server.token(&client_id, &secret, "");
        assert_eq!(resp.json()["error"], "invalid_client");

        env.json(&["client", "enable", &client_id]);
        assert!(
            within(Duration::from_secs(3), || server
                .token(&client_id, &secret, "")
                .status
                == 200)
            .is_some(),
            "{backend:?}"
        );

        // Deactivating the owner stops the client too.
        let owner = env.json(&["client", "show", &client_id])["owner"]
            .as_str()
            .expect("owner")
            .to_owned();
        env.json(&["user", "deactivate", &owner]);
        assert!(
            within(Duration::from_secs(3), || server
                .token(&client_id, &secret, "")
                .status
                == 401)
            .is_some(),
            "{backend:?}"
        );
    }
}

#[test]
fn rotate_secret_with_grace_on_both_backends() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_CACHE__TTL", "1s");
        let (_, client_id, old) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        let rotated = env.json(&["client", "rotate-secret", &client_id, "--grace", "4"]);
        assert_eq!(
            keys(&rotated),
            sorted(&["client_id", "client_secret", "previous_valid_until"])
        );
        let new = rotated["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        assert_ne!(new, old);
        // Both work during the grace period (the new one as soon as the cache lets it through).
        assert!(
            within(Duration::from_secs(3), || server
                .token(&client_id, &new, "")
                .status
                == 200)
            .is_some(),
            "{backend:?}"
        );
        assert_eq!(
            server.token(&client_id, &old, "").status,
            200,
            "{backend:?}: old secret during grace"
        );
        // After it, only the new one.
        assert!(
            within(Duration::from_secs(8), || server
                .token(&client_id, &old, "")
                .status
                == 401)
            .is_some(),
            "{backend:?}: old secret still accepted after its grace"
        );
        assert_eq!(server.token(&client_id, &new, "").status, 200);

        // Grace 0: the old secret stops at once (for the server: within the cache bound).
        let again = env.json(&["client", "rotate-secret", &client_id]);
        let newest = again["client_secret"].as_str().expect("secret").to_owned();
        assert!(
            within(Duration::from_secs(3), || server
                .token(&client_id, &new, "")
                .status
                == 401)
            .is_some()
        );
        assert_eq!(server.token(&client_id, &newest, "").status, 200);
    }
}

#[test]
fn json_shapes() {
    let env = Env::new(Backend::Sqlite);
    let migrate = env.json(&["migrate"]);
    assert!(migrate["applied"].is_array(), "{migrate}");

    let user = env.json(&[
        "user",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        "--role",
        "admin",
        "--role",
        "user",
    ]);
    assert_eq!(
        keys(&user),
        sorted(&["id", "name", "email", "roles", "active"])
    );
    assert_eq!(user["active"], true);
    assert_eq!(user["roles"], serde_json::json!(["admin", "user"]));
    let uid = user["id"].as_str().expect("id");
    assert_eq!(env.json(&["user", "show", uid])["email"], "ada@example.com");
    assert_eq!(
        env.json(&["user", "list"]).as_array().map(Vec::len),
        Some(1)
    );

    let client = env.json(&[
        "client",
        "create",
        "--name",
        "svc",
        "--owner",
        uid,
        "--scope",
        "service mcp",
        "--scope",
        "admin",
    ]);
    assert_eq!(
        keys(&client),
        sorted(&[
            "client_id",
            "client_secret",
            "name",
            "owner",
            "scopes",
            "auth_method",
            "dpop",
            "rate_limit",
            "quota",
            "warnings",
            "keys",
            "jwks_uri",
            "token_endpoint_auth_signing_alg"
        ])
    );
    assert_eq!(client["keys"], serde_json::json!([]));
    assert_eq!(client["jwks_uri"], serde_json::Value::Null);
    assert_eq!(
        client["token_endpoint_auth_signing_alg"],
        serde_json::Value::Null
    );
    assert_eq!(client["rate_limit"], serde_json::Value::Null);
    assert_eq!(
        client["quota"],
        serde_json::json!({"per_hour": null, "per_day": null})
    );
    assert_eq!(client["auth_method"], "client_secret_basic");
    assert_eq!(client["dpop"], "optional");
    assert_eq!(client["owner"], uid);
    let secret = client["client_secret"].as_str().expect("secret");
    assert!(secret.len() >= 43, "256-bit secret");

    let listed = env.cli(&["--json", "client", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        !text.contains(secret) && !text.contains("hmac") && !text.contains("argon2"),
        "secrets or hashes listed: {text}"
    );
    let shown = env.cli(&["client", "show", client["client_id"].as_str().expect("id")]);
    assert!(!String::from_utf8_lossy(&shown.stdout).contains(secret));

    let keys_doc = env.json(&["key", "list"]);
    let states: Vec<&str> = keys_doc
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["state"].as_str().expect("state"))
        .collect();
    assert!(
        states.contains(&"active") && states.contains(&"next"),
        "{keys_doc}"
    );
    for k in keys_doc.as_array().expect("array") {
        assert_eq!(keys(k), sorted(&["kid", "alg", "state", "created"]));
    }
    let rotated = env.json(&["key", "rotate"]);
    assert!(rotated["active"].is_string());

    assert_eq!(env.json(&["session", "list"]), serde_json::json!([]));
    assert_eq!(
        env.json(&["session", "purge"]),
        serde_json::json!({ "deleted": 0 })
    );

    let explain = env.json(&[
        "explain",
        "--client",
        client["client_id"].as_str().expect("id"),
        "--scope",
        "admin service",
    ]);
    assert_eq!(explain["outcome"]["granted"], true);
    assert_eq!(explain["outcome"]["scope"], "admin service");
    let rows = explain["scopes"].as_array().expect("scopes");
    assert_eq!(rows.len(), 2);
    for r in rows {
        for k in [
            "tier",
            "level",
            "in_client_grant",
            "held_by_owner",
            "verdict",
        ] {
            assert!(r.get(k).is_some(), "explain row lacks {k}: {r}");
        }
    }
}

#[test]
fn explain_agrees_with_the_token_endpoint() {
    let env = Env::new(Backend::Sqlite);
    let (_, client_id, secret) =
        env.user_and_client(&["user"], "service admin hook:track", "client_secret_basic");
    let server = env.start();
    for (scope, audience) in [
        ("service", None),
        ("admin", None),
        ("admin service", None),
        ("hook:track", None),
        ("hook:track", Some("hook")),
        ("nope", None),
        ("service", Some("web")),
    ] {
        let mut args = vec!["explain", "--client", &client_id, "--scope", scope];
        if let Some(a) = audience {
            args.extend(["--audience", a]);
        }
        let e = env.json(&args);
        let mut extra = format!("scope={}", support::form_encode(scope));
        if let Some(a) = audience {
            extra.push_str(&format!("&audience={a}"));
        }
        let resp = server.token(&client_id, &secret, &extra);
        if e["outcome"]["granted"] == true {
            assert_eq!(resp.status, 200, "{scope}: {}", resp.body);
            assert_eq!(resp.json()["scope"], e["outcome"]["scope"], "{scope}");
        } else {
            assert_eq!(resp.json()["error"], e["outcome"]["error"], "{scope}");
            assert_eq!(
                resp.json()["error_description"],
                e["outcome"]["error_description"],
                "{scope}"
            );
        }
    }
}

#[test]
fn refusals_exit_1_with_one_line_and_leave_nothing_behind() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let user = env.json(&[
            "user",
            "create",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
        ]);
        let uid = user["id"].as_str().expect("id").to_owned();
        let cases: Vec<Vec<&str>> = vec![
            vec![
                "user",
                "create",
                "--name",
                "Bob",
                "--email",
                "ada@example.com",
            ],
            vec![
                "user",
                "create",
                "--name",
                "Bob",
                "--email",
                "bob@example.com",
                "--role",
                "service",
            ],
            vec!["user", "create", "--name", "Bob", "--email", "not-an-email"],
            vec![
                "client",
                "create",
                "--name",
                "svc",
                "--owner",
                "00000000-0000-4000-8000-000000000000",
                "--scope",
                "service",
            ],
            vec![
                "client",
                "create",
                "--name",
                "svc",
                "--owner",
                &uid,
                "--scope",
                "service frobnicate",
            ],
            vec![
                "client",
                "create",
                "--name",
                "svc",
                "--owner",
                "not-a-uuid",
                "--scope",
                "service",
            ],
            vec!["user", "show", "00000000-0000-4000-8000-000000000000"],
            vec!["client", "disable", "nobody"],
            vec!["session", "purge", "--before", "yesterday"],
        ];
        for args in cases {
            let out = env.cli(&args);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{backend:?} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{args:?}: one line, got {err:?}"
            );
            assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        }
        assert_eq!(
            env.json(&["user", "list"]).as_array().map(Vec::len),
            Some(1),
            "{backend:?}"
        );
        assert_eq!(
            env.json(&["client", "list"]),
            serde_json::json!([]),
            "{backend:?}"
        );

        // Usage errors exit 2.
        let out = env.cli(&["user", "create", "--name", "NoEmail"]);
        assert_eq!(out.status.code(), Some(2));
        let out = env.cli(&[
            "client",
            "create",
            "--name",
            "svc",
            "--owner",
            &uid,
            "--scope",
            "service",
            "--auth-method",
            "none",
        ]);
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn operator_supplied_secrets_from_stdin() {
    let env = Env::new(Backend::Sqlite);
    let user = env.json(&[
        "user",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
    ]);
    let uid = user["id"].as_str().expect("id");
    let supplied = "migr+ated%secret:with sp@ce";
    let out = env.cli_stdin(
        &[
            "--json",
            "client",
            "create",
            "--name",
            "legacy",
            "--owner",
            uid,
            "--scope",
            "service",
            "--secret-stdin",
        ],
        &format!("{supplied}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let client_id = created["client_id"].as_str().expect("id").to_owned();
    let server = env.start();
    assert_eq!(server.token(&client_id, supplied, "").status, 200);
    assert_eq!(
        server
            .token(&client_id, "migr+ated%secret:with sp@cE", "")
            .status,
        401
    );

    let out = env.cli_stdin(
        &[
            "client",
            "create",
            "--name",
            "short",
            "--owner",
            uid,
            "--scope",
            "service",
            "--secret-stdin",
        ],
        "tooshort\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("tooshort"),
        "the secret is never echoed"
    );
}

#[test]
fn session_count_and_benchmark_seeding_on_both_backends() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        assert_eq!(
            env.json(&["session", "count"]),
            serde_json::json!({ "count": 0 }),
            "{backend:?}"
        );
        assert_eq!(
            env.json(&["session", "seed", "--count", "2500", "--client", &client_id]),
            serde_json::json!({ "seeded": 2500 })
        );
        let server = env.start();
        assert_eq!(server.token(&client_id, &secret, "").status, 200);
        assert_eq!(
            env.json(&["session", "count"]),
            serde_json::json!({ "count": 2501 }),
            "{backend:?}"
        );
        // Seeded rows are well-formed sessions: listing parses them.
        let rows = env.json(&["session", "list", "--client", &client_id, "--limit", "3000"]);
        assert_eq!(rows.as_array().map(Vec::len), Some(2501), "{backend:?}");
    }
}

/// Writes session rows straight into the database, for histories the token endpoint cannot
/// make (rows that expired days ago). `rows` are (created, expires) in seconds from now.
fn insert_sessions(env: &Env, client_id: &str, user_id: &str, rows: &[(i64, i64)]) -> Vec<String> {
    use grantd_domain::{
        ClientId, Jti, NewSession, RequestContext, SessionId, SessionSource, Timestamp, UserId,
    };
    use grantd_store::{SessionStore, Store, StoreOptions};
    let now = Timestamp::from_micros(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_micros(),
        )
        .expect("micros"),
    );
    let rt = support::runtime();
    let (store, ids) = rt.block_on(async {
        let store = Store::connect(&env.db.url, StoreOptions::default())
            .await
            .expect("connect");
        let mut ids = Vec::new();
        for (i, (created, expires)) in rows.iter().enumerate() {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(now.as_micros() as u64).to_be_bytes());
            bytes[15] = i as u8;
            let id = SessionId::from_bytes(bytes);
            let s = NewSession {
                id: id.clone(),
                user_id: UserId::parse(user_id).expect("user id"),
                client_id: ClientId::parse(client_id).expect("client id"),
                source: SessionSource::Oauth,
                jti: Jti::parse(&format!("aged-{}", support::unique())).expect("jti"),
                context: RequestContext::default(),
                created_at: now.plus_secs(*created),
                expires_at: now.plus_secs(*expires),
                dpop: None,
                assertion_key: None,
                auth: None,
            };
            store.insert_session(&s).await.expect("insert");
            ids.push(id.into_string());
        }
        (store, ids)
    });
    drop(store);
    ids
}

fn listed_ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

const DAY: i64 = 86_400;

#[test]
fn session_purge_keeps_the_configured_retention_on_both_backends() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        let (uid, client_id, _) = env.user_and_client(&[], "service", "client_secret_basic");
        let ids = insert_sessions(
            &env,
            &client_id,
            &uid,
            &[
                (-DAY - 3600, -DAY),         // expired a day ago: kept (retention 7 days)
                (-8 * DAY - 3600, -8 * DAY), // expired 8 days ago: past retention
                (-60, 3600),                 // live
            ],
        );
        let (a_day, eight_days, live) = (&ids[0], &ids[1], &ids[2]);

        // Default retention (7 days).
        assert_eq!(
            env.json(&["session", "purge"]),
            serde_json::json!({ "deleted": 1 }),
            "{backend:?}"
        );
        let mut left = listed_ids(&env.json(&["session", "list"]));
        left.sort();
        let mut want = vec![a_day.clone(), live.clone()];
        want.sort();
        assert_eq!(
            left, want,
            "{backend:?}: {eight_days} should be the one purged"
        );

        // A shorter configured retention is what the purge applies.
        env.set("GRANTD_SESSIONS__RETENTION", "12h");
        assert_eq!(
            env.json(&["session", "purge"]),
            serde_json::json!({ "deleted": 1 }),
            "{backend:?}"
        );
        assert_eq!(
            listed_ids(&env.json(&["session", "list"])),
            std::slice::from_ref(live)
        );

        // An explicit --before is taken as given, but never reaches a live session.
        let out = env.cli(&["session", "purge", "--before", "2999-01-01T00:00:00Z"]);
        assert_eq!(out.status.code(), Some(1), "{backend:?}: future cut-off");
        assert_eq!(
            listed_ids(&env.json(&["session", "list"])),
            std::slice::from_ref(live)
        );
    }
}

/// Runs `grantd session list` with `args`, following `--after` page by page; returns the ids.
fn page_through(env: &Env, args: &[&str], limit: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut a = vec!["session", "list", "--limit", limit];
        a.extend_from_slice(args);
        if let Some(id) = &after {
            a.extend(["--after", id.as_str()]);
        }
        let page = listed_ids(&env.json(&a));
        let Some(last) = page.last() else {
            return all;
        };
        after = Some(last.clone());
        all.extend(page);
    }
}

#[test]
fn session_list_pages_and_streams_json_lines_on_both_backends() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        // 2,500 rows sharing one creation time (ties are broken by id), one issued later.
        env.json(&["session", "seed", "--count", "2500", "--client", &client_id]);
        {
            let server = env.start();
            assert_eq!(server.token(&client_id, &secret, "").status, 200);
        }

        let out = env.cli(&["session", "list", "--json-lines"]);
        assert!(
            out.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let rows: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(rows.len(), 2501, "{backend:?}");
        // Each line is exactly what `--json` prints for that row.
        let newest = env.json(&["session", "list", "--limit", "1"]);
        assert_eq!(rows[0], newest[0], "{backend:?}");
        let streamed: Vec<String> = rows
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect();
        let mut unique = streamed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 2501, "{backend:?}: every row exactly once");

        // Keyset pages give the same rows in the same order, each once.
        assert_eq!(page_through(&env, &[], "700"), streamed, "{backend:?}");
        let by_client = page_through(&env, &["--client", &client_id], "1000");
        assert_eq!(by_client, streamed, "{backend:?}");

        // A page starting after a session that does not exist is an error, not an empty page.
        let out = env.cli(&[
            "session",
            "list",
            "--after",
            "sess_00000000000000000000000000000000",
        ]);
        assert_eq!(out.status.code(), Some(1), "{backend:?}");
    }
}

#[test]
fn session_list_escapes_control_and_bidi_characters_on_both_backends() {
    use ureq::http::HeaderValue;
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (_, client_id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
        let server = env.start();
        let ua = "evil\u{202e}gpj.exe\u{2066}x\u{200f}";
        let referer = "https://r.example/\u{202a}a\u{2069}";
        let resp = server
            .agent
            .post(format!("{}/oauth/token", server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header(
                "Authorization",
                support::basic_header(&client_id, &secret).as_str(),
            )
            .header(
                "User-Agent",
                HeaderValue::from_bytes(ua.as_bytes()).expect("ua"),
            )
            .header(
                "Referer",
                HeaderValue::from_bytes(referer.as_bytes()).expect("referer"),
            )
            .send("grant_type=client_credentials")
            .expect("token request");
        assert_eq!(resp.status().as_u16(), 200, "{backend:?}");

        let out = env.cli(&["session", "list"]);
        assert!(out.status.success(), "{backend:?}");
        let table = String::from_utf8(out.stdout).expect("UTF-8");
        assert!(
            table.contains(r"evil\u{202e}gpj.exe\u{2066}x\u{200f}"),
            "{backend:?}: {table}"
        );
        assert!(
            table.contains(r"https://r.example/\u{202a}a\u{2069}"),
            "{backend:?}: {table}"
        );

        // JSON keeps the value (a consumer decodes the very string sent), but as \u escapes:
        // the bytes that reach a terminal hold no bidi control either.
        let out = env.cli(&["--json", "session", "list"]);
        let json = String::from_utf8(out.stdout).expect("UTF-8");
        let doc: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(doc[0]["user_agent"], ua, "{backend:?}");
        assert_eq!(doc[0]["referer"], referer, "{backend:?}");
        for text in [&table, &json] {
            for c in ['\u{202e}', '\u{2066}', '\u{200f}', '\u{202a}', '\u{2069}'] {
                assert!(!text.contains(c), "{backend:?}: raw {c:?} printed");
            }
        }
    }
}
