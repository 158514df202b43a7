//! User administration (admin only): create staff logins, change roles, remove accounts.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::PathId;
use super::auth::{UserOut, check_phone, hash_password};
use super::{ApiJson, ApiQuery, Page, check, created, double_option, into_page, page_params, text};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::rules::{check_email, check_password};
use crate::auth::{Admin, accounts};
use crate::error::{ApiError, Problem};
use crate::models::token::end_login_feeds;
use crate::models::user::{self, Role, User, UserChanges};
use crate::models::{now, therapist};
use crate::state::AppState;
use diesel::OptionalExtension;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(delete_user);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users with this role.
    pub role: Option<Role>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,200}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(format = Email, max_length = 254, pattern = "^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    pub email: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: String,
    #[schema(max_length = 32, pattern = "^[0-9 +().-]*$")]
    pub phone: Option<String>,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(format = Email, max_length = 254, pattern = "^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    pub email: Option<String>,
    #[schema(min_length = 8, max_length = 128)]
    pub password: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 32, pattern = "^[0-9 +().-]*$")]
    pub phone: Option<Option<String>>,
    pub role: Option<Role>,
}

fn validation_errors(result: Result<(), ApiError>, errors: &mut Vec<crate::error::FieldError>) {
    if let Err(ApiError::Validation { errors: e, .. }) = result {
        errors.extend(e);
    }
}

/// List users (admin).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<UserOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
async fn list_users(
    _admin: Admin,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<web::Json<Page<UserOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let role = query.role;
    let rows = state
        .run(move |conn| {
            Ok(user::list(
                conn,
                after.as_deref(),
                role,
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |u| u.id.clone(),
        UserOut::from,
    )))
}

/// Create a login with any role (admin).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
async fn create_user(
    Admin(admin): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let email = user::normalize_email(&body.email);
    validation_errors(check_email(&body.email), &mut errors);
    validation_errors(
        check_password(&body.password, &[&email, &body.name]),
        &mut errors,
    );
    let name = text(&mut errors, "name", &body.name, 100);
    let phone = check_phone(&mut errors, body.phone.as_deref());
    check(errors)?;
    let password_hash = hash_password(&state, body.password).await?;
    let role = body.role;
    let ctx = meta.actor(&admin);
    let new = state
        .write(move |conn| {
            if user::find_by_email(conn, &email)?.is_some() {
                return Err(ApiError::conflict(
                    "email-taken",
                    "An account with this email already exists.",
                ));
            }
            let new = User::new(email, name, password_hash, phone, role);
            user::insert(conn, &new)?;
            audit::record(conn, &ctx, Action::UserCreate, Subject::User, Some(&new.id))?;
            Ok(new)
        })
        .await?;
    Ok(created(format!("/api/v1/users/{}", new.id)).json(UserOut::from(new)))
}

/// One user (admin).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserOut),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
async fn get_user(
    _admin: Admin,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<UserOut>, ApiError> {
    let found = state.run(move |conn| Ok(user::find(conn, &id)?)).await?;
    Ok(web::Json(found.into()))
}

/// Change a user's details or role (admin).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken, or the last admin would lose the role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
async fn update_user(
    Admin(admin): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<web::Json<UserOut>, ApiError> {
    let mut errors = Vec::new();
    let email = body.email.as_deref().map(user::normalize_email);
    if let Some(email) = &body.email {
        validation_errors(check_email(email), &mut errors);
    }
    if let Some(password) = &body.password {
        // The account's own words count as common: the new email and name if they change,
        // and the current ones.
        let lookup = id.clone();
        let current = state
            .run(move |conn| Ok(user::find(conn, &lookup).optional()?))
            .await?;
        let mut inputs: Vec<&str> = Vec::new();
        inputs.extend(email.as_deref());
        inputs.extend(body.name.as_deref());
        if let Some(current) = &current {
            inputs.extend([current.email.as_str(), current.name.as_str()]);
        }
        validation_errors(check_password(password, &inputs), &mut errors);
    }
    let name = body
        .name
        .as_deref()
        .map(|n| text(&mut errors, "name", n, 100));
    let phone = body
        .phone
        .map(|p| p.and_then(|p| check_phone(&mut errors, Some(&p))));
    check(errors)?;
    let password_hash = match body.password {
        Some(password) => Some(hash_password(&state, password).await?),
        None => None,
    };
    let changes = UserChanges {
        email,
        password_hash,
        name,
        phone,
        role: body.role.map(|r| r.as_str().to_owned()),
        updated_at: Some(now()),
        ..Default::default()
    };
    let ctx = meta.actor(&admin);
    let updated = state
        .write(move |conn| {
            let updated = accounts::update(conn, &id, changes)?;
            audit::record(conn, &ctx, Action::UserUpdate, Subject::User, Some(&id))?;
            Ok(updated)
        })
        .await?;
    Ok(web::Json(updated.into()))
}

/// Delete a user and their logins (admin). Admins cannot delete themselves.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Deleting yourself, or a user other data still refers to", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/{id}")]
async fn delete_user(
    Admin(admin): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    if id == admin.id() {
        return Err(ApiError::conflict(
            "self-delete",
            "Admins cannot delete their own account.",
        ));
    }
    let ctx = meta.actor(&admin);
    state
        .write(move |conn| {
            // The login's feeds go with it, including a therapist feed it may have minted.
            let profile = therapist::find_by_user(conn, &id)?;
            match user::delete(conn, &id)? {
                0 => Err(ApiError::NotFound),
                _ => {
                    end_login_feeds(conn, &id, profile.as_ref().map(|t| t.id.as_str()))?;
                    audit::record(conn, &ctx, Action::UserDelete, Subject::User, Some(&id))?;
                    Ok(())
                }
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
