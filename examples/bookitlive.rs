//! bookitLive: the audit search. Items (purchases, bookings, events, clients, users,
//! notifications) searched by date range, business, record type and action, user and client,
//! each with its status and its before and after details. Unlike the page's tool there is no
//! 90-day limit on the range, nothing is screen-only, and the log proves it was not altered.
//!
//! Run with `cargo run --example bookitlive`.

use std::io::Write;

use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{self, *};
use auditkit::{Actor, AuditTrail, Event, NewEvent, Outcome, Query, Target};
use serde_json::json;
use time::macros::datetime;

fn main() -> auditkit::Result<()> {
    run(&mut std::io::stdout().lock())
}

const ZONE: &str = "Australia/Brisbane";
const SPA: &str = "biz-101";
const GYM: &str = "biz-202";

/// Records ten months of two businesses' activity and prints four audit searches.
pub fn run(out: &mut impl Write) -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let now = datetime!(2026-11-30 12:00 +10);

    let jo = || {
        Actor::user("u-jo")
            .name("Jo Smith")
            .email("jo@spa.test")
            .role("manager")
    };
    let kai = || {
        Actor::user("u-kai")
            .name("Kai")
            .email("kai@spa.test")
            .role("staff")
    };
    let mia = Target::new("client", "cl-7").label("Mia Chen");
    let mia_details = |e: NewEvent| {
        e.related(mia.clone())
            .context("client_email", "mia@example.com")
            .context("client_phone", "+61 400 000 007")
    };
    let facial = Target::new("booking", "bk-1001").label("Facial 60 min");
    let order = Target::new("order", "pu-501").label("Purchase pu-501");
    let yoga = Target::new("event", "ev-12").label("Sunrise yoga");
    let spa = |e: NewEvent| e.tenant(SPA);

    trail.record_batch(vec![
        spa(mia_details(NewEvent::typed(&ClientCreated {})))
            .actor(jo())
            .target(mia.clone())
            .after(json!({"name": "Mia Chen", "email": "mia@example.com"}))
            .occurred_at(datetime!(2026-01-12 09:00 +10)),
        spa(mia_details(NewEvent::typed(&OrderCreated {
            amount: Some(6000),
            currency: Some("AUD".into()),
        })))
        .actor(jo())
        .target(order.clone())
        .context("receipt", "INV-300")
        .occurred_at(datetime!(2026-01-12 09:05 +10)),
        spa(mia_details(NewEvent::typed(&BookingCreated {
            start: datetime!(2026-02-03 10:00 +10),
            end: None,
            service: Some("Facial".into()),
            host: Some("Ana".into()),
        })))
        .actor(jo())
        .target(facial.clone())
        .after(json!({"start": "2026-02-03T00:00:00Z", "staff": "Ana"}))
        .occurred_at(datetime!(2026-01-20 14:00 +10)),
        spa(NewEvent::typed(&SmsConfirmationSent {
            to: Some("+61 400 000 007".into()),
        }))
        .actor(Actor::system())
        .target(facial.clone())
        .related(mia.clone())
        .occurred_at(datetime!(2026-01-20 14:00:05 +10)),
        spa(NewEvent::typed(&EmailConfirmationSent {
            to: Some("mia@example.com".into()),
        }))
        .actor(Actor::system())
        .target(facial.clone())
        .related(mia.clone())
        .outcome(Outcome::failure("mailbox full"))
        .occurred_at(datetime!(2026-01-20 14:00:06 +10)),
        spa(mia_details(NewEvent::new(actions::BOOKING_MODIFIED)))
            .actor(kai())
            .target(facial.clone())
            .before(json!({"start": "2026-02-03T00:00:00Z", "staff": "Ana"}))
            .after(json!({"start": "2026-02-05T04:00:00Z", "staff": "Ben"}))
            .occurred_at(datetime!(2026-02-01 11:30 +10)),
        spa(NewEvent::typed(&EventCreated {
            start: Some(datetime!(2026-03-01 06:00 +10)),
            capacity: Some(12),
        }))
        .actor(jo())
        .target(yoga.clone())
        .occurred_at(datetime!(2026-02-10 08:00 +10)),
        spa(NewEvent::typed(&EventUpdated {}))
            .actor(kai())
            .target(yoga.clone())
            .before(json!({"capacity": 12}))
            .after(json!({"capacity": 16}))
            .occurred_at(datetime!(2026-02-15 08:00 +10)),
        spa(mia_details(NewEvent::typed(&ClientFileUploaded {
            file_name: "consent.pdf".into(),
        })))
        .actor(kai())
        .target(mia.clone())
        .occurred_at(datetime!(2026-03-02 16:00 +10)),
        spa(mia_details(NewEvent::typed(&ClientFormCompleted {
            form: "Skin assessment".into(),
        })))
        .actor(Actor::customer("cl-7").name("Mia Chen"))
        .target(mia.clone())
        .occurred_at(datetime!(2026-03-02 18:20 +10)),
        spa(mia_details(NewEvent::typed(&BookingCancelled {
            reason: Some("moving interstate".into()),
            fee_amount: None,
            currency: None,
        })))
        .actor(kai())
        .target(facial.clone())
        .before(json!({"status": "confirmed"}))
        .after(json!({"status": "cancelled"}))
        .occurred_at(datetime!(2026-06-18 12:00 +10)),
        spa(mia_details(NewEvent::typed(&PaymentRefunded {
            amount: 2000,
            currency: "AUD".into(),
            original_amount: Some(6000),
            method: Some("card".into()),
            reason: Some("late cancellation fee kept".into()),
        })))
        .actor(jo())
        .target(order.clone())
        .context("receipt", "INV-300")
        .occurred_at(datetime!(2026-06-18 12:10 +10)),
        spa(NewEvent::typed(&BookingRequestSent {
            to: Some("sam@example.com".into()),
        }))
        .actor(Actor::system())
        .target(Target::new("booking", "bk-1300").label("Massage 30 min"))
        .occurred_at(datetime!(2026-08-01 09:00 +10)),
        spa(NewEvent::typed(&BookingDeclinedSent {
            to: Some("sam@example.com".into()),
        }))
        .actor(Actor::system())
        .target(Target::new("booking", "bk-1300").label("Massage 30 min"))
        .occurred_at(datetime!(2026-08-01 17:00 +10)),
        spa(NewEvent::typed(&UserAdded {
            role: Some("staff".into()),
        }))
        .actor(jo())
        .target(Target::new("user", "u-lee").label("Lee"))
        .occurred_at(datetime!(2026-09-01 09:00 +10)),
        spa(NewEvent::typed(&UserUpdated {}))
            .actor(jo())
            .target(Target::new("user", "u-lee").label("Lee"))
            .before(json!({"access": "staff"}))
            .after(json!({"access": "manager"}))
            .occurred_at(datetime!(2026-10-01 09:00 +10)),
        spa(NewEvent::typed(&UserRemoved {}))
            .actor(jo())
            .target(Target::new("user", "u-kai").label("Kai"))
            .occurred_at(datetime!(2026-11-02 09:00 +10)),
        spa(mia_details(NewEvent::typed(&ClientUpdated {})))
            .actor(jo())
            .target(mia.clone())
            .before(json!({"phone": "+61 400 000 007"}))
            .after(json!({"phone": "+61 400 000 070"}))
            .occurred_at(datetime!(2026-11-20 10:00 +10)),
        spa(mia_details(NewEvent::typed(&ClientDeleted {})))
            .actor(jo())
            .target(mia.clone())
            .occurred_at(datetime!(2026-11-28 10:00 +10)),
    ])?;
    // Another business on the same store: never in the spa's searches.
    trail.record(
        NewEvent::typed(&BookingCreated {
            start: datetime!(2026-02-01 07:00 +10),
            end: None,
            service: None,
            host: None,
        })
        .tenant(GYM)
        .actor(Actor::user("u-gym").name("Gym desk"))
        .target(Target::new("booking", "bk-9")),
    )?;

    let year = Query::new()
        .tenant(SPA)
        .between(
            datetime!(2026-01-01 00:00 +10),
            datetime!(2026-12-01 00:00 +10),
        )
        .oldest_first();
    let search = |title: &str, q: Query, out: &mut dyn Write| -> auditkit::Result<()> {
        writeln!(out)?;
        writeln!(out, "{title} · items found: {}", trail.count(&q)?)?;
        trail.for_each(&q, |e| item(out, &e, now))
    };
    writeln!(
        out,
        "Audit Log · business {SPA} · 1 Jan – 30 Nov 2026 (334 days)"
    )?;
    search(
        "Record type: Booking",
        year.clone().action("booking.*"),
        out,
    )?;
    search(
        "Record type: Purchase",
        year.clone().actions(["order.*", "payment.*"]),
        out,
    )?;
    search(
        "User: Jo Smith · Record type: User",
        year.clone().actor("u-jo").action("user.*"),
        out,
    )?;
    search(
        "Client: Mia Chen · Action: Modify",
        year.clone().involving(&mia).changed("phone"),
        out,
    )?;
    search("Status: Failed", year.clone().failures(), out)?;
    writeln!(out)?;
    writeln!(
        out,
        "All {SPA} items: {} · about Mia Chen: {} · all {GYM} items: {} · log intact: {}",
        trail.count(&year)?,
        trail.count(&year.clone().involving(&mia))?,
        trail.count(&Query::new().tenant(GYM))?,
        trail.verify()?.is_ok()
    )?;
    Ok(())
}

/// Record type, as the page names them, from the action's first segment.
fn record_type(action: &str) -> &str {
    match action.split('.').next().unwrap_or_default() {
        "order" | "payment" | "invoice" | "voucher" => "Purchase",
        "booking" => "Booking",
        "event" => "Event",
        "client" => "Client",
        "user" => "User",
        "notification" => "Notify",
        _ => "Other",
    }
}

fn item(out: &mut dyn Write, e: &Event, now: time::OffsetDateTime) -> auditkit::Result<()> {
    let d = e.describe_in(ZONE, now)?;
    let action = vocab::description(&e.action).unwrap_or(&e.action);
    let sub = match (e.action.as_str(), e.context.get("original_amount")) {
        (actions::PAYMENT_REFUNDED, Some(_)) => " (Partial)",
        (actions::PAYMENT_REFUNDED, None) => " (Full)",
        _ => "",
    };
    let user = format!(
        "{} ({}, {})",
        e.actor.display_name(),
        e.actor.role.as_deref().unwrap_or(e.actor.kind.as_str()),
        e.actor.email.as_deref().unwrap_or("-")
    );
    let client = e
        .target
        .iter()
        .chain(&e.related)
        .find(|t| t.kind == "client")
        .map_or("-".to_string(), |t| t.display_name());
    let txn = e.target.as_ref().map_or("-".to_string(), |t| t.id.clone());
    let receipt = e
        .context
        .get("receipt")
        .and_then(|r| r.as_str())
        .unwrap_or("-");
    let status = if e.outcome.is_success() {
        "Success"
    } else {
        "Failed"
    };
    writeln!(
        out,
        "  {} | {} · {action}{sub} | {user} | client {client} | txn {txn} / {receipt} | {status}",
        d.at,
        record_type(&e.action)
    )?;
    writeln!(out, "      {}", d.sentence)?;
    if let Some(b) = &e.before {
        writeln!(out, "      before: {b}")?;
    }
    if let Some(a) = &e.after {
        writeln!(out, "      after:  {a}")?;
    }
    Ok(())
}
