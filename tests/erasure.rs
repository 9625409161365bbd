//! Erasure: one person's personal values removed everywhere; the chain still verifies.
#![cfg(feature = "sqlite")]

#[path = "support/lifecycle.rs"]
mod lifecycle;

use auditkit::sqlite::SqliteStore;
use auditkit::{AuditTrail, MemoryStore, NewEvent, Subject};
use lifecycle::erasure::{erasure_removes_one_person, fill};

#[test]
fn erasure_removes_one_person_in_memory() {
    erasure_removes_one_person(fill(MemoryStore::new()));
}

#[test]
fn erasure_removes_one_person_in_sqlite() {
    erasure_removes_one_person(fill(SqliteStore::open_in_memory().unwrap()));
}

/// Every byte of the database and its WAL.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut out = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(&wal) {
        out.extend(w);
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn erased_values_leave_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = fill(SqliteStore::open(&path).unwrap());
    assert!(contains(&file_bytes(&path), "555-0199"));
    assert!(contains(&file_bytes(&path), "alex@example.com"));
    let before = trail.checkpoint().unwrap();
    trail.erase_subject(&Subject::customer("c-9")).unwrap();
    // Erasure changes nothing hashed: a checkpoint taken before it still holds.
    let v = trail.verify_against(&before).unwrap();
    assert!(v.is_ok(), "{v}");
    let bytes = file_bytes(&path);
    for gone in ["555-0199", "555-0100", "alex@example.com"] {
        assert!(!contains(&bytes, gone), "{gone} is still in the file");
    }
    assert!(contains(&bytes, "555-0777"), "other people's values stay");
    drop(trail);
    // And after reopening, the log still verifies.
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.redacted, 3);
}

#[test]
fn erasure_of_purged_events_is_not_needed() {
    // Erasure and retention together: a purge removes the values with the events, and the
    // anchor keeps the rest verifiable with erased entries.
    let trail = fill(MemoryStore::new());
    trail.erase_subject(&Subject::customer("c-9")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let cutoff = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(2));
    trail.record(NewEvent::new("booking.created")).unwrap();
    let r = trail.purge_before(cutoff).unwrap();
    assert_eq!(r.through_seq, 5);
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.redacted, 0);
}
