//! Retention: purge_before, purge anchors, archives that verify on their own.
#![cfg(feature = "sqlite")]

use std::io::Cursor as IoCursor;
use std::thread::sleep;
use std::time::Duration;

use auditkit::integrity::archive::{verify_archive, verify_archive_against};
use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, AuditStore, AuditTrail, Error, FaultKind, MemoryStore, NewEvent, Query, Target,
    PURGE_ACTION,
};
use time::OffsetDateTime;

fn booking(i: u32) -> NewEvent {
    NewEvent::new("booking.created")
        .tenant("salon-1")
        .actor(Actor::customer(format!("c-{i}")).name(format!("Customer {i}")))
        .target(Target::new("booking", format!("b-{i}")).label(format!("Haircut {i}")))
        .context("n", i)
}

/// Records 5 old events, takes the cutoff, records 5 new ones; returns the cutoff and the
/// checkpoint at size 5.
fn fill<S: AuditStore>(trail: &AuditTrail<S>) -> (OffsetDateTime, auditkit::Checkpoint) {
    for i in 1..=5 {
        trail.record(booking(i)).unwrap();
    }
    let cp5 = trail.checkpoint().unwrap();
    sleep(Duration::from_millis(3));
    let cutoff = OffsetDateTime::now_utc();
    sleep(Duration::from_millis(3));
    for i in 6..=10 {
        trail.record(booking(i)).unwrap();
    }
    (cutoff, cp5)
}

fn purge_keeps_the_rest_verifiable<S: AuditStore>(trail: AuditTrail<S>) {
    let (cutoff, cp5) = fill(&trail);
    let cp10 = trail.checkpoint().unwrap();
    let report = trail.purge_before(cutoff).unwrap();
    assert_eq!(
        (report.purged, report.from_seq, report.through_seq),
        (5, 1, 5)
    );
    assert_eq!(report.checkpoint, cp5);
    let event = report.event.expect("the purge is recorded");
    assert_eq!(event.action, PURGE_ACTION);
    assert_eq!(event.seq, 11);
    assert_eq!(event.context["through_seq"], 5);
    assert_eq!(event.context["events"], 5);

    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(
        (v.checked, v.purged_through, v.verified_through),
        (6, 5, 11)
    );
    assert!(v.to_string().contains("1..=5 purged"), "{v}");
    let v = trail.verify_against(&cp10).unwrap();
    assert!(v.is_ok(), "{v}");
    // At the anchor itself, the anchor's own hashes are compared.
    let v = trail.verify_against(&cp5).unwrap();
    assert!(v.is_ok(), "{v}");

    let page = trail.query(&Query::new().limit(100)).unwrap();
    assert_eq!(page.events.len(), 6);
    assert!(page.events.iter().all(|e| e.seq > 5));
    assert_eq!(trail.count(&Query::new().tenant("salon-1")).unwrap(), 5);
    assert!(trail
        .history(&Target::new("booking", "b-2"))
        .unwrap()
        .is_empty());

    // The log goes on, and purges again.
    trail.record(booking(11)).unwrap();
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    let again = trail
        .purge_before(OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .unwrap();
    // Everything but the head event (the second purge record links to it).
    assert_eq!((again.from_seq, again.through_seq), (6, 11));
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.purged_through, 11);
    // Nothing left to purge: nothing recorded.
    let none = trail.purge_before(OffsetDateTime::UNIX_EPOCH).unwrap();
    assert_eq!(none.purged, 0);
    assert!(none.event.is_none());
}

#[test]
fn purge_keeps_the_rest_verifiable_in_memory() {
    purge_keeps_the_rest_verifiable(AuditTrail::new(MemoryStore::new()));
}

#[test]
fn purge_keeps_the_rest_verifiable_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    purge_keeps_the_rest_verifiable(AuditTrail::new(
        SqliteStore::open(dir.path().join("a.db")).unwrap(),
    ));
    purge_keeps_the_rest_verifiable(AuditTrail::new(SqliteStore::open_in_memory().unwrap()));
}

#[test]
fn a_checkpoint_older_than_the_purge_is_refused_clearly() {
    let trail = AuditTrail::new(MemoryStore::new());
    trail.record(booking(1)).unwrap();
    let cp1 = trail.checkpoint().unwrap();
    let (cutoff, _) = fill(&trail);
    trail.purge_before(cutoff).unwrap();
    let e = trail.verify_against(&cp1).unwrap_err();
    assert!(matches!(e, Error::Checkpoint(_)), "{e}");
    assert!(e.to_string().contains("purged"), "{e}");
}

#[test]
fn a_purge_without_its_record_is_reported() {
    let trail = AuditTrail::new(MemoryStore::new());
    for i in 1..=3 {
        trail.record(booking(i)).unwrap();
    }
    let anchor = trail.store().head().unwrap();
    trail.record(booking(4)).unwrap();
    // Someone purges through the store, bypassing the trail: nothing records it.
    trail.store().purge(&anchor).unwrap();
    let v = trail.verify().unwrap();
    let fault = v.fault.expect("an unrecorded purge is a fault");
    assert_eq!(fault.kind, FaultKind::Missing, "{fault}");
    assert_eq!(fault.seq, 3);
}

#[test]
fn a_forged_anchor_is_caught() {
    let trail = AuditTrail::new(MemoryStore::new());
    for i in 1..=4 {
        trail.record(booking(i)).unwrap();
    }
    let mut anchor = trail.store().head().unwrap();
    anchor.seq = 2;
    anchor.frontier = vec![[1; 32]];
    trail.store().purge(&anchor).unwrap();
    let v = trail.verify().unwrap();
    let fault = v.fault.expect("a forged anchor is a fault");
    assert_eq!(fault.kind, FaultKind::Inserted, "{fault}");
    assert_eq!(fault.seq, 3);
}

#[test]
fn purge_refuses_a_tampered_range_and_the_trigger_still_guards_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let (cutoff, _) = fill(&trail);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let e = raw
        .execute("DELETE FROM events WHERE seq = 8", [])
        .unwrap_err();
    assert!(e.to_string().contains("purge"), "{e}");
    raw.execute_batch(
        "DROP TRIGGER events_no_update; UPDATE events SET action = 'booking.deleted' WHERE seq = 2;",
    )
    .unwrap();
    let e = trail.purge_before(cutoff).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("event 2 modified"), "{e}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 10);
    assert!(trail.store().purge_anchor().unwrap().is_none());
}

#[test]
fn the_purge_anchor_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
        let (cutoff, _) = fill(&trail);
        trail.purge_before(cutoff).unwrap();
    }
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let anchor = trail.store().purge_anchor().unwrap().unwrap();
    assert_eq!(anchor.seq, 5);
    trail.record(booking(12)).unwrap();
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.checked, 7);
}

fn archive_verifies_on_its_own<S: AuditStore>(trail: AuditTrail<S>) {
    let (cutoff, cp5) = fill(&trail);
    let mut archive = Vec::new();
    let report = trail.purge_before_to(cutoff, &mut archive).unwrap();
    assert_eq!(report.event.as_ref().unwrap().context["archived"], true);
    let text = String::from_utf8(archive.clone()).unwrap();
    assert_eq!(text.lines().count(), 7, "{text}");
    // Personal values travel with the archive.
    assert!(text.contains("Customer 3"), "{text}");

    let found = verify_archive(IoCursor::new(&archive)).unwrap();
    assert!(found.is_ok(), "{:?}", found.report);
    assert_eq!((found.from_seq, found.through_seq), (1, 5));
    assert_eq!(found.checkpoint, cp5);
    assert_eq!(found.report.checked, 5);
    let against = verify_archive_against(IoCursor::new(&archive), &cp5).unwrap();
    assert!(against.is_ok(), "{:?}", against.report);
    let vouched = trail.verify_archive(IoCursor::new(&archive)).unwrap();
    assert!(vouched.is_ok(), "{:?}", vouched.report);

    // A second purge's archive starts from the first one's anchor.
    trail.record(booking(20)).unwrap();
    let mut second = Vec::new();
    let r2 = trail
        .purge_before_to(
            OffsetDateTime::now_utc() + time::Duration::seconds(1),
            &mut second,
        )
        .unwrap();
    let found = trail.verify_archive(IoCursor::new(&second)).unwrap();
    assert!(found.is_ok(), "{:?}", found.report);
    assert_eq!((found.from_seq, found.through_seq), (6, r2.through_seq));
    assert!(trail.verify().unwrap().is_ok());

    // Tampering with the first archive.
    let lines: Vec<&str> = text.lines().collect();
    let edited = text.replacen(r#"\"n\":3"#, r#"\"n\":4"#, 1);
    assert_ne!(edited, text);
    let r = verify_archive(IoCursor::new(edited)).unwrap();
    assert_eq!(r.report.fault.as_ref().unwrap().kind, FaultKind::Modified);
    assert_eq!(r.report.fault.as_ref().unwrap().seq, 3);
    let cut = lines[..6].join("\n");
    let r = verify_archive(IoCursor::new(cut)).unwrap();
    assert_eq!(r.report.fault.unwrap().kind, FaultKind::Truncated);
    let gap = [&lines[..2], &lines[3..]].concat().join("\n");
    let r = verify_archive(IoCursor::new(gap)).unwrap();
    assert_eq!(r.report.fault.unwrap().kind, FaultKind::Missing);
    let edited_name = text.replacen("Customer 3", "Customer X", 1);
    let r = verify_archive(IoCursor::new(edited_name)).unwrap();
    assert_eq!(r.report.fault.unwrap().kind, FaultKind::Modified);
    // An archive of another log.
    let other = AuditTrail::new(MemoryStore::new());
    let e = other.verify_archive(IoCursor::new(&archive)).unwrap_err();
    assert!(matches!(e, Error::Checkpoint(_)), "{e}");
    // Not an archive at all.
    for bad in ["", "{}", "not json", "{\"event\":{}}"] {
        let e = verify_archive(IoCursor::new(bad)).unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{bad:?}: {e}");
    }
}

#[test]
fn archive_verifies_on_its_own_in_memory() {
    archive_verifies_on_its_own(AuditTrail::new(MemoryStore::new()));
}

#[test]
fn archive_verifies_on_its_own_in_sqlite() {
    archive_verifies_on_its_own(AuditTrail::new(SqliteStore::open_in_memory().unwrap()));
}

#[test]
fn a_failing_archive_writer_purges_nothing() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let trail = AuditTrail::new(SqliteStore::open_in_memory().unwrap());
    let (cutoff, _) = fill(&trail);
    let e = trail.purge_before_to(cutoff, Broken).unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 10);
    assert!(trail.verify().unwrap().is_ok());
}

#[test]
fn a_store_without_purge_says_so_and_records_nothing() {
    #[derive(Debug)]
    struct NoPurge(MemoryStore);
    impl AuditStore for NoPurge {
        fn log_id(&self) -> auditkit::Result<String> {
            self.0.log_id()
        }
        fn head(&self) -> auditkit::Result<auditkit::Head> {
            self.0.head()
        }
        fn append(
            &self,
            expected: u64,
            batch: &[auditkit::SealedEvent],
            new_head: &auditkit::Head,
        ) -> auditkit::Result<()> {
            self.0.append(expected, batch, new_head)
        }
        fn read(&self, from: u64, limit: usize) -> auditkit::Result<Vec<auditkit::SealedEvent>> {
            self.0.read(from, limit)
        }
    }
    let trail = AuditTrail::new(NoPurge(MemoryStore::new()));
    let (cutoff, _) = fill(&trail);
    let e = trail.purge_before(cutoff).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 10);
}
