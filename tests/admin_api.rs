//! Outside-in: the admin HTTP API on the admin listener of the real binary, on both backends.
//! `grantd admin bootstrap` → an admin token at `/oauth/token` → users, clients, keys,
//! sessions and explain over HTTP; the guard (401 without or with a dead token, 403 without
//! the scope), RFC 9457 problems, `ETag`/`If-Match`, and the CLI's `--json` shapes.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use serde_json::{Value, json};
use support::{BACKENDS, Backend, Env, Resp, Server, form_encode};

const ALL_ADMIN_SCOPES: &str = "grantd:users:read grantd:users:write grantd:clients:read \
     grantd:clients:write grantd:keys:read grantd:keys:write grantd:sessions:read \
     grantd:sessions:write";

/// One admin API request; `token` as a Bearer credential, `body` as JSON.
fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let url = format!("{}/admin/v1{path}", server.admin);
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.unwrap_or("").to_owned()).expect("request");
    let mut resp = server.agent.run(req).expect("HTTP request");
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

/// Asserts an RFC 9457 problem with `status`; returns its body.
fn problem(resp: &Resp, status: u16) -> Value {
    assert_eq!(resp.status, status, "{}", resp.body);
    assert_eq!(
        resp.header("content-type"),
        Some("application/problem+json"),
        "{resp:?}"
    );
    let p = resp.json();
    assert_eq!(p["status"], status);
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:grantd:problem:")
    );
    assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
    p
}

/// An access token for the admin API audience with `scope`.
fn admin_token(server: &Server, id: &str, secret: &str, scope: &str) -> String {
    let extra = format!("audience=grantd-admin&scope={}", form_encode(scope));
    let resp = server.token(id, secret, &extra);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["access_token"].as_str().unwrap().to_owned()
}

fn bootstrap(env: &Env) -> (String, String) {
    let out = env.json(&["admin", "bootstrap"]);
    let again = env.cli(&["admin", "bootstrap"]);
    assert!(!again.status.success(), "a second bootstrap is refused");
    let msg = String::from_utf8_lossy(&again.stderr);
    assert!(msg.contains("already exists"), "{msg}");
    (
        out["client_id"].as_str().unwrap().to_owned(),
        out["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn admin_api_end_to_end() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (admin_id, admin_secret) = bootstrap(&env);
        let server = env.start();
        let token = admin_token(&server, &admin_id, &admin_secret, ALL_ADMIN_SCOPES);
        let uid = users(&env, &server, &token);
        clients(&env, &server, &token, &uid);
        keys(&server, &token);
        sessions_and_explain(&server, &token, &admin_id);
    }
}

/// Create, show (the CLI's shape and an ETag), 404, 412, 400, update with the right ETag.
fn users(env: &Env, server: &Server, token: &str) -> String {
    let body = json!({"name": "Grace", "email": "grace@example.com", "roles": ["user"]});
    let created = call(
        server,
        "POST",
        "/users",
        Some(token),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = created.json()["id"].as_str().unwrap().to_owned();
    let shown = call(
        server,
        "GET",
        &format!("/users/{uid}"),
        Some(token),
        &[],
        None,
    );
    assert_eq!(shown.status, 200);
    assert_eq!(
        shown.json(),
        env.json(&["user", "show", &uid]),
        "the CLI's shape"
    );
    let etag = shown.header("etag").expect("ETag").to_owned();

    let missing = "/users/0190f0f0-0000-7000-8000-000000000000";
    problem(&call(server, "GET", missing, Some(token), &[], None), 404);
    let patch = |headers: &[(&str, &str)], body: &str| {
        call(
            server,
            "PATCH",
            &format!("/users/{uid}"),
            Some(token),
            headers,
            Some(body),
        )
    };
    problem(
        &patch(&[("If-Match", "\"stale\"")], r#"{"active": false}"#),
        412,
    );
    problem(&patch(&[], r#"{"active": fal"#), 400);
    problem(&patch(&[], r#"{"active": false, "admin": true}"#), 400);
    assert_eq!(
        env.json(&["user", "show", &uid])["active"],
        true,
        "nothing changed"
    );
    let ok = patch(&[("If-Match", &etag)], r#"{"active": false}"#);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["active"], false);
    assert_ne!(
        ok.header("etag"),
        Some(etag.as_str()),
        "a new representation"
    );
    problem(&patch(&[("If-Match", &etag)], r#"{"active": true}"#), 412);
    assert_eq!(patch(&[], r#"{"active": true}"#).status, 200);
    let dup = json!({"name": "G2", "email": "grace@example.com"}).to_string();
    problem(
        &call(server, "POST", "/users", Some(token), &[], Some(&dup)),
        409,
    );
    let bad = json!({"name": "G3", "email": "g3@example.com", "roles": ["nope"]}).to_string();
    problem(
        &call(server, "POST", "/users", Some(token), &[], Some(&bad)),
        422,
    );
    uid
}

/// A client created over HTTP shows its secret once and then gets a token; rotation; a
/// read-only admin client is refused writes (403); a revoked admin token is refused at once.
fn clients(env: &Env, server: &Server, token: &str, uid: &str) {
    let body = json!({"name": "orders", "owner": uid, "scopes": ["service"]}).to_string();
    let created = call(server, "POST", "/clients", Some(token), &[], Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let c = created.json();
    let (cid, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let shown = call(
        server,
        "GET",
        &format!("/clients/{cid}"),
        Some(token),
        &[],
        None,
    );
    assert_eq!(
        shown.json(),
        env.json(&["client", "show", cid]),
        "the CLI's shape"
    );
    assert!(!shown.body.contains(secret), "the secret is shown once");
    let svc = server.token(cid, secret, "scope=service");
    assert_eq!(svc.status, 200, "{}", svc.body);
    let svc_token = svc.json()["access_token"].as_str().unwrap().to_owned();
    problem(
        &call(server, "GET", "/users", Some(&svc_token), &[], None),
        401,
    );

    let rotated = call(
        server,
        "POST",
        &format!("/clients/{cid}/secret"),
        Some(token),
        &[],
        Some(r#"{"grace_secs": 0}"#),
    );
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let new_secret = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        server.token(cid, secret, "").status,
        401,
        "old secret ended"
    );
    assert_eq!(server.token(cid, &new_secret, "").status, 200);

    let ro = json!({"name": "reader", "owner": uid, "scopes": ["grantd:users:read"]}).to_string();
    let ro = call(server, "POST", "/clients", Some(token), &[], Some(&ro)).json();
    let (ro_id, ro_secret) = (
        ro["client_id"].as_str().unwrap(),
        ro["client_secret"].as_str().unwrap(),
    );
    let ro_token = admin_token(server, ro_id, ro_secret, "grantd:users:read");
    assert_eq!(
        call(server, "GET", "/users", Some(&ro_token), &[], None).status,
        200
    );
    let new_user = json!({"name": "X", "email": "x@example.com"}).to_string();
    let refused = call(
        server,
        "POST",
        "/users",
        Some(&ro_token),
        &[],
        Some(&new_user),
    );
    let p = problem(&refused, 403);
    assert!(
        p["detail"].as_str().unwrap().contains("grantd:users:write"),
        "{p}"
    );
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    problem(
        &call(server, "GET", "/clients", Some(&ro_token), &[], None),
        403,
    );

    let revoke = server.post_form(
        "/oauth/revoke",
        Some((ro_id, ro_secret)),
        &format!("token={ro_token}"),
    );
    assert_eq!(revoke.status, 200);
    problem(
        &call(server, "GET", "/users", Some(&ro_token), &[], None),
        401,
    );
    let none = call(server, "GET", "/users", None, &[], None);
    problem(&none, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    problem(
        &call(server, "GET", "/users", Some("garbage"), &[], None),
        401,
    );
}

/// Rotation over HTTP grows the JWKS at once.
fn keys(server: &Server, token: &str) {
    let jwks = |s: &Server| {
        s.get("/.well-known/jwks.json").json()["keys"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = jwks(server);
    let listed = call(server, "GET", "/keys", Some(token), &[], None);
    assert_eq!(
        listed.json().as_array().unwrap().len(),
        before,
        "{}",
        listed.body
    );
    let rotated = call(server, "POST", "/keys/rotate", Some(token), &[], None);
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(rotated.json()["active"].is_string());
    assert_eq!(
        jwks(server),
        before + 1,
        "the retired key stays published beside a new next"
    );
}

/// Sessions page by keyset (`Link: rel="next"`), and explain.
fn sessions_and_explain(server: &Server, token: &str, admin_id: &str) {
    let page = call(server, "GET", "/sessions?limit=1", Some(token), &[], None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json().as_array().unwrap().len(), 1);
    let link = page.header("link").expect("a full page links the next");
    let next = link
        .trim_start_matches("</admin/v1")
        .split('>')
        .next()
        .unwrap();
    let second = call(server, "GET", next, Some(token), &[], None);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_ne!(second.json()[0]["id"], page.json()[0]["id"]);
    let filtered = call(
        server,
        "GET",
        &format!("/sessions?client_id={admin_id}"),
        Some(token),
        &[],
        None,
    );
    assert!(
        filtered
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["client_id"] == admin_id)
    );
    problem(
        &call(
            server,
            "GET",
            "/sessions?colour=red",
            Some(token),
            &[],
            None,
        ),
        400,
    );

    let body =
        json!({"client_id": admin_id, "scope": "grantd:keys:read", "audience": "grantd-admin"});
    let e = call(
        server,
        "POST",
        "/explain",
        Some(token),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.json()["outcome"]["granted"], true, "{}", e.body);
    let purge = call(
        server,
        "POST",
        "/sessions/purge",
        Some(token),
        &[],
        Some("{}"),
    );
    assert_eq!(purge.json()["deleted"], 0, "nothing expired yet");
    problem(
        &call(server, "DELETE", "/keys", Some(token), &[], None),
        405,
    );
    problem(
        &call(server, "GET", "/nothing", Some(token), &[], None),
        404,
    );
}

#[test]
fn admin_scopes_are_for_the_admin_audience_only() {
    let env = Env::new(Backend::Sqlite);
    let (id, secret) = bootstrap(&env);
    let server = env.start();
    let resp = server.token(&id, &secret, "scope=grantd%3Ausers%3Aread");
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert_eq!(resp.json()["error"], "invalid_scope");
}

/// `/admin/v1/openapi.json` is `docs/openapi-admin.json`, byte for byte (no token needed: the
/// contract is public). `GRANTD_UPDATE_OPENAPI=1` rewrites the file from the served document.
#[test]
fn the_served_admin_document_is_the_checked_in_one() {
    let env = Env::new(Backend::Sqlite);
    let server = env.start();
    let resp = call(&server, "GET", "/openapi.json", None, &[], None);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let doc = resp.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(
        doc["paths"]["/admin/v1/users/{id}"]["patch"].is_object(),
        "{doc}"
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi-admin.json");
    if std::env::var_os("GRANTD_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &resp.body).expect("write docs/openapi-admin.json");
    }
    let file = std::fs::read_to_string(&path).expect("read docs/openapi-admin.json");
    assert!(
        file == resp.body,
        "docs/openapi-admin.json differs from the served document: run \
         GRANTD_UPDATE_OPENAPI=1 cargo test -p grantd --test admin_api the_served_admin_document"
    );
}
