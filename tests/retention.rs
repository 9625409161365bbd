//! Retention: purge_before, purge anchors, archives that verify on their own.
#![cfg(feature = "sqlite")]

#[path = "support/lifecycle.rs"]
mod lifecycle;

use auditkit::sqlite::SqliteStore;
use auditkit::{AuditStore, AuditTrail, Error, FaultKind, MemoryStore, Query};
use lifecycle::retention::{
    archive_verifies_on_its_own, booking, fill, purge_keeps_the_rest_verifiable,
};

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
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
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
        .execute("DELETE FROM auditkit_events WHERE seq = 8", [])
        .unwrap_err();
    assert!(e.to_string().contains("purge"), "{e}");
    raw.execute_batch(
        "DROP TRIGGER auditkit_events_no_update; UPDATE auditkit_events SET action = 'booking.deleted' WHERE seq = 2;",
    )
    .unwrap();
    let e = trail.purge_before(cutoff).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
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
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 10);
}
