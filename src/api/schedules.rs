//! Weekly schedules and time off. Admins manage anyone's; a therapist manages their own.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::PathId;
use super::{
    ApiJson, ApiQuery, Page, PageQuery, check, created, free_text, into_page, page_params, utc,
};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Staff;
use crate::booking::waitlist;
use crate::db::DbConn;
use crate::error::{ApiError, FieldError, Problem};
use crate::models::schedule::{self, ScheduleRule, TimeOff};
use crate::models::user::Role;
use crate::models::{new_id, now, therapist};
use crate::scheduling::{WeeklyRule, validate_rules};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_schedule)
        .service(put_schedule)
        .service(list_time_off)
        .service(create_time_off)
        .service(delete_time_off);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

impl Weekday {
    fn index(self) -> i32 {
        WEEKDAYS.iter().position(|w| *w == self).unwrap_or(0) as i32
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDto {
    pub weekday: Weekday,
    /// Wall-clock start in the location's zone, `HH:MM`.
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// Wall-clock end, `HH:MM`, later the same day.
    #[schema(example = "17:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: Uuid,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// At most 100 rules; rules of one weekday may not overlap.
    #[schema(max_items = 100)]
    pub rules: Vec<RuleDto>,
}

fn parse_hhmm(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

pub(super) fn format_hhmm(minutes: i32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Parses and checks the times of rules, each given as (weekday index, start, end): valid
/// times, start before end, and no two rules of one weekday overlapping (back-to-back is fine,
/// even across locations). A date override's rules all share one weekday. Returns each rule's
/// (start, end) in minutes after midnight; errors name `rules[i]…`.
pub(super) fn parse_times(rules: &[(i32, &str, &str)]) -> Result<Vec<(i32, i32)>, ApiError> {
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(rules.len());
    if rules.len() > 100 {
        errors.push(FieldError::new("rules", "must have at most 100 rules"));
    }
    for (i, &(_, start, end)) in rules.iter().enumerate() {
        let start = parse_hhmm(start);
        let end = parse_hhmm(end);
        if start.is_none_or(|s| s >= 1440) {
            errors.push(FieldError::new(
                format!("rules[{i}].start"),
                "must be a time HH:MM",
            ));
        }
        if end.is_none_or(|e| e == 0) {
            errors.push(FieldError::new(
                format!("rules[{i}].end"),
                "must be a time HH:MM or 24:00",
            ));
        }
        if let (Some(start), Some(end)) = (start, end) {
            if start >= end {
                errors.push(FieldError::new(
                    format!("rules[{i}].end"),
                    "must be after start",
                ));
            }
            parsed.push((start, end));
        }
    }
    check(std::mem::take(&mut errors))?;
    let weekly: Vec<WeeklyRule> = rules
        .iter()
        .zip(&parsed)
        .map(|(&(weekday, _, _), &(start, end))| WeeklyRule {
            weekday: crate::availability::weekday(weekday),
            start: crate::availability::time(start),
            end: crate::availability::time(end),
            location_id: Uuid::nil(),
        })
        .collect();
    if let Err(problems) = validate_rules(&weekly) {
        errors.extend(
            problems
                .into_iter()
                .map(|(i, message)| FieldError::new(format!("rules[{i}]"), message)),
        );
    }
    check(errors)?;
    Ok(parsed)
}

fn parse_rules(therapist_id: &str, rules: &[RuleDto]) -> Result<Vec<ScheduleRule>, ApiError> {
    let times: Vec<(i32, &str, &str)> = rules
        .iter()
        .map(|r| (r.weekday.index(), r.start.as_str(), r.end.as_str()))
        .collect();
    let parsed = parse_times(&times)?;
    Ok(rules
        .iter()
        .zip(parsed)
        .map(|(rule, (start, end))| ScheduleRule {
            id: new_id(),
            therapist_id: therapist_id.to_owned(),
            weekday: rule.weekday.index(),
            start_minute: start,
            end_minute: end,
            location_id: rule.location_id.to_string(),
        })
        .collect())
}

fn to_dto(rule: &ScheduleRule) -> Result<RuleDto, ApiError> {
    Ok(RuleDto {
        weekday: WEEKDAYS
            .get(rule.weekday as usize)
            .copied()
            .ok_or_else(|| ApiError::internal("stored weekday out of range"))?,
        start: format_hhmm(rule.start_minute),
        end: format_hhmm(rule.end_minute),
        location_id: rule.location_id.parse().map_err(ApiError::internal)?,
    })
}

/// Admins may manage any therapist; a therapist only the one linked to their login. Anyone else
/// learns nothing about whether the therapist exists.
pub(super) fn authorize(
    conn: &mut DbConn,
    caller: &crate::auth::AuthUser,
    therapist_id: &str,
) -> Result<(), ApiError> {
    let found = therapist::find(conn, therapist_id)?;
    match caller.role {
        Role::Admin => Ok(()),
        Role::Therapist if found.user_id.as_deref() == Some(caller.id()) => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

/// The therapist's weekly rules.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id")),
    responses(
        (status = 200, description = "The weekly rules", body = Schedule),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/therapists/{id}/schedule")]
async fn get_schedule(
    Staff(caller): Staff,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<Schedule>, ApiError> {
    let rules = state
        .run(move |conn| {
            authorize(conn, &caller, &id)?;
            Ok(schedule::rules_for(conn, std::slice::from_ref(&id))?)
        })
        .await?;
    let rules = rules.iter().map(to_dto).collect::<Result<_, _>>()?;
    Ok(web::Json(Schedule { rules }))
}

/// Replace the therapist's weekly rules as a whole.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id")),
    request_body = Schedule,
    responses(
        (status = 200, description = "The new weekly rules", body = Schedule),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or overlapping rules, or unknown location", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/therapists/{id}/schedule")]
async fn put_schedule(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<Schedule>,
) -> Result<web::Json<Schedule>, ApiError> {
    let rules = parse_rules(&id, &body.rules)?;
    let ctx = meta.actor(&caller);
    let stored = state
        .write(move |conn| {
            authorize(conn, &caller, &id)?;
            let location_ids: Vec<String> = rules.iter().map(|r| r.location_id.clone()).collect();
            crate::hours::check_rule_locations(conn, &location_ids)?;
            schedule::replace_rules(conn, &id, &rules)?;
            audit::record(
                conn,
                &ctx,
                Action::ScheduleUpdate,
                Subject::Therapist,
                Some(&id),
            )?;
            Ok(schedule::rules_for(conn, std::slice::from_ref(&id))?)
        })
        .await?;
    let rules = stored.iter().map(to_dto).collect::<Result<_, _>>()?;
    Ok(web::Json(Schedule { rules }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeOffOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

impl From<TimeOff> for TimeOffOut {
    fn from(t: TimeOff) -> Self {
        Self {
            id: t.id,
            starts_at: utc(t.starts_at),
            ends_at: utc(t.ends_at),
            reason: t.reason,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTimeOff {
    /// RFC 3339 instant, any offset.
    #[serde(deserialize_with = "super::bounds::instant")]
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most 366 days later.
    #[serde(deserialize_with = "super::bounds::instant")]
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub reason: String,
}

/// The therapist's time off.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id"), PageQuery),
    responses(
        (status = 200, description = "A page of time off", body = Page<TimeOffOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/therapists/{id}/time-off")]
async fn list_time_off(
    Staff(caller): Staff,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<TimeOffOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let rows = state
        .run(move |conn| {
            authorize(conn, &caller, &id)?;
            Ok(schedule::list_time_off(
                conn,
                &id,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |t| t.id.clone(),
        TimeOffOut::from,
    )))
}

/// Add time off.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id")),
    request_body = CreateTimeOff,
    responses(
        (status = 201, description = "Created", body = TimeOffOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Overlaps confirmed bookings (listed in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/therapists/{id}/time-off")]
async fn create_time_off(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<CreateTimeOff>,
) -> Result<HttpResponse, ApiError> {
    let therapist_id = id;
    let mut errors = Vec::new();
    super::bounds::check_span(&mut errors, body.starts_at, body.ends_at);
    let reason = free_text(&mut errors, "reason", &body.reason, 500);
    check(errors)?;
    let entry = TimeOff {
        id: new_id(),
        therapist_id,
        starts_at: body.starts_at.naive_utc(),
        ends_at: body.ends_at.naive_utc(),
        reason,
        created_at: now(),
    };
    let ctx = meta.actor(&caller);
    let entry = state
        .write(move |conn| {
            authorize(conn, &caller, &entry.therapist_id)?;
            crate::api::time_off_guard(conn, &entry)?;
            schedule::insert_time_off(conn, &entry)?;
            audit::record(
                conn,
                &ctx,
                Action::TimeOffCreate,
                Subject::TimeOff,
                Some(&entry.id),
            )?;
            Ok(entry)
        })
        .await?;
    Ok(created(format!(
        "/api/v1/therapists/{}/time-off/{}",
        entry.therapist_id, entry.id
    ))
    .json(TimeOffOut::from(entry)))
}

/// Remove time off.
#[utoipa::path(
    tag = "schedules",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Therapist id"),
        ("time_off_id" = Uuid, Path, description = "Time-off id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Neither admin nor this therapist", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist or time off", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/therapists/{id}/time-off/{time_off_id}")]
async fn delete_time_off(
    Staff(caller): Staff,
    meta: RequestMeta,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (therapist_id, time_off_id) = path.into_inner();
    let (therapist_id, time_off_id) = (therapist_id.to_string(), time_off_id.to_string());
    let config = state.config.clone();
    let ctx = meta.actor(&caller);
    state
        .write(move |conn| {
            authorize(conn, &caller, &therapist_id)?;
            let Some(freed) = schedule::find_time_off(conn, &therapist_id, &time_off_id)? else {
                return Err(ApiError::NotFound);
            };
            schedule::delete_time_off(conn, &therapist_id, &time_off_id)?;
            // The time is the therapist's again: the waitlist may take it, in this transaction.
            waitlist::offer_freed(conn, &config, &therapist_id, freed.starts_at, freed.ends_at)?;
            audit::record(
                conn,
                &ctx,
                Action::TimeOffDelete,
                Subject::TimeOff,
                Some(&time_off_id),
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
