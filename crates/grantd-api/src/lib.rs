//! grantd's HTTP API on actix-web: the token endpoint, introspection, revocation, RFC 8414
//! metadata, the JWKS and health checks. The only crate that knows HTTP and JSON.
//!
//! Handlers turn a request into use-case input (strict form parsing, client credentials,
//! request context) and use-case output into responses; every failure is mapped to status and
//! OAuth error JSON in one place (`error.rs`). Nothing is derived from `Host` or
//! `X-Forwarded-*` except the session row's client IP, and that only through configured
//! trusted proxies.
//!
//! Choices where the RFCs and the issue leave room:
//! - Order of checks on the POST endpoints: declared `Content-Length` over the limit (413,
//!   before any body byte is read), `Content-Encoding` (415), `Content-Type`/charset (400),
//!   credentials in the query string (400), body read under the cap (413), strict form
//!   decoding (400), repeated parameters (400), then `grant_type` (missing: `invalid_request`,
//!   other: `unsupported_grant_type`) or `token` (missing: `invalid_request`), then the
//!   credentials' shape (two methods or a mismatching body `client_id`: 400; none or unusable:
//!   401), then authentication, then the use case. So an unsupported grant type is answered
//!   as such without credentials: it is public in the metadata and cannot succeed anyway.
//! - A compressed body is refused with 415 `invalid_request` and `Accept-Encoding: identity`
//!   (RFC 7694 §3); a media-type/charset mistake is 400 `invalid_request` as the issue says.
//! - 405 and 413 bodies use the OAuth shape with `invalid_request`; the 404 body says
//!   `not_found`. HEAD is not served (405), the endpoints are GET or POST only.
//! - `token_type_hint` is checked for repeats and otherwise ignored (one token type; never
//!   `unsupported_token_type`).
//! - `response_types_supported` is `[]` in the metadata: RFC 8414 requires the member, and
//!   grantd has no authorization endpoint.
//! - `Retry-After: 1` on 503; JWKS and metadata are cacheable for 300 s.
//!
//! Slow and numerous clients (`[server]` keys of the binary's configuration):
//! - `client_request_timeout` (5 s) bounds the request head. The body has its own total
//!   deadline, [`ApiConfig::body_timeout`] (`server.body_timeout`, default 5 s), counted from
//!   the moment the endpoint starts reading it: a declared `Content-Length` that never arrives
//!   or a chunked body that never ends gets `408` with `invalid_request` JSON, the no-store
//!   headers and `Connection: close`, and the connection is closed. It is checked before any
//!   client authentication, so an anonymous sender cannot hold a connection longer than that.
//! - [`ApiConfig::max_connections`] (`server.max_connections`, default 1,024) is per worker:
//!   a worker holding that many connections stops accepting until one closes, and newcomers
//!   wait in the listen queue, [`listener`]'s `backlog` (`server.backlog`, default 1,024, the
//!   kernel caps it at `net.core.somaxconn`), then are refused by the kernel. Keep
//!   `workers × max_connections` below the process's file-descriptor limit (`ulimit -n`).

pub mod admin;
mod audit;
mod cidr;
mod client_ip;
mod error;
mod form;
mod handlers;
mod limits;
mod metrics;
mod openapi;
mod request;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{App, HttpServer};
use async_trait::async_trait;
use grantd_app::TokenService;
use grantd_domain::{AuthMethod, GrantType};
use serde::Serialize;

pub use cidr::{InvalidCidr, IpCidr};
pub use limits::{Rate, RateLimitConfig};
pub use openapi::{OPENAPI_PATH, document as openapi_document};

/// The request parsers, for the criterion micro-benchmarks in `grantd-bench` (not an API).
#[doc(hidden)]
pub mod bench_support {
    /// Parses an `Authorization: Basic …` value as the token endpoint does; the client id and
    /// secret lengths, or `None` if it is refused.
    pub fn parse_basic(value: &[u8]) -> Option<(usize, usize)> {
        crate::request::parse_basic(value)
            .ok()
            .map(|(id, secret)| (id.len(), secret.len()))
    }

    /// Parses a form body and reads the token endpoint's parameters from it, as the handler
    /// does; `None` if it is refused.
    pub fn parse_token_form(body: &[u8]) -> Option<usize> {
        let form = crate::form::Form::parse(body).ok()?;
        let mut n = 0;
        for name in [
            "grant_type",
            "client_id",
            "client_secret",
            "scope",
            "audience",
            "plugin_id",
        ] {
            n += usize::from(form.single(name).ok()?.is_some());
        }
        Some(n + form.all("resource").len())
    }
}

/// The token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The token endpoint under the path of the system grantd replaces.
pub const LEGACY_TOKEN_PATH: &str = "/api/v1/core/oauth/token";
/// RFC 7662 introspection.
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
/// RFC 7009 revocation.
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// RFC 8414 metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The public signing keys.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Liveness.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Readiness.
pub const READYZ_PATH: &str = "/readyz";

/// Default request body limit: 16 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;
/// Default total time to receive a request body: 5 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Default most open connections per worker.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default listen backlog: connections the kernel queues while no worker accepts.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// HTTP-layer configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// The issuer identifier (a URL). Every URL in the metadata is built from it.
    pub issuer: String,
    /// Proxies whose `X-Forwarded-For` is believed when finding the client IP.
    pub trusted_proxies: Vec<IpCidr>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// How long a client may take to send the request head (slow-loris guard).
    pub client_request_timeout: Duration,
    /// How long the whole request body may take to arrive once an endpoint starts reading it;
    /// past it: 408 and the connection is closed (slow-body guard).
    pub body_timeout: Duration,
    /// Most connections one worker holds open; past it the worker stops accepting until one
    /// closes.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Token buckets and failed-authentication throttling (`[rate_limit]`).
    pub rate_limit: RateLimitConfig,
    /// The signing algorithm, as the `algorithm` label of the issued-tokens counter.
    pub algorithm: &'static str,
    /// Client ids counted under their own `client` label (`[metrics] per_client`); every other
    /// id is counted as "other". Empty: no per-client series at all.
    pub per_client: Vec<&'static str>,
}

impl ApiConfig {
    /// A configuration with the given issuer and trusted proxies (each `a.b.c.d/n`, `v6/n` or a
    /// bare address; the first that does not parse is the error) and defaults for the rest:
    /// 16 KiB bodies, 30 s keep-alive, 5 s to send the head, 5 s to send the body, 1,024
    /// connections per worker, 30 s to drain on shutdown.
    pub fn new(
        issuer: impl Into<String>,
        trusted_proxies: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Self, InvalidCidr> {
        let trusted_proxies = trusted_proxies
            .into_iter()
            .map(|p| p.as_ref().parse::<IpCidr>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trusted_proxies,
            ..Self::with_issuer(issuer)
        })
    }

    /// [`ApiConfig::new`] without trusted proxies.
    pub fn with_issuer(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            trusted_proxies: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            keep_alive: Duration::from_secs(30),
            client_request_timeout: Duration::from_secs(5),
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: Duration::from_secs(30),
            rate_limit: RateLimitConfig::default(),
            algorithm: "unknown",
            per_client: Vec::new(),
        }
    }
}

/// Whether the server can take traffic: the database is reachable and a signing key is
/// loaded. The binary implements it; `/readyz` asks it (and the signer) on every call.
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn ready(&self) -> bool;
}

/// Everything the handlers share. Cheap to clone (reference-counted parts).
#[derive(Clone)]
pub struct ApiState {
    service: Arc<TokenService>,
    readiness: Arc<dyn Readiness>,
    config: Arc<ApiConfig>,
    /// Per-process rate limits, shared by every worker.
    limits: Arc<limits::Limits>,
    /// The RFC 8414 document, serialized once.
    discovery: Bytes,
    /// The token endpoint's URLs as the issuer publishes them (what a DPoP proof's `htu`
    /// names): the main path and the legacy one.
    token_urls: Arc<[String; 2]>,
    /// The request path's metric handles.
    meters: Arc<metrics::Meters>,
}

impl fmt::Debug for ApiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    grant_types_supported: Vec<&'static str>,
    /// RFC 8414 §2 marks it REQUIRED; grantd has no authorization endpoint, so: none.
    response_types_supported: [&'static str; 0],
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    scopes_supported: Vec<&'a str>,
    /// RFC 9449 §5.1.
    dpop_signing_alg_values_supported: &'static [&'static str],
    /// `private_key_jwt` assertions (RFC 8414 §2): the algorithms a registered key can pin,
    /// the same verifier as DPoP's.
    token_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    introspection_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    revocation_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
}

fn discovery_document(issuer: &str, service: &TokenService) -> Bytes {
    let base = issuer.trim_end_matches('/');
    let methods: Vec<&'static str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let doc = Metadata {
        issuer,
        token_endpoint: format!("{base}{TOKEN_PATH}"),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        introspection_endpoint: format!("{base}{INTROSPECT_PATH}"),
        revocation_endpoint: format!("{base}{REVOKE_PATH}"),
        grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
        response_types_supported: [],
        token_endpoint_auth_methods_supported: methods.clone(),
        introspection_endpoint_auth_methods_supported: methods.clone(),
        revocation_endpoint_auth_methods_supported: methods,
        scopes_supported: service.policy().catalog.iter().map(|s| s.name()).collect(),
        dpop_signing_alg_values_supported: service.dpop_algorithms(),
        token_endpoint_auth_signing_alg_values_supported: service.dpop_algorithms(),
        introspection_endpoint_auth_signing_alg_values_supported: service.dpop_algorithms(),
        revocation_endpoint_auth_signing_alg_values_supported: service.dpop_algorithms(),
    };
    match serde_json::to_vec(&doc) {
        Ok(v) => Bytes::from(v),
        Err(e) => {
            // Only strings and arrays of strings: cannot happen. Serve an empty object rather
            // than abort start-up.
            tracing::error!(error = %e, "serializing the metadata document");
            Bytes::from_static(b"{}")
        }
    }
}

impl ApiState {
    pub fn new(service: TokenService, readiness: Arc<dyn Readiness>, config: ApiConfig) -> Self {
        let discovery = discovery_document(&config.issuer, &service);
        let base = config.issuer.trim_end_matches('/');
        let token_urls = Arc::new([
            format!("{base}{TOKEN_PATH}"),
            format!("{base}{LEGACY_TOKEN_PATH}"),
        ]);
        Self {
            token_urls,
            meters: Arc::new(metrics::Meters::new(config.algorithm)),
            service: Arc::new(service),
            readiness,
            limits: Arc::new(limits::Limits::new(config.rate_limit)),
            config: Arc::new(config),
            discovery,
        }
    }

    /// The published URL of the token endpoint reached at `path`.
    pub(crate) fn token_url(&self, path: &str) -> &str {
        if path == LEGACY_TOKEN_PATH {
            &self.token_urls[1]
        } else {
            &self.token_urls[0]
        }
    }

    pub fn service(&self) -> &TokenService {
        &self.service
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// Drops idle rate-limit keys and bounds their stores; the binary calls it every few
    /// seconds (see [`RateLimitConfig::max_keys`]).
    pub fn sweep_rate_limits(&self) {
        self.limits.sweep();
    }
}

/// Registers every route, the 405 answers for wrong methods and a JSON 404 for unknown paths.
///
/// One resource per path: a resource with several paths is matched with a regular expression
/// on every request (actix-router), a single static path by plain comparison.
pub fn configure(cfg: &mut ServiceConfig, state: ApiState) {
    cfg.app_data(Data::new(state))
        .service(
            web::resource(TOKEN_PATH)
                .route(web::post().to(handlers::token))
                .default_service(web::to(handlers::post_only)),
        )
        .service(
            web::resource(LEGACY_TOKEN_PATH)
                .route(web::post().to(handlers::token))
                .default_service(web::to(handlers::post_only)),
        )
        .service(
            web::resource(INTROSPECT_PATH)
                .route(web::post().to(handlers::introspect))
                .default_service(web::to(handlers::post_only)),
        )
        .service(
            web::resource(REVOKE_PATH)
                .route(web::post().to(handlers::revoke))
                .default_service(web::to(handlers::post_only)),
        )
        .service(
            web::resource(METADATA_PATH)
                .route(web::get().to(handlers::metadata))
                .default_service(web::to(handlers::get_only)),
        )
        .service(
            web::resource(JWKS_PATH)
                .route(web::get().to(handlers::jwks))
                .default_service(web::to(handlers::get_only)),
        )
        .service(
            web::resource(HEALTHZ_PATH)
                .route(web::get().to(handlers::healthz))
                .default_service(web::to(handlers::get_only)),
        )
        .service(
            web::resource(READYZ_PATH)
                .route(web::get().to(handlers::readyz))
                .default_service(web::to(handlers::get_only)),
        )
        .service(
            web::resource(OPENAPI_PATH)
                .route(web::get().to(openapi::serve))
                .default_service(web::to(handlers::get_only)),
        )
        .default_service(web::to(handlers::not_found));
}

/// Renders the metrics exposition (the binary's Prometheus recorder).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The admin listener's routes: `GET /metrics` (when a renderer is given), `/healthz`, `/readyz`.
/// Kept off the public port so metrics are never exposed there by accident.
pub fn configure_admin(cfg: &mut ServiceConfig, state: ApiState, render: Option<RenderMetrics>) {
    cfg.app_data(Data::new(state))
        .route(HEALTHZ_PATH, web::get().to(handlers::healthz))
        .route(READYZ_PATH, web::get().to(handlers::readyz));
    if let Some(render) = render {
        cfg.route(
            "/metrics",
            web::get().to(move || {
                let text = render();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(text)
                }
            }),
        );
    }
}

/// The admin HTTP server (one worker) on `listener`.
pub fn admin_server(
    state: ApiState,
    listener: TcpListener,
    render: Option<RenderMetrics>,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        let (state, render) = (state.clone(), render.clone());
        App::new().configure(move |cfg| configure_admin(cfg, state, render))
    })
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// The admin HTTP server (one worker) on `listener` with the admin API (`/admin/v1`) besides
/// the routes of [`admin_server`].
pub fn admin_api_server(
    state: ApiState,
    listener: TcpListener,
    render: Option<RenderMetrics>,
    api: admin::AdminApi,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        let (state, render, api) = (state.clone(), render.clone(), api.clone());
        App::new().configure(move |cfg| {
            configure_admin(cfg, state, render);
            admin::configure(cfg, api);
        })
    })
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// [`server`] with the admin API (`/admin/v1`) on the public port too (`[admin] api =
/// "public"`).
pub fn server_with_admin_api(
    state: ApiState,
    listener: TcpListener,
    workers: usize,
    api: admin::AdminApi,
) -> std::io::Result<Server> {
    let config = state.config.clone();
    let server = HttpServer::new(move || {
        let (state, api) = (state.clone(), api.clone());
        App::new().configure(move |cfg| {
            admin::configure(cfg, api);
            configure(cfg, state);
        })
    })
    .workers(workers.max(1))
    .keep_alive(config.keep_alive)
    .client_request_timeout(config.client_request_timeout)
    .max_connections(config.max_connections.max(1))
    .shutdown_timeout(config.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

/// A listening TCP socket on `addr` whose kernel queue holds `backlog` connections not yet
/// accepted (capped by the kernel at `net.core.somaxconn`); hand it to [`server`]. `std`'s
/// `TcpListener::bind` fixes the queue at 128 and actix's own `backlog` setting applies only to
/// addresses it binds itself.
pub fn listener(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std does: a restarted server can bind at once while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// The HTTP server on `listener` with `workers` worker threads (at least one). It stops
/// gracefully on SIGTERM/SIGINT (actix's default signal handling), draining in-flight requests
/// for up to `config.shutdown_timeout`. Must be polled (awaited or spawned) on an actix/tokio
/// runtime.
pub fn server(state: ApiState, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let config = state.config.clone();
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().configure(move |cfg| configure(cfg, state))
    })
    .workers(workers.max(1))
    .keep_alive(config.keep_alive)
    .client_request_timeout(config.client_request_timeout)
    .max_connections(config.max_connections.max(1))
    .shutdown_timeout(config.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}
