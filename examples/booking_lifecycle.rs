//! A salon's week in the audit trail: several bookings, staff and customers, a failed payment;
//! then the screens a booking app builds on it: one booking's history, a customer's history
//! across bookings, a staff member's activity, failures, a paged activity log, a CSV export,
//! and a checkpoint that proves nothing was altered.
//!
//! Run with `cargo run --example booking_lifecycle`.

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, Event, NewEvent, Outcome, Query, Source, Target};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("times from 1970 to 9999 format")
}

fn show(v: &Option<serde_json::Value>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn line(e: &Event) -> String {
    let target = e
        .target
        .as_ref()
        .map(Target::display_name)
        .unwrap_or_default();
    let outcome = match &e.outcome {
        Outcome::Failure { reason } => format!(" FAILED ({reason})"),
        _ => String::new(),
    };
    format!(
        "#{:<3} {} {:<22} {:<18} by {}{}",
        e.seq,
        e.occurred_at.date(),
        e.action,
        target,
        e.actor.display_name(),
        outcome
    )
}

fn main() -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let monday: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);
    let sarah = Actor::user("u-1").name("Sarah").role("manager");
    let sam = Actor::user("u-2").name("Sam").role("stylist");
    let customers = [
        ("c-1", "Alex Doe"),
        ("c-2", "Maria Rossi"),
        ("c-3", "Kim Lee"),
    ];

    // Each customer books twice during the week; the events of a booking go in one batch.
    for (i, (cid, cname)) in customers.iter().enumerate() {
        for visit in 0..2u8 {
            let at = monday + Duration::days(i64::from(visit) * 2 + i as i64);
            let booking = Target::new("booking", format!("b-{cid}-{visit}"))
                .label(format!("Haircut for {cname}"));
            let customer = Target::new("customer", *cid).label(*cname);
            let mut batch = vec![
                NewEvent::new("booking.created")
                    .tenant("salon-7")
                    .actor(Actor::customer(*cid).name(*cname))
                    .source(Source::Web)
                    .occurred_at(at)
                    .target(booking.clone())
                    .related(customer.clone())
                    .after(json!({"slot": {"start": rfc3339(at + Duration::days(1)), "staff": "Sam"}, "price": 4500})),
                NewEvent::new("booking.confirmed")
                    .tenant("salon-7")
                    .actor(sam.clone())
                    .occurred_at(at + Duration::minutes(30))
                    .target(booking.clone())
                    .related(customer.clone()),
            ];
            if visit == 1 {
                batch.push(
                    NewEvent::new("booking.rescheduled")
                        .tenant("salon-7")
                        .actor(sarah.clone())
                        .occurred_at(at + Duration::hours(3))
                        .target(booking.clone())
                        .related(customer.clone())
                        .before(json!({"slot": {"start": rfc3339(at + Duration::days(1))}}))
                        .after(json!({"slot": {"start": rfc3339(at + Duration::days(2))}}))
                        .context("reason", "stylist off sick"),
                );
            }
            trail.record_batch(batch)?;
        }
    }
    trail.record(
        NewEvent::new("payment.failed")
            .tenant("salon-7")
            .actor(Actor::service("stripe"))
            .source(Source::Webhook)
            .occurred_at(monday + Duration::days(4))
            .outcome(Outcome::failure("card declined"))
            .target(Target::new("order", "o-9"))
            .related(Target::new("customer", "c-2"))
            .context("amount", 4500)
            .context("currency", "EUR"),
    )?;

    let booking = Target::new("booking", "b-c-1-1");
    println!("== History of booking {}", booking.id);
    for e in trail.history(&booking)? {
        println!("{}", line(&e));
        for c in &e.changes {
            println!("       {}: {} -> {}", c.path, show(&c.old), show(&c.new));
        }
    }

    let maria = Target::new("customer", "c-2");
    println!("== Everything involving customer Maria Rossi");
    for e in trail
        .query(&Query::new().tenant("salon-7").involving(&maria))?
        .events
    {
        println!("{}", line(&e));
    }

    println!("== What Sarah did this week");
    let week = Query::new()
        .tenant("salon-7")
        .actor("u-1")
        .between(monday, monday + Duration::days(7));
    for e in trail.query(&week)?.events {
        println!("{}", line(&e));
    }

    println!("== Failures");
    for e in trail
        .query(&Query::new().tenant("salon-7").failures())?
        .events
    {
        println!("{}", line(&e));
    }

    println!("== Activity log, 5 per page, oldest first");
    let log = Query::new().tenant("salon-7").oldest_first().limit(5);
    let mut page = trail.query(&log)?;
    let mut n = 1;
    loop {
        println!(
            "page {n}: seq {:?}",
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>()
        );
        let Some(next) = page.next else { break };
        page = trail.query(&log.clone().after(next))?;
        n += 1;
    }
    println!(
        "bookings created: {}",
        trail.count(&Query::new().tenant("salon-7").action("booking.created"))?
    );

    println!("== CSV export of reschedules");
    trail.export_csv(
        &Query::new().action("booking.rescheduled"),
        std::io::stdout(),
    )?;

    let checkpoint = trail.checkpoint()?;
    let report = trail.verify_against(&checkpoint)?;
    println!(
        "== verify against checkpoint of size {}: {}",
        checkpoint.size, report
    );
    Ok(())
}
