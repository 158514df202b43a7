//! Closures of a location: spans during which it offers no slot (a holiday, a renovation).
//! Anyone may read them, as the rest of the catalog; admins write.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::bounds::{DateWindow, check_span};
use super::{ApiJson, ApiQuery, PathId, check, created, free_text, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::error::{ApiError, Problem};
use crate::hours::closures;
use crate::models::closure::{self, Closure};
use crate::models::{new_id, now};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_closures)
        .service(create_closure)
        .service(delete_closure);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClosureOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

impl From<Closure> for ClosureOut {
    fn from(c: Closure) -> Self {
        Self {
            id: c.id,
            location_id: c.location_id,
            starts_at: utc(c.starts_at),
            ends_at: utc(c.ends_at),
            reason: c.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClosureList {
    pub items: Vec<ClosureOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClosure {
    /// RFC 3339 instant, any offset.
    #[serde(deserialize_with = "super::bounds::instant")]
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most 366 days later.
    #[serde(deserialize_with = "super::bounds::instant")]
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub reason: String,
}

/// The location's closures that meet the given local dates, by start.
#[utoipa::path(
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Location id"), DateWindow),
    responses(
        (status = 200, description = "Closures meeting those dates (in the location's zone)", body = ClosureList),
        (status = 400, description = "Bad or missing query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`to` before `from` or over 366 days after it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/locations/{id}/closures")]
async fn list_closures(
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiQuery(window): ApiQuery<DateWindow>,
) -> Result<web::Json<ClosureList>, ApiError> {
    window.check()?;
    let rows = state
        .run(move |conn| closures::list(conn, &id, window.from, window.to))
        .await?;
    Ok(web::Json(ClosureList {
        items: rows.into_iter().map(ClosureOut::from).collect(),
    }))
}

/// Close a location for a span (admin): no slot there overlaps it.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Location id")),
    request_body = CreateClosure,
    responses(
        (status = 201, description = "Created", body = ClosureOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Overlaps confirmed bookings at the location (listed in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/locations/{id}/closures")]
async fn create_closure(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<CreateClosure>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    check_span(&mut errors, body.starts_at, body.ends_at);
    let reason = free_text(&mut errors, "reason", &body.reason, 500);
    check(errors)?;
    let new = Closure {
        id: new_id(),
        location_id: id,
        starts_at: body.starts_at.naive_utc(),
        ends_at: body.ends_at.naive_utc(),
        reason,
        created_at: now(),
    };
    let ctx = meta.actor(&caller);
    let new = state
        .write(move |conn| {
            closures::add(conn, &new, Utc::now())?;
            audit::record(
                conn,
                &ctx,
                Action::ClosureCreate,
                Subject::Closure,
                Some(&new.id),
            )?;
            Ok(new)
        })
        .await?;
    Ok(created(format!(
        "/api/v1/locations/{}/closures/{}",
        new.location_id, new.id
    ))
    .json(ClosureOut::from(new)))
}

/// Remove a closure (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Location id"),
        ("closure_id" = Uuid, Path, description = "Closure id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location or closure", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/locations/{id}/closures/{closure_id}")]
async fn delete_closure(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (location_id, closure_id) = path.into_inner();
    let location_id = location_id.to_string();
    let audited = (meta.actor(&caller), Action::ClosureDelete, Subject::Closure);
    super::delete_one(&state, audited, closure_id.to_string(), move |conn, id| {
        closure::delete(conn, &location_id, id)
    })
    .await
}
