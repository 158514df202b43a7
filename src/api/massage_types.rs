//! Massage types and their duration options, part of the catalog. Anyone may read; admins
//! write.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{
    ApiJson, ApiQuery, Lines, Page, PathId, check, clean_text, created, free_text, into_page,
    page_params, text,
};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::db::DbConn;
use crate::error::{ApiError, FieldError, Problem};
use crate::models::catalog::{self, MassageOption, MassageType, MassageTypeChanges};
use crate::models::{new_id, now};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_massage_types)
        .service(create_massage_type)
        .service(get_massage_type)
        .service(update_massage_type)
        .service(delete_massage_type);
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionDto {
    #[schema(example = 60, minimum = 5, maximum = 480, multiple_of = 5)]
    pub duration_minutes: i32,
    /// Price in minor units (cents).
    #[schema(example = 11000, minimum = 0, maximum = 100_000_000)]
    pub price_cents: i64,
    /// ISO 4217 code.
    #[schema(example = "CAD", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MassageTypeOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Minutes kept free after a booking of this type.
    pub buffer_minutes: i32,
    pub active: bool,
    pub options: Vec<OptionDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMassageType {
    #[schema(
        example = "hot-stone",
        max_length = 50,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub description: String,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 120)]
    pub buffer_minutes: i32,
    pub active: Option<bool>,
    /// 1 to 10 options with distinct durations.
    #[schema(min_items = 1, max_items = 10)]
    pub options: Vec<OptionDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMassageType {
    #[schema(
        example = "hot-stone",
        max_length = 50,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: Option<String>,
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub description: Option<String>,
    #[schema(minimum = 0, maximum = 120)]
    pub buffer_minutes: Option<i32>,
    pub active: Option<bool>,
    /// Replaces all options when given: 1 to 10 options with distinct durations.
    #[schema(min_items = 1, max_items = 10)]
    pub options: Option<Vec<OptionDto>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MassageTypeQuery {
    /// Include inactive types (default false).
    pub include_inactive: Option<bool>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

fn check_slug(errors: &mut Vec<FieldError>, slug: &str) -> String {
    if !clean_text(errors, "slug", slug, Lines::One) {
        return slug.to_owned();
    }
    let slug = slug.trim();
    let ok = !slug.is_empty()
        && slug.len() <= 50
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !ok {
        errors.push(FieldError::new(
            "slug",
            "must be 1–50 lowercase letters, digits and inner hyphens",
        ));
    }
    slug.to_owned()
}

fn check_buffer(errors: &mut Vec<FieldError>, buffer: i32) -> i32 {
    if !(0..=120).contains(&buffer) {
        errors.push(FieldError::new(
            "buffer_minutes",
            "must be between 0 and 120",
        ));
    }
    buffer
}

fn check_options(
    errors: &mut Vec<FieldError>,
    type_id: &str,
    options: &[OptionDto],
) -> Vec<MassageOption> {
    if options.is_empty() || options.len() > 10 {
        errors.push(FieldError::new("options", "must list 1 to 10 options"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, option) in options.iter().enumerate() {
        if !(5..=480).contains(&option.duration_minutes) || option.duration_minutes % 5 != 0 {
            errors.push(FieldError::new(
                format!("options[{i}].duration_minutes"),
                "must be a multiple of 5 between 5 and 480",
            ));
        } else if !seen.insert(option.duration_minutes) {
            errors.push(FieldError::new(
                format!("options[{i}].duration_minutes"),
                "is listed twice",
            ));
        }
        if !(0..=100_000_000).contains(&option.price_cents) {
            errors.push(FieldError::new(
                format!("options[{i}].price_cents"),
                "must be between 0 and 100000000",
            ));
        }
        if option.currency.len() != 3 || !option.currency.chars().all(|c| c.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                format!("options[{i}].currency"),
                "must be a three-letter ISO 4217 code",
            ));
        }
    }
    options
        .iter()
        .map(|o| MassageOption {
            massage_type_id: type_id.to_owned(),
            duration_minutes: o.duration_minutes,
            price_cents: o.price_cents,
            currency: o.currency.clone(),
        })
        .collect()
}

/// Loads the options of `types` in one query and joins them in.
pub fn with_options(
    conn: &mut DbConn,
    types: Vec<MassageType>,
) -> diesel::QueryResult<Vec<MassageTypeOut>> {
    let ids: Vec<String> = types.iter().map(|t| t.id.clone()).collect();
    let mut by_type: BTreeMap<String, Vec<OptionDto>> = BTreeMap::new();
    for o in catalog::options_for(conn, &ids)? {
        by_type
            .entry(o.massage_type_id)
            .or_default()
            .push(OptionDto {
                duration_minutes: o.duration_minutes,
                price_cents: o.price_cents,
                currency: o.currency,
            });
    }
    Ok(types
        .into_iter()
        .map(|t| MassageTypeOut {
            options: by_type.remove(&t.id).unwrap_or_default(),
            id: t.id,
            slug: t.slug,
            name: t.name,
            description: t.description,
            buffer_minutes: t.buffer_minutes,
            active: t.active,
        })
        .collect())
}

fn one_with_options(conn: &mut DbConn, id: &str) -> Result<MassageTypeOut, ApiError> {
    let found = catalog::find_massage_type(conn, id)?;
    with_options(conn, vec![found])?
        .pop()
        .ok_or(ApiError::NotFound)
}

fn slug_taken(error: diesel::result::Error) -> ApiError {
    ApiError::unique_as("slug-taken", "Another massage type already uses this slug.")(error)
}

/// List massage types with their duration options.
#[utoipa::path(
    tag = "catalog",
    params(MassageTypeQuery),
    responses(
        (status = 200, description = "A page of massage types", body = Page<MassageTypeOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/massage-types")]
async fn list_massage_types(
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<MassageTypeQuery>,
) -> Result<web::Json<Page<MassageTypeOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let active_only = !query.include_inactive.unwrap_or(false);
    let rows = state
        .run(move |conn| {
            let rows = catalog::list_massage_types(
                conn,
                after.as_deref(),
                active_only,
                i64::from(limit) + 1,
            )?;
            Ok(with_options(conn, rows)?)
        })
        .await?;
    Ok(web::Json(into_page(rows, limit, |t| t.id.clone(), |t| t)))
}

/// Create a massage type with its options (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    request_body = CreateMassageType,
    responses(
        (status = 201, description = "Created", body = MassageTypeOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug already used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/massage-types")]
async fn create_massage_type(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateMassageType>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let id = new_id();
    let slug = check_slug(&mut errors, &body.slug);
    let name = text(&mut errors, "name", &body.name, 100);
    let description = free_text(&mut errors, "description", &body.description, 2000);
    let buffer_minutes = check_buffer(&mut errors, body.buffer_minutes);
    let options = check_options(&mut errors, &id, &body.options);
    check(errors)?;
    let at = now();
    let row = MassageType {
        id,
        slug,
        name,
        description,
        buffer_minutes,
        active: body.active.unwrap_or(true),
        created_at: at,
        updated_at: at,
    };
    let ctx = meta.actor(&caller);
    let out = state
        .write(move |conn| {
            catalog::insert_massage_type(conn, &row, &options).map_err(slug_taken)?;
            audit::record(
                conn,
                &ctx,
                Action::MassageTypeCreate,
                Subject::MassageType,
                Some(&row.id),
            )?;
            one_with_options(conn, &row.id)
        })
        .await?;
    Ok(created(format!("/api/v1/massage-types/{}", out.id)).json(out))
}

/// One massage type.
#[utoipa::path(
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Massage type id")),
    responses(
        (status = 200, description = "The massage type", body = MassageTypeOut),
        (status = 404, description = "No such massage type", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/massage-types/{id}")]
async fn get_massage_type(
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<MassageTypeOut>, ApiError> {
    let out = state.run(move |conn| one_with_options(conn, &id)).await?;
    Ok(web::Json(out))
}

/// Change a massage type (admin); `options`, when given, replaces all options.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Massage type id")),
    request_body = UpdateMassageType,
    responses(
        (status = 200, description = "Updated", body = MassageTypeOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such massage type", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug already used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/massage-types/{id}")]
async fn update_massage_type(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateMassageType>,
) -> Result<web::Json<MassageTypeOut>, ApiError> {
    let mut errors = Vec::new();
    let changes = MassageTypeChanges {
        slug: body.slug.map(|s| check_slug(&mut errors, &s)),
        name: body.name.map(|n| text(&mut errors, "name", &n, 100)),
        description: body
            .description
            .map(|d| free_text(&mut errors, "description", &d, 2000)),
        buffer_minutes: body.buffer_minutes.map(|b| check_buffer(&mut errors, b)),
        active: body.active,
        updated_at: Some(now()),
    };
    let options = body.options.map(|o| check_options(&mut errors, &id, &o));
    check(errors)?;
    let ctx = meta.actor(&caller);
    let out = state
        .write(move |conn| {
            catalog::find_massage_type(conn, &id)?;
            catalog::update_massage_type(conn, &id, &changes).map_err(slug_taken)?;
            if let Some(options) = &options {
                catalog::replace_options(conn, &id, options)?;
            }
            audit::record(
                conn,
                &ctx,
                Action::MassageTypeUpdate,
                Subject::MassageType,
                Some(&id),
            )?;
            one_with_options(conn, &id)
        })
        .await?;
    Ok(web::Json(out))
}

/// Delete a massage type (admin); refused while bookings refer to it (deactivate it instead).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Massage type id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such massage type", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Still used by bookings", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/massage-types/{id}")]
async fn delete_massage_type(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let audited = (
        meta.actor(&caller),
        Action::MassageTypeDelete,
        Subject::MassageType,
    );
    super::delete_one(&state, audited, id, catalog::delete_massage_type).await
}
