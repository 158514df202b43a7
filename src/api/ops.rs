//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health).service(ready).service(metrics);
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthStatus)]
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

/// The database answers, takes writes, and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Database unreachable, not taking writes, or migrations pending", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .run(|conn| match db::has_pending_migrations(conn) {
            Ok(false) => db::probe_write(conn)
                .map_err(|e| ApiError::Unavailable(format!("the database takes no writes: {e}"))),
            Ok(true) => Err(ApiError::Unavailable("migrations pending".to_owned())),
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        })
        .await?;
    Ok(HttpResponse::Ok().json(Status { status: "ok" }))
}

/// Prometheus metrics: requests by route, method and status (counts and latency histograms),
/// database pool connections, webhook and email outbox depths and attempts, booking events.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backlog = state
        .run(|conn| {
            let (emails_due, emails_scheduled) =
                crate::models::notification::count_pending(conn, crate::models::now())?;
            Ok(crate::metrics::Backlog {
                webhooks: crate::models::webhook::count_pending(conn)?,
                emails_due,
                emails_scheduled,
            })
        })
        .await?;
    let body = state.metrics.render(state.db.state(), backlog);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
