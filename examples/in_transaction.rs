//! One booking's day, recorded two ways: inside the app's own SQLite transactions
//! (`record_in`, the audit log in the app's database file), and with an outbox (the events
//! queued in the app's transaction, recorded afterwards into a separate audit file).
//!
//! Alex books a massage online; Sarah moves it when Alex calls; Alex tries to cancel too
//! late, which the app refuses (its transaction rolls back, and the refusal is recorded after
//! the rollback); Sarah cancels it for Alex. Both ways print the same timeline.
//!
//! Run with `cargo run --example in_transaction`.

use std::io::Write;
use std::path::Path;

use auditkit::sqlite::rusqlite::{self, Connection, Transaction, TransactionBehavior};
use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, Event, NewEvent, Outcome, Source, Target};
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    run(dir.path(), &mut std::io::stdout().lock())
}

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// A change the booking app makes: its own SQL, and the event that says what happened.
struct Step {
    sql: &'static str,
    /// `None`: the app refuses the change (its transaction rolls back).
    event: Option<NewEvent>,
    refusal: Option<NewEvent>,
}

fn booking() -> Target {
    Target::new("booking", "b-1").label("Massage 60 min")
}

fn alex() -> Actor {
    Actor::customer("c-9").name("Alex Doe")
}

fn sarah() -> Actor {
    Actor::user("u-17").name("Sarah").role("staff")
}

/// The day's changes, the same for both ways.
fn steps() -> Vec<Step> {
    let on_booking = |action: &str, at: OffsetDateTime| {
        NewEvent::new(action)
            .tenant("spa-1")
            .target(booking())
            .occurred_at(at)
    };
    vec![
        Step {
            sql: "INSERT INTO bookings VALUES ('b-1', '2026-03-28T10:00:00Z', 'booked')",
            event: Some(
                on_booking("booking.created", datetime!(2026-03-20 09:00 UTC))
                    .actor(alex())
                    .source(Source::Web)
                    .after(json!({"start": "2026-03-28T10:00:00Z", "status": "booked"})),
            ),
            refusal: None,
        },
        Step {
            sql: "UPDATE bookings SET start = '2026-03-30T10:30:00Z' WHERE id = 'b-1'",
            event: Some(
                on_booking("booking.rescheduled", datetime!(2026-03-25 16:10 UTC))
                    .actor(sarah())
                    .before(json!({"start": "2026-03-28T10:00:00Z"}))
                    .after(json!({"start": "2026-03-30T10:30:00Z"}))
                    .context("reason", "customer called"),
            ),
            refusal: None,
        },
        Step {
            sql: "UPDATE bookings SET status = 'cancelled' WHERE id = 'b-1'",
            event: None,
            refusal: Some(
                on_booking("booking.cancelled", datetime!(2026-03-30 08:00 UTC))
                    .actor(alex())
                    .source(Source::Mobile)
                    .outcome(Outcome::failure("less than 24 hours before the start")),
            ),
        },
        Step {
            sql: "UPDATE bookings SET status = 'cancelled' WHERE id = 'b-1'",
            event: Some(
                on_booking("booking.cancelled", datetime!(2026-03-30 08:05 UTC))
                    .actor(sarah())
                    .before(json!({"status": "booked"}))
                    .after(json!({"status": "cancelled"}))
                    .context("reason", "customer is ill"),
            ),
            refusal: None,
        },
    ]
}

const APP_TABLES: &str = "
    CREATE TABLE bookings (id TEXT PRIMARY KEY, start TEXT NOT NULL, status TEXT NOT NULL);
    CREATE TABLE audit_outbox (id INTEGER PRIMARY KEY, event TEXT NOT NULL);";

/// Runs the day both ways in `dir` and prints both timelines.
pub fn run(dir: &Path, out: &mut impl Write) -> Fallible<()> {
    let in_app = in_the_app_transaction(&dir.join("app.db"))?;
    print_timeline(
        out,
        "In the app's transaction (one file, record_in)",
        &in_app,
    )?;
    let outboxed = with_an_outbox(&dir.join("app-outbox.db"), &dir.join("audit.db"))?;
    print_timeline(
        out,
        "With an outbox (events queued in the app's transaction, recorded afterwards)",
        &outboxed,
    )?;
    let same = in_app
        .iter()
        .zip(&outboxed)
        .all(|(a, b)| a.describe() == b.describe());
    writeln!(
        out,
        "both ways recorded the same {} events: {same}",
        in_app.len()
    )?;
    Ok(())
}

/// The audit log in the app's own file: each change and its event commit together.
fn in_the_app_transaction(path: &Path) -> Fallible<Vec<Event>> {
    let mut app = Connection::open(path)?;
    app.execute_batch(APP_TABLES)?;
    let trail = AuditTrail::new(SqliteStore::adopt(path)?);
    for step in steps() {
        let tx = app.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(step.sql, [])?;
        match step.event {
            Some(event) => {
                trail.record_in(&tx, event)?;
                tx.commit()?;
            }
            None => {
                tx.rollback()?;
                // Recorded after the rollback, so the refusal is not rolled back with it.
                if let Some(refusal) = step.refusal {
                    trail.record(refusal)?;
                }
            }
        }
    }
    let report = trail.verify()?;
    assert!(report.is_ok(), "{report}");
    Ok(trail.history(&booking())?)
}

/// The audit log in a file of its own: events queued in the app's transaction, then relayed.
fn with_an_outbox(app_path: &Path, audit_path: &Path) -> Fallible<Vec<Event>> {
    let mut app = Connection::open(app_path)?;
    app.execute_batch(APP_TABLES)?;
    let trail = AuditTrail::new(SqliteStore::open(audit_path)?);
    for (i, step) in steps().into_iter().enumerate() {
        let tx = app.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(step.sql, [])?;
        match step.event {
            Some(event) => {
                queue(&tx, event.idempotency_key(format!("outbox-b-1-{i}")))?;
                tx.commit()?;
            }
            None => {
                tx.rollback()?;
                if let Some(refusal) = step.refusal {
                    trail.record(refusal)?;
                }
            }
        }
        relay(&app, &trail)?;
    }
    let report = trail.verify()?;
    assert!(report.is_ok(), "{report}");
    Ok(trail.history(&booking())?)
}

fn queue(tx: &Transaction<'_>, event: NewEvent) -> Fallible<()> {
    tx.execute(
        "INSERT INTO audit_outbox (event) VALUES (?1)",
        [serde_json::to_string(&event)?],
    )?;
    Ok(())
}

/// Records what the outbox holds, oldest first, and removes it. Run after a crash too: the
/// idempotency keys make a second recording of the same event store nothing.
fn relay(app: &Connection, trail: &AuditTrail<SqliteStore>) -> Fallible<()> {
    let queued: Vec<(i64, String)> = app
        .prepare("SELECT id, event FROM audit_outbox ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, json) in queued {
        trail.record(serde_json::from_str::<NewEvent>(&json)?)?;
        app.execute("DELETE FROM audit_outbox WHERE id = ?1", [id])?;
    }
    Ok(())
}

fn print_timeline(out: &mut impl Write, title: &str, events: &[Event]) -> Fallible<()> {
    writeln!(out, "{title}:")?;
    for e in events {
        writeln!(out, "  #{} {}", e.seq, e.describe())?;
    }
    writeln!(out)?;
    Ok(())
}
