//! The admin HTTP API under `/admin/v1`: users, clients (their secrets, public keys and
//! federated credentials), signing keys, sessions and `explain`, each operation one call of the
//! same use cases the CLI runs ([`grantd_app::Admin`], [`grantd_app::KeyAdmin`]), guarded by
//! grantd's own access tokens (`guard.rs`). JSON in and out in the CLI's `--json` shapes
//! (`views.rs`); every error an RFC 9457 problem (`problem.rs`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use grantd_app::{Admin, KeyAdmin, TokenService};
use serde_json::Value;

mod body;
mod changes;
mod client_keys;
mod guard;
pub mod openapi;
mod ops;
mod problem;
mod users_clients;
pub mod views;

use problem::Problem;

/// Where the admin API lives on the admin listener.
pub const ADMIN_API_PREFIX: &str = "/admin/v1";

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminApi {
    admin: Arc<Admin>,
    keys: Arc<KeyAdmin>,
    tokens: Arc<TokenService>,
    /// `[sessions] retention`: what a purge without `before` keeps.
    retention: Duration,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl AdminApi {
    /// `tokens` verifies the bearer tokens (the same service as the public endpoints).
    pub fn new(admin: Admin, keys: KeyAdmin, tokens: TokenService, retention: Duration) -> Self {
        Self {
            admin: Arc::new(admin),
            keys: Arc::new(keys),
            tokens: Arc::new(tokens),
            retention,
        }
    }
}

/// Registers the admin API's routes under [`ADMIN_API_PREFIX`]; a wrong method is a 405
/// problem, an unknown path under the prefix a 404 problem.
pub fn configure(cfg: &mut ServiceConfig, api: AdminApi) {
    use users_clients as uc;
    let res = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    cfg.service(
        web::scope(ADMIN_API_PREFIX)
            .app_data(web::Data::new(api))
            .service(
                res("/users")
                    .route(web::get().to(uc::list_users))
                    .route(web::post().to(uc::create_user)),
            )
            .service(
                res("/users/{id}")
                    .route(web::get().to(uc::show_user))
                    .route(web::patch().to(changes::patch_user)),
            )
            .service(
                res("/clients")
                    .route(web::get().to(uc::list_clients))
                    .route(web::post().to(uc::create_client)),
            )
            .service(
                res("/clients/{id}")
                    .route(web::get().to(uc::show_client))
                    .route(web::put().to(changes::put_client))
                    .route(web::patch().to(changes::patch_client)),
            )
            .service(res("/clients/{id}/secret").route(web::post().to(uc::rotate_secret)))
            .service(res("/clients/{id}/keys").route(web::put().to(client_keys::put_keys)))
            .service(
                res("/clients/{id}/federated-credentials")
                    .route(web::get().to(client_keys::list_credentials))
                    .route(web::post().to(client_keys::add_credential))
                    .route(web::delete().to(client_keys::remove_credential)),
            )
            .service(res("/keys").route(web::get().to(ops::list_keys)))
            .service(res("/keys/rotate").route(web::post().to(ops::rotate_keys)))
            .service(res("/sessions").route(web::get().to(ops::list_sessions)))
            .service(res("/sessions/purge").route(web::post().to(ops::purge_sessions)))
            .service(res("/sessions/{id}/revoke").route(web::post().to(ops::revoke_session)))
            .service(res("/explain").route(web::post().to(ops::explain)))
            .service(res("/openapi.json").route(web::get().to(openapi::serve)))
            .default_service(web::to(not_found)),
    );
}

/// A JSON answer.
fn json(status: StatusCode, doc: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(doc.to_string())
}

/// A JSON answer with the representation's `ETag`.
fn json_tagged(doc: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::ETAG, views::etag(doc)))
        .body(doc.to_string())
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError as _;
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .detail(format!("{} is not served on this path", req.method()))
    .error_response()
}

async fn not_found() -> HttpResponse {
    use actix_web::ResponseError as _;
    Problem::not_found("no such admin resource").error_response()
}
