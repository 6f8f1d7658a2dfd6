//! Routing: both token paths, 405 with `Allow` for wrong methods, JSON 404 for unknown paths.

use actix_web::test as atest;

use crate::fixture::*;

#[actix_web::test]
async fn both_token_paths_issue_tokens() {
    let w = World::new();
    for path in ["/oauth/token", "/api/v1/core/oauth/token"] {
        let r = w.send(basic_post(path, CC, "svc-basic", "s3cret")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(r.json()["access_token"].is_string(), "{path}");
    }
}

#[actix_web::test]
async fn wrong_method_on_post_endpoints_is_405_allow_post_no_store() {
    let w = World::new();
    for path in [
        "/oauth/token",
        "/api/v1/core/oauth/token",
        "/oauth/introspect",
        "/oauth/revoke",
    ] {
        for req in [
            atest::TestRequest::get(),
            atest::TestRequest::put(),
            atest::TestRequest::delete(),
            atest::TestRequest::patch(),
            atest::TestRequest::default().method(actix_web::http::Method::HEAD),
            atest::TestRequest::default().method(actix_web::http::Method::OPTIONS),
        ] {
            let r = w.send(req.uri(path)).await;
            assert_eq!(r.status, 405, "{path}");
            assert_eq!(r.header("allow"), Some("POST"), "{path}");
            r.assert_no_store(path);
        }
    }
    assert!(w.clients.lookups.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn wrong_method_on_get_endpoints_is_405_allow_get() {
    let w = World::new();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
    ] {
        for req in [atest::TestRequest::post(), atest::TestRequest::delete()] {
            let r = w.send(req.uri(path)).await;
            assert_eq!(r.status, 405, "{path}");
            assert_eq!(r.header("allow"), Some("GET"), "{path}");
        }
    }
}

#[actix_web::test]
async fn unknown_paths_are_json_404() {
    let w = World::new();
    for path in [
        "/",
        "/oauth/token/",
        "/oauth/authorize",
        "/.well-known/openid-configuration",
    ] {
        let r = w.send(atest::TestRequest::get().uri(path)).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error(), "not_found", "{path}");
    }
}
