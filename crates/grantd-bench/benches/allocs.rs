//! Heap allocations made on the calling thread by one token request through the use cases
//! (client authentication, then the client_credentials grant: owner, decision, claims,
//! signature, session row), over SQLite behind the read cache, with the client and owner
//! cached. Run with `cargo bench -p grantd-bench --bench allocs`; it prints allocations per
//! request. The store's own threads (the session commit) are not counted: this measures the
//! request path, not the database.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary: a failure is a panic, the result is printed"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use grantd_app::{
    Admin, ClientAuthentication, NewClientSpec, NewUserSpec, Ports, TokenRequest, TokenService,
};
use grantd_domain::{
    AudienceRules, AuthMethod, ScopeCatalog, ScopePolicy, SubjectMode, TokenPolicy, Ttl,
};
use grantd_jwt::SystemClock;
use grantd_jwt::{DpopConfig, DpopVerifier, JwtConfig, JwtService, MasterKey, RandomIds, Secrets};
use grantd_ports::{Clock, SigningAlgorithm};
use grantd_store::cache::Cached;
use grantd_store::{Store, StoreOptions};

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations (and reallocations) of the calling thread.
#[derive(Debug)]
struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator.
#[expect(
    unsafe_code,
    reason = "a counting allocator implements the unsafe GlobalAlloc"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: "http://127.0.0.1:8080".into(),
        catalog: ScopeCatalog::builtin(),
        audiences: AudienceRules::new(vec![grantd_domain::Audience::Api], vec![]).unwrap(),
        scope_policy: ScopePolicy::Narrow,
        ttl: Ttl::from_secs(3600).unwrap(),
        subject: SubjectMode::Owner,
    }
}

async fn services(dir: &std::path::Path) -> (TokenService, Admin) {
    let policy = Arc::new(policy());
    let opts = StoreOptions {
        catalog: Arc::new(policy.catalog.clone()),
        ..StoreOptions::default()
    };
    let url = format!("sqlite://{}", dir.join("allocs.db").display());
    let store = Store::connect(&url, opts).await.unwrap();
    store.migrate().await.unwrap();
    let master = MasterKey::generate();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let jwt = Arc::new(JwtService::new(
        JwtConfig {
            issuer: policy.issuer.clone(),
            algorithm: SigningAlgorithm::Es256,
        },
        master.clone(),
        Arc::new(store.clone()),
    ));
    jwt.init(clock.now()).await.unwrap();
    let cache = Arc::new(Cached::new(store, Duration::from_secs(3600)));
    let ports = Ports {
        clients: cache.clone(),
        users: cache.clone(),
        sessions: cache,
        signer: jwt,
        secrets: Arc::new(Secrets::new(&master)),
        clock,
        ids: Arc::new(RandomIds::new()),
        assertions: Arc::new(grantd_jwt::AssertionVerifier::default()),
        remote_keys: Arc::new(grantd_fakes::NoRemoteKeys),
        dpop: Arc::new(DpopVerifier::new(&master, DpopConfig::default())),
    };
    (
        TokenService::new(ports.clone(), policy.clone()),
        Admin::new(ports, policy),
    )
}

fn main() {
    const N: u64 = 2000;
    let dir = std::env::temp_dir().join(format!("grantd-allocs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (service, admin) = services(&dir).await;
        let owner = admin
            .create_user(NewUserSpec {
                name: "Ada".into(),
                email: "ada@example.com".into(),
                roles: vec!["admin".into(), "user".into()],
            })
            .await
            .unwrap();
        let created = admin
            .create_client(NewClientSpec {
                name: "bench".into(),
                owner: owner.id.as_str().to_owned(),
                scopes: vec!["admin service mcp a2a".into()],
                auth_method: AuthMethod::ClientSecretPost,
                grant_types: vec![],
                supplied_secret: None,
                limits: Default::default(),
                dpop: grantd_domain::DpopPolicy::Optional,
                keys: Default::default(),
            })
            .await
            .unwrap();
        let (id, secret) = (
            created.client.id.as_str(),
            created.secret_plaintext.as_deref().unwrap(),
        );
        for scope in [None, Some("service mcp admin")] {
            let (mut auth_allocs, mut issue_allocs) = (0, 0);
            for i in 0..N + 100 {
                let before = allocs();
                let auth = ClientAuthentication::SecretPost {
                    client_id: id.into(),
                    secret: secret.into(),
                };
                let client = service.authenticate(&auth).await.unwrap();
                let middle = allocs();
                let req = TokenRequest {
                    scope,
                    context: grantd_domain::RequestContext {
                        ip: "203.0.113.7".parse().ok(),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let issued = service.issue(&client, req).await.unwrap();
                let after = allocs();
                drop(issued);
                // The first requests fill the cache: not counted.
                if i >= 100 {
                    auth_allocs += middle - before;
                    issue_allocs += after - middle;
                }
            }
            println!(
                "scope {:<22} authenticate {:>5.1}  issue {:>5.1}  allocations per request",
                format!("{scope:?}"),
                auth_allocs as f64 / N as f64,
                issue_allocs as f64 / N as f64
            );
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
