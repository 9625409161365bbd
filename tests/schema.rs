//! Schema evolution and damaged files: the first schema's fixture still opens, verifies and
//! reads; newer schemas and non-auditkit files are clear errors, never panics.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};

use auditkit::sqlite::{SqliteStore, SCHEMA_VERSION};
use auditkit::{AuditTrail, Checkpoint, Error, NewEvent, Outcome, Query, Target};

/// A copy of a fixture in a fresh directory (opening writes to it).
fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(Path::new("tests/data").join(name), &to).unwrap();
    to
}

#[test]
fn the_first_schema_fixture_opens_verifies_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path(), "schema_v1.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let cp: Checkpoint = include_str!("data/schema_v1.checkpoint").parse().unwrap();
    let report = trail.verify_against(&cp).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        (report.checked, report.purged_through, report.redacted),
        (4, 2, 1)
    );

    let events = trail.query(&Query::new().oldest_first()).unwrap().events;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "booking.rescheduled",
            "payment.failed",
            "audit.subject_erased",
            "audit.purged"
        ]
    );
    let moved = &events[0];
    assert_eq!(moved.seq, 3);
    assert_eq!(moved.actor.name.as_deref(), Some("Sarah"));
    assert_eq!(moved.actor.role.as_deref(), Some("staff"));
    assert_eq!(moved.changes.len(), 1);
    assert_eq!(moved.changes[0].path, "start");
    assert_eq!(moved.related[0].label, None);
    assert_eq!(moved.redacted, ["related[0].label"]);
    assert_eq!(moved.context["reason"], "customer asked");
    assert_eq!(
        moved.target.as_ref().unwrap().label.as_deref(),
        Some("Haircut with Sam")
    );
    let failed = &events[1];
    assert_eq!(failed.outcome, Outcome::failure("card declined"));
    assert_eq!(failed.context["amount"], 4500);

    assert_eq!(trail.count(&Query::new().search("Bea")).unwrap(), 1);
    assert_eq!(trail.count(&Query::new().search("Alex")).unwrap(), 0);
    assert_eq!(trail.count(&Query::new().changed("start")).unwrap(), 1);
    assert_eq!(
        trail.history(&Target::new("booking", "b-1")).unwrap().len(),
        1
    );
    // Idempotency keys still resolve to the stored event: another event under the key is
    // refused, naming it.
    let e = trail
        .record(NewEvent::new("booking.rescheduled").idempotency_key("req-1"))
        .unwrap_err();
    assert!(e.is_invalid() && e.to_string().contains("seq 3"), "{e}");

    // The log goes on from the fixture.
    let next = trail.record(NewEvent::new("booking.completed")).unwrap();
    assert_eq!(next.seq, 7);
    let report = trail.verify_against(&cp).unwrap();
    assert!(report.is_ok(), "{report}");
    drop(trail);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The version moved into auditkit_meta; the header's fields are the file's again.
    let version: String = conn
        .query_row(
            "SELECT value FROM auditkit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
    for pragma in ["application_id", "user_version"] {
        let v: i64 = conn.pragma_query_value(None, pragma, |r| r.get(0)).unwrap();
        assert_eq!(v, 0, "{pragma}");
    }
    // Every table, index and trigger carries the prefix.
    let unprefixed: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE substr(name, 1, 9) != 'auditkit_' AND substr(name, 1, 7) != 'sqlite_'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(unprefixed.is_empty(), "{unprefixed:?}");
    // The migrated guards still refuse writes out of place.
    for sql in [
        "INSERT OR REPLACE INTO auditkit_events SELECT * FROM auditkit_events WHERE seq = 3",
        "UPDATE auditkit_head SET seq = 1",
    ] {
        let err = conn.execute(sql, []).expect_err(sql).to_string();
        assert!(err.contains("auditkit:"), "{sql}: {err}");
    }
}

#[test]
fn a_read_only_open_of_the_first_schema_is_schema_too_old_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path(), "schema_v1.db");
    let before = std::fs::read(&path).unwrap();
    let ro = auditkit::sqlite::SqliteOptions::default().read_only(true);
    let e = SqliteStore::open_with(&path, ro).unwrap_err();
    assert!(
        matches!(e, Error::SchemaTooOld { found: 1, current } if current == SCHEMA_VERSION),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
}

#[test]
fn a_database_from_a_newer_auditkit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE auditkit_meta SET value = ?1 WHERE key = 'schema_version'",
            [(SCHEMA_VERSION + 1).to_string()],
        )
        .unwrap();
    let e = SqliteStore::open(&path).unwrap_err();
    match &e {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other}"),
    }
    assert!(e.to_string().contains("upgrade auditkit"), "{e}");
}

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn random_bytes_are_a_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    for (i, len) in [1usize, 100, 4096, 65_536].into_iter().enumerate() {
        let path = dir.path().join(format!("noise-{i}.db"));
        std::fs::write(&path, noise(i as u64 + 7, len)).unwrap();
        let e = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{len} bytes: {e}");
    }
}

#[test]
fn a_foreign_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let e = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("not created by auditkit"), "{e}");
}

/// Opens `path` and uses it every way a trail does; returns the first error or fault seen.
/// The point: whatever the damage, it surfaces as an error or a fault, never as a panic.
fn first_problem(path: &Path) -> Option<String> {
    let store = match SqliteStore::open(path) {
        Ok(s) => s,
        Err(e) => return Some(format!("open: {e}")),
    };
    let trail = AuditTrail::new(store);
    match trail.verify() {
        Err(e) => return Some(format!("verify: {e}")),
        Ok(r) if !r.is_ok() => return Some(format!("verify: {r}")),
        Ok(_) => {}
    }
    if let Err(e) = trail.query(&Query::new().search("Sarah")) {
        return Some(format!("query: {e}"));
    }
    if let Err(e) = trail.record(NewEvent::new("booking.created")) {
        return Some(format!("record: {e}"));
    }
    None
}

#[test]
fn a_truncated_database_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read("tests/data/schema_v1.db").unwrap();
    for cut in [50, 100, 4096, 8192, full.len() / 2, full.len() - 4096] {
        let path = dir.path().join(format!("cut-{cut}.db"));
        std::fs::write(&path, &full[..cut]).unwrap();
        let problem = first_problem(&path);
        assert!(problem.is_some(), "cut at {cut} went unnoticed");
        let problem = problem.unwrap();
        assert!(
            problem.contains("corrupt") || problem.contains("TAMPERED"),
            "cut at {cut}: {problem}"
        );
    }
}

#[test]
fn overwritten_pages_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read("tests/data/schema_v1.db").unwrap();
    let pages = full.len() / 4096;
    let mut noticed = 0;
    for page in 1..pages {
        let mut damaged = full.clone();
        let at = page * 4096;
        damaged[at..at + 4096].copy_from_slice(&noise(page as u64, 4096));
        let path = dir.path().join(format!("page-{page}.db"));
        std::fs::write(&path, &damaged).unwrap();
        // Some pages (free pages, an index these operations never read) may go unnoticed;
        // what matters is that none panics and what is noticed is reported as corruption.
        if let Some(p) = first_problem(&path) {
            assert!(p.contains("corrupt"), "page {page}: {p}");
            noticed += 1;
        }
    }
    assert!(
        noticed * 4 >= pages * 3,
        "only {noticed} of {pages} damaged pages noticed"
    );
}

/// Events sealed before they carried subtree hashes or links (the v1 fixture, encoding 1)
/// still get inclusion proofs, their subtrees recomputed from the events, and the events
/// recorded after the migration link on from them.
#[test]
fn proofs_cover_events_sealed_before_subtree_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path(), "schema_v1.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    for _ in 0..20 {
        trail.record(NewEvent::new("booking.created")).unwrap();
    }
    let cp = trail.checkpoint().unwrap();
    let log_id = trail.log_id().unwrap().to_owned();
    let stored = auditkit::AuditStore::read(trail.store(), 1, usize::MAX).unwrap();
    assert!(stored.iter().any(|e| e.encoding == 1));
    for e in &stored {
        let leaf = auditkit::integrity::verify::seal_hashes(&log_id, e).0;
        trail.prove(e.seq, &cp).unwrap().verify(&leaf).unwrap();
    }
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
}
