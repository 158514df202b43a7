//! Calendar feeds for phone calendars (token in the URL, since calendar apps cannot send
//! headers), their token rotation, and a single booking as `.ics` for "add to calendar".

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::PathId;
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::tokens::{random_secret, sha256_hex};
use crate::auth::{AuthUser, Staff};
use crate::db::DbConn;
use crate::error::{ApiError, Problem};
use crate::integrations::calendar::{Names, render};
use crate::models::booking::{self, Booking, BookingFilter};
use crate::models::token::{therapist_subject, user_subject};
use crate::models::user::Role;
use crate::models::{catalog, now, therapist, token, user};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(therapist_feed)
        .service(my_feed)
        .service(rotate_my_token)
        .service(rotate_therapist_token)
        .service(booking_ics);
}

/// The most bookings one feed carries; a feed spans 30 days back to the booking horizon.
const FEED_LIMIT: i64 = 5000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The feed token from the calendar-token endpoint.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedToken {
    /// At least 128 random bits; shown only now. The previous token stopped working.
    pub token: String,
    /// The feed path with the token, to subscribe to from a calendar app.
    pub url: String,
}

fn names_for(
    conn: &mut DbConn,
    bookings: &[Booking],
    with_clients: bool,
) -> Result<Names, ApiError> {
    let mut names = Names::default();
    for t in catalog::list_massage_types(conn, None, false, i64::MAX)? {
        names.massage_types.insert(t.id.clone(), t);
    }
    for l in catalog::list_locations(conn, None, i64::MAX)? {
        names.locations.insert(l.id.clone(), l);
    }
    if with_clients {
        let mut ids: Vec<String> = bookings.iter().map(|b| b.client_id.clone()).collect();
        ids.sort();
        ids.dedup();
        for u in user::by_ids(conn, &ids)? {
            names.clients.insert(u.id, u.name);
        }
    } else {
        let mut ids: Vec<String> = bookings.iter().map(|b| b.therapist_id.clone()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            // A booking's therapist always exists (foreign key); any error is a real one.
            let t = therapist::find(conn, &id)?;
            names.therapists.insert(t.id, t.name);
        }
    }
    Ok(names)
}

fn feed_bookings(
    conn: &mut DbConn,
    state: &AppState,
    therapist_id: Option<String>,
    client_id: Option<String>,
) -> Result<Vec<Booking>, ApiError> {
    let at = now();
    let filter = BookingFilter {
        from: at.checked_sub_signed(Duration::days(30)),
        to: at.checked_add_signed(Duration::days(
            i64::from(state.config.booking_horizon_days) + 1,
        )),
        therapist_id,
        client_id,
        ..Default::default()
    };
    Ok(booking::list(conn, &filter, FEED_LIMIT)?)
}

/// Serves a calendar with a strong ETag; a matching If-None-Match gets 304 and no body, so
/// calendar apps that poll every few minutes cost almost nothing.
fn calendar_response(req: &HttpRequest, body: String, filename: &str) -> HttpResponse {
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..16])
    );
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{filename}\""),
        ))
        .body(body)
}

/// Resolves a feed token to its subject; unknown, rotated and foreign tokens are all 404 with
/// nothing to tell them apart.
fn subject_of(conn: &mut DbConn, token: &str) -> Result<String, ApiError> {
    token::calendar_subject(conn, &sha256_hex(token))?.ok_or(ApiError::NotFound)
}

/// A therapist's bookings as an iCalendar feed (with client names).
#[utoipa::path(
    tag = "integrations",
    params(("id" = Uuid, Path, description = "Therapist id"), FeedQuery),
    responses(
        (status = 200, description = "RFC 5545 calendar", content_type = "text/calendar", body = String),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "No token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown therapist, or a wrong, old or foreign token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/calendar/therapists/{id}.ics")]
async fn therapist_feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    PathId(id): PathId,
    query: crate::api::ApiQuery<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = query.0.token;
    let state2 = state.clone();
    let body = state
        .run(move |conn| {
            if subject_of(conn, &token)? != therapist_subject(&id) {
                return Err(ApiError::NotFound);
            }
            let found = therapist::find(conn, &id)?;
            let bookings = feed_bookings(conn, &state2, Some(id), None)?;
            let names = names_for(conn, &bookings, true)?;
            Ok(render(
                &format!("Inspine — {}", found.name),
                &bookings,
                &names,
            ))
        })
        .await?;
    Ok(calendar_response(&req, body, "therapist.ics"))
}

/// The token owner's own bookings as an iCalendar feed: a client's appointments, or for a
/// therapist's login the bookings of their therapist profile.
#[utoipa::path(
    tag = "integrations",
    params(FeedQuery),
    responses(
        (status = 200, description = "RFC 5545 calendar", content_type = "text/calendar", body = String),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "No token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A wrong or old token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/calendar/me.ics")]
async fn my_feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: crate::api::ApiQuery<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = query.0.token;
    let state2 = state.clone();
    let body = state
        .run(move |conn| {
            let subject = subject_of(conn, &token)?;
            let user_id = subject.strip_prefix("user:").ok_or(ApiError::NotFound)?;
            let owner = user::find(conn, user_id)?;
            let profile = match owner.role() {
                Role::Therapist => therapist::find_by_user(conn, &owner.id)?,
                _ => None,
            };
            let (bookings, names) = match profile {
                Some(profile) => {
                    let b = feed_bookings(conn, &state2, Some(profile.id), None)?;
                    let n = names_for(conn, &b, true)?;
                    (b, n)
                }
                None => {
                    let b = feed_bookings(conn, &state2, None, Some(owner.id.clone()))?;
                    let n = names_for(conn, &b, false)?;
                    (b, n)
                }
            };
            Ok(render("Inspine appointments", &bookings, &names))
        })
        .await?;
    Ok(calendar_response(&req, body, "inspine.ics"))
}

/// Create or rotate the caller's own feed token; the old feed URL stops working at once.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new token and feed URL", body = FeedToken),
    )
)]
#[post("/me/calendar-token")]
async fn rotate_my_token(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
) -> Result<web::Json<FeedToken>, ApiError> {
    let secret = random_secret(32);
    let hash = sha256_hex(&secret);
    let subject = user_subject(caller.id());
    let ctx = meta.actor(&caller);
    state
        .write(move |conn| {
            token::set_calendar_token(conn, &subject, &hash)?;
            Ok(audit::record(
                conn,
                &ctx,
                Action::CalendarTokenCreate,
                Subject::User,
                ctx.actor_id.as_deref(),
            )?)
        })
        .await?;
    Ok(web::Json(FeedToken {
        url: format!("/api/v1/calendar/me.ics?token={secret}"),
        token: secret,
    }))
}

/// Create or rotate a therapist's feed token (admin, or the therapist's own login).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id")),
    responses(
        (status = 200, description = "The new token and feed URL", body = FeedToken),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/therapists/{id}/calendar-token")]
async fn rotate_therapist_token(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<FeedToken>, ApiError> {
    let secret = random_secret(32);
    let hash = sha256_hex(&secret);
    let therapist_id = id.clone();
    let ctx = meta.actor(&caller);
    state
        .write(move |conn| {
            let found = therapist::find(conn, &therapist_id)?;
            if caller.role != Role::Admin && found.user_id.as_deref() != Some(caller.id()) {
                return Err(ApiError::Forbidden);
            }
            token::set_calendar_token(conn, &therapist_subject(&therapist_id), &hash)?;
            Ok(audit::record(
                conn,
                &ctx,
                Action::CalendarTokenCreate,
                Subject::Therapist,
                Some(&therapist_id),
            )?)
        })
        .await?;
    Ok(web::Json(FeedToken {
        url: format!("/api/v1/calendar/therapists/{id}.ics?token={secret}"),
        token: secret,
    }))
}

/// One booking as an `.ics` file, for an "add to calendar" button.
#[utoipa::path(
    tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "RFC 5545 calendar with one event", content_type = "text/calendar", body = String),
        (status = 404, description = "No such booking, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/bookings/{id}.ics")]
async fn booking_ics(
    req: HttpRequest,
    caller: AuthUser,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let body = state
        .run(move |conn| {
            let found = crate::booking::access::visible_booking(conn, &caller, &id)?;
            let bookings = vec![found];
            let names = names_for(conn, &bookings, caller.role != Role::Client)?;
            Ok(render("Inspine appointment", &bookings, &names))
        })
        .await?;
    Ok(calendar_response(&req, body, "booking.ics"))
}
