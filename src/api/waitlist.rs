//! The waitlist over HTTP: join (`POST /waitlist`), list, read, leave. Offers are made by the
//! changes that free time, in their own transactions; the rules are in
//! `crate::booking::waitlist`.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{ApiJson, ApiQuery, Page, PathId, created, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::AuthUser;
use crate::booking::create;
use crate::booking::waitlist::{self, EntryView, NewEntry};
use crate::error::{ApiError, Problem};
use crate::models::vocabulary::{HoldStatus, WaitlistStatus};
use crate::models::waitlist::Filter;
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(join_waitlist)
        .service(list_waitlist)
        .service(get_waitlist_entry)
        .service(leave_waitlist);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWaitlistEntry {
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: Uuid,
    /// One of the massage type's options.
    #[schema(example = 60, minimum = 5, maximum = 480, multiple_of = 5)]
    pub duration_minutes: u32,
    /// First local date the client can come (inclusive); not in the past.
    #[serde(deserialize_with = "super::bounds::date")]
    pub from: NaiveDate,
    /// Last local date (inclusive); at most 31 days after `from`.
    #[serde(deserialize_with = "super::bounds::date")]
    pub to: NaiveDate,
    /// Only this therapist.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub therapist_id: Option<Uuid>,
    /// Only at this location.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub location_id: Option<Uuid>,
    /// Admins and therapists add a client; clients may not set it.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<Uuid>,
}

/// Join the waitlist: when time that fits frees up (a cancellation, a booking moved away, time
/// off deleted, a hold released or expired), the oldest fitting entry gets an offer, a hold kept
/// for `WAITLIST_OFFER_MINUTES`, with an email and the `waitlist.offered` webhook event. Clients
/// join for themselves; admins and therapists pass `client_id`.
#[utoipa::path(
    tag = "waitlist",
    security(("bearer" = [])),
    request_body = CreateWaitlistEntry,
    responses(
        (status = 201, description = "On the waitlist", body = EntryView, headers(("Location" = String, description = "The new entry"))),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Dates in the past, reversed or more than 31 days apart; an unknown type, duration, therapist or location; or a field the caller may not set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/waitlist")]
async fn join_waitlist(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateWaitlistEntry>,
) -> Result<HttpResponse, ApiError> {
    let asked = NewEntry {
        massage_type_id: body.massage_type_id,
        duration_minutes: body.duration_minutes,
        from: body.from,
        to: body.to,
        therapist_id: body.therapist_id,
        location_id: body.location_id,
        client_id: create::client_for(&caller, body.client_id)?,
    };
    let ctx = meta.actor(&caller);
    let entry = state
        .write(move |conn| {
            let entry = waitlist::create(conn, &caller, asked)?;
            audit::record(
                conn,
                &ctx,
                Action::WaitlistJoin,
                Subject::WaitlistEntry,
                Some(&entry.id),
            )?;
            Ok(entry)
        })
        .await?;
    Ok(created(format!("/api/v1/waitlist/{}", entry.id)).json(entry))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitlistQuery {
    pub status: Option<WaitlistStatus>,
    pub therapist_id: Option<Uuid>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

/// Waitlist entries, oldest first: a client's own, or all for staff.
#[utoipa::path(
    tag = "waitlist",
    security(("bearer" = [])),
    params(WaitlistQuery),
    responses(
        (status = 200, description = "A page of entries, oldest first", body = Page<EntryView>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/waitlist")]
async fn list_waitlist(
    caller: AuthUser,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<WaitlistQuery>,
) -> Result<web::Json<Page<EntryView>>, ApiError> {
    let (limit, cursor) = super::page_params(query.limit, query.cursor.as_deref())?;
    // A cursor we did not issue points nowhere: nothing comes after it.
    let Ok(after) = super::paging::instant_position(cursor) else {
        return Ok(web::Json(Page::empty()));
    };
    let filter = Filter {
        client_id: None,
        therapist_id: query.therapist_id.map(|t| t.to_string()),
        status: query.status,
        after,
    };
    let rows = state
        .run(move |conn| Ok(waitlist::list(conn, &caller, filter, i64::from(limit) + 1)?))
        .await?;
    Ok(web::Json(super::into_page(
        rows,
        limit,
        |(e, _)| format!("{}|{}", utc(e.created_at).to_rfc3339(), e.id),
        |(_, view)| view,
    )))
}

/// One entry: the caller's own, or any for staff.
#[utoipa::path(
    tag = "waitlist",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Waitlist entry id")),
    responses(
        (status = 200, description = "The entry", body = EntryView),
        (status = 404, description = "No such entry, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/waitlist/{id}")]
async fn get_waitlist_entry(
    caller: AuthUser,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<EntryView>, ApiError> {
    let entry = state
        .run(move |conn| Ok(waitlist::get(conn, &caller, &id)?))
        .await?;
    Ok(web::Json(entry))
}

/// Leave the waitlist (`cancelled`); an open offer's hold is released and its time offered to
/// the next entry. An entry already booked, expired or cancelled stays as it is (204).
#[utoipa::path(
    tag = "waitlist",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Waitlist entry id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "No such entry, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/waitlist/{id}")]
async fn leave_waitlist(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    let ended = state
        .write(move |conn| {
            let ended = waitlist::cancel(conn, &config, &caller, &id)?;
            audit::record(
                conn,
                &ctx,
                Action::WaitlistLeave,
                Subject::WaitlistEntry,
                Some(&id),
            )?;
            Ok(ended)
        })
        .await?;
    if let Some(event) = ended.and_then(HoldStatus::ending) {
        state.metrics.hold_event(event);
    }
    Ok(HttpResponse::NoContent().finish())
}
