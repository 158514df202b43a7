//! `/slots` answers from each instance's in-memory snapshot, checked against the database's
//! availability counters on every search. Two instances on one database: every kind of write
//! made through one is seen by the very next search on the other (which had the old state in
//! memory), and that answer is always the one a third instance reading only the database gives.
//! On whichever backend this run uses.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{TestApp, at, local_date};

struct Trio {
    /// Takes the writes.
    a: TestApp,
    /// Searches from its snapshot.
    b: TestApp,
    /// Searches the database only (`SLOT_CACHE=false`).
    oracle: TestApp,
    admin: String,
    type_id: String,
    day: chrono::NaiveDate,
}

impl Trio {
    async fn new() -> Self {
        let a = TestApp::spawn().await;
        let b = a.twin().await;
        let oracle = a
            .twin_with(HashMap::from([("SLOT_CACHE", "false".to_owned())]))
            .await;
        let admin = a.admin().await;
        let type_id = a.massage_type("swedish").await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        Self {
            a,
            b,
            oracle,
            admin,
            type_id,
            day: local_date(9),
        }
    }

    /// A new location in Vancouver, made through A.
    async fn location(&self, name: &str) -> String {
        self.a
            .post("/api/v1/locations")
            .token(&self.admin)
            .json(json!({"name": name, "address": "1 Main St", "timezone": "America/Vancouver"}))
            .send()
            .await
            .expect(201)["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Maya (09:00-17:00 at the first location), a client's token, and 10:00 on the day.
    async fn maya_and_a_client(&self) -> (String, String, String) {
        let location = self.a.location_ids().await[0].clone();
        let maya = self
            .a
            .therapist(&self.admin, "Maya", &location, ("09:00", "17:00"))
            .await;
        let client = self.a.client_token("c@example.com").await;
        (maya, client, at(self.day, 10, 0))
    }

    /// A 60-minute hold through A; its id.
    async fn hold(&self, client: &str, therapist: &str, start: &str) -> String {
        let body = json!({"therapist_id": therapist, "massage_type_id": self.type_id,
            "duration_minutes": 60, "start": start});
        let hold = self
            .a
            .post("/api/v1/holds")
            .token(client)
            .json(body)
            .send()
            .await;
        hold.expect(201)["id"].as_str().expect("id").to_owned()
    }

    /// B's answer for the day (all therapists), after checking it is the database's.
    async fn offered(&self, extra: &str) -> Vec<(String, String)> {
        let path = format!(
            "/api/v1/slots?massage_type_id={}&duration_minutes=60&from={}&to={}{extra}",
            self.type_id,
            self.day,
            self.day.succ_opt().expect("a day")
        );
        let cached = self.b.get(&path).send().await.expect(200).clone();
        let truth = self.oracle.get(&path).send().await.expect(200).clone();
        assert_eq!(
            cached, truth,
            "the snapshot's answer differs from the database's"
        );
        pairs(&cached)
    }
}

fn pairs(body: &Value) -> Vec<(String, String)> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["therapist_id"].as_str().expect("therapist").to_owned(),
                s["start"].as_str().expect("start").to_owned(),
            )
        })
        .collect()
}

fn offers(slots: &[(String, String)], therapist: &str, start: &str) -> bool {
    slots.iter().any(|(t, s)| t == therapist && s == start)
}

#[actix_web::test]
async fn every_write_on_one_instance_is_seen_by_the_next_search_on_another() {
    let t = Trio::new().await;
    let (a, admin) = (&t.a, t.admin.as_str());
    // A location of its own with one room: a booking by one therapist takes the other's time.
    let location = t.location("One room").await;
    let _only_room = a
        .post(&format!("/api/v1/locations/{location}/rooms"))
        .token(admin)
        .json(json!({"name": "Room 1"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let maya = a
        .therapist(admin, "Maya", &location, ("09:00", "17:00"))
        .await;
    let leo = a
        .therapist(admin, "Leo", &location, ("09:00", "17:00"))
        .await;
    let client = a.client_token("c@example.com").await;
    let ten = at(t.day, 10, 0);

    // Warm B's snapshot, then book through A: gone for Maya, and for Leo (the only room).
    let before = t.offered("").await;
    assert!(offers(&before, &maya, &ten) && offers(&before, &leo, &ten));
    let booking = a.book(&client, &maya, &t.type_id, 60, &ten).await;
    let booking_id = booking.expect(201)["id"].as_str().expect("id").to_owned();
    let now = t.offered("").await;
    assert!(!offers(&now, &maya, &ten) && !offers(&now, &leo, &ten));

    // A second room frees Leo again; deactivating it takes him away again.
    let second = a
        .post(&format!("/api/v1/locations/{location}/rooms"))
        .token(admin)
        .json(json!({"name": "Room 2"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(offers(&t.offered("").await, &leo, &ten));
    a.patch(&format!("/api/v1/rooms/{second}"))
        .token(admin)
        .json(json!({"active": false}))
        .send()
        .await
        .expect(200);
    assert!(!offers(&t.offered("").await, &leo, &ten));

    // Moved by A to 13:00: 10:00 is back, 13:00 is gone.
    let one = at(t.day, 13, 0);
    a.post(&format!("/api/v1/bookings/{booking_id}/reschedule"))
        .token(&client)
        .json(json!({"start": one}))
        .send()
        .await
        .expect(200);
    let now = t.offered("").await;
    assert!(offers(&now, &maya, &ten) && !offers(&now, &maya, &one));
    // Cancelled: 13:00 is back.
    a.post(&format!("/api/v1/bookings/{booking_id}/cancel"))
        .token(&client)
        .json(json!({}))
        .send()
        .await
        .expect(200);
    assert!(offers(&t.offered("").await, &maya, &one));

    // A hold through A takes the time on B; released, it is back.
    let hold = a
        .post("/api/v1/holds")
        .token(&client)
        .json(json!({"therapist_id": leo, "massage_type_id": t.type_id, "duration_minutes": 60, "start": ten}))
        .send()
        .await;
    let hold_id = hold.expect(201)["id"].as_str().expect("id").to_owned();
    assert!(!offers(&t.offered("").await, &leo, &ten));
    a.delete(&format!("/api/v1/holds/{hold_id}"))
        .token(&client)
        .send()
        .await
        .expect(204);
    assert!(offers(&t.offered("").await, &leo, &ten));

    // Time off, added and removed.
    let off = a
        .post(&format!("/api/v1/therapists/{maya}/time-off"))
        .token(admin)
        .json(
            json!({"starts_at": at(t.day, 9, 0), "ends_at": at(t.day, 12, 0), "reason": "dentist"}),
        )
        .send()
        .await;
    let off_id = off.expect(201)["id"].as_str().expect("id").to_owned();
    assert!(!offers(&t.offered("").await, &maya, &ten));
    a.delete(&format!("/api/v1/therapists/{maya}/time-off/{off_id}"))
        .token(admin)
        .send()
        .await
        .expect(204);
    assert!(offers(&t.offered("").await, &maya, &ten));

    // A date override (a day off), then back to the weekly rules.
    a.put(&format!("/api/v1/therapists/{maya}/overrides/{}", t.day))
        .token(admin)
        .json(json!({"rules": []}))
        .send()
        .await
        .expect(200);
    let now = t.offered("").await;
    assert!(
        !now.iter()
            .any(|(th, s)| th == &maya && s < &at(t.day, 23, 0))
    );
    a.delete(&format!("/api/v1/therapists/{maya}/overrides/{}", t.day))
        .token(admin)
        .send()
        .await
        .expect(204);
    assert!(offers(&t.offered("").await, &maya, &ten));

    // A closure of the location, then removed.
    let closure = a
        .post(&format!("/api/v1/locations/{location}/closures"))
        .token(admin)
        .json(
            json!({"starts_at": at(t.day, 9, 30), "ends_at": at(t.day, 11, 0), "reason": "flood"}),
        )
        .send()
        .await;
    let closure_id = closure.expect(201)["id"].as_str().expect("id").to_owned();
    let now = t.offered("").await;
    assert!(!offers(&now, &maya, &ten) && !offers(&now, &leo, &ten));
    a.delete(&format!(
        "/api/v1/locations/{location}/closures/{closure_id}"
    ))
    .token(admin)
    .send()
    .await
    .expect(204);
    assert!(offers(&t.offered("").await, &leo, &ten));

    // A new weekly schedule: mornings only.
    let mornings: Vec<Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|d| json!({"weekday": d, "start": "09:00", "end": "12:00", "location_id": location}))
    .collect();
    a.put(&format!("/api/v1/therapists/{maya}/schedule"))
        .token(admin)
        .json(json!({"rules": mornings}))
        .send()
        .await
        .expect(200);
    let now = t.offered("").await;
    assert!(offers(&now, &maya, &ten) && !offers(&now, &maya, &one));

    // Leo no longer offers Swedish massage; then he is deactivated altogether.
    a.patch(&format!("/api/v1/therapists/{leo}"))
        .token(admin)
        .json(json!({"massage_type_ids": []}))
        .send()
        .await
        .expect(200);
    assert!(!t.offered("").await.iter().any(|(th, _)| th == &leo));

    // The location moves to another zone: Maya's 09:00 is another instant.
    a.patch(&format!("/api/v1/locations/{location}"))
        .token(admin)
        .json(json!({"timezone": "America/Toronto"}))
        .send()
        .await
        .expect(200);
    let now = t.offered(&format!("&location_id={location}")).await;
    assert!(
        !offers(&now, &maya, &ten),
        "10:00 in Vancouver is 13:00 in Toronto, after her mornings"
    );

    // Swedish massage retired: B refuses the search as the database does.
    let path = format!(
        "/api/v1/slots?massage_type_id={}&duration_minutes=60&from={}&to={}",
        t.type_id, t.day, t.day
    );
    t.b.get(&path).send().await.expect(200);
    a.patch(&format!("/api/v1/massage-types/{}", t.type_id))
        .token(admin)
        .json(json!({"active": false}))
        .send()
        .await
        .expect(200);
    t.b.get(&path).send().await.expect(422);
    t.oracle.get(&path).send().await.expect(422);
}

#[actix_web::test]
async fn a_hold_past_its_expiry_is_free_on_every_instance_before_anything_marks_it() {
    let t = Trio::new().await;
    let (maya, client, ten) = t.maya_and_a_client().await;
    let hold_id = t.hold(&client, &maya, &ten).await;
    assert!(!offers(&t.offered("").await, &maya, &ten));
    // Its expiry passes (moved into the past, as time would): still `active`, as nothing (the
    // waitlist pass is not running here) has marked it. B loads it so and must let it go by its
    // expiry, as it does with a hold it loaded while live (the snapshot's unit tests).
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f");
    t.a.sql(format!(
        "UPDATE holds SET expires_at = '{past}' WHERE id = '{hold_id}'"
    ))
    .await;
    assert_eq!(t.a.count_where("holds", "status = 'active'").await, 1);
    assert!(offers(&t.offered("").await, &maya, &ten));
}

/// Two transactions that change the same two therapists' hours in opposite orders, released at
/// the same moment, both commit and each bumps both counters: the counters are taken at commit
/// in one global order, so such writers wait for each other instead of deadlocking (on
/// PostgreSQL, where they run at once; a third connection holds both counters until both are
/// waiting for them). On SQLite, which writes one transaction at a time, they run one after
/// the other.
#[actix_web::test]
async fn writers_touching_the_same_counters_in_opposite_orders_both_commit() {
    use diesel::{Connection, RunQueryDsl};

    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let location = app.location_ids().await[0].clone();
    let x = app
        .therapist(&admin, "Xia", &location, ("09:00", "17:00"))
        .await;
    let y = app
        .therapist(&admin, "Yan", &location, ("09:00", "17:00"))
        .await;
    let version =
        |t: &str| format!("(SELECT version FROM availability_versions WHERE scope = 't:{t}')");
    let before = (
        app.count_where("availability_versions", &format!("scope = 't:{x}'"))
            .await,
        app.count_where("availability_versions", &format!("scope = 't:{y}'"))
            .await,
    );
    assert_eq!(before, (1, 1), "each therapist's hours have a counter");
    app.sql(format!(
        "CREATE TABLE counters_before AS SELECT {} AS x, {} AS y",
        version(&x),
        version(&y)
    ))
    .await;

    let time_off = |n: u32, t: &str| {
        format!(
            "INSERT INTO time_off (id, therapist_id, starts_at, ends_at, reason, created_at) \
             VALUES ('race-{n}-{t}', '{t}', '2030-01-0{n} 10:00:00', '2030-01-0{n} 11:00:00', 'race', '2026-01-01 00:00:00')"
        )
    };
    let writes = [
        vec![time_off(1, &x), time_off(1, &y)],
        vec![time_off(2, &y), time_off(2, &x)],
    ];
    if app.is_postgres() {
        let url = app.database_url.clone();
        let mut gate = diesel::PgConnection::establish(&url).expect("connect");
        diesel::sql_query("BEGIN")
            .execute(&mut gate)
            .expect("begin");
        diesel::sql_query(format!(
            "SELECT version FROM availability_versions WHERE scope IN ('t:{x}', 't:{y}') FOR UPDATE"
        ))
        .execute(&mut gate)
        .expect("hold both counters");
        let writers: Vec<_> = writes
            .into_iter()
            .map(|statements| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut conn = diesel::PgConnection::establish(&url).expect("connect");
                    conn.transaction(|conn| {
                        for statement in statements {
                            diesel::sql_query(statement).execute(conn)?;
                        }
                        Ok::<_, diesel::result::Error>(())
                    })
                    .map_err(|e| e.to_string())
                })
            })
            .collect();
        // Both writers are at their commit, waiting for a counter the gate holds.
        let waiting = "SELECT COUNT(*) AS n FROM pg_stat_activity \
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut probe = diesel::PgConnection::establish(&url).expect("connect");
        let mut polls = 0u64;
        while diesel::sql_query(waiting)
            .get_result::<Count>(&mut probe)
            .expect("probe")
            .n
            < 2
        {
            polls += 1;
            assert!(polls < 1_000_000, "the writers never reached their commit");
            std::thread::yield_now();
        }
        diesel::sql_query("COMMIT")
            .execute(&mut gate)
            .expect("release");
        for writer in writers {
            assert_eq!(writer.join().expect("writer thread"), Ok(()));
        }
    } else {
        for statements in writes {
            for statement in statements {
                app.sql(statement).await;
            }
        }
    }
    assert_eq!(
        app.count_where(
            "counters_before",
            &format!("{} = x + 2 AND {} = y + 2", version(&x), version(&y))
        )
        .await,
        1,
        "both writers bumped both counters"
    );
}

/// A booking's check inside its transaction reads the catalog and the therapist's hours from
/// the writing instance's snapshot when their counters say it is current. Each change below is
/// made through B while A's snapshot holds the old state (warmed by A's own search and booking):
/// A's next booking must be judged on the new state, then on the state after it.
#[actix_web::test]
async fn a_booking_is_judged_on_hours_and_catalog_changed_through_another_instance() {
    let t = Trio::new().await;
    let (a, b, admin) = (&t.a, &t.b, t.admin.as_str());
    let location = t.location("Judged").await;
    let maya = a
        .therapist(admin, "Maya", &location, ("09:00", "17:00"))
        .await;
    let client = a.client_token("judged@example.com").await;
    a.get(&format!(
        "/api/v1/slots?massage_type_id={}&duration_minutes=60&from={}&to={}",
        t.type_id, t.day, t.day
    ))
    .send()
    .await
    .expect(200);
    a.book(&client, &maya, &t.type_id, 60, &at(t.day, 9, 0))
        .await
        .expect(201);

    // Time off added through B: A refuses the hour it covers.
    let off = b
        .post(&format!("/api/v1/therapists/{maya}/time-off"))
        .token(admin)
        .json(
            json!({"starts_at": at(t.day, 11, 0), "ends_at": at(t.day, 12, 0), "reason": "course"}),
        )
        .send()
        .await;
    off.expect(201);
    let refused = a
        .book(&client, &maya, &t.type_id, 60, &at(t.day, 11, 0))
        .await;
    assert_ne!(refused.status, 201, "booked into time off added elsewhere");
    // The hours after it still book, on the state A has since reloaded.
    a.book(&client, &maya, &t.type_id, 60, &at(t.day, 12, 0))
        .await
        .expect(201);

    // A date override through B breaks the day at 13:30 (keeping the bookings made): an hour
    // from 13:00 no longer fits.
    b.put(&format!("/api/v1/therapists/{maya}/overrides/{}", t.day))
        .token(admin)
        .json(json!({"rules": [
            {"start": "09:00", "end": "13:30", "location_id": location},
            {"start": "14:00", "end": "17:00", "location_id": location},
        ]}))
        .send()
        .await
        .expect(200);
    let refused = a
        .book(&client, &maya, &t.type_id, 60, &at(t.day, 13, 0))
        .await;
    assert_eq!(refused.expect(422)["errors"][0]["field"], "start");
    a.book(&client, &maya, &t.type_id, 60, &at(t.day, 14, 0))
        .await
        .expect(201);

    // The type's 60-minute option removed through B: A refuses that duration.
    let swedish = b.massage_type("swedish").await;
    let options: Vec<Value> = swedish["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter(|o| o["duration_minutes"] != 60)
        .cloned()
        .collect();
    b.patch(&format!("/api/v1/massage-types/{}", t.type_id))
        .token(admin)
        .json(json!({"options": options}))
        .send()
        .await
        .expect(200);
    let refused = a
        .book(&client, &maya, &t.type_id, 60, &at(t.day, 15, 0))
        .await;
    assert_eq!(
        refused.expect(422)["errors"][0]["field"],
        "duration_minutes"
    );

    // Maya deactivated through B: A refuses her.
    b.patch(&format!("/api/v1/therapists/{maya}"))
        .token(admin)
        .json(json!({"active": false}))
        .send()
        .await
        .expect(200);
    let refused = a
        .book(&client, &maya, &t.type_id, 30, &at(t.day, 15, 30))
        .await;
    assert_eq!(refused.expect(422)["errors"][0]["field"], "therapist_id");
    // Active again, she books 30 minutes (an option that is left) after the 14:00 booking.
    b.patch(&format!("/api/v1/therapists/{maya}"))
        .token(admin)
        .json(json!({"active": true}))
        .send()
        .await
        .expect(200);
    a.book(&client, &maya, &t.type_id, 30, &at(t.day, 15, 30))
        .await
        .expect(201);
}

/// An instance gives a search's answer again from memory while nothing it read has changed;
/// its own writes (a hold, its release, a booking, a cancellation) change the very next
/// answer to the same question, and every answer is the database's.
#[actix_web::test]
async fn a_repeated_search_sees_each_write_on_its_own_instance_at_once() {
    let t = Trio::new().await;
    let (maya, client, ten) = t.maya_and_a_client().await;
    let path = format!(
        "/api/v1/slots?massage_type_id={}&duration_minutes=60&from={}&to={}&therapist_id={maya}",
        t.type_id, t.day, t.day
    );
    let ask = || async {
        let mine = t.a.get(&path).send().await.expect(200).clone();
        let truth = t.oracle.get(&path).send().await.expect(200).clone();
        assert_eq!(mine, truth, "the kept answer differs from the database's");
        pairs(&mine)
    };
    let first = ask().await;
    assert!(offers(&first, &maya, &ten));
    assert_eq!(ask().await, first, "asked again, nothing changed");

    let hold_id = t.hold(&client, &maya, &ten).await;
    assert!(!offers(&ask().await, &maya, &ten), "held");
    t.a.delete(&format!("/api/v1/holds/{hold_id}"))
        .token(&client)
        .send()
        .await
        .expect(204);
    assert_eq!(ask().await, first, "released");

    let booking = t.a.book(&client, &maya, &t.type_id, 60, &ten).await;
    let booking_id = booking.expect(201)["id"].as_str().expect("id").to_owned();
    assert!(!offers(&ask().await, &maya, &ten), "booked");
    t.a.post(&format!("/api/v1/bookings/{booking_id}/cancel"))
        .token(&client)
        .json(json!({}))
        .send()
        .await
        .expect(200);
    assert_eq!(ask().await, first, "cancelled");
}
