//! Authentication: passwords, tokens, and the extractors that put the caller (and their role)
//! into handler arguments.

pub mod accounts;
pub mod password;
pub mod reset;
pub mod rules;
pub mod tokens;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use diesel::OptionalExtension;

use crate::db::Db;
use crate::error::ApiError;
use crate::models::token;
use crate::models::user::{self, Role, User};
use tokens::JwtKeys;

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub role: Role,
}

impl AuthUser {
    pub fn id(&self) -> &str {
        &self.user.id
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("A bearer token is required."))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("The Authorization header is not valid."))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "The Authorization header must be `Bearer <token>`.",
        ))?;
    Ok(token.to_owned())
}

const INVALID_TOKEN: &str = "The token is invalid or expired.";

async fn authenticate(req: HttpRequest) -> Result<AuthUser, ApiError> {
    let db = req
        .app_data::<web::Data<Db>>()
        .ok_or_else(|| ApiError::internal("database missing from the app"))?
        .clone();
    let jwt = req
        .app_data::<web::Data<JwtKeys>>()
        .ok_or_else(|| ApiError::internal("token keys missing from the app"))?;
    let token = bearer_token(&req)?;
    let found = if token.starts_with(tokens::SCRIPT_TOKEN_PREFIX) {
        // Script tokens are looked up on every request, so a revocation applies at once.
        let hash = tokens::sha256_hex(&token);
        db.run::<_, ApiError, _>(move |conn| {
            let at = crate::models::now();
            let Some(script) = token::live_api_token(conn, &hash, at)? else {
                return Ok(None);
            };
            Ok(user::find(conn, &script.user_id).optional()?)
        })
        .await?
    } else {
        let claims = jwt
            .verify(&token)
            .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
        // The role comes from the database, not the token, so a role change or a deleted user
        // takes effect on the next request.
        db.run::<_, ApiError, _>(move |conn| Ok(user::find(conn, &claims.sub).optional()?))
            .await?
    };
    let user = found.ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    let role = user.role();
    Ok(AuthUser { user, role })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// An authenticated admin; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct Admin(pub AuthUser);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            if caller.role == Role::Admin {
                Ok(Admin(caller))
            } else {
                Err(ApiError::Forbidden)
            }
        })
    }
}

/// An authenticated therapist or admin (staff); clients get 403.
#[derive(Debug, Clone)]
pub struct Staff(pub AuthUser);

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            match caller.role {
                Role::Admin | Role::Therapist => Ok(Staff(caller)),
                Role::Client => Err(ApiError::Forbidden),
            }
        })
    }
}
