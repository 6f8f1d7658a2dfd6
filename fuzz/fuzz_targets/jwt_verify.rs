//! JWS parsing and verification (`TokenSigner::verify`): any string is refused or verifies,
//! never a panic, and nothing verifies but the one token this process signed. The key is
//! Ed25519 (deterministic signatures, and aws-lc refuses a non-canonical `s`), so "verifies"
//! means "is that exact token": a mutation that still verifies is a malleability defect.
//!
//! Keys are generated per process, so a committed seed cannot carry a valid signature. To let
//! the fuzzer reach the signature check with a known `kid`, each input is also spliced into the
//! signed token as its payload segment and as its signature segment.
#![no_main]

use std::sync::{Arc, LazyLock};

use grantd_domain::{AccessTokenClaims, ClientId, Jti, SessionId, Subject, Timestamp, UserId};
use grantd_fakes::MemKeys;
use grantd_jwt::{JwtConfig, JwtService, MasterKey};
use grantd_ports::{SigningAlgorithm, TokenSigner};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "http://127.0.0.1:8080";
const NOW: i64 = 1_800_000_100;

struct Fixture {
    service: JwtService,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let service = JwtService::new(
        JwtConfig {
            issuer: ISSUER.into(),
            algorithm: SigningAlgorithm::EdDsa,
        },
        MasterKey::generate(),
        Arc::new(MemKeys::default()),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(service.init(Timestamp::from_secs(NOW - 100)))
        .expect("key init");
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        subject: Subject::Owner(
            UserId::parse("0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d").expect("owner"),
        ),
        aud: vec!["api".into()],
        exp: NOW + 3600,
        iat: NOW - 100,
        nbf: NOW - 100,
        jti: Jti::parse("5f0c6a8e-1111-4222-8333-944455556666").expect("jti"),
        client_id: ClientId::parse("cl_fuzzclient000000000001").expect("client id"),
        scope: "admin service".into(),
        session_id: SessionId::parse("sess_00112233445566778899aabbccddeeff").expect("session"),
        plugin_id: None,
        cnf_jkt: None,
    };
    let token = service.sign(&claims).expect("sign").token;
    Fixture { service, token }
});

fn check(f: &Fixture, candidate: &str) {
    let now = Timestamp::from_secs(NOW);
    if f.service.verify(candidate, now).is_ok() {
        assert_eq!(
            candidate, f.token,
            "a token this process never signed verified"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let text = String::from_utf8_lossy(data);
    check(f, &text);
    let mut parts = f.token.splitn(3, '.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("the signed token has three parts");
    };
    check(f, &format!("{header}.{text}.{signature}"));
    check(f, &format!("{header}.{payload}.{text}"));
});
