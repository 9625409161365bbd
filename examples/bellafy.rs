//! Bellafy: a clinic's activity log. Read-only entries (timestamp in the clinic's time zone,
//! actor or "System", action, target, context such as the amount or the IP address), filtered
//! by date range, actor and action type, and exported as CSV.
//!
//! The week crosses the switch to summer time (29 March 2026 in London): times before it
//! read GMT, after it BST.
//!
//! Run with `cargo run --example bellafy`.

use std::io::Write;

use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{self, *};
use auditkit::{
    neutralize, Actor, ActorKind, AuditTrail, CsvOptions, Event, NewEvent, Outcome, Query,
    RequestContext, Source, Target,
};
use time::macros::{date, datetime};

fn main() -> auditkit::Result<()> {
    run(&mut std::io::stdout().lock())
}

const ZONE: &str = "Europe/London";
const CLINIC: &str = "clinic-bellafy";

/// Records the clinic's week and prints the log, two filtered views and a CSV export.
pub fn run(out: &mut impl Write) -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let now = datetime!(2026-03-31 17:00 UTC);

    let maya = || Actor::user("u-1").name("Dr Maya Patel").role("owner");
    let leo = || Actor::user("u-4").name("Leo").role("reception");
    let eva = Target::new("client", "cl-88").label("Eva Ross");
    let eva_acts = || Actor::customer("cl-88").name("Eva Ross");
    let massage = Target::new("service", "sv-3").label("Deep tissue massage");
    let booking = Target::new("booking", "bk-5120").label("Deep tissue massage with Maya");
    let ip = |a: &str| RequestContext::new().ip(a);
    let e = |e: NewEvent| e.tenant(CLINIC);

    trail.record_batch(vec![
        e(NewEvent::typed(&Login {
            method: Some("password".into()),
        }))
        .actor(maya())
        .request(ip("198.51.100.7"))
        .source(Source::Web)
        .occurred_at(datetime!(2026-03-27 08:02 UTC)),
        e(NewEvent::typed(&ServiceCreated {
            duration_minutes: Some(60),
            price_amount: Some(6500),
            currency: Some("GBP".into()),
        }))
        .actor(maya())
        .target(massage.clone())
        .occurred_at(datetime!(2026-03-27 08:10 UTC)),
        e(NewEvent::typed(&BookingCreated {
            start: datetime!(2026-03-30 09:00 UTC),
            end: None,
            service: Some("Deep tissue massage".into()),
            host: Some("Maya".into()),
        }))
        .actor(eva_acts())
        .source(Source::Web)
        .target(booking.clone())
        .related(eva.clone())
        .occurred_at(datetime!(2026-03-27 19:45 UTC)),
        e(NewEvent::typed(&PaymentPaid {
            amount: 6500,
            currency: "GBP".into(),
            method: Some("card".into()),
            transaction_id: Some("ch_1PXa".into()),
        }))
        .actor(Actor::service("stripe").name("Stripe"))
        .source(Source::Webhook)
        .target(booking.clone())
        .related(eva.clone())
        .occurred_at(datetime!(2026-03-27 19:45:05 UTC)),
        e(NewEvent::typed(&VoucherPurchased {
            code: "GIFT-7731".into(),
            amount: Some(5000),
            currency: Some("GBP".into()),
        }))
        .actor(eva_acts())
        .related(eva.clone())
        .occurred_at(datetime!(2026-03-27 19:50 UTC)),
        e(NewEvent::typed(&Login {
            method: Some("password".into()),
        }))
        .actor(leo())
        .request(ip("203.0.113.9"))
        .outcome(Outcome::failure("wrong password"))
        .occurred_at(datetime!(2026-03-28 08:58 UTC)),
        e(NewEvent::typed(&Login {
            method: Some("password".into()),
        }))
        .actor(leo())
        .request(ip("203.0.113.9"))
        .occurred_at(datetime!(2026-03-28 08:59 UTC)),
        e(NewEvent::typed(&PasswordChanged {}))
            .actor(leo())
            .occurred_at(datetime!(2026-03-28 09:01 UTC)),
        e(NewEvent::typed(&TwoFactorEnabled {}))
            .actor(leo())
            .occurred_at(datetime!(2026-03-28 09:02 UTC)),
        // After the clocks went forward.
        e(NewEvent::typed(&BookingCancelled {
            reason: Some("can't make it".into()),
            fee_amount: None,
            currency: None,
        }))
        .actor(eva_acts())
        .source(Source::Mobile)
        .request(
            RequestContext::new()
                .ip("192.0.2.44")
                .user_agent("Bellafy iOS 5.2"),
        )
        .target(booking.clone())
        .related(eva.clone())
        .occurred_at(datetime!(2026-03-29 09:00 UTC)),
        e(NewEvent::typed(&PaymentRefunded {
            amount: 6500,
            currency: "GBP".into(),
            original_amount: None,
            method: Some("card".into()),
            reason: Some("cancellation policy: more than 24 hours ahead".into()),
        }))
        .actor(Actor::system())
        .target(booking.clone())
        .related(eva.clone())
        .occurred_at(datetime!(2026-03-29 09:00:02 UTC)),
        e(NewEvent::typed(&PaymentFailed {
            amount: 4000,
            currency: "GBP".into(),
            method: Some("card".into()),
            reason: Some("card declined".into()),
        }))
        .actor(Actor::service("stripe").name("Stripe"))
        .source(Source::Webhook)
        .target(Target::new("booking", "bk-5121").label("Facial with Leo"))
        .occurred_at(datetime!(2026-03-30 07:30 UTC)),
        e(NewEvent::typed(&VoucherRedeemed {
            code: "GIFT-7731".into(),
            amount: Some(5000),
            currency: Some("GBP".into()),
        }))
        .actor(leo())
        .target(Target::new("booking", "bk-5122").label("Manicure"))
        .occurred_at(datetime!(2026-03-30 11:15 UTC)),
        e(NewEvent::typed(&PointsAwarded {
            points: 65,
            reason: Some("first visit".into()),
        }))
        .actor(Actor::system())
        .target(eva.clone())
        .occurred_at(datetime!(2026-03-30 11:16 UTC)),
        e(NewEvent::typed(&ServiceDeleted {}))
            .actor(leo())
            .target(Target::new("service", "sv-9").label("Hot stones"))
            .occurred_at(datetime!(2026-03-30 15:40 UTC)),
        e(NewEvent::typed(&SessionRevoked {
            device: Some("iPhone".into()),
        }))
        .actor(maya())
        .target(Target::new("user", "u-4").label("Leo"))
        .occurred_at(datetime!(2026-03-31 07:00 UTC)),
        e(NewEvent::typed(&ClientAnonymized {
            requested_by: Some("client".into()),
        }))
        .actor(Actor::system())
        .target(Target::new("client", "cl-311").label("#311"))
        .occurred_at(datetime!(2026-03-31 12:00 UTC)),
    ])?;

    // Days as the clinic counts them, in its zone: 31 March ends at midnight BST.
    let range = Query::new().tenant(CLINIC).between_local_days(
        date!(2026 - 03 - 27),
        date!(2026 - 03 - 31),
        ZONE,
    );
    writeln!(out, "Activity log · 27–31 Mar 2026 · times in {ZONE}")?;
    trail.for_each(&range, |e| print_entry(out, &e, now))?;

    let payments = range.clone().action("payment.*");
    writeln!(out)?;
    writeln!(out, "Filter · action type: payments")?;
    trail.for_each(&payments, |e| print_entry(out, &e, now))?;

    writeln!(out)?;
    writeln!(out, "Filter · actor: Leo · 28 Mar only")?;
    let leo_28 = Query::new()
        .tenant(CLINIC)
        .actor("u-4")
        .on_local_day(date!(2026 - 03 - 28), ZONE);
    trail.for_each(&leo_28, |e| print_entry(out, &e, now))?;

    // The filtered list as CSV, timestamps in the clinic's zone, for review or archival.
    writeln!(out)?;
    writeln!(out, "Export · payments.csv")?;
    {
        let mut w = csv::Writer::from_writer(&mut *out);
        let csv_err = |e: csv::Error| auditkit::Error::from(std::io::Error::other(e.to_string()));
        w.write_record([
            "timestamp",
            "actor",
            "action",
            "target",
            "details",
            "status",
        ])
        .map_err(csv_err)?;
        trail.for_each(&payments.clone().oldest_first(), |e| {
            let d = e.describe_in(ZONE, now)?;
            let target = e
                .target
                .as_ref()
                .map(|t| t.display_name())
                .unwrap_or_default();
            let row = [
                d.at,
                actor_label(&e),
                vocab::description(&e.action)
                    .unwrap_or(&e.action)
                    .to_string(),
                target,
                d.sentence,
                e.outcome.as_str().to_string(),
            ];
            w.write_record(row.iter().map(|c| neutralize(c).into_owned()))
                .map_err(csv_err)
        })?;
        w.flush()?;
    }
    // Every stored column (UTC, hashes included) for an auditor, from the same filter, with
    // the clinic's local times and each request's IP and user agent beside them.
    let mut full = Vec::new();
    let options = CsvOptions::new().zone(ZONE).request_context(true);
    let rows = trail.export_csv_with(&payments, &options, &mut full)?;
    writeln!(
        out,
        "Full export · {rows} rows with every column (UTC and {ZONE} times, request context, hashes)"
    )?;
    writeln!(out, "Log intact: {}", trail.verify()?.is_ok())?;
    Ok(())
}

fn actor_label(e: &Event) -> String {
    match e.actor.kind {
        ActorKind::System => "System".into(),
        _ => e.actor.display_name().to_string(),
    }
}

fn print_entry(out: &mut impl Write, e: &Event, now: time::OffsetDateTime) -> auditkit::Result<()> {
    let d = e.describe_in(ZONE, now)?;
    let action = vocab::description(&e.action).unwrap_or(&e.action);
    let target = e
        .target
        .as_ref()
        .map(|t| t.display_name())
        .unwrap_or_else(|| "-".into());
    writeln!(out, "  {} | {} | {action} | {target}", d.at, actor_label(e))?;
    writeln!(out, "      {}", d.sentence)?;
    Ok(())
}
