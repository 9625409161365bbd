//! `Event::describe` and `describe_in`: sentences for the vocabulary, fallbacks, money, time
//! zones with daylight-saving time, relative times.

use auditkit::vocab::{self, *};
use auditkit::{Actor, AuditTrail, Event, MemoryStore, NewEvent, Outcome, RequestContext, Target};
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

fn record(e: NewEvent) -> Event {
    let trail = AuditTrail::new(MemoryStore::new());
    trail.record(e).expect("records")
}

fn sarah() -> Actor {
    Actor::user("u-17").name("Sarah").role("staff")
}

fn haircut() -> Target {
    Target::new("booking", "b-123").label("Haircut with Sam")
}

#[test]
fn typed_reschedule_reads_like_the_design() {
    let e = record(
        NewEvent::typed(&BookingRescheduled {
            from: datetime!(2026-01-10 14:00 UTC),
            to: datetime!(2026-01-15 09:00 UTC),
            reason: None,
            new_booking_id: None,
        })
        .actor(sarah())
        .target(haircut()),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) rescheduled Haircut with Sam from Sat 10 Jan 14:00 to Thu 15 Jan 09:00"
    );
}

#[test]
fn raw_reschedule_shows_its_changes_and_reason() {
    let e = record(
        NewEvent::new("booking.rescheduled")
            .actor(sarah())
            .target(haircut())
            .before(json!({"start": "2026-01-10T14:00:00Z"}))
            .after(json!({"start": "2026-01-15T09:00:00Z"}))
            .context("reason", "customer called"),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) rescheduled Haircut with Sam (customer called), changing start from Sat 10 Jan 14:00 to Thu 15 Jan 09:00"
    );
}

#[test]
fn amounts_print_with_their_currency() {
    let refund = |amount, original, currency: &str| {
        record(
            NewEvent::typed(&PaymentRefunded {
                amount,
                currency: currency.into(),
                original_amount: original,
                method: Some("card".into()),
                reason: None,
            })
            .actor(sarah())
            .target(Target::new("order", "o-77").label("Order #77")),
        )
        .describe()
    };
    assert_eq!(
        refund(4500, None, "EUR"),
        "Sarah (staff) refunded €45.00 for Order #77 to card"
    );
    assert_eq!(
        refund(2000, Some(4500), "eur"),
        "Sarah (staff) refunded €20.00 of €45.00 for Order #77 to card"
    );
    assert_eq!(
        refund(4505, None, "CHF"),
        "Sarah (staff) refunded 45.05 CHF for Order #77 to card"
    );
    assert_eq!(
        refund(4500, None, "JPY"),
        "Sarah (staff) refunded ¥4500 for Order #77 to card"
    );
    assert_eq!(
        refund(4500, None, "KWD"),
        "Sarah (staff) refunded 4.500 KWD for Order #77 to card"
    );
    assert_eq!(
        refund(-350, None, "USD"),
        "Sarah (staff) refunded -$3.50 for Order #77 to card"
    );
}

#[test]
fn money_in_changes_uses_the_events_currency() {
    let e = record(
        NewEvent::new("booking.modified")
            .actor(sarah())
            .target(haircut())
            .before(json!({"price": 4000, "currency": "GBP"}))
            .after(json!({"price": 4500, "currency": "GBP"})),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) modified Haircut with Sam, changing price from £40.00 to £45.00"
    );
}

#[test]
fn impersonation_is_shown() {
    let tom = Actor::user("s-1").name("Tom").role("support agent");
    let e = record(
        NewEvent::typed(&BookingCancelled {
            reason: Some("double booking".into()),
            fee_amount: None,
            currency: None,
        })
        .actor(Actor::customer("c-9").name("Alex Doe").impersonated_by(tom))
        .target(haircut()),
    );
    assert_eq!(
        e.describe(),
        "Support agent Tom as Alex Doe (customer) cancelled Haircut with Sam: double booking"
    );
}

#[test]
fn failures_are_shown_with_their_reason() {
    let e = record(
        NewEvent::typed(&Login {
            method: Some("password".into()),
        })
        .actor(Actor::anonymous().email("alex@example.com"))
        .request(RequestContext::new().ip("203.0.113.9"))
        .outcome(Outcome::failure("wrong password")),
    );
    assert_eq!(
        e.describe(),
        "alex@example.com failed to sign in with password from 203.0.113.9: wrong password"
    );
    // An action without a failure form keeps its sentence and says it failed.
    let e = record(
        NewEvent::new("booking.cancelled")
            .actor(sarah())
            .target(haircut())
            .outcome(Outcome::failure("already started")),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) cancelled Haircut with Sam — failed: already started"
    );
}

#[test]
fn unknown_actions_fall_back_to_name_target_and_changes() {
    let e = record(
        NewEvent::new("billing.invoice_voided")
            .actor(sarah())
            .target(Target::new("invoice", "inv-12"))
            .before(json!({"status": "open"}))
            .after(json!({"status": "void"})),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) — billing.invoice_voided: invoice inv-12, changing status from open to void"
    );
    let e = record(NewEvent::new("system.nightly_sync").context("reason", "cron"));
    assert_eq!(e.describe(), "System — system.nightly_sync (reason: cron)");
    // A vocabulary action missing the target its sentence needs uses its description.
    let e = record(NewEvent::new("client.deleted").actor(sarah()));
    assert_eq!(e.describe(), "Sarah (staff) — Client deleted");
}

#[test]
fn actor_kinds_read_naturally() {
    let d = |a: Actor| {
        record(
            NewEvent::new("booking.completed")
                .actor(a)
                .target(haircut()),
        )
        .describe()
    };
    assert_eq!(
        d(Actor::system()),
        "System marked Haircut with Sam as completed"
    );
    assert_eq!(
        d(Actor::system().name("Cal.com")),
        "Cal.com marked Haircut with Sam as completed"
    );
    assert_eq!(
        d(Actor::customer("c-9")),
        "c-9 (customer) marked Haircut with Sam as completed"
    );
    assert_eq!(
        d(Actor::service("stripe")),
        "stripe (integration) marked Haircut with Sam as completed"
    );
    assert_eq!(
        d(Actor::anonymous()),
        "Someone marked Haircut with Sam as completed"
    );
}

#[test]
fn many_changes_are_summed_up() {
    let e = record(
        NewEvent::new("client.updated")
            .actor(sarah())
            .target(Target::new("client", "c-9").label("Alex Doe"))
            .before(json!({"a": 1, "b": 2, "c": 3, "d": 4}))
            .after(json!({"a": 9, "b": 8, "c": 7, "e": 6})),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) updated client Alex Doe, changing a from 1 to 9, b from 2 to 8 and 3 more fields"
    );
}

#[test]
fn describe_in_uses_the_zone_with_daylight_saving() -> auditkit::Result<()> {
    let e = record(
        NewEvent::typed(&BookingRescheduled {
            from: datetime!(2026-01-10 14:00 UTC),
            to: datetime!(2026-07-15 09:00 UTC),
            reason: None,
            new_booking_id: None,
        })
        .actor(sarah())
        .target(haircut())
        .occurred_at(datetime!(2026-03-29 00:30 UTC)),
    );
    let now = datetime!(2026-03-29 02:45 UTC);
    let d = e.describe_in("Europe/Berlin", now)?;
    // Winter time (+01:00) in January, summer time (+02:00) in July.
    assert_eq!(
        d.sentence,
        "Sarah (staff) rescheduled Haircut with Sam from Sat 10 Jan 15:00 to Wed 15 Jul 11:00"
    );
    // 00:30 UTC on the night the clocks go forward is 01:30 CET.
    assert_eq!(d.at, "Sun 29 Mar 2026 01:30 CET");
    assert_eq!(d.relative, "2 hours ago");
    assert_eq!(d.to_string(), format!("{} (2 hours ago)", d.sentence));
    let ny = e.describe_in("America/New_York", now)?;
    assert_eq!(ny.at, "Sat 28 Mar 2026 20:30 EDT");
    assert!(
        ny.sentence
            .contains("from Sat 10 Jan 09:00 to Wed 15 Jul 05:00"),
        "{}",
        ny.sentence
    );
    Ok(())
}

#[test]
fn bad_zone_names_are_invalid() {
    let e = record(NewEvent::new("booking.created"));
    for zone in ["Europe/Atlantis", "", "not a zone"] {
        let err = e
            .describe_in(zone, OffsetDateTime::now_utc())
            .expect_err("unknown zone");
        assert!(
            matches!(&err, auditkit::Error::Invalid { field, .. } if field == "zone"),
            "{err}"
        );
        assert!(err.to_string().contains("IANA"), "{err}");
    }
}

#[test]
fn relative_times_past_and_future() -> auditkit::Result<()> {
    let at = datetime!(2026-06-10 12:00 UTC);
    let e = record(NewEvent::new("booking.created").occurred_at(at));
    let rel = |now: OffsetDateTime| e.describe_in("Europe/London", now).map(|d| d.relative);
    let cases = [
        (datetime!(2026-06-10 12:00:30 UTC), "just now"),
        (datetime!(2026-06-10 12:01 UTC), "1 minute ago"),
        (datetime!(2026-06-10 12:59 UTC), "59 minutes ago"),
        (datetime!(2026-06-10 14:00 UTC), "2 hours ago"),
        (datetime!(2026-06-11 13:00 UTC), "yesterday"),
        (datetime!(2026-06-13 13:00 UTC), "3 days ago"),
        (datetime!(2026-06-24 13:00 UTC), "2 weeks ago"),
        (datetime!(2026-09-11 13:00 UTC), "3 months ago"),
        (datetime!(2028-07-01 13:00 UTC), "2 years ago"),
        (datetime!(2026-06-10 11:00 UTC), "in 1 hour"),
        (datetime!(2026-06-09 11:00 UTC), "tomorrow"),
        (datetime!(2026-06-07 11:00 UTC), "in 3 days"),
    ];
    for (now, want) in cases {
        assert_eq!(rel(now)?, want, "now = {now}");
    }
    // Calendar days are counted in the zone: 24h45m is "yesterday" in London (00:30 to
    // 01:15 the next day) but two days ago in UTC (23:30 to 00:15 two days later).
    let late =
        record(NewEvent::new("booking.created").occurred_at(datetime!(2026-06-10 23:30 UTC)));
    let now = datetime!(2026-06-12 00:15 UTC);
    assert_eq!(
        late.describe_in("Europe/London", now)?.relative,
        "yesterday"
    );
    assert_eq!(late.describe_in("UTC", now)?.relative, "2 days ago");
    // 25 October 2026 has 25 hours in Berlin: 24h30m later is still the same day.
    let early =
        record(NewEvent::new("booking.created").occurred_at(datetime!(2026-10-24 22:10 UTC)));
    let now = datetime!(2026-10-25 22:40 UTC);
    assert_eq!(
        early.describe_in("Europe/Berlin", now)?.relative,
        "24 hours ago"
    );
    assert_eq!(early.describe_in("UTC", now)?.relative, "yesterday");
    Ok(())
}

#[test]
fn every_vocab_action_describes_itself() {
    let all = vocab::all();
    assert!(all.len() >= 60, "{} actions", all.len());
    let mut seen = std::collections::HashSet::new();
    for (action, description) in &all {
        assert!(seen.insert(*action), "{action} listed twice");
        assert!(!description.is_empty(), "{action} has no description");
        assert_eq!(vocab::description(action), Some(*description));
        // A bare event of each action still reads as a sentence naming who and what.
        let e = record(NewEvent::new(*action).actor(sarah()).target(haircut()));
        let s = e.describe();
        assert!(s.starts_with("Sarah (staff) "), "{action}: {s}");
        assert!(!s.contains('{') && !s.contains('['), "{action}: {s}");
    }
    for needed in [
        actions::BOOKING_CREATED,
        actions::BOOKING_CONFIRMED,
        actions::BOOKING_REJECTED,
        actions::BOOKING_RESCHEDULED,
        actions::BOOKING_RESCHEDULE_REQUESTED,
        actions::BOOKING_REASSIGNED,
        actions::BOOKING_CANCELLED,
        actions::BOOKING_NO_SHOW,
        actions::BOOKING_COMPLETED,
        actions::BOOKING_ATTENDEE_ADDED,
        actions::BOOKING_LOCATION_CHANGED,
        actions::BOOKING_SEAT_BOOKED,
        actions::BOOKING_SEAT_RESCHEDULED,
        actions::BOOKING_NOTE_ADDED,
        actions::ORDER_CREATED,
        actions::PAYMENT_PAID,
        actions::PAYMENT_FAILED,
        actions::PAYMENT_REFUNDED,
        actions::INVOICE_CREATED,
        actions::INVOICE_SENT,
        actions::ORDER_FULFILLED,
        actions::ORDER_FORFEITED,
        actions::VOUCHER_PURCHASED,
        actions::VOUCHER_REDEEMED,
        actions::CLIENT_CREATED,
        actions::CLIENT_UPDATED,
        actions::CLIENT_DELETED,
        actions::CLIENT_ANONYMIZED,
        actions::CLIENT_FILE_UPLOADED,
        actions::CLIENT_FORM_COMPLETED,
        actions::SERVICE_CREATED,
        actions::SCHEDULE_UPDATED,
        actions::EVENT_CREATED,
        actions::USER_ADDED,
        actions::USER_UPDATED,
        actions::USER_REMOVED,
        actions::USER_ROLE_CHANGED,
        actions::SMS_CONFIRMATION_SENT,
        actions::EMAIL_CONFIRMATION_SENT,
        actions::BOOKING_REQUEST_SENT,
        actions::BOOKING_DECLINED_SENT,
        actions::LOGIN,
        actions::LOGOUT,
        actions::PASSWORD_CHANGED,
        actions::EMAIL_CHANGED,
        actions::TWO_FACTOR_ENABLED,
        actions::TWO_FACTOR_DISABLED,
        actions::SESSION_REVOKED,
        actions::ACCOUNT_LOCKED,
        actions::ACCOUNT_UNLOCKED,
        actions::IMPERSONATION_STARTED,
        actions::IMPERSONATION_STOPPED,
        actions::POINTS_AWARDED,
        actions::COUPON_REDEEMED,
        actions::REWARD_CREATED,
        actions::REWARD_UPDATED,
    ] {
        assert!(seen.contains(needed), "{needed} missing from vocab::all()");
    }
    // Every action name is one the trail accepts.
    let trail = AuditTrail::new(MemoryStore::new());
    for (action, _) in &all {
        trail.record(NewEvent::new(*action)).expect(action);
    }
}

#[test]
fn every_template_uses_its_payload_fields_and_fills_in() {
    for entry in vocab::entries() {
        let (ok, fail) = match entry.template.split_once('|') {
            Some((ok, fail)) => (ok, Some(fail)),
            None => (entry.template, None),
        };
        for tpl in std::iter::once(ok).chain(fail) {
            let mut depth = 0;
            for c in tpl.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                assert!(
                    (0..=1).contains(&depth),
                    "{}: nested or unbalanced [ ]",
                    entry.action
                );
            }
            assert_eq!(depth, 0, "{}: unbalanced [ ]", entry.action);
            for part in tpl.split('{').skip(1) {
                let key = part.split('}').next().unwrap_or_default();
                assert!(
                    ["target", "ip"].contains(&key) || entry.fields.contains(&key),
                    "{}: {{{key}}} is not a payload field {:?}",
                    entry.action,
                    entry.fields
                );
            }
        }
        // With every field present, the template is used, not the fallback.
        let mut e = NewEvent::new(entry.action).actor(sarah()).target(haircut());
        for f in entry.fields {
            e = e.context(*f, format!("val-{f}"));
        }
        let s = record(e).describe();
        assert!(!s.contains(" — "), "{}: fell back: {s}", entry.action);
        for f in entry.fields {
            if entry.template.contains(&format!("{{{f}}}")) {
                assert!(
                    s.contains(&format!("val-{f}")),
                    "{}: {f} not shown: {s}",
                    entry.action
                );
            }
        }
    }
}

#[test]
fn times_in_another_year_show_it() {
    let e = record(
        NewEvent::typed(&BookingRescheduled {
            from: datetime!(2026-12-30 14:00 UTC),
            to: datetime!(2027-01-04 09:00 UTC),
            reason: None,
            new_booking_id: None,
        })
        .actor(sarah())
        .target(haircut())
        .occurred_at(datetime!(2026-12-20 10:00 UTC)),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) rescheduled Haircut with Sam from Wed 30 Dec 14:00 to Mon 4 Jan 2027 09:00"
    );
}

#[test]
fn typed_payloads_round_trip_and_leave_out_missing_options() -> auditkit::Result<()> {
    let created = BookingCreated {
        start: datetime!(2026-01-10 14:00 UTC),
        end: Some(datetime!(2026-01-10 14:45 UTC)),
        service: Some("Haircut".into()),
        host: None,
    };
    let e = record(NewEvent::typed(&created).actor(sarah()).target(haircut()));
    assert_eq!(e.payload::<BookingCreated>()?, created);
    assert!(!e.context.contains_key("host"), "{:?}", e.context);
    assert_eq!(e.context["start"], json!("2026-01-10T14:00:00Z"));
    assert_eq!(
        e.describe(),
        "Sarah (staff) created Haircut with Sam for Sat 10 Jan 14:00"
    );
    Ok(())
}

#[test]
fn a_typed_reschedule_does_not_repeat_its_start_change() {
    // The trial booking service's event: the typed payload, plus the booking's own
    // before/after state.
    for (before, after) in [
        (
            json!({"start": "2026-03-28T10:00:00Z"}),
            json!({"start": "2026-03-30T10:30:00Z"}),
        ),
        (
            json!({"slot": {"start": "2026-03-28T10:00:00Z", "end": "2026-03-28T11:00:00Z"}}),
            json!({"slot": {"start": "2026-03-30T10:30:00Z", "end": "2026-03-30T11:30:00Z"}}),
        ),
    ] {
        let e = record(
            NewEvent::typed(&BookingRescheduled {
                from: datetime!(2026-03-28 10:00 UTC),
                to: datetime!(2026-03-30 10:30 UTC),
                reason: None,
                new_booking_id: None,
            })
            .actor(sarah())
            .target(haircut())
            .before(before.clone())
            .after(after),
        );
        let end = if before.get("slot").is_some() {
            ", changing slot.end from Sat 28 Mar 11:00 to Mon 30 Mar 11:30"
        } else {
            ""
        };
        assert_eq!(
            e.describe(),
            format!("Sarah (staff) rescheduled Haircut with Sam from Sat 28 Mar 10:00 to Mon 30 Mar 10:30{end}")
        );
    }
}

/// An app's own refund payload, under the vocabulary's action (so its sentence), declaring
/// a `before`/`after` key of the app's as money.
#[derive(serde::Serialize, serde::Deserialize)]
struct Refund {
    amount: i64,
    currency: String,
}

impl auditkit::AuditPayload for Refund {
    const ACTION: &'static str = "payment.refunded";
    const STATED_PATHS: &'static [&'static str] = &["status"];
    const MONEY: &'static [auditkit::Money] = &[
        auditkit::Money::new("amount", "currency"),
        auditkit::Money::new("refunded_cents", "currency"),
        auditkit::Money::fixed("fee", "GBP"),
    ];
}

fn refund_event() -> Event {
    record(
        NewEvent::typed(&Refund {
            amount: 2000,
            currency: "EUR".into(),
        })
        .actor(sarah())
        .target(Target::new("order", "o-77").label("Order #77"))
        .before(json!({"refunded_cents": 0, "status": "paid", "fee": 150, "seats": 2}))
        .after(json!({"refunded_cents": 2000, "status": "refunded", "fee": 0, "seats": 1})),
    )
}

#[test]
fn money_is_shown_by_the_payloads_declaration() {
    let e = refund_event();
    assert_eq!(
        e.describe_as::<Refund>(),
        "Sarah (staff) refunded €20.00 for Order #77, changing fee from £1.50 to £0.00, refunded_cents from €0.00 to €20.00 and seats from 2 to 1"
    );
    let d = e
        .describe_in_as::<Refund>("Europe/Berlin", e.occurred_at)
        .unwrap();
    assert_eq!(d.sentence, e.describe_as::<Refund>());
    // Without the app's type, the vocabulary's `PaymentRefunded` declares neither key.
    assert_eq!(
        e.describe(),
        "Sarah (staff) refunded €20.00 for Order #77, changing fee from 150 to 0, refunded_cents from 0 to 2000 and 2 more fields"
    );
    // Another action is described as `describe` does.
    let other = record(
        NewEvent::new("booking.completed")
            .actor(sarah())
            .target(haircut()),
    );
    assert_eq!(other.describe_as::<Refund>(), other.describe());
}

#[test]
fn a_typed_event_decides_by_declaration_not_key_names() {
    let tip = |typed: bool| {
        let e = if typed {
            NewEvent::typed(&BookingCompleted {})
        } else {
            NewEvent::new("booking.completed")
        };
        record(
            e.actor(sarah())
                .target(haircut())
                .context("currency", "EUR")
                .before(json!({"tip_amount": 0, "status": "confirmed"}))
                .after(json!({"tip_amount": 500, "status": "completed"})),
        )
        .describe()
    };
    // `BookingCompleted` states the status and declares no money.
    assert_eq!(
        tip(true),
        "Sarah (staff) marked Haircut with Sam as completed, changing tip_amount from 0 to 500"
    );
    // An untyped event keeps the key-name rules.
    assert_eq!(
        tip(false),
        "Sarah (staff) marked Haircut with Sam as completed, changing status from confirmed to completed and tip_amount from €0.00 to €5.00"
    );
}

#[test]
fn an_untyped_amount_is_money_as_before() {
    let e = record(
        NewEvent::new("payment.refunded")
            .actor(sarah())
            .target(Target::new("order", "o-77").label("Order #77"))
            .context("amount", 2000)
            .context("currency", "EUR")
            .before(json!({"refunded_cents": 0}))
            .after(json!({"refunded_cents": 2000})),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) refunded €20.00 for Order #77, changing refunded_cents from 0 to 2000"
    );
}

#[test]
fn a_declared_currency_is_read_on_each_side_of_a_change() {
    let e = record(
        NewEvent::typed(&ServiceUpdated {})
            .actor(sarah())
            .target(Target::new("service", "s-1").label("Haircut"))
            .before(json!({"price_amount": 4000, "currency": "EUR"}))
            .after(json!({"price_amount": 4500, "currency": "USD"})),
    );
    assert_eq!(
        e.describe(),
        "Sarah (staff) updated service Haircut, changing currency from EUR to USD and price_amount from €40.00 to $45.00"
    );
}

#[test]
fn vocabulary_declarations_name_its_money_fields() {
    for entry in vocab::entries() {
        for f in entry.fields {
            let is_amount = *f == "amount" || f.ends_with("_amount");
            assert_eq!(
                is_amount,
                entry.money.iter().any(|m| m.path() == *f),
                "{}: {f} must be declared money exactly when it is an amount",
                entry.action
            );
        }
        for m in entry.money {
            assert!(
                matches!(m.currency(), auditkit::Currency::Field("currency")),
                "{}: {m:?}",
                entry.action
            );
        }
    }
    let rescheduled = vocab::entry(actions::BOOKING_RESCHEDULED).unwrap();
    assert_eq!(rescheduled.stated_paths, ["start", "slot.start"]);
}
