//! "I never moved my appointment." A salon answers a customer's dispute with evidence the
//! customer (or their bank, or an auditor) can check on their own, with no access to the
//! salon's database: an evidence bundle of the booking's events, each with its Merkle
//! inclusion proof, and a checkpoint signed with the salon's published key.
//!
//! The salon records a day of bookings, signs a checkpoint, writes booking b-1's bundle to a
//! file; then, as an outsider holding only that file and the salon's public key, the example
//! checks the signature and the bundle and prints what it proves and the booking's timeline.
//! Last, it shows that an edited file (the reschedule's time changed, or the reschedule
//! dropped) is refused.
//!
//! Run with `cargo run --example dispute --features sign`.

use std::io::Write;
use std::path::Path;

use auditkit::integrity::bundle::{verify_signed_bundle, EvidenceBundle};
use auditkit::integrity::sign::{NoteSigner, NoteVerifier};
use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, NewEvent, Source, Target};
use serde_json::json;
use time::macros::datetime;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Fallible<()> {
    let dir = tempfile::tempdir()?;
    run(dir.path(), &mut std::io::stdout().lock())
}

/// The salon's side: records the day and writes booking b-1's bundle; returns the file and
/// the key string the salon publishes (on its website, in its terms).
fn salon(dir: &Path) -> Fallible<(std::path::PathBuf, String)> {
    let trail = AuditTrail::new(SqliteStore::open(dir.join("audit.db"))?);
    let alex = Actor::customer("c-9").name("Alex Doe");
    let sarah = Actor::user("u-17").name("Sarah").role("staff");
    let booking = Target::new("booking", "b-1").label("Colour & cut");
    let on_b1 = |action: &str| {
        NewEvent::new(action)
            .tenant("salon-7")
            .target(booking.clone())
            .related(Target::new("customer", "c-9"))
    };
    trail.record(
        on_b1("booking.created")
            .actor(alex.clone())
            .source(Source::Web)
            .after(json!({"start": "2026-03-28T10:00:00Z", "status": "booked"}))
            .occurred_at(datetime!(2026-03-20 18:02 UTC)),
    )?;
    // Other bookings of the day, in between.
    for (i, who) in ["c-3", "c-4", "c-5"].iter().enumerate() {
        trail.record(
            NewEvent::new("booking.created")
                .tenant("salon-7")
                .actor(Actor::customer(*who))
                .target(Target::new("booking", format!("b-{}", i + 2)))
                .occurred_at(datetime!(2026-03-24 09:00 UTC)),
        )?;
    }
    trail.record(
        on_b1("booking.rescheduled")
            .actor(sarah.clone())
            .source(Source::Web)
            .context("reason", "customer called to move it")
            .before(json!({"start": "2026-03-28T10:00:00Z"}))
            .after(json!({"start": "2026-03-30T10:30:00Z"}))
            .occurred_at(datetime!(2026-03-24 14:15 UTC)),
    )?;
    trail.record(
        on_b1("booking.reminder_sent")
            .actor(Actor::system())
            .context("channel", "sms")
            .occurred_at(datetime!(2026-03-29 10:30 UTC)),
    )?;
    // The salon's signing key lives in its secret store; its public half is published.
    let signer = NoteSigner::from_seed("audit.salon-7.example", [42; 32])?;
    let bundle = trail.signed_bundle(&Target::new("booking", "b-1"), Some("salon-7"), &signer)?;
    let file = dir.join("booking-b-1.evidence.json");
    std::fs::write(&file, bundle.to_json())?;
    Ok((file, signer.verifier().to_key_string()))
}

/// The outsider's side: the file and the published key, nothing else.
fn check(text: &str, key: &str) -> Fallible<String> {
    let bundle = EvidenceBundle::from_json(text)?;
    let report = verify_signed_bundle(&bundle, &NoteVerifier::from_key_string(key)?)?;
    let mut out = format!("{report}\n");
    for b in &bundle.events {
        let event = b.event.decode()?;
        out += &format!(
            "  #{} {}  {}\n",
            event.seq,
            event
                .occurred_at
                .format(&time::format_description::well_known::Rfc3339)?,
            event.describe()
        );
    }
    Ok(out)
}

pub fn run(dir: &Path, out: &mut dyn Write) -> Fallible<()> {
    let (file, key) = salon(dir)?;
    let text = std::fs::read_to_string(&file)?;
    writeln!(out, "The salon publishes its key: {key}")?;
    writeln!(
        out,
        "It sends {} ({} bytes).",
        file.file_name().unwrap_or_default().to_string_lossy(),
        text.len()
    )?;
    writeln!(out, "\nThe customer's bank checks it, with no database:")?;
    write!(out, "{}", check(&text, &key)?)?;

    writeln!(out, "\nThe same file, edited:")?;
    let moved = text.replacen("2026-03-24T14:15:00Z", "2026-03-24T09:15:00Z", 1);
    let mut dropped = EvidenceBundle::from_json(&text)?;
    dropped.events.remove(1);
    for (what, edited) in [
        ("the reschedule's time changed", moved),
        ("the reschedule left out", dropped.to_json()),
    ] {
        match check(&edited, &key) {
            Ok(_) => writeln!(out, "  {what}: ACCEPTED (this must not happen)")?,
            Err(e) => writeln!(out, "  {what}: refused: {e}")?,
        }
    }
    Ok(())
}
