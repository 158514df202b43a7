//! Holds over HTTP: keep a slot for `HOLD_MINUTES` (`POST /holds`), read it, release it. A
//! hold is booked with `POST /bookings {"hold_id": …}` (`api::bookings`). The rules, and how a
//! hold is guarded exactly like a booking, are in `crate::booking::holds`.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{ApiJson, PathId, created, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::AuthUser;
use crate::booking::create;
use crate::booking::holds::{self, NewHold};
use crate::error::{ApiError, Problem};
use crate::models::hold::Hold;
use crate::models::now;
use crate::models::vocabulary::{HoldEvent, HoldStatus};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_hold)
        .service(get_hold)
        .service(release_hold);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub client_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub massage_type_id: String,
    pub duration_minutes: i32,
    pub start: DateTime<Utc>,
    /// The end of the massage (the type's buffer after it is kept too, as for a booking).
    pub end: DateTime<Utc>,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<String>,
    /// Until then the time is kept; after it, it is free again without any action.
    pub expires_at: DateTime<Utc>,
    /// `active` until it expires, is released, or is booked (`consumed`).
    pub status: HoldStatus,
    /// The booking it became, once consumed.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub booking_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl HoldOut {
    /// The hold as of `now` (an active hold past its expiry reads `expired`).
    fn at(hold: Hold, now: chrono::NaiveDateTime) -> Self {
        Self {
            status: hold.status_at(now),
            id: hold.id,
            client_id: hold.client_id,
            therapist_id: hold.therapist_id,
            massage_type_id: hold.massage_type_id,
            duration_minutes: hold.duration_minutes,
            start: utc(hold.start_at),
            end: utc(hold.end_at),
            location_id: hold.location_id,
            room_id: hold.room_id,
            expires_at: utc(hold.expires_at),
            booking_id: hold.booking_id,
            created_at: utc(hold.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
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
    /// Admins and therapists hold on a client's behalf; clients may not set it.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<Uuid>,
}

/// Keep an offered slot for a few minutes (`HOLD_MINUTES`) while the client finishes; book it
/// with `POST /bookings {"hold_id": …}`. A client has one hold at a time: a new one releases
/// their previous hold. Clients hold for themselves; admins and therapists pass `client_id`.
#[utoipa::path(
    tag = "holds",
    security(("bearer" = [])),
    request_body = CreateHold,
    responses(
        (status = 201, description = "Held", body = HoldOut, headers(("Location" = String, description = "The new hold"))),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A therapist holding another therapist's time", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slot taken or held, or the client's booking limit reached", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Never bookable: off-grid, outside the schedule, in the past, wrong type or duration; or a field the caller may not set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/holds")]
async fn create_hold(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateHold>,
) -> Result<HttpResponse, ApiError> {
    let client_id = create::client_for(&caller, body.client_id)?;
    let asked = NewHold {
        therapist_id: body.therapist_id,
        massage_type_id: body.massage_type_id,
        duration_minutes: body.duration_minutes,
        start: body.start,
        client_id,
    };
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    let made = state
        .write(move |conn| {
            let made = holds::create(conn, &config, &caller, asked)?;
            audit::record(
                conn,
                &ctx,
                Action::HoldCreate,
                Subject::Hold,
                Some(&made.hold.id),
            )?;
            Ok(made)
        })
        .await?;
    state.metrics.hold_event(HoldEvent::Created);
    if let Some(event) = made.replaced.and_then(HoldStatus::ending) {
        state.metrics.hold_event(event);
    }
    let location = format!("/api/v1/holds/{}", made.hold.id);
    Ok(created(location).json(HoldOut::at(made.hold, now())))
}

/// One hold: its client's, or any for staff.
#[utoipa::path(
    tag = "holds",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Hold id")),
    responses(
        (status = 200, description = "The hold", body = HoldOut),
        (status = 404, description = "No such hold, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/holds/{id}")]
async fn get_hold(
    caller: AuthUser,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<HoldOut>, ApiError> {
    let found = state
        .run(move |conn| Ok(holds::visible(conn, &caller, &id)?))
        .await?;
    Ok(web::Json(HoldOut::at(found, now())))
}

/// Release a hold: its time is free again at once. Releasing a hold that already expired or was
/// released changes nothing (204).
#[utoipa::path(
    tag = "holds",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Hold id")),
    responses(
        (status = 204, description = "Released"),
        (status = 404, description = "No such hold, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The hold was booked already (`hold-expired`); cancel the booking instead", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/holds/{id}")]
async fn release_hold(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    let ended = state
        .write(move |conn| {
            let ended = holds::release(conn, &config, &caller, &id)?;
            audit::record(conn, &ctx, Action::HoldRelease, Subject::Hold, Some(&id))?;
            Ok(ended)
        })
        .await?;
    if let Some(event) = ended.and_then(HoldStatus::ending) {
        state.metrics.hold_event(event);
    }
    Ok(HttpResponse::NoContent().finish())
}
