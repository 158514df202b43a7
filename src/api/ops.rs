//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::AppState;
use crate::db;
use crate::error::{ApiError, Problem};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health).service(ready);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Status)))]
#[get("/health")]
async fn health() -> web::Json<Status> {
    web::Json(Status { status: "ok" })
}

/// The database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Database unreachable or migrations pending", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db
        .run(|conn| match db::has_pending_migrations(conn) {
            Ok(false) => Ok(()),
            Ok(true) => Err(ApiError::Unavailable("migrations pending".to_owned())),
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        })
        .await?;
    Ok(HttpResponse::Ok().json(Status { status: "ok" }))
}
