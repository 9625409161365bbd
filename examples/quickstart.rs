//! A booking's whole life in an audit trail: created by the customer, confirmed, rescheduled by
//! staff, cancelled with a reason, refunded. Prints the booking's timeline, newest first, and
//! proves nothing was altered.
//!
//! Run with `cargo run --example quickstart`.

use std::io::Write;
use std::path::{Path, PathBuf};

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, NewEvent, Query, Source, Target};
use serde_json::json;
use time::macros::datetime;

/// The database `main` leaves behind, for the operator CLI to check.
fn kept_database() -> PathBuf {
    std::env::temp_dir().join("auditkit-quickstart.db")
}

fn main() -> auditkit::Result<()> {
    let path = kept_database();
    remove(&path);
    let mut out = std::io::stdout().lock();
    run_at(&path, &mut out)?;
    writeln!(
        out,
        "\nThe database is kept at {0}; check it with the operator CLI:\n  cargo run --features cli --bin auditkit -- verify {0}",
        path.display()
    )?;
    Ok(())
}

/// What `main` prints, on a database of its own that it removes afterwards (for tests).
pub fn run(out: &mut impl Write) -> auditkit::Result<()> {
    let path = std::env::temp_dir().join(format!("auditkit-quickstart-{}.db", std::process::id()));
    let result = run_at(&path, out);
    remove(&path);
    result
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Records the booking's life in the database at `path` and prints its timeline, the verify
/// report and a checkpoint.
fn run_at(path: &Path, out: &mut impl Write) -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open(path)?);
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
