//! Treatment rooms of a location, part of the catalog. Anyone may read; admins write.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::locations::name_taken;
use super::{
    ApiJson, ApiQuery, Page, PageQuery, PathId, check, created, into_page, page_params, text,
};
use crate::audit::{self, Action, RequestMeta, Subject};
use crate::auth::Admin;
use crate::error::{ApiError, Problem};
use crate::models::catalog::{self, Room, RoomChanges};
use crate::models::{new_id, now};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_rooms)
        .service(create_room)
        .service(get_room)
        .service(update_room)
        .service(delete_room);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomOut {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: String,
    pub name: String,
    pub active: bool,
}

impl From<Room> for RoomOut {
    fn from(r: Room) -> Self {
        Self {
            id: r.id,
            location_id: r.location_id,
            name: r.name,
            active: r.active,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: String,
    /// Defaults to true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoom {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFEFF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// Rooms of a location.
#[utoipa::path(
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Location id"), PageQuery),
    responses(
        (status = 200, description = "A page of rooms", body = Page<RoomOut>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/locations/{id}/rooms")]
async fn list_rooms(
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<RoomOut>>, ApiError> {
    let (limit, after) = page_params(query.limit, query.cursor.as_deref())?;
    let rows = state
        .run(move |conn| {
            catalog::find_location(conn, &id)?;
            Ok(catalog::list_rooms(
                conn,
                &id,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(web::Json(into_page(
        rows,
        limit,
        |r| r.id.clone(),
        RoomOut::from,
    )))
}

/// Add a room to a location (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Location id")),
    request_body = CreateRoom,
    responses(
        (status = 201, description = "Created", body = RoomOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already used at this location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/locations/{id}/rooms")]
async fn create_room(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<CreateRoom>,
) -> Result<HttpResponse, ApiError> {
    let location_id = id;
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", &body.name, 100);
    check(errors)?;
    let room = Room {
        id: new_id(),
        location_id,
        name,
        active: body.active.unwrap_or(true),
        created_at: now(),
    };
    let ctx = meta.actor(&caller);
    let room = state
        .write(move |conn| {
            catalog::find_location(conn, &room.location_id)?;
            catalog::insert_room(conn, &room).map_err(name_taken)?;
            audit::record(
                conn,
                &ctx,
                Action::RoomCreate,
                Subject::Room,
                Some(&room.id),
            )?;
            Ok(room)
        })
        .await?;
    Ok(created(format!("/api/v1/rooms/{}", room.id)).json(RoomOut::from(room)))
}

/// One room.
#[utoipa::path(
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room", body = RoomOut),
        (status = 404, description = "No such room", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rooms/{id}")]
async fn get_room(
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<web::Json<RoomOut>, ApiError> {
    let found = state
        .run(move |conn| Ok(catalog::find_room(conn, &id)?))
        .await?;
    Ok(web::Json(found.into()))
}

/// Rename or (de)activate a room (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")),
    request_body = UpdateRoom,
    responses(
        (status = 200, description = "Updated", body = RoomOut),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name already used at this location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/rooms/{id}")]
async fn update_room(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateRoom>,
) -> Result<web::Json<RoomOut>, ApiError> {
    let mut errors = Vec::new();
    let changes = RoomChanges {
        name: body.name.map(|v| text(&mut errors, "name", &v, 100)),
        active: body.active,
    };
    check(errors)?;
    let ctx = meta.actor(&caller);
    let updated = state
        .write(move |conn| {
            catalog::find_room(conn, &id)?;
            if changes.name.is_some() || changes.active.is_some() {
                catalog::update_room(conn, &id, &changes).map_err(name_taken)?;
                audit::record(conn, &ctx, Action::RoomUpdate, Subject::Room, Some(&id))?;
            }
            Ok(catalog::find_room(conn, &id)?)
        })
        .await?;
    Ok(web::Json(updated.into()))
}

/// Delete a room (admin).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Still used by bookings", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/rooms/{id}")]
async fn delete_room(
    Admin(caller): Admin,
    meta: RequestMeta,
    state: web::Data<AppState>,
    PathId(id): PathId,
) -> Result<HttpResponse, ApiError> {
    let audited = (meta.actor(&caller), Action::RoomDelete, Subject::Room);
    super::delete_one(&state, audited, id, catalog::delete_room).await
}
