//! Outside-in tests of DPoP (RFC 9449) at the token endpoint: the real binary on both backends.
//! Proofs are made with jsonwebtoken (an independent JOSE implementation) over keys generated
//! by aws-lc-rs; the expected thumbprint comes from jsonwebtoken's RFC 7638 code, never
//! grantd's. Covers binding (token, JWT `cnf`, introspection), each refusal, single use across
//! two grantd processes on one database, and the nonce challenge.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{BACKENDS, Env, Server};

/// The issuer the test environment configures: proofs name its token URL.
const TOKEN_URL: &str = "http://127.0.0.1:8080/oauth/token";

/// A client's DPoP key.
struct DpopKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl DpopKey {
    fn new() -> DpopKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der = pair.to_pkcs8v1().unwrap();
        let encoding = EncodingKey::from_ec_der(der.as_ref());
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        DpopKey { encoding, jwk }
    }

    /// RFC 7638 thumbprint, computed by jsonwebtoken.
    fn thumbprint(&self) -> String {
        self.jwk.thumbprint(ThumbprintHash::SHA256).unwrap()
    }

    /// A proof with these claims, signed by this key, carrying `jwk` in its header.
    fn proof_with_jwk(&self, jwk: &Jwk, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(jwk.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    fn proof(&self, claims: &Value) -> String {
        self.proof_with_jwk(&self.jwk, claims)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(jti: &str) -> Value {
    json!({"htm": "POST", "htu": TOKEN_URL, "iat": now(), "jti": jti})
}

fn fresh_claims() -> Value {
    claims(&support::unique())
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn token_with(server: &Server, id: &str, secret: &str, proofs: &[&str]) -> support::Resp {
    let headers: Vec<(&str, &str)> = proofs.iter().map(|p| ("DPoP", *p)).collect();
    server.post_form_with(
        "/oauth/token",
        Some((id, secret)),
        &headers,
        "grant_type=client_credentials&scope=service",
    )
}

fn introspect(server: &Server, caller: (&str, &str), token: &str) -> Value {
    let resp = server.post_form(
        "/oauth/introspect",
        Some(caller),
        &format!("token={}", support::form_encode(token)),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

fn env_with_client(backend: support::Backend) -> (Env, String, String) {
    let env = Env::new(backend);
    let (_, id, secret) = env.user_and_client(&[], "service", "client_secret_basic");
    (env, id, secret)
}

#[test]
fn a_proof_binds_the_token_to_its_key() {
    for backend in BACKENDS {
        let (env, id, secret) = env_with_client(backend);
        let server = env.start();
        let key = DpopKey::new();
        let resp = token_with(&server, &id, &secret, &[&key.proof(&fresh_claims())]);
        assert_eq!(resp.status, 200, "{backend:?}: {}", resp.body);
        let body = resp.json();
        assert_eq!(body["token_type"], "DPoP", "{backend:?}");
        let token = body["access_token"].as_str().unwrap();
        let jwt = support::verify_via_jwks(&server, token, "ES256", "api", "http://127.0.0.1:8080");
        assert_eq!(jwt["cnf"], json!({"jkt": key.thumbprint()}), "{backend:?}");

        let seen = introspect(&server, (&id, &secret), token);
        assert_eq!(seen["active"], true);
        assert_eq!(seen["token_type"], "DPoP");
        assert_eq!(seen["cnf"]["jkt"], key.thumbprint().as_str());

        // Revocation is unchanged for bound tokens.
        let r = server.post_form(
            "/oauth/revoke",
            Some((&id, &secret)),
            &format!("token={}", support::form_encode(token)),
        );
        assert_eq!(r.status, 200);
        assert_eq!(introspect(&server, (&id, &secret), token)["active"], false);

        // Without a proof: a Bearer token, no cnf.
        let resp = token_with(&server, &id, &secret, &[]);
        assert_eq!(resp.json()["token_type"], "Bearer");
        let token = resp.json()["access_token"].as_str().unwrap().to_owned();
        let jwt =
            support::verify_via_jwks(&server, &token, "ES256", "api", "http://127.0.0.1:8080");
        assert!(jwt.get("cnf").is_none(), "{jwt}");
        assert_eq!(
            introspect(&server, (&id, &secret), &token)["token_type"],
            "Bearer"
        );
    }
}

/// Each check of RFC 9449 §4.3, able to fail on its own: a refusal is `400 invalid_dpop_proof`
/// and no token.
#[test]
fn each_refused_proof_is_invalid_dpop_proof() {
    for backend in BACKENDS {
        let (env, id, secret) = env_with_client(backend);
        let server = env.start();
        let key = DpopKey::new();
        let other = DpopKey::new();
        let with = |k: &str, v: Value| {
            let mut c = fresh_claims();
            c[k] = v;
            key.proof(&c)
        };
        let unsigned = format!(
            "{}.{}.",
            b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk})),
            b64(&fresh_claims())
        );
        let symmetric = {
            let secret = EncodingKey::from_secret(b"0123456789abcdef");
            let oct = Jwk::from_encoding_key(&secret, Algorithm::HS256).unwrap();
            key.proof_with_jwk(&oct, &fresh_claims())
        };
        let hmac = jsonwebtoken::encode(
            &serde_json::from_value::<Header>(json!({"typ": "dpop+jwt", "alg": "HS256"})).unwrap(),
            &fresh_claims(),
            &EncodingKey::from_secret(b"0123456789abcdef"),
        )
        .unwrap();
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "another URL",
                with("htu", json!("http://127.0.0.1:8080/oauth/introspect")),
                "htu",
            ),
            (
                "another host",
                with("htu", json!("http://evil.example:8080/oauth/token")),
                "htu",
            ),
            ("another method", with("htm", json!("GET")), "htm"),
            ("expired", with("iat", json!(now() - 3600)), "iat"),
            ("from the future", with("iat", json!(now() + 3600)), "iat"),
            (
                "no jti",
                {
                    let mut c = fresh_claims();
                    c.as_object_mut().unwrap().remove("jti");
                    key.proof(&c)
                },
                "jti",
            ),
            (
                "signed by another key",
                key.proof_with_jwk(&other.jwk, &fresh_claims()),
                "signature",
            ),
            ("alg none", unsigned, "alg"),
            ("symmetric jwk", symmetric, "jwk"),
            ("alg HS256", hmac, "alg"),
            ("not a JWS", "not-a-jws".to_owned(), "well-formed"),
        ];
        for (name, proof, word) in cases {
            let resp = token_with(&server, &id, &secret, &[&proof]);
            assert_eq!(resp.status, 400, "{backend:?} {name}: {}", resp.body);
            let body = resp.json();
            assert_eq!(body["error"], "invalid_dpop_proof", "{backend:?} {name}");
            let description = body["error_description"].as_str().unwrap();
            assert!(description.contains(word), "{name}: {description}");
            assert!(body.get("access_token").is_none());
        }
        let two = [key.proof(&fresh_claims()), key.proof(&fresh_claims())];
        let resp = token_with(&server, &id, &secret, &[&two[0], &two[1]]);
        assert_eq!(
            (resp.status, resp.json()["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "two DPoP headers"
        );
    }
}

/// A proof buys one token, whichever grantd process sees it: two servers on one database, the
/// same proof to each, exactly one token.
#[test]
fn a_replayed_proof_gets_no_second_token_across_processes() {
    for backend in BACKENDS {
        let (env, id, secret) = env_with_client(backend);
        let (a, b) = (env.start(), env.start());
        let key = DpopKey::new();
        let proof = key.proof(&fresh_claims());
        let first = token_with(&a, &id, &secret, &[&proof]);
        assert_eq!(first.status, 200, "{}", first.body);
        for (server, name) in [(&a, "same process"), (&b, "other process")] {
            let again = token_with(server, &id, &secret, &[&proof]);
            assert_eq!(again.status, 400, "{backend:?} {name}: {}", again.body);
            assert_eq!(again.json()["error"], "invalid_dpop_proof");
            assert_eq!(
                again.json()["error_description"],
                "DPoP proof was already used"
            );
        }
        // Concurrently, to both: exactly one wins.
        let proof = key.proof(&fresh_claims());
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = [&a, &b, &a, &b]
                .into_iter()
                .map(|server| s.spawn(|| token_with(server, &id, &secret, &[&proof]).status))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 400, 400, 400], "{backend:?}: {statuses:?}");
        // A fresh proof from the same key is fine.
        let fresh = token_with(&b, &id, &secret, &[&key.proof(&fresh_claims())]);
        assert_eq!(fresh.status, 200, "{}", fresh.body);
    }
}

/// `[dpop] nonce = true`: a proof without the server's nonce is challenged with one; a new
/// proof carrying it succeeds, on this replica or another (nonces are stateless).
#[test]
fn nonce_challenge_then_retry_with_the_nonce() {
    for backend in BACKENDS {
        let (mut env, id, secret) = env_with_client(backend);
        env.set("GRANTD_DPOP__NONCE", "true");
        let (a, b) = (env.start(), env.start());
        let key = DpopKey::new();
        let resp = token_with(&a, &id, &secret, &[&key.proof(&fresh_claims())]);
        assert_eq!(resp.status, 400, "{}", resp.body);
        assert_eq!(resp.json()["error"], "use_dpop_nonce");
        let nonce = resp.header("dpop-nonce").expect("DPoP-Nonce").to_owned();

        let mut wrong = fresh_claims();
        wrong["nonce"] = json!("not-a-nonce");
        let resp = token_with(&a, &id, &secret, &[&key.proof(&wrong)]);
        assert_eq!(resp.json()["error"], "use_dpop_nonce");

        for server in [&a, &b] {
            let mut c = fresh_claims();
            c["nonce"] = json!(nonce);
            let resp = token_with(server, &id, &secret, &[&key.proof(&c)]);
            assert_eq!(resp.status, 200, "{backend:?}: {}", resp.body);
            assert_eq!(resp.json()["token_type"], "DPoP");
            assert!(
                resp.header("dpop-nonce").is_some(),
                "a fresh nonce on success"
            );
        }
    }
}

#[test]
fn discovery_lists_the_proof_algorithms() {
    let env = Env::new(support::Backend::Sqlite);
    let server = env.start();
    let meta = server.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
    );
}

/// `client create --dpop required`: without a proof the request is `invalid_request` naming
/// the reason, with one it is served; `client update --dpop optional` lifts it on the running
/// server; show and explain print the policy.
#[test]
fn a_client_can_require_dpop() {
    for backend in BACKENDS {
        let env = Env::new(backend);
        let (uid, _, _) = env.user_and_client(&[], "service", "client_secret_basic");
        let created = env.json(&[
            "client", "create", "--name", "strict", "--owner", &uid, "--scope", "service",
            "--dpop", "required",
        ]);
        assert_eq!(created["dpop"], "required");
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(env.json(&["client", "show", &id])["dpop"], "required");
        assert_eq!(env.json(&["explain", "--client", &id])["dpop"], "required");

        let server = env.start();
        let resp = token_with(&server, &id, &secret, &[]);
        assert_eq!(resp.status, 400, "{backend:?}: {}", resp.body);
        assert_eq!(resp.json()["error"], "invalid_request");
        assert!(
            resp.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("DPoP"),
            "{}",
            resp.body
        );
        let key = DpopKey::new();
        let resp = token_with(&server, &id, &secret, &[&key.proof(&fresh_claims())]);
        assert_eq!(resp.json()["token_type"], "DPoP", "{}", resp.body);

        let updated = env.json(&["client", "update", &id, "--dpop", "optional"]);
        assert_eq!(updated["dpop"], "optional");
        // The running server hears of the change (notification, else the cache TTL).
        let mut status = 0;
        for _ in 0..50 {
            status = token_with(&server, &id, &secret, &[]).status;
            if status == 200 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(status, 200, "{backend:?}: the update reached the server");
        let bad = env.cli(&["client", "update", &id, "--dpop", "sometimes"]);
        assert!(!bad.status.success());
    }
}

/// The npm packages of the interop test (bump deliberately).
const OAUTH4WEBAPI: &str = "3.8.8";
const JOSE: &str = "6.2.18";

/// A folder with oauth4webapi and jose installed from npm on first use and the interop client
/// script copied in. Panics when node or npm cannot provide them.
fn node_client() -> std::path::PathBuf {
    support::interop::npm_client(
        "dpop-interop",
        &[("oauth4webapi", OAUTH4WEBAPI), ("jose", JOSE)],
        "dpop_interop/client.mjs",
    )
}

/// Interop: oauth4webapi, a real DPoP client, finds the token endpoint through discovery,
/// answers the nonce challenge with a new proof and gets a DPoP token; jose verifies it through
/// the JWKS and finds `cnf.jkt` equal to its own thumbprint of the client's key.
#[test]
fn a_real_dpop_client_gets_a_bound_token() {
    let dir = node_client();
    for backend in BACKENDS {
        let (mut env, id, secret) = env_with_client(backend);
        // The issuer follows the bound port, so the discovered URLs reach this server.
        env.unset("GRANTD_TOKEN__ISSUER");
        env.set("GRANTD_DPOP__NONCE", "true");
        let server = env.start();
        let out = std::process::Command::new("node")
            .current_dir(&dir)
            .args(["client.mjs", &server.base, &id, &secret])
            .output()
            .expect("run node");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{backend:?}: interop client failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
        assert_eq!(report["token_type"], "dpop", "{report}");
        assert_eq!(report["jkt"], report["thumbprint"], "{report}");
        assert_eq!(report["nonce_challenges"], 1, "{report}");
        assert!(report["jkt"].as_str().is_some_and(|j| j.len() == 43));
    }
}
