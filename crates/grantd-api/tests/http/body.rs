//! Request-body rules: content type and charset, size limit, content coding, strict
//! percent/UTF-8 decoding, empty values, unknown and repeated parameters.

use actix_web::test as atest;
use actix_web::web::Bytes;

use crate::fixture::*;

fn token_req(content_type: Option<&str>, body: &str) -> atest::TestRequest {
    let mut r = atest::TestRequest::post()
        .uri("/oauth/token")
        .peer_addr(PEER.parse().unwrap())
        .insert_header(("authorization", basic("svc-basic", "s3cret")))
        .set_payload(body.to_owned());
    if let Some(ct) = content_type {
        r = r.insert_header(("content-type", ct));
    }
    r
}

#[actix_web::test]
async fn only_form_content_type_is_accepted() {
    let w = World::new();
    let cases: &[(Option<&str>, u16)] = &[
        (Some("application/x-www-form-urlencoded"), 200),
        (
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            200,
        ),
        (Some("application/x-www-form-urlencoded;charset=UTF-8"), 200),
        (Some("APPLICATION/X-WWW-FORM-URLENCODED"), 200),
        (None, 400),
        (Some("application/json"), 400),
        (Some("multipart/form-data; boundary=xyz"), 400),
        (Some("text/plain"), 400),
        (Some("application/x-www-form-urlencoded-ish"), 400),
    ];
    for (ct, want) in cases {
        let r = w.send(token_req(*ct, CC)).await;
        assert_eq!(r.status, *want, "{ct:?}: {}", r.text());
        if *want == 400 {
            assert_eq!(r.error(), "invalid_request", "{ct:?}");
            r.assert_no_store("content type");
        }
    }
}

#[actix_web::test]
async fn charset_other_than_utf8_is_invalid_request() {
    let w = World::new();
    for cs in ["iso-8859-1", "utf-16", "\"windows-1252\""] {
        let ct = format!("application/x-www-form-urlencoded; charset={cs}");
        let r = w.send(token_req(Some(&ct), CC)).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{cs}"
        );
    }
}

#[actix_web::test]
async fn declared_oversized_body_is_413_before_reading() {
    let w = World::new();
    // The declared length alone decides: the payload itself is tiny, so reaching the body
    // would have given a 200.
    let r = w
        .send(token_req(Some(FORM), CC).insert_header(("content-length", "1000000")))
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.error(), "invalid_request");
    r.assert_no_store("413");
    assert!(w.clients.lookups.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn streamed_body_over_the_limit_is_413_and_the_limit_itself_passes() {
    let w = World::new();
    let limit = grantd_api::DEFAULT_BODY_LIMIT;
    // exactly at the limit: fine (an unknown parameter pads the body)
    let prefix = format!("{CC}&pad=");
    let at_limit = format!("{prefix}{}", "x".repeat(limit - prefix.len()));
    assert_eq!(at_limit.len(), limit);
    let r = w.send(token_req(Some(FORM), &at_limit)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // one byte over, with a declared length that lies: the streaming cap catches it
    let over = format!("{at_limit}x");
    let r = w
        .send(token_req(Some(FORM), &over).insert_header(("content-length", "10")))
        .await;
    assert_eq!(r.status, 413);
    r.assert_no_store("413 streamed");
}

#[actix_web::test]
async fn body_limit_is_configurable() {
    let mut config = grantd_api::ApiConfig::with_issuer(ISSUER);
    config.body_limit = 64;
    let w = World::with_config(config);
    let r = w
        .send(token_req(
            Some(FORM),
            &format!("{CC}&pad={}", "x".repeat(64)),
        ))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(w.send(token_req(Some(FORM), CC)).await.status, 200);
}

#[actix_web::test]
async fn compressed_bodies_are_refused_with_415() {
    let w = World::new();
    for enc in [
        "gzip",
        "deflate",
        "br",
        "zstd",
        "identity, gzip",
        "x-unknown",
    ] {
        let r = w
            .send(token_req(Some(FORM), CC).insert_header(("content-encoding", enc)))
            .await;
        assert_eq!(r.status, 415, "{enc}");
        assert_eq!(r.error(), "invalid_request", "{enc}");
        assert_eq!(r.header("accept-encoding"), Some("identity"), "{enc}");
        r.assert_no_store(enc);
    }
    let r = w
        .send(token_req(Some(FORM), CC).insert_header(("content-encoding", "identity")))
        .await;
    assert_eq!(r.status, 200, "identity is no coding");
}

#[actix_web::test]
async fn invalid_percent_encoding_or_utf8_is_invalid_request() {
    let w = World::new();
    let bodies: &[&[u8]] = &[
        b"grant_type=client_credentials&scope=%zz",
        b"grant_type=client_credentials&scope=%4",
        b"grant_type=client_credentials&scope=%",
        b"grant_type=client_credentials&scope=%FF",
        b"grant_type=client_credentials&scope=\xff\xfe",
        // even in a parameter nobody reads
        b"grant_type=client_credentials&unknown=%C3",
        b"grant_type=client_credentials&%zz=1",
    ];
    for body in bodies {
        let r = w
            .send(
                post("/oauth/token", Bytes::from_static(body))
                    .insert_header(("authorization", basic("svc-basic", "s3cret"))),
            )
            .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(w.clients.lookups.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn plus_is_space_and_percent_escapes_decode() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=mcp+service%20admin"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["scope"], "admin service mcp");
}

#[actix_web::test]
async fn empty_value_is_treated_as_absent() {
    let w = World::new();
    // scope= is no scope parameter: the client's full set
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=&audience="),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["scope"], "admin service mcp");
    // grant_type= is a missing grant_type
    let r = w
        .send(basic_post(
            "/oauth/token",
            "grant_type=&scope=mcp",
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type")
    );
    // an empty body client_secret next to Basic is no second method
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&client_secret="),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // and an empty repeat is no repeat
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=&scope=mcp"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.json()["scope"].as_str()), (200, Some("mcp")));
}

#[actix_web::test]
async fn unknown_parameters_are_ignored() {
    let w = World::new();
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("foo=bar&{CC}&redirect_uri=x&&"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[actix_web::test]
async fn repeated_defined_parameters_are_invalid_request() {
    let w = World::new();
    let token_repeats = [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=mcp&scope=mcp",
        "grant_type=client_credentials&audience=api&audience=api",
        "grant_type=client_credentials&plugin_id=p&plugin_id=p",
        "grant_type=client_credentials&client_id=svc-post&client_id=svc-post&client_secret=p0st-secret",
        "grant_type=client_credentials&client_id=svc-post&client_secret=p0st-secret&client_secret=p0st-secret",
    ];
    for body in token_repeats {
        let r = w.send(post("/oauth/token", body)).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{body}"
        );
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("repeated"),
            "{body}"
        );
    }
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        for body in [
            "token=a&token=b",
            "token=a&token_type_hint=x&token_type_hint=y",
        ] {
            let r = w.send(basic_post(path, body, "svc-basic", "s3cret")).await;
            assert_eq!(
                (r.status, r.error().as_str()),
                (400, "invalid_request"),
                "{path} {body}"
            );
        }
    }
    assert!(
        w.clients.lookups.lock().unwrap().is_empty(),
        "refused before authentication"
    );
}

#[actix_web::test]
async fn resource_may_repeat() {
    let w = World::new();
    let res = form_encode(ORDERS);
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&scope=service&resource={res}&resource={res}"),
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
    assert_eq!(claims.aud, vec![ORDERS.to_owned()]);
    // two different resources reach the domain's rule (invalid_target), not a repeat error
    let r = w
        .send(basic_post(
            "/oauth/token",
            &format!("{CC}&resource={res}&resource=https%3A%2F%2Fother.example"),
            "svc-basic",
            "s3cret",
        ))
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_target"));
}
