//! The audit trail (admin): read only. Nothing in the API changes or deletes it.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{ApiQuery, Page, into_page, page_params, utc};
use crate::auth::Admin;
use crate::error::{ApiError, Problem};
use crate::models::audit_event::{self, AuditEvent, AuditFilter};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_audit);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub at: DateTime<Utc>,
    /// The login that acted; null for the command line.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub actor_id: Option<String>,
    /// `client`, `therapist`, `admin`, or `system` (the command line).
    pub actor_role: String,
    /// What was done, `area.verb`: e.g. `intake.read`, `notes.write`, `booking.create`,
    /// `booking.cancel`, `schedule.update`, `location.delete`, `user.register`.
    #[schema(example = "intake.read")]
    pub action: String,
    /// What it was done to: `client` (their intake), `booking` (the booking or its treatment
    /// note), `user`, `api_token`, `health_data`, `hold`, `series`, `waitlist_entry`,
    /// `therapist` (also their schedule, date overrides and feed token), `time_off`, `closure`,
    /// `location`, `room`, `massage_type`, `webhook`.
    pub subject_type: String,
    pub subject_id: Option<String>,
    /// The client address, as the logs show it.
    pub ip: Option<String>,
    /// The request id, as the logs and the `X-Request-Id` header show it.
    pub request_id: Option<String>,
}

impl From<AuditEvent> for AuditEventOut {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: utc(e.at),
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            ip: e.ip,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub actor_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    /// An action, e.g. `intake.read`, `booking.create`.
    #[param(max_length = 64, pattern = "^[a-z_.]{0,64}$")]
    pub action: Option<String>,
    /// Events at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "super::bounds::optional_instant")]
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "super::bounds::optional_instant")]
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

/// The audit trail, oldest first, filtered (admin).
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = Page<AuditEventOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range, or an action that is not one's shape", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit")]
async fn list_audit(
    _admin: Admin,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<web::Json<Page<AuditEventOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    if let Some(action) = &query.action
        && (action.len() > 64
            || !action
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'))
    {
        return Err(ApiError::validation(
            "action",
            "must be lower-case letters, `_` and `.`, at most 64 (like `booking.create`)",
        ));
    }
    let filter = AuditFilter {
        actor_id: query.actor_id.map(|id| id.to_string()),
        subject_id: query.subject_id.map(|id| id.to_string()),
        // An empty `action=` filters nothing.
        action: query.action.filter(|a| !a.is_empty()),
        from: query.from.map(|t| t.naive_utc()),
        to: query.to.map(|t| t.naive_utc()),
        after,
    };
    let rows = state
        .run(move |conn| Ok(audit_event::list(conn, &filter, i64::from(limit) + 1)?))
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |e| e.id.clone(),
        AuditEventOut::from,
    )))
}
