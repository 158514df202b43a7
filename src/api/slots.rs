//! `GET /slots`: offered start times, computed by the pure engine in `scheduling`.

use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::ApiQuery;
use crate::booking::search::{self, SlotSearch};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub const MAX_WINDOW_DAYS: i64 = 31;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_slots);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    pub massage_type_id: Uuid,
    /// One of the massage type's options, e.g. 60.
    #[param(minimum = 5, maximum = 480, multiple_of = 5)]
    pub duration_minutes: u32,
    /// First date, inclusive, in each location's own zone (`YYYY-MM-DD`).
    #[param(value_type = String, format = Date)]
    #[serde(deserialize_with = "super::bounds::date")]
    pub from: NaiveDate,
    /// Last date, inclusive; at most 31 days after `from`.
    #[param(value_type = String, format = Date)]
    #[serde(deserialize_with = "super::bounds::date")]
    pub to: NaiveDate,
    pub therapist_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotOut {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[schema(value_type = String, format = Uuid)]
    pub therapist_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    pub items: Vec<SlotOut>,
}

/// Offered slots for a massage type and duration, sorted by start, then therapist.
#[utoipa::path(
    tag = "slots",
    params(SlotQuery),
    responses(
        (status = 200, description = "Offered slots", body = SlotList),
        (status = 400, description = "Bad or missing query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Window over 31 days, `to` before `from`, unknown type or duration", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/slots")]
async fn list_slots(
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> Result<web::Json<SlotList>, ApiError> {
    if query.to < query.from {
        return Err(ApiError::validation("to", "must not be before `from`"));
    }
    if (query.to - query.from).num_days() >= MAX_WINDOW_DAYS {
        return Err(ApiError::validation(
            "to",
            format!("the window may span at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let config = state.config.clone();
    let cache = state.slot_cache.clone();
    let search = SlotSearch {
        massage_type_id: query.massage_type_id.to_string(),
        duration_minutes: query.duration_minutes,
        from: query.from,
        to: query.to,
        therapist_id: query.therapist_id.map(|t| t.to_string()),
        location_id: query.location_id.map(|l| l.to_string()),
    };
    let slots = state
        .run(move |conn| {
            Ok(search::offered_slots(
                conn,
                &config,
                &search,
                Utc::now(),
                cache.as_deref(),
            )?)
        })
        .await?;
    Ok(web::Json(SlotList {
        items: slots
            .into_iter()
            .map(|s| SlotOut {
                start: s.start,
                end: s.end,
                therapist_id: s.therapist_id,
                location_id: s.location_id,
            })
            .collect(),
    }))
}
