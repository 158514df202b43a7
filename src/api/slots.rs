//! `GET /slots`: offered start times, computed by the pure engine in `scheduling`.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};
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

// A 10-therapist week holds hundreds of slots, so their fields are written as whole strings
// (`wire`) rather than through `Display` a character at a time; the JSON is the same.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotOut {
    #[serde(serialize_with = "wire::instant")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "wire::instant")]
    pub end: DateTime<Utc>,
    #[schema(value_type = String, format = Uuid)]
    #[serde(serialize_with = "wire::uuid")]
    pub therapist_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    #[serde(serialize_with = "wire::uuid")]
    pub location_id: Uuid,
}

mod wire {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::{Serialize, Serializer};
    use uuid::Uuid;

    /// As chrono writes it (`2027-03-10T17:00:00Z`); instants with a fraction of a second or
    /// outside years 0000–9999 (never a slot's) are left to chrono.
    pub fn instant<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let year = at.year();
        if at.nanosecond() != 0 || !(0..=9999).contains(&year) {
            return at.serialize(s);
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year.unsigned_abs());
        put(5, 2, at.month());
        put(8, 2, at.day());
        put(11, 2, at.hour());
        put(14, 2, at.minute());
        put(17, 2, at.second());
        // Only ASCII digits were written into an ASCII template.
        s.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }

    pub fn uuid<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
    }

    #[cfg(test)]
    mod tests {
        use chrono::{DateTime, TimeZone, Utc};

        fn written(at: DateTime<Utc>) -> String {
            let mut out = Vec::new();
            super::instant(&at, &mut serde_json::Serializer::new(&mut out)).expect("written");
            String::from_utf8(out).expect("utf-8")
        }

        #[test]
        fn instants_are_written_as_chrono_writes_them() {
            let cases = [
                Utc.with_ymd_and_hms(2027, 3, 10, 17, 0, 0).single(),
                Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single(),
                Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single(),
                Utc.with_ymd_and_hms(2026, 11, 1, 9, 5, 7).single(),
                DateTime::from_timestamp(1_800_000_000, 250_000_000),
                Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).single(),
                Utc.with_ymd_and_hms(-5, 6, 1, 0, 0, 0).single(),
            ];
            for at in cases.into_iter().flatten() {
                assert_eq!(
                    written(at),
                    serde_json::to_string(&at).expect("chrono"),
                    "{at:?}"
                );
            }
        }

        #[test]
        fn ids_are_written_as_uuid_writes_them() {
            let id = uuid::Uuid::now_v7();
            let mut out = Vec::new();
            super::uuid(&id, &mut serde_json::Serializer::new(&mut out)).expect("written");
            assert_eq!(out, serde_json::to_vec(&id).expect("uuid"));
        }
    }
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
) -> Result<HttpResponse, ApiError> {
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
    // Searched and written on the blocking pool; an answer given again is written once, with
    // its first giving.
    let body = state
        .run(move |conn| {
            let offered =
                search::offered_slots(conn, &config, &search, Utc::now(), cache.as_deref())?;
            offered.rendered(|slots| {
                let list = SlotList {
                    items: slots
                        .iter()
                        .map(|s| SlotOut {
                            start: s.start,
                            end: s.end,
                            therapist_id: s.therapist_id,
                            location_id: s.location_id,
                        })
                        .collect(),
                };
                serde_json::to_vec(&list)
                    .map(bytes::Bytes::from)
                    .map_err(ApiError::internal)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}
