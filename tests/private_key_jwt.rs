//! `private_key_jwt` registration (RFC 7523, issue 13) through the real binary on both
//! backends: a client is created with an inline public JWKS and no secret, its keys are shown
//! by kid/kty/alg only, and every JWKS that must not be registered is refused with exit 1 and
//! nothing stored. (Assertion checks at the token endpoint are not implemented yet.)

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use serde_json::{Value, json};
use support::{BACKENDS, Env};

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
