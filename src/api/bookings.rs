//! Bookings: create (with Idempotency-Key), list, get, cancel, reschedule, complete, no-show.
//!
//! Every state change runs in `write_transaction`: on SQLite the write lock is held from the
//! first read, so the availability check and the insert cannot interleave with another writer;
//! on PostgreSQL the exclusion constraints reject any overlap the check could miss, and that
//! violation is answered as 409 like any other taken slot.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::PathId;
use super::{ApiJson, ApiQuery, OptionalJson, Page, bounds, check, created, free_text, utc};
use crate::auth::{AuthUser, Staff};
use crate::availability;
use crate::booking::{BookingEvent, BookingStatus};
use crate::config::Config;
use crate::db::{DbConn, write_transaction};
use crate::error::{ApiError, Problem};
use crate::integrations::webhooks;
use crate::models::booking::{self, Booking, BookingChanges, BookingFilter, IdempotencyKey};
use crate::models::catalog::{self, MassageType};
use crate::models::user::{self, Role};
use crate::models::{new_id, now, therapist};
use crate::scheduling::{self, Rejection};
use crate::state::AppState;

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
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: Uuid,
    /// One of the massage type's options.
    #[schema(example = 60, minimum = 5, maximum = 480, multiple_of = 5)]
    pub duration_minutes: u32,
    /// RFC 3339, any offset; must be an offered slot.
    #[serde(deserialize_with = "super::bounds::instant")]
    pub start: DateTime<Utc>,
    #[schema(
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub notes: Option<String>,
    /// Admins and therapists book on a client's behalf; clients may not set it.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    #[serde(deserialize_with = "super::bounds::instant")]
    pub start: DateTime<Utc>,
    /// Move to another therapist (who must offer the type and duration).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub therapist_id: Option<Uuid>,
}

fn slot_unavailable(detail: &str) -> ApiError {
    ApiError::conflict("slot-unavailable", detail)
}

fn rejection_error(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::OffGrid => ApiError::validation("start", "is not on the therapist's slot grid"),
        Rejection::OutsideSchedule => ApiError::validation(
            "start",
            "is outside the therapist's schedule for this massage",
        ),
        Rejection::TooSoon => {
            ApiError::validation("start", "is in the past or sooner than the minimum notice")
        }
        Rejection::TooFarAhead => ApiError::validation("start", "is beyond the booking horizon"),
        Rejection::TimeOff => slot_unavailable("The therapist is away at that time."),
        Rejection::Taken => slot_unavailable("The therapist is already booked at that time."),
        Rejection::NoRoom => slot_unavailable("No room is free at that time."),
    }
}

/// PostgreSQL's exclusion constraints are the last line of defence; their violation is a taken
/// slot, not a server error.
fn overlap_is_conflict(error: diesel::result::Error) -> ApiError {
    if let diesel::result::Error::DatabaseError(_, info) = &error
        && (info
            .constraint_name()
            .is_some_and(|c| c.ends_with("_no_overlap"))
            || info.message().contains("_no_overlap"))
    {
        return slot_unavailable("The slot was just taken.");
    }
    error.into()
}

struct Placement {
    location_id: String,
    room_id: Option<String>,
    start: NaiveDateTime,
    end: NaiveDateTime,
    blocked_until: NaiveDateTime,
}

/// Decides where (location, room) a massage at `start` would go, or why it cannot.
fn place(
    conn: &mut DbConn,
    config: &Config,
    therapist_id: &str,
    massage_type: &MassageType,
    duration_minutes: u32,
    start: DateTime<Utc>,
    exclude_booking: Option<&str>,
) -> Result<Placement, ApiError> {
    let buffer = massage_type.buffer_minutes.max(0) as u32;
    let start_naive = start.naive_utc();
    let cal = availability::load(
        conn,
        &[therapist_id.to_owned()],
        bounds::shifted(start_naive, -Duration::days(1), "start")?,
        bounds::shifted(start_naive, Duration::days(1), "start")?,
        exclude_booking,
        None,
    )?;
    let therapist_cal = cal
        .therapists
        .first()
        .ok_or_else(|| ApiError::internal("calendar missing"))?;
    let policy = availability::policy(config);
    let (location, room) = scheduling::check_start(
        start,
        duration_minutes,
        buffer,
        Utc::now(),
        &policy,
        therapist_cal,
        &cal.locations,
    )
    .map_err(rejection_error)?;
    let room_id = room.and_then(|index| {
        cal.room_ids
            .get(&location)
            .and_then(|ids| ids.get(index))
            .cloned()
    });
    let end = bounds::shifted(
        start_naive,
        Duration::minutes(i64::from(duration_minutes)),
        "start",
    )?;
    Ok(Placement {
        location_id: location.to_string(),
        room_id,
        start: start_naive,
        end,
        blocked_until: bounds::shifted(end, Duration::minutes(i64::from(buffer)), "start")?,
    })
}

/// The therapist profile linked to a therapist's login, if any.
fn own_therapist_id(conn: &mut DbConn, caller: &AuthUser) -> Result<Option<String>, ApiError> {
    if caller.role != Role::Therapist {
        return Ok(None);
    }
    Ok(therapist::find_by_user(conn, caller.id())?.map(|t| t.id))
}

/// Loads a booking the caller may see; anything else is 404, never 403, so ids of other
/// clients' bookings reveal nothing.
pub fn visible_booking(
    conn: &mut DbConn,
    caller: &AuthUser,
    id: &str,
) -> Result<Booking, ApiError> {
    let found = booking::find(conn, id)?;
    let visible = match caller.role {
        Role::Admin => true,
        Role::Client => found.client_id == caller.id(),
        Role::Therapist => own_therapist_id(conn, caller)?.as_deref() == Some(&found.therapist_id),
    };
    if visible {
        Ok(found)
    } else {
        Err(ApiError::NotFound)
    }
}

/// An active massage type and its option of this duration (422 otherwise).
pub fn offered_option(
    conn: &mut DbConn,
    massage_type_id: &str,
    duration_minutes: u32,
) -> Result<(MassageType, catalog::MassageOption), ApiError> {
    let massage_type = match catalog::find_massage_type(conn, massage_type_id) {
        Ok(t) if t.active => t,
        Ok(_) | Err(diesel::result::Error::NotFound) => {
            return Err(ApiError::validation(
                "massage_type_id",
                "names no active massage type",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let option = catalog::options_for(conn, std::slice::from_ref(&massage_type.id))?
        .into_iter()
        .find(|o| i64::from(o.duration_minutes) == i64::from(duration_minutes))
        .ok_or_else(|| {
            ApiError::validation("duration_minutes", "is not offered for this massage type")
        })?;
    Ok((massage_type, option))
}

/// Who named the therapist, type and duration being checked by [`bookable`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// A new booking: the request named all three.
    Booking,
    /// A reschedule: the type and duration are the booking's own; the request may name a new
    /// therapist (`true`) or keep the booking's (`false`).
    Reschedule { therapist_named: bool },
}

/// Checks the therapist, type and duration of a booking. What the caller named and can never
/// book is 422 on that field. What the booking already had and is no longer offered (a
/// reschedule of a booking whose type was retired) is 409: the state forbids the move.
fn bookable(
    conn: &mut DbConn,
    therapist_id: &str,
    massage_type_id: &str,
    duration_minutes: u32,
    asked: Asked,
) -> Result<(MassageType, catalog::MassageOption), ApiError> {
    let retired = || {
        ApiError::conflict(
            "no-longer-offered",
            "This booking's therapist, massage type or duration is no longer offered; \
             cancel it and book again.",
        )
    };
    let therapist_named = asked
        != Asked::Reschedule {
            therapist_named: false,
        };
    let therapist = match therapist::find(conn, therapist_id) {
        Ok(t) if t.active => t,
        Ok(_) | Err(diesel::result::Error::NotFound) if !therapist_named => return Err(retired()),
        Ok(_) | Err(diesel::result::Error::NotFound) => {
            return Err(ApiError::validation(
                "therapist_id",
                "names no active therapist",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let (massage_type, option) = match offered_option(conn, massage_type_id, duration_minutes) {
        Err(ApiError::Validation { .. }) if asked != Asked::Booking => return Err(retired()),
        other => other?,
    };
    let offers = therapist::massage_type_ids(conn, std::slice::from_ref(&therapist.id))?
        .iter()
        .any(|(_, t)| *t == massage_type.id);
    if !offers {
        return Err(match asked {
            Asked::Booking => {
                ApiError::validation("massage_type_id", "is not offered by this therapist")
            }
            Asked::Reschedule {
                therapist_named: true,
            } => ApiError::validation(
                "therapist_id",
                "names a therapist who does not offer this booking's massage type",
            ),
            Asked::Reschedule {
                therapist_named: false,
            } => retired(),
        });
    }
    Ok((massage_type, option))
}

/// On PostgreSQL, serialises concurrent bookings of one client so the cap holds exactly.
fn lock_client(conn: &mut DbConn, client_id: &str) -> Result<(), ApiError> {
    if let DbConn::Postgresql(pg) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(client_id)
            .execute(pg)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// A pending key older than this belongs to a request that died; a retry may take it over.
const STALE_PENDING: Duration = Duration::seconds(60);

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "The Idempotency-Key header must be 1 to 255 visible characters.".to_owned(),
            )
        })?;
    Ok(Some(key.to_owned()))
}

enum KeyState {
    Fresh,
    Replay(i32, String),
}

fn claim_key(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
    hash: &str,
) -> Result<KeyState, ApiError> {
    write_transaction(conn, |conn| {
        let at = now();
        match booking::find_key(conn, user_id, key)? {
            None => {
                booking::insert_key(
                    conn,
                    &IdempotencyKey {
                        user_id: user_id.to_owned(),
                        key: key.to_owned(),
                        request_hash: hash.to_owned(),
                        response_status: None,
                        response_body: None,
                        created_at: at,
                    },
                )
                .map_err(|e| match ApiError::from(e) {
                    // Another request with this key won the insert a moment ago.
                    ApiError::Conflict { .. } => in_flight(),
                    other => other,
                })?;
                Ok(KeyState::Fresh)
            }
            Some(existing) if existing.request_hash != hash => Err(ApiError::validation(
                "Idempotency-Key",
                "was already used with a different request body",
            )),
            Some(IdempotencyKey {
                response_status: Some(status),
                response_body: Some(body),
                ..
            }) => Ok(KeyState::Replay(status, body)),
            Some(_) => {
                if booking::take_over_stale_key(conn, user_id, key, at - STALE_PENDING, at)? {
                    Ok(KeyState::Fresh)
                } else {
                    Err(in_flight())
                }
            }
        }
    })
}

fn in_flight() -> ApiError {
    ApiError::conflict(
        "idempotency-key-in-flight",
        "A request with this Idempotency-Key is still being processed.",
    )
}

fn replay(status: i32, body: String) -> HttpResponse {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    builder.insert_header(("Idempotent-Replayed", "true"));
    if status.is_success() {
        if let Some(id) = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
        {
            builder.insert_header((header::LOCATION, format!("/api/v1/bookings/{id}")));
        }
        builder.content_type("application/json");
    } else {
        builder.content_type("application/problem+json");
    }
    builder.body(body)
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// Book a slot. Clients book for themselves; admins and therapists pass `client_id`.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; the same key and body replay the first response", pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    request_body = CreateBooking,
    responses(
        (status = 201, description = "Booked", body = BookingOut, headers(("Location" = String, description = "The new booking"))),
        (status = 400, description = "Malformed body or header", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A therapist booking another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slot taken, booking limit reached, or the Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Never bookable: off-grid, outside the schedule, in the past, wrong type or duration; or a field the caller may not set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bookings")]
async fn create_booking(
    req: HttpRequest,
    caller: AuthUser,
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
    let client_id = match (caller.role, body.client_id) {
        (Role::Client, None) => caller.id().to_owned(),
        (Role::Client, Some(_)) => {
            return Err(ApiError::validation(
                "client_id",
                "may only be set by staff",
            ));
        }
        (_, Some(client)) => client.to_string(),
        (_, None) => {
            return Err(ApiError::validation(
                "client_id",
                "is required when staff book on a client's behalf",
            ));
        }
    };
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&body).map_err(ApiError::internal)?,
    ));
    let user_id = caller.id().to_owned();
    if let Some(key) = key.clone() {
        let (user_id, hash) = (user_id.clone(), hash.clone());
        let claimed = state
            .run(move |conn| claim_key(conn, &user_id, &key, &hash))
            .await?;
        if let KeyState::Replay(status, body) = claimed {
            return Ok(replay(status, body));
        }
    }

    let config = state.config.clone();
    let key2 = key.clone();
    let user2 = user_id.clone();
    let outcome = state
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if let Some(own) = own_therapist_id(conn, &caller)? {
                    if own != body.therapist_id.to_string() {
                        return Err(ApiError::Forbidden);
                    }
                } else if caller.role == Role::Therapist {
                    return Err(ApiError::Forbidden);
                }
                let therapist_id = body.therapist_id.to_string();
                let (massage_type, option) = bookable(
                    conn,
                    &therapist_id,
                    &body.massage_type_id.to_string(),
                    body.duration_minutes,
                    Asked::Booking,
                )?;
                if caller.role != Role::Client {
                    match user::find(conn, &client_id) {
                        Ok(u) if u.role() == Role::Client => {}
                        Ok(_) | Err(diesel::result::Error::NotFound) => {
                            return Err(ApiError::validation("client_id", "names no client"));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                lock_client(conn, &client_id)?;
                let at = now();
                let cap = i64::from(config.max_future_bookings_per_client);
                if booking::count_upcoming_for_client(conn, &client_id, at)? >= cap {
                    return Err(ApiError::conflict(
                        "booking-limit",
                        format!("A client may hold at most {cap} upcoming bookings."),
                    ));
                }
                let placement = place(
                    conn,
                    &config,
                    &therapist_id,
                    &massage_type,
                    body.duration_minutes,
                    body.start,
                    None,
                )?;
                let row = Booking {
                    id: new_id(),
                    client_id,
                    therapist_id,
                    massage_type_id: massage_type.id,
                    location_id: placement.location_id,
                    room_id: placement.room_id,
                    start_at: placement.start,
                    end_at: placement.end,
                    blocked_until: placement.blocked_until,
                    duration_minutes: option.duration_minutes,
                    price_cents: option.price_cents,
                    currency: option.currency,
                    status: BookingStatus::Confirmed,
                    notes,
                    sequence: 0,
                    created_at: at,
                    updated_at: at,
                    cancelled_at: None,
                    cancel_reason: None,
                };
                booking::insert(conn, &row).map_err(overlap_is_conflict)?;
                let out = BookingOut::from(row);
                webhooks::enqueue(conn, BookingEvent::Created, &out)?;
                if let Some(key) = &key2 {
                    let json = serde_json::to_string(&out).map_err(ApiError::internal)?;
                    booking::complete_key(conn, &user2, key, 201, &json)?;
                }
                Ok(out)
            })
        })
        .await;

    match outcome {
        Ok(out) => {
            state.metrics.booking_event(BookingEvent::Created);
            Ok(created(format!("/api/v1/bookings/{}", out.id)).json(out))
        }
        Err(error) => {
            if let Some(key) = key {
                // A definite answer (4xx) is kept for replay; a transient failure frees the key
                // so that the retry the client will make can run.
                let status = actix_web::ResponseError::status_code(&error);
                let problem = serde_json::to_string(&error.problem()).unwrap_or_default();
                let _ = state
                    .run(move |conn| {
                        if status.is_client_error() {
                            booking::complete_key(
                                conn,
                                &user_id,
                                &key,
                                i32::from(status.as_u16()),
                                &problem,
                            )?;
                        } else {
                            booking::delete_key(conn, &user_id, &key)?;
                        }
                        Ok(())
                    })
                    .await;
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
    let after = match cursor {
        Some(decoded) => {
            let position = decoded.split_once('|').and_then(|(s, id)| {
                Some((
                    DateTime::parse_from_rfc3339(s).ok()?.naive_utc(),
                    id.to_owned(),
                ))
            });
            // A cursor we did not issue points nowhere: nothing comes after it.
            let Some(position) = position else {
                return Ok(web::Json(Page {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            };
            Some(position)
        }
        None => None,
    };
    let mut filter = BookingFilter {
        status: query.status,
        from: query.from.map(|d| d.and_time(chrono::NaiveTime::MIN)),
        to: query
            .to
            .map(|d| d.succ_opt().unwrap_or(d).and_time(chrono::NaiveTime::MIN)),
        therapist_id: query.therapist_id.map(|t| t.to_string()),
        client_id: query.client_id.map(|c| c.to_string()),
        after,
    };
    let rows = state
        .run(move |conn| {
            match caller.role {
                Role::Admin => {}
                Role::Client => {
                    if filter
                        .client_id
                        .as_deref()
                        .is_some_and(|c| c != caller.id())
                    {
                        return Ok(Vec::new());
                    }
                    filter.client_id = Some(caller.id().to_owned());
                }
                Role::Therapist => {
                    let Some(own) = own_therapist_id(conn, &caller)? else {
                        return Ok(Vec::new());
                    };
                    if filter.therapist_id.as_deref().is_some_and(|t| t != own) {
                        return Ok(Vec::new());
                    }
                    filter.therapist_id = Some(own);
                }
            }
            Ok(booking::list(conn, &filter, i64::from(limit) + 1)?)
        })
        .await?;
    Ok(web::Json(super::into_page(
        rows,
        limit,
        |b| format!("{}|{}", utc(b.start_at).to_rfc3339(), b.id),
        BookingOut::from,
    )))
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
        .run(move |conn| visible_booking(conn, &caller, &id))
        .await?;
    Ok(web::Json(found.into()))
}

fn not_confirmed(found: &Booking) -> ApiError {
    ApiError::conflict(
        "booking-not-confirmed",
        format!("The booking is {}, not confirmed.", found.status),
    )
}

/// Moves a confirmed booking the caller may see to a new state, after `check`; the update is
/// conditional on the booking still being confirmed, so concurrent changes cannot both win.
/// Moves a booking to `next` if the transition table allows it from its current status, with a
/// conditional update so that concurrent changes cannot both win; queues the move's event.
fn change_status(
    conn: &mut DbConn,
    caller: &AuthUser,
    id: &str,
    next: BookingStatus,
    prepare: impl FnOnce(&mut DbConn, &Booking) -> Result<BookingChanges, ApiError>,
) -> Result<(Booking, BookingEvent), ApiError> {
    let found = visible_booking(conn, caller, id)?;
    let Some(event) = found.status.transition(next) else {
        return Err(not_confirmed(&found));
    };
    let changes = BookingChanges {
        status: Some(next),
        sequence: Some(found.sequence + 1),
        ..prepare(conn, &found)?
    };
    if !booking::update_if_status(conn, id, found.status, &changes).map_err(overlap_is_conflict)? {
        return Err(not_confirmed(&booking::find(conn, id)?));
    }
    let changed = booking::find(conn, id)?;
    webhooks::enqueue(conn, event, &BookingOut::from(changed.clone()))?;
    Ok((changed, event))
}

fn check_window(config: &Config, caller: &AuthUser, found: &Booking) -> Result<(), ApiError> {
    let window = Duration::hours(i64::from(config.cancellation_window_hours));
    if caller.role == Role::Client && found.start_at - now() < window {
        return Err(ApiError::conflict(
            "late-cancellation",
            format!(
                "Bookings can be changed by clients only up to {} hours before the start; please call the clinic.",
                config.cancellation_window_hours
            ),
        ));
    }
    Ok(())
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
    state: web::Data<AppState>,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<web::Json<BookingOut>, ApiError> {
    // The limit counts the text as sent, as the spec's maxLength does; it is stored trimmed.
    let mut errors = Vec::new();
    let reason = body
        .reason
        .map(|r| free_text(&mut errors, "reason", &r, 500))
        .filter(|r| !r.is_empty());
    check(errors)?;
    let config = state.config.clone();
    let (updated, _) = state
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let at = now();
                change_status(conn, &caller, &id, BookingStatus::Cancelled, |_, found| {
                    check_window(&config, &caller, found)?;
                    Ok(BookingChanges {
                        updated_at: Some(at),
                        cancelled_at: Some(Some(at)),
                        cancel_reason: Some(reason),
                        ..Default::default()
                    })
                })
            })
        })
        .await?;
    state.metrics.booking_event(BookingEvent::Cancelled);
    Ok(web::Json(updated.into()))
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
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> Result<web::Json<BookingOut>, ApiError> {
    let config = state.config.clone();
    let (updated, _) = state
        .run(move |conn| {
            write_transaction(conn, |conn| {
                change_status(
                    conn,
                    &caller,
                    &id,
                    BookingStatus::Confirmed,
                    |conn, found| {
                        check_window(&config, &caller, found)?;
                        let therapist_named = body.therapist_id.is_some();
                        let therapist_id = body
                            .therapist_id
                            .map_or_else(|| found.therapist_id.clone(), |t| t.to_string());
                        if caller.role == Role::Therapist && therapist_id != found.therapist_id {
                            return Err(ApiError::Forbidden);
                        }
                        let duration = found.duration_minutes.max(0) as u32;
                        let (massage_type, _) = bookable(
                            conn,
                            &therapist_id,
                            &found.massage_type_id,
                            duration,
                            Asked::Reschedule { therapist_named },
                        )?;
                        let placement = place(
                            conn,
                            &config,
                            &therapist_id,
                            &massage_type,
                            duration,
                            body.start,
                            Some(&found.id),
                        )?;
                        Ok(BookingChanges {
                            therapist_id: Some(therapist_id),
                            location_id: Some(placement.location_id),
                            room_id: Some(placement.room_id),
                            start_at: Some(placement.start),
                            end_at: Some(placement.end),
                            blocked_until: Some(placement.blocked_until),
                            updated_at: Some(now()),
                            ..Default::default()
                        })
                    },
                )
            })
        })
        .await?;
    state.metrics.booking_event(BookingEvent::Rescheduled);
    Ok(web::Json(updated.into()))
}

async fn finish(
    caller: AuthUser,
    state: web::Data<AppState>,
    id: String,
    status: BookingStatus,
) -> Result<web::Json<BookingOut>, ApiError> {
    let (updated, event) = state
        .run(move |conn| {
            write_transaction(conn, |conn| {
                change_status(conn, &caller, &id, status, |_, found| {
                    if now() < found.start_at {
                        return Err(ApiError::conflict(
                            "not-started",
                            "A booking can be marked only after its start.",
                        ));
                    }
                    Ok(BookingChanges {
                        updated_at: Some(now()),
                        ..Default::default()
                    })
                })
            })
        })
        .await?;
    state.metrics.booking_event(event);
    Ok(web::Json(updated.into()))
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
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<BookingOut>, ApiError> {
    finish(caller, state, id, BookingStatus::Completed).await
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
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<BookingOut>, ApiError> {
    finish(caller, state, id, BookingStatus::NoShow).await
}
