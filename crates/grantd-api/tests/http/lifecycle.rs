//! Introspection (RFC 7662) and revocation (RFC 7009) over HTTP: response shapes, the `token`
//! parameter, client authentication, foreign tokens and storage failures.

use grantd_ports::StoreError;

use crate::fixture::*;

#[actix_web::test]
async fn introspect_active_token_shape() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=mcp&plugin_id=plug-1"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    // a resource server (another client) asks
    let r = w
        .send(post(
            "/oauth/introspect",
            format!("token={token}&token_type_hint=access_token&client_id=svc-post&client_secret=p0st-secret"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.assert_no_store("introspect");
    assert_eq!(
        r.keys(),
        [
            "act",
            "active",
            "aud",
            "client_id",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "plugin_id",
            "scope",
            "session_id",
            "sub",
            "token_type"
        ]
    );
    let j = r.json();
    assert_eq!(j["active"], true);
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["client_id"], "svc-basic");
    assert_eq!(j["sub"], OWNER);
    assert_eq!(j["act"], serde_json::json!({"sub": "svc-basic"}));
    assert_eq!(j["aud"], serde_json::json!(["api"]));
    assert_eq!(j["iss"], ISSUER);
    assert_eq!(j["scope"], "mcp");
    assert_eq!(j["plugin_id"], "plug-1");
    assert_eq!(
        (j["iat"].as_i64(), j["exp"].as_i64()),
        (Some(NOW), Some(NOW + 900))
    );
    assert!(j["session_id"].as_str().unwrap().starts_with("sess_"));
}

#[actix_web::test]
async fn introspect_inactive_is_exactly_active_false() {
    let w = World::new();
    for token in ["unknown", "eyJhbGciOiJub25lIn0.e30.", "jwt-%20"] {
        let r = w
            .send(basic_post(
                "/oauth/introspect",
                &format!("token={token}&token_type_hint=weird"),
                "svc-basic",
                "s3cret",
            ))
            .await;
        assert_eq!(r.status, 200, "{token}");
        assert_eq!(r.text(), r#"{"active":false}"#, "{token}");
        r.assert_no_store(token);
    }
}

#[actix_web::test]
async fn introspect_and_revoke_require_token_and_client_auth() {
    let w = World::new();
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let r = w
            .send(basic_post(
                path,
                "token_type_hint=access_token",
                "svc-basic",
                "s3cret",
            ))
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}"
        );
        assert_eq!(r.json()["error_description"], "missing parameter: token");
        let r = w
            .send(basic_post(path, "token=", "svc-basic", "s3cret"))
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}: empty = absent"
        );

        let r = w.send(post(path, "token=abc")).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{path}"
        );
        assert_eq!(r.header("www-authenticate"), None);
        let r = w
            .send(basic_post(path, "token=abc", "svc-basic", "wrong"))
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{path}"
        );
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"grantd\""));
        let r = w
            .send(basic_post(
                path,
                "token=abc&client_secret=s3cret",
                "svc-basic",
                "s3cret",
            ))
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}: two methods"
        );
    }
}

#[actix_web::test]
async fn revoke_then_introspect_inactive() {
    let w = World::new();
    let token = w.token().await;
    let r = w
        .send(basic_post(
            "/oauth/revoke",
            &format!("token={token}"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    r.assert_no_store("revoke");
    assert_eq!(w.sessions.revoked.lock().unwrap().len(), 1);
    let r = w
        .send(basic_post(
            "/oauth/introspect",
            &format!("token={token}"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.text(), r#"{"active":false}"#);
}

#[actix_web::test]
async fn revoke_is_200_for_unknown_malformed_and_foreign_tokens() {
    let w = World::new();
    let token = w.token().await; // issued to svc-basic
    for (body, id, secret) in [
        ("token=unknown".to_owned(), "svc-basic", "s3cret"),
        (
            "token=%E2%9C%93&token_type_hint=refresh_token".to_owned(),
            "svc-basic",
            "s3cret",
        ),
        (format!("token={token}"), "svc-odd", ODD_SECRET),
    ] {
        let r = w.send(basic_post("/oauth/revoke", &body, id, secret)).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        assert!(r.body.is_empty());
    }
    assert!(
        w.sessions.revoked.lock().unwrap().is_empty(),
        "nothing revoked"
    );
    let r = w
        .send(basic_post(
            "/oauth/introspect",
            &format!("token={token}"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.json()["active"], true);
}

#[actix_web::test]
async fn storage_failures_are_503_never_false_answers() {
    let w = World::new();
    let token = w.token().await;
    *w.sessions.fail.lock().unwrap() = Some(StoreError::Unavailable(
        grantd_ports::Unavailable::PoolTimeout,
    ));
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let r = w
            .send(basic_post(
                path,
                &format!("token={token}"),
                "svc-basic",
                "s3cret",
            ))
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (503, "temporarily_unavailable"),
            "{path}"
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        r.assert_no_store(path);
    }
}
