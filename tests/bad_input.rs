//! Every bad input named in DESIGN gets a clear error and leaves the log as it was.
#![cfg(feature = "sqlite")]

use std::time::Duration;

#[path = "support/action_filters.rs"]
mod action_filters;

use auditkit::sqlite::{SqliteOptions, SqliteStore};
use auditkit::{Actor, AuditTrail, Cursor, Error, NewEvent, Query, Target};
use serde_json::{json, Value};
use time::macros::datetime;

fn trail() -> AuditTrail<SqliteStore> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory().unwrap());
    trail.record(NewEvent::new("booking.created")).unwrap();
    trail
}

fn assert_refused(trail: &AuditTrail<SqliteStore>, event: NewEvent, field: &str) {
    let before = trail.count(&Query::new()).unwrap();
    let err = trail.record(event).expect_err("bad input must be refused");
    match &err {
        Error::Invalid { field: f, .. } => assert!(f.starts_with(field), "field {f:?}: {err}"),
        other => panic!("expected Error::Invalid for {field}, got {other}"),
    }
    assert!(
        err.to_string().contains(field),
        "message names the field: {err}"
    );
    assert_eq!(trail.count(&Query::new()).unwrap(), before, "{err}");
    assert!(trail.verify().unwrap().is_ok());
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |v, _| json!([v]))
}

#[test]
fn invalid_action_names() {
    let t = trail();
    for bad in [
        "",
        "booking",
        "Booking.created",
        "booking..created",
        "booking.created.",
        ".booking",
        "booking.cre-ated",
        "booking.créé",
        "booking created",
        &"a.".repeat(200),
    ] {
        assert_refused(&t, NewEvent::new(bad), "action");
    }
    // Accepted forms: digits, underscores, deeper names.
    for good in ["booking.no_show", "v2.booking.seat_booked", "a.b"] {
        t.record(NewEvent::new(good)).unwrap();
    }
}

#[test]
fn empty_or_oversized_ids() {
    let t = trail();
    let e = || NewEvent::new("booking.created");
    assert_refused(&t, e().actor(Actor::user("")), "actor.id");
    assert_refused(&t, e().actor(Actor::user("  ")), "actor.id");
    assert_refused(&t, e().target(Target::new("booking", "")), "target.id");
    assert_refused(&t, e().target(Target::new("", "b-1")), "target.kind");
    assert_refused(
        &t,
        e().related(Target::new("customer", "")),
        "related[0].id",
    );
    assert_refused(&t, e().tenant(""), "tenant");
    assert_refused(&t, e().tenant("x".repeat(300)), "tenant");
    assert_refused(&t, e().idempotency_key(""), "idempotency_key");
    assert_refused(
        &t,
        e().actor(Actor::customer("c-1").impersonated_by(Actor::user(""))),
        "actor.impersonator.id",
    );
}

#[test]
fn oversized_payloads() {
    let t = trail();
    let big = "x".repeat(70 * 1024);
    assert_refused(
        &t,
        NewEvent::new("client.updated").after(json!({ "notes": big })),
        "payload",
    );
    // The limit covers before + after + context together.
    let third = "y".repeat(25 * 1024);
    assert_refused(
        &t,
        NewEvent::new("client.updated")
            .before(json!({ "a": third }))
            .after(json!({ "a": third }))
            .context("b", &third),
        "payload",
    );
    // And it is configurable.
    let small = AuditTrail::builder(SqliteStore::open_in_memory().unwrap())
        .max_payload_bytes(100)
        .build();
    assert_refused(
        &small,
        NewEvent::new("client.updated").context("n", "z".repeat(200)),
        "payload",
    );
    small
        .record(NewEvent::new("client.updated").context("n", "ok"))
        .unwrap();
}

#[test]
fn too_deep_json() {
    let t = trail();
    assert_refused(&t, NewEvent::new("a.b").after(nested(65)), "after");
    assert_refused(&t, NewEvent::new("a.b").before(nested(200)), "before");
    assert_refused(
        &t,
        NewEvent::new("a.b").context("deep", nested(64)),
        "context",
    );
    t.record(NewEvent::new("a.b").after(nested(64))).unwrap();
}

#[test]
fn out_of_range_times() {
    let t = trail();
    assert_refused(
        &t,
        NewEvent::new("a.b").occurred_at(datetime!(1969-12-31 23:59:59 UTC)),
        "occurred_at",
    );
    let ok = t
        .record(NewEvent::new("a.b").occurred_at(datetime!(9999-12-31 23:59:59.999999999 +01:00)))
        .unwrap();
    assert_eq!(ok.occurred_at, datetime!(9999-12-31 22:59:59.999999 UTC));
    // A query bound outside the range is clamped to it: since 1900 is since the beginning.
    let all = t
        .query(&Query::new().since(datetime!(1900-01-01 0:00 UTC)))
        .unwrap();
    assert_eq!(all.events.len(), 2);
    assert_eq!(
        t.count(&Query::new().since(datetime!(1900-01-01 0:00 UTC)))
            .unwrap(),
        2
    );
}

#[test]
fn malformed_cursors_and_queries() {
    for bad in ["", "garbage", "c1.zz.1", "c1.1", "c9.1.1", "c1.1.1.1"] {
        let err = bad.parse::<Cursor>().unwrap_err();
        assert!(
            matches!(err, Error::Malformed { what: "cursor", .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("cursor"), "{err}");
    }
    let t = trail();
    for q in [
        Query::new().limit(0),
        Query::new().limit(1001),
        Query::new().search("  !! "),
        Query::new().action("booking*"),
    ] {
        let err = t.query(&q).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }
}

#[test]
fn action_filters_that_are_not_action_names_are_invalid() {
    action_filters::check(&AuditTrail::new(auditkit::MemoryStore::new()));
    action_filters::check(&AuditTrail::new(SqliteStore::open_in_memory().unwrap()));
}

#[test]
fn a_bad_event_fails_the_whole_batch() {
    let t = trail();
    let err = t
        .record_batch(vec![
            NewEvent::new("booking.created"),
            NewEvent::new("booking.created").actor(Actor::user("")),
            NewEvent::new("booking.created"),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("events[1].actor.id"), "{err}");
    assert_eq!(t.count(&Query::new()).unwrap(), 1);
}

#[test]
fn unserializable_values_are_errors_not_panics() {
    let t = trail();
    let mut map = std::collections::HashMap::new();
    map.insert(vec![1u8], "non-string key");
    assert_refused(&t, NewEvent::new("a.b").context("m", map), "context.m");
}

#[test]
fn databases_that_cannot_be_used() {
    let dir = tempfile::tempdir().unwrap();

    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database, it is a shopping list".repeat(100),
    )
    .unwrap();
    let err = SqliteStore::open(&garbage).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");

    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE bookings (id INTEGER)")
        .unwrap();
    let err = SqliteStore::open(&foreign).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("not created by auditkit"), "{err}");

    let newer = dir.path().join("newer.db");
    drop(SqliteStore::open(&newer).unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute(
            "UPDATE auditkit_meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let err = SqliteStore::open(&newer).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SchemaTooNew {
                found: 99,
                supported: auditkit::sqlite::SCHEMA_VERSION
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade auditkit"), "{err}");
}

#[test]
fn a_busy_database_past_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let options = SqliteOptions::default().busy_timeout(Duration::from_millis(100));
    let trail = AuditTrail::new(SqliteStore::open_with(&path, options).unwrap());
    trail.record(NewEvent::new("booking.created")).unwrap();

    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = trail.record(NewEvent::new("booking.created")).unwrap_err();
    assert!(err.is_busy(), "{err}");
    holder.execute_batch("ROLLBACK").unwrap();

    assert_eq!(trail.count(&Query::new()).unwrap(), 1);
    let e = trail.record(NewEvent::new("booking.created")).unwrap();
    assert_eq!(e.seq, 2);
    assert!(trail.verify().unwrap().is_ok());
}
