//! The audit trail: who did or saw what, from where, in which request. One function,
//! `record`, is called inside the transaction of the write it records (or, for a read of health
//! data, before the answer is sent), so an action and its audit row commit together or not at
//! all.
//!
//! A handler takes a `RequestMeta` (the client address, taken as the logs and rate limits take
//! it, and the request id) beside its caller, and makes the `AuditContext` with
//! `meta.actor(&caller)`:
//!
//! ```text
//! let ctx = meta.actor(&caller);
//! state.write(move |conn| {
//!     let row = thing::update(conn, ...)?;
//!     audit::record(conn, &ctx, Action::ThingUpdate, Subject::Thing, Some(&row.id))?;
//!     Ok(row)
//! })
//! ```

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::auth::AuthUser;
use crate::db::DbConn;
use crate::models::audit_event::{self, AuditEvent};
use crate::models::{new_id, now};
use crate::state::AppState;

/// What was done. The text forms are what `GET /audit?action=` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    IntakeRead,
    IntakeWrite,
    NotesRead,
    NotesWrite,
    UserCreate,
    UserUpdate,
    UserDelete,
    AccountUpdate,
    PasswordChange,
    ApiTokenCreate,
    ApiTokenRevoke,
    HealthKeyRotate,
}

impl Action {
    pub const ALL: [Self; 12] = [
        Self::IntakeRead,
        Self::IntakeWrite,
        Self::NotesRead,
        Self::NotesWrite,
        Self::UserCreate,
        Self::UserUpdate,
        Self::UserDelete,
        Self::AccountUpdate,
        Self::PasswordChange,
        Self::ApiTokenCreate,
        Self::ApiTokenRevoke,
        Self::HealthKeyRotate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IntakeRead => "intake.read",
            Self::IntakeWrite => "intake.write",
            Self::NotesRead => "notes.read",
            Self::NotesWrite => "notes.write",
            Self::UserCreate => "user.create",
            Self::UserUpdate => "user.update",
            Self::UserDelete => "user.delete",
            Self::AccountUpdate => "account.update",
            Self::PasswordChange => "account.password_change",
            Self::ApiTokenCreate => "api_token.create",
            Self::ApiTokenRevoke => "api_token.revoke",
            Self::HealthKeyRotate => "health_key.rotate",
        }
    }
}

/// What an action was done to; `subject_id` names the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A client's health data (intake); the id is the client's user id.
    Client,
    /// A booking (its treatment note); the id is the booking's.
    Booking,
    User,
    ApiToken,
    /// All the health data at once (key rotation); no id.
    HealthData,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Booking => "booking",
            Self::User => "user",
            Self::ApiToken => "api_token",
            Self::HealthData => "health_data",
        }
    }
}

/// Who acts, and from where.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor_id: Option<String>,
    /// `client`, `therapist`, `admin`, or `system` for the command line.
    pub actor_role: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl AuditContext {
    /// An operator at the command line.
    pub fn system() -> Self {
        Self {
            actor_id: None,
            actor_role: "system".to_owned(),
            ip: None,
            request_id: None,
        }
    }
}

/// Where a request came from: the client address (through trusted proxies, as the logs and the
/// rate limits take it) and the request id the logs and the `X-Request-Id` header carry.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    pub fn of(req: &HttpRequest) -> Self {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.config.trusted_proxies.clone())
            .unwrap_or_default();
        let ip = req.peer_addr().map(|peer| {
            crate::limits::client_addr(Some(peer.ip()), req.headers(), &trusted).to_string()
        });
        let request_id = req
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(ToString::to_string);
        Self { ip, request_id }
    }

    /// The context of an action by `caller` in this request.
    pub fn actor(&self, caller: &AuthUser) -> AuditContext {
        AuditContext {
            actor_id: Some(caller.id().to_owned()),
            actor_role: caller.role.as_str().to_owned(),
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequest for RequestMeta {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self::of(req)))
    }
}

/// Appends one event. Call it inside the transaction of the write it records.
pub fn record(
    conn: &mut DbConn,
    ctx: &AuditContext,
    action: Action,
    subject: Subject,
    subject_id: Option<&str>,
) -> diesel::QueryResult<()> {
    audit_event::insert(
        conn,
        &AuditEvent {
            id: new_id(),
            at: now(),
            actor_id: ctx.actor_id.clone(),
            actor_role: ctx.actor_role.clone(),
            action: action.as_str().to_owned(),
            subject_type: subject.as_str().to_owned(),
            subject_id: subject_id.map(str::to_owned),
            ip: ctx.ip.clone(),
            request_id: ctx.request_id.clone(),
        },
    )
}
