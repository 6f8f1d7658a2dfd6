//! DPoP at the HTTP edge (the proof checks themselves are grantd-jwt's, tested there): one
//! header at most, the target the proof must name (the published URL of the path reached),
//! `token_type: DPoP`, the `DPoP-Nonce` header on a nonce challenge and on success, the
//! refusals' bodies, and the metadata.

use actix_web::test as atest;

use crate::fixture::*;

fn dpop_post(path: &str, proofs: &[&str]) -> atest::TestRequest {
    let mut req = basic_post(path, CC, "svc-basic", "s3cret");
    for p in proofs {
        req = req.append_header(("dpop", *p));
    }
    req
}

#[actix_web::test]
async fn a_valid_proof_gets_a_dpop_token_bound_in_the_session_row() {
    let w = World::new();
    let r = w.send(dpop_post("/oauth/token", &["good-proof"])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["token_type"], "DPoP");
    assert_eq!(r.header("dpop-nonce"), Some("fake-nonce"));
    let rows = w.sessions.rows.lock().unwrap();
    let binding = rows.last().unwrap().dpop.clone().unwrap();
    assert_eq!(binding.jkt.as_str(), FAKE_JKT);
    assert_eq!(
        binding.proof_key, "good-proof@https://auth.example/oauth/token",
        "the proof was checked against the published token URL"
    );
}

#[actix_web::test]
async fn the_legacy_path_is_its_own_target() {
    let w = World::new();
    let r = w
        .send(dpop_post("/api/v1/core/oauth/token", &["good-proof"]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = w.sessions.rows.lock().unwrap();
    assert_eq!(
        rows.last().unwrap().dpop.as_ref().unwrap().proof_key,
        "good-proof@https://auth.example/api/v1/core/oauth/token"
    );
}

#[actix_web::test]
async fn without_a_proof_the_token_is_bearer() {
    let w = World::new();
    let r = w.send(dpop_post("/oauth/token", &[])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["token_type"], "Bearer");
    assert_eq!(w.sessions.rows.lock().unwrap().last().unwrap().dpop, None);
}

#[actix_web::test]
async fn refusals_are_invalid_dpop_proof_and_issue_nothing() {
    let w = World::new();
    for (proofs, description) in [
        (
            &["good-proof", "good-proof"][..],
            "more than one DPoP header",
        ),
        (&["junk"][..], "DPoP proof is not a well-formed JWS"),
    ] {
        let r = w.send(dpop_post("/oauth/token", proofs)).await;
        assert_eq!((r.status, r.error().as_str()), (400, "invalid_dpop_proof"));
        assert_eq!(r.json()["error_description"], description);
        r.assert_no_store("invalid_dpop_proof");
    }
    assert!(w.sessions.rows.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn a_nonce_challenge_carries_the_nonce_header() {
    let w = World::new();
    let r = w.send(dpop_post("/oauth/token", &["needs-nonce"])).await;
    assert_eq!((r.status, r.error().as_str()), (400, "use_dpop_nonce"));
    assert_eq!(r.header("dpop-nonce"), Some("fake-nonce"));
    assert!(w.sessions.rows.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn metadata_lists_the_proof_algorithms() {
    let w = World::new();
    let j = w
        .send(atest::TestRequest::get().uri("/.well-known/oauth-authorization-server"))
        .await
        .json();
    assert_eq!(
        j["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "EdDSA"])
    );
}
