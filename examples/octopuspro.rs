//! OctopusPro: a field-service booking's change log with old and new values, the Booking
//! History Log report of new and modified bookings per day, and a customer's consolidated
//! history across all their bookings.
//!
//! Run with `cargo run --example octopuspro`.

use std::collections::BTreeMap;
use std::io::Write;

use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{
    self, actions, BookingCreated, BookingReassigned, InvoiceCreated, InvoiceSent, PaymentPaid,
};
use auditkit::{Actor, ActorKind, AuditTrail, GroupBy, NewEvent, Query, Source, Target};
use serde_json::{json, Value};
use time::macros::datetime;

fn main() -> auditkit::Result<()> {
    run(&mut std::io::stdout().lock())
}

const ZONE: &str = "Australia/Sydney";
const BIZ: &str = "octopus-hvac";

/// Records a week of bookings and prints the three views.
pub fn run(out: &mut impl Write) -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let now = datetime!(2026-03-10 09:00 +11);

    let jordan = Target::new("customer", "c-88").label("Jordan Lee");
    let aircon = Target::new("booking", "b-501").label("Aircon service, 12 High St");
    let gutter = Target::new("booking", "b-502").label("Gutter clean, 12 High St");
    let other = Target::new("booking", "b-503").label("Boiler check, 3 Low Rd");
    let priya = || Actor::user("u-2").name("Priya").role("dispatcher");
    let kim = || Actor::user("u-1").name("Kim").role("admin");
    let ola = || Actor::user("u-7").name("Ola").role("fieldworker");
    let typed = |e: NewEvent, b: &Target| e.tenant(BIZ).target(b.clone()).related(jordan.clone());

    trail.record_batch(vec![
        typed(
            NewEvent::typed(&BookingCreated {
                start: datetime!(2026-03-05 09:00 +11),
                end: None,
                service: Some("Aircon service".into()),
                host: Some("Ben".into()),
            }),
            &aircon,
        )
        .actor(priya())
        .source(Source::Web)
        .after(json!({"status": "scheduled", "start": "2026-03-04T22:00:00Z", "price": 12000, "technician": "Ben"}))
        .context("currency", "AUD")
        .occurred_at(datetime!(2026-03-02 09:00 +11)),
        NewEvent::new(actions::BOOKING_MODIFIED)
            .tenant(BIZ)
            .target(aircon.clone())
            .related(jordan.clone())
            .actor(kim())
            .before(json!({"price": 12000, "currency": "AUD"}))
            .after(json!({"price": 15000, "currency": "AUD"}))
            .context("reason", "second indoor unit")
            .occurred_at(datetime!(2026-03-02 15:30 +11)),
        NewEvent::new(actions::BOOKING_RESCHEDULED)
            .tenant(BIZ)
            .target(aircon.clone())
            .related(jordan.clone())
            .actor(priya())
            .before(json!({"start": "2026-03-04T22:00:00Z"}))
            .after(json!({"start": "2026-03-06T02:00:00Z"}))
            .context("reason", "customer asked for Friday")
            .occurred_at(datetime!(2026-03-03 10:00 +11)),
        typed(
            NewEvent::typed(&BookingReassigned {
                host: "Ola".into(),
                previous_host: Some("Ben".into()),
                assignment: Some("manual".into()),
            }),
            &aircon,
        )
        .actor(priya())
        .before(json!({"technician": "Ben"}))
        .after(json!({"technician": "Ola"}))
        .occurred_at(datetime!(2026-03-03 10:05 +11)),
        NewEvent::new(actions::BOOKING_COMPLETED)
            .tenant(BIZ)
            .target(aircon.clone())
            .related(jordan.clone())
            .actor(ola())
            .source(Source::Mobile)
            .before(json!({"status": "scheduled"}))
            .after(json!({"status": "completed"}))
            .occurred_at(datetime!(2026-03-06 16:00 +11)),
        typed(
            NewEvent::typed(&InvoiceCreated {
                number: "INV-1042".into(),
                amount: Some(15000),
                currency: Some("AUD".into()),
            }),
            &aircon,
        )
        .actor(Actor::system())
        .occurred_at(datetime!(2026-03-06 16:30 +11)),
        typed(
            NewEvent::typed(&InvoiceSent {
                number: "INV-1042".into(),
                recipient: Some("jordan@example.com".into()),
            }),
            &aircon,
        )
        .actor(Actor::system())
        .occurred_at(datetime!(2026-03-06 16:31 +11)),
        typed(
            NewEvent::typed(&PaymentPaid {
                amount: 15000,
                currency: "AUD".into(),
                method: Some("bank transfer".into()),
                transaction_id: None,
            }),
            &aircon,
        )
        .actor(kim())
        .occurred_at(datetime!(2026-03-09 11:00 +11)),
    ])?;
    trail.record_batch(vec![
        NewEvent::new(actions::BOOKING_CREATED)
            .tenant(BIZ)
            .target(gutter.clone())
            .related(jordan.clone())
            .actor(Actor::customer("c-88").name("Jordan Lee"))
            .source(Source::Web)
            .after(json!({"status": "scheduled", "start": "2026-03-10T23:00:00Z", "price": 9000}))
            .context("currency", "AUD")
            .occurred_at(datetime!(2026-03-03 20:10 +11)),
        NewEvent::new(actions::BOOKING_CANCELLED)
            .tenant(BIZ)
            .target(gutter.clone())
            .related(jordan.clone())
            .actor(priya())
            .before(json!({"status": "scheduled"}))
            .after(json!({"status": "cancelled"}))
            .context("reason", "customer request by phone")
            .occurred_at(datetime!(2026-03-04 08:45 +11)),
        NewEvent::new(actions::BOOKING_CREATED)
            .tenant(BIZ)
            .target(other.clone())
            .related(Target::new("customer", "c-90").label("Sam Roe"))
            .actor(priya())
            .after(json!({"status": "scheduled", "price": 11000}))
            .occurred_at(datetime!(2026-03-04 23:30 +11)),
    ])?;

    // 1. Activity → History inside the booking.
    writeln!(
        out,
        "Booking History · {} (newest first)",
        aircon.display_name()
    )?;
    for e in trail.history(&aircon)? {
        let d = e.describe_in(ZONE, now)?;
        let (who, role) = match e.actor.kind {
            ActorKind::System => ("System", "automatic"),
            _ => (
                e.actor.display_name(),
                e.actor.role.as_deref().unwrap_or("-"),
            ),
        };
        let what = vocab::description(&e.action).unwrap_or(&e.action);
        writeln!(out, "  {} · {who} ({role}) · {what}", d.at)?;
        for c in &e.changes {
            let show = |v: &Option<Value>| match v {
                None => "—".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            writeln!(out, "      {}: {} → {}", c.path, show(&c.old), show(&c.new))?;
        }
    }

    // 2. Booking History Log: new and modified bookings per day, in the business's zone.
    let week = Query::new().tenant(BIZ).between(
        datetime!(2026-03-02 00:00 +11),
        datetime!(2026-03-09 00:00 +11),
    );
    let new = trail.summarize(
        &week.clone().action(actions::BOOKING_CREATED),
        &GroupBy::day_in(ZONE),
    )?;
    let modified = trail.summarize(
        &week.clone().actions([
            actions::BOOKING_MODIFIED,
            actions::BOOKING_RESCHEDULED,
            actions::BOOKING_REASSIGNED,
            actions::BOOKING_CANCELLED,
            actions::BOOKING_COMPLETED,
        ]),
        &GroupBy::day_in(ZONE),
    )?;
    let mut days: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (day, n) in new {
        days.entry(day).or_default().0 = n;
    }
    for (day, n) in modified {
        days.entry(day).or_default().1 = n;
    }
    writeln!(out)?;
    writeln!(out, "Booking History Log · week of 2 Mar 2026 ({ZONE})")?;
    writeln!(out, "  {:<12} {:>4} {:>9}", "day", "new", "modified")?;
    for (day, (n, m)) in &days {
        writeln!(out, "  {day:<12} {n:>4} {m:>9}")?;
    }
    let who = trail.summarize(&week, &GroupBy::Actor)?;
    let who: Vec<String> = who.iter().map(|(a, n)| format!("{a}: {n}")).collect();
    writeln!(out, "  changes by user: {}", who.join(", "))?;

    // 3. Customer profile → History: every booking of this customer, oldest first.
    writeln!(out)?;
    writeln!(
        out,
        "Customer profile · History of {}",
        jordan.display_name()
    )?;
    trail.for_each(
        &Query::new().tenant(BIZ).involving(&jordan).oldest_first(),
        |e| {
            let d = e.describe_in(ZONE, now)?;
            writeln!(out, "  {} · {}", d.at, d.sentence)?;
            Ok(())
        },
    )?;
    Ok(())
}
