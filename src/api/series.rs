//! Recurring series over HTTP: book (with Idempotency-Key, like a single booking), preview, read
//! and cancel a series. The rules live in `crate::booking::series`; the handlers parse,
//! authorise, call and map.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::bookings::{BookingOut, CancelRequest, cancel_reason};
use super::idempotency::{claim_key, idempotency_key, replay, settle_key};
use super::{ApiJson, OptionalJson, PathId, check, created, free_text, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::AuthUser;
use crate::booking::BookingEvent;
use crate::booking::create::client_for;
use crate::booking::idempotency::Claimed;
use crate::booking::series::{
    self, CancelledSeries, CreatedSeries, NewSeries, OnConflict, Skipped, Unavailable,
};
use crate::error::{ApiError, FieldError, Problem};
use crate::models::booking::Booking;
use crate::models::series::BookingSeries;
use crate::state::AppState;

const COLLECTION: &str = "/api/v1/booking-series";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_series)
        .service(preview_series)
        .service(get_series)
        .service(cancel_series);
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeries {
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: Uuid,
    /// One of the massage type's options.
    #[schema(example = 60, minimum = 5, maximum = 480, multiple_of = 5)]
    pub duration_minutes: u32,
    /// The first occurrence, RFC 3339, any offset; must be an offered slot's start in principle
    /// (on the grid, inside the therapist's hours, within notice and horizon). Later
    /// occurrences keep its local wall-clock time, in the zone of the location whose hours hold
    /// it, across daylight-saving changes.
    #[serde(deserialize_with = "super::bounds::instant")]
    pub start: DateTime<Utc>,
    /// Weeks between occurrences.
    #[schema(minimum = 1, maximum = 4)]
    pub every_weeks: u32,
    /// Occurrences, the first included.
    #[schema(minimum = 2, maximum = 12)]
    pub count: u32,
    /// Notes for every booking of the series.
    #[schema(
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub notes: Option<String>,
    /// `fail` (default): all occurrences or none; `skip`: book those that can be, list the rest.
    #[serde(default)]
    pub on_conflict: OnConflict,
    /// Admins and therapists book on a client's behalf; clients may not set it.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub client_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: String,
    pub duration_minutes: i32,
    pub every_weeks: i32,
    /// Occurrences asked for, booked or skipped.
    pub count: i32,
    /// Who asked for it (the client, or staff on their behalf); null once that login is gone.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Its bookings (whatever their status now), by start.
    pub bookings: Vec<BookingOut>,
}

impl SeriesOut {
    fn new(series: BookingSeries, bookings: Vec<Booking>) -> Self {
        Self {
            id: series.id,
            client_id: series.client_id,
            therapist_id: series.therapist_id,
            massage_type_id: series.massage_type_id,
            duration_minutes: series.duration_minutes,
            every_weeks: series.every_weeks,
            count: series.count,
            created_by: series.created_by,
            created_at: utc(series.created_at),
            bookings: bookings.into_iter().map(BookingOut::from).collect(),
        }
    }
}

/// A series just booked: the series, and the occurrences not booked (`skip` only).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSeriesOut {
    #[serde(flatten)]
    pub series: SeriesOut,
    pub skipped: Vec<Skipped>,
}

impl From<CreatedSeries> for CreatedSeriesOut {
    fn from(created: CreatedSeries) -> Self {
        Self {
            series: SeriesOut::new(created.series, created.bookings),
            skipped: created.skipped,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOccurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub available: bool,
    /// Why it cannot be booked; absent when it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Unavailable>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    pub occurrences: Vec<PreviewOccurrence>,
}

/// A series cancel's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledSeriesOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// The occurrences this request cancelled, by start.
    pub cancelled: Vec<BookingOut>,
    /// Occurrences still confirmed because a client may no longer cancel them (inside the
    /// cancellation window), by start.
    pub kept: Vec<BookingOut>,
}

impl From<CancelledSeries> for CancelledSeriesOut {
    fn from(done: CancelledSeries) -> Self {
        Self {
            id: done.series.id,
            cancelled: done.cancelled.into_iter().map(BookingOut::from).collect(),
            kept: done.kept.into_iter().map(BookingOut::from).collect(),
        }
    }
}

/// The body as the domain takes it: notes checked, cadence in range, the client decided.
fn parse(caller: &AuthUser, body: &CreateSeries) -> Result<NewSeries, ApiError> {
    let mut errors = Vec::new();
    let notes = free_text(
        &mut errors,
        "notes",
        body.notes.as_deref().unwrap_or_default(),
        1000,
    );
    if !(1..=4).contains(&body.every_weeks) {
        errors.push(FieldError::new("every_weeks", "must be from 1 to 4"));
    }
    if !(2..=12).contains(&body.count) {
        errors.push(FieldError::new("count", "must be from 2 to 12"));
    }
    check(errors)?;
    Ok(NewSeries {
        therapist_id: body.therapist_id,
        massage_type_id: body.massage_type_id,
        duration_minutes: body.duration_minutes,
        start: body.start,
        every_weeks: body.every_weeks,
        count: body.count,
        notes,
        client_id: client_for(caller, body.client_id)?,
        on_conflict: body.on_conflict,
    })
}

/// Book the same local time every 1–4 weeks, 2–12 times, in one transaction. Clients book for
/// themselves; admins and therapists pass `client_id`.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; the same key and body replay the first response", pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    request_body = CreateSeries,
    responses(
        (status = 201, description = "Booked: every occurrence (`fail`), or those that could be with the rest in `skipped` (`skip`). Each booking carries the series' id", body = CreatedSeriesOut, headers(("Location" = String, description = "The new series"))),
        (status = 400, description = "Malformed body or header", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A therapist booking another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`series-conflict`: occurrences that are not offered slots (with `fail`, any; with `skip`, all), listed in `occurrences`, nothing booked; `booking-limit`: with `fail`, the series would take the client over the cap on upcoming bookings; or the Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`every_weeks` or `count` out of range; the first start never bookable (off-grid, outside the schedule, in the past, beyond the horizon); wrong type or duration; or a field the caller may not set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/booking-series")]
async fn create_series(
    req: HttpRequest,
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateSeries>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let asked = parse(&caller, &body)?;
    let claim = match claim_key(&state, &caller, key, &body).await? {
        Some(Claimed::Replay(status, body)) => return Ok(replay(status, body, COLLECTION)),
        Some(Claimed::Fresh(claim)) => Some(claim),
        None => None,
    };
    let config = state.config.clone();
    let held = claim.clone();
    let ctx = meta.actor(&caller);
    let outcome = state
        .write(move |conn| {
            let done = series::create::<BookingOut, CreatedSeriesOut>(
                conn,
                &config,
                &caller,
                asked,
                held.as_ref(),
            )?;
            audit::record(
                conn,
                &ctx,
                Action::SeriesCreate,
                Subject::Series,
                Some(&done.series.id),
            )?;
            Ok(done)
        })
        .await;
    match outcome {
        Ok(done) => {
            for _ in &done.bookings {
                state.metrics.booking_event(BookingEvent::Created);
            }
            let out = CreatedSeriesOut::from(done);
            Ok(created(format!("{COLLECTION}/{}", out.series.id)).json(out))
        }
        Err(error) => {
            if let Some(claim) = claim {
                settle_key(&state, claim, &error).await;
            }
            Err(error)
        }
    }
}

/// What `POST /booking-series` with the same body would book now, occurrence by occurrence;
/// books nothing. Occurrences past the client's cap on upcoming bookings read `booking_limit`.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    request_body = CreateSeries,
    responses(
        (status = 200, description = "Every occurrence, by start", body = PreviewOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A therapist previewing another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "As for `POST /booking-series`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/booking-series/preview")]
async fn preview_series(
    caller: AuthUser,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateSeries>,
) -> Result<web::Json<PreviewOut>, ApiError> {
    let asked = parse(&caller, &body)?;
    let config = state.config.clone();
    let previewed = state
        .run(move |conn| Ok(series::preview(conn, &config, &caller, asked)?))
        .await?;
    Ok(web::Json(PreviewOut {
        occurrences: previewed
            .into_iter()
            .map(|p| PreviewOccurrence {
                start: p.start,
                end: p.end,
                available: p.reason.is_none(),
                reason: p.reason,
            })
            .collect(),
    }))
}

/// One series the caller may see (its client, its therapist, an admin), with its bookings.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Series id")),
    responses(
        (status = 200, description = "The series", body = SeriesOut),
        (status = 404, description = "No such series, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/booking-series/{id}", guard = "crate::api::extractors::id_is_uuid")]
async fn get_series(
    caller: AuthUser,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<SeriesOut>, ApiError> {
    let (found, bookings) = state
        .run(move |conn| Ok(series::visible(conn, &caller, &id)?))
        .await?;
    Ok(web::Json(SeriesOut::new(found, bookings)))
}

/// Cancel every confirmed occurrence still ahead, each like a single cancel (events, emails).
/// A client's occurrences inside the cancellation window stay confirmed and are listed in
/// `kept`; staff cancel them too.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Series id")),
    request_body(content = Option<CancelRequest>, description = "Optional reason, kept on every cancelled booking"),
    responses(
        (status = 200, description = "Cancelled what could be", body = CancelledSeriesOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such series, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/booking-series/{id}/cancel")]
async fn cancel_series(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<web::Json<CancelledSeriesOut>, ApiError> {
    let reason = cancel_reason(body)?;
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    let done = state
        .write(move |conn| {
            let done = series::cancel::<BookingOut>(conn, &config, &caller, &id, reason)?;
            audit::record(conn, &ctx, Action::SeriesCancel, Subject::Series, Some(&id))?;
            Ok(done)
        })
        .await?;
    for _ in &done.cancelled {
        state.metrics.booking_event(BookingEvent::Cancelled);
    }
    Ok(web::Json(done.into()))
}
