//! Fault injection: every append that fails, fails truthfully, and leaves nothing partial.

#[path = "support/faulty.rs"]
mod faulty;

use std::sync::Arc;

use auditkit::sqlite::{SqliteOptions, SqliteStore};
use auditkit::{
    Actor, AuditStore, AuditTrail, Error, FaultKind, MemoryStore, NewEvent, Query, Target,
};
use faulty::{Fault, FaultyStore, LaggingHead, PartialBatch};
use serde_json::json;
use uuid::Uuid;

fn event(n: usize) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant("clinic-42")
        .actor(Actor::user("u-17").name("Sarah"))
        .target(Target::new("booking", format!("b-{n}")).label("Haircut"))
        .before(json!({"start": n}))
        .after(json!({"start": n + 1}))
        .context("n", n)
}

fn stored<S: AuditStore>(store: &S) -> u64 {
    store.count(&Query::new()).expect("count")
}

/// The ids an `OutcomeUnknown` message names, so the caller can read them back.
fn ids_in(e: &Error) -> Vec<Uuid> {
    e.to_string()
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter_map(|w| w.parse().ok())
        .collect()
}

const OPS: usize = 8;

/// Runs `OPS` single and batch records through a store whose `n`-th append fails with
/// `fault`, checking each result against what the inner store really holds.
fn every_outcome_is_truthful<S: AuditStore>(make: impl Fn() -> S) {
    for fault in Fault::ALL {
        for n in 1..=OPS as u64 {
            let trail = AuditTrail::new(FaultyStore::new(make(), fault, n));
            let inner = || &trail.store().inner;
            let mut ok_events = Vec::new();
            for op in 0..OPS {
                let size = if op % 3 == 2 { 3 } else { 1 };
                let before = stored(inner());
                let batch = (0..size).map(|i| event(op * 10 + i)).collect();
                let result = trail.record_batch(batch);
                let after = stored(inner());
                let hit = op as u64 + 1 == n;
                let ctx = format!("{fault:?} on append {n}, op {op}");
                match result {
                    Ok(events) => {
                        assert!(
                            !hit || fault == Fault::FailAfterCommit,
                            "{ctx}: reported success"
                        );
                        assert_eq!(after, before + size as u64, "{ctx}");
                        for e in &events {
                            let back = inner().get(e.id).expect("get").expect(&ctx);
                            assert_eq!(back.seq, e.seq, "{ctx}");
                            assert_eq!(back.decode().expect("decode"), *e, "{ctx}");
                        }
                        ok_events.extend(events);
                    }
                    Err(e) => {
                        assert!(hit, "{ctx}: unexpected error {e}");
                        assert_ne!(fault, Fault::FailAfterCommit, "{ctx}: committed, said {e}");
                        // All or nothing: the batch is there whole or not at all.
                        let committed = fault.commits();
                        let expect = before + if committed { size as u64 } else { 0 };
                        assert_eq!(after, expect, "{ctx}: {e}");
                        match fault {
                            Fault::Busy => assert!(e.is_busy(), "{ctx}: {e}"),
                            Fault::FailBefore => {
                                assert!(matches!(e, Error::Storage { .. }), "{ctx}: {e}")
                            }
                            _ => {
                                assert!(matches!(e, Error::OutcomeUnknown { .. }), "{ctx}: {e}");
                                // The message names the events, which tell what happened.
                                let ids = ids_in(&e);
                                assert_eq!(ids.len(), 2, "{ctx}: {e}");
                                for id in ids {
                                    let found = trail.get(id).expect("get");
                                    assert_eq!(found.is_some(), committed, "{ctx}: {e}");
                                }
                            }
                        }
                    }
                }
            }
            let report = trail.verify().expect("verify");
            assert!(report.is_ok(), "{fault:?} at {n}: {:?}", report.fault);
            let next = trail.record(event(999)).expect("recording goes on");
            assert_eq!(next.seq, stored(inner()), "{fault:?} at {n}: contiguous");
            assert!(ok_events.iter().all(|e| e.seq < next.seq));
        }
    }
}

#[test]
fn memory_store_faults_are_reported_truthfully() {
    every_outcome_is_truthful(MemoryStore::new);
}

#[test]
fn sqlite_store_faults_are_reported_truthfully() {
    every_outcome_is_truthful(|| SqliteStore::open_in_memory().expect("open"));
}

/// With group commit in play (threads recording at once), a fault fails the whole group
/// alike and never splits it.
#[test]
fn concurrent_writers_see_truthful_outcomes() {
    for fault in Fault::ALL {
        for n in [1, 3, 7] {
            let trail = AuditTrail::new(FaultyStore::new(MemoryStore::new(), fault, n));
            let results: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|t| {
                        let trail = &trail;
                        s.spawn(move || {
                            (0..10)
                                .map(|i| trail.record(event(t * 100 + i)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("no panic"))
                    .collect()
            });
            let oks: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            let errs = results.len() - oks.len();
            for e in &oks {
                assert!(trail.get(e.id).expect("get").is_some(), "{fault:?}");
            }
            let held = stored(&trail.store().inner);
            match fault {
                Fault::FailAfterCommit => assert_eq!((errs, held), (0, 40), "{fault:?}"),
                Fault::FailBefore | Fault::Busy | Fault::FailBeforeUnreadable => {
                    assert!(errs >= 1, "{fault:?}");
                    assert_eq!(held, oks.len() as u64, "{fault:?} at {n}");
                }
                Fault::FailAfterCommitUnreadable => {
                    assert!(errs >= 1, "{fault:?}");
                    assert_eq!(
                        held, 40,
                        "{fault:?} at {n}: the unknown ones were committed"
                    );
                }
            }
            let report = trail.verify().expect("verify");
            assert!(report.is_ok(), "{fault:?} at {n}: {:?}", report.fault);
        }
    }
}

/// After an unknown outcome, retrying with the same idempotency key is safe: the event that
/// was committed comes back, no duplicate is stored.
#[test]
fn retry_with_idempotency_key_after_unknown_outcome() {
    let trail = AuditTrail::new(FaultyStore::new(
        MemoryStore::new(),
        Fault::FailAfterCommitUnreadable,
        1,
    ));
    let e = trail
        .record(event(1).idempotency_key("req-1"))
        .expect_err("the outcome is unknown");
    assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e}");
    assert!(e.to_string().contains("idempotency key"), "{e}");
    let retried = trail
        .record(event(1).idempotency_key("req-1"))
        .expect("retry");
    assert_eq!(retried.seq, 1);
    assert_eq!(stored(&trail.store().inner), 1, "no duplicate");
}

/// A store that breaks all-or-nothing is reported as corrupt, not as success or failure.
#[test]
fn a_partly_stored_batch_is_reported_as_corrupt() {
    let trail = AuditTrail::new(PartialBatch(MemoryStore::new()));
    trail.record(event(0)).expect("single events pass through");
    let e = trail
        .record_batch(vec![event(1), event(2), event(3)])
        .expect_err("partial batch");
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("kept 1 of the 3"), "{e}");
}

/// The walk judges events past the head it read against a fresh head: concurrent appends are
/// fine, but events the head never covered are still reported.
#[test]
fn events_past_a_head_that_never_covers_them_are_inserted() {
    let store = Arc::new(MemoryStore::new());
    let trail = AuditTrail::new(Arc::clone(&store));
    for i in 0..5 {
        trail.record(event(i)).expect("record");
    }
    let lagging = AuditTrail::new(LaggingHead(Arc::clone(&store)));
    let report = lagging.verify().expect("verify");
    let fault = report.fault.expect("a fault");
    assert_eq!((fault.seq, fault.kind), (5, FaultKind::Inserted), "{fault}");
}

#[test]
fn a_full_database_is_a_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full.db");
    let capped = || SqliteOptions::default().max_page_count(64);
    let trail = AuditTrail::new(SqliteStore::open_with(&path, capped()).expect("open"));
    let big = "x".repeat(3_000);
    let mut recorded = 0u64;
    let err = loop {
        match trail.record(event(recorded as usize).context("notes", &big)) {
            Ok(e) => {
                recorded += 1;
                assert_eq!(e.seq, recorded);
            }
            Err(e) => break e,
        }
        assert!(recorded < 10_000, "the cap never hit");
    };
    assert!(recorded > 0, "the cap left no room at all: {err}");
    assert!(matches!(err, Error::Storage { .. }), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    // Failing again and again writes nothing either.
    for _ in 0..3 {
        assert!(trail.record(event(0).context("notes", &big)).is_err());
        let batch = vec![event(1), event(2).context("notes", &big)];
        assert!(trail.record_batch(batch).is_err(), "all or nothing");
    }
    assert_eq!(trail.count(&Query::new()).expect("count"), recorded);
    let report = trail.verify().expect("verify");
    assert!(report.is_ok(), "{:?}", report.fault);
    assert_eq!(report.checked, recorded);
    drop(trail);
    // With room again, recording goes on from the head.
    let trail = AuditTrail::new(SqliteStore::open(&path).expect("reopen"));
    let next = trail
        .record(event(0).context("notes", &big))
        .expect("room again");
    assert_eq!(next.seq, recorded + 1);
    assert!(trail.verify().expect("verify").is_ok());
}

#[test]
fn a_read_only_database_reads_but_refuses_to_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ro.db");
    {
        let trail = AuditTrail::new(SqliteStore::open(&path).expect("open"));
        for i in 0..5 {
            trail.record(event(i)).expect("record");
        }
    }
    let ro = SqliteOptions::default().read_only(true);
    let trail = AuditTrail::new(SqliteStore::open_with(&path, ro.clone()).expect("open ro"));
    assert_eq!(trail.count(&Query::new()).expect("count"), 5);
    assert_eq!(trail.query(&Query::new()).expect("query").events.len(), 5);
    assert!(trail.verify().expect("verify").is_ok());
    assert!(trail.checkpoint().is_ok());
    for attempt in [
        trail.record(event(9)).map(|_| ()),
        trail.record_batch(vec![event(1), event(2)]).map(|_| ()),
    ] {
        let e = attempt.expect_err("read-only");
        assert!(matches!(e, Error::Storage { .. }), "{e}");
        assert!(e.to_string().contains("read-only"), "{e}");
    }
    assert_eq!(trail.count(&Query::new()).expect("count"), 5);
    drop(trail);

    let missing = SqliteStore::open_with(dir.path().join("nope.db"), ro.clone())
        .expect_err("a missing file cannot be opened read-only");
    assert!(matches!(missing, Error::Storage { .. }), "{missing}");
    assert!(!dir.path().join("nope.db").exists(), "nothing created");

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database at all, not even close...").expect("write");
    let e = SqliteStore::open_with(&junk, ro).expect_err("junk");
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");

    // Writers still work on the file afterwards.
    let trail = AuditTrail::new(SqliteStore::open(&path).expect("open rw"));
    assert_eq!(trail.record(event(6)).expect("record").seq, 6);
}
