//! RFC 8414 metadata, the JWKS, and the health endpoints.

use std::sync::atomic::Ordering;

use actix_web::test as atest;
use grantd_api::ApiConfig;
use grantd_domain::ScopeCatalog;

use crate::fixture::*;

#[actix_web::test]
async fn metadata_is_accurate_and_built_from_the_configured_issuer() {
    let w = World::new();
    let r = w
        .send(
            atest::TestRequest::get()
                .uri("/.well-known/oauth-authorization-server")
                .insert_header(("host", "evil.example"))
                .insert_header(("x-forwarded-host", "evil.example"))
                .insert_header(("x-forwarded-proto", "http"))
                .insert_header(("forwarded", "host=evil.example;proto=http")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(!r.text().contains("evil"), "{}", r.text());
    let j = r.json();
    assert_eq!(j["issuer"], ISSUER);
    assert_eq!(j["token_endpoint"], "https://auth.example/oauth/token");
    assert_eq!(j["jwks_uri"], "https://auth.example/.well-known/jwks.json");
    assert_eq!(
        j["introspection_endpoint"],
        "https://auth.example/oauth/introspect"
    );
    assert_eq!(
        j["revocation_endpoint"],
        "https://auth.example/oauth/revoke"
    );
    assert_eq!(
        j["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(j["response_types_supported"], serde_json::json!([]));
    let methods = serde_json::json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt"
    ]);
    assert_eq!(j["token_endpoint_auth_methods_supported"], methods);
    assert_eq!(j["introspection_endpoint_auth_methods_supported"], methods);
    assert_eq!(j["revocation_endpoint_auth_methods_supported"], methods);
    let algs = &j["dpop_signing_alg_values_supported"];
    assert!(algs.as_array().is_some_and(|a| !a.is_empty()), "{algs}");
    for endpoint in ["token", "introspection", "revocation"] {
        let name = format!("{endpoint}_endpoint_auth_signing_alg_values_supported");
        assert_eq!(&j[name.as_str()], algs, "{name}");
    }
    let catalog: Vec<String> = ScopeCatalog::builtin()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(j["scopes_supported"], serde_json::json!(catalog));
}

#[actix_web::test]
async fn metadata_urls_do_not_double_a_trailing_slash() {
    let w = World::with_config(ApiConfig::with_issuer("https://auth.example/tenant/"));
    let j = w
        .send(atest::TestRequest::get().uri("/.well-known/oauth-authorization-server"))
        .await
        .json();
    assert_eq!(j["issuer"], "https://auth.example/tenant/");
    assert_eq!(
        j["token_endpoint"],
        "https://auth.example/tenant/oauth/token"
    );
}

#[actix_web::test]
async fn jwks_wraps_the_public_keys() {
    let w = World::new();
    let r = w
        .send(atest::TestRequest::get().uri("/.well-known/jwks.json"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let j = r.json();
    assert_eq!(r.keys(), ["keys"]);
    let keys = j["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "k1");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "ES256");

    // rotation shows at once; several keys stay valid JSON
    w.signer.jwks.lock().unwrap().push(
        r#"{"kty":"OKP","crv":"Ed25519","x":"zz","kid":"k2","alg":"EdDSA","use":"sig"}"#.into(),
    );
    let j = w
        .send(atest::TestRequest::get().uri("/.well-known/jwks.json"))
        .await
        .json();
    let kids: Vec<&str> = j["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["k1", "k2"]);

    w.signer.jwks.lock().unwrap().clear();
    let r = w
        .send(atest::TestRequest::get().uri("/.well-known/jwks.json"))
        .await;
    assert_eq!(r.json(), serde_json::json!({"keys": []}));
}

#[actix_web::test]
async fn healthz_always_200() {
    let w = World::new();
    w.ready.0.store(false, Ordering::SeqCst);
    w.signer.ready.store(false, Ordering::SeqCst);
    let r = w.send(atest::TestRequest::get().uri("/healthz")).await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn readyz_follows_readiness_and_the_signer() {
    let w = World::new();
    let get = || atest::TestRequest::get().uri("/readyz");
    assert_eq!(w.send(get()).await.status, 200);
    w.ready.0.store(false, Ordering::SeqCst);
    assert_eq!(w.send(get()).await.status, 503);
    w.ready.0.store(true, Ordering::SeqCst);
    w.signer.ready.store(false, Ordering::SeqCst);
    assert_eq!(w.send(get()).await.status, 503);
    w.signer.ready.store(true, Ordering::SeqCst);
    assert_eq!(w.send(get()).await.status, 200);
}
