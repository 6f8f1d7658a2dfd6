//! Federated workload identities (issue 13 §2) through the real binary on both backends: a
//! local issuer started by the test on loopback stands in for Kubernetes (an ES256 key, its
//! JWKS and discovery document served over http on 127.0.0.1, `[federation]
//! allow_http_loopback = true`); platform tokens are signed with jsonwebtoken, an independent
//! JOSE implementation.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{BACKENDS, Env, Server};

const GRANTD: &str = "http://127.0.0.1:8080";
const JWT_BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
const SA: &str = "system:serviceaccount:ci:builder";

/// A platform's signing key (ES256, kid "k8s-1"), used through jsonwebtoken.
struct IssuerKey {
    encoding: EncodingKey,
    jwk: Value,
}

impl IssuerKey {
    fn new() -> IssuerKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der = pair.to_pkcs8v1().unwrap();
        let encoding = EncodingKey::from_ec_der(der.as_ref());
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap())
                .unwrap();
        jwk["kid"] = json!("k8s-1");
        IssuerKey { encoding, jwk }
    }

    fn token(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k8s-1".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A local issuer on 127.0.0.1: `/.well-known/openid-configuration` and `/jwks`. Returns its
/// base URL; the thread serves until the test process ends.
fn local_issuer(key: &IssuerKey) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string();
    let jwks = json!({"keys": [key.jwk]}).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the head.
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let body = if line.contains("/.well-known/openid-configuration") {
                &discovery
            } else if line.contains("/jwks") {
                &jwks
            } else {
                ""
            };
            let status = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: max-age=300\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(iss: &str, sub: &str, jti: &str) -> Value {
    json!({"iss": iss, "sub": sub, "aud": [GRANTD], "iat": now(), "nbf": now(),
           "exp": now() + 600, "jti": jti,
           "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder"}}})
}

/// `k8s` (keys by discovery, reusable tokens) and `minter` (keys by jwks_uri, one token per
/// call) share the local issuer's key but not its `iss`.
fn config(env: &Env, base: &str) -> String {
    let text = format!(
        r#"
[federation]
allow_http_loopback = true

[[federation.issuers]]
name = "k8s"
issuer = "{base}"
algorithms = ["ES256"]
max_lifetime = "1h"

[[federation.issuers]]
name = "minter"
issuer = "{base}/minter"
jwks_uri = "{base}/jwks"
algorithms = ["ES256"]
single_use_jti = true
"#
    );
    let path = env.dir.join("grantd.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn cli_json(env: &Env, config: &str, args: &[&str]) -> Value {
    let mut all = vec!["--config", config];
    all.extend_from_slice(args);
    env.json(&all)
}

fn post(server: &Server, client_id: &str, token: &str) -> support::Resp {
    let body = format!(
        "grant_type=client_credentials&client_id={client_id}&client_assertion_type={JWT_BEARER}&client_assertion={token}"
    );
    server.post_form("/oauth/token", None, &body)
}

/// Creates a federated client with credentials for `k8s` (pinning the namespace object) and
/// `minter`; returns its id.
fn federated_client(env: &Env, config: &str) -> String {
    let u = cli_json(
        env,
        config,
        &[
            "user",
            "create",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
        ],
    );
    let uid = u["id"].as_str().unwrap();
    let created = cli_json(
        env,
        config,
        &[
            "client",
            "create",
            "--name",
            "builder",
            "--owner",
            uid,
            "--scope",
            "service",
            "--auth-method",
            "federated",
        ],
    );
    assert_eq!(created["auth_method"], "federated");
    assert_eq!(created["client_secret"], Value::Null);
    let id = created["client_id"].as_str().unwrap().to_owned();
    let added = cli_json(
        env,
        config,
        &[
            "client",
            "federate",
            "add",
            &id,
            "--issuer",
            "k8s",
            "--subject",
            SA,
            "--claim-json",
            r#"kubernetes.io={"serviceaccount":{"name":"builder"},"namespace":"ci"}"#,
        ],
    );
    assert_eq!(added["issuer"], "k8s");
    assert_eq!(added["claims"]["kubernetes.io"]["namespace"], "ci");
    cli_json(
        env,
        config,
        &[
            "client",
            "federate",
            "add",
            &id,
            "--issuer",
            "minter",
            "--subject",
            SA,
        ],
    );
    id
}

#[test]
fn platform_tokens_authenticate_federated_clients_on_both_backends() {
    let key = IssuerKey::new();
    let base = local_issuer(&key);
    for backend in BACKENDS {
        let env = Env::new(backend);
        let config = config(&env, &base);
        let id = federated_client(&env, &config);
        let listed = cli_json(&env, &config, &["client", "federate", "list", &id]);
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(2),
            "{backend:?}: {listed}"
        );
        let explained = cli_json(&env, &config, &["explain", "--client", &id]);
        assert_eq!(explained["auth_method"], "federated", "{backend:?}");
        assert_eq!(explained["federated_credentials"], listed, "{backend:?}");
        let server = env.start_with(&["--config", &config]);

        // Accepted; a Kubernetes token is reused by design, so it is accepted again.
        let token = key.token(&claims(&base, SA, "k-1"));
        for attempt in 0..2 {
            let ok = post(&server, &id, &token);
            assert_eq!(ok.status, 200, "{backend:?} reuse {attempt}: {}", ok.body);
        }
        let sessions = cli_json(&env, &config, &["session", "list", "--client", &id]);
        let first = &sessions[0];
        assert_eq!(first["auth_method"], "federated", "{backend:?}: {sessions}");
        assert_eq!(first["federated_issuer"], "k8s", "{backend:?}");
        assert_eq!(first["federated_subject"], SA, "{backend:?}");

        // A single-use issuer's token buys one token.
        let minted = key.token(&claims(&format!("{base}/minter"), SA, "m-1"));
        assert_eq!(post(&server, &id, &minted).status, 200, "{backend:?}");
        let again = post(&server, &id, &minted);
        assert_eq!(
            again.status, 401,
            "{backend:?} single-use replay: {}",
            again.body
        );
        let refused = again.body.clone();
        assert_eq!(again.json()["error"], "invalid_client");

        let mut other_ns = claims(&base, SA, "c");
        other_ns["kubernetes.io"]["namespace"] = json!("prod");
        let mut wrong_aud = claims(&base, SA, "a");
        wrong_aud["aud"] = json!(["https://elsewhere"]);
        let mut expired = claims(&base, SA, "e");
        expired["exp"] = json!(now() - 5);
        let mut long_lived = claims(&base, SA, "l");
        long_lived["exp"] = json!(now() + 7200);
        let cases: Vec<(&str, String)> = vec![
            (
                "untrusted issuer",
                key.token(&claims("https://evil.example", SA, "u")),
            ),
            (
                "other subject",
                key.token(&claims(&base, "system:serviceaccount:ci:other", "s")),
            ),
            ("claim differs", key.token(&other_ns)),
            ("wrong aud", key.token(&wrong_aud)),
            ("expired", key.token(&expired)),
            ("longer than the issuer allows", key.token(&long_lived)),
            (
                "signed by another key",
                IssuerKey::new().token(&claims(&base, SA, "k")),
            ),
        ];
        for (what, token) in cases {
            let r = post(&server, &id, &token);
            assert_eq!(r.status, 401, "{backend:?} {what}: {}", r.body);
            assert_eq!(r.body, refused, "{backend:?} {what}: the same answer");
        }

        // Removed credential: the token no longer works.
        let out = env.cli(&[
            "--config",
            &config,
            "client",
            "federate",
            "remove",
            &id,
            "--issuer",
            "k8s",
            "--subject",
            SA,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Credentials are cached with their client: the removal reaches the running server
        // like any client change (change notification, ~250 ms), then every token is refused.
        let refused = (0..50).any(|i| {
            let fresh = key.token(&claims(&base, SA, &format!("k-2-{i}")));
            let gone = post(&server, &id, &fresh).status == 401;
            if !gone {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            gone
        });
        assert!(refused, "{backend:?}: still accepted 5 s after remove");
        let fresh = key.token(&claims(&base, SA, "k-3"));
        assert_eq!(
            post(&server, &id, &fresh).status,
            401,
            "{backend:?} after remove"
        );
    }
}

#[test]
fn credentials_need_a_federated_client_and_a_trusted_issuer() {
    let key = IssuerKey::new();
    let base = local_issuer(&key);
    let env = Env::new(support::Backend::Sqlite);
    let config = config(&env, &base);
    let id = federated_client(&env, &config);
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        env.cli(&all)
    };
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "client",
                "federate",
                "add",
                &id,
                "--issuer",
                "gh",
                "--subject",
                "x",
            ],
            "unknown issuer",
        ),
        (
            &[
                "client",
                "federate",
                "add",
                &id,
                "--issuer",
                "k8s",
                "--subject",
                SA,
            ],
            "already has",
        ),
        (
            &[
                "client",
                "federate",
                "remove",
                &id,
                "--issuer",
                "k8s",
                "--subject",
                "nobody",
            ],
            "no federated credential",
        ),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
