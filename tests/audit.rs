//! Outside-in: the audit stream of the real binary (file sink) holds exactly one event per
//! decision, with the documented ECS fields, and neither it nor the log holds a client secret
//! or an access token.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{BACKENDS, Env, Server, form_encode};

/// Every event of the audit file, in order.
fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("audit file");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect()
}

fn with_action<'a>(events: &'a [Value], action: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"]["action"] == action)
        .collect()
}

fn post(server: &Server, path: &str, id: &str, secret: &str, token: &str) -> u16 {
    let body = format!("token={}", form_encode(token));
    server.post_form(path, Some((id, secret)), &body).status
}

/// The payload of a JWT, decoded (the test knows the token; the audit stream must not).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Known traffic: two tokens, three token refusals, two introspections, one refused
/// introspection, three revocations.
fn traffic(server: &Server, id: &str, secret: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let r = server.token(id, secret, "scope=service");
        assert_eq!(r.status, 200, "{}", r.body);
        tokens.push(r.json()["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(server.token(id, "wrong-secret-value", "").status, 401);
    assert_eq!(server.token("nobody", "x", "").status, 401);
    assert_eq!(server.token(id, secret, "scope=admin").status, 400);
    assert_eq!(
        post(server, "/oauth/introspect", id, secret, &tokens[0]),
        200
    );
    assert_eq!(
        post(server, "/oauth/introspect", id, secret, "garbage"),
        200
    );
    let wrong = "wrong-secret-value";
    assert_eq!(post(server, "/oauth/introspect", id, wrong, "x"), 401);
    assert_eq!(post(server, "/oauth/revoke", id, secret, &tokens[1]), 200);
    assert_eq!(post(server, "/oauth/revoke", id, secret, &tokens[1]), 200);
    assert_eq!(post(server, "/oauth/revoke", id, secret, "garbage"), 200);
    tokens
}

fn check_issued(events: &[Value], id: &str, owner: &str, token: &str) {
    let c = claims(token);
    let found: Vec<_> = with_action(events, "token-issued")
        .into_iter()
        .filter(|e| e["grantd"]["jti"] == c["jti"])
        .collect();
    assert_eq!(found.len(), 1, "one event per token: {events:?}");
    let e = found[0];
    assert_eq!(e["event"]["outcome"], "success");
    assert_eq!(e["event"]["kind"], "event");
    assert_eq!(e["event"]["dataset"], "grantd.audit");
    assert_eq!(e["ecs"]["version"], "8.11.0");
    assert!(e["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["user"]["id"], id);
    assert_eq!(e["user"]["effective"]["id"], owner);
    assert_eq!(e["source"]["ip"], "127.0.0.1");
    let g = &e["grantd"];
    assert_eq!(g["client_id"], id);
    assert_eq!(g["owner_id"], owner);
    assert_eq!(g["scope"], "service");
    assert_eq!(g["session_id"], c["session_id"]);
    assert_eq!(g["auth_method"], "client_secret_basic");
    assert!(g["audience"].is_array());
}

fn check_refusals(events: &[Value], id: &str) {
    let refused = with_action(events, "token-refused");
    let reasons: Vec<(&str, &str)> = refused
        .iter()
        .map(|e| {
            (
                e["event"]["reason"].as_str().unwrap(),
                e["error"]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("wrong_secret", "invalid_client"),
            ("unknown_client", "invalid_client"),
            ("scope_not_in_grant", "invalid_scope"),
        ]
    );
    assert_eq!(refused[0]["user"]["name"], id);
    assert_eq!(refused[1]["user"]["name"], "nobody");
    assert_eq!(refused[2]["grantd"]["scope"], "admin");
    for e in &refused {
        assert_eq!(e["event"]["outcome"], "failure");
        assert_eq!(e["source"]["ip"], "127.0.0.1");
        assert_eq!(e["grantd"]["auth_method"], "client_secret_basic");
    }
}

fn check_introspection_and_revocation(events: &[Value], id: &str) {
    let refused = with_action(events, "introspection-refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["event"]["reason"], "wrong_secret");
    assert_eq!(refused[0]["grantd"]["endpoint"], "introspect");
    assert_eq!(refused[0]["user"]["name"], id);
    let intro = with_action(events, "token-introspected");
    let outcomes: Vec<_> = intro.iter().map(|e| &e["grantd"]["outcome"]).collect();
    assert_eq!(outcomes, ["active", "inactive"]);
    assert!(intro.iter().all(|e| e["grantd"]["caller"] == id));
    assert_eq!(intro[0]["grantd"]["client_id"], id);
    let revoked = with_action(events, "token-revoked");
    let effects: Vec<_> = revoked.iter().map(|e| &e["grantd"]["effect"]).collect();
    // Revocation is idempotent: the second one finds the session revoked already.
    assert_eq!(effects, ["revoked", "revoked", "invalid_token"]);
    assert_eq!(
        revoked[0]["grantd"]["session_id"],
        revoked[1]["grantd"]["session_id"]
    );
    assert!(revoked[0]["grantd"]["session_id"].is_string());
}

#[test]
fn one_event_per_decision_and_no_secret_anywhere() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        let file = env.dir.join("audit.jsonl");
        env.set("GRANTD_AUDIT__OUTPUT", "\"file\"");
        env.set("GRANTD_AUDIT__FILE", file.to_str().unwrap());
        env.set("GRANTD_LOG", "debug");
        let (owner, id, secret) =
            env.user_and_client(&["user"], "service user", "client_secret_basic");
        let mut server = env.start();
        let tokens = traffic(&server, &id, &secret);
        assert!(server.stop(), "{backend:?}: clean stop");

        let events = read_events(&file);
        let token_events: Vec<Value> = events
            .iter()
            .filter(|e| e["grantd"]["target"].is_null())
            .cloned()
            .collect();
        assert_eq!(token_events.len(), 11, "{backend:?}: {token_events:#?}");
        for t in &tokens {
            check_issued(&token_events, &id, &owner, t);
        }
        check_refusals(&token_events, &id);
        check_introspection_and_revocation(&token_events, &id);

        let everything = format!(
            "{}\n{}",
            std::fs::read_to_string(&file).unwrap(),
            server.logs.lock().unwrap().join("\n")
        );
        assert!(!everything.contains(&secret), "{backend:?}: secret leaked");
        assert!(!everything.contains("wrong-secret-value"));
        for t in &tokens {
            assert!(
                !everything.contains(t.as_str()),
                "{backend:?}: token leaked"
            );
            let signature = t.rsplit('.').next().unwrap();
            assert!(!everything.contains(signature));
        }
    }
}

#[test]
fn audit_off_writes_nothing() {
    let mut env = Env::new(support::Backend::Sqlite);
    let file = env.dir.join("audit.jsonl");
    env.set("GRANTD_AUDIT__OUTPUT", "\"off\"");
    env.set("GRANTD_AUDIT__FILE", file.to_str().unwrap());
    let (_, id, secret) = env.user_and_client(&["user"], "service", "client_secret_basic");
    let mut server = env.start();
    assert_eq!(server.token(&id, &secret, "").status, 200);
    assert!(server.stop());
    assert!(!file.exists(), "no audit file with audit off");
}

fn admin_events(path: &Path) -> Vec<Value> {
    read_events(path)
        .into_iter()
        .filter(|e| e["event"]["category"][0] == "iam")
        .collect()
}

/// The one change `(field, before, after)` of `event`.
fn field(event: &Value, name: &str) -> (Value, Value) {
    let changes = event["grantd"]["changes"].as_array().unwrap();
    let c = changes
        .iter()
        .find(|c| c["field"] == name)
        .unwrap_or_else(|| panic!("no change of {name}: {event}"));
    (c["before"].clone(), c["after"].clone())
}

/// The targets and before/after fields of the CLI's admin-change events.
fn check_admin_fields(events: &[Value], owner: &str, id: &str, keys_before: &Value) {
    let target = |i: usize| events[i]["grantd"]["target"]["id"].as_str().unwrap();
    assert_eq!(target(0), owner);
    assert!((1..5).all(|i| target(i) == id));
    assert_eq!(events[0]["event"]["type"][0], "creation");
    assert_eq!(field(&events[0], "roles"), (Value::Null, "user".into()));
    assert_eq!(field(&events[1], "owner_id"), (Value::Null, owner.into()));
    assert_eq!(field(&events[1], "scopes"), (Value::Null, "service".into()));
    assert_eq!(field(&events[2], "active"), ("true".into(), "false".into()));
    assert_eq!(field(&events[3], "active"), ("false".into(), "true".into()));
    let (_, until) = field(&events[4], "previous_secrets_valid_until");
    assert!(until.as_str().unwrap().parse::<i64>().is_ok());

    let next = keys_before
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "next")
        .unwrap();
    assert_eq!(field(&events[5], "active").1, next["kid"]);
}

#[test]
fn cli_changes_are_audited_without_secrets() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        let file = env.dir.join("admin-audit.jsonl");
        env.set("GRANTD_AUDIT__FILE", file.to_str().unwrap());
        // The default output ("stdout"): the CLI still writes its changes to the audit file.
        let (owner, id, secret) = env.user_and_client(&["user"], "service", "client_secret_basic");
        env.json(&["client", "disable", &id]);
        env.json(&["client", "enable", &id]);
        let rotated = env.json(&["client", "rotate-secret", &id, "--grace", "60"]);
        let new_secret = rotated["client_secret"].as_str().unwrap();
        env.json(&["client", "list"]);
        let keys_before = env.json(&["key", "list"]);
        let out = env.cli(&["key", "rotate"]);
        assert!(out.status.success(), "{out:?}");

        let events = admin_events(&file);
        let actions: Vec<_> = events.iter().map(|e| &e["event"]["action"]).collect();
        assert_eq!(
            actions,
            [
                "user.create",
                "client.create",
                "client.disable",
                "client.enable",
                "client.secret.rotate",
                "signing_key.rotate"
            ],
            "{backend:?}: one event per change, none for a read"
        );
        check_admin_fields(&events, &owner, &id, &keys_before);

        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&secret),
            "{backend:?}: created secret leaked"
        );
        assert!(
            !text.contains(new_secret),
            "{backend:?}: rotated secret leaked"
        );
        assert!(!text.contains("$v1$"), "{backend:?}: a hash leaked");
    }
}

/// The default sink of `serve`: JSON lines on its stdout, written out on SIGTERM.
#[test]
fn serve_writes_events_to_stdout_by_default() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let env = Env::new(support::Backend::Sqlite);
    let (_, id, secret) = env.user_and_client(&["user"], "service", "client_secret_basic");
    let mut child = env
        .command()
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("grantd listening on ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve did not start"
        );
    }
    // Keep draining the log so the server never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let base = line.split_whitespace().nth(3).unwrap().to_owned();
    let mut resp = ureq::post(format!("{base}/oauth/token"))
        .header("Authorization", support::basic_header(&id, &secret))
        .content_type("application/x-www-form-urlencoded")
        .send("grant_type=client_credentials")
        .unwrap();
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let token = body["access_token"].as_str().unwrap();

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!(events[0]["event"]["action"], "token-issued");
    assert_eq!(events[0]["user"]["id"], id.as_str());
    assert!(!out.contains(token) && !out.contains(&secret));
}
