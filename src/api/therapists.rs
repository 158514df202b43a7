//! Therapists and the massage types they offer. Anyone may read; admins write.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::PathId;
use super::{
    ApiJson, ApiQuery, Page, check, created, double_option, free_text, into_page, page_params, text,
};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::db::DbConn;
use crate::error::{ApiError, FieldError, Problem};
use crate::models::catalog;
use crate::models::therapist::{self, Therapist, TherapistChanges, TherapistFilter};
use crate::models::user::{self, Role};
use crate::models::{new_id, now};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_therapists)
        .service(create_therapist)
        .service(get_therapist)
        .service(update_therapist)
        .service(delete_therapist);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TherapistOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub name: String,
    pub bio: String,
    #[schema(value_type = Vec<String>)]
    pub massage_type_ids: Vec<String>,
    pub active: bool,
    /// The login of the therapist, when they have one.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTherapist {
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
    pub bio: String,
    #[serde(default)]
    pub massage_type_ids: Vec<Uuid>,
    pub active: Option<bool>,
    /// A user with the `therapist` role to link as this therapist's login.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTherapist {
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
    pub bio: Option<String>,
    /// Replaces the offered massage types when given.
    pub massage_type_ids: Option<Vec<Uuid>>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TherapistQuery {
    /// Only therapists offering this massage type.
    pub massage_type_id: Option<Uuid>,
    /// Only therapists with schedule rules at this location.
    pub location_id: Option<Uuid>,
    /// Include inactive therapists (default false).
    pub include_inactive: Option<bool>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

fn with_types(conn: &mut DbConn, rows: Vec<Therapist>) -> diesel::QueryResult<Vec<TherapistOut>> {
    let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
    let pairs = therapist::massage_type_ids(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|t| TherapistOut {
            massage_type_ids: pairs
                .iter()
                .filter(|(tid, _)| *tid == t.id)
                .map(|(_, mid)| mid.clone())
                .collect(),
            id: t.id,
            name: t.name,
            bio: t.bio,
            active: t.active,
            user_id: t.user_id,
        })
        .collect())
}

fn one(conn: &mut DbConn, id: &str) -> Result<TherapistOut, ApiError> {
    let found = therapist::find(conn, id)?;
    with_types(conn, vec![found])?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// Checks references inside the transaction: unknown massage types or a user who is not a
/// therapist are 422 (the caller named something that cannot be linked); a therapist user who
/// is already linked elsewhere is 409, like any other taken unique value.
fn check_links(
    conn: &mut DbConn,
    type_ids: Option<&[String]>,
    user_id: Option<&str>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let mut linked = false;
    if let Some(type_ids) = type_ids {
        let existing = catalog::existing_massage_type_ids(conn, type_ids)?;
        if existing.len() != type_ids.len() {
            errors.push(FieldError::new(
                "massage_type_ids",
                "names an unknown massage type",
            ));
        }
    }
    if let Some(user_id) = user_id {
        match user::find(conn, user_id) {
            Ok(u) if u.role() == Role::Therapist => {
                linked = therapist::find_by_user(conn, user_id)?.is_some();
            }
            Ok(_) => errors.push(FieldError::new(
                "user_id",
                "must be a user with the therapist role",
            )),
            Err(diesel::result::Error::NotFound) => {
                errors.push(FieldError::new("user_id", "names an unknown user"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    check(errors)?;
    if linked {
        return Err(ApiError::conflict(
            "user-linked",
            "That user is already linked to another therapist.",
        ));
    }
    Ok(())
}

fn dedup(ids: Vec<Uuid>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// List therapists, optionally by massage type or location.
#[utoipa::path(
    tag = "therapists",
    params(TherapistQuery),
    responses(
        (status = 200, description = "A page of therapists", body = Page<TherapistOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/therapists")]
async fn list_therapists(
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<TherapistQuery>,
) -> Result<web::Json<Page<TherapistOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let filter = TherapistFilter {
        massage_type_id: query.massage_type_id.map(|i| i.to_string()),
        location_id: query.location_id.map(|i| i.to_string()),
        override_dates: None,
        active_only: !query.include_inactive.unwrap_or(false),
    };
    let rows = state
        .run(move |conn| {
            let rows = therapist::list(conn, &filter, after.as_deref(), i64::from(limit) + 1)?;
            Ok(with_types(conn, rows)?)
        })
        .await?;
    Ok(web::Json(into_page(rows, limit, |t| t.id.clone(), |t| t)))
}

/// Create a therapist (admin).
#[utoipa::path(
    tag = "therapists",
    security(("bearer" = [])),
    request_body = CreateTherapist,
    responses(
        (status = 201, description = "Created", body = TherapistOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user is already linked to another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or unknown references", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/therapists")]
async fn create_therapist(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateTherapist>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", &body.name, 100);
    let bio = free_text(&mut errors, "bio", &body.bio, 2000);
    check(errors)?;
    let type_ids = dedup(body.massage_type_ids);
    let at = now();
    let row = Therapist {
        id: new_id(),
        name,
        bio,
        active: body.active.unwrap_or(true),
        user_id: body.user_id.map(|u| u.to_string()),
        created_at: at,
        updated_at: at,
    };
    let ctx = meta.actor(&caller);
    let out = state
        .write(move |conn| {
            check_links(conn, Some(&type_ids), row.user_id.as_deref())?;
            therapist::insert(conn, &row)?;
            therapist::set_massage_types(conn, &row.id, &type_ids)?;
            audit::record(
                conn,
                &ctx,
                Action::TherapistCreate,
                Subject::Therapist,
                Some(&row.id),
            )?;
            one(conn, &row.id)
        })
        .await?;
    Ok(created(format!("/api/v1/therapists/{}", out.id)).json(out))
}

/// One therapist.
#[utoipa::path(
    tag = "therapists",
    params(("id" = Uuid, Path, description = "Therapist id")),
    responses(
        (status = 200, description = "The therapist", body = TherapistOut),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/therapists/{id}")]
async fn get_therapist(
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<TherapistOut>, ApiError> {
    Ok(web::Json(state.run(move |conn| one(conn, &id)).await?))
}

/// Change a therapist (admin).
#[utoipa::path(
    tag = "therapists",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id")),
    request_body = UpdateTherapist,
    responses(
        (status = 200, description = "Updated", body = TherapistOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user is already linked to another therapist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or unknown references", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/therapists/{id}")]
async fn update_therapist(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateTherapist>,
) -> Result<web::Json<TherapistOut>, ApiError> {
    let mut errors = Vec::new();
    let name = body.name.map(|n| text(&mut errors, "name", &n, 100));
    let bio = body.bio.map(|b| free_text(&mut errors, "bio", &b, 2000));
    check(errors)?;
    let type_ids = body.massage_type_ids.map(dedup);
    let user_id = body.user_id.map(|u| u.map(|u| u.to_string()));
    let changes = TherapistChanges {
        name,
        bio,
        active: body.active,
        user_id: user_id.clone(),
        updated_at: Some(now()),
    };
    let ctx = meta.actor(&caller);
    let out = state
        .write(move |conn| {
            let current = therapist::find(conn, &id)?;
            let new_user = match &user_id {
                Some(Some(u)) if current.user_id.as_deref() != Some(u.as_str()) => Some(u.as_str()),
                _ => None,
            };
            check_links(conn, type_ids.as_deref(), new_user)?;
            let link_changes = user_id
                .as_ref()
                .is_some_and(|u| u.as_deref() != current.user_id.as_deref());
            if link_changes && let Some(old_login) = current.user_id.as_deref() {
                crate::models::token::end_login_feeds(conn, old_login, Some(&id))?;
            }
            therapist::update(conn, &id, &changes)?;
            if let Some(type_ids) = &type_ids {
                therapist::set_massage_types(conn, &id, type_ids)?;
            }
            audit::record(
                conn,
                &ctx,
                Action::TherapistUpdate,
                Subject::Therapist,
                Some(&id),
            )?;
            one(conn, &id)
        })
        .await?;
    Ok(web::Json(out))
}

/// Delete a therapist and their schedule (admin); refused while bookings refer to them
/// (deactivate instead).
#[utoipa::path(
    tag = "therapists",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Therapist id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such therapist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Still used by bookings", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/therapists/{id}")]
async fn delete_therapist(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let audited = (
        meta.actor(&caller),
        Action::TherapistDelete,
        Subject::Therapist,
    );
    super::delete_one(&state, audited, id, therapist::delete).await
}
