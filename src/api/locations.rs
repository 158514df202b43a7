//! Clinic locations, part of the catalog. Anyone may read; admins write.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{
    ApiJson, ApiQuery, Page, PageQuery, PathId, check, created, into_page, page_params, text,
};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::error::{ApiError, FieldError, Problem};
use crate::models::catalog::{self, Location, LocationChanges};
use crate::models::{new_id, now};
use crate::scheduling::Zone;
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_locations)
        .service(create_location)
        .service(get_location)
        .service(update_location)
        .service(delete_location);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub name: String,
    pub address: String,
    /// IANA time zone, e.g. `America/Vancouver`.
    pub timezone: String,
}

impl From<Location> for LocationOut {
    fn from(l: Location) -> Self {
        Self {
            id: l.id,
            name: l.name,
            address: l.address,
            timezone: l.timezone,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: String,
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub address: String,
    /// IANA time zone name.
    #[schema(schema_with = crate::api::timezone_schema)]
    pub timezone: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLocation {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub address: Option<String>,
    #[schema(schema_with = crate::api::optional_timezone_schema)]
    pub timezone: Option<String>,
}

fn check_timezone(errors: &mut Vec<FieldError>, tz: &str) -> String {
    let tz = tz.trim();
    // Exactly a name of the bundled tz database, of the shape (and length) the spec gives.
    if tz.len() > 64 || !zone_name_shaped(tz) || !Zone::is_known(tz) {
        errors.push(FieldError::new(
            "timezone",
            "must be an IANA time zone name",
        ));
    }
    tz.to_owned()
}

/// Whether `tz` matches the spec's `^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$`.
fn zone_name_shaped(tz: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
    };
    let parts: Vec<&str> = tz.split('/').collect();
    parts.len() <= 3
        && parts.iter().all(|p| part(p))
        && tz.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
}

/// A taken location name, or room name at its location (rooms use this too).
pub(super) fn name_taken(error: diesel::result::Error) -> ApiError {
    ApiError::unique_as("name-taken", "Another object already uses this name.")(error)
}

/// List locations.
#[utoipa::path(
    tag = "catalog",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of locations", body = Page<LocationOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/locations")]
async fn list_locations(
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<LocationOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let rows = state
        .run(move |conn| {
            Ok(catalog::list_locations(
                conn,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |l| l.id.clone(),
        LocationOut::from,
    )))
}

/// Create a location (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    request_body = CreateLocation,
    responses(
        (status = 201, description = "Created", body = LocationOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/locations")]
async fn create_location(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateLocation>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", &body.name, 100);
    let address = text(&mut errors, "address", &body.address, 300);
    let timezone = check_timezone(&mut errors, &body.timezone);
    check(errors)?;
    let at = now();
    let location = Location {
        id: new_id(),
        name,
        address,
        timezone,
        created_at: at,
        updated_at: at,
    };
    let ctx = meta.actor(&caller);
    let location = state
        .write(move |conn| {
            catalog::insert_location(conn, &location).map_err(name_taken)?;
            audit::record(
                conn,
                &ctx,
                Action::LocationCreate,
                Subject::Location,
                Some(&location.id),
            )?;
            Ok(location)
        })
        .await?;
    Ok(created(format!("/api/v1/locations/{}", location.id)).json(LocationOut::from(location)))
}

/// One location.
#[utoipa::path(
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Location id")),
    responses(
        (status = 200, description = "The location", body = LocationOut),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/locations/{id}")]
async fn get_location(
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<LocationOut>, ApiError> {
    let found = state
        .run(move |conn| Ok(catalog::find_location(conn, &id)?))
        .await?;
    Ok(web::Json(found.into()))
}

/// Change a location (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Location id")),
    request_body = UpdateLocation,
    responses(
        (status = 200, description = "Updated", body = LocationOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/locations/{id}")]
async fn update_location(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateLocation>,
) -> Result<web::Json<LocationOut>, ApiError> {
    let mut errors = Vec::new();
    let changes = LocationChanges {
        name: body.name.map(|v| text(&mut errors, "name", &v, 100)),
        address: body.address.map(|v| text(&mut errors, "address", &v, 300)),
        timezone: body.timezone.map(|v| check_timezone(&mut errors, &v)),
        updated_at: Some(now()),
    };
    check(errors)?;
    let ctx = meta.actor(&caller);
    let updated = state
        .write(move |conn| {
            catalog::find_location(conn, &id)?;
            catalog::update_location(conn, &id, &changes).map_err(name_taken)?;
            audit::record(
                conn,
                &ctx,
                Action::LocationUpdate,
                Subject::Location,
                Some(&id),
            )?;
            Ok(catalog::find_location(conn, &id)?)
        })
        .await?;
    Ok(web::Json(updated.into()))
}

/// Delete a location (admin); refused while schedules refer to it.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Location id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Still used by schedules or bookings", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/locations/{id}")]
async fn delete_location(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let audited = (
        meta.actor(&caller),
        Action::LocationDelete,
        Subject::Location,
    );
    super::delete_one(&state, audited, id, catalog::delete_location).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(tz: &str) -> bool {
        let mut errors = Vec::new();
        check_timezone(&mut errors, tz);
        errors.is_empty()
    }

    #[test]
    fn every_bundled_zone_name_has_the_shape_the_spec_gives() {
        // The spec describes zone names by a pattern and a length; the accepted set is exactly
        // the bundled tz database's names, so each must fit them.
        let names: Vec<&str> = Zone::names().collect();
        assert!(names.len() >= 597, "{}", names.len());
        for name in &names {
            assert!(name.len() <= 64 && zone_name_shaped(name), "{name}");
            assert!(accepted(name), "{name}");
            assert!(name.parse::<Zone>().is_ok(), "{name}");
        }
    }

    #[test]
    fn only_exact_bundled_names_are_accepted() {
        for good in [
            "America/Vancouver",
            "America/Toronto",
            "Australia/Sydney",
            "UTC",
        ] {
            assert!(accepted(good), "{good}");
        }
        for bad in [
            "america/vancouver",
            "Mars/Olympus",
            "",
            "/etc/localtime",
            "America/../Vancouver",
            "-07:00",
            "PST8PDT/",
            "Factory",
        ] {
            assert!(!accepted(bad), "{bad}");
        }
    }
}
