//! Webhook endpoints (admin): register a URL for booking events, list, delete, and inspect
//! deliveries with their attempts.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::PathId;
use super::{ApiJson, ApiQuery, Page, PageQuery, check, created, into_page, page_params, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::booking::BookingEvent;
use crate::error::{ApiError, FieldError, Problem};
use crate::integrations::webhooks::{SystemLookup, new_secret, resolve_checked};
use crate::models::webhook::{self, Delivery, Webhook};
use crate::models::{new_id, now};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_webhook)
        .service(list_webhooks)
        .service(delete_webhook)
        .service(list_deliveries);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An http(s) URL; unless the server allows it, not on a loopback or private network.
    #[schema(
        example = "https://crm.example.com/hooks/inspine",
        max_length = 2000,
        pattern = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][A-Za-z0-9._~:/?#@!$&'()*+,;=%-]*)?$"
    )]
    pub url: String,
    /// The events to receive.
    #[schema(min_items = 1)]
    pub events: Vec<BookingEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Webhook> for WebhookOut {
    fn from(h: Webhook) -> Self {
        Self {
            events: h.event_list(),
            id: h.id,
            url: h.url,
            created_at: utc(h.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// The signing secret (`whsec_…`), shown only in this response.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// Also the `webhook-id` header: the same across retries.
    pub id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (after the last retry).
    pub status: String,
    pub attempt_count: i32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: Vec<AttemptOut>,
}

/// Register an endpoint (admin). The signing secret is shown once.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Registered; `secret` is shown only now", body = CreatedWebhook),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an http(s) URL, a private address, or unknown events", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
async fn create_webhook(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut events: Vec<&str> = body.events.iter().map(|e| e.as_str()).collect();
    events.sort_unstable();
    events.dedup();
    if events.is_empty() {
        errors.push(FieldError::new("events", "must name at least one event"));
    }
    let url = body.url.trim().to_owned();
    if super::clean_text(&mut errors, "url", &body.url, super::Lines::One) {
        let allow_private = state.config.webhook_allow_private_targets;
        if let Err(reason) = resolve_checked(Arc::new(SystemLookup), &url, allow_private).await {
            errors.push(FieldError::new("url", reason));
        }
    }
    check(errors)?;
    let hook = Webhook {
        id: new_id(),
        url,
        events: events.join(","),
        secret: new_secret(),
        created_at: now(),
    };
    let ctx = meta.actor(&caller);
    let hook = state
        .write(move |conn| {
            webhook::insert(conn, &hook)?;
            audit::record(
                conn,
                &ctx,
                Action::WebhookCreate,
                Subject::Webhook,
                Some(&hook.id),
            )?;
            Ok(hook)
        })
        .await?;
    let secret = hook.secret.clone();
    Ok(
        created(format!("/api/v1/webhooks/{}", hook.id)).json(CreatedWebhook {
            webhook: hook.into(),
            secret,
        }),
    )
}

/// Registered endpoints (admin); secrets are never shown again.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of endpoints", body = Page<WebhookOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks")]
async fn list_webhooks(
    _admin: Admin,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<WebhookOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let rows = state
        .run(move |conn| Ok(webhook::list(conn, after.as_deref(), i64::from(limit) + 1)?))
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |h| h.id.clone(),
        WebhookOut::from,
    )))
}

/// Remove an endpoint and its pending deliveries (admin).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let audited = (meta.actor(&caller), Action::WebhookDelete, Subject::Webhook);
    super::delete_one(&state, audited, id, webhook::delete).await
}

/// Deliveries to an endpoint, oldest first, with every attempt (admin).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id"), PageQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<DeliveryOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    _admin: Admin,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<DeliveryOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let (rows, attempts) = state
        .run(move |conn| {
            webhook::find(conn, &id)?;
            let rows = webhook::list_deliveries(conn, &id, after.as_deref(), i64::from(limit) + 1)?;
            let ids: Vec<String> = rows.iter().map(|d| d.id.clone()).collect();
            Ok((rows, webhook::attempts_for(conn, &ids)?))
        })
        .await?;
    let mut by_delivery: HashMap<String, Vec<AttemptOut>> = HashMap::new();
    for a in attempts {
        by_delivery
            .entry(a.delivery_id)
            .or_default()
            .push(AttemptOut {
                attempted_at: utc(a.attempted_at),
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
            });
    }
    Ok(web::Json(into_page(
        rows,
        limit,
        |d| d.id.clone(),
        |d: Delivery| DeliveryOut {
            attempts: by_delivery.remove(&d.id).unwrap_or_default(),
            next_attempt_at: (d.status == webhook::PENDING).then(|| utc(d.next_attempt_at)),
            id: d.id,
            event_type: d.event_type,
            status: d.status,
            attempt_count: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: utc(d.created_at),
        },
    )))
}
