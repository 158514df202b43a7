//! Account self-service: the caller edits their profile, changes their password and exports
//! their data (`/me/...`); anyone may ask for a password-reset email and confirm a reset
//! (`/auth/password-reset...`, behind the /auth rate limit). The rules live in
//! `auth::accounts` and `auth::reset`.

use super::notifications::NotificationOut;
use actix_web::rt::time::{Instant, sleep_until};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{
    AuthResponse, UserOut, check_phone, hash_password, issue_tokens, no_store, verify_password,
};
use super::bookings::BookingOut;
use super::clinical::{IntakeOut, TreatmentNoteOut};
use super::{ApiJson, check, double_option, text};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::rules::{check_email, check_password_field};
use crate::auth::{AuthUser, accounts, reset};
use crate::error::{ApiError, Problem};
use crate::limits::client_key;
use crate::models::now;
use crate::models::user::{self, UserChanges};
use crate::state::AppState;

/// Mounted under `/auth`, behind the tight rate limit.
pub fn auth_routes(cfg: &mut ServiceConfig) {
    cfg.service(request_password_reset)
        .service(confirm_password_reset);
}

pub fn me_routes(cfg: &mut ServiceConfig) {
    cfg.service(update_me)
        .service(change_password)
        .service(export_me);
}

/// The caller's own changes. Email, role and password are not among them (422 like any
/// unknown field): the password has its own endpoint, email and role are an admin's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: Option<String>,
    /// `null` removes the phone number.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 32, pattern = "^[0-9 +().-]*$")]
    pub phone: Option<Option<String>>,
    /// `false` stops every email but password resets, and drops those still waiting to be sent.
    pub email_notifications: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 128 characters, not common or made of the account's own email or name.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(example = "ana@example.com", format = Email, max_length = 254, pattern = "^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    pub email: String,
}

/// The answer to a reset request: always empty, whether the email has an account or not.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequested {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the reset email.
    #[schema(max_length = 256, pattern = "^[A-Za-z0-9_-]+$")]
    pub token: String,
    /// 8 to 128 characters, not common or made of the account's own email or name.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Everything stored about the caller. Never password hashes or token material.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountExport {
    pub user: UserOut,
    /// The caller's bookings as the client.
    pub bookings: Vec<BookingOut>,
    /// For a login linked to a therapist profile: the bookings with that therapist (what
    /// `GET /bookings` shows them). Empty for everyone else.
    pub therapist_bookings: Vec<BookingOut>,
    /// The caller's waitlist entries, as they read now.
    pub waitlist: Vec<crate::booking::waitlist::EntryView>,
    /// Every version of the caller's intake (health history), oldest first, decrypted.
    pub intake: Vec<IntakeOut>,
    /// The treatment notes about the caller (as the client), decrypted.
    pub treatment_notes: Vec<TreatmentNoteOut>,
    /// Emails sent or queued for the caller: what, when and its status (not the bodies: a
    /// reset email's link is not kept).
    pub notifications: Vec<NotificationOut>,
}

/// Change the caller's name, phone or email preference.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "Updated", body = UserOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a field the caller may not set here (email, role, password)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/me")]
async fn update_me(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<web::Json<UserOut>, ApiError> {
    let mut errors = Vec::new();
    let name = body
        .name
        .as_deref()
        .map(|n| text(&mut errors, "name", n, 100));
    let phone = body
        .phone
        .map(|p| p.and_then(|p| check_phone(&mut errors, Some(&p))));
    check(errors)?;
    let changes = UserChanges {
        name,
        phone,
        email_notifications: body.email_notifications,
        updated_at: Some(now()),
        ..Default::default()
    };
    let ctx = meta.actor(&caller);
    let id = caller.user.id;
    let updated = state
        .write(move |conn| {
            let updated = accounts::update(conn, &id, changes)?;
            audit::record(conn, &ctx, Action::AccountUpdate, Subject::User, Some(&id))?;
            Ok(updated)
        })
        .await?;
    Ok(web::Json(updated.into()))
}

/// Change the caller's password. Every other login of the account ends; the answer is the one
/// new login.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; a new token pair, every other refresh token revoked", body = AuthResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token, or (`wrong-password`) the current password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password is too weak, or invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Backed off after failed attempts (shared with login), or rate limited", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/me/password")]
async fn change_password(
    req: HttpRequest,
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = meta.actor(&caller);
    let account = caller.user;
    // A wrong current password counts as a failed login of the account from this client, so
    // a stolen access token cannot be used to guess the password faster than the login can.
    let client = client_key(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &state.config.trusted_proxies,
    );
    if state.config.rate_limit_enabled {
        state.login_guard.check(&account.email, client).await?;
    }
    check_password_field(
        "new_password",
        &body.new_password,
        &[&account.email, &account.name],
    )?;
    let verified_hash = account.password_hash.clone();
    if !verify_password(&state, body.current_password, verified_hash.clone()).await? {
        state.login_guard.failed(&account.email, client).await;
        return Err(ApiError::WrongPassword);
    }
    state.login_guard.succeeded(&account.email, client).await;
    let new_hash = hash_password(&state, body.new_password).await?;
    let state2 = state.clone();
    let response = state
        .write(move |conn| {
            let changed =
                accounts::change_password(conn, &account.id, &verified_hash, &new_hash, now())?;
            audit::record(
                conn,
                &ctx,
                Action::PasswordChange,
                Subject::User,
                Some(&account.id),
            )?;
            issue_tokens(conn, &state2, changed, None)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// Everything stored about the caller, as one JSON document.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's data (sent with `Cache-Control: no-store`)", body = AccountExport),
    )
)]
#[get("/me/export")]
async fn export_me(
    caller: AuthUser,
    meta: RequestMeta,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ctx = meta.actor(&caller);
    let key = state.health_key.clone();
    let id = caller.user.id;
    let export = state
        .write(move |conn| {
            let data = accounts::export(conn, &id)?;
            let intake = crate::clinical::intake::versions(conn, &key, &id)?;
            let notes = crate::clinical::notes::about_client(conn, &key, &id)?;
            // Reading one's own health data is still a read of health data.
            if !intake.is_empty() {
                audit::record(conn, &ctx, Action::IntakeRead, Subject::Client, Some(&id))?;
            }
            if !notes.is_empty() {
                audit::record(conn, &ctx, Action::NotesRead, Subject::Client, Some(&id))?;
            }
            let mapped = |rows: Vec<crate::models::booking::Booking>| {
                rows.into_iter().map(BookingOut::from).collect::<Vec<_>>()
            };
            Ok(AccountExport {
                user: data.user.into(),
                bookings: BookingOut::with_intake_flags(conn, mapped(data.bookings))?,
                therapist_bookings: BookingOut::with_intake_flags(
                    conn,
                    mapped(data.therapist_bookings),
                )?,
                waitlist: data.waitlist,
                intake: intake.into_iter().map(IntakeOut::from).collect(),
                treatment_notes: notes.into_iter().map(TreatmentNoteOut::from).collect(),
                notifications: data
                    .notifications
                    .into_iter()
                    .map(NotificationOut::from)
                    .collect(),
            })
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(export))
}

/// Every answer to a reset request takes at least this long from the handler's start.
const RESET_REQUEST_MIN_DURATION: std::time::Duration = std::time::Duration::from_millis(250);

/// Ask for a password-reset email. The answer is the same whether the email has an account or
/// not; an account gets at most one reset email a minute.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (also when no account has this email)", body = ResetRequested),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited per address", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/password-reset")]
async fn request_password_reset(
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    // No enumeration by timing: an unknown email skips the insert and the email, so it would
    // answer a little faster. The lookup and the writes run in one transaction whatever the
    // email, and every answer is then held until a fixed time after the start, well above what
    // that transaction takes, so both kinds of answer leave at the same moment. (A malformed
    // address is refused at once; that tells nothing about accounts.)
    let answer_at = Instant::now() + RESET_REQUEST_MIN_DURATION;
    check_email(&body.email)?;
    let email = user::normalize_email(&body.email);
    let config = state.config.clone();
    let outcome = state
        .write(move |conn| reset::request(conn, &config, &email, now()))
        .await;
    sleep_until(answer_at).await;
    outcome?;
    Ok(HttpResponse::Accepted().json(ResetRequested {}))
}

/// Set a new password with the token from a reset email. Every login of the account ends.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password set; every refresh token of the account revoked"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reset-token-invalid`: the token is unknown, used or expired; or the new password is too weak", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited per address", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[post("/password-reset/confirm")]
async fn confirm_password_reset(
    req: HttpRequest,
    meta: RequestMeta,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let token = body.token.clone();
    let account = state
        .run(move |conn| reset::account_for(conn, &token, now()))
        .await?;
    check_password_field(
        "new_password",
        &body.new_password,
        &[&account.email, &account.name],
    )?;
    let new_hash = hash_password(&state, body.new_password).await?;
    let token = body.token;
    let account = state
        .write(move |conn| {
            let account = reset::confirm(conn, &token, new_hash, now())?;
            let ctx = meta.user(&account.id, account.role());
            audit::record(
                conn,
                &ctx,
                Action::PasswordReset,
                Subject::User,
                Some(&account.id),
            )?;
            Ok(account)
        })
        .await?;
    // Whoever holds the emailed token owns the account: failed logins this client made while
    // the password was forgotten no longer hold it back.
    let client = client_key(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &state.config.trusted_proxies,
    );
    state.login_guard.succeeded(&account.email, client).await;
    Ok(HttpResponse::NoContent().finish())
}
