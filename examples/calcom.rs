//! Cal.com: an organization's audit log. A booking's timeline (newest first, relative times
//! with the exact time on hover, source, impersonation info, raw data), the booking event
//! taxonomy, security events (a failed login, an email change, an account lock, an
//! impersonated change), keyword search and the actor filter.
//!
//! Run with `cargo run --example calcom`.

use std::io::Write;

use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{self, *};
use auditkit::{
    Actor, AuditTrail, Event, NewEvent, Outcome, Query, RequestContext, Source, Target,
};
use time::macros::datetime;
use time::OffsetDateTime;

fn main() -> auditkit::Result<()> {
    run(&mut std::io::stdout().lock())
}

const ZONE: &str = "America/New_York";
const ORG: &str = "org-acme";

/// Records the organization's bookings and security events and prints the admin's screens.
pub fn run(out: &mut impl Write) -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let now = datetime!(2026-01-16 17:00 UTC);

    let meeting = Target::new("booking", "bk-1").label("30 min meeting between Nina and Omar");
    let omar = || Actor::customer("g-omar").name("Omar").role("attendee");
    let nina = || Actor::user("u-nina").name("Nina").role("host");
    let pia = || Actor::user("u-pia").name("Pia").role("host");
    let rita = || Actor::user("u-rita").name("Rita").role("org admin");
    let calcom = || Actor::system().name("Cal.com");
    let b = |e: NewEvent| e.tenant(ORG).target(meeting.clone());

    trail.record_batch(vec![
        b(NewEvent::typed(&BookingCreated {
            start: datetime!(2026-01-10 15:00 UTC),
            end: Some(datetime!(2026-01-10 15:30 UTC)),
            service: Some("30 min meeting".into()),
            host: Some("Nina".into()),
        }))
        .actor(omar())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-05 14:00 UTC)),
        b(NewEvent::typed(&BookingConfirmed { rule: None }))
            .actor(nina())
            .source(Source::Web)
            .occurred_at(datetime!(2026-01-05 16:20 UTC)),
        b(NewEvent::typed(&BookingRescheduleRequested {
            reason: Some("conflict with a client call".into()),
        }))
        .actor(nina())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-08 13:00 UTC)),
        b(NewEvent::typed(&BookingRescheduled {
            from: datetime!(2026-01-10 15:00 UTC),
            to: datetime!(2026-01-15 19:00 UTC),
            reason: None,
            new_booking_id: Some("bk-2".into()),
        }))
        .actor(omar())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-08 18:30 UTC)),
        b(NewEvent::typed(&BookingReassigned {
            host: "Pia".into(),
            previous_host: Some("Nina".into()),
            assignment: Some("round robin".into()),
        }))
        .actor(calcom())
        .source(Source::System)
        .occurred_at(datetime!(2026-01-09 09:00 UTC)),
        b(NewEvent::typed(&BookingAttendeeAdded {
            attendee: "Lee Park".into(),
        }))
        .actor(omar())
        .source(Source::Api)
        .occurred_at(datetime!(2026-01-12 11:00 UTC)),
        // Rita, an org admin, fixes the location while impersonating Pia.
        b(NewEvent::typed(&BookingLocationChanged {
            from: "Zoom".into(),
            to: "Google Meet".into(),
        }))
        .actor(pia().impersonated_by(rita()))
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-14 15:05 UTC)),
        b(NewEvent::typed(&BookingNoShow {
            who: Some("attendee Lee Park".into()),
        }))
        .actor(pia())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-15 19:20 UTC)),
    ])?;

    // A seated event and a declined request, for the taxonomy.
    let workshop = Target::new("booking", "bk-7").label("Onboarding workshop");
    trail.record_batch(vec![
        NewEvent::typed(&BookingSeatBooked {
            attendee: Some("Ana".into()),
        })
        .tenant(ORG)
        .target(workshop.clone())
        .actor(Actor::customer("g-ana").name("Ana").role("attendee"))
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-06 10:00 UTC)),
        NewEvent::typed(&BookingSeatRescheduled {
            from: datetime!(2026-01-20 16:00 UTC),
            to: datetime!(2026-01-27 16:00 UTC),
            attendee: Some("Ana".into()),
        })
        .tenant(ORG)
        .target(workshop.clone())
        .actor(Actor::customer("g-ana").name("Ana").role("attendee"))
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-07 10:00 UTC)),
        NewEvent::typed(&BookingRejected {
            reason: Some("outside working hours".into()),
        })
        .tenant(ORG)
        .target(Target::new("booking", "bk-9").label("Intro call"))
        .actor(nina())
        .source(Source::Web)
        .occurred_at(datetime!(2026-01-07 12:00 UTC)),
    ])?;

    // Security events.
    let ken = Target::new("user", "u-ken").label("Ken");
    let sec = |e: NewEvent| e.tenant(ORG).source(Source::Web);
    trail.record_batch(vec![
        sec(NewEvent::typed(&Login {
            method: Some("password".into()),
        }))
        .actor(Actor::anonymous().email("ken@acme.test"))
        .request(RequestContext::new().ip("203.0.113.50"))
        .outcome(Outcome::failure("wrong password"))
        .occurred_at(datetime!(2026-01-13 07:58 UTC)),
        sec(NewEvent::typed(&Login {
            method: Some("password".into()),
        }))
        .actor(Actor::user("u-ken").name("Ken"))
        .request(RequestContext::new().ip("203.0.113.50"))
        .outcome(Outcome::failure("failed two-factor verification"))
        .occurred_at(datetime!(2026-01-13 07:59 UTC)),
        sec(NewEvent::typed(&AccountLocked {
            reason: Some("repeated failed sign-ins".into()),
        }))
        .actor(rita())
        .target(ken.clone())
        .occurred_at(datetime!(2026-01-13 08:30 UTC)),
        sec(NewEvent::typed(&AccountUnlocked {}))
            .actor(rita())
            .target(ken.clone())
            .occurred_at(datetime!(2026-01-13 15:00 UTC)),
        sec(NewEvent::typed(&EmailChanged {
            from: "pia@oldmail.test".into(),
            to: "pia@acme.test".into(),
        }))
        .actor(pia())
        .target(Target::new("user", "u-pia").label("Pia"))
        .occurred_at(datetime!(2026-01-14 09:00 UTC)),
        sec(NewEvent::typed(&TwoFactorEnabled {}))
            .actor(pia())
            .occurred_at(datetime!(2026-01-14 09:05 UTC)),
        sec(NewEvent::typed(&ImpersonationStarted {
            reason: Some("support ticket #4411".into()),
        }))
        .actor(rita())
        .target(Target::new("user", "u-pia").label("Pia"))
        .occurred_at(datetime!(2026-01-14 15:00 UTC)),
        sec(NewEvent::typed(&ImpersonationStopped {}))
            .actor(rita())
            .target(Target::new("user", "u-pia").label("Pia"))
            .occurred_at(datetime!(2026-01-14 15:10 UTC)),
        sec(NewEvent::typed(&Login {
            method: Some("password".into()),
        }))
        .actor(Actor::user("u-ken").name("Ken"))
        .request(RequestContext::new().ip("203.0.113.50"))
        .occurred_at(datetime!(2026-01-15 08:00 UTC)),
    ])?;

    writeln!(
        out,
        "Booking audit log · {} (newest first)",
        meeting.display_name()
    )?;
    for e in trail.history(&meeting)? {
        entry(out, &e, now)?;
    }

    writeln!(out)?;
    writeln!(out, "Raw data of the impersonated change:")?;
    let changed = trail
        .query(
            &Query::new()
                .tenant(ORG)
                .action(actions::BOOKING_LOCATION_CHANGED),
        )?
        .events;
    if let Some(e) = changed.first() {
        // The stored event as JSON, without the chain fields.
        let mut raw = serde_json::to_value(e)
            .map_err(|err| auditkit::Error::from(std::io::Error::other(err)))?;
        if let Some(fields) = raw.as_object_mut() {
            fields.retain(|k, _| {
                [
                    "occurred_at",
                    "actor",
                    "source",
                    "action",
                    "target",
                    "context",
                ]
                .contains(&k.as_str())
            });
        }
        writeln!(out, "  {raw}")?;
    }

    writeln!(out)?;
    writeln!(out, "Security events (newest first)")?;
    for e in trail
        .query(&Query::new().tenant(ORG).action("account.*"))?
        .events
    {
        entry(out, &e, now)?;
    }

    writeln!(out)?;
    writeln!(out, "Search \"location\":")?;
    for e in trail
        .query(&Query::new().tenant(ORG).search("location"))?
        .events
    {
        writeln!(out, "  {}", e.describe_in(ZONE, now)?)?;
    }
    writeln!(out, "Actor filter \"Omar\":")?;
    for e in trail
        .query(&Query::new().tenant(ORG).actor("g-omar"))?
        .events
    {
        writeln!(out, "  {}", e.describe_in(ZONE, now)?)?;
    }
    writeln!(
        out,
        "Failed sign-ins: {}",
        trail.count(&Query::new().tenant(ORG).action(actions::LOGIN).failures())?
    )?;

    writeln!(out)?;
    writeln!(out, "Booking event taxonomy:")?;
    for (action, description) in vocab::all() {
        if action.starts_with("booking.") {
            writeln!(out, "  {action:<30} {description}")?;
        }
    }
    writeln!(out, "Security event taxonomy:")?;
    for (action, description) in vocab::all() {
        if action.starts_with("account.") {
            writeln!(out, "  {action:<30} {description}")?;
        }
    }
    Ok(())
}

fn entry(out: &mut impl Write, e: &Event, now: OffsetDateTime) -> auditkit::Result<()> {
    let d = e.describe_in(ZONE, now)?;
    let role = e.actor.role.as_deref().unwrap_or(e.actor.kind.as_str());
    let source = match e.source {
        Source::Web => "web app",
        Source::Api => "API",
        Source::Webhook => "webhook",
        _ => "system",
    };
    writeln!(out, "  • {}", d.sentence)?;
    let who = e
        .actor
        .name
        .as_ref()
        .or(e.actor.email.as_ref())
        .unwrap_or(&e.actor.id);
    writeln!(
        out,
        "      {who} · {role} · {} ({}) · {source}",
        d.relative, d.at
    )?;
    if let Some(by) = &e.actor.impersonator {
        writeln!(
            out,
            "      impersonated by {} ({})",
            by.display_name(),
            by.role.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}
