//! The conformance suite on both bundled stores: in memory, SQLite in memory, SQLite on disk.
//! One test per check and store (`memory::paging`, `sqlite_file::erase`, ...), written by
//! `auditkit::testkit_tests!`, plus whole-suite runs of `testkit::run`.
#![cfg(all(feature = "testkit", feature = "sqlite"))]

use std::sync::atomic::{AtomicUsize, Ordering};

use auditkit::{testkit, MemoryStore};

mod memory {
    auditkit::testkit_tests!(auditkit::MemoryStore::new);
}

mod sqlite_in_memory {
    auditkit::testkit_tests!(|| {
        auditkit::sqlite::SqliteStore::open_in_memory().expect("open an in-memory database")
    });
}

mod sqlite_file {
    // Each test's factory owns the directory its databases live in.
    auditkit::testkit_tests!({
        let dir = tempfile::tempdir().expect("a temporary directory");
        let n = std::sync::atomic::AtomicUsize::new(0);
        move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.path().join(format!("audit-{i}.db"));
            auditkit::sqlite::SqliteStore::open(path).expect("open a fresh database file")
        }
    });
}

#[test]
fn boxed_and_shared_stores_conform_and_every_check_gets_a_fresh_store() {
    let n = AtomicUsize::new(0);
    testkit::run(|| {
        n.fetch_add(1, Ordering::Relaxed);
        Box::new(MemoryStore::new()) as Box<dyn auditkit::AuditStore>
    });
    assert_eq!(
        n.load(Ordering::Relaxed),
        testkit::CHECKS.len(),
        "every check gets a fresh store"
    );
    testkit::run(|| std::sync::Arc::new(MemoryStore::new()));
}

#[test]
fn the_list_names_each_check_once_and_run_check_finds_each() {
    let mut names: Vec<&str> = testkit::CHECKS.iter().map(|c| c.name).collect();
    assert_eq!(names[0], "append_and_head", "the list keeps its order");
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        testkit::CHECKS.len(),
        "a check is listed twice"
    );
    assert!(testkit::CHECKS.iter().all(|c| !c.property.is_empty()));
    // Run by name, a check takes one store from the factory.
    let n = AtomicUsize::new(0);
    testkit::run_check("count", || {
        n.fetch_add(1, Ordering::Relaxed);
        MemoryStore::new()
    });
    assert_eq!(n.load(Ordering::Relaxed), 1);
}

#[test]
fn run_check_names_the_checks_when_none_has_that_name() {
    let outcome = std::panic::catch_unwind(|| testkit::run_check("pagin", MemoryStore::new));
    let panic = outcome.expect_err("an unknown check name panics");
    let msg = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("no check is named `pagin`"), "{msg}");
    for c in testkit::CHECKS {
        assert!(msg.contains(c.name), "{msg}");
    }
}
