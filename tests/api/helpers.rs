//! The harness: every test gets its own database (a temp SQLite file, or a fresh PostgreSQL
//! database when TEST_DATABASE_URL is set) and talks to the in-process app over HTTP requests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_http::Request;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header::HeaderMap};
use actix_web::test;
use diesel::{Connection, RunQueryDsl, sql_query};
pub use inspine::scheduling::Zone;
use serde_json::{Value, json};

use inspine::app::{self, AppState};
use inspine::config::Config;
use inspine::models::user::{self, Role, User};

pub const PASSWORD: &str = "correct horse battery";

/// The health-data key every test app starts with unless it chooses another.
pub const TEST_HEALTH_KEY: &str =
    "4242424242424242424242424242424242424242424242424242424242424242";

/// A change to the state before the app is built.
type Adjust<'a> = Box<dyn FnOnce(&mut AppState) + 'a>;

type Call = Rc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = ServiceResponse<BoxBody>>>>>;

enum DbGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// A second instance's: the first one's guard removes the database.
    Borrowed,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let DbGuard::Postgres { admin_url, name } = self
            && let Ok(mut conn) = diesel::PgConnection::establish(admin_url)
        {
            let _ = sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    call: Call,
    pub state: actix_web::web::Data<AppState>,
    pub database_url: String,
    /// The settings the test chose (kept for `restart`).
    env: HashMap<&'static str, String>,
    _guard: DbGuard,
    _data_dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts the status and, for errors, the problem+json shape; returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.raw)
        );
        if status >= 400 {
            assert_eq!(
                self.header("content-type").as_deref(),
                Some("application/problem+json"),
                "errors are problem+json"
            );
            assert_eq!(self.body["status"], json!(status));
            assert!(
                self.body["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("https://inspine.example/problems/"))
            );
            assert!(self.body["title"].is_string());
            assert!(self.body["detail"].is_string());
        }
        &self.body
    }

    #[track_caller]
    pub fn problem_type(&self) -> String {
        self.body["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("https://inspine.example/problems/")
            .to_owned()
    }
}

/// One request, built fluently.
pub struct Req<'a> {
    app: &'a TestApp,
    inner: test::TestRequest,
}

impl Req<'_> {
    pub fn token(mut self, token: &str) -> Self {
        self.inner = self
            .inner
            .insert_header(("Authorization", format!("Bearer {token}")));
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.inner = self.inner.insert_header((name, value.to_owned()));
        self
    }

    /// The TCP peer the request comes from, e.g. "203.0.113.7:4000" or "[2001:db8::1]:4000".
    pub fn peer(mut self, addr: &str) -> Self {
        self.inner = self.inner.peer_addr(addr.parse().expect("socket address"));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.inner = self.inner.set_json(body);
        self
    }

    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.inner = self
            .inner
            .insert_header(("content-type", content_type.to_owned()))
            .set_payload(body.into());
        self
    }

    pub async fn send(self) -> Resp {
        let response = (self.app.call)(self.inner.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = test::read_body(response).await.to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }
}

#[derive(Default)]
pub struct Options {
    pub env: HashMap<&'static str, String>,
}

async fn create_database() -> (String, DbGuard) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            let name = format!("inspine_test_{}", uuid::Uuid::new_v4().simple());
            let admin_url = base.clone();
            let create = format!("CREATE DATABASE \"{name}\"");
            let url = replace_db_name(&base, &name);
            actix_web::web::block(move || {
                let mut conn = diesel::PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL does not connect: {e}"));
                sql_query(create)
                    .execute(&mut conn)
                    .expect("create test database");
            })
            .await
            .expect("blocking");
            (
                url,
                DbGuard::Postgres {
                    admin_url: base,
                    name,
                },
            )
        }
        Ok(other) if !other.is_empty() => {
            panic!("TEST_DATABASE_URL must be postgres://…, got {other}")
        }
        _ => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            (url, DbGuard::Sqlite(dir))
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let (database_url, guard) = create_database().await;
        Self::start(database_url, guard, options, None).await
    }

    /// Like `spawn_with`, with a chance to adjust the state before the app is built (e.g. a
    /// smaller login-guard capacity, so a test can fill it).
    pub async fn spawn_adjusted(options: Options, adjust: impl FnOnce(&mut AppState)) -> Self {
        let (database_url, guard) = create_database().await;
        Self::start(database_url, guard, options, Some(Box::new(adjust))).await
    }

    async fn start(
        database_url: String,
        guard: DbGuard,
        options: Options,
        adjust: Option<Adjust<'_>>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("DATABASE_URL", database_url.clone()),
            (
                "JWT_SECRET",
                "test-secret-test-secret-test-secret-0123".to_owned(),
            ),
            ("DATA_DIR", data_dir.path().display().to_string()),
            ("RATE_LIMIT_ENABLED", "false".to_owned()),
            // Fixed, so a restart (a new data directory) still opens the health data.
            ("HEALTH_DATA_KEY", TEST_HEALTH_KEY.to_owned()),
        ]);
        let chosen = options.env.clone();
        env.extend(options.env);
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
        let state = actix_web::web::block(move || AppState::prepare(config))
            .await
            .expect("blocking")
            .expect("app state");
        let state = match adjust {
            Some(adjust) => {
                let mut shared = state.into_inner();
                adjust(std::sync::Arc::get_mut(&mut shared).expect("state not yet shared"));
                actix_web::web::Data::from(shared)
            }
            None => state,
        };
        let service = Rc::new(test::init_service(app::build(state.clone())).await);
        let call: Call = Rc::new(move |req: Request| {
            let service = service.clone();
            Box::pin(async move {
                match service.call(req).await {
                    Ok(res) => res.map_body(|_, b| b.boxed()),
                    Err(e) => panic!("service error escaped the app: {e}"),
                }
            })
        });
        Self {
            call,
            state,
            database_url,
            env: chosen,
            _guard: guard,
            _data_dir: data_dir,
        }
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            inner: test::TestRequest::default().method(method).uri(path),
        }
    }

    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Req<'_> {
        self.req(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Req<'_> {
        self.req(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req(Method::DELETE, path)
    }

    /// Writes a user straight into the database (how the CLI bootstraps the first admin) and
    /// logs in over HTTP; returns (user id, access token).
    pub async fn user_with_role(&self, email: &str, role: &str) -> (String, String) {
        let login_email = email.to_owned();
        let email = email.to_owned();
        let role = role.to_owned();
        let hash = inspine::auth::password::hash(PASSWORD).expect("hash");
        let id = self
            .state
            .run(move |conn| {
                let new = User::new(
                    email,
                    format!("Test {role}"),
                    hash,
                    None,
                    Role::parse(&role).expect("a known role"),
                );
                user::insert(conn, &new)?;
                Ok(new.id)
            })
            .await
            .expect("insert user");
        let body = self
            .post("/api/v1/auth/login")
            .json(json!({"email": login_email, "password": PASSWORD}))
            .send()
            .await;
        let token = body.expect(200)["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        (id, token)
    }

    pub async fn admin(&self) -> String {
        self.user_with_role("admin@inspine.example", "admin")
            .await
            .1
    }

    /// Registers a client over the public API; returns the whole auth response.
    pub async fn register(&self, email: &str) -> Value {
        let resp = self
            .post("/api/v1/auth/register")
            .json(json!({"email": email, "password": PASSWORD, "name": "Client"}))
            .send()
            .await;
        resp.expect(201).clone()
    }

    pub async fn client_token(&self, email: &str) -> String {
        self.register(email).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Counts rows of a table, to assert that a rejected request changed nothing.
    pub async fn count(&self, table: &'static str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.state
            .run(move |conn| {
                let row: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                    .get_result(conn)?;
                Ok(row.n)
            })
            .await
            .expect("count")
    }

    /// Moves a location to another zone (`PATCH /locations/{id}`), e.g. [`LOS_ANGELES`] for a
    /// test about daylight-saving changes, which Vancouver no longer has.
    pub async fn move_location(&self, admin: &str, location_id: &str, zone: &str) {
        self.patch(&format!("/api/v1/locations/{location_id}"))
            .token(admin)
            .json(serde_json::json!({ "timezone": zone }))
            .send()
            .await
            .expect(200);
    }

    pub async fn location_ids(&self) -> Vec<String> {
        let page = self.get("/api/v1/locations").send().await;
        page.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|l| l["id"].as_str().expect("id").to_owned())
            .collect()
    }

    pub async fn massage_type(&self, slug: &str) -> Value {
        let page = self.get("/api/v1/massage-types").send().await;
        page.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|t| t["slug"] == slug)
            .cloned()
            .expect("seeded type")
    }
}

/// Fixtures for scheduling tests: a therapist offering every seeded type, working every day
/// 09:00–17:00 (Vancouver) at the first location, and dates expressed in Vancouver time.
pub struct Clinic {
    pub admin: String,
    pub therapist_id: String,
    pub location_id: String,
    pub swedish: Value,
}

/// America/Vancouver, the seeded locations' zone: UTC−7 all year from 2026-11-01.
pub fn vancouver() -> Zone {
    "America/Vancouver".parse().expect("bundled zone")
}

/// America/Los_Angeles, where clocks still change (as Vancouver's did until 2026): the zone
/// the daylight-saving tests move a location to ([`TestApp::move_location`]).
pub const LOS_ANGELES: &str = "America/Los_Angeles";

/// The local date `days` ahead of today in Vancouver.
pub fn local_date(days: i64) -> chrono::NaiveDate {
    (chrono::Utc::now().with_timezone(&vancouver()).date_naive()) + chrono::Duration::days(days)
}

/// A Vancouver wall-clock time as an RFC 3339 UTC instant.
pub fn at(date: chrono::NaiveDate, hh: u32, mm: u32) -> String {
    at_in(&vancouver(), date, hh, mm)
}

/// A wall-clock time in `zone` as an RFC 3339 UTC instant (the earliest when ambiguous).
pub fn at_in(zone: &Zone, date: chrono::NaiveDate, hh: u32, mm: u32) -> String {
    use chrono::TimeZone;
    let local = date.and_hms_opt(hh, mm, 0).expect("valid time");
    zone.from_local_datetime(&local)
        .earliest()
        .expect("exists")
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl TestApp {
    pub async fn therapist(
        &self,
        admin: &str,
        name: &str,
        location_id: &str,
        hours: (&str, &str),
    ) -> String {
        let types = self.get("/api/v1/massage-types").send().await;
        let type_ids: Vec<Value> = types.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        let resp = self
            .post("/api/v1/therapists")
            .token(admin)
            .json(json!({"name": name, "massage_type_ids": type_ids}))
            .send()
            .await;
        let id = resp.expect(201)["id"].as_str().expect("id").to_owned();
        let rules: Vec<Value> = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ]
        .iter()
        .map(
            |d| json!({"weekday": d, "start": hours.0, "end": hours.1, "location_id": location_id}),
        )
        .collect();
        self.put(&format!("/api/v1/therapists/{id}/schedule"))
            .token(admin)
            .json(json!({ "rules": rules }))
            .send()
            .await
            .expect(200);
        id
    }

    pub async fn clinic(&self) -> Clinic {
        let admin = self.admin().await;
        let location_id = self.location_ids().await[0].clone();
        let therapist_id = self
            .therapist(&admin, "Maya", &location_id, ("09:00", "17:00"))
            .await;
        let swedish = self.massage_type("swedish").await;
        Clinic {
            admin,
            therapist_id,
            location_id,
            swedish,
        }
    }

    /// Many client logins at once: one password hash, tokens signed directly.
    pub async fn clients(&self, n: usize) -> Vec<(String, String)> {
        let hash = inspine::auth::password::hash(PASSWORD).expect("hash");
        let ids = self
            .state
            .run(move |conn| {
                let mut ids = Vec::new();
                for i in 0..n {
                    let new = User::new(
                        format!("client{i}@example.com"),
                        format!("Client {i}"),
                        hash.clone(),
                        None,
                        Role::Client,
                    );
                    user::insert(conn, &new)?;
                    ids.push(new.id);
                }
                Ok(ids)
            })
            .await
            .expect("clients");
        ids.into_iter()
            .map(|id| {
                let token = self.state.jwt.issue(&id, "client").expect("token");
                (id, token)
            })
            .collect()
    }

    /// Runs raw SQL for fixtures the API deliberately cannot produce (e.g. a booking whose
    /// start has passed).
    pub async fn sql(&self, statement: String) {
        self.state
            .run(move |conn| {
                diesel::sql_query(statement).execute(conn)?;
                Ok(())
            })
            .await
            .expect("sql");
    }
}

impl TestApp {
    /// Runs raw SQL and returns the database's refusal, if any (e.g. a trigger's).
    pub async fn try_sql(&self, statement: String) -> Result<(), String> {
        self.state
            .run(move |conn| {
                Ok::<_, inspine::error::ApiError>(
                    diesel::sql_query(statement)
                        .execute(conn)
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                )
            })
            .await
            .expect("connection")
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

impl TestApp {
    /// A second instance on this one's database, as another `inspine serve` process would be
    /// (its own pool, limits and caches), with the same settings. Drop it before this one.
    pub async fn twin(&self) -> TestApp {
        TestApp::start(
            self.database_url.clone(),
            DbGuard::Borrowed,
            Options {
                env: self.env.clone(),
            },
            None,
        )
        .await
    }

    /// A second instance on this one's database with some settings changed.
    pub async fn twin_with(&self, changed: HashMap<&'static str, String>) -> TestApp {
        let mut env = self.env.clone();
        env.extend(changed);
        TestApp::start(
            self.database_url.clone(),
            DbGuard::Borrowed,
            Options { env },
            None,
        )
        .await
    }

    /// Builds a fresh app (as a process restart would) over the same database, with the
    /// settings the test chose.
    pub async fn restart(self) -> TestApp {
        self.restart_with(HashMap::new()).await
    }

    /// A restart with some settings changed (e.g. the mail relay now answering).
    pub async fn restart_with(self, changed: HashMap<&'static str, String>) -> TestApp {
        let TestApp {
            database_url,
            _guard,
            state,
            mut env,
            ..
        } = self;
        env.extend(changed);
        drop(state);
        TestApp::start(database_url, _guard, Options { env }, None).await
    }
}

impl TestApp {
    /// The starts of the slots offered on one local date (`extra`: more query, e.g.
    /// `&location_id=…`), in order.
    pub async fn slot_starts(
        &self,
        type_id: &str,
        duration: u32,
        day: chrono::NaiveDate,
        extra: &str,
    ) -> Vec<String> {
        let resp = self
            .get(&format!(
                "/api/v1/slots?massage_type_id={type_id}&duration_minutes={duration}&from={day}&to={day}{extra}"
            ))
            .send()
            .await;
        resp.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|s| s["start"].as_str().expect("start").to_owned())
            .collect()
    }

    /// Books `start` for `duration` minutes as the caller behind `token`.
    pub async fn book(
        &self,
        token: &str,
        therapist_id: &str,
        type_id: &str,
        duration: u32,
        start: &str,
    ) -> Resp {
        self.post("/api/v1/bookings")
            .token(token)
            .json(
                json!({"therapist_id": therapist_id, "massage_type_id": type_id,
                         "duration_minutes": duration, "start": start}),
            )
            .send()
            .await
    }

    /// Counts the rows of `table` that match an SQL `condition`.
    pub async fn count_where(&self, table: &str, condition: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}");
        self.state
            .run(move |conn| {
                let row: Count = diesel::sql_query(query).get_result(conn)?;
                Ok(row.n)
            })
            .await
            .expect("count")
    }

    /// Plants a password reset for `user_id` whose emailed token would be `token`; like the
    /// service, only the token's SHA-256 is stored. A negative `expires_in` plants an expired one.
    pub async fn plant_reset(&self, user_id: &str, token: &str, expires_in: chrono::Duration) {
        let now = chrono::Utc::now().naive_utc();
        let format = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
        self.sql(format!(
            "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) \
             VALUES ('{}', '{user_id}', '{}', '{}', '{}')",
            uuid::Uuid::new_v4(),
            inspine::auth::tokens::sha256_hex(token),
            format(now - chrono::Duration::minutes(5)),
            format(now + expires_in),
        ))
        .await;
    }
}

/// The first local date on or after `from` on which `zone`'s clocks change (`Some(true)`:
/// only a spring-forward change, `Some(false)`: only a fall-back one).
pub fn next_dst_change(
    zone: &Zone,
    from: chrono::NaiveDate,
    forward: Option<bool>,
) -> chrono::NaiveDate {
    use chrono::Offset;
    let noon_offset = |d: chrono::NaiveDate| {
        chrono::DateTime::parse_from_rfc3339(&at_in(zone, d, 12, 0))
            .expect("instant")
            .with_timezone(zone)
            .offset()
            .fix()
            .local_minus_utc()
    };
    let mut day = from;
    for _ in 0..800 {
        let (before, after) = (
            noon_offset(day - chrono::Duration::days(1)),
            noon_offset(day),
        );
        if before != after && forward.is_none_or(|f| f == (after > before)) {
            return day;
        }
        day += chrono::Duration::days(1);
    }
    panic!("no daylight-saving change in {zone} after {from}")
}
