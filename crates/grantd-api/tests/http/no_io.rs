//! Requests refused for their shape never reach a port: the service here runs on mockall mocks
//! with no expectations, so any store, hasher or signer call would panic the test.

use std::sync::Arc;

use actix_web::test as atest;
use async_trait::async_trait;
use grantd_api::{ApiConfig, ApiState, Readiness};
use grantd_app::{Ports, TokenService};
use grantd_ports::{
    MockClientStore, MockClock, MockIdSource, MockSecretHasher, MockSessionStore, MockTokenSigner,
    MockUserStore,
};

use crate::fixture::*;

struct NeverAsked;

#[async_trait]
impl Readiness for NeverAsked {
    async fn ready(&self) -> bool {
        panic!("readiness asked")
    }
}

fn untouchable() -> ApiState {
    let ports = Ports {
        clients: Arc::new(MockClientStore::new()),
        users: Arc::new(MockUserStore::new()),
        sessions: Arc::new(MockSessionStore::new()),
        signer: Arc::new(MockTokenSigner::new()),
        secrets: Arc::new(MockSecretHasher::new()),
        clock: Arc::new(MockClock::new()),
        ids: Arc::new(MockIdSource::new()),
        // Only the metadata (built once, at start) asks it anything.
        assertions: Arc::new(grantd_ports::MockClientAssertions::new()),
        remote_keys: Arc::new(grantd_ports::MockRemoteKeys::new()),
        dpop: Arc::new({
            let mut m = grantd_ports::MockDpopProofs::new();
            m.expect_algorithms().return_const(&["ES256"][..]);
            m
        }),
    };
    let service = TokenService::new(ports, Arc::new(policy()));
    ApiState::new(
        service,
        Arc::new(NeverAsked),
        ApiConfig::with_issuer(ISSUER),
    )
}

#[actix_web::test]
async fn shape_refusals_touch_no_port() {
    let state = untouchable();
    let b = || basic("svc-basic", "s3cret");
    let cases: Vec<(&str, atest::TestRequest, u16, &str)> = vec![
        (
            "no content type",
            atest::TestRequest::post()
                .uri("/oauth/token")
                .set_payload(CC),
            400,
            "invalid_request",
        ),
        (
            "json",
            post("/oauth/token", "{}").insert_header(("content-type", "application/json")),
            400,
            "invalid_request",
        ),
        (
            "latin1",
            post("/oauth/token", CC).insert_header((
                "content-type",
                "application/x-www-form-urlencoded; charset=latin1",
            )),
            400,
            "invalid_request",
        ),
        (
            "declared too large",
            post("/oauth/token", CC).insert_header(("content-length", "16385")),
            413,
            "invalid_request",
        ),
        (
            "gzip",
            post("/oauth/token", CC).insert_header(("content-encoding", "gzip")),
            415,
            "invalid_request",
        ),
        (
            "bad percent",
            post("/oauth/token", "grant_type=%G0"),
            400,
            "invalid_request",
        ),
        (
            "repeat",
            post(
                "/oauth/token",
                "grant_type=client_credentials&grant_type=client_credentials",
            ),
            400,
            "invalid_request",
        ),
        (
            "missing grant_type",
            post("/oauth/token", "scope=mcp"),
            400,
            "invalid_request",
        ),
        (
            "unsupported grant",
            post("/oauth/token", "grant_type=password"),
            400,
            "unsupported_grant_type",
        ),
        (
            "query creds",
            post("/oauth/token?client_secret=x", CC),
            400,
            "invalid_request",
        ),
        (
            "both methods",
            post("/oauth/token", format!("{CC}&client_secret=s3cret"))
                .insert_header(("authorization", b())),
            400,
            "invalid_request",
        ),
        (
            "id mismatch",
            post("/oauth/token", format!("{CC}&client_id=other"))
                .insert_header(("authorization", b())),
            400,
            "invalid_request",
        ),
        (
            "bearer",
            post("/oauth/token", CC).insert_header(("authorization", "Bearer x")),
            401,
            "invalid_client",
        ),
        ("no creds", post("/oauth/token", CC), 401, "invalid_client"),
        (
            "missing token",
            post("/oauth/introspect", "").insert_header(("authorization", b())),
            400,
            "invalid_request",
        ),
        (
            "missing token revoke",
            post("/oauth/revoke", "").insert_header(("authorization", b())),
            400,
            "invalid_request",
        ),
        (
            "get token",
            atest::TestRequest::get().uri("/oauth/token"),
            405,
            "invalid_request",
        ),
        (
            "unknown path",
            atest::TestRequest::get().uri("/nope"),
            404,
            "not_found",
        ),
    ];
    for (what, req, status, code) in cases {
        let r = call(&state, req).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (status, code),
            "{what}: {}",
            r.text()
        );
    }
}
