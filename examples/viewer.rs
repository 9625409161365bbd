//! The embeddable audit viewer on a demo trail: a Berlin hair salon and a Lisbon clinic
//! living the scenarios of the five product pages (Opencals, OctopusPro, Bellafy, Cal.com,
//! bookitLive): bookings created, confirmed, rescheduled across the March clock change,
//! reassigned, cancelled, marked no-show; payments and refunds; a client's details changed;
//! failed and good logins; a support agent acting on an owner's behalf.
//!
//! `cargo run --example viewer --features web -- [PORT]` serves it on 127.0.0.1 (PORT 0, the
//! default, takes any free port) and prints the URLs: `/salon/` is the salon owner's view
//! (one tenant), `/admin/` a platform admin's (every tenant). It stops on Ctrl-C, or when its
//! standard input closes, so a test can start it and stop it.

use std::io::Read;
use std::net::SocketAddr;

use auditkit::vocab::{
    BookingCancelled, BookingConfirmed, BookingCreated, BookingNoShow, BookingReassigned,
    BookingRescheduled, Login, PaymentPaid, PaymentRefunded,
};
use auditkit::web::{Access, Viewer};
use auditkit::{
    Actor, AsyncAuditTrail, AuditTrail, MemoryStore, NewEvent, Outcome, RequestContext, Source,
    Target,
};
use axum::Router;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// Records the demo trail: about a hundred events over March and April 2026.
pub fn seed(trail: &AuditTrail<MemoryStore>) -> auditkit::Result<()> {
    let owner = Actor::user("u-1").name("Lena Vogel").role("owner");
    let stylist = Actor::user("u-2").name("Sam Richter").role("staff");
    let support = Actor::user("sup-7").name("Tom (support)").role("support");
    let web = RequestContext::new()
        .ip("203.0.113.9")
        .user_agent("Mozilla/5.0 (Macintosh)");
    let salon = |e: NewEvent| e.tenant("salon-1").request(web.clone());

    // Bellafy / Opencals: a booking's life across the clock change (28 → 30 March).
    let haircut = Target::new("booking", "b-100").label("Haircut with Sam");
    let mia = Target::new("customer", "c-9").label("Mia Keller");
    let start = datetime!(2026-03-28 09:00 UTC);
    let moved = datetime!(2026-03-30 08:30 UTC);
    let at = |t: OffsetDateTime, e: NewEvent| e.occurred_at(t);
    trail.record(at(
        datetime!(2026-03-20 17:05 UTC),
        salon(NewEvent::typed(&BookingCreated {
            start,
            end: Some(start + Duration::minutes(45)),
            service: Some("Haircut".into()),
            host: Some("Sam Richter".into()),
        }))
        .actor(Actor::customer("c-9").name("Mia Keller"))
        .source(Source::Web)
        .target(haircut.clone())
        .related(mia.clone())
        .after(json!({"start": "2026-03-28T09:00:00Z", "status": "pending"})),
    ))?;
    trail.record(at(
        datetime!(2026-03-20 17:40 UTC),
        salon(NewEvent::typed(&BookingConfirmed { rule: None }))
            .actor(stylist.clone())
            .source(Source::Web)
            .target(haircut.clone())
            .before(json!({"status": "pending"}))
            .after(json!({"status": "confirmed"})),
    ))?;
    trail.record(at(
        datetime!(2026-03-26 08:12 UTC),
        salon(NewEvent::typed(&BookingRescheduled {
            from: start,
            to: moved,
            reason: Some("customer asked".into()),
            new_booking_id: None,
        }))
        .actor(owner.clone())
        .source(Source::Web)
        .target(haircut.clone())
        .related(mia.clone())
        .before(json!({"start": "2026-03-28T09:00:00Z"}))
        .after(json!({"start": "2026-03-30T08:30:00Z"})),
    ))?;
    trail.record(at(
        datetime!(2026-03-27 10:00 UTC),
        salon(NewEvent::typed(&BookingReassigned {
            host: "Ana Costa".into(),
            previous_host: Some("Sam Richter".into()),
            assignment: Some("manual".into()),
        }))
        .actor(owner.clone().impersonated_by(support.clone()))
        .source(Source::Web)
        .target(haircut.clone())
        .context("ticket", "SUP-4411"),
    ))?;
    // OctopusPro: payment and a partial refund on the booking's order.
    trail.record(at(
        datetime!(2026-03-30 09:20 UTC),
        salon(NewEvent::typed(&PaymentPaid {
            amount: 4500,
            currency: "EUR".into(),
            method: Some("card".into()),
            transaction_id: Some("pi_3Q8x".into()),
        }))
        .actor(stylist.clone())
        .source(Source::Web)
        .target(haircut.clone())
        .related(mia.clone()),
    ))?;
    trail.record(at(
        datetime!(2026-03-31 11:00 UTC),
        salon(NewEvent::typed(&PaymentRefunded {
            amount: 1500,
            currency: "EUR".into(),
            original_amount: Some(4500),
            method: Some("card".into()),
            reason: Some("colour not as agreed".into()),
        }))
        .actor(owner.clone())
        .source(Source::Web)
        .target(haircut.clone())
        .related(mia.clone()),
    ))?;
    // bookitLive: the client's phone changed (a personal value, erasable).
    trail.record(at(
        datetime!(2026-04-01 15:30 UTC),
        salon(NewEvent::new("client.updated"))
            .actor(Actor::customer("c-9").name("Mia Keller"))
            .source(Source::Mobile)
            .target(mia.clone())
            .before(json!({"phone": "+49 151 0000001"}))
            .after(json!({"phone": "+49 151 0000002"})),
    ))?;
    // Cal.com: a failed sign-in, then a good one.
    for (minute, ok) in [(0, false), (1, true)] {
        let e = NewEvent::typed(&Login {
            method: Some("password".into()),
        })
        .occurred_at(datetime!(2026-04-02 07:00 UTC) + Duration::minutes(minute))
        .tenant("salon-1")
        .actor(stylist.clone())
        .source(Source::Web)
        .request(
            RequestContext::new()
                .ip("198.51.100.23")
                .user_agent("Mozilla/5.0 (iPhone)"),
        );
        trail.record(if ok {
            e
        } else {
            e.outcome(Outcome::failure("wrong password"))
        })?;
    }
    // A busy month: enough bookings for the audit log to page.
    for i in 0..60i64 {
        let b = Target::new("booking", format!("b-{}", 200 + i)).label(format!(
            "{} for client {}",
            ["Cut", "Colour", "Nails"][(i % 3) as usize],
            i
        ));
        let when = datetime!(2026-04-03 08:00 UTC) + Duration::hours(5 * i);
        let actor = if i % 2 == 0 {
            stylist.clone()
        } else {
            owner.clone()
        };
        trail.record(at(
            when,
            salon(NewEvent::typed(&BookingCreated {
                start: when + Duration::days(3),
                end: None,
                service: None,
                host: None,
            }))
            .actor(actor.clone())
            .source(Source::Web)
            .target(b.clone())
            .related(Target::new("customer", format!("c-{}", 20 + i % 7))),
        ))?;
        if i % 9 == 4 {
            trail.record(at(
                when + Duration::hours(2),
                salon(NewEvent::typed(&BookingCancelled {
                    reason: Some("client ill".into()),
                    fee_amount: Some(1000),
                    currency: Some("EUR".into()),
                }))
                .actor(Actor::customer(format!("c-{}", 20 + i % 7)))
                .source(Source::Mobile)
                .target(b.clone()),
            ))?;
        }
        if i % 11 == 7 {
            trail.record(at(
                when + Duration::days(3) + Duration::minutes(20),
                salon(NewEvent::typed(&BookingNoShow { who: None }))
                    .actor(actor)
                    .source(Source::Web)
                    .target(b),
            ))?;
        }
    }
    // Another tenant, which the salon's owner never sees.
    trail.record(
        NewEvent::typed(&BookingCreated {
            start: datetime!(2026-04-04 10:00 UTC),
            end: None,
            service: Some("Physiotherapy".into()),
            host: Some("Dr. Rui".into()),
        })
        .occurred_at(datetime!(2026-04-01 09:00 UTC))
        .tenant("clinic-2")
        .actor(Actor::user("u-50").name("Rita Sousa").role("reception"))
        .source(Source::Web)
        .target(Target::new("booking", "b-100").label("Physio, Rita's clinic")),
    )?;
    Ok(())
}

/// The demo's app: the salon owner's view and a platform admin's.
pub fn app(trail: AsyncAuditTrail<MemoryStore>) -> Router {
    let salon = Viewer::new(trail.clone())
        .zone("Europe/Berlin")
        .access(|_| Some(Access::Tenant("salon-1".into())));
    let admin = Viewer::new(trail)
        .zone("Europe/Berlin")
        .access(|_| Some(Access::AllTenants));
    Router::new()
        .nest_service("/salon", salon.router())
        .nest_service("/admin", admin.router())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(0), |p| p.parse())?;
    let trail = AuditTrail::new(MemoryStore::new());
    seed(&trail)?;
    let trail = AsyncAuditTrail::new(trail)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("audit viewer on http://{addr}/salon/ (the salon's owner) and http://{addr}/admin/ (every tenant)");

    // Stops on Ctrl-C, or when whoever started it closes its stdin.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = closed.send(());
    });
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stdin_closed => {}
        }
    };
    axum::serve(
        listener,
        app(trail).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await?;
    Ok(())
}
