//! A booking's whole life in an audit trail: created by the customer, confirmed, rescheduled by
//! staff, cancelled with a reason, refunded. Prints the booking's timeline, newest first, and
//! proves nothing was altered.
//!
//! Run with `cargo run --example quickstart`.

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, NewEvent, Query, Source, Target};
use serde_json::json;
use time::macros::datetime;

fn main() -> auditkit::Result<()> {
    run(&mut std::io::stdout().lock())
}

/// Records the booking's life and prints its timeline, the verify report and a checkpoint.
pub fn run(out: &mut impl std::io::Write) -> auditkit::Result<()> {
    let path = std::env::temp_dir().join(format!("auditkit-quickstart-{}.db", std::process::id()));
    let trail = AuditTrail::new(SqliteStore::open(&path)?);
    record(&trail)?;
    let booking = Target::new("booking", "b-123").label("Haircut with Sam");

    writeln!(
        out,
        "Timeline of {} (newest first):",
        booking.display_name()
    )?;
    let timeline = trail.query(&Query::new().tenant("salon-42").involving(&booking))?;
    for e in &timeline.events {
        let when = e
            .occurred_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|err| auditkit::Error::from(std::io::Error::other(err)))?;
        writeln!(out, "  #{} {when} {}", e.seq, e.describe())?;
    }

    let report = trail.verify()?;
    writeln!(out, "verify: {report}")?;
    let checkpoint = trail.checkpoint()?;
    writeln!(
        out,
        "checkpoint (keep it outside the database):\n{checkpoint}"
    )?;
    drop(trail);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(())
}

/// The booking's life as [`run`] records it (the CLI's tests verify this database).
pub fn record<S: AuditStore>(trail: &AuditTrail<S>) -> auditkit::Result<()> {
    let booking = Target::new("booking", "b-123").label("Haircut with Sam");
    let customer = Target::new("customer", "c-9").label("Alex Doe");
    let sarah = Actor::user("u-17").name("Sarah").role("staff");

    trail.record(
        NewEvent::new("booking.created")
            .tenant("salon-42")
            .actor(Actor::customer("c-9").name("Alex Doe"))
            .source(Source::Web)
            .occurred_at(datetime!(2026-01-05 18:30 UTC))
            .target(booking.clone())
            .related(customer.clone())
            .after(json!({"service": "Haircut", "staff": "Sam", "start": "2026-01-10T14:00:00Z", "price": 4500}))
            .context("channel", "online booking page"),
    )?;
    trail.record(
        NewEvent::new("booking.confirmed")
            .tenant("salon-42")
            .actor(Actor::system())
            .occurred_at(datetime!(2026-01-05 18:30:02 UTC))
            .target(booking.clone())
            .related(customer.clone())
            .context("rule", "auto-confirm for returning customers"),
    )?;
    trail.record(
        NewEvent::new("booking.rescheduled")
            .tenant("salon-42")
            .actor(sarah.clone())
            .source(Source::Web)
            .occurred_at(datetime!(2026-01-08 09:12 UTC))
            .target(booking.clone())
            .related(customer.clone())
            .before(json!({"start": "2026-01-10T14:00:00Z"}))
            .after(json!({"start": "2026-01-15T09:00:00Z"}))
            .context("reason", "customer called to move it"),
    )?;
    trail.record(
        NewEvent::new("booking.cancelled")
            .tenant("salon-42")
            .actor(Actor::customer("c-9").name("Alex Doe"))
            .source(Source::Mobile)
            .occurred_at(datetime!(2026-01-12 20:05 UTC))
            .target(booking.clone())
            .related(customer.clone())
            .before(json!({"status": "confirmed"}))
            .after(json!({"status": "cancelled"}))
            .context("reason", "feeling unwell"),
    )?;
    trail.record(
        NewEvent::new("payment.refunded")
            .tenant("salon-42")
            .actor(sarah)
            .source(Source::Web)
            .occurred_at(datetime!(2026-01-13 10:00 UTC))
            .target(Target::new("order", "o-77"))
            .related(booking.clone())
            .related(customer)
            .context("amount", 4500)
            .context("currency", "EUR")
            .context("method", "card"),
    )?;
    Ok(())
}
