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
    let typed = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !typed {
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

/// Requests with one bearer token (or none).
struct Api<'a> {
    server: &'a Server,
    token: Option<String>,
}

impl Api<'_> {
    fn get(&self, path: &str) -> Resp {
        call(self.server, "GET", path, self.token.as_deref(), &[], None)
    }

    fn post(&self, path: &str, body: &Value) -> Resp {
        let body = body.to_string();
        call(
            self.server,
            "POST",
            path,
            self.token.as_deref(),
            &[],
            Some(&body),
        )
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        call(
            self.server,
            method,
            path,
            self.token.as_deref(),
            headers,
            Some(body),
        )
    }

    fn as_token(&self, token: Option<&str>) -> Api<'_> {
        Api {
            server: self.server,
            token: token.map(str::to_owned),
        }
    }
}

#[test]
fn admin_api_end_to_end() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (admin_id, admin_secret) = bootstrap(&env);
        let server = env.start();
        let token = admin_token(&server, &admin_id, &admin_secret, ALL_ADMIN_SCOPES);
        let api = Api {
            server: &server,
            token: Some(token),
        };
        let uid = users(&env, &api);
        user_updates(&env, &api, &uid);
        let (cid, secret) = clients(&env, &api, &uid);
        rotation(&api, &cid, &secret);
        client_changes(&env, &api, &uid);
        user_changes(&api, &uid);
        the_guard(&api, &uid);
        operator_revocation(&env, &api, &uid);
        the_cli_shapes(&env, &api, &admin_id);
        keys(&api);
        sessions(&api, &admin_id);
        explain_and_routing(&api, &admin_id);
    }
}

/// Create (409 on a duplicate, 422 on invalid input), show in the CLI's shape, 404.
fn users(env: &Env, api: &Api<'_>) -> String {
    let body = json!({"name": "Grace", "email": "grace@example.com", "roles": ["user"]});
    let created = api.post("/users", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = created.json()["id"].as_str().unwrap().to_owned();
    let shown = api.get(&format!("/users/{uid}"));
    assert_eq!(shown.status, 200);
    let cli = env.json(&["user", "show", &uid]);
    assert_eq!(shown.json(), cli, "the CLI's shape");
    assert!(shown.header("etag").is_some());
    problem(&api.get("/users/0190f0f0-0000-7000-8000-000000000000"), 404);
    let dup = json!({"name": "G2", "email": "grace@example.com"});
    problem(&api.post("/users", &dup), 409);
    let bad = json!({"name": "G3", "email": "g3@example.com", "roles": ["nope"]});
    problem(&api.post("/users", &bad), 422);
    uid
}

/// A stale If-Match is 412, a malformed or unknown-field body 400, and nothing changes; the
/// right ETag updates and yields a new one; no If-Match updates too.
fn user_updates(env: &Env, api: &Api<'_>, uid: &str) {
    let path = format!("/users/{uid}");
    let etag = api.get(&path).header("etag").unwrap().to_owned();
    let patch = |headers: &[(&str, &str)], body: &str| api.send("PATCH", &path, headers, body);
    problem(
        &patch(&[("If-Match", "\"stale\"")], r#"{"active": false}"#),
        412,
    );
    problem(&patch(&[], r#"{"active": fal"#), 400);
    problem(&patch(&[], r#"{"active": false, "admin": true}"#), 400);
    assert_eq!(
        env.json(&["user", "show", uid])["active"],
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
}

/// A client created over HTTP shows its secret once and then gets a token; that token is no
/// admin token (another audience): 401.
fn clients(env: &Env, api: &Api<'_>, uid: &str) -> (String, String) {
    let body = json!({"name": "orders", "owner": uid, "scopes": ["service"]});
    let created = api.post("/clients", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let c = created.json();
    let cid = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    let shown = api.get(&format!("/clients/{cid}"));
    let mut cli = env.json(&["client", "show", &cid]);
    // `client show` adds the quota windows' current use; the API's client is its configuration
    // (what the ETag covers), so usage is not part of it.
    assert_eq!(cli["quota_usage"], json!([]), "{cli}");
    cli.as_object_mut().unwrap().remove("quota_usage");
    assert_eq!(shown.json(), cli, "the CLI's shape");
    assert!(!shown.body.contains(&secret), "the secret is shown once");
    let svc = api.server.token(&cid, &secret, "scope=service");
    assert_eq!(svc.status, 200, "{}", svc.body);
    let svc_token = svc.json()["access_token"].as_str().unwrap().to_owned();
    problem(&api.as_token(Some(&svc_token)).get("/users"), 401);
    (cid, secret)
}

/// PUT with a client-chosen id creates (201, secret once), is a no-op when repeated (200, no
/// secret, same ETag), changes when different; PATCH changes fields the token endpoint then
/// acts on at once; stale or misplaced If-Match is 412; bad fields 400/422 and change nothing.
fn client_changes(env: &Env, api: &Api<'_>, uid: &str) {
    let path = "/clients/svc-put";
    let spec = json!({"name": "put", "owner": uid, "scopes": ["service"]});
    let put =
        |headers: &[(&str, &str)], body: &Value| api.send("PUT", path, headers, &body.to_string());
    problem(&put(&[("If-Match", "*")], &spec), 412);
    let created = put(&[], &spec);
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.json()["client_secret"].as_str().unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    let again = put(&[], &spec);
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.json().get("client_secret").is_none(), "no new secret");
    assert_eq!(again.header("etag"), Some(etag.as_str()), "nothing written");
    let refused = api.server.token("svc-put", &secret, "scope=mcp");
    assert_eq!(refused.status, 400, "not yet granted: {}", refused.body);

    // PATCH: the token endpoint sees the new scopes at once (the cache is invalidated).
    let patch = |headers: &[(&str, &str)], body: &str| api.send("PATCH", path, headers, body);
    let body =
        r#"{"name": "put renamed", "scopes": ["service", "mcp"], "quota": {"per_day": 100}}"#;
    problem(&patch(&[("If-Match", "\"stale\"")], body), 412);
    let ok = patch(&[("If-Match", &etag)], body);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let doc = ok.json();
    assert_eq!(doc["name"], "put renamed");
    assert_eq!(doc["scopes"], json!(["service", "mcp"]));
    assert_eq!(doc["quota"], json!({"per_hour": null, "per_day": 100}));
    let mut cli = env.json(&["client", "show", "svc-put"]);
    cli.as_object_mut().unwrap().remove("quota_usage");
    assert_eq!(doc, cli, "the CLI's shape");
    let tok = api.server.token("svc-put", &secret, "scope=mcp");
    assert_eq!(tok.status, 200, "{}", tok.body);

    for (body, status) in [
        (r#"{"name": null}"#, 400),
        (r#"{"scopes": []}"#, 422),
        (r#"{"scopes": ["nope"]}"#, 422),
        (r#"{"auth_method": "private_key_jwt"}"#, 422),
        (r#"{"owner": "0190f0f0-0000-7000-8000-000000000000"}"#, 404),
        (r#"{"grant_types": ["password"]}"#, 400),
    ] {
        problem(&patch(&[], body), status);
    }
    let now = api.get(path).json();
    assert_eq!(now, doc, "refused changes changed nothing");
    let method = patch(
        &[],
        r#"{"auth_method": "client_secret_post", "rate_limit": null}"#,
    );
    assert_eq!(method.json()["auth_method"], "client_secret_post");

    // PUT back to the first spec: changed to it, still no new secret; If-Match honoured.
    problem(&put(&[("If-Match", "\"stale\"")], &spec), 412);
    let back = put(&[], &spec);
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.json()["scopes"], json!(["service"]));
    assert_eq!(back.json()["auth_method"], "client_secret_basic");
    assert_eq!(
        api.server.token("svc-put", &secret, "scope=service").status,
        200
    );
    problem(
        &api.send("PUT", "/clients/bad%20id", &[], &spec.to_string()),
        422,
    );
}

/// PATCH a user's name and roles; a service-tier role is refused.
fn user_changes(api: &Api<'_>, uid: &str) {
    let path = format!("/users/{uid}");
    let patch = |body: &str| api.send("PATCH", &path, &[], body);
    let ok = patch(r#"{"name": "Grace H.", "roles": ["user", "admin"]}"#);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["name"], "Grace H.");
    assert_eq!(ok.json()["roles"], json!(["user", "admin"]));
    problem(&patch(r#"{"roles": ["service"]}"#), 422);
    problem(&patch(r#"{"email": "x@example.com"}"#), 400);
    assert_eq!(api.get(&path).json()["roles"], json!(["user", "admin"]));
}

/// A rotated secret with no grace ends the old one at once.
fn rotation(api: &Api<'_>, cid: &str, secret: &str) {
    let rotated = api.post(&format!("/clients/{cid}/secret"), &json!({"grace_secs": 0}));
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let new_secret = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        api.server.token(cid, secret, "").status,
        401,
        "old secret ended"
    );
    assert_eq!(api.server.token(cid, &new_secret, "").status, 200);
    problem(
        &api.post("/clients/nope/secret", &json!({"grace_secs": 0})),
        404,
    );
}

/// A read-only admin client is refused writes (403); its revoked token is refused at once;
/// no token or garbage: 401 with a Bearer challenge.
fn the_guard(api: &Api<'_>, uid: &str) {
    let ro = json!({"name": "reader", "owner": uid, "scopes": ["grantd:users:read"]});
    let ro = api.post("/clients", &ro).json();
    let (ro_id, ro_secret) = (
        ro["client_id"].as_str().unwrap(),
        ro["client_secret"].as_str().unwrap(),
    );
    let ro_token = admin_token(api.server, ro_id, ro_secret, "grantd:users:read");
    let reader = api.as_token(Some(&ro_token));
    assert_eq!(reader.get("/users").status, 200);
    let refused = reader.post("/users", &json!({"name": "X", "email": "x@example.com"}));
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
    problem(&reader.get("/clients"), 403);

    let form = format!("token={ro_token}");
    let revoke = api
        .server
        .post_form("/oauth/revoke", Some((ro_id, ro_secret)), &form);
    assert_eq!(revoke.status, 200);
    problem(&reader.get("/users"), 401);
    let none = api.as_token(None).get("/users");
    problem(&none, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    problem(&api.as_token(Some("garbage")).get("/users"), 401);
}

/// Keys, a page of sessions, users, clients and explain answer what `--json` prints.
fn the_cli_shapes(env: &Env, api: &Api<'_>, admin_id: &str) {
    let pairs: [(Resp, &[&str]); 5] = [
        (api.get("/keys"), &["key", "list"]),
        (api.get("/users"), &["user", "list"]),
        (api.get("/clients"), &["client", "list"]),
        (
            api.get("/sessions?limit=5"),
            &["session", "list", "--limit", "5"],
        ),
        (
            api.post(
                "/explain",
                &json!({"client_id": admin_id, "scope": "grantd:keys:read"}),
            ),
            &[
                "explain",
                "--client",
                admin_id,
                "--scope",
                "grantd:keys:read",
            ],
        ),
    ];
    for (resp, args) in pairs {
        assert_eq!(resp.status, 200, "{args:?}: {}", resp.body);
        assert_eq!(resp.json(), env.json(args), "{args:?}");
    }
}

/// An operator revokes one session over HTTP (`session revoke`): its token stops at once.
fn operator_revocation(env: &Env, api: &Api<'_>, uid: &str) {
    let c = json!({"name": "reader2", "owner": uid, "scopes": ["grantd:users:read"]});
    let c = api.post("/clients", &c).json();
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let token = admin_token(api.server, id, secret, "grantd:users:read");
    let reader = api.as_token(Some(&token));
    assert_eq!(reader.get("/users").status, 200);
    let newest = api.get(&format!("/sessions?client_id={id}&limit=1")).json();
    let sid = newest[0]["id"].as_str().unwrap().to_owned();
    let revoked = api.post(&format!("/sessions/{sid}/revoke"), &json!({}));
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.json()["revoke_reason"], "revoked by operator");
    problem(&reader.get("/users"), 401);
    let unknown = "/sessions/sess_00000000000000000000000000000000/revoke";
    problem(&api.post(unknown, &json!({})), 404);
    admin_token(api.server, id, secret, "grantd:users:read");
    let newest = api.get(&format!("/sessions?client_id={id}&limit=1")).json();
    let cli = env.json(&["session", "revoke", newest[0]["id"].as_str().unwrap()]);
    assert_eq!(cli["revoke_reason"], "revoked by operator", "{cli}");
}

/// Rotation over HTTP grows the JWKS at once.
fn keys(api: &Api<'_>) {
    let jwks = || {
        let doc = api.server.get("/.well-known/jwks.json").json();
        doc["keys"].as_array().unwrap().len()
    };
    let before = jwks();
    let listed = api.get("/keys");
    assert_eq!(
        listed.json().as_array().unwrap().len(),
        before,
        "{}",
        listed.body
    );
    let rotated = api.send("POST", "/keys/rotate", &[], "");
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(rotated.json()["active"].is_string());
    assert_eq!(
        jwks(),
        before + 1,
        "the retired key stays published beside a new next"
    );
}

/// Sessions page by keyset (`Link: rel="next"`) and filter by client.
fn sessions(api: &Api<'_>, admin_id: &str) {
    let page = api.get("/sessions?limit=1");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json().as_array().unwrap().len(), 1);
    let link = page.header("link").expect("a full page links the next");
    let next = link
        .trim_start_matches("</admin/v1")
        .split('>')
        .next()
        .unwrap();
    let second = api.get(next);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_ne!(second.json()[0]["id"], page.json()[0]["id"]);
    let filtered = api.get(&format!("/sessions?client_id={admin_id}"));
    let rows = filtered.json();
    assert!(!rows.as_array().unwrap().is_empty());
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|s| s["client_id"] == admin_id)
    );
    problem(&api.get("/sessions?colour=red"), 400);
}

/// Explain, purge, and the problems of a wrong method or path.
fn explain_and_routing(api: &Api<'_>, admin_id: &str) {
    let body =
        json!({"client_id": admin_id, "scope": "grantd:keys:read", "audience": "grantd-admin"});
    let e = api.post("/explain", &body);
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.json()["outcome"]["granted"], true, "{}", e.body);
    let purge = api.post("/sessions/purge", &json!({}));
    assert_eq!(purge.json()["deleted"], 0, "nothing expired yet");
    problem(&api.send("DELETE", "/keys", &[], ""), 405);
    problem(&api.get("/nothing"), 404);
    let text = api.send("POST", "/users", &[("Content-Type", "text/plain")], "{}");
    problem(&text, 415);
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

/// A body that never finishes is answered 408 (a problem) at the body deadline, not held.
#[test]
fn a_body_that_never_arrives_is_a_timeout() {
    use std::io::{Read, Write};
    let env = Env::new(Backend::Sqlite);
    let (id, secret) = bootstrap(&env);
    let server = env.start();
    let token = admin_token(&server, &id, &secret, "grantd:users:write");
    let addr = server.admin.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let head = format!(
        "POST /admin/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na"
    );
    s.write_all(head.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![0; 4096];
    let n = s
        .read(&mut answer)
        .expect("an answer before the read timeout");
    let answer = String::from_utf8_lossy(&answer[..n]);
    let waited = started.elapsed().as_secs_f64();
    assert!(
        (4.0..12.0).contains(&waited),
        "answered at the deadline: {waited} s"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

/// `[admin] api`: on the admin listener by default, on the public port with `public` (and then
/// not on the admin listener), nowhere with `off`.
#[test]
fn the_api_is_served_where_configured() {
    for (placement, on_admin, on_public) in [
        (None, 401, 404),
        (Some("public"), 404, 401),
        (Some("off"), 404, 404),
    ] {
        let mut env = Env::new(Backend::Sqlite);
        if let Some(p) = placement {
            env.set("GRANTD_ADMIN__API", p);
        }
        let server = env.start();
        let admin = server.get_admin("/admin/v1/users");
        let public = server.get("/admin/v1/users");
        assert_eq!(
            admin.status, on_admin,
            "{placement:?} admin: {}",
            admin.body
        );
        assert_eq!(
            public.status, on_public,
            "{placement:?} public: {}",
            public.body
        );
        assert_eq!(server.get("/healthz").status, 200, "the rest is unchanged");
        assert_eq!(server.get_admin("/healthz").status, 200);
    }
    let mut env = Env::new(Backend::Sqlite);
    env.set("GRANTD_ADMIN__API", "everywhere");
    let out = env.cli(&["user", "list"]);
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("admin"), "{msg}");
}

// ---------- a client's keys and federated credentials ----------

/// RFC 7515 A.3's P-256 public key.
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const SA: &str = "system:serviceaccount:ci:builder";

fn ec(kid: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": kid, "alg": "ES256"})
}

/// A trusted issuer `k8s` (its keys are never fetched here: no token is verified).
fn federation_config(env: &Env) -> String {
    let text = r#"
[federation]
allow_http_loopback = true

[[federation.issuers]]
name = "k8s"
issuer = "http://127.0.0.1:9/k8s"
jwks_uri = "http://127.0.0.1:9/jwks"
algorithms = ["ES256"]
"#;
    let path = env.dir.join("grantd.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Keys given at creation and replaced with `PUT …/keys` (If-Match honoured), federated
/// credentials added, listed and removed: the CLI's checks and shapes, on both backends.
#[test]
fn client_keys_and_federated_credentials_over_the_api() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let config = federation_config(&env);
        let (admin_id, admin_secret) = bootstrap(&env);
        let server = env.start_with(&["--config", &config]);
        let token = admin_token(&server, &admin_id, &admin_secret, ALL_ADMIN_SCOPES);
        let api = Api {
            server: &server,
            token: Some(token),
        };
        let user = api.post(
            "/users",
            &json!({"name": "Kim", "email": "kim@example.com"}),
        );
        let uid = user.json()["id"].as_str().unwrap().to_owned();
        let cid = keyed_client(&env, &api, &uid);
        replaced_keys(&env, &api, &cid);
        let reader = admin_token(&server, &admin_id, &admin_secret, "grantd:clients:read");
        let read_only = api.as_token(Some(&reader));
        let body = json!({"jwks": {"keys": [ec("k9")]}}).to_string();
        problem(
            &read_only.send("PUT", &format!("/clients/{cid}/keys"), &[], &body),
            403,
        );
        federated_credentials(&env, &config, &api, &uid);
    }
}

/// Created with a JWKS and an algorithm: no secret, the keys shown by kid; unusable JWKS are
/// 422 (never echoing key material), contradictory bodies 400, and none creates a client.
fn keyed_client(env: &Env, api: &Api<'_>, uid: &str) -> String {
    let spec = |extra: Value| {
        let mut b = json!({"name": "signer", "owner": uid, "scopes": ["service"],
            "auth_method": "private_key_jwt"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let mut private = ec("p");
    private["d"] = json!("AAAA");
    let before = api.get("/clients").json();
    for (extra, status, needle) in [
        (json!({"jwks": {"keys": [private]}}), 422, "private"),
        (
            json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            422,
            "symmetric",
        ),
        (
            json!({"jwks": {"keys": [ec("same"), ec("same")]}}),
            422,
            "share the kid",
        ),
        (json!({"jwks": {"keys": []}}), 422, "not a JWKS"),
        (json!({}), 422, "private_key_jwt"),
        (
            json!({"jwks_uri": "http://client.example/jwks"}),
            422,
            "loopback",
        ),
        (
            json!({"jwks": {"keys": [ec("k")]}, "jwks_uri": "https://c.example/j"}),
            400,
            "not both",
        ),
        (
            json!({"jwks": {"keys": [ec("k")]}, "token_endpoint_auth_signing_alg": "HS256"}),
            400,
            "HS256",
        ),
        (
            json!({"jwks": {"keys": [ec("k")]}, "token_endpoint_auth_signing_alg": "RS256"}),
            422,
            "RS256",
        ),
    ] {
        let p = problem(&api.post("/clients", &spec(extra.clone())), status);
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{extra}: {p}");
        assert!(
            !detail.contains("AAAA") && !detail.contains("c2VjcmV0"),
            "{p}"
        );
    }
    let secret_with_keys = json!({"name": "s", "owner": uid, "scopes": ["service"],
        "jwks": {"keys": [ec("k")]}});
    problem(&api.post("/clients", &secret_with_keys), 422);
    assert_eq!(api.get("/clients").json(), before, "nothing created");

    let extra = json!({"jwks": {"keys": [ec("k1")]}, "token_endpoint_auth_signing_alg": "ES256"});
    let created = api.post("/clients", &spec(extra));
    assert_eq!(created.status, 201, "{}", created.body);
    let c = created.json();
    assert_eq!(c["client_secret"], Value::Null);
    assert_eq!(
        c["keys"],
        json!([{"kid": "k1", "kty": "EC", "alg": "ES256"}])
    );
    assert_eq!(c["token_endpoint_auth_signing_alg"], "ES256");
    let cid = c["client_id"].as_str().unwrap().to_owned();
    let mut cli = env.json(&["client", "show", &cid]);
    cli.as_object_mut().unwrap().remove("quota_usage");
    assert_eq!(
        api.get(&format!("/clients/{cid}")).json(),
        cli,
        "the CLI's shape"
    );
    cid
}

/// `PUT …/keys`: a stale If-Match is 412 and changes nothing; the current one replaces the
/// keys (the registered algorithm stays) and yields a new ETag; the same keys again write
/// nothing; a `jwks_uri` replaces inline keys; refusals are 400/404/422.
fn replaced_keys(env: &Env, api: &Api<'_>, cid: &str) {
    let path = format!("/clients/{cid}/keys");
    let put =
        |headers: &[(&str, &str)], body: Value| api.send("PUT", &path, headers, &body.to_string());
    let etag = api
        .get(&format!("/clients/{cid}"))
        .header("etag")
        .unwrap()
        .to_owned();
    let k2 = json!({"jwks": {"keys": [ec("k2")]}});
    problem(&put(&[("If-Match", "\"stale\"")], k2.clone()), 412);
    let shown = api.get(&format!("/clients/{cid}")).json();
    assert_eq!(shown["keys"][0]["kid"], "k1", "nothing changed");
    let ok = put(&[("If-Match", &etag)], k2.clone());
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.json()["keys"],
        json!([{"kid": "k2", "kty": "EC", "alg": "ES256"}])
    );
    assert_eq!(
        ok.json()["token_endpoint_auth_signing_alg"],
        "ES256",
        "kept"
    );
    let new_tag = ok.header("etag").unwrap().to_owned();
    assert_ne!(new_tag, etag);
    let again = put(&[], k2);
    assert_eq!(
        again.header("etag"),
        Some(new_tag.as_str()),
        "nothing written"
    );
    let mut cli = env.json(&["client", "show", cid]);
    cli.as_object_mut().unwrap().remove("quota_usage");
    assert_eq!(again.json(), cli, "the CLI's shape");

    for (body, status) in [
        (json!({}), 400),
        (json!({"jwks": {"keys": [ec("a"), ec("a")]}}), 422),
        (json!({"jwks_uri": "ftp://client.example/jwks"}), 422),
        (json!({"token_endpoint_auth_signing_alg": "ES256"}), 400),
        (json!({"jwks": {"keys": [ec("a")]}, "extra": 1}), 400),
    ] {
        problem(&put(&[], body), status);
    }
    let uri = put(&[], json!({"jwks_uri": "https://client.example/jwks.json"}));
    assert_eq!(uri.status, 200, "{}", uri.body);
    assert_eq!(uri.json()["jwks_uri"], "https://client.example/jwks.json");
    assert_eq!(uri.json()["keys"], json!([]));
    let k = json!({"jwks": {"keys": [ec("k")]}}).to_string();
    problem(&api.send("PUT", "/clients/nope/keys", &[], &k), 404);
    let secret_path = format!("/clients/{}/keys", client_named(api, "grantd admin"));
    problem(&api.send("PUT", &secret_path, &[], &k), 422);
}

/// Add (201; 409 twice; 422 for an unknown issuer or a secret client; 400 for a bad body),
/// list in the CLI's shape, remove by issuer and subject (204, then 404).
fn federated_credentials(env: &Env, config: &str, api: &Api<'_>, uid: &str) {
    let wl = json!({"name": "wl", "owner": uid, "scopes": ["service"], "auth_method": "federated"});
    let created = api.post("/clients", &wl);
    assert_eq!(created.status, 201, "{}", created.body);
    let fid = created.json()["client_id"].as_str().unwrap().to_owned();
    let path = format!("/clients/{fid}/federated-credentials");
    assert_eq!(api.get(&path).json(), json!([]));
    let cred =
        json!({"issuer": "k8s", "subject": SA, "claims": {"kubernetes.io": {"namespace": "ci"}}});
    let added = api.post(&path, &cred);
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.json(), cred);
    problem(&api.post(&path, &cred), 409);
    let unknown = json!({"issuer": "nope", "subject": SA});
    problem(&api.post(&path, &unknown), 422);
    problem(&api.post(&path, &json!({"issuer": "k8s"})), 400);
    problem(&api.post("/clients/nope/federated-credentials", &cred), 404);
    let signer = client_named(api, "signer");
    problem(
        &api.post(&format!("/clients/{signer}/federated-credentials"), &cred),
        422,
    );
    let listed = api.get(&path);
    assert_eq!(listed.status, 200);
    let cli = env.json(&["--config", config, "client", "federate", "list", &fid]);
    assert_eq!(listed.json(), cli, "the CLI's shape");
    assert_eq!(listed.json(), json!([cred]));

    let query = format!("{path}?issuer=k8s&subject={}", form_encode(SA));
    let delete = |p: &str| api.send("DELETE", p, &[], "");
    assert_eq!(delete(&query).status, 204);
    problem(&delete(&query), 404);
    problem(&delete(&path), 400);
    assert_eq!(api.get(&path).json(), json!([]));
}

/// The id of the client listed under `name`.
fn client_named(api: &Api<'_>, name: &str) -> String {
    let list = api.get("/clients").json();
    let found = list.as_array().unwrap().iter().find(|c| c["name"] == name);
    found.unwrap_or_else(|| panic!("no client {name}: {list}"))["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}
