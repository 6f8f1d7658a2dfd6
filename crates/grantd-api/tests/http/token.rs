//! The token endpoint: grant type rules, the success body, error mapping (400/401/503/500),
//! no-store headers on every answer, and the session row's request context (client IP through
//! trusted proxies only).

use grantd_api::{ApiConfig, IpCidr};
use grantd_ports::{SignError, StoreError};

use crate::fixture::*;

#[actix_web::test]
async fn missing_grant_type_is_invalid_request() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            "scope=mcp",
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    assert_eq!(
        r.json()["error_description"],
        "missing parameter: grant_type"
    );
}

/// Order chosen: the grant type is checked before client authentication, so an unsupported
/// grant type is answered as such even without (or with wrong) credentials.
#[actix_web::test]
async fn unsupported_grant_type_is_answered_before_authentication() {
    let w = World::new();
    for req in [
        post("/oauth/token", "grant_type=password&username=a&password=b"),
        basic_post(
            "/oauth/token",
            "grant_type=authorization_code&code=x",
            "svc-basic",
            "wrong",
        ),
        basic_post(
            "/oauth/token",
            "grant_type=Client_Credentials",
            "svc-basic",
            "s3cret",
        ),
    ] {
        let r = w.send(req).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "unsupported_grant_type")
        );
        r.assert_no_store("unsupported_grant_type");
    }
    assert!(
        w.clients.lookups.lock().unwrap().is_empty(),
        "no client looked up"
    );
}

#[actix_web::test]
async fn client_not_registered_for_the_grant_is_unauthorized_client() {
    let w = World::new();
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-nogrant", "s3cret"))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "unauthorized_client"));
}

#[actix_web::test]
async fn success_body_has_exactly_the_four_fields_and_no_refresh_token() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=mcp+service"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.assert_no_store("200");
    assert_eq!(
        r.keys(),
        ["access_token", "expires_in", "scope", "token_type"]
    );
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 900);
    assert_eq!(j["scope"], "service mcp");
    assert!(j.get("refresh_token").is_none());
    let token = j["access_token"].as_str().unwrap();
    assert!(w.signer.issued.lock().unwrap().contains_key(token));
    assert_eq!(w.sessions.rows.lock().unwrap().len(), 1, "one session row");
}

#[actix_web::test]
async fn audience_and_plugin_id_reach_the_token() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=mcp&audience=mcp&plugin_id=plug-1"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = w
        .signer
        .issued
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap();
    assert_eq!(claims.aud, ["mcp"]);
    assert_eq!(claims.plugin_id.as_deref(), Some("plug-1"));
    assert_eq!(claims.client_id.as_str(), "svc-basic");
}

#[actix_web::test]
async fn domain_refusals_keep_their_codes() {
    let w = World::new();
    let cases = [
        (format!("{CC}&scope=bogus"), "invalid_scope"),
        (format!("{CC}&audience=web"), "invalid_target"),
        (format!("{CC}&plugin_id=has+space"), "invalid_request"),
        (format!("{CC}&scope=hook:track"), "invalid_scope"),
    ];
    for (body, code) in cases {
        let r = w
            .send(basic_post("/oauth/token", &body, "svc-basic", "s3cret"))
            .await;
        assert_eq!((r.status, r.error().as_str()), (400, code), "{body}");
        r.assert_no_store(&body);
    }
}

#[actix_web::test]
async fn store_unavailable_is_503_with_retry_after() {
    let w = World::new();
    *w.clients.fail.lock().unwrap() = Some(StoreError::Unavailable(
        grantd_ports::Unavailable::PoolTimeout,
    ));
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-basic", "s3cret"))
        .await;
    assert_eq!(
        (r.status, r.error().as_str()),
        (503, "temporarily_unavailable")
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(!r.text().contains("pool timeout"));
    r.assert_no_store("503");
}

/// A full argon2 queue refuses the check: 503 + `Retry-After` on every endpoint that
/// authenticates, for a right and a wrong secret alike; unknown clients stay 401 (they queue
/// for nothing).
#[actix_web::test]
async fn secret_checks_overloaded_are_503_with_retry_after() {
    let w = World::new();
    w.secrets
        .overloaded
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for (path, body) in [
        ("/oauth/token", CC),
        ("/oauth/introspect", "token=t"),
        ("/oauth/revoke", "token=t"),
    ] {
        for secret in ["s3cret", "wrong"] {
            let r = w.send(basic_post(path, body, "svc-basic", secret)).await;
            assert_eq!(
                (r.status, r.error().as_str()),
                (503, "temporarily_unavailable"),
                "{path} {secret}"
            );
            assert_eq!(r.header("retry-after"), Some("1"));
            r.assert_no_store("503");
        }
        let r = w.send(basic_post(path, body, "nobody", "s3cret")).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn no_signing_key_is_503_and_session_write_failure_never_returns_a_token() {
    let w = World::new();
    *w.signer.fail.lock().unwrap() = Some(SignError::NoKey);
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-basic", "s3cret"))
        .await;
    assert_eq!(
        (r.status, r.error().as_str()),
        (503, "temporarily_unavailable")
    );

    let w = World::new();
    *w.sessions.fail.lock().unwrap() = Some(StoreError::Unavailable(
        grantd_ports::Unavailable::Sqlite(grantd_ports::SqliteCondition::DiskFull),
    ));
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-basic", "s3cret"))
        .await;
    assert_eq!(r.status, 503);
    assert!(!r.text().contains("jwt-"), "{}", r.text());
}

#[actix_web::test]
async fn internal_failure_is_opaque_500() {
    let w = World::new();
    *w.clients.fail.lock().unwrap() = Some(StoreError::Internal(grantd_ports::Internal::Corrupt {
        table: "clients",
        column: "secret",
    }));
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-basic", "s3cret"))
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.keys(), ["error", "error_description"]);
    assert_eq!(r.json()["error"], "server_error");
    assert_eq!(r.json()["error_description"], "internal error");
    assert!(!r.text().contains("corrupt") && !r.text().contains("clients.secret"));
    r.assert_no_store("500");

    let w = World::new();
    *w.signer.fail.lock().unwrap() =
        Some(SignError::Failed(grantd_ports::SignFailure::KeyMaterial));
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-basic", "s3cret"))
        .await;
    assert_eq!((r.status, r.error().as_str()), (500, "server_error"));
    assert!(!r.text().contains("key material"));
}

/// Every answer of the three OAuth endpoints carries the no-store pair, whatever produced it.
#[actix_web::test]
async fn every_oauth_response_is_no_store() {
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let w = World::new();
        let ok_body = if path == "/oauth/token" {
            CC
        } else {
            "token=x"
        };
        let big = format!("{ok_body}&pad={}", "x".repeat(20_000));
        let mut seen = Vec::new();
        for req in [
            basic_post(path, ok_body, "svc-basic", "s3cret"), // 200
            basic_post(path, "", "svc-basic", "s3cret"),      // 400
            post(path, ok_body),                              // 401
            actix_web::test::TestRequest::get().uri(path),    // 405
            basic_post(path, &big, "svc-basic", "s3cret"),    // 413
            basic_post(path, ok_body, "svc-basic", "s3cret")
                .insert_header(("content-encoding", "gzip")), // 415
        ] {
            let r = w.send(req).await;
            r.assert_no_store(&format!("{path} {}", r.status));
            seen.push(r.status);
        }
        assert_eq!(seen, [200, 400, 401, 405, 413, 415], "{path}");
        // 503 and 500
        for (err, status) in [
            (
                StoreError::Unavailable(grantd_ports::Unavailable::PoolTimeout),
                503,
            ),
            (StoreError::Internal(grantd_ports::Internal::Database), 500),
        ] {
            *w.clients.fail.lock().unwrap() = Some(err);
            let r = w
                .send(basic_post(path, ok_body, "svc-basic", "s3cret"))
                .await;
            assert_eq!(r.status, status, "{path}");
            r.assert_no_store(&format!("{path} {status}"));
        }
    }
}

#[actix_web::test]
async fn session_row_gets_cleaned_request_context() {
    let w = World::new();
    let r = w
        .send(
            basic_post("/oauth/token", CC, "svc-basic", "s3cret")
                .insert_header(("user-agent", "curl/8.5"))
                .insert_header(("accept-language", "de-CH, en;q=0.5"))
                .insert_header(("referer", "https://app.example/page"))
                .insert_header(("x-forwarded-for", "198.51.100.9")),
        )
        .await;
    assert_eq!(r.status, 200);
    let row = w.sessions.rows.lock().unwrap()[0].clone();
    assert_eq!(
        row.context.ip.map(|ip| ip.to_string()).as_deref(),
        Some("203.0.113.7"),
        "untrusted peer: XFF ignored"
    );
    assert_eq!(row.context.user_agent.as_deref(), Some("curl/8.5"));
    assert_eq!(
        row.context.accept_language.as_deref(),
        Some("de-CH, en;q=0.5")
    );
    assert_eq!(
        row.context.referer.as_deref(),
        Some("https://app.example/page")
    );
}

async fn ip_via(trusted: &[&str], peer: &str, xff: &[&str]) -> Option<String> {
    let w = World::with_config(ApiConfig::new(ISSUER, trusted).unwrap());
    let mut req =
        basic_post("/oauth/token", CC, "svc-basic", "s3cret").peer_addr(peer.parse().unwrap());
    for h in xff {
        req = req.append_header(("x-forwarded-for", *h));
    }
    let r = w.send(req).await;
    assert_eq!(r.status, 200);
    w.sessions.rows.lock().unwrap()[0]
        .context
        .ip
        .map(|ip| ip.to_string())
}

#[actix_web::test]
async fn client_ip_walks_forwarded_for_only_through_trusted_proxies() {
    let proxies = &["10.0.0.0/8"];
    // no trusted proxies configured: the peer, whatever the header says
    assert_eq!(
        ip_via(&[], "10.0.0.2:1", &["198.51.100.9"])
            .await
            .as_deref(),
        Some("10.0.0.2")
    );
    // untrusted peer: the peer
    assert_eq!(
        ip_via(proxies, "203.0.113.7:1", &["198.51.100.9"])
            .await
            .as_deref(),
        Some("203.0.113.7")
    );
    // trusted peer: the first untrusted address from the right; the spoofed left part is ignored
    assert_eq!(
        ip_via(proxies, "10.0.0.2:1", &["1.1.1.1, 198.51.100.9, 10.0.0.3"])
            .await
            .as_deref(),
        Some("198.51.100.9")
    );
    // several headers form one list
    assert_eq!(
        ip_via(proxies, "10.0.0.2:1", &["1.1.1.1", "198.51.100.9"])
            .await
            .as_deref(),
        Some("198.51.100.9")
    );
    // a malformed entry stops the walk at the last trusted hop
    assert_eq!(
        ip_via(proxies, "10.0.0.2:1", &["198.51.100.9, bogus, 10.0.0.3"])
            .await
            .as_deref(),
        Some("10.0.0.3")
    );
}

#[test]
fn trusted_proxy_config_is_parsed_and_checked() {
    let c = ApiConfig::new(ISSUER, ["10.0.0.0/8", "::1"]).unwrap();
    assert_eq!(
        c.trusted_proxies,
        [
            "10.0.0.0/8".parse::<IpCidr>().unwrap(),
            "::1/128".parse().unwrap()
        ]
    );
    let e = ApiConfig::new(
        ISSUER,
        vec!["10.0.0.0/8".to_owned(), "proxy.local".to_owned()],
    );
    assert!(e.unwrap_err().to_string().contains("proxy.local"));
}

#[actix_web::test]
async fn host_and_forwarded_headers_never_change_the_issuer() {
    let w = World::new();
    let r = w
        .send(
            basic_post("/oauth/token", CC, "svc-basic", "s3cret")
                .insert_header(("host", "evil.example"))
                .insert_header(("x-forwarded-host", "evil.example"))
                .insert_header(("x-forwarded-proto", "http")),
        )
        .await;
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let claims = w
        .signer
        .issued
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap();
    assert_eq!(claims.iss, ISSUER);
}
