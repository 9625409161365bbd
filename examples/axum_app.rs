//! A small booking service on axum with auditkit: create, reschedule, cancel and refund a
//! booking, log in, and read a booking's timeline as JSON. Every route records through the
//! `Audit` extractor, whose events get the request's tenant (from `x-tenant`), acting staff
//! member (from `x-staff-id`), client IP (the peer, or `X-Forwarded-For` from the named proxy
//! only) and request id.
//!
//! The two headers stand in for a session, to keep the demo small: a real service resolves
//! tenant and actor from what its authentication middleware stored in the request's
//! extensions, never from headers a client can set.
//!
//! `cargo run --example axum_app --features axum -- [PORT] [DB]` serves it on 127.0.0.1
//! (default port 3000, database `axum_app.db`); `cargo test --example axum_app --features
//! axum` runs its tests through `tower::ServiceExt::oneshot`.
//!
//! ```text
//! curl -s -XPOST localhost:3000/bookings -H 'x-tenant: salon-1' -H 'x-staff-id: u-17' \
//!      -H 'content-type: application/json' \
//!      -d '{"customer":"c-9","service":"Haircut","start":"2026-03-28T10:00:00Z"}'
//! curl -s localhost:3000/bookings/b-1/timeline -H 'x-tenant: salon-1'
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use auditkit::axum::{Audit, AuditLayer, ClientIp};
use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{
    BookingCancelled, BookingCreated, BookingRescheduled, Login, PaymentRefunded,
};
use auditkit::{Actor, AsyncAuditTrail, AuditTrail, NewEvent, Outcome, Target};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The business's zone: timelines say times as the salon's staff read them.
const ZONE: &str = "Europe/Berlin";

/// The reverse proxy in front of the service, whose `X-Forwarded-For` is believed.
const PROXY: &str = "10.0.0.2";

type Store = SqliteStore;

#[derive(Clone, Serialize)]
struct Booking {
    id: String,
    tenant: String,
    customer: String,
    service: String,
    #[serde(with = "time::serde::rfc3339")]
    start: OffsetDateTime,
    status: &'static str,
    paid_cents: i64,
    refunded_cents: i64,
}

#[derive(Clone, Default)]
struct App {
    bookings: Arc<Mutex<HashMap<String, Booking>>>,
}

impl App {
    /// The booking `id` of `tenant` (another tenant's booking is not found: ids in the URL
    /// are the client's to edit).
    fn booking(&self, tenant: &str, id: &str) -> Result<Booking, Refusal> {
        let bookings = self.bookings.lock().unwrap_or_else(|p| p.into_inner());
        bookings
            .get(id)
            .filter(|b| b.tenant == tenant)
            .cloned()
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no booking {id}")))
    }

    fn save(&self, b: Booking) {
        let mut bookings = self.bookings.lock().unwrap_or_else(|p| p.into_inner());
        bookings.insert(b.id.clone(), b);
    }
}

/// Why a request was not served: the service's own refusals, or the audit trail's error
/// (an `IntoResponse` with feature `axum`: 400 for bad input, 503 when busy, 500 otherwise).
enum Refusal {
    Audit(auditkit::Error),
    Status(StatusCode, String),
}

impl From<auditkit::Error> for Refusal {
    fn from(e: auditkit::Error) -> Self {
        Refusal::Audit(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Audit(e) => e.into_response(),
            Refusal::Status(status, why) => (status, why).into_response(),
        }
    }
}

type Reply<T> = Result<Json<T>, Refusal>;

fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    Refusal::Status(status, why.into())
}

/// The tenant the layer resolved for this request (every route here needs one).
fn tenant_of(audit: &Audit<Store>) -> Result<String, Refusal> {
    audit
        .defaults()
        .tenant
        .clone()
        .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "send x-tenant"))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `event` about booking `b`, with its customer as a related target (so the customer's
/// history across bookings finds it).
fn about(b: &Booking, event: NewEvent) -> NewEvent {
    event
        .target(target(b))
        .related(Target::new("customer", &b.customer))
}

fn target(b: &Booking) -> Target {
    Target::new("booking", &b.id).label(format!("{} for {}", b.service, b.customer))
}

#[derive(Deserialize)]
struct NewBooking {
    customer: String,
    service: String,
    #[serde(with = "time::serde::rfc3339")]
    start: OffsetDateTime,
    #[serde(default)]
    paid_cents: i64,
}

async fn create(
    audit: Audit<Store>,
    State(app): State<App>,
    Json(req): Json<NewBooking>,
) -> Reply<Booking> {
    let tenant = tenant_of(&audit)?;
    let id = format!(
        "b-{}",
        app.bookings.lock().map(|b| b.len() + 1).unwrap_or(1)
    );
    let b = Booking {
        id,
        tenant,
        customer: req.customer,
        service: req.service.clone(),
        start: req.start,
        status: "confirmed",
        paid_cents: req.paid_cents,
        refunded_cents: 0,
    };
    let payload = BookingCreated {
        start: b.start,
        end: None,
        service: Some(req.service),
        host: None,
    };
    audit
        .record(
            about(&b, NewEvent::typed(&payload))
                .after(json!({"start": rfc3339(b.start), "status": b.status})),
        )
        .await?;
    app.save(b.clone());
    Ok(Json(b))
}

#[derive(Deserialize)]
struct Reschedule {
    #[serde(with = "time::serde::rfc3339")]
    start: OffsetDateTime,
    reason: Option<String>,
}

async fn reschedule(
    audit: Audit<Store>,
    State(app): State<App>,
    Path(id): Path<String>,
    Json(req): Json<Reschedule>,
) -> Reply<Booking> {
    let mut b = app.booking(&tenant_of(&audit)?, &id)?;
    let payload = BookingRescheduled {
        from: b.start,
        to: req.start,
        reason: req.reason,
        new_booking_id: None,
    };
    audit
        .record(
            about(&b, NewEvent::typed(&payload))
                .before(json!({"start": rfc3339(b.start)}))
                .after(json!({"start": rfc3339(req.start)})),
        )
        .await?;
    b.start = req.start;
    app.save(b.clone());
    Ok(Json(b))
}

#[derive(Deserialize)]
struct Cancel {
    reason: Option<String>,
}

async fn cancel(
    audit: Audit<Store>,
    State(app): State<App>,
    Path(id): Path<String>,
    Json(req): Json<Cancel>,
) -> Reply<Booking> {
    let mut b = app.booking(&tenant_of(&audit)?, &id)?;
    let payload = BookingCancelled {
        reason: req.reason,
        fee_amount: None,
        currency: None,
    };
    audit
        .record(
            about(&b, NewEvent::typed(&payload))
                .before(json!({"status": b.status}))
                .after(json!({"status": "cancelled"})),
        )
        .await?;
    b.status = "cancelled";
    app.save(b.clone());
    Ok(Json(b))
}

#[derive(Deserialize)]
struct Refund {
    cents: i64,
    reason: Option<String>,
}

async fn refund(
    audit: Audit<Store>,
    State(app): State<App>,
    Path(id): Path<String>,
    Json(req): Json<Refund>,
) -> Reply<Booking> {
    let mut b = app.booking(&tenant_of(&audit)?, &id)?;
    if req.cents <= 0 || b.refunded_cents + req.cents > b.paid_cents {
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund exceeds what was paid",
        ));
    }
    let payload = PaymentRefunded {
        amount: req.cents,
        currency: "EUR".into(),
        original_amount: Some(b.paid_cents),
        method: Some("card".into()),
        reason: req.reason,
    };
    audit
        .record(
            // The payload states the amount and what was paid: its sentence says it all.
            about(&b, NewEvent::typed(&payload)),
        )
        .await?;
    b.refunded_cents += req.cents;
    app.save(b.clone());
    Ok(Json(b))
}

#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
}

/// A login names its own actor (the layer knows nobody yet) and records failures too.
async fn login(audit: Audit<Store>, Json(req): Json<Credentials>) -> Reply<Value> {
    let ok = req.password == "correct horse";
    let event = NewEvent::typed(&Login {
        method: Some("password".into()),
    })
    .actor(Actor::user(&req.user))
    .target(Target::new("account", &req.user));
    let event = if ok {
        event
    } else {
        event.outcome(Outcome::failure("wrong password"))
    };
    audit.record(event).await?;
    if ok {
        Ok(Json(json!({"user": req.user})))
    } else {
        Err(refuse(StatusCode::UNAUTHORIZED, "wrong password"))
    }
}

/// The booking's timeline, newest first, for this tenant only.
async fn timeline(
    audit: Audit<Store>,
    State(app): State<App>,
    Path(id): Path<String>,
) -> Reply<Value> {
    let b = app.booking(&tenant_of(&audit)?, &id)?;
    let events = audit.history(&target(&b)).await?;
    let now = OffsetDateTime::now_utc();
    let mut items = Vec::with_capacity(events.len());
    for e in events {
        let d = e.describe_in(ZONE, now)?;
        let request = e.request.clone().unwrap_or_default();
        items.push(json!({
            "seq": e.seq,
            "action": e.action,
            "sentence": d.sentence,
            "at": d.at,
            "relative": d.relative,
            "actor": e.actor.id,
            "source": e.source.as_str(),
            "ip": request.ip,
            "request_id": request.request_id,
            "changes": e.changes,
        }));
    }
    Ok(Json(json!({"booking": b.id, "events": items})))
}

/// The service: routes, state and the audit layer.
fn router(trail: AsyncAuditTrail<Store>) -> Router {
    let proxy: IpAddr = PROXY.parse().expect("the proxy address");
    let header = |parts: &axum::http::request::Parts, name: &str| {
        let v = parts.headers.get(name)?.to_str().ok()?.trim();
        (!v.is_empty()).then(|| v.to_owned())
    };
    Router::new()
        .route("/bookings", post(create))
        .route("/bookings/{id}/reschedule", post(reschedule))
        .route("/bookings/{id}/cancel", post(cancel))
        .route("/bookings/{id}/refund", post(refund))
        .route("/bookings/{id}/timeline", get(timeline))
        .route("/login", post(login))
        .with_state(App::default())
        .layer(
            AuditLayer::new(trail)
                .client_ip(ClientIp::behind_proxies([proxy]))
                .tenant(move |parts| header(parts, "x-tenant"))
                .actor(move |parts| {
                    header(parts, "x-staff-id").map(|id| Actor::user(id).role("staff"))
                }),
        )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(3000), |p| p.parse())?;
    let db = args.next().unwrap_or_else(|| "axum_app.db".into());
    let trail = AsyncAuditTrail::new(AuditTrail::new(SqliteStore::open(&db)?))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "booking service on http://{} (audit trail in {db})",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        router(trail).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct Service {
        router: Router,
        trail: AsyncAuditTrail<Store>,
        _dir: tempfile::TempDir,
    }

    fn service() -> Service {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
        let trail = AsyncAuditTrail::new(AuditTrail::new(store)).unwrap();
        Service {
            router: router(trail.clone()),
            trail,
            _dir: dir,
        }
    }

    /// A request from `peer` with the salon's headers, through the whole router.
    async fn call(
        s: &Service,
        method: &str,
        uri: &str,
        peer: &str,
        extra: &[(&str, &str)],
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("user-agent", "salon-desk/2.1")
            .header("x-tenant", "salon-1")
            .header("x-staff-id", "u-17");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::from(body.to_string())).unwrap();
        let peer: SocketAddr = format!("{peer}:50000").parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let res = s.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, json)
    }

    const CLIENT: &str = "198.51.100.7";

    #[tokio::test]
    async fn a_booking_s_life_is_on_its_timeline_with_who_and_from_where() {
        let s = service();
        let (st, b) = call(&s, "POST", "/bookings", CLIENT, &[("x-request-id", "req-1")],
            json!({"customer": "c-9", "service": "Haircut", "start": "2026-03-28T09:00:00Z", "paid_cents": 4500})).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let id = b["id"].as_str().unwrap().to_owned();
        let steps = [
            (
                "reschedule",
                json!({"start": "2026-03-30T08:30:00Z", "reason": "customer asked"}),
            ),
            ("refund", json!({"cents": 2000})),
            ("cancel", json!({"reason": "customer ill"})),
        ];
        for (i, (step, body)) in steps.into_iter().enumerate() {
            let rid = format!("req-{}", i + 2);
            let (st, b) = call(
                &s,
                "POST",
                &format!("/bookings/{id}/{step}"),
                CLIENT,
                &[("x-request-id", &rid)],
                body,
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{step}: {b}");
        }
        let (st, t) = call(
            &s,
            "GET",
            &format!("/bookings/{id}/timeline"),
            CLIENT,
            &[],
            Value::Null,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{t}");
        let events = t["events"].as_array().unwrap();
        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "booking.cancelled",
                "payment.refunded",
                "booking.rescheduled",
                "booking.created"
            ]
        );
        for (e, rid) in events.iter().zip(["req-4", "req-3", "req-2", "req-1"]) {
            assert_eq!(e["actor"], "u-17");
            assert_eq!(e["source"], "web");
            assert_eq!(e["ip"], CLIENT);
            assert_eq!(e["request_id"], rid);
        }
        // In the salon's zone: 09:00 UTC on 28 March is 10:00 in Berlin (CET), 08:30 UTC on
        // 30 March is 10:30 (CEST, after the switch).
        let moved = events[2]["sentence"].as_str().unwrap();
        assert!(
            moved.contains("10:00") && moved.contains("10:30"),
            "{moved}"
        );
        let stored = s.trail.history(&Target::new("booking", &id)).await.unwrap();
        assert!(stored
            .iter()
            .all(|e| e.tenant.as_deref() == Some("salon-1")));
        assert!(s.trail.verify().await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_failed_login_is_recorded_as_a_failure_of_the_named_user() {
        let s = service();
        let (st, _) = call(
            &s,
            "POST",
            "/login",
            CLIENT,
            &[],
            json!({"user": "u-5", "password": "guess"}),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = call(
            &s,
            "POST",
            "/login",
            CLIENT,
            &[],
            json!({"user": "u-5", "password": "correct horse"}),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let events = s
            .trail
            .history(&Target::new("account", "u-5"))
            .await
            .unwrap();
        let outcomes: Vec<bool> = events.iter().map(|e| e.outcome.is_success()).collect();
        assert_eq!(outcomes, [true, false]);
        assert!(events.iter().all(|e| e.actor.id == "u-5"));
    }

    #[tokio::test]
    async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
        let s = service();
        let body = json!({"customer": "c-1", "service": "Nails", "start": "2026-04-01T10:00:00Z"});
        let spoof = [("x-forwarded-for", "6.6.6.6")];
        let (st, _) = call(&s, "POST", "/bookings", CLIENT, &spoof, body.clone()).await;
        assert_eq!(st, StatusCode::OK);
        // Through the named proxy, its header is believed.
        let via_proxy = [("x-forwarded-for", "203.0.113.50")];
        let (st, _) = call(&s, "POST", "/bookings", PROXY, &via_proxy, body).await;
        assert_eq!(st, StatusCode::OK);
        let ips: Vec<String> = s
            .trail
            .query(&auditkit::Query::new().oldest_first())
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| {
                e.request
                    .as_ref()
                    .and_then(|r| r.ip.clone())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(ips, [CLIENT, "203.0.113.50"]);
    }

    #[tokio::test]
    async fn another_tenant_s_booking_is_not_found() {
        let s = service();
        let (_, b) = call(
            &s,
            "POST",
            "/bookings",
            CLIENT,
            &[],
            json!({"customer": "c-1", "service": "Nails", "start": "2026-04-01T10:00:00Z"}),
        )
        .await;
        let id = b["id"].as_str().unwrap();
        // Editing the URL or the tenant header does not reach salon-1's booking.
        let mut req = Request::builder()
            .uri(format!("/bookings/{id}/timeline"))
            .header("x-tenant", "salon-2")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 1))));
        let res = s.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
