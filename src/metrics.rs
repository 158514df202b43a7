//! Prometheus metrics: per-route request counts and latency histograms (actix-web-prom), plus
//! the database pool, the webhook outbox, booking events and holds. `GET /metrics` renders them.

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http: PrometheusMetrics,
    /// Booking state changes by event (`created`, `cancelled`, `rescheduled`, …).
    pub bookings: IntCounterVec,
    /// Holds by outcome: `created`; `converted` (booked by `hold_id`); `released` (by DELETE,
    /// or replaced by the client's next hold); `expired` (a hold that ran out unused, counted
    /// once when the service first notices it: the waitlist pass of `serve`, within a second
    /// or so, or its client trying to book it first). Expiry itself needs no write for
    /// correctness: an unexpired hold is what blocks.
    pub holds: IntCounterVec,
    /// Webhook delivery attempts by outcome (`delivered`, `retry`, `failed`).
    pub webhook_attempts: IntCounterVec,
    /// Email delivery attempts by outcome (`sent`, `retry`, `failed`).
    pub notifications: IntCounterVec,
    pool: IntGaugeVec,
    outbox_pending: IntGauge,
    notifications_pending: IntGaugeVec,
}

/// How many outbox rows wait, read when metrics are rendered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Backlog {
    pub webhooks: i64,
    /// Emails due now (or overdue) but not yet sent.
    pub emails_due: i64,
    /// Emails waiting for a later moment (reminders, retries after back-off).
    pub emails_scheduled: i64,
}

impl Metrics {
    pub fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let registry = Registry::new();
        let http = PrometheusMetricsBuilder::new("inspine")
            .registry(registry.clone())
            // Unknown paths share one label value, so scanners cannot blow up cardinality.
            .mask_unmatched_patterns("UNMATCHED")
            .build()?;
        let bookings = IntCounterVec::new(
            Opts::new("inspine_bookings_total", "Booking state changes by event"),
            &["event"],
        )?;
        let holds = IntCounterVec::new(
            Opts::new("inspine_holds_total", "Holds by outcome"),
            &["outcome"],
        )?;
        for event in crate::models::vocabulary::HoldEvent::ALL {
            holds.with_label_values(&[event.label()]);
        }
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "inspine_webhook_attempts_total",
                "Webhook delivery attempts by outcome",
            ),
            &["outcome"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "inspine_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )?;
        let outbox_pending = IntGauge::new(
            "inspine_webhook_outbox_pending",
            "Webhook deliveries waiting to be delivered",
        )?;
        let notifications = IntCounterVec::new(
            Opts::new(
                "inspine_notifications_total",
                "Email delivery attempts by outcome",
            ),
            &["outcome"],
        )?;
        let notifications_pending = IntGaugeVec::new(
            Opts::new(
                "inspine_notifications_pending",
                "Emails not yet sent: due now, or scheduled for later",
            ),
            &["state"],
        )?;
        registry.register(Box::new(notifications.clone()))?;
        registry.register(Box::new(notifications_pending.clone()))?;
        registry.register(Box::new(bookings.clone()))?;
        registry.register(Box::new(holds.clone()))?;
        registry.register(Box::new(webhook_attempts.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(outbox_pending.clone()))?;
        Ok(Self {
            registry,
            http,
            bookings,
            holds,
            webhook_attempts,
            notifications,
            pool,
            outbox_pending,
            notifications_pending,
        })
    }

    pub fn booking_event(&self, event: crate::models::vocabulary::BookingEvent) {
        self.bookings.with_label_values(&[event.label()]).inc();
    }

    pub fn hold_event(&self, event: crate::models::vocabulary::HoldEvent) {
        self.holds.with_label_values(&[event.label()]).inc();
    }

    /// Prometheus text format, with the gauges read now.
    pub fn render(&self, pool: diesel::r2d2::State, backlog: Backlog) -> String {
        self.pool
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle_connections));
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(pool.connections - pool.idle_connections));
        self.outbox_pending.set(backlog.webhooks);
        self.notifications_pending
            .with_label_values(&["due"])
            .set(backlog.emails_due);
        self.notifications_pending
            .with_label_values(&["scheduled"])
            .set(backlog.emails_scheduled);
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The label value every method outside the standard set is counted under.
pub const OTHER_METHOD: &str = "OTHER";

/// Rewrites a request's method to `OTHER` unless it is one the API could answer (GET, HEAD,
/// POST, PUT, PATCH, DELETE, OPTIONS), so made-up methods cannot each add metric series. Runs
/// inside the metrics middleware, which labels by the method the request ends with. No route
/// takes any other method, so such a request is answered 404/405 either way.
pub fn fold_unknown_method(req: &mut ServiceRequest) {
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    if !known.contains(req.method()) {
        req.head_mut().method = Method::from_bytes(OTHER_METHOD.as_bytes()).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_standard_methods_keep_their_name() {
        for (sent, labelled) in [
            ("GET", "GET"),
            ("OPTIONS", "OPTIONS"),
            ("DELETE", "DELETE"),
            ("BREW", "OTHER"),
            ("TRACE", "OTHER"),
            ("get", "OTHER"),
        ] {
            let mut req = TestRequest::default()
                .method(Method::from_bytes(sent.as_bytes()).unwrap())
                .to_srv_request();
            fold_unknown_method(&mut req);
            assert_eq!(req.method().as_str(), labelled, "{sent}");
        }
    }
}
