//! `private_key_jwt` registration (RFC 7523, issue 13) through the real binary on both
//! backends: a client is created with an inline public JWKS and no secret, its keys are shown
//! by kid/kty/alg only, and every JWKS that must not be registered is refused with exit 1 and
//! nothing stored; then assertions at the token endpoint, signed in the test with
//! jsonwebtoken (an independent JOSE implementation) over aws-lc-rs keys. Clients registered
//! by `jwks_uri` are served their JWKS by a server the test runs on loopback.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{BACKENDS, Env, Server};

/// RFC 7515 A.3's P-256 public key and RFC 8037 A.2's Ed25519 public key.
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn ec(kid: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": kid, "alg": "ES256"})
}

fn ed(kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": kid})
}

fn write_jwks(env: &Env, name: &str, keys: Vec<Value>) -> String {
    let path = env.dir.join(name);
    std::fs::write(&path, json!({ "keys": keys }).to_string()).expect("write jwks");
    path.display().to_string()
}

fn create_args<'a>(uid: &'a str, method: &'a str, jwks: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec![
        "client", "create", "--name", "svc", "--owner", uid, "--scope", "service",
    ];
    args.extend(["--auth-method", method]);
    if let Some(path) = jwks {
        args.extend(["--jwks-file", path]);
    }
    args
}

fn user(env: &Env) -> String {
    let u = env.json(&[
        "user",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
    ]);
    u["id"].as_str().expect("id").to_owned()
}

#[test]
fn a_client_registers_public_keys_and_gets_no_secret_on_both_backends() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let uid = user(&env);
        let jwks = write_jwks(&env, "keys.json", vec![ec("k-ec"), ed("k-ed")]);
        let created = env.json(&create_args(&uid, "private_key_jwt", Some(&jwks)));
        assert_eq!(created["auth_method"], "private_key_jwt", "{backend:?}");
        assert_eq!(created["client_secret"], Value::Null, "{backend:?}");
        let want = json!([
            {"kid": "k-ec", "kty": "EC", "alg": "ES256"},
            {"kid": "k-ed", "kty": "OKP", "alg": null},
        ]);
        assert_eq!(created["keys"], want, "{backend:?}");
        let id = created["client_id"].as_str().expect("id");
        let shown = env.json(&["client", "show", id]);
        assert_eq!(shown["keys"], want, "{backend:?}: read back from the store");
        let text = String::from_utf8_lossy(&env.cli(&["client", "show", id]).stdout).to_string();
        assert!(text.contains("k-ec") && !text.contains(EC_X), "{text}");
    }
}

#[test]
fn unusable_jwks_files_and_mismatched_methods_exit_1_and_store_nothing() {
    use base64::Engine as _;
    let short_n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
    let mut private = ec("p");
    private["d"] = json!("AAAA");
    let bad: Vec<(&str, Vec<Value>, &str)> = vec![
        ("private.json", vec![private], "private members"),
        (
            "oct.json",
            vec![json!({"kty": "oct", "k": "c2VjcmV0"})],
            "symmetric",
        ),
        ("dup.json", vec![ec("same"), ed("same")], "share the kid"),
        (
            "rsa.json",
            vec![json!({"kty": "RSA", "n": short_n, "e": "AQAB"})],
            "2048",
        ),
        (
            "p384.json",
            vec![json!({"kty": "EC", "crv": "P-384", "x": EC_X, "y": EC_Y})],
            "unusable",
        ),
        ("empty.json", vec![], "not a JWKS"),
    ];
    for backend in BACKENDS {
        let env = Env::new(backend);
        let uid = user(&env);
        for (name, keys, needle) in &bad {
            let path = write_jwks(&env, name, keys.clone());
            let out = env.cli(&create_args(&uid, "private_key_jwt", Some(&path)));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{backend:?} {name}: {err}");
            assert!(err.contains(needle), "{backend:?} {name}: {err}");
            assert!(!err.contains("AAAA") && !err.contains("c2VjcmV0"), "{err}");
        }
        let good = write_jwks(&env, "good.json", vec![ec("k")]);
        for args in [
            create_args(&uid, "private_key_jwt", None),
            create_args(&uid, "client_secret_basic", Some(&good)),
        ] {
            let out = env.cli(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{backend:?} {args:?}: {err}");
            assert!(err.contains("private_key_jwt"), "{err}");
        }
        assert_eq!(env.json(&["client", "list"]), json!([]), "{backend:?}");
    }
}

const ISSUER: &str = "http://127.0.0.1:8080";
const TOKEN_URL: &str = "http://127.0.0.1:8080/oauth/token";
const JWT_BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// A private_key_jwt client's ES256 key, made by aws-lc-rs, used through jsonwebtoken.
struct ClientKey {
    encoding: EncodingKey,
    jwk: Jwk,
    public: Vec<u8>,
}

impl ClientKey {
    fn new() -> ClientKey {
        use aws_lc_rs::signature::KeyPair as _;
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der = pair.to_pkcs8v1().unwrap();
        let encoding = EncodingKey::from_ec_der(der.as_ref());
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        ClientKey {
            encoding,
            jwk,
            public,
        }
    }

    fn assertion(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(client: &str, jti: &str) -> Value {
    json!({"iss": client, "sub": client, "aud": TOKEN_URL, "iat": now(), "exp": now() + 60, "jti": jti})
}

fn post_assertion(server: &Server, assertion: &str, extra: &str) -> support::Resp {
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={JWT_BEARER}&client_assertion={assertion}{extra}"
    );
    server.post_form("/oauth/token", None, &body)
}

/// Registers a private_key_jwt client with `key` (kid k1) and returns its id.
fn register(env: &Env, key: &ClientKey) -> String {
    let uid = user(env);
    let mut jwk = serde_json::to_value(&key.jwk).unwrap();
    jwk["kid"] = json!("k1");
    let path = write_jwks(env, "client.json", vec![jwk]);
    let created = env.json(&create_args(&uid, "private_key_jwt", Some(&path)));
    created["client_id"].as_str().expect("id").to_owned()
}

#[test]
fn assertions_get_tokens_once_and_every_bad_one_is_the_same_401_on_both_backends() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let key = ClientKey::new();
        let id = register(&env, &key);
        let server = env.start();

        let good = key.assertion(&claims(&id, "jti-1"));
        let ok = post_assertion(&server, &good, &format!("&client_id={id}"));
        assert_eq!(ok.status, 200, "{backend:?}: {}", ok.body);
        assert!(ok.json()["access_token"].is_string());
        let mut issuer_aud = claims(&id, "jti-2");
        issuer_aud["aud"] = json!([ISSUER]);
        let ok = post_assertion(&server, &key.assertion(&issuer_aud), "");
        assert_eq!(ok.status, 200, "{backend:?} aud = [issuer]: {}", ok.body);

        let replay = post_assertion(&server, &good, "");
        assert_eq!(replay.status, 401, "{backend:?} replay: {}", replay.body);
        assert_eq!(replay.json()["error"], "invalid_client");
        let refused = replay.body.clone();

        let other = ClientKey::new();
        let edits: Vec<(&str, String)> = vec![
            ("expired", key.assertion(&json!({"iss": id, "sub": id, "aud": TOKEN_URL, "exp": now() - 5, "jti": "e"}))),
            ("too long-lived", key.assertion(&json!({"iss": id, "sub": id, "aud": TOKEN_URL, "iat": now(), "exp": now() + 3600, "jti": "l"}))),
            ("future iat", key.assertion(&json!({"iss": id, "sub": id, "aud": TOKEN_URL, "iat": now() + 120, "exp": now() + 180, "jti": "f"}))),
            ("wrong aud", key.assertion(&json!({"iss": id, "sub": id, "aud": "https://elsewhere", "exp": now() + 60, "jti": "a"}))),
            ("other key", other.assertion(&claims(&id, "o"))),
            ("hs256 with the public key", hs256(&key.public, &claims(&id, "h"))),
            ("unknown kid", unknown_kid(&key, &claims(&id, "u"))),
            ("no jti", key.assertion(&json!({"iss": id, "sub": id, "aud": TOKEN_URL, "exp": now() + 60}))),
        ];
        for (name, assertion) in edits {
            let r = post_assertion(&server, &assertion, "");
            assert_eq!(r.status, 401, "{backend:?} {name}: {}", r.body);
            assert_eq!(r.body, refused, "{backend:?} {name}: the same answer");
        }

        let beside = post_assertion(
            &server,
            &key.assertion(&claims(&id, "s")),
            "&client_secret=x",
        );
        assert_eq!(beside.status, 400, "{backend:?}: {}", beside.body);
        assert_eq!(beside.json()["error"], "invalid_request");
        let other_id = post_assertion(
            &server,
            &key.assertion(&claims(&id, "c")),
            "&client_id=cl_other",
        );
        assert_eq!(other_id.status, 401, "{backend:?}: {}", other_id.body);
    }
}

fn hs256(public: &[u8], claims: &Value) -> String {
    let header = Header::new(Algorithm::HS256);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(public)).unwrap()
}

fn unknown_kid(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k9".into());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Two grantd processes on one Postgres: an assertion that bought a token from one is refused
/// by the other (the session row's unique replay key, not per-process memory). Sent to both
/// at once, exactly one of them answers 200.
#[test]
fn a_replay_to_another_process_on_one_postgres_is_refused() {
    let env = Env::new(support::Backend::Postgres);
    let key = ClientKey::new();
    let id = register(&env, &key);
    let (a, b) = (env.start(), env.start());
    let first = key.assertion(&claims(&id, "shared-1"));
    assert_eq!(post_assertion(&a, &first, "").status, 200);
    let again = post_assertion(&b, &first, "");
    assert_eq!(again.status, 401, "{}", again.body);
    assert_eq!(again.json()["error"], "invalid_client");

    let second = key.assertion(&claims(&id, "shared-2"));
    let statuses = std::thread::scope(|s| {
        let ha = s.spawn(|| post_assertion(&a, &second, "").status);
        let hb = s.spawn(|| post_assertion(&b, &second, "").status);
        let mut v = vec![ha.join().unwrap(), hb.join().unwrap()];
        v.sort_unstable();
        v
    });
    assert_eq!(statuses, vec![200, 401]);
}

// ---------- jwks_uri ----------

/// A JWKS publisher on loopback whose answer the test changes: status (0: the connection is
/// closed without an answer), Content-Type and body; it counts the requests it got.
struct Publisher {
    url: String,
    answer: std::sync::Arc<std::sync::Mutex<(u16, String, String)>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Publisher {
    fn start() -> Publisher {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let answer =
            std::sync::Arc::new(std::sync::Mutex::new((200, String::new(), String::new())));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 8192];
                let _ = conn.read(&mut buf);
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, ctype, body) = a.lock().unwrap().clone();
                if status == 0 {
                    continue;
                }
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
                     Cache-Control: max-age=60\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body.as_bytes());
            }
        });
        Publisher { url, answer, hits }
    }

    fn serve(&self, status: u16, ctype: &str, body: String) {
        *self.answer.lock().unwrap() = (status, ctype.to_owned(), body);
    }

    fn serve_keys(&self, keys: &[(&ClientKey, &str)]) {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(key, kid)| {
                let mut jwk = serde_json::to_value(&key.jwk).unwrap();
                jwk["kid"] = json!(kid);
                jwk
            })
            .collect();
        self.serve(200, "application/json", json!({ "keys": keys }).to_string());
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn signed(key: &ClientKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Short lifetimes so expiry happens within the test: a set lives 2 s (its max-age of 60 s
/// clamped), no grace, every unknown kid may refetch.
fn jwks_env(backend: support::Backend) -> Env {
    let mut env = Env::new(backend);
    env.set("GRANTD_JWKS_FETCH__ALLOW_HTTP_LOOPBACK", "true")
        .set("GRANTD_JWKS_FETCH__MIN_CACHE", "1s")
        .set("GRANTD_JWKS_FETCH__MAX_CACHE", "2s")
        .set("GRANTD_JWKS_FETCH__STALE_GRACE", "0s")
        .set("GRANTD_JWKS_FETCH__REFETCH_INTERVAL", "0s")
        .set("GRANTD_JWKS_FETCH__MAX_BYTES", "1024");
    env
}

#[test]
fn a_jwks_uri_client_rotates_keys_and_an_unusable_uri_is_the_same_401_on_both_backends() {
    for backend in BACKENDS {
        let env = jwks_env(backend);
        let publisher = Publisher::start();
        let (k1, k2) = (ClientKey::new(), ClientKey::new());
        publisher.serve_keys(&[(&k1, "k1")]);
        let uid = user(&env);
        let mut args = create_args(&uid, "private_key_jwt", None);
        args.extend(["--jwks-uri", &publisher.url]);
        let created = env.json(&args);
        assert_eq!(created["jwks_uri"], publisher.url.as_str(), "{backend:?}");
        assert_eq!(created["client_secret"], Value::Null, "{backend:?}");
        let id = created["client_id"].as_str().unwrap().to_owned();
        let shown = env.json(&["client", "show", &id]);
        assert_eq!(
            shown["jwks_uri"],
            publisher.url.as_str(),
            "{backend:?}: stored"
        );
        assert_eq!(
            publisher.hits(),
            0,
            "{backend:?}: registration fetches nothing"
        );
        let server = env.start();

        let ok = post_assertion(&server, &signed(&k1, "k1", &claims(&id, "j1")), "");
        assert_eq!(ok.status, 200, "{backend:?}: {}", ok.body);
        let ok = post_assertion(&server, &signed(&k1, "k1", &claims(&id, "j2")), "");
        assert_eq!(ok.status, 200, "{backend:?} cached: {}", ok.body);
        assert_eq!(
            publisher.hits(),
            1,
            "{backend:?}: one fetch, then the cache"
        );

        // The client rotates in k2: its first assertion's unknown kid refetches.
        publisher.serve_keys(&[(&k1, "k1"), (&k2, "k2")]);
        let ok = post_assertion(&server, &signed(&k2, "k2", &claims(&id, "j3")), "");
        assert_eq!(ok.status, 200, "{backend:?} rotated: {}", ok.body);
        assert_eq!(publisher.hits(), 2, "{backend:?}");
        let bad = post_assertion(&server, &signed(&k2, "k9", &claims(&id, "j4")), "");
        assert_eq!(bad.status, 401, "{backend:?} kid nobody has: {}", bad.body);
        let refused = bad.body.clone();

        // The publisher goes down; once the set's lifetime (2 s, no grace) has passed, new
        // assertions are refused, and so is every answer other than a 200 JSON JWKS.
        publisher.serve(0, "", String::new());
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let oversized = json!({"keys": [], "pad": "x".repeat(2000)}).to_string();
        let good = json!({"keys": [serde_json::to_value(&k2.jwk).unwrap()]}).to_string();
        let cases = [
            ("down", 0, "application/json", String::new()),
            ("500", 500, "application/json", good.clone()),
            ("not json", 200, "text/html", good.clone()),
            ("oversized", 200, "application/json", oversized),
            ("private key served", 200, "application/json", {
                let mut jwk = serde_json::to_value(&k2.jwk).unwrap();
                jwk["d"] = json!("AAAA");
                json!({"keys": [jwk]}).to_string()
            }),
        ];
        for (i, (name, status, ctype, body)) in cases.into_iter().enumerate() {
            publisher.serve(status, ctype, body);
            let before = publisher.hits();
            let r = post_assertion(
                &server,
                &signed(&k2, "k2", &claims(&id, &format!("d{i}"))),
                "",
            );
            assert_eq!(r.status, 401, "{backend:?} {name}: {}", r.body);
            assert_eq!(r.body, refused, "{backend:?} {name}: the same answer");
            assert!(publisher.hits() > before, "{backend:?} {name}: fetched");
        }
        let log = server.wait_for_log("jwks_uri");
        assert!(log.is_some(), "{backend:?}: the reason is logged");
        // Back up: the next assertion gets its token.
        publisher.serve_keys(&[(&k2, "k2")]);
        let ok = post_assertion(&server, &signed(&k2, "k2", &claims(&id, "up")), "");
        assert_eq!(ok.status, 200, "{backend:?} recovered: {}", ok.body);
    }
}

#[test]
fn a_jwks_uri_must_be_https_or_allowed_http_to_loopback_on_both_backends() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        let uid = user(&env);
        let create = |env: &Env, extra: &[&str]| {
            let mut args = create_args(&uid, "private_key_jwt", None);
            args.extend(extra);
            env.cli(&args)
        };
        let jwks = write_jwks(&env, "k.json", vec![ec("k")]);
        for (extra, needle) in [
            (vec!["--jwks-uri", "http://client.example/jwks"], "loopback"),
            (
                vec!["--jwks-uri", "http://127.0.0.1:9/jwks"],
                "allow_http_loopback",
            ),
            (
                vec!["--jwks-uri", "https://user@client.example/jwks"],
                "https",
            ),
            (
                vec!["--jwks-uri", "https://a.example/k", "--jwks-file", &jwks],
                "cannot be used",
            ),
        ] {
            let out = create(&env, &extra);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{backend:?} {extra:?}: {err}");
            assert!(err.contains(needle), "{backend:?} {extra:?}: {err}");
        }
        assert_eq!(env.json(&["client", "list"]), json!([]), "{backend:?}");
        let ok = create(&env, &["--jwks-uri", "https://client.example/jwks.json"]);
        assert_eq!(ok.status.code(), Some(0), "{backend:?}");
        env.set("GRANTD_JWKS_FETCH__ALLOW_HTTP_LOOPBACK", "true");
        let ok = create(&env, &["--jwks-uri", "http://127.0.0.1:9/jwks"]);
        assert_eq!(ok.status.code(), Some(0), "{backend:?}");
    }
}

fn ed_key_jwk(kid: &str) -> Value {
    ed(kid)
}

/// `--assertion-alg` binds a client to one algorithm: an ES256 assertion by its own EC key is
/// then the same 401 as every other failure, with the typed reason in the log. `client
/// set-keys` replaces the keys (the registered algorithm stays), is audited with kids only,
/// and a running server sees it (cache invalidation through change notifications).
#[test]
fn a_registered_alg_is_enforced_and_set_keys_replaces_keys_on_both_backends() {
    for backend in BACKENDS {
        let mut env = Env::new(backend);
        env.set("GRANTD_AUDIT__FILE", "audit.jsonl");
        let key = ClientKey::new();
        let uid = user(&env);
        let mut jwk = serde_json::to_value(&key.jwk).unwrap();
        jwk["kid"] = json!("k1");
        let both = write_jwks(&env, "both.json", vec![jwk.clone(), ed_key_jwk("k2")]);
        let mut args = create_args(&uid, "private_key_jwt", Some(&both));
        args.extend(["--assertion-alg", "EdDSA"]);
        let created = env.json(&args);
        assert_eq!(created["token_endpoint_auth_signing_alg"], "EdDSA");
        let id = created["client_id"].as_str().unwrap().to_owned();
        let explained = env.json(&["explain", "--client", &id]);
        assert_eq!(explained["auth_method"], "private_key_jwt", "{explained}");
        assert_eq!(explained["token_endpoint_auth_signing_alg"], "EdDSA");
        let server = env.start();
        let refused = post_assertion(&server, &key.assertion(&claims(&id, "a1")), "");
        assert_eq!(refused.status, 401, "{backend:?}: {}", refused.body);
        assert_eq!(refused.json()["error"], "invalid_client");
        assert!(
            server.wait_for_log("AlgorithmNotRegistered").is_some(),
            "{backend:?}: the typed reason is logged"
        );

        // Replace the keys (EC only) and the algorithm (ES256): the running server follows.
        let ec_only = write_jwks(&env, "ec.json", vec![jwk.clone()]);
        let set = ["client", "set-keys", &id, "--jwks-file", &ec_only];
        let mut es = set.to_vec();
        es.extend(["--assertion-alg", "ES256"]);
        let shown = env.json(&es);
        assert_eq!(
            shown["keys"],
            json!([{"kid": "k1", "kty": "EC", "alg": "ES256"}])
        );
        assert_eq!(shown["token_endpoint_auth_signing_alg"], "ES256");
        let ok = (0..50).find_map(|i| {
            let r = post_assertion(&server, &key.assertion(&claims(&id, &format!("b{i}"))), "");
            std::thread::sleep(std::time::Duration::from_millis(100));
            (r.status == 200).then_some(r)
        });
        assert!(ok.is_some(), "{backend:?}: the new keys never took effect");
        // Keys the registered ES256 cannot use (Ed25519 only): refused, nothing changes.
        let ed_only = write_jwks(&env, "ed.json", vec![ed_key_jwk("k3")]);
        let out = env.cli(&["client", "set-keys", &id, "--jwks-file", &ed_only]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("ES256"), "{err}");
        let still = env.json(&["client", "show", &id]);
        assert_eq!(still["keys"][0]["kid"], "k1");

        let audit = std::fs::read_to_string(env.dir.join("audit.jsonl")).unwrap();
        let line = audit
            .lines()
            .find(|l| l.contains("client.keys.update"))
            .unwrap_or_else(|| panic!("{backend:?}: no keys audit event in {audit}"));
        assert!(line.contains("k1,k2") && line.contains("EdDSA"), "{line}");
        let x = jwk["x"].as_str().unwrap();
        assert!(!audit.contains(x) && !audit.contains(ED_X), "{audit}");
    }
}

/// A running server that verified assertions with a client's key (parsed once and cached)
/// follows `client set-keys` to another key under the same kid: the new key's assertions pass,
/// and the old key's are refused from then on.
#[test]
fn a_key_replaced_under_the_same_kid_is_refused_by_a_running_server_on_both_backends() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (old, new) = (ClientKey::new(), ClientKey::new());
        let id = register(&env, &old);
        let server = env.start();
        let post = |key: &ClientKey, jti: String| {
            post_assertion(&server, &key.assertion(&claims(&id, &jti)), "")
        };
        for i in 0..3 {
            let r = post(&old, format!("old-{i}"));
            assert_eq!(r.status, 200, "{backend:?}: {}", r.body);
        }
        let mut jwk = serde_json::to_value(&new.jwk).unwrap();
        jwk["kid"] = json!("k1");
        let path = write_jwks(&env, "new.json", vec![jwk]);
        env.json(&["client", "set-keys", &id, "--jwks-file", &path]);
        let took = (0..50).find(|i| {
            let ok = post(&new, format!("new-{i}")).status == 200;
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            ok
        });
        assert!(took.is_some(), "{backend:?}: the new key never took effect");
        for i in 0..3 {
            let r = post(&old, format!("late-{i}"));
            assert_eq!(r.status, 401, "{backend:?}: the replaced key: {}", r.body);
        }
    }
}

/// Assertions sent without `client_id` are rate-limited per the client their (unverified)
/// `iss` names, not under one shared empty id: client A's exhausted bucket leaves client B's
/// requests alone.
#[test]
fn assertions_without_client_id_are_rate_limited_per_named_client() {
    let mut env = Env::new(support::Backend::Sqlite);
    env.set("GRANTD_RATE_LIMIT__PER_CLIENT", "1")
        .set("GRANTD_RATE_LIMIT__PER_CLIENT_BURST", "2");
    let (ka, kb) = (ClientKey::new(), ClientKey::new());
    let a = register(&env, &ka);
    let b = {
        let mut jwk = serde_json::to_value(&kb.jwk).unwrap();
        jwk["kid"] = json!("k1");
        let path = write_jwks(&env, "b.json", vec![jwk]);
        let uid = env.json(&[
            "user",
            "create",
            "--name",
            "Bo",
            "--email",
            "bo@example.com",
        ]);
        let args = create_args(uid["id"].as_str().unwrap(), "private_key_jwt", Some(&path));
        env.json(&args)["client_id"].as_str().unwrap().to_owned()
    };
    let server = env.start();
    let statuses: Vec<u16> = (0..4)
        .map(|i| post_assertion(&server, &ka.assertion(&claims(&a, &format!("a{i}"))), "").status)
        .collect();
    assert!(
        statuses.contains(&429),
        "client A never limited: {statuses:?}"
    );
    let other = post_assertion(&server, &kb.assertion(&claims(&b, "b0")), "");
    assert_eq!(
        other.status, 200,
        "client B shares A's bucket: {}",
        other.body
    );
}
