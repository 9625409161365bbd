//! Opencals: a booking's history tab and an order's payment lifecycle.
//!
//! A salon with four staff members. Alex books a haircut online, the system confirms it, Sarah
//! moves it when Alex calls, Alex cancels from the phone, and Sarah refunds the payment. A
//! second booking ends as a no-show. Every line says who did it: a staff member by name and
//! role, the customer ("customer"), or the system.
//!
//! Run with `cargo run --example opencals`.

use std::io::Write;

use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{self, actions, *};
use auditkit::{Actor, ActorKind, AuditTrail, NewEvent, Query, Source, Target};
use time::macros::datetime;

fn main() -> auditkit::Result<()> {
    run(&mut std::io::stdout().lock())
}

/// The salon's time zone: the screen shows local times.
const ZONE: &str = "Europe/Amsterdam";
const SALON: &str = "salon-opencals";

/// Records the scenario and prints the booking's history and the order's lifecycle.
pub fn run(out: &mut impl Write) -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let now = datetime!(2026-01-13 12:00 UTC);

    let booking = Target::new("booking", "b-2041").label("Haircut with Sam");
    let order = Target::new("order", "o-77").label("Order #77");
    let alex = Target::new("customer", "c-9").label("Alex Doe");
    let alex_acts = || Actor::customer("c-9").name("Alex Doe");
    let sarah = || Actor::user("u-17").name("Sarah").role("manager");
    let sam = || Actor::user("u-18").name("Sam").role("staff");
    let on_booking = |e: NewEvent| {
        e.tenant(SALON)
            .target(booking.clone())
            .related(alex.clone())
            .related(order.clone())
    };
    let on_order = |e: NewEvent| {
        e.tenant(SALON)
            .target(order.clone())
            .related(booking.clone())
            .related(alex.clone())
    };

    trail.record_batch(vec![
        on_order(NewEvent::typed(&OrderCreated {
            amount: Some(4500),
            currency: Some("EUR".into()),
        }))
        .actor(alex_acts())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-05 18:30 UTC)),
        on_booking(NewEvent::typed(&BookingCreated {
            start: datetime!(2026-01-10 13:00 UTC),
            end: Some(datetime!(2026-01-10 13:45 UTC)),
            service: Some("Haircut".into()),
            host: Some("Sam".into()),
        }))
        .actor(alex_acts())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-05 18:30:01 UTC)),
        on_booking(NewEvent::typed(&BookingConfirmed {
            rule: Some("auto-confirm for returning customers".into()),
        }))
        .actor(Actor::system())
        .occurred_at(datetime!(2026-01-05 18:30:02 UTC)),
        on_order(NewEvent::typed(&PaymentPaid {
            amount: 4500,
            currency: "EUR".into(),
            method: Some("card".into()),
            transaction_id: Some("pi_3Q0x".into()),
        }))
        .actor(Actor::service("stripe").name("Stripe"))
        .source(Source::Webhook)
        .occurred_at(datetime!(2026-01-05 18:31 UTC)),
        on_booking(NewEvent::typed(&BookingRescheduled {
            from: datetime!(2026-01-10 13:00 UTC),
            to: datetime!(2026-01-15 08:00 UTC),
            reason: Some("customer called to move it".into()),
            new_booking_id: None,
        }))
        .actor(sarah())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-06 13:15 UTC)),
        on_booking(NewEvent::typed(&BookingCancelled {
            reason: Some("feeling unwell".into()),
            fee_amount: None,
            currency: None,
        }))
        .actor(alex_acts())
        .source(Source::Mobile)
        .occurred_at(datetime!(2026-01-12 20:05 UTC)),
        on_order(NewEvent::typed(&PaymentRefunded {
            amount: 4500,
            currency: "EUR".into(),
            original_amount: None,
            method: Some("card".into()),
            reason: Some("cancelled more than 24 hours ahead".into()),
        }))
        .actor(sarah())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-13 10:00 UTC)),
    ])?;

    // A second booking of Alex's: not cancelled, and Alex did not come.
    let color = Target::new("booking", "b-2050").label("Colour with Sam");
    let order2 = Target::new("order", "o-81").label("Order #81");
    trail.record_batch(vec![
        NewEvent::typed(&PaymentPaid {
            amount: 8000,
            currency: "EUR".into(),
            method: Some("cash".into()),
            transaction_id: None,
        })
        .tenant(SALON)
        .actor(sam())
        .target(order2.clone())
        .related(color.clone())
        .occurred_at(datetime!(2026-01-07 10:00 UTC)),
        NewEvent::typed(&BookingNoShow {
            who: Some("customer".into()),
        })
        .tenant(SALON)
        .actor(sam())
        .target(color.clone())
        .related(alex.clone())
        .related(order2.clone())
        .occurred_at(datetime!(2026-01-08 16:20 UTC)),
        NewEvent::typed(&OrderFulfilled {
            outcome: Some("no-show".into()),
        })
        .tenant(SALON)
        .actor(Actor::system())
        .target(order2.clone())
        .related(color.clone())
        .occurred_at(datetime!(2026-01-08 16:20:01 UTC)),
    ])?;

    writeln!(
        out,
        "Booking {} · history (newest first)",
        booking.display_name()
    )?;
    let history = trail.query(&Query::new().tenant(SALON).involving(&booking))?;
    for e in &history.events {
        let d = e.describe_in(ZONE, now)?;
        let tag = match e.actor.kind {
            ActorKind::Customer => "customer action",
            ActorKind::System | ActorKind::Service => "system",
            _ => "staff",
        };
        writeln!(out, "  {} · {} [{tag}, {}]", d.at, d.sentence, d.relative)?;
    }

    writeln!(out)?;
    writeln!(out, "{} · payment lifecycle", order.display_name())?;
    trail.for_each(
        &Query::new().tenant(SALON).target(&order).oldest_first(),
        |e| {
            let stage = vocab::description(&e.action).unwrap_or(&e.action);
            let d = e.describe_in(ZONE, now)?;
            writeln!(out, "  {:<20} {} · {}", stage, d.at, d.sentence)?;
            Ok(())
        },
    )?;

    writeln!(out)?;
    writeln!(out, "{} · payment lifecycle", order2.display_name())?;
    for e in trail
        .query(&Query::new().tenant(SALON).involving(&order2).oldest_first())?
        .events
    {
        writeln!(out, "  {}", e.describe_in(ZONE, now)?.sentence)?;
    }

    // The questions the page says the log answers.
    writeln!(out)?;
    let refund = trail
        .query(
            &Query::new()
                .tenant(SALON)
                .involving(&booking)
                .action(actions::PAYMENT_REFUNDED),
        )?
        .events;
    if let Some(r) = refund.first() {
        let d = r.describe_in(ZONE, now)?;
        writeln!(
            out,
            "Who processed this refund? {} ({}), {}",
            r.actor.display_name(),
            r.actor.role.as_deref().unwrap_or("-"),
            d.at
        )?;
    }
    let cancel = trail
        .query(
            &Query::new()
                .tenant(SALON)
                .target(&booking)
                .action(actions::BOOKING_CANCELLED),
        )?
        .events;
    if let Some(c) = cancel.first() {
        let who = if c.actor.kind == ActorKind::Customer {
            "the customer"
        } else {
            "we"
        };
        writeln!(
            out,
            "Did the customer cancel, or did we? {who} (from {})",
            c.source
        )?;
    }
    let report = trail.verify()?;
    writeln!(out, "Nothing altered: {}", report.is_ok())?;
    Ok(())
}
