//! The JSON forms of the report and view types: each round-trips, and the shapes an app's
//! endpoints hand out are pinned, so a field rename is a failing test, not a broken client.

use serde_json::json;
use time::macros::datetime;

use crate::integrity::{Checkpoint, Fault, FaultKind, VerifyReport};
use crate::memory::MemoryStore;
use crate::query::{Cursor, Page, Query};
use crate::trail::erasure::Subject;
use crate::vocab::describe::Description;
use crate::{Actor, AuditTrail, NewEvent, Target};

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_string(value).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn trail_with_events(n: usize) -> AuditTrail<MemoryStore> {
    let trail = AuditTrail::builder(MemoryStore::new())
        .personal_keys(["phone"])
        .build();
    for i in 0..n {
        trail
            .record(
                NewEvent::new("booking.created")
                    .tenant("clinic-42")
                    .actor(Actor::customer("c-9").name("Alex Doe"))
                    .target(Target::new("booking", format!("b-{i}")).label("Haircut"))
                    .occurred_at(datetime!(2026-03-28 10:00 UTC))
                    .context("phone", "555-0199")
                    .context("price", 1.5),
            )
            .unwrap();
    }
    trail
}

#[test]
fn verify_report_with_a_fault_has_a_pinned_shape() {
    let report = VerifyReport {
        checked: 6,
        verified_through: 6,
        head_seq: 9,
        redacted: 1,
        checkpoint_size: Some(9),
        purged_through: 0,
        trusted_through: 0,
        fault: Some(Fault {
            seq: 7,
            kind: FaultKind::CheckpointMismatch,
            detail: "root differs".into(),
        }),
    };
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({
            "checked": 6,
            "verified_through": 6,
            "head_seq": 9,
            "redacted": 1,
            "checkpoint_size": 9,
            "purged_through": 0,
            "trusted_through": 0,
            "fault": {"seq": 7, "kind": "checkpoint_mismatch", "detail": "root differs"},
        })
    );
    assert_eq!(round_trip(&report), report);
}

#[test]
fn fault_kinds_are_snake_case_and_round_trip() {
    for (kind, text) in [
        (FaultKind::Modified, "modified"),
        (FaultKind::Missing, "missing"),
        (FaultKind::Inserted, "inserted"),
        (FaultKind::Reordered, "reordered"),
        (FaultKind::Truncated, "truncated"),
        (FaultKind::CheckpointMismatch, "checkpoint_mismatch"),
        (FaultKind::DerivedRow, "derived_row"),
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(text));
        assert_eq!(round_trip(&kind), kind);
    }
}

#[test]
fn an_intact_report_round_trips_with_a_null_fault() {
    let report = trail_with_events(2).verify().unwrap();
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["fault"], json!(null), "{value}");
    assert_eq!(round_trip(&report), report);
}

#[test]
fn checkpoint_is_its_note_text() {
    let cp = Checkpoint::new("log-1", 42, [7; 32], [9; 32]);
    assert_eq!(
        serde_json::to_value(&cp).unwrap(),
        json!(
            "auditkit/log-1\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\
             auditkit-chain-head CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n"
        )
    );
    assert_eq!(round_trip(&cp), cp);
    let real = trail_with_events(3).checkpoint().unwrap();
    assert_eq!(round_trip(&real), real);
}

#[test]
fn text_that_is_not_a_checkpoint_or_cursor_is_a_serde_error() {
    for bad in [json!("origin\n01\nAAAA\n"), json!(42), json!({"size": 1})] {
        let e = serde_json::from_value::<Checkpoint>(bad.clone()).unwrap_err();
        assert!(!e.to_string().is_empty(), "{bad}");
    }
    let e = serde_json::from_value::<Cursor>(json!("c2.zz")).unwrap_err();
    assert!(e.to_string().contains("cursor"), "{e}");
}

#[test]
fn page_carries_events_and_the_cursor_text() {
    let trail = trail_with_events(3);
    let page: Page = trail.query(&Query::new().limit(2)).unwrap();
    let next = page.next.expect("a third event is left");
    let value = serde_json::to_value(&page).unwrap();
    assert_eq!(value["next"], json!(next.to_string()), "{value}");
    assert_eq!(value["events"].as_array().map(Vec::len), Some(2), "{value}");
    // An event in a page is the event's own JSON: the same time format and hex hashes.
    assert_eq!(
        value["events"][0],
        serde_json::to_value(&page.events[0]).unwrap()
    );
    assert_eq!(
        value["events"][0]["occurred_at"],
        json!("2026-03-28T10:00:00Z")
    );
    assert_eq!(round_trip(&page), page);

    let last = trail.query(&Query::new().after(next)).unwrap();
    assert_eq!(serde_json::to_value(&last).unwrap()["next"], json!(null));
    assert_eq!(round_trip(&last), last);
}

#[test]
fn purge_and_erasure_reports_round_trip() {
    let trail = trail_with_events(2);
    let erased = trail.erase_subject(&Subject::customer("c-9")).unwrap();
    assert_eq!(round_trip(&erased), erased);
    let value = serde_json::to_value(&erased).unwrap();
    assert_eq!(value["values"], json!(erased.values), "{value}");

    std::thread::sleep(std::time::Duration::from_millis(2));
    let purged = trail.purge_before(time::OffsetDateTime::now_utc()).unwrap();
    assert!(purged.purged > 0, "{purged:?}");
    let value = serde_json::to_value(&purged).unwrap();
    assert_eq!(value["checkpoint"], json!(purged.checkpoint.to_string()));
    assert_eq!(round_trip(&purged), purged);
}

#[test]
fn description_round_trips() {
    let e = trail_with_events(1)
        .query(&Query::new())
        .unwrap()
        .events
        .remove(0);
    let d: Description = e
        .describe_in("Europe/Berlin", datetime!(2026-03-28 12:00 UTC))
        .unwrap();
    let value = serde_json::to_value(&d).unwrap();
    assert_eq!(
        value,
        json!({"sentence": d.sentence, "at": "Sat 28 Mar 2026 11:00 CET", "relative": "2 hours ago"})
    );
    assert_eq!(round_trip(&d), d);
}
