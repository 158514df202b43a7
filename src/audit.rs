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
use crate::models::user::Role;
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
    UserRegister,
    PasswordReset,
    BookingCreate,
    BookingCancel,
    BookingReschedule,
    BookingComplete,
    BookingNoShow,
    HoldCreate,
    HoldRelease,
    SeriesCreate,
    SeriesCancel,
    WaitlistJoin,
    WaitlistLeave,
    ScheduleUpdate,
    TimeOffCreate,
    TimeOffDelete,
    OverrideUpdate,
    OverrideDelete,
    ClosureCreate,
    ClosureDelete,
    LocationCreate,
    LocationUpdate,
    LocationDelete,
    RoomCreate,
    RoomUpdate,
    RoomDelete,
    MassageTypeCreate,
    MassageTypeUpdate,
    MassageTypeDelete,
    TherapistCreate,
    TherapistUpdate,
    TherapistDelete,
    CalendarTokenCreate,
    WebhookCreate,
    WebhookDelete,
}

impl Action {
    pub const ALL: [Self; 47] = [
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
        Self::UserRegister,
        Self::PasswordReset,
        Self::BookingCreate,
        Self::BookingCancel,
        Self::BookingReschedule,
        Self::BookingComplete,
        Self::BookingNoShow,
        Self::HoldCreate,
        Self::HoldRelease,
        Self::SeriesCreate,
        Self::SeriesCancel,
        Self::WaitlistJoin,
        Self::WaitlistLeave,
        Self::ScheduleUpdate,
        Self::TimeOffCreate,
        Self::TimeOffDelete,
        Self::OverrideUpdate,
        Self::OverrideDelete,
        Self::ClosureCreate,
        Self::ClosureDelete,
        Self::LocationCreate,
        Self::LocationUpdate,
        Self::LocationDelete,
        Self::RoomCreate,
        Self::RoomUpdate,
        Self::RoomDelete,
        Self::MassageTypeCreate,
        Self::MassageTypeUpdate,
        Self::MassageTypeDelete,
        Self::TherapistCreate,
        Self::TherapistUpdate,
        Self::TherapistDelete,
        Self::CalendarTokenCreate,
        Self::WebhookCreate,
        Self::WebhookDelete,
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
            Self::UserRegister => "user.register",
            Self::PasswordReset => "account.password_reset",
            Self::BookingCreate => "booking.create",
            Self::BookingCancel => "booking.cancel",
            Self::BookingReschedule => "booking.reschedule",
            Self::BookingComplete => "booking.complete",
            Self::BookingNoShow => "booking.no_show",
            Self::HoldCreate => "hold.create",
            Self::HoldRelease => "hold.release",
            Self::SeriesCreate => "series.create",
            Self::SeriesCancel => "series.cancel",
            Self::WaitlistJoin => "waitlist.join",
            Self::WaitlistLeave => "waitlist.leave",
            Self::ScheduleUpdate => "schedule.update",
            Self::TimeOffCreate => "time_off.create",
            Self::TimeOffDelete => "time_off.delete",
            Self::OverrideUpdate => "override.update",
            Self::OverrideDelete => "override.delete",
            Self::ClosureCreate => "closure.create",
            Self::ClosureDelete => "closure.delete",
            Self::LocationCreate => "location.create",
            Self::LocationUpdate => "location.update",
            Self::LocationDelete => "location.delete",
            Self::RoomCreate => "room.create",
            Self::RoomUpdate => "room.update",
            Self::RoomDelete => "room.delete",
            Self::MassageTypeCreate => "massage_type.create",
            Self::MassageTypeUpdate => "massage_type.update",
            Self::MassageTypeDelete => "massage_type.delete",
            Self::TherapistCreate => "therapist.create",
            Self::TherapistUpdate => "therapist.update",
            Self::TherapistDelete => "therapist.delete",
            Self::CalendarTokenCreate => "calendar_token.create",
            Self::WebhookCreate => "webhook.create",
            Self::WebhookDelete => "webhook.delete",
        }
    }
}

/// What an action was done to; `subject_id` names the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A client's health data (intake); the id is the client's user id.
    Client,
    /// A booking (its treatment note, or the booking itself); the id is the booking's.
    Booking,
    User,
    ApiToken,
    /// All the health data at once (key rotation); no id.
    HealthData,
    Hold,
    Series,
    WaitlistEntry,
    /// A therapist: the catalog row, or their weekly schedule, a date override or their
    /// calendar feed token (the id is the therapist's).
    Therapist,
    TimeOff,
    Closure,
    Location,
    Room,
    MassageType,
    Webhook,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Booking => "booking",
            Self::User => "user",
            Self::ApiToken => "api_token",
            Self::HealthData => "health_data",
            Self::Hold => "hold",
            Self::Series => "series",
            Self::WaitlistEntry => "waitlist_entry",
            Self::Therapist => "therapist",
            Self::TimeOff => "time_off",
            Self::Closure => "closure",
            Self::Location => "location",
            Self::Room => "room",
            Self::MassageType => "massage_type",
            Self::Webhook => "webhook",
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
        self.user(caller.id(), caller.role)
    }

    /// The context of an action by a login that is not signed in yet: one registering, or
    /// one setting a new password with a reset token.
    pub fn user(&self, id: &str, role: Role) -> AuditContext {
        AuditContext {
            actor_id: Some(id.to_owned()),
            actor_role: role.as_str().to_owned(),
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

#[cfg(test)]
mod tests {
    use super::Action;

    /// `GET /audit?action=` takes `^[a-z_.]{0,64}$`: every action's name must pass it, once.
    #[test]
    fn every_action_name_is_filterable_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            let name = action.as_str();
            assert!(
                name.len() <= 64
                    && name.contains('.')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{name}"
            );
            assert!(seen.insert(name), "{name} twice");
        }
    }
}
