//! Date overrides of a therapist's weekly rules: one date's hours replaced (none: a day off; on
//! a day without weekly rules: extra hours). Same rights as the weekly schedule: admins for
//! anyone, a therapist for their own.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::bounds::DateWindow;
use super::schedules::{authorize, format_hhmm, parse_times};
use super::{ApiJson, ApiQuery, PathDate, PathId};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Staff;
use crate::error::{ApiError, Problem};
use crate::hours::overrides::{self, Hours};
use crate::models::date_override::WithRules;
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_overrides)
        .service(put_override)
        .service(delete_override);
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRuleDto {
    /// Wall-clock start in the location's zone, `HH:MM`.
    #[schema(example = "10:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// Wall-clock end, `HH:MM`, later the same day.
    #[schema(example = "14:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRules {
    /// That date's hours, replacing its weekly rules: at most 100, not overlapping each other;
    /// an empty list is a day off.
    #[schema(max_items = 100)]
    pub rules: Vec<OverrideRuleDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideOut {
    /// The local date the rules apply to, in each rule's location zone.
    pub date: NaiveDate,
    pub rules: Vec<OverrideRuleDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideList {
    pub items: Vec<OverrideOut>,
}

fn to_out(o: &WithRules) -> Result<OverrideOut, ApiError> {
    Ok(OverrideOut {
        date: o.date_override.date,
        rules: o
            .rules
            .iter()
            .map(|r| {
                Ok(OverrideRuleDto {
                    start: format_hhmm(r.start_minute),
                    end: format_hhmm(r.end_minute),
                    location_id: r.location_id.parse().map_err(ApiError::internal)?,
                })
            })
            .collect::<Result<_, ApiError>>()?,
    })
}

/// The therapist's date overrides between two dates.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id"), DateWindow),
    responses(
        (status = 200, description = "The overrides on those dates, by date", body = OverrideList),
        (status = 400, description = "Bad or missing query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`to` before `from` or over 366 days after it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/therapists/{id}/overrides")]
async fn list_overrides(
    Staff(caller): Staff,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiQuery(window): ApiQuery<DateWindow>,
) -> Result<web::Json<OverrideList>, ApiError> {
    window.check()?;
    let rows = state
        .run(move |conn| {
            authorize(conn, &caller, &id)?;
            overrides::list(conn, &id, window.from, window.to)
        })
        .await?;
    let items = rows.iter().map(to_out).collect::<Result<_, _>>()?;
    Ok(web::Json(OverrideList { items }))
}

/// Replace one date's weekly rules with these hours (an empty list is a day off).
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Therapist id"),
        ("date" = NaiveDate, Path, description = "The local date, `YYYY-MM-DD`"),
    ),
    request_body = OverrideRules,
    responses(
        (status = 200, description = "The date's new hours", body = OverrideOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would leave confirmed bookings outside the therapist's hours (listed in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or overlapping rules, or unknown location", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/therapists/{id}/overrides/{date}")]
async fn put_override(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    PathDate(date): PathDate,
    ApiJson(body): ApiJson<OverrideRules>,
) -> Result<web::Json<OverrideOut>, ApiError> {
    // One date: every rule on its weekday for the overlap check.
    let weekday = date.weekday().num_days_from_monday() as i32;
    let times: Vec<(i32, &str, &str)> = body
        .rules
        .iter()
        .map(|r| (weekday, r.start.as_str(), r.end.as_str()))
        .collect();
    let hours: Vec<Hours> = parse_times(&times)?
        .into_iter()
        .zip(&body.rules)
        .map(|((start_minute, end_minute), rule)| Hours {
            start_minute,
            end_minute,
            location_id: rule.location_id.to_string(),
        })
        .collect();
    let ctx = meta.actor(&caller);
    let stored = state
        .write(move |conn| {
            authorize(conn, &caller, &id)?;
            let stored = overrides::put(conn, &id, date, &hours, Utc::now())?;
            audit::record(
                conn,
                &ctx,
                Action::OverrideUpdate,
                Subject::Therapist,
                Some(&id),
            )?;
            Ok(stored)
        })
        .await?;
    Ok(web::Json(to_out(&stored)?))
}

/// Remove one date's override: the weekly rules apply again.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Therapist id"),
        ("date" = NaiveDate, Path, description = "The local date, `YYYY-MM-DD`"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist or no override on that date", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The weekly rules would leave confirmed bookings outside the therapist's hours (listed in `errors`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/therapists/{id}/overrides/{date}")]
async fn delete_override(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    PathDate(date): PathDate,
) -> Result<HttpResponse, ApiError> {
    let ctx = meta.actor(&caller);
    state
        .write(move |conn| {
            authorize(conn, &caller, &id)?;
            overrides::remove(conn, &id, date, Utc::now())?;
            Ok(audit::record(
                conn,
                &ctx,
                Action::OverrideDelete,
                Subject::Therapist,
                Some(&id),
            )?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
