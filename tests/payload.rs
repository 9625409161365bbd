//! Typed events: `AuditPayload`, `NewEvent::typed`, `Event::payload`, schema versions.

use auditkit::vocab::{BookingCancelled, BookingNoShow};
use auditkit::{AuditPayload, AuditTrail, Error, MemoryStore, NewEvent, Query};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Version 1 of an app's own payload: one price in cents.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PriceSetV1 {
    cents: i64,
}
impl AuditPayload for PriceSetV1 {
    const ACTION: &'static str = "service.price_set";
}

/// Version 2: the price became an amount with a currency; version 1 events are upgraded.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PriceSet {
    amount: i64,
    currency: String,
}
impl AuditPayload for PriceSet {
    const ACTION: &'static str = "service.price_set";
    const VERSION: u32 = 2;
    fn upgrade(version: u32, context: Value) -> auditkit::Result<Value> {
        match version {
            1 => Ok(json!({"amount": context["cents"], "currency": "EUR"})),
            v => Err(Error::payload(format!("no upgrade from version {v}"))),
        }
    }
}

/// Version 2 with no upgrade path from version 1.
#[derive(Debug, Serialize, Deserialize)]
struct PriceSetNoUpgrade {
    amount: i64,
}
impl AuditPayload for PriceSetNoUpgrade {
    const ACTION: &'static str = "service.price_set";
    const VERSION: u32 = 2;
}

/// Serializes to a string, not an object: cannot be an event's context.
#[derive(Debug, Serialize, Deserialize)]
struct NotAnObject(String);
impl AuditPayload for NotAnObject {
    const ACTION: &'static str = "booking.note_added";
}

fn trail() -> AuditTrail<MemoryStore> {
    AuditTrail::new(MemoryStore::new())
}

fn assert_payload_error<T: std::fmt::Debug>(r: auditkit::Result<T>, needle: &str) {
    match r {
        Err(e @ Error::Payload { .. }) => {
            assert!(e.to_string().contains(needle), "{e:?} lacks {needle:?}")
        }
        other => panic!("expected Error::Payload containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn payload_round_trips_with_its_version() -> auditkit::Result<()> {
    let t = trail();
    let e = t.record(NewEvent::typed(&PriceSet {
        amount: 4500,
        currency: "EUR".into(),
    }))?;
    assert_eq!(e.action, "service.price_set");
    assert_eq!(e.payload_version, Some(2));
    assert_eq!(e.context["amount"], json!(4500));
    assert_eq!(
        e.payload::<PriceSet>()?,
        PriceSet {
            amount: 4500,
            currency: "EUR".into()
        }
    );
    Ok(())
}

#[test]
fn mismatched_action_is_an_error() -> auditkit::Result<()> {
    let t = trail();
    let e = t.record(NewEvent::typed(&BookingNoShow { who: None }))?;
    assert_payload_error(e.payload::<BookingCancelled>(), "booking.cancelled");
    Ok(())
}

#[test]
fn untyped_event_is_an_error() -> auditkit::Result<()> {
    let t = trail();
    let e = t.record(NewEvent::new("booking.no_show").context("who", "attendee"))?;
    assert_payload_error(
        e.payload::<BookingNoShow>(),
        "not recorded from a typed payload",
    );
    Ok(())
}

#[test]
fn newer_version_than_this_build_is_an_error() -> auditkit::Result<()> {
    let t = trail();
    let e = t.record(NewEvent::typed(&PriceSet {
        amount: 1,
        currency: "EUR".into(),
    }))?;
    assert_payload_error(e.payload::<PriceSetV1>(), "newer");
    Ok(())
}

#[test]
fn older_version_is_upgraded() -> auditkit::Result<()> {
    let t = trail();
    let e = t.record(NewEvent::typed(&PriceSetV1 { cents: 4500 }))?;
    assert_eq!(e.payload_version, Some(1));
    assert_eq!(
        e.payload::<PriceSet>()?,
        PriceSet {
            amount: 4500,
            currency: "EUR".into()
        }
    );
    // Still readable in its own shape.
    assert_eq!(e.payload::<PriceSetV1>()?, PriceSetV1 { cents: 4500 });
    // Without an upgrade, an older version is refused, not misread.
    assert_payload_error(
        e.payload::<PriceSetNoUpgrade>(),
        "no upgrade from version 1",
    );
    Ok(())
}

#[test]
fn context_that_does_not_fit_is_an_error() -> auditkit::Result<()> {
    let t = trail();
    // Recorded typed, then a field overwritten with the wrong type through `context`.
    let e = t.record(NewEvent::typed(&PriceSetV1 { cents: 1 }).context("cents", "lots"))?;
    assert_payload_error(e.payload::<PriceSetV1>(), "does not fit");
    Ok(())
}

#[test]
fn extra_context_is_kept_and_ignored_by_the_payload() -> auditkit::Result<()> {
    let t = trail();
    let e =
        t.record(NewEvent::typed(&BookingNoShow { who: None }).context("note", "called twice"))?;
    assert_eq!(e.payload::<BookingNoShow>()?, BookingNoShow { who: None });
    assert_eq!(e.context["note"], json!("called twice"));
    Ok(())
}

#[test]
fn payload_that_is_not_an_object_is_invalid_and_stores_nothing() {
    let t = trail();
    let err = t
        .record(NewEvent::typed(&NotAnObject("hello".into())))
        .expect_err("a string payload cannot be a context");
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "payload"),
        "{err}"
    );
    assert_eq!(t.count(&Query::new()).expect("count"), 0);
}

#[cfg(feature = "sqlite")]
#[test]
fn payload_and_version_survive_sqlite() -> auditkit::Result<()> {
    let t = AuditTrail::new(auditkit::sqlite::SqliteStore::open_in_memory()?);
    let recorded = t.record(NewEvent::typed(&PriceSetV1 { cents: 700 }))?;
    let read = t.get(recorded.id)?.expect("stored");
    assert_eq!(read, recorded);
    assert_eq!(read.payload_version, Some(1));
    assert_eq!(read.payload::<PriceSet>()?.amount, 700);
    Ok(())
}
