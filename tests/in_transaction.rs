//! Recording inside the application's own SQLite transaction (`record_in`), and the shared
//! file it needs (`SqliteStore::adopt`).
#![cfg(feature = "sqlite")]

use std::path::Path;

use auditkit::sqlite::rusqlite::{Connection, TransactionBehavior};
use auditkit::sqlite::SqliteStore;
use auditkit::{AuditTrail, Error, NewEvent, Query, Target};

/// The app's own database: a bookings table, and its own header fields in use.
fn app_database(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE bookings (id TEXT PRIMARY KEY, start TEXT NOT NULL);
         INSERT INTO bookings VALUES ('b-1', '10:00');
         PRAGMA user_version = 7;
         PRAGMA application_id = 4660;",
    )
    .unwrap();
    conn
}

fn reschedule(to: &str) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant("salon-1")
        .target(Target::new("booking", "b-1"))
        .before(serde_json::json!({ "start": "10:00" }))
        .after(serde_json::json!({ "start": to }))
}

fn start_of(conn: &Connection) -> String {
    conn.query_row("SELECT start FROM bookings WHERE id = 'b-1'", [], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Every file next to `path` that SQLite may have created, with its bytes.
fn files_of(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = format!("{}{suffix}", path.display());
        if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

#[test]
fn a_file_of_the_app_is_refused_and_untouched_unless_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    drop(app_database(&path));
    let before = files_of(&path);
    let e = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("SqliteStore::adopt"), "{e}");
    assert_eq!(files_of(&path), before, "a refused open wrote to the file");

    // Adopted: auditkit's tables beside the app's, the header fields still the app's.
    let trail = AuditTrail::new(SqliteStore::adopt(&path).unwrap());
    trail.record(reschedule("11:00")).unwrap();
    drop(trail);
    let conn = Connection::open(&path).unwrap();
    let header: (i64, i64) = (
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap(),
        conn.pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap(),
    );
    assert_eq!(header, (7, 4660));
    assert_eq!(start_of(&conn), "10:00");
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with("auditkit_") && n.as_str() != "bookings")
        .collect();
    assert!(foreign.is_empty(), "{foreign:?}");
    // Once adopted, a plain open works.
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    assert_eq!(trail.count(&Query::new()).unwrap(), 1);
    assert!(trail.verify().unwrap().is_ok());
}

#[test]
fn the_app_may_add_its_tables_to_an_auditkit_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-first.db");
    AuditTrail::new(SqliteStore::open(&path).unwrap())
        .record(reschedule("11:00"))
        .unwrap();
    // The app moves in second, with its own migration tool's user_version.
    drop(app_database(&path));
    for open in [SqliteStore::open, SqliteStore::adopt] {
        let trail = AuditTrail::new(open(&path).unwrap());
        assert_eq!(trail.count(&Query::new()).unwrap(), 1);
    }
}

#[test]
fn committed_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut app = app_database(&path);
    let trail = AuditTrail::new(SqliteStore::adopt(&path).unwrap());

    // Committed: the booking row and the event.
    let tx = app
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("UPDATE bookings SET start = '11:00' WHERE id = 'b-1'", [])
        .unwrap();
    let first = trail.record_in(&tx, reschedule("11:00")).unwrap();
    tx.commit().unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(trail.get(first.id).unwrap().as_ref(), Some(&first));

    // Rolled back: neither, and no gap in seq afterwards.
    let tx = app
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("UPDATE bookings SET start = '12:00' WHERE id = 'b-1'", [])
        .unwrap();
    let gone = trail.record_in(&tx, reschedule("12:00")).unwrap();
    assert_eq!(gone.seq, 2);
    tx.rollback().unwrap();
    assert_eq!(start_of(&app), "11:00");
    assert_eq!(trail.get(gone.id).unwrap(), None);
    // The trail caches nothing of the rolled-back event: its next event takes seq 2.
    let next = trail.record(reschedule("13:00")).unwrap();
    assert_eq!(next.seq, 2);
    let again = {
        let tx = app
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let e = trail.record_batch_in(&tx, vec![reschedule("14:00"), reschedule("15:00")]);
        tx.commit().unwrap();
        e.unwrap()
    };
    assert_eq!(again.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    // The trail's own appends go on after events it did not append itself.
    assert_eq!(trail.record(reschedule("16:00")).unwrap().seq, 5);
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checked, 5);

    // A savepoint inside the app's transaction works the same way.
    let mut tx = app
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    {
        let sp = tx.savepoint().unwrap();
        trail.record_in(&sp, reschedule("17:00")).unwrap();
        // Dropped without commit: rolled back to the savepoint.
    }
    let kept = trail.record_in(&tx, reschedule("18:00")).unwrap();
    tx.commit().unwrap();
    assert_eq!(kept.seq, 6);
    assert!(trail.verify().unwrap().is_ok());
}

#[test]
fn a_refused_event_leaves_the_app_transaction_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut app = app_database(&path);
    let trail = AuditTrail::new(SqliteStore::adopt(&path).unwrap());
    trail.record(reschedule("10:30")).unwrap();

    let tx = app
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("UPDATE bookings SET start = '11:00' WHERE id = 'b-1'", [])
        .unwrap();
    // Bad input: nothing written, the transaction open.
    let e = trail.record_in(&tx, NewEvent::new("")).unwrap_err();
    assert!(e.is_invalid(), "{e}");
    // A write refused halfway through the event (here by a trigger of the app's on one of
    // auditkit's derived tables, after the event row went in): the savepoint takes the
    // event's rows back, and only them.
    tx.execute_batch(
        "CREATE TEMP TRIGGER refuse_targets BEFORE INSERT ON main.auditkit_event_targets
         BEGIN SELECT RAISE(ABORT, 'no targets today'); END;",
    )
    .unwrap();
    let e = trail.record_in(&tx, reschedule("11:00")).unwrap_err();
    assert!(e.to_string().contains("no targets today"), "{e}");
    assert!(!tx.is_autocommit(), "the app's transaction was rolled back");
    tx.execute_batch("DROP TRIGGER temp.refuse_targets")
        .unwrap();
    let ok = trail.record_in(&tx, reschedule("11:00")).unwrap();
    tx.commit().unwrap();
    assert_eq!(ok.seq, 2);
    assert_eq!(start_of(&app), "11:00");
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 2);
}

#[test]
fn a_deferred_transaction_behind_another_writer_is_told_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut app = app_database(&path);
    let trail = AuditTrail::new(SqliteStore::adopt(&path).unwrap());
    trail.record(reschedule("10:30")).unwrap();

    let tx = app.transaction().unwrap(); // DEFERRED
    assert_eq!(start_of(&tx), "10:00"); // the read snapshot starts here
    trail.record(reschedule("10:45")).unwrap(); // another writer moves the log on
    let e = trail.record_in(&tx, reschedule("11:00")).unwrap_err();
    assert!(e.is_retry_transaction(), "{e}");
    assert!(e.to_string().contains("Immediate"), "{e}");
    tx.rollback().unwrap();
    // Run again, it goes through.
    let tx = app.transaction().unwrap();
    let e = trail.record_in(&tx, reschedule("11:00")).unwrap();
    tx.commit().unwrap();
    assert_eq!(e.seq, 3);
}

#[test]
fn a_transaction_on_another_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::new(SqliteStore::adopt(dir.path().join("a.db")).unwrap());
    let other = SqliteStore::open(dir.path().join("b.db")).unwrap();
    drop(other);
    for path in ["b.db", "plain.db"] {
        let mut conn = Connection::open(dir.path().join(path)).unwrap();
        let tx = conn.transaction().unwrap();
        let e = trail.record_in(&tx, reschedule("11:00")).unwrap_err();
        assert!(e.is_invalid(), "{path}: {e}");
        assert!(e.to_string().contains("transaction"), "{path}: {e}");
    }
    assert_eq!(trail.count(&Query::new()).unwrap(), 0);
}

#[test]
fn idempotency_keys_are_honoured_inside_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut app = app_database(&path);
    let trail = AuditTrail::new(SqliteStore::adopt(&path).unwrap());
    let first = trail
        .record(reschedule("11:00").idempotency_key("req-1"))
        .unwrap();
    let tx = app
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let again = trail
        .record_in(&tx, reschedule("11:00").idempotency_key("req-1"))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(again, first);
    assert_eq!(trail.count(&Query::new()).unwrap(), 1);
}

#[test]
fn app_threads_and_the_trail_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    drop(app_database(&path));
    let trail = AuditTrail::new(SqliteStore::adopt(&path).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (trail, path) = (trail.clone(), path.clone());
            std::thread::spawn(move || {
                let mut conn = Connection::open(&path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(30))
                    .unwrap();
                for i in 0..25 {
                    if t == 0 {
                        trail.record(reschedule(&format!("t{t}-{i}"))).unwrap();
                        continue;
                    }
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .unwrap();
                    tx.execute(
                        "INSERT INTO bookings VALUES (?1, '09:00')",
                        [format!("t{t}-{i}")],
                    )
                    .unwrap();
                    trail
                        .record_in(&tx, reschedule(&format!("t{t}-{i}")))
                        .unwrap();
                    if i % 5 == 4 {
                        tx.rollback().unwrap();
                    } else {
                        tx.commit().unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    // 25 plain events, and 3 × 20 committed app transactions, each with its event.
    assert_eq!(report.checked, 25 + 60);
    let conn = Connection::open(&path).unwrap();
    let bookings: u64 = conn
        .query_row("SELECT COUNT(*) - 1 FROM bookings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bookings, 60);
}

#[test]
fn a_queued_new_event_records_as_the_original_would() {
    use auditkit::{Actor, Outcome, RequestContext, Source};
    let full = NewEvent::new("booking.refunded")
        .tenant("salon-1")
        .actor(
            Actor::customer("c-9")
                .name("Zoë")
                .impersonated_by(Actor::user("u-1").role("support")),
        )
        .source(Source::Other("kiosk".into()))
        .request(RequestContext::new().ip("203.0.113.7").request_id("req-1"))
        .occurred_at(time::macros::datetime!(2026-03-28 10:00:00.123456 +01:00))
        .target(Target::new("booking", "b-1").label("Haircut"))
        .related(Target::new("customer", "c-9"))
        .outcome(Outcome::failure("card declined"))
        .before(serde_json::json!({ "refunded_cents": 0 }))
        .after(serde_json::json!({ "refunded_cents": 2000 }))
        .context("reason", "double booking")
        .idempotency_key("refund-1");
    let queued: NewEvent = serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
    let bare: NewEvent = serde_json::from_str(r#"{"action": "booking.viewed"}"#).unwrap();
    let (a, b) = (
        AuditTrail::new(SqliteStore::open_in_memory().unwrap()),
        AuditTrail::new(SqliteStore::open_in_memory().unwrap()),
    );
    let (mut x, mut y) = (a.record(full).unwrap(), b.record(queued).unwrap());
    // What sealing stamps differs; everything the caller gave is the same.
    for e in [&mut x, &mut y] {
        e.id = uuid::Uuid::nil();
        e.recorded_at = time::OffsetDateTime::UNIX_EPOCH;
        (e.prev_hash, e.hash) = ([0; 32], [0; 32]);
    }
    assert_eq!(x, y);
    let viewed = a.record(bare).unwrap();
    assert_eq!(viewed.actor, Actor::system());
    assert_eq!(viewed.source, Source::System);
    // A builder's complaint travels with the queued event.
    let broken = NewEvent::new("booking.updated")
        .context("bad", std::collections::BTreeMap::from([((1, 2), 3)]));
    let json = serde_json::to_string(&broken).unwrap();
    let e = a.record(serde_json::from_str(&json).unwrap()).unwrap_err();
    assert!(e.is_invalid(), "{e}");
}
