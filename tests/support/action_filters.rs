//! Action filters that are not action names are refused when the query runs, by every read
//! of the trail and over every store: shared by `tests/bad_input.rs` (memory, SQLite) and
//! `tests/pg_store.rs` (PostgreSQL).
#![allow(dead_code)]

use auditkit::{AuditStore, AuditTrail, Error, GroupBy, NewEvent, Query};

/// Filters no stored event can match, each of which must be an `Error::Invalid` naming
/// `query.action` rather than an empty answer.
pub fn bad_filters() -> Vec<Query> {
    vec![
        Query::new().action("Booking Rescheduled"),
        Query::new().action("booking"),
        Query::new().action("booking..created"),
        Query::new().action("Booking.Created"),
        Query::new().action(""),
        Query::new().actions(["booking.created", "booking rescheduled"]),
        Query::new().action("Booking.*"),
        Query::new().action("booking*"),
        Query::new().action("booking..*"),
    ]
}

fn assert_invalid<T: std::fmt::Debug>(what: &str, q: &Query, r: auditkit::Result<T>) {
    match r {
        Err(Error::Invalid { field, problem, .. }) => {
            assert_eq!(field, "query.action", "{what} {q:?}: {problem}");
            assert!(
                problem.contains("booking.rescheduled") || problem.contains("booking.*"),
                "{what} {q:?}: the message shows a valid name: {problem}"
            );
        }
        other => panic!("{what} {q:?}: expected Error::Invalid, got {other:?}"),
    }
}

/// Every read taking a query refuses every bad filter; the valid ones still answer.
pub fn check<S: AuditStore>(trail: &AuditTrail<S>) {
    trail
        .record(NewEvent::new("booking.rescheduled"))
        .expect("a good event");
    for q in bad_filters() {
        assert_invalid("query", &q, trail.query(&q));
        assert_invalid("count", &q, trail.count(&q));
        assert_invalid("summarize", &q, trail.summarize(&q, &GroupBy::Action));
        assert_invalid("export_csv", &q, trail.export_csv(&q, std::io::sink()));
        assert_invalid("export_jsonl", &q, trail.export_jsonl(&q, std::io::sink()));
        assert_invalid("for_each", &q, trail.for_each(&q, |_| Ok(())));
    }
    for good in ["booking.rescheduled", "booking.*", "*"] {
        let q = Query::new().action(good);
        assert_eq!(trail.count(&q).expect(good), 1, "{good}");
        assert_eq!(trail.query(&q).expect(good).events.len(), 1, "{good}");
    }
}
