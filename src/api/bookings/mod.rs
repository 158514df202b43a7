//! Bookings over HTTP: create (by a slot's fields or by a hold, with Idempotency-Key), list,
//! get, cancel, reschedule, complete, no-show. The handlers parse, authorise, call the booking domain (`crate::booking`) and map
//! its answer; the rules themselves live there. Every state change runs in one write
//! transaction (`AppState::write`). The wire types are defined here, and the domain shows
//! bookings as `BookingOut` (webhook payloads, replayed answers) by taking it as a type
//! parameter.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::PathId;
use super::idempotency::{claim_key, idempotency_key, replay, settle_key};
use super::{ApiJson, ApiQuery, OptionalJson, Page, check, created, free_text, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::{AuthUser, Staff};
use crate::booking::create::{self, NewBooking};
use crate::booking::holds::{self, Booked};
use crate::booking::idempotency::Claimed;
use crate::booking::{BookingError, BookingEvent, BookingStatus, access, transitions};
use crate::error::{ApiError, Problem};
use crate::models::booking::{self, Booking, BookingFilter};
use crate::models::vocabulary::HoldEvent;
use crate::state::AppState;

mod forms;

pub use forms::*;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_booking)
        .service(list_bookings)
        .service(get_booking)
        .service(cancel_booking)
        .service(reschedule_booking)
        .service(complete_booking)
        .service(no_show_booking);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub client_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub status: BookingStatus,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// The recurring series that booked it (`/booking-series/{id}`); null for a single booking.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub series_id: Option<String>,
    /// True while the client has no intake (health history) on file. Always present in API
    /// answers; absent from webhook payloads, which carry nothing about health records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_required: Option<bool>,
}

impl BookingOut {
    /// Sets `intake_required` on each booking with one lookup for all their clients.
    pub fn with_intake_flags(
        conn: &mut crate::db::DbConn,
        mut outs: Vec<Self>,
    ) -> Result<Vec<Self>, ApiError> {
        let mut clients: Vec<String> = outs.iter().map(|b| b.client_id.clone()).collect();
        clients.sort_unstable();
        clients.dedup();
        let on_file = crate::models::intake::clients_with_intake(conn, &clients)?;
        for out in &mut outs {
            out.intake_required = Some(!on_file.contains(&out.client_id));
        }
        Ok(outs)
    }
}

/// A replayed booking (stored as first answered, without the flag) with its `intake_required`
/// flag as of now; any other stored answer as it is.
async fn flag_replayed(state: &AppState, body: String) -> Result<String, ApiError> {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&body) else {
        return Ok(body);
    };
    let Some(client_id) = value["client_id"].as_str().map(str::to_owned) else {
        return Ok(body);
    };
    let on_file = state
        .run(move |conn| {
            Ok(crate::models::intake::clients_with_intake(
                conn,
                &[client_id],
            )?)
        })
        .await?;
    value["intake_required"] = serde_json::Value::Bool(on_file.is_empty());
    Ok(value.to_string())
}

/// A booking just made: its audit row, and the booking as answered, its `intake_required` flag
/// read in the write's own transaction (no second trip to the database).
fn record_created(
    conn: &mut crate::db::DbConn,
    ctx: &audit::AuditContext,
    row: Booking,
) -> Result<BookingOut, ApiError> {
    audit::record(
        conn,
        ctx,
        Action::BookingCreate,
        Subject::Booking,
        Some(&row.id),
    )?;
    BookingOut::with_intake_flags(conn, vec![row.into()])?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// One booking as answered, with its `intake_required` flag.
async fn answer(state: &AppState, out: BookingOut) -> Result<web::Json<BookingOut>, ApiError> {
    let mut flagged = state
        .run(move |conn| BookingOut::with_intake_flags(conn, vec![out]))
        .await?;
    flagged.pop().map(web::Json).ok_or(ApiError::NotFound)
}

impl From<Booking> for BookingOut {
    fn from(b: Booking) -> Self {
        Self {
            status: b.status,
            id: b.id,
            client_id: b.client_id,
            therapist_id: b.therapist_id,
            massage_type_id: b.massage_type_id,
            location_id: b.location_id,
            room_id: b.room_id,
            start: utc(b.start_at),
            end: utc(b.end_at),
            duration_minutes: b.duration_minutes,
            price_cents: b.price_cents,
            currency: b.currency,
            notes: b.notes,
            created_at: utc(b.created_at),
            updated_at: utc(b.updated_at),
            cancelled_at: b.cancelled_at.map(utc),
            cancel_reason: b.cancel_reason,
            series_id: b.series_id,
            intake_required: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// Book a slot, or the time a hold keeps. With the slot's fields: clients book for themselves;
/// admins and therapists pass `client_id`. With `hold_id`: the hold's client gets exactly the
/// held time and the hold is consumed.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; the same key and body replay the first response", pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    request_body = CreateBookingBody,
    responses(
        (status = 201, description = "Booked", body = BookingOut, headers(("Location" = String, description = "The new booking"))),
        (status = 400, description = "Malformed body or header", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A therapist booking another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hold, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slot taken or held, booking limit reached, the hold expired, released or used (`hold-expired`), or the Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Never bookable: off-grid, outside the schedule, in the past, wrong type or duration; a field the caller may not set; or `hold_id` with slot fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bookings")]
async fn create_booking(
    req: HttpRequest,
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateBooking>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let mut errors = Vec::new();
    let notes = free_text(
        &mut errors,
        "notes",
        body.notes.as_deref().unwrap_or_default(),
        1000,
    );
    check(errors)?;
    let asked = match body.form()? {
        BookingForm::Slot {
            therapist_id,
            massage_type_id,
            duration_minutes,
            start,
        } => Asked::Slot(NewBooking {
            therapist_id,
            massage_type_id,
            duration_minutes,
            start,
            notes,
            client_id: create::client_for(&caller, body.client_id)?,
        }),
        BookingForm::Hold(hold_id) => Asked::Hold {
            hold_id: hold_id.to_string(),
            notes,
        },
    };
    let claim = match claim_key(&state, &caller, key, &body).await? {
        Some(Claimed::Replay(status, body)) => {
            return Ok(replay(
                status,
                flag_replayed(&state, body).await?,
                "/api/v1/bookings",
            ));
        }
        Some(Claimed::Fresh(claim)) => Some(claim),
        None => None,
    };
    let config = state.config.clone();
    let held = claim.clone();
    let ctx = meta.actor(&caller);
    let outcome = match asked {
        Asked::Slot(asked) => {
            state
                .write(move |conn| {
                    let row =
                        create::create::<BookingOut>(conn, &config, &caller, asked, held.as_ref())?;
                    record_created(conn, &ctx, row)
                })
                .await
        }
        Asked::Hold { hold_id, notes } => {
            let booked = state
                .write(move |conn| {
                    let booked = holds::book::<BookingOut>(
                        conn,
                        &config,
                        &caller,
                        &hold_id,
                        notes,
                        held.as_ref(),
                    )?;
                    Ok(match booked {
                        Booked::Done(row) => Ok(record_created(conn, &ctx, *row)?),
                        Booked::Ended {
                            status,
                            noticed_expiry,
                        } => Err((status, noticed_expiry)),
                    })
                })
                .await;
            match booked {
                Ok(Ok(out)) => {
                    state.metrics.hold_event(HoldEvent::Converted);
                    Ok(out)
                }
                Ok(Err((status, noticed_expiry))) => {
                    if noticed_expiry {
                        state.metrics.hold_event(HoldEvent::Expired);
                    }
                    Err(BookingError::HoldEnded(status).into())
                }
                Err(error) => Err(error),
            }
        }
    };

    match outcome {
        Ok(out) => {
            state.metrics.booking_event(BookingEvent::Created);
            Ok(created(format!("/api/v1/bookings/{}", out.id)).json(out))
        }
        Err(error) => {
            if let Some(claim) = claim {
                settle_key(&state, claim, &error).await;
            }
            Err(error)
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookingQuery {
    pub status: Option<BookingStatus>,
    /// Bookings starting on or after this date (UTC).
    #[param(value_type = Option<String>, format = Date)]
    #[serde(default, deserialize_with = "super::bounds::optional_date")]
    pub from: Option<NaiveDate>,
    /// Bookings starting on or before this date (UTC).
    #[param(value_type = Option<String>, format = Date)]
    #[serde(default, deserialize_with = "super::bounds::optional_date")]
    pub to: Option<NaiveDate>,
    pub therapist_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

/// Bookings the caller may see: clients their own, therapists theirs, admins all.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(BookingQuery),
    responses(
        (status = 200, description = "A page of bookings, by start", body = Page<BookingOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/bookings")]
async fn list_bookings(
    caller: AuthUser,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<BookingQuery>,
) -> Result<web::Json<Page<BookingOut>>, ApiError> {
    let (limit, cursor) = super::page_params(query.limit, query.cursor.as_deref())?;
    // A cursor we did not issue points nowhere: nothing comes after it.
    let Ok(after) = super::paging::instant_position(cursor) else {
        return Ok(web::Json(Page::empty()));
    };
    let filter = BookingFilter {
        status: query.status,
        from: query.from.map(|d| d.and_time(chrono::NaiveTime::MIN)),
        to: query
            .to
            .map(|d| d.succ_opt().unwrap_or(d).and_time(chrono::NaiveTime::MIN)),
        therapist_id: query.therapist_id.map(|t| t.to_string()),
        client_id: query.client_id.map(|c| c.to_string()),
        after,
    };
    let page = state
        .run(move |conn| {
            let rows = match access::visible_filter(conn, &caller, filter)? {
                Some(filter) => booking::list(conn, &filter, i64::from(limit) + 1)?,
                None => Vec::new(),
            };
            let mut page = super::into_page(
                rows,
                limit,
                |b| format!("{}|{}", utc(b.start_at).to_rfc3339(), b.id),
                BookingOut::from,
            );
            page.items = BookingOut::with_intake_flags(conn, page.items)?;
            Ok(page)
        })
        .await?;
    Ok(web::Json(page))
}

/// One booking the caller may see.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The booking", body = BookingOut),
        (status = 404, description = "No such booking, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/bookings/{id}")]
async fn get_booking(
    caller: AuthUser,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<BookingOut>, ApiError> {
    let found = state
        .run(move |conn| Ok(access::visible_booking(conn, &caller, &id)?))
        .await?;
    answer(&state, found.into()).await
}

/// Cancel a booking. Clients only up to the cancellation window before the start.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    request_body(content = Option<CancelRequest>, description = "Optional reason"),
    responses(
        (status = 200, description = "Cancelled", body = BookingOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled/completed, or too late for a client", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bookings/{id}/cancel")]
async fn cancel_booking(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<web::Json<BookingOut>, ApiError> {
    let reason = cancel_reason(body)?;
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    let updated = state
        .write(move |conn| {
            let row = transitions::cancel::<BookingOut>(conn, &config, &caller, &id, reason)?;
            audit::record(
                conn,
                &ctx,
                Action::BookingCancel,
                Subject::Booking,
                Some(&id),
            )?;
            Ok(row)
        })
        .await?;
    state.metrics.booking_event(BookingEvent::Cancelled);
    answer(&state, updated.into()).await
}

/// Move a booking to another start (and optionally therapist), atomically: the old time is
/// released only if the new one is taken.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    request_body = RescheduleRequest,
    responses(
        (status = 200, description = "Rescheduled", body = BookingOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A therapist moving a booking to another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "New slot taken, booking not confirmed, too late for a client, or the booking's type, duration or therapist no longer offered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "New start never bookable, or the named therapist cannot take this booking", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bookings/{id}/reschedule")]
async fn reschedule_booking(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> Result<web::Json<BookingOut>, ApiError> {
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    let updated = state
        .write(move |conn| {
            let row = transitions::reschedule::<BookingOut>(
                conn,
                &config,
                &caller,
                &id,
                body.start,
                body.therapist_id,
            )?;
            audit::record(
                conn,
                &ctx,
                Action::BookingReschedule,
                Subject::Booking,
                Some(&id),
            )?;
            Ok(row)
        })
        .await?;
    state.metrics.booking_event(BookingEvent::Rescheduled);
    answer(&state, updated.into()).await
}

async fn finish(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: String,
    status: BookingStatus,
) -> Result<web::Json<BookingOut>, ApiError> {
    let ctx = meta.actor(&caller);
    let action = if status == BookingStatus::NoShow {
        Action::BookingNoShow
    } else {
        Action::BookingComplete
    };
    let (updated, event) = state
        .write(move |conn| {
            let done = transitions::finish::<BookingOut>(conn, &caller, &id, status)?;
            audit::record(conn, &ctx, action, Subject::Booking, Some(&id))?;
            Ok(done)
        })
        .await?;
    state.metrics.booking_event(event);
    answer(&state, updated.into()).await
}

/// Mark a booking completed (therapist or admin, after the start).
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "Completed", body = BookingOut),
        (status = 403, description = "Clients may not", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking, or not the therapist's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not confirmed, or not started yet", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bookings/{id}/complete")]
async fn complete_booking(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<BookingOut>, ApiError> {
    finish(caller, meta, state, id, BookingStatus::Completed).await
}

/// Mark a booking as a no-show (therapist or admin, after the start).
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "Marked no-show", body = BookingOut),
        (status = 403, description = "Clients may not", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking, or not the therapist's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not confirmed, or not started yet", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bookings/{id}/no-show")]
async fn no_show_booking(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<BookingOut>, ApiError> {
    finish(caller, meta, state, id, BookingStatus::NoShow).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys claimed before holds existed must still match their retries: a slot booking's
    /// fingerprint serializes exactly the fields (in the order) the body had then.
    #[test]
    fn a_slot_bodys_fingerprint_is_what_it_was_before_holds() {
        let body: CreateBooking = serde_json::from_value(serde_json::json!({
            "therapist_id": "0195d6a0-0000-7000-8000-000000000001",
            "massage_type_id": "0195d6a0-0000-7000-8000-000000000002",
            "duration_minutes": 60,
            "start": "2026-12-09T10:00:00-08:00",
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"therapist_id":"0195d6a0-0000-7000-8000-000000000001","massage_type_id":"0195d6a0-0000-7000-8000-000000000002","duration_minutes":60,"start":"2026-12-09T18:00:00Z","notes":null,"client_id":null}"#
        );
        assert!(matches!(body.form(), Ok(BookingForm::Slot { .. })));
    }
}
