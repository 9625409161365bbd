//! Tampering with the SQLite file directly: verify names the right position and kind; the guard
//! triggers refuse direct edits of an untouched database.
#![cfg(feature = "sqlite")]

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, FaultKind, NewEvent, Target};
use rusqlite::Connection;
use serde_json::json;

fn seeded(n: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    for i in 1..=n {
        trail
            .record(
                NewEvent::new("booking.rescheduled")
                    .tenant("salon-1")
                    .actor(Actor::user("u-1").name("Sarah"))
                    .target(Target::new("booking", format!("b-{i}")).label("Cut"))
                    .before(json!({"start": "10:00"}))
                    .after(json!({"start": format!("11:{i:02}")}))
                    .context("amount", i * 100),
            )
            .unwrap();
    }
    (dir, path)
}

/// An attacker with the file: every guard trigger is dropped first.
fn attacker(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(triggers.len() >= 11, "{triggers:?}");
    for t in triggers {
        conn.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
    }
    conn
}

fn verify(path: &std::path::Path) -> auditkit::VerifyReport {
    AuditTrail::new(SqliteStore::open(path).unwrap())
        .verify()
        .unwrap()
}

#[test]
fn an_intact_file_verifies() {
    let (_dir, path) = seeded(10);
    let report = verify(&path);
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.checked, report.verified_through), (10, 10));
}

#[test]
fn a_changed_middle_event_is_modified_at_its_seq() {
    let (_dir, path) = seeded(10);
    attacker(&path)
        .execute(
            "UPDATE auditkit_events SET context = '{\"amount\":1}' WHERE seq = 5",
            [],
        )
        .unwrap();
    let report = verify(&path);
    let fault = report.fault.expect("tampering must be detected");
    assert_eq!((fault.seq, fault.kind), (5, FaultKind::Modified), "{fault}");
    assert_eq!(report.verified_through, 4);
}

#[test]
fn a_changed_personal_value_is_modified() {
    let (_dir, path) = seeded(6);
    attacker(&path)
        .execute(
            "UPDATE auditkit_personal_values SET value = '\"Mallory\"' WHERE seq = 3 AND path = 'actor.name'",
            [],
        )
        .unwrap();
    let fault = verify(&path).fault.expect("detected");
    assert_eq!((fault.seq, fault.kind), (3, FaultKind::Modified), "{fault}");
}

#[test]
fn a_deleted_middle_event_is_missing_at_its_seq() {
    let (_dir, path) = seeded(10);
    attacker(&path)
        .execute("DELETE FROM auditkit_events WHERE seq = 4", [])
        .unwrap();
    let fault = verify(&path).fault.expect("detected");
    assert_eq!((fault.seq, fault.kind), (4, FaultKind::Missing), "{fault}");
}

#[test]
fn deleting_the_newest_events_is_caught_by_a_checkpoint() {
    let (_dir, path) = seeded(10);
    let checkpoint = AuditTrail::new(SqliteStore::open(&path).unwrap())
        .checkpoint()
        .unwrap();
    let text = checkpoint.to_string();
    // A careful attacker cuts the newest events and rewinds the recorded head to match.
    let conn = attacker(&path);
    let (hash8,): (Vec<u8>,) = conn
        .query_row("SELECT hash FROM auditkit_events WHERE seq = 8", [], |r| {
            Ok((r.get(0)?,))
        })
        .unwrap();
    conn.execute("DELETE FROM auditkit_events WHERE seq > 8", [])
        .unwrap();
    conn.execute(
        "UPDATE auditkit_head SET seq = 8, hash = ?1, frontier = x''",
        [hash8],
    )
    .unwrap();
    drop(conn);

    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let report = trail
        .verify_against(&text.parse().expect("checkpoint text parses"))
        .unwrap();
    let fault = report
        .fault
        .expect("truncation after a checkpoint is detected");
    assert_eq!(
        (fault.seq, fault.kind),
        (9, FaultKind::Truncated),
        "{fault}"
    );
    assert_eq!(report.verified_through, 8);
}

#[test]
fn cutting_events_without_fixing_the_head_is_truncated() {
    let (_dir, path) = seeded(5);
    attacker(&path)
        .execute("DELETE FROM auditkit_events WHERE seq = 5", [])
        .unwrap();
    let fault = verify(&path).fault.expect("detected");
    assert_eq!(
        (fault.seq, fault.kind),
        (5, FaultKind::Truncated),
        "{fault}"
    );
}

#[test]
fn a_checkpoint_of_another_history_is_a_mismatch() {
    let (_dir, path) = seeded(5);
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let mut cp = trail.checkpoint().unwrap();
    cp.root[0] ^= 1;
    let fault = trail.verify_against(&cp).unwrap().fault.expect("detected");
    assert_eq!(
        (fault.seq, fault.kind),
        (5, FaultKind::CheckpointMismatch),
        "{fault}"
    );
    let other = AuditTrail::new(SqliteStore::open_in_memory().unwrap())
        .checkpoint()
        .unwrap();
    let err = trail.verify_against(&other).unwrap_err();
    assert!(matches!(err, auditkit::Error::Checkpoint { .. }), "{err}");
}

/// The `personal` column names each field by its path: a text there that is no path is
/// refused when read (as any column that does not parse), another path is a modification.
#[test]
fn a_changed_personal_path_is_caught() {
    let (_dir, path) = seeded(3);
    let conn = attacker(&path);
    let rename = |from: &str, to: &str| {
        conn.execute(
            "UPDATE auditkit_events SET personal = replace(personal, ?1, ?2) WHERE seq = 2",
            [from, to],
        )
        .unwrap();
    };
    rename("actor.name", "actor.nickname");
    let err = AuditTrail::new(SqliteStore::open(&path).unwrap())
        .verify()
        .unwrap_err();
    assert!(
        matches!(err, auditkit::Error::Corrupt { .. })
            && err.to_string().contains("actor.nickname"),
        "{err}"
    );
    rename("actor.nickname", "actor.email");
    let fault = verify(&path)
        .fault
        .expect("a renamed path must be detected");
    assert_eq!((fault.seq, fault.kind), (2, FaultKind::Modified), "{fault}");
}

#[test]
fn direct_edits_of_an_untouched_file_are_refused() {
    let (_dir, path) = seeded(3);
    let conn = Connection::open(&path).unwrap();
    let refused = |sql: &str| {
        let err = conn.execute(sql, []).expect_err(sql).to_string();
        assert!(err.contains("auditkit:"), "{sql}: {err}");
    };
    refused("UPDATE auditkit_events SET action = 'booking.deleted' WHERE seq = 2");
    refused("DELETE FROM auditkit_events WHERE seq = 3");
    refused("DELETE FROM auditkit_events");
    refused("INSERT OR REPLACE INTO auditkit_events SELECT * FROM auditkit_events WHERE seq = 2");
    refused(
        "INSERT INTO auditkit_events SELECT 9, x'00', occurred_at, recorded_at, tenant, actor_kind, actor_id,
         actor_role, impersonator, source, request, action, failure, target_kind, target_id,
         related, before, after, context, NULL, payload_version, personal, prev_hash, hash,
         encoding, links, nodes FROM auditkit_events WHERE seq = 1",
    );
    refused("UPDATE auditkit_head SET seq = 1");
    refused("DELETE FROM auditkit_head");
    refused("UPDATE auditkit_personal_values SET value = '\"x\"'");
    // The derived rows a query answers from: never changed, deleted only by a purge or an
    // erasure (which marks its own transaction).
    refused("DELETE FROM auditkit_event_targets WHERE seq = 2");
    refused("UPDATE auditkit_event_targets SET id = 'b-9' WHERE seq = 2");
    refused("DELETE FROM auditkit_event_changes");
    refused("UPDATE auditkit_event_changes SET path = 'x'");
    refused("DELETE FROM auditkit_personal_values WHERE seq = 2");
    // A refused append undoes the whole transaction it was part of.
    conn.execute_batch("BEGIN; UPDATE auditkit_head SET purged_hash = x'01' WHERE id = 1;")
        .unwrap();
    refused("INSERT OR REPLACE INTO auditkit_events SELECT * FROM auditkit_events WHERE seq = 2");
    assert!(conn.is_autocommit());
    let purged_hash: Option<Vec<u8>> = conn
        .query_row("SELECT purged_hash FROM auditkit_head", [], |r| r.get(0))
        .unwrap();
    assert_eq!(purged_hash, None);
    drop(conn);
    let report = verify(&path);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checked, 3);
}

/// `read_each` lends exactly what `read` and `get` return, whatever state the file is in:
/// verify reads through it, so a lent event must never borrow another event's personal values.
#[test]
fn read_each_lends_what_read_returns_on_a_damaged_file() {
    use auditkit::AuditStore;
    let (_dir, path) = seeded(30);
    let conn = attacker(&path);
    conn.execute_batch(
        "DELETE FROM auditkit_events WHERE seq = 7;
         DELETE FROM auditkit_personal_values WHERE seq = 12 AND path = 'actor.name';
         DELETE FROM auditkit_personal_values WHERE seq = 13;
         DELETE FROM auditkit_events WHERE seq = 20;
         INSERT INTO auditkit_personal_values (seq, path, value, salt)
             VALUES (21, 'actor.zzz', '\"stray\"', zeroblob(16));",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    for (from, limit) in [
        (1, 100),
        (1, 5),
        (6, 3),
        (7, 1),
        (12, 2),
        (19, 2),
        (20, 5),
        (25, 100),
        (31, 10),
    ] {
        let read = store.read(from, limit).unwrap();
        let mut lent = Vec::new();
        store
            .read_each(from, limit, &mut |e| lent.push(e.to_owned()))
            .unwrap();
        assert_eq!(lent, read, "read_each({from}, {limit})");
        // `get` fills personal values its own way (point lookups): the lent values must agree.
        for e in &lent {
            assert_eq!(store.get(e.id).unwrap().as_ref(), Some(e), "get({})", e.seq);
        }
    }
    let all = store.read(1, 100).unwrap();
    assert_eq!(all.len(), 28);
    let e12 = all.iter().find(|e| e.seq == 12).unwrap();
    let erased: Vec<String> = e12
        .personal
        .iter()
        .filter(|p| p.value.is_none())
        .map(|p| p.path.to_string())
        .collect();
    assert_eq!(erased, ["actor.name"]);
    let e13 = all.iter().find(|e| e.seq == 13).unwrap();
    assert!(e13.personal.iter().all(|p| p.value.is_none()));
}

#[test]
fn every_event_records_its_encoding_and_an_unknown_one_is_a_clear_error() {
    let (_dir, path) = seeded(5);
    let conn = Connection::open(&path).unwrap();
    let encodings: Vec<i64> = conn
        .prepare("SELECT encoding FROM auditkit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(encodings, vec![2; 5]);
    drop(conn);
    // A log a newer auditkit sealed with an encoding this one does not know: verify says so
    // instead of reporting tampering.
    attacker(&path)
        .execute("UPDATE auditkit_events SET encoding = 3 WHERE seq = 3", [])
        .unwrap();
    let err = AuditTrail::new(SqliteStore::open(&path).unwrap())
        .verify()
        .unwrap_err();
    assert!(matches!(err, auditkit::Error::Unsupported { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("event 3") && msg.contains("encoding 3"),
        "{msg}"
    );
}

/// The rows queries answer from, changed behind the guards' back: verify names the event and
/// what is wrong, and the log is intact again once the row is put back.
#[test]
fn derived_rows_deleted_added_or_altered_are_caught() {
    let cases: [(&str, &str, u64, &str); 5] = [
        (
            "DELETE FROM auditkit_event_targets WHERE seq = 5",
            "INSERT INTO auditkit_event_targets VALUES ('booking', 'b-5', 5)",
            5,
            "lacks booking b-5",
        ),
        (
            "INSERT INTO auditkit_event_targets VALUES ('customer', 'c-0', 3)",
            "DELETE FROM auditkit_event_targets WHERE kind = 'customer'",
            3,
            "holds customer c-0",
        ),
        (
            "UPDATE auditkit_event_targets SET id = 'b-99' WHERE seq = 4",
            "UPDATE auditkit_event_targets SET id = 'b-4' WHERE seq = 4",
            4,
            "holds booking b-99",
        ),
        (
            "DELETE FROM auditkit_event_changes WHERE seq = 6",
            "INSERT INTO auditkit_event_changes VALUES ('start', 6)",
            6,
            "lacks \"start\"",
        ),
        (
            "INSERT INTO auditkit_event_changes VALUES ('price', 2)",
            "DELETE FROM auditkit_event_changes WHERE path = 'price'",
            2,
            "holds \"price\"",
        ),
    ];
    let (_dir, path) = seeded(8);
    let conn = attacker(&path);
    for (tamper, restore, seq, says) in cases {
        conn.execute_batch(tamper).unwrap();
        let report = verify(&path);
        let fault = report
            .fault
            .clone()
            .unwrap_or_else(|| panic!("{tamper}: not caught"));
        assert_eq!(
            (fault.seq, fault.kind),
            (seq, FaultKind::DerivedRow),
            "{tamper}: {report}"
        );
        assert!(fault.detail.contains(says), "{tamper}: {}", fault.detail);
        conn.execute_batch(restore).unwrap();
        let report = verify(&path);
        assert!(report.is_ok(), "{restore}: {report}");
    }
}

/// SQLite's search tables cannot carry triggers (the full-text table) or have none (the
/// pending rows of the newest events); verify is what guards them: an entry deleted,
/// replaced by one of other words, or kept in both places is a fault naming the event, and
/// checking the chain alone (`verify_chain`) does not look.
#[test]
fn search_entries_deleted_or_replaced_are_caught() {
    // 70 events: the first 64 went to the full-text table together, the rest are pending.
    let (_dir, path) = seeded(70);
    let conn = Connection::open(&path).unwrap();
    let pending: i64 = conn
        .query_row("SELECT COUNT(*) FROM auditkit_search_pending", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(pending, 6);
    let caught = |path: &std::path::Path, says: &str, seq: u64| {
        let fault = verify(path).fault.expect(says);
        assert_eq!(
            (fault.seq, fault.kind),
            (seq, FaultKind::DerivedRow),
            "{fault}"
        );
        assert!(fault.detail.contains(says), "{says}: {fault}");
    };
    conn.execute("DELETE FROM auditkit_event_search WHERE rowid = 7", [])
        .unwrap();
    caught(&path, "no entry", 7);
    let chain = AuditTrail::new(SqliteStore::open(&path).unwrap())
        .verify_chain()
        .unwrap();
    assert!(chain.is_ok(), "{chain}");
    conn.execute(
        "INSERT INTO auditkit_event_search (rowid, body) VALUES (7, 'aonly atwo')",
        [],
    )
    .unwrap();
    caught(&path, "holds 2 words", 7);
    conn.execute("DELETE FROM auditkit_event_search WHERE rowid = 7", [])
        .unwrap();
    conn.execute(
        "INSERT INTO auditkit_search_pending (seq, body) VALUES (7, 'aonly atwo')",
        [],
    )
    .unwrap();
    caught(&path, "lacks the word", 7);

    let (_dir, path) = seeded(70);
    let conn = Connection::open(&path).unwrap();
    let body: String = conn
        .query_row(
            "SELECT body FROM auditkit_search_pending WHERE seq = 67",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute("DELETE FROM auditkit_search_pending WHERE seq = 67", [])
        .unwrap();
    caught(&path, "no entry", 67);
    conn.execute(
        "INSERT INTO auditkit_search_pending (seq, body) VALUES (67, ?1)",
        [format!("{body} aintruder")],
    )
    .unwrap();
    caught(&path, "holds the word \"intruder\"", 67);
    conn.execute(
        "UPDATE auditkit_search_pending SET body = ?1 WHERE seq = 67",
        [&body],
    )
    .unwrap();
    assert!(verify(&path).is_ok());
    conn.execute(
        "INSERT INTO auditkit_event_search (rowid, body) VALUES (67, ?1)",
        [&body],
    )
    .unwrap();
    caught(&path, "two entries", 67);
}

#[path = "support/answers.rs"]
mod answers;

/// After the derived rows were damaged every way at once, `rebuild_indexes` writes them
/// again from the events: verify passes, every query answers as before the damage, the
/// rebuild is on record, and the guards refuse direct edits again.
#[test]
fn rebuild_indexes_repairs_every_derived_table_and_is_recorded() {
    use auditkit::{Query, INDEX_REBUILD_ACTION};
    let (_dir, path) = seeded(8);
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let queries = [
        Query::new().involving(&Target::new("booking", "b-5")),
        Query::new().changed("start"),
        Query::new().search("sarah"),
        Query::new().search("cut"),
    ];
    let before = answers::answers(&trail, &queries);
    let conn = attacker(&path);
    conn.execute_batch(
        "DELETE FROM auditkit_event_targets WHERE seq = 5;
         INSERT INTO auditkit_event_targets VALUES ('customer', 'c-0', 3);
         UPDATE auditkit_event_targets SET id = 'b-99' WHERE seq = 4;
         DELETE FROM auditkit_event_changes WHERE seq = 6;
         INSERT INTO auditkit_event_changes VALUES ('price', 2);
         DELETE FROM auditkit_search_pending WHERE seq = 7;",
    )
    .unwrap();
    drop(conn);
    assert!(!verify(&path).is_ok());
    assert_ne!(answers::answers(&trail, &queries), before);
    let event = trail
        .rebuild_indexes(Actor::user("ops-1").name("Olga"))
        .unwrap()
        .expect("a SQLite store keeps derived rows");
    assert_eq!(event.action, INDEX_REBUILD_ACTION);
    assert_eq!(event.context["events"], 8);
    let report = verify(&path);
    assert!(report.is_ok() && report.checked == 9, "{report}");
    assert_eq!(answers::answers(&trail, &queries), before);
    // The mark is gone after a rebuild: on a file whose guards are in place, they refuse.
    let (_d, guarded) = seeded(3);
    let t = AuditTrail::new(SqliteStore::open(&guarded).unwrap());
    t.rebuild_indexes(Actor::system()).unwrap();
    let conn = Connection::open(&guarded).unwrap();
    let err = conn
        .execute("DELETE FROM auditkit_event_targets WHERE seq = 2", [])
        .unwrap_err();
    assert!(err.to_string().contains("auditkit:"), "{err}");
}
