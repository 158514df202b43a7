//! HTTP handlers, one file per resource, with their request/response types. Beside them: the
//! extractors (`extractors.rs`), pages and cursors (`paging.rs`); text rules are in
//! `crate::validation`. Handlers parse, authorize, call and map.

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod bookings;
pub mod bounds;
pub mod calendar;
pub mod clinical;
pub mod closures;
pub mod extractors;
pub mod holds;
mod idempotency;
pub mod locations;
pub mod massage_types;
pub mod notifications;
pub mod ops;
pub mod overrides;
pub mod paging;
pub mod rooms;
pub mod schedules;
pub mod series;
pub mod slots;
pub mod therapists;
pub mod users;
pub mod waitlist;
pub mod webhooks;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use actix_web::http::header;

use crate::error::ApiError;
pub use crate::validation::{
    Lines, MULTI_LINE_PATTERN, REQUIRED_TEXT_PATTERN, check, clean_text, free_text, is_blank,
    is_forbidden, text,
};
pub use extractors::{
    ApiJson, ApiQuery, BODY_LIMIT, OptionalJson, PathDate, PathId, parse_json, path_error_handler,
};
pub use paging::{
    DEFAULT_PAGE, MAX_PAGE, Page, PageQuery, decode_cursor, encode_cursor, into_page, page_params,
};

/// `auth_limit`: the in-memory limit of the auth routes, if on; `shared_auth_limit`: that limit
/// kept in the database instead (`limits::SharedLimits`).
pub fn routes(
    cfg: &mut ServiceConfig,
    auth_limit: Option<&crate::limits::IpLimit>,
    shared_auth_limit: bool,
) {
    let limiter = auth_limit
        .cloned()
        .unwrap_or_else(|| crate::limits::auth_limit(&[]));
    // First: the busiest path, matched before the router tries the patterns of the others
    // (its own path is no other's, so the order changes no answer).
    slots::routes(cfg);
    cfg.service(
        utoipa_actix_web::scope("/auth")
            .wrap(actix_web::middleware::Condition::new(
                auth_limit.is_some(),
                actix_governor::Governor::new(&limiter),
            ))
            .wrap(actix_web::middleware::Condition::new(
                shared_auth_limit,
                actix_web::middleware::from_fn(crate::middleware::shared_auth_limit),
            ))
            .configure(auth::routes)
            .configure(accounts::auth_routes),
    );
    auth::me_routes(cfg);
    accounts::me_routes(cfg);
    clinical::routes(cfg);
    users::routes(cfg);
    locations::routes(cfg);
    rooms::routes(cfg);
    massage_types::routes(cfg);
    therapists::routes(cfg);
    closures::routes(cfg);
    schedules::routes(cfg);
    overrides::routes(cfg);
    // Before bookings: `/bookings/{id}.ics` must be tried before `/bookings/{id}`.
    calendar::routes(cfg);
    bookings::routes(cfg);
    series::routes(cfg);
    holds::routes(cfg);
    waitlist::routes(cfg);
    api_tokens::routes(cfg);
    webhooks::routes(cfg);
    notifications::routes(cfg);
    audit::routes(cfg);
}
// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

pub fn utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

/// For PATCH fields that may be set to null: absent → None, null → Some(None).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

pub fn created(location: String) -> actix_web::HttpResponseBuilder {
    let mut builder = actix_web::HttpResponse::Created();
    builder.insert_header((header::LOCATION, location));
    builder
}

/// Time off may not swallow confirmed bookings: 409 listing each one it would overlap.
pub fn time_off_guard(
    conn: &mut crate::db::DbConn,
    entry: &crate::models::schedule::TimeOff,
) -> Result<(), ApiError> {
    // Queues with concurrent claims on the therapist (`db::locks`), so the look at bookings
    // below sees every booking committed before this time off.
    crate::db::locks::therapist(conn, &entry.therapist_id)?;
    let clashes = crate::models::booking::confirmed_overlapping(
        conn,
        &entry.therapist_id,
        entry.starts_at,
        entry.ends_at,
    )?;
    crate::hours::refuse_stranded(
        "bookings-overlap",
        |n| format!("The time off overlaps {n} confirmed booking(s); cancel or move them first."),
        &clashes,
    )
}

/// The shape of the IANA zone names the server accepts (exactly those of the tz database
/// bundled by jiff, `scheduling::Zone::names`), so clients (and generated tests) see which
/// `timezone` values are accepted.
pub fn timezone_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(TIMEZONE_DESCRIPTION))
        .pattern(Some(TIMEZONE_PATTERN))
        .max_length(Some(64))
        .examples(["America/Vancouver"])
        .build()
}

/// The same, where `null` means "leave unchanged" (PATCH).
pub fn optional_timezone_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(TIMEZONE_DESCRIPTION))
        .pattern(Some(TIMEZONE_PATTERN))
        .max_length(Some(64))
        .examples(["America/Vancouver"])
        .build()
}

/// Time zones are checked by the server against the IANA database it carries; the spec gives
/// their shape rather than a 600-value enum, which client generators trip over (zone names
/// such as `GMT0` and `GMT-0` collide once turned into identifiers).
const TIMEZONE_DESCRIPTION: &str =
    "IANA time zone name, e.g. `America/Vancouver`; an unknown name is 422.";
const TIMEZONE_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$";

/// Runs a delete that reports how many rows it touched: none is 404 (and nothing recorded),
/// else 204, with its audit row (`action` on `subject` `id`) in the same transaction.
pub async fn delete_one(
    state: &crate::state::AppState,
    audited: (
        crate::audit::AuditContext,
        crate::audit::Action,
        crate::audit::Subject,
    ),
    id: String,
    delete: impl FnOnce(&mut crate::db::DbConn, &str) -> diesel::QueryResult<usize> + Send + 'static,
) -> Result<actix_web::HttpResponse, ApiError> {
    let (ctx, action, subject) = audited;
    state
        .write(move |conn| match delete(conn, &id)? {
            0 => Err(ApiError::NotFound),
            _ => Ok(crate::audit::record(
                conn,
                &ctx,
                action,
                subject,
                Some(&id),
            )?),
        })
        .await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}
