//! Client authentication: Basic decoding, the one-method rule, query-string credentials, the
//! registered method, and 401 with `WWW-Authenticate` exactly when `Authorization` was used.

use base64::Engine as _;

use crate::fixture::*;

fn raw_basic(raw: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[actix_web::test]
async fn basic_secret_with_plus_percent_colon_is_form_decoded() {
    let w = World::new();
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-odd", ODD_SECRET))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        *w.secrets.presented.lock().unwrap(),
        vec![ODD_SECRET.to_owned()]
    );
}

#[actix_web::test]
async fn basic_parts_are_split_at_the_first_colon_then_decoded() {
    let w = World::new();
    // raw (unencoded) `+` decodes to a space; a raw second colon belongs to the secret
    let r = w
        .send(
            post("/oauth/token", CC).insert_header(("authorization", raw_basic(b"svc-odd:a+b:c"))),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        *w.secrets.presented.lock().unwrap(),
        vec!["a b:c".to_owned()]
    );
}

#[actix_web::test]
async fn malformed_or_foreign_authorization_is_invalid_client_with_challenge() {
    let w = World::new();
    for value in [
        "Bearer abc".to_owned(),
        "Basic".to_owned(),
        "Basic %%%".to_owned(),
        raw_basic(b"no-colon"),
        raw_basic(b"svc-basic:%zz"),
        raw_basic(b"svc-basic:\xff"),
        raw_basic(b":s3cret"),
    ] {
        let r = w
            .send(post("/oauth/token", CC).insert_header(("authorization", value.as_str())))
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{value}"
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"grantd\""),
            "{value}"
        );
        r.assert_no_store(&value);
    }
}

#[actix_web::test]
async fn www_authenticate_only_when_the_authorization_header_was_used() {
    let w = World::new();
    // wrong secret over Basic: challenged
    let r = w
        .send(basic_post("/oauth/token", CC, "svc-basic", "wrong"))
        .await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"grantd\""));
    // wrong secret in the body: 401, no challenge
    let r = w
        .send(post("/oauth/token", post_body("svc-post", "wrong", "")))
        .await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    assert_eq!(r.header("www-authenticate"), None);
    // no credentials at all: 401, no challenge
    let r = w.send(post("/oauth/token", CC)).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    assert_eq!(r.header("www-authenticate"), None);
    // client_id without secret, secret without id
    for body in [
        format!("{CC}&client_id=svc-post"),
        format!("{CC}&client_secret=p0st-secret"),
    ] {
        let r = w.send(post("/oauth/token", body.clone())).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{body}"
        );
        assert_eq!(r.header("www-authenticate"), None);
    }
}

#[actix_web::test]
async fn unknown_client_wrong_secret_and_wrong_method_look_the_same() {
    let w = World::new();
    let cases = [
        basic_post("/oauth/token", CC, "nobody", "s3cret"),
        basic_post("/oauth/token", CC, "svc-basic", "wrong"),
        // svc-post is registered for client_secret_post
        basic_post("/oauth/token", CC, "svc-post", "p0st-secret"),
    ];
    let mut bodies = Vec::new();
    for req in cases {
        let r = w.send(req).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"grantd\""));
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|p| p[0] == p[1]), "{bodies:?}");
    // and svc-basic over the body is refused the same way
    let r = w
        .send(post("/oauth/token", post_body("svc-basic", "s3cret", "")))
        .await;
    assert_eq!((r.status, r.body.clone()), (401, bodies[0].clone()));
}

#[actix_web::test]
async fn client_secret_post_works() {
    let w = World::new();
    let r = w
        .send(post(
            "/oauth/token",
            post_body("svc-post", "p0st-secret", ""),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // `introspect` is a service-tier scope like any other: a token may carry it.
    assert_eq!(r.json()["scope"], "mcp introspect");
}

#[actix_web::test]
async fn basic_plus_body_secret_is_invalid_request() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&client_secret=s3cret"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    assert_eq!(
        r.header("www-authenticate"),
        None,
        "a 400 carries no challenge"
    );
    r.assert_no_store("two methods");
    assert!(w.clients.lookups.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn body_client_id_equal_to_basic_is_allowed_different_is_not() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&client_id=svc-basic"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&client_id=svc-post"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    // case matters: ids are compared exactly
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&client_id=SVC-basic"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
}

#[actix_web::test]
async fn credentials_in_the_query_string_are_refused() {
    let w = World::new();
    for query in [
        "client_id=svc-post",
        "client_secret=p0st-secret",
        "x=1&client%5Fsecret=p",
    ] {
        for (path, body) in [
            ("/oauth/token", post_body("svc-post", "p0st-secret", "")),
            (
                "/oauth/introspect",
                "token=t&client_id=svc-post&client_secret=p0st-secret".to_owned(),
            ),
            (
                "/oauth/revoke",
                "token=t&client_id=svc-post&client_secret=p0st-secret".to_owned(),
            ),
        ] {
            let r = w.send(post(&format!("{path}?{query}"), body)).await;
            assert_eq!(
                (r.status, r.error().as_str()),
                (400, "invalid_request"),
                "{path}?{query}"
            );
            assert!(
                r.json()["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("query")
            );
        }
    }
    assert!(w.clients.lookups.lock().unwrap().is_empty());
    // other query parameters do not matter
    let r = w
        .send(post(
            "/oauth/token?foo=bar",
            post_body("svc-post", "p0st-secret", ""),
        ))
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn repeated_authorization_header_is_invalid_request() {
    let w = World::new();
    let r = w
        .send(
            post("/oauth/token", CC)
                .append_header(("authorization", basic("svc-basic", "s3cret")))
                .append_header(("authorization", basic("svc-basic", "s3cret"))),
        )
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
}
