//! The email outbox as the admin sees it: what was (or will be) sent to whom, its status,
//! attempts and last error. Bodies are not shown here.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{ApiQuery, Page, into_page, page_params, utc};
use crate::auth::Admin;
use crate::error::{ApiError, Problem};
use crate::models::notification::{self, Kind, Notification, NotificationFilter};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_notifications);
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Pending,
    Sent,
    Failed,
}

impl NotificationStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => notification::PENDING,
            Self::Sent => notification::SENT,
            Self::Failed => notification::FAILED,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            notification::SENT => Self::Sent,
            notification::FAILED => Self::Failed,
            _ => Self::Pending,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub booking_id: Option<String>,
    pub kind: Kind,
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (for a reminder: its moment); the last attempt once done.
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl From<Notification> for NotificationOut {
    fn from(n: Notification) -> Self {
        Self {
            // A kind the table's CHECK allows but this build does not know cannot be written.
            kind: Kind::parse(&n.kind).unwrap_or(Kind::BookingConfirmed),
            status: NotificationStatus::parse(&n.status),
            id: n.id,
            user_id: n.user_id,
            booking_id: n.booking_id,
            to: n.to_address,
            subject: n.subject,
            attempts: n.attempts,
            created_at: utc(n.created_at),
            next_attempt_at: utc(n.next_attempt_at),
            sent_at: n.sent_at.map(utc),
            last_error: n.last_error,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    pub user_id: Option<Uuid>,
    pub booking_id: Option<Uuid>,
    pub status: Option<NotificationStatus>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

/// Emails queued, sent and failed, oldest first (admin).
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications, oldest first", body = Page<NotificationOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications")]
async fn list_notifications(
    _admin: Admin,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> Result<web::Json<Page<NotificationOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let filter = NotificationFilter {
        user_id: query.user_id.map(|u| u.to_string()),
        booking_id: query.booking_id.map(|b| b.to_string()),
        status: query.status.map(NotificationStatus::as_str),
    };
    let rows = state
        .run(move |conn| {
            Ok(notification::list(
                conn,
                &filter,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |n| n.id.clone(),
        NotificationOut::from,
    )))
}
