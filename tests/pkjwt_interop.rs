//! `private_key_jwt` (RFC 7523, issue 13) with real client libraries that build and sign their
//! assertions themselves: Python's Authlib (`OAuth2Session` with `PrivateKeyJWT`) and node's
//! openid-client (`PrivateKeyJwt`), each in a script under tests/pkjwt_interop/ that gets only
//! the issuer URL, its client id and its private key, and finds the token endpoint through
//! discovery. The test makes the ES256 key pair (aws-lc-rs), registers the public half as a
//! JWKS file, runs the script, and checks each token independently through grantd's JWKS; the
//! scripts report the assertions they sent, so each library's choice of `aud` (and lifetime)
//! is pinned here and in the README. The libraries are installed at pinned versions under the
//! target folder on first use; without python3/pip or node/npm the tests fail, never skip.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use support::{BACKENDS, Backend, Env, Server};

/// The packages the scripts run on (bump deliberately).
const OPENID_CLIENT: &str = "6.9.0";
const AUTHLIB: &str = "1.9.10";
/// Authlib's JOSE implementation (it signs the assertions) and its HTTP client.
const JOSERFC: &str = "1.8.0";
const REQUESTS: &str = "2.34.2";

const KID: &str = "k1";

/// Token requests per successful run: the second shows a fresh assertion (new `jti`) per request.
const TWICE: usize = 2;

/// What grantd's bound on an assertion's lifetime must be for Authlib's own assertions,
/// which live one hour (`exp = iat + 3600`); the default bound is 300 s.
const AUTHLIB_BOUND: (&str, &str) = ("GRANTD_CLIENT_ASSERTION__MAX_LIFETIME", "1h");

/// A client's ES256 key pair, made by aws-lc-rs: the private half as a PKCS#8 PEM file for the
/// library, the public half as a JWK for grantd.
struct ClientKey {
    pem: String,
    jwk: Value,
}

impl ClientKey {
    fn new() -> ClientKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der = pair.to_pkcs8v1().unwrap();
        let encoding = EncodingKey::from_ec_der(der.as_ref());
        let public = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let mut jwk = serde_json::to_value(public).unwrap();
        jwk["kid"] = json!(KID);
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        ClientKey { pem, jwk }
    }

    /// Writes the private key to a file in the test's scratch folder.
    fn private_file(&self, env: &Env, name: &str) -> PathBuf {
        let path = env.dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// A client library, as its script drives it.
#[derive(Clone, Copy, Debug)]
enum Library {
    /// openid-client as documented: its assertions live 60 s.
    OpenIdClient,
    /// Authlib as documented: its assertions live one hour.
    Authlib,
    /// Authlib with `exp` set per request this many seconds ahead (README's way to stay within
    /// grantd's default bound).
    AuthlibLifetime(u32),
}

impl Library {
    const ALL: [Library; 3] = [
        Library::OpenIdClient,
        Library::Authlib,
        Library::AuthlibLifetime(60),
    ];

    fn command(self) -> Command {
        match self {
            Library::OpenIdClient => {
                let dir = support::interop::npm_client(
                    "pkjwt-interop",
                    &[("openid-client", OPENID_CLIENT)],
                    "pkjwt_interop/openid_client.mjs",
                );
                let mut c = Command::new("node");
                c.current_dir(dir).arg("openid_client.mjs");
                c
            }
            Library::Authlib | Library::AuthlibLifetime(_) => {
                let packages = [
                    ("authlib", AUTHLIB),
                    ("joserfc", JOSERFC),
                    ("requests", REQUESTS),
                ];
                support::interop::pip_packages("pkjwt-interop", &packages)
                    .script("pkjwt_interop/authlib_client.py")
            }
        }
    }

    /// Runs the script: `count` token requests from `server` for client `id`, signed with the
    /// private key in `key`. Returns its report (asserting it ran to its end).
    fn fetch(self, server: &Server, id: &str, key: &Path, count: usize) -> Value {
        let mut c = self.command();
        let count = count.to_string();
        c.args([server.base.as_str(), id, key.to_str().unwrap(), KID, &count]);
        match self {
            Library::OpenIdClient => {}
            Library::Authlib => {
                c.arg("default");
            }
            Library::AuthlibLifetime(secs) => {
                c.arg(secs.to_string());
            }
        }
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("{self:?}: cannot run: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{self:?}: the client script failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{self:?}: not one JSON line ({e}): {stdout}"));
        let token_endpoint = format!("{}/oauth/token", server.base);
        assert_eq!(
            report["token_endpoint"],
            token_endpoint.as_str(),
            "{self:?}"
        );
        report
    }

    /// The `aud` the library puts in its assertions (read in its source: openid-client, through
    /// oauth4webapi, sends the issuer identifier; Authlib the URL the request goes to).
    fn audience(self, server: &Server) -> String {
        match self {
            Library::OpenIdClient => server.base.clone(),
            Library::Authlib | Library::AuthlibLifetime(_) => {
                format!("{}/oauth/token", server.base)
            }
        }
    }

    /// `exp − iat` of its assertions.
    fn lifetime(self) -> i64 {
        match self {
            Library::OpenIdClient => 60,
            Library::Authlib => 3600,
            Library::AuthlibLifetime(secs) => i64::from(secs),
        }
    }
}

/// A registered client: its id and its owner's (the tokens' `sub`).
struct Registered {
    id: String,
    owner: String,
}

/// A fresh database on `backend` with `vars` set and a private_key_jwt client registered with
/// `key` (as an inline JWKS file); the issuer follows the bound port, so that the discovered
/// URLs reach the server.
fn setup(backend: Backend, key: &ClientKey, vars: &[(&str, &str)]) -> (Env, Registered) {
    let mut env = Env::new(backend);
    env.unset("GRANTD_TOKEN__ISSUER");
    for (k, v) in vars {
        env.set(k, v);
    }
    let user = env.json(&[
        "user",
        "create",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
    ]);
    let jwks = env.dir.join("client-jwks.json");
    std::fs::write(&jwks, json!({ "keys": [key.jwk] }).to_string()).unwrap();
    let created = env.json(&[
        "client",
        "create",
        "--name",
        "worker",
        "--owner",
        user["id"].as_str().unwrap(),
        "--scope",
        "service",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        jwks.to_str().unwrap(),
    ]);
    let client = Registered {
        id: created["client_id"].as_str().unwrap().to_owned(),
        owner: user["id"].as_str().unwrap().to_owned(),
    };
    (env, client)
}

/// Every request of `report` got a token for `client` (verified through the JWKS: `client_id`
/// and the actor are the client, `sub` its owner) with an assertion the library built as
/// expected: iss = sub = the client id, its `aud`, its lifetime, `kid`, ES256, and a `jti` no
/// other request used.
fn assert_tokens(server: &Server, library: Library, report: &Value, client: &Registered) {
    let id = client.id.as_str();
    let requests = report["requests"].as_array().unwrap();
    assert_eq!(requests.len(), TWICE, "{library:?}: {report}");
    let mut jtis = HashSet::new();
    for r in requests {
        assert_eq!(r["status"], 200, "{library:?}: {r}");
        let token = r["access_token"].as_str().unwrap();
        let claims = support::verify_via_jwks(server, token, "ES256", "api", &server.base);
        assert_eq!(claims["client_id"], id, "{library:?}: {claims}");
        assert_eq!(claims["act"]["sub"], id, "{library:?}: {claims}");
        assert_eq!(
            claims["sub"],
            client.owner.as_str(),
            "{library:?}: {claims}"
        );

        let sent = &r["assertion"];
        assert_eq!(sent["header"]["alg"], "ES256", "{library:?}: {sent}");
        assert_eq!(sent["header"]["kid"], KID, "{library:?}: {sent}");
        let a = &sent["claims"];
        assert_eq!((&a["iss"], &a["sub"]), (&json!(id), &json!(id)), "{a}");
        assert_eq!(
            a["aud"],
            library.audience(server).as_str(),
            "{library:?}: {a}"
        );
        let lifetime = a["exp"].as_i64().unwrap() - a["iat"].as_i64().unwrap();
        assert_eq!(lifetime, library.lifetime(), "{library:?}: {a}");
        let jti = a["jti"].as_str().unwrap().to_owned();
        assert!(
            jtis.insert(jti),
            "{library:?}: a jti was sent twice: {report}"
        );
    }
}

#[test]
fn openid_client_gets_tokens_with_its_own_assertions_on_both_backends() {
    for backend in BACKENDS {
        let key = ClientKey::new();
        let (env, client) = setup(backend, &key, &[]);
        let server = env.start();
        let file = key.private_file(&env, "client.pem");
        let report = Library::OpenIdClient.fetch(&server, &client.id, &file, TWICE);
        assert_tokens(&server, Library::OpenIdClient, &report, &client);
        // It also names itself beside the assertion.
        assert_eq!(
            report["requests"][0]["assertion"]["client_id"],
            client.id.as_str()
        );
    }
}

#[test]
fn authlib_gets_tokens_with_its_own_assertions_on_both_backends() {
    for backend in BACKENDS {
        let key = ClientKey::new();
        let (env, client) = setup(backend, &key, &[AUTHLIB_BOUND]);
        let server = env.start();
        let file = key.private_file(&env, "client.pem");
        let report = Library::Authlib.fetch(&server, &client.id, &file, TWICE);
        assert_tokens(&server, Library::Authlib, &report, &client);
    }
}

/// Under grantd's default bound (300 s), Authlib's hour-long assertions are refused like every
/// other failed check (`401 invalid_client`, the reason in the log); with `exp` set per
/// request, as the README shows, Authlib gets its tokens. One backend: nothing here touches
/// the store differently from the tests above.
#[test]
fn authlib_needs_a_short_exp_or_a_one_hour_bound() {
    let key = ClientKey::new();
    let (env, client) = setup(Backend::Sqlite, &key, &[]);
    let server = env.start();
    let file = key.private_file(&env, "client.pem");
    let report = Library::Authlib.fetch(&server, &client.id, &file, 1);
    let refused = &report["requests"][0];
    assert_eq!(refused["status"], 401, "{refused}");
    assert_eq!(refused["error"], "invalid_client", "{refused}");
    assert!(
        server.wait_for_log("TooLongLived").is_some(),
        "the reason is logged"
    );

    let short = Library::AuthlibLifetime(60);
    let report = short.fetch(&server, &client.id, &file, TWICE);
    assert_tokens(&server, short, &report, &client);
}

/// Each library signing with a key the client never registered (under the registered kid):
/// `401 invalid_client`, the bad signature in the log.
#[test]
fn a_library_signing_with_an_unregistered_key_gets_401_invalid_client_on_both_backends() {
    for backend in BACKENDS {
        let (registered, other) = (ClientKey::new(), ClientKey::new());
        let (env, client) = setup(backend, &registered, &[AUTHLIB_BOUND]);
        let server = env.start();
        let file = other.private_file(&env, "unregistered.pem");
        for library in Library::ALL {
            let report = library.fetch(&server, &client.id, &file, 1);
            let r = &report["requests"][0];
            assert_eq!(r["status"], 401, "{backend:?} {library:?}: {r}");
            assert_eq!(r["error"], "invalid_client", "{backend:?} {library:?}: {r}");
            assert!(r.get("access_token").is_none(), "{r}");
        }
        assert!(
            server.wait_for_log("BadSignature").is_some(),
            "{backend:?}: the reason is logged"
        );
    }
}
