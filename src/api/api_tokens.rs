//! Script tokens for the admin's scripts and integrations (admin only). A token acts with its
//! creator's role; it is shown once, stored hashed, and revoked at once by DELETE.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::PathId;
use super::{
    ApiJson, ApiQuery, Page, PageQuery, check, created, into_page, page_params, text, utc,
};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::auth::tokens::{SCRIPT_TOKEN_PREFIX, random_secret, sha256_hex};
use crate::error::{ApiError, FieldError, Problem};
use crate::models::token::{self, ApiToken};
use crate::models::{new_id, now};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_token)
        .service(list_tokens)
        .service(revoke_token);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    #[schema(
        example = "nightly schedule import",
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: String,
    /// Optional expiry, in the future; without it the token lives until revoked.
    #[serde(default, deserialize_with = "super::bounds::optional_instant")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub name: String,
    /// The creator, whose role the token acts with.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for ApiTokenOut {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            user_id: t.user_id,
            created_at: utc(t.created_at),
            expires_at: t.expires_at.map(utc),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub meta: ApiTokenOut,
    /// The secret, shown only in this response. Use it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// Create a script token (admin). The token is shown once.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = CreateApiToken,
    responses(
        (status = 201, description = "Created; `token` is shown only now", body = CreatedApiToken),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api-tokens")]
async fn create_token(
    Admin(admin): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateApiToken>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", &body.name, 100);
    if body.expires_at.is_some_and(|e| e <= Utc::now()) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    check(errors)?;
    let secret = format!("{SCRIPT_TOKEN_PREFIX}{}", random_secret(32));
    let row = ApiToken {
        id: new_id(),
        user_id: admin.id().to_owned(),
        name,
        token_hash: sha256_hex(&secret),
        created_at: now(),
        expires_at: body.expires_at.map(|e| e.naive_utc()),
        revoked_at: None,
        last_used_at: None,
    };
    let ctx = meta.actor(&admin);
    let row = state
        .write(move |conn| {
            token::insert_api_token(conn, &row)?;
            audit::record(
                conn,
                &ctx,
                Action::ApiTokenCreate,
                Subject::ApiToken,
                Some(&row.id),
            )?;
            Ok(row)
        })
        .await?;
    Ok(
        created(format!("/api/v1/api-tokens/{}", row.id)).json(CreatedApiToken {
            meta: row.into(),
            token: secret,
        }),
    )
}

/// Live script tokens (admin); secrets are never shown again.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = Page<ApiTokenOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api-tokens")]
async fn list_tokens(
    _admin: Admin,
    state: web::Data<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<ApiTokenOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let rows = state
        .run(move |conn| {
            Ok(token::list_api_tokens(
                conn,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |t| t.id.clone(),
        ApiTokenOut::from,
    )))
}

/// Revoke a script token (admin); it stops working on the next request.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api-tokens/{id}")]
async fn revoke_token(
    Admin(admin): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let ctx = meta.actor(&admin);
    state
        .write(
            move |conn| match token::revoke_api_token(conn, &id, now())? {
                0 => Err(ApiError::NotFound),
                _ => Ok(audit::record(
                    conn,
                    &ctx,
                    Action::ApiTokenRevoke,
                    Subject::ApiToken,
                    Some(&id),
                )?),
            },
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
