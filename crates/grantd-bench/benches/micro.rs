//! Criterion micro-benchmarks for the pure parts of the hot path: scope parsing plus grant
//! authorization, claims encoding plus signing (and verification) per algorithm, and HTTP Basic
//! credential parsing. Run with `cargo bench -p grantd-bench` (or `just bench-micro`).
#![expect(
    clippy::expect_used,
    reason = "benchmark set-up: a failure should abort the run loudly"
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use grantd_domain::{
    AccessTokenClaims, Audience, AudienceRequest, AudienceRules, AuthMethod, Client, ClientId,
    GrantTypes, Jti, Owner, OwnerId, ScopeCatalog, ScopePolicy, SessionId, StoredScopes, Subject,
    SubjectMode, Timestamp, TokenPolicy, Ttl, UserId, decide,
};
use grantd_fakes::MemKeys;
use grantd_jwt::{JwtConfig, JwtService, MasterKey};
use grantd_ports::{SigningAlgorithm, TokenSigner};

const OWNER: &str = "0b8e2c1a-4d5f-4a6b-9c7d-8e9f0a1b2c3d";

fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: "http://127.0.0.1:8080".into(),
        catalog: ScopeCatalog::builtin(),
        audiences: AudienceRules::new(
            vec![Audience::Api],
            ["api", "mcp", "a2a", "hook"].map(Audience::parse).to_vec(),
        )
        .expect("rules"),
        scope_policy: ScopePolicy::Narrow,
        ttl: Ttl::from_secs(3600).expect("ttl"),
        subject: SubjectMode::Owner,
    }
}

fn client() -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: ClientId::parse("cl_benchmarkclient000001").expect("id"),
        name: "bench".into(),
        owner_id: OwnerId::parse(OWNER),
        scopes: StoredScopes::parse(
            &ScopeCatalog::builtin(),
            &["admin", "service", "mcp", "a2a", "hook:track"],
        ),
        grant_types: GrantTypes::parse(&["client_credentials"]),
        auth_method: AuthMethod::ClientSecretBasic,
        active: true,
        secrets: vec![],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
        limits: Default::default(),
    }
}

fn owner() -> Owner {
    Owner {
        id: UserId::parse(OWNER).expect("uuid"),
        name: "bench".into(),
        email: "bench@example.com".into(),
        roles: StoredScopes::parse(&ScopeCatalog::builtin(), &["admin", "user"]),
        active: true,
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

fn bench_authorization(c: &mut Criterion) {
    let p = policy();
    let cl = client();
    let ow = owner();
    let mut g = c.benchmark_group("authorize");
    g.bench_function("client full set (no scope param)", |b| {
        b.iter(|| {
            decide(
                black_box(&p),
                black_box(&cl),
                Some(&ow),
                None,
                &AudienceRequest::default(),
            )
            .outcome
            .is_ok()
        })
    });
    g.bench_function("scope=\"service mcp admin\"", |b| {
        b.iter(|| {
            decide(
                black_box(&p),
                black_box(&cl),
                Some(&ow),
                Some(black_box("service mcp admin")),
                &AudienceRequest::default(),
            )
            .outcome
            .is_ok()
        })
    });
    g.bench_function("parse 5 scopes", |b| {
        b.iter(|| {
            p.catalog
                .parse_request(black_box("admin service mcp a2a hook:track"))
                .is_ok()
        })
    });
    g.finish();
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "http://127.0.0.1:8080".into(),
        subject: Subject::Owner(UserId::parse(OWNER).expect("owner")),
        aud: vec!["api".into()],
        exp: 4_000_000_000,
        iat: 1_800_000_000,
        nbf: 1_800_000_000,
        jti: Jti::parse("5f0c6a8e-1111-4222-8333-944455556666").expect("jti"),
        client_id: ClientId::parse("cl_benchmarkclient000001").expect("client id"),
        scope: "admin service mcp a2a".into(),
        session_id: SessionId::parse("sess_00112233445566778899aabbccddeeff").expect("session"),
        plugin_id: None,
        cnf_jkt: None,
    }
}

fn bench_signing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("jwt");
    for alg in SigningAlgorithm::ALL {
        let svc = JwtService::new(
            JwtConfig {
                issuer: "http://127.0.0.1:8080".into(),
                algorithm: alg,
            },
            MasterKey::generate(),
            Arc::new(MemKeys::default()),
        );
        rt.block_on(svc.init(Timestamp::from_secs(1_800_000_000)))
            .expect("init");
        let cl = claims();
        g.bench_function(format!("encode+sign {alg}"), |b| {
            b.iter(|| svc.sign(black_box(&cl)).is_ok())
        });
        // Verification proper: distinct tokens, more of them than the verified-token cache
        // keeps, so every call checks a signature and decodes the claims.
        let tokens: Vec<String> = (0..20_000u32)
            .map(|i| {
                let mut c = cl.clone();
                c.jti = Jti::parse(&format!("{}-{i}", cl.jti)).expect("jti");
                svc.sign(&c).expect("sign").token
            })
            .collect();
        let now = Timestamp::from_secs(1_800_000_100);
        let mut i = 0;
        g.bench_function(format!("verify+decode {alg}"), |b| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                svc.verify(black_box(&tokens[i]), now).is_ok()
            })
        });
        // The same token again (what introspection mostly sees): answered by the cache.
        let token = &tokens[0];
        let _ = svc.verify(token, now);
        g.bench_function(format!("verify remembered {alg}"), |b| {
            b.iter(|| svc.verify(black_box(token), now).is_ok())
        });
    }
    g.finish();
}

fn bench_request_parsing(c: &mut Criterion) {
    use grantd_api::bench_support::{parse_basic, parse_token_form};
    let mut g = c.benchmark_group("request");
    // A generated client id and 256-bit secret, form-encoded then base64, as clients send them.
    let basic = b"Basic Y2xfM2Y5YTJiNGM1ZDZlN2Y4MDkxYTJiM2M0ZDVlNmY3YTg6c2tfQWJDZEVmR2hJaktsTW5PcFFyU3RVdld4WXowMTIzNDU2Nzg5LV8=";
    assert_eq!(
        parse_basic(basic),
        Some((35, 41)),
        "the benchmark input must be accepted"
    );
    g.bench_function("parse Basic header", |b| {
        b.iter(|| parse_basic(black_box(basic)))
    });
    let body = b"grant_type=client_credentials&scope=service%20mcp%20admin&audience=https%3A%2F%2Fapi.example.com";
    assert_eq!(
        parse_token_form(body),
        Some(3),
        "the benchmark input must be accepted"
    );
    g.bench_function("parse token form", |b| {
        b.iter(|| parse_token_form(black_box(body)))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_authorization,
    bench_signing,
    bench_request_parsing
);
criterion_main!(benches);
