//! The conformance suite on both bundled stores: in memory, SQLite in memory, SQLite on disk.
#![cfg(all(feature = "testkit", feature = "sqlite"))]

use std::sync::atomic::{AtomicUsize, Ordering};

use auditkit::sqlite::SqliteStore;
use auditkit::{testkit, MemoryStore};

#[test]
fn memory_store_conforms() {
    testkit::run(MemoryStore::new);
}

#[test]
fn sqlite_in_memory_conforms() {
    testkit::run(|| SqliteStore::open_in_memory().expect("open an in-memory database"));
}

#[test]
fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let n = AtomicUsize::new(0);
    testkit::run(|| {
        let path = dir
            .path()
            .join(format!("audit-{}.db", n.fetch_add(1, Ordering::Relaxed)));
        SqliteStore::open(path).expect("open a fresh database file")
    });
    assert_eq!(
        n.load(Ordering::Relaxed),
        12,
        "every check gets a fresh store"
    );
}

#[test]
fn boxed_and_shared_stores_conform() {
    testkit::run(|| Box::new(MemoryStore::new()) as Box<dyn auditkit::AuditStore>);
    testkit::run(|| std::sync::Arc::new(MemoryStore::new()));
}
