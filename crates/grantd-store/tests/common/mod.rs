//! Fixtures shared by the store's integration tests: domain values with fresh ids, and a store
//! on a fresh database of either backend.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use grantd_domain::{
    AuthMethod, Client, ClientId, ClientSecret, GrantTypes, Jti, Kid, NewSession, Owner,
    RequestContext, ScopeCatalog, SessionId, SessionSource, StoredScopes, Timestamp, UserId,
};
use grantd_ports::{KeyState, SigningAlgorithm, SigningKeyRecord};
use grantd_store::testing::TestDb;
use grantd_store::{Backend, Store, StoreOptions};

/// 2026-01-01T00:00:00Z plus some microseconds, so precision loss would show.
pub const T0: i64 = 1_767_225_600_000_000 + 123_457;

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros(T0 + secs * 1_000_000)
}

/// A fresh database and a store on it. Bind as `let (_db, store) = …` : the store drops first.
pub async fn open(backend: Backend) -> (TestDb, Store) {
    open_with(backend, StoreOptions::default()).await
}

pub async fn open_with(backend: Backend, opts: StoreOptions) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url, opts).await.expect("connect");
    assert_eq!(store.backend(), backend);
    (db, store)
}

fn uuid() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

pub fn user(n: i64) -> Owner {
    Owner {
        id: UserId::from_bytes(*uuid().as_bytes()),
        name: format!("User {n}"),
        email: format!("user{n}-{}@example.com", uuid().simple()),
        // Unknown to the built-in catalog: kept verbatim.
        roles: StoredScopes::parse(&ScopeCatalog::builtin(), &["admin:read", "billing:write"]),
        active: true,
        created_at: at(n),
        updated_at: at(n),
    }
}

pub fn secret(hash: &str, created: i64, valid_until: Option<i64>) -> ClientSecret {
    ClientSecret {
        hash: hash.into(),
        created_at: at(created),
        valid_until: valid_until.map(at),
    }
}

pub fn client(id: &str, owner: &Owner, n: i64) -> Client {
    Client {
        dpop: Default::default(),
        keys: Default::default(),
        id: ClientId::parse(id).expect("client id"),
        name: format!("Client {id}"),
        owner_id: owner.id.clone().into(),
        // Unknown to the built-in catalog the test store parses against: kept verbatim.
        scopes: StoredScopes::parse(&ScopeCatalog::builtin(), &["orders:read", "orders:write"]),
        grant_types: GrantTypes::parse(&["client_credentials"]),
        auth_method: AuthMethod::ClientSecretBasic,
        active: true,
        secrets: vec![secret(&format!("hmac-sha256$k1${id}"), n, None)],
        created_at: at(n),
        updated_at: at(n),
        limits: Default::default(),
    }
}

pub fn unique_client_id() -> String {
    format!("svc-{}", uuid().simple())
}

pub fn session(client: &ClientId, user: &UserId, created: i64) -> NewSession {
    NewSession {
        id: SessionId::from_bytes(*uuid().as_bytes()),
        user_id: user.clone(),
        client_id: client.clone(),
        source: SessionSource::Oauth,
        jti: Jti::parse(&uuid().to_string()).expect("jti"),
        context: RequestContext {
            ip: "203.0.113.7".parse().ok(),
            user_agent: Some("curl/8.5 (é)".into()),
            accept_language: None,
            referer: Some("https://example.com/".into()),
        },
        created_at: at(created),
        expires_at: at(created + 3600),
        dpop: None,
        assertion_key: None,
        auth: None,
    }
}

pub fn key(kid: &str, state: KeyState, created: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: Kid::parse(kid).expect("kid"),
        algorithm: SigningAlgorithm::EdDsa,
        encrypted_private_key: vec![0, 1, 2, 255, 0, 42],
        public_jwk: format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"abc"}}"#),
        state,
        created_at: at(created),
        activated_at: (state == KeyState::Active).then(|| at(created)),
        retired_at: None,
        not_after: None,
    }
}

/// Runs one SQL statement outside the store (to plant corrupt rows, or inspect the schema).
pub async fn raw_sql(db: &TestDb, sql: &str) -> Result<(), String> {
    use diesel_async::SimpleAsyncConnection;
    match db.backend() {
        Backend::Postgres => {
            use diesel_async::AsyncConnection;
            let mut conn = diesel_async::AsyncPgConnection::establish(&db.url)
                .await
                .map_err(|e| e.to_string())?;
            conn.batch_execute(sql).await.map_err(|e| e.to_string())
        }
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://").to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                use diesel::Connection;
                use diesel::connection::SimpleConnection;
                let mut conn =
                    diesel::SqliteConnection::establish(&path).map_err(|e| e.to_string())?;
                conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON")
                    .map_err(|e| e.to_string())?;
                conn.batch_execute(&sql).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        }
    }
}
