//! The framework ceiling for BENCHMARKS.md: the least a JSON endpoint on this stack can cost.
//! actix-web with the same worker count as `inspine serve`, an r2d2 pool of SQLite connections
//! (WAL, like the service's), and one handler that answers one indexed SELECT as JSON, run on
//! actix's blocking pool as the service runs its queries. Nothing else: no middleware, no auth,
//! no validation. `POST /writes` is the same for a write: one row inserted in a `BEGIN
//! IMMEDIATE` transaction on one writer connection, writers taking turns on a mutex, as the
//! service writes to SQLite (its own table, `ceiling_writes`, made at start).
//!
//!     cargo build --release --example ceiling
//!     target/release/examples/ceiling DB.sqlite 127.0.0.1:8097 &
//!     wrk -c32 -d15s 'http://127.0.0.1:8097/therapists/THERAPIST_ID'
//!     wrk -c32 -d15s -s scripts/ceiling_write.lua http://127.0.0.1:8097/writes
//!
//! DB.sqlite is any database the service made (scripts/loadtest.sh keeps its small one).

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::Text;

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

#[derive(QueryableByName, serde::Serialize)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
}

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

async fn therapist(pool: web::Data<SqlitePool>, id: web::Path<String>) -> HttpResponse {
    let pool = pool.clone();
    let found = web::block(move || {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        diesel::sql_query("SELECT id, name FROM therapists WHERE id = ?")
            .bind::<Text, _>(id.into_inner())
            .get_result::<Row>(&mut conn)
            .optional()
            .map_err(|e| e.to_string())
    })
    .await;
    match found {
        Ok(Ok(Some(row))) => HttpResponse::Ok().json(row),
        Ok(Ok(None)) => HttpResponse::NotFound().finish(),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// The writer's connection, in turn (see the module's comment).
type Writer = std::sync::Mutex<SqliteConnection>;

#[derive(serde::Deserialize, serde::Serialize)]
struct Written {
    #[serde(default)]
    id: String,
    note: String,
}

async fn write(writer: web::Data<Writer>, body: web::Json<Written>) -> HttpResponse {
    let writer = writer.clone();
    let mut row = body.into_inner();
    let written = web::block(move || {
        let mut conn = writer.lock().map_err(|e| e.to_string())?;
        row.id = uuid::Uuid::now_v7().to_string();
        conn.immediate_transaction(|conn| {
            diesel::sql_query("INSERT INTO ceiling_writes (id, note) VALUES (?, ?)")
                .bind::<Text, _>(&row.id)
                .bind::<Text, _>(&row.note)
                .execute(conn)
        })
        .map_err(|e| e.to_string())?;
        Ok::<_, String>(row)
    })
    .await;
    match written {
        Ok(Ok(row)) => HttpResponse::Created().json(row),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(bind)) = (args.next(), args.next()) else {
        eprintln!("usage: ceiling DB.sqlite HOST:PORT");
        std::process::exit(2);
    };
    let pool = Pool::builder()
        .max_size(8)
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::<SqliteConnection>::new(db.clone()))
        .map_err(std::io::Error::other)?;
    let mut conn = SqliteConnection::establish(&db).map_err(std::io::Error::other)?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         CREATE TABLE IF NOT EXISTS ceiling_writes (id TEXT PRIMARY KEY, note TEXT NOT NULL);",
    )
    .map_err(std::io::Error::other)?;
    let writer = web::Data::new(Writer::new(conn));
    let pool = web::Data::new(pool);
    HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(writer.clone())
            .route("/therapists/{id}", web::get().to(therapist))
            .route("/writes", web::post().to(write))
    })
    .bind(bind)?
    .run()
    .await
}
