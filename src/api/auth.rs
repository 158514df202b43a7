//! Register, log in, refresh (rotating, with reuse detection), log out, and `/me`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{ApiJson, Lines, check, clean_text, is_forbidden, text, utc};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::rules::{check_email, check_password};
use crate::auth::tokens::{random_secret, sha256_hex};
use crate::auth::{AuthUser, password};
use crate::db::DbConn;
use crate::error::{ApiError, FieldError, Problem};
use crate::limits::client_key;
use crate::models::token::{self, RefreshToken};
use crate::models::user::{self, Role, User};
use crate::models::{new_id, now};
use crate::state::AppState;

/// Mounted under `/auth`, behind the tight rate limit.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout);
}

pub fn me_routes(cfg: &mut ServiceConfig) {
    cfg.service(me);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: Role,
    /// Whether emails other than password resets are sent.
    pub email_notifications: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        let role = u.role();
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            phone: u.phone,
            role,
            email_notifications: u.email_notifications,
            created_at: utc(u.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserOut,
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "ana@example.com", format = Email, max_length = 254, pattern = "^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    pub email: String,
    /// 8 to 128 characters.
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
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

pub fn check_phone(errors: &mut Vec<FieldError>, phone: Option<&str>) -> Option<String> {
    if let Some(raw) = phone
        && !clean_text(errors, "phone", raw, Lines::One)
    {
        return None;
    }
    let phone = phone.map(str::trim).filter(|p| !p.is_empty())?;
    let ok = phone.len() <= 32
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !ok {
        errors.push(FieldError::new(
            "phone",
            "must be at most 32 digits, spaces and + - ( ) .",
        ));
    }
    Some(phone.to_owned())
}

const HASHING_BUSY: &str = "password hashing queue full";

/// Hashing is deliberately slow; it runs on the dedicated hashing pool, never on the executor.
/// A full queue (a login flood) is answered 503 with Retry-After.
pub async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    state
        .hashing
        .run(move || password::hash(&password))
        .await
        .ok_or_else(|| ApiError::Unavailable(HASHING_BUSY.to_owned()))?
        .map_err(ApiError::internal)
}

pub async fn verify_password(
    state: &AppState,
    password: String,
    hash: String,
) -> Result<bool, ApiError> {
    state
        .hashing
        .run(move || password::verify(&password, &hash))
        .await
        .ok_or_else(|| ApiError::Unavailable(HASHING_BUSY.to_owned()))
}

/// Creates a refresh token in `family_id` (a new login when None) and signs an access token.
pub fn issue_tokens(
    conn: &mut DbConn,
    state: &AppState,
    user: User,
    family_id: Option<String>,
) -> Result<AuthResponse, ApiError> {
    let secret = random_secret(32);
    let at = now();
    let ttl = Duration::from_std(state.config.refresh_token_ttl).unwrap_or(Duration::days(30));
    token::insert(
        conn,
        &RefreshToken {
            id: new_id(),
            user_id: user.id.clone(),
            family_id: family_id.unwrap_or_else(new_id),
            token_hash: sha256_hex(&secret),
            expires_at: at + ttl,
            created_at: at,
            rotated_at: None,
            revoked_at: None,
        },
    )?;
    let access_token = state
        .jwt
        .issue(&user.id, user.role().as_str())
        .map_err(ApiError::internal)?;
    Ok(AuthResponse {
        user: user.into(),
        access_token,
        refresh_token: secret,
        token_type: "Bearer",
        expires_in: state.jwt.access_ttl.as_secs(),
    })
}

pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

const BAD_LOGIN: &str = "The email or password is not correct.";
const BAD_REFRESH: &str = "The refresh token is invalid, expired or already used.";

/// Register a client account.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and logged in", body = AuthResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (per address, or per account after failed logins)", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/register")]
async fn register(
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let email = user::normalize_email(&body.email);
    if let Err(ApiError::Validation { errors: e, .. }) = check_email(&body.email) {
        errors.extend(e);
    }
    if let Err(ApiError::Validation { errors: e, .. }) =
        check_password(&body.password, &[&email, &body.name])
    {
        errors.extend(e);
    }
    let name = text(&mut errors, "name", &body.name, 100);
    let phone = check_phone(&mut errors, body.phone.as_deref());
    check(errors)?;
    let password_hash = hash_password(&state, body.password).await?;
    let state2 = state.clone();
    let response = state
        .write(move |conn| {
            if user::find_by_email(conn, &email)?.is_some() {
                return Err(ApiError::conflict(
                    "email-taken",
                    "An account with this email already exists.",
                ));
            }
            let new = User::new(email, name, password_hash, phone, Role::Client);
            user::insert(conn, &new)?;
            let ctx = meta.user(&new.id, Role::Client);
            audit::record(
                conn,
                &ctx,
                Action::UserRegister,
                Subject::User,
                Some(&new.id),
            )?;
            issue_tokens(conn, &state2, new, None)
        })
        .await?;
    Ok(no_store(HttpResponse::Created()).json(response))
}

/// Log in with email and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (per address, or per account after failed logins)", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = user::normalize_email(&body.email);
    let client = client_key(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &state.config.trusted_proxies,
    );
    if state.config.rate_limit_enabled {
        state.login_guard.check(&email, client).await?;
    }
    let lookup = email.clone();
    // No account has an address with control characters (and PostgreSQL cannot even compare a
    // NUL): such an address is simply unknown.
    let found = if !body.email.chars().any(|c| is_forbidden(c, Lines::One)) {
        state
            .run(move |conn| Ok(user::find_by_email(conn, &lookup)?))
            .await?
    } else {
        None
    };
    // Unknown emails still pay for one verification, so timing does not reveal accounts.
    let hash = found.as_ref().map_or_else(
        || state.dummy_password_hash.clone(),
        |u| u.password_hash.clone(),
    );
    let password_ok = verify_password(&state, body.password, hash).await?;
    let user = match found {
        Some(user) if password_ok => user,
        _ => {
            state.login_guard.failed(&email, client).await;
            return Err(ApiError::Unauthorized(BAD_LOGIN));
        }
    };
    state.login_guard.succeeded(&email, client).await;
    let state2 = state.clone();
    let response = state
        .write(move |conn| issue_tokens(conn, &state2, user, None))
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

enum RefreshOutcome {
    Issued(Box<AuthResponse>),
    Rejected,
}

/// Exchange a refresh token for a new pair. The old token stops working; presenting an
/// already-rotated token revokes the whole login.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = AuthResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (per address, or per account after failed logins)", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = sha256_hex(&body.refresh_token);
    let state2 = state.clone();
    let outcome = state
        .write(move |conn| {
            // Rejections still commit: a detected reuse must leave the family revoked.
            let Some(presented) = token::find_by_hash(conn, &hash)? else {
                return Ok(RefreshOutcome::Rejected);
            };
            let at = now();
            if presented.revoked_at.is_some() || presented.expires_at <= at {
                return Ok(RefreshOutcome::Rejected);
            }
            if presented.rotated_at.is_some() || !token::mark_rotated(conn, &presented.id, at)? {
                tracing::warn!(family = %presented.family_id, "refresh token reuse; revoking the login");
                token::revoke_family(conn, &presented.family_id, at)?;
                return Ok(RefreshOutcome::Rejected);
            }
            let owner = user::find(conn, &presented.user_id)?;
            let issued = issue_tokens(conn, &state2, owner, Some(presented.family_id))?;
            Ok(RefreshOutcome::Issued(Box::new(issued)))
        })
        .await?;
    match outcome {
        RefreshOutcome::Issued(response) => Ok(no_store(HttpResponse::Ok()).json(response)),
        RefreshOutcome::Rejected => Err(ApiError::Unauthorized(BAD_REFRESH)),
    }
}

/// Log out: the refresh token's whole login stops working.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out (also when the token was unknown)"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (per address, or per account after failed logins)", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/logout")]
async fn logout(
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = sha256_hex(&body.refresh_token);
    state
        .write(move |conn| {
            if let Some(presented) = token::find_by_hash(conn, &hash)? {
                token::revoke_family(conn, &presented.family_id, now())?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own user.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserOut),
    )
)]
#[get("/me")]
async fn me(caller: AuthUser) -> web::Json<UserOut> {
    web::Json(caller.user.into())
}
