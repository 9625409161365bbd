//! Purge and erasure on `PgStore` against a real PostgreSQL server: the store-generic
//! scenarios of `tests/retention.rs` and `tests/erasure.rs`, answers compared with
//! `MemoryStore`, and the guards that still refuse removals outside these paths.
#![cfg(feature = "postgres")]

mod pg_support;

#[path = "support/lifecycle.rs"]
mod lifecycle;

use auditkit::postgres::{PgStore, SCHEMA_VERSION};
use auditkit::store::PersonalPath;
use auditkit::{AuditStore, AuditTrail, Error, Head, MemoryStore, Query, Subject};
use lifecycle::{erasure, retention};
use time::OffsetDateTime;

/// The shared server's URL, or return from the test after a visible SKIPPED line.
macro_rules! server {
    () => {
        match pg_support::url() {
            Some(url) => url,
            None => return,
        }
    };
}

/// Runs `sql` as the raw client; the error text if the server refused it.
fn refused(raw: &mut postgres::Client, sql: &str) -> Option<String> {
    raw.batch_execute(sql).err().map(|e| {
        e.as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned())
    })
}

#[test]
fn purge_keeps_the_rest_verifiable_in_postgres() {
    let url = server!();
    retention::purge_keeps_the_rest_verifiable(AuditTrail::new(pg_support::fresh_store(&url)));
}

#[test]
fn archive_verifies_on_its_own_in_postgres() {
    let url = server!();
    retention::archive_verifies_on_its_own(AuditTrail::new(pg_support::fresh_store(&url)));
}

#[test]
fn erasure_removes_one_person_in_postgres() {
    let url = server!();
    erasure::erasure_removes_one_person(erasure::fill(pg_support::fresh_store(&url)));
}

/// Every filter that reads a derived index gives the same events as `MemoryStore` (which
/// evaluates `Query::matches`) after erasure and after a purge.
#[test]
fn derived_indexes_agree_with_memory_after_erasure_and_purge() {
    let url = server!();
    let pg = erasure::fill(pg_support::fresh_store(&url));
    let mem = erasure::fill(MemoryStore::new());
    let queries = || {
        let mut qs = Vec::new();
        for path in ["phone", "service", "after", "before.phone", "after.phone"] {
            qs.push(Query::new().changed(path));
        }
        for word in [
            "Alex",
            "Doe",
            "alex@example.com",
            "example",
            "Bea",
            "Smith",
            "Sam",
            "Support",
            "Haircut",
            "called",
            "555",
            "web",
        ] {
            qs.push(Query::new().search(word));
        }
        qs.push(Query::new().involving(&auditkit::Target::new("customer", "c-9")));
        qs.push(Query::new().actor("c-9"));
        qs
    };
    let seqs =
        |events: Vec<auditkit::SealedEvent>| -> Vec<u64> { events.iter().map(|e| e.seq).collect() };
    let compare = |stage: &str| {
        for q in queries() {
            let a = seqs(pg.store().query(&q, 100).unwrap());
            let b = seqs(mem.store().query(&q, 100).unwrap());
            assert_eq!(a, b, "{stage}: {q:?}");
            assert_eq!(
                pg.count(&q).unwrap(),
                mem.count(&q).unwrap(),
                "{stage}: {q:?}"
            );
        }
    };
    compare("before erasure");
    for trail_erase in [
        pg.erase_subject(&Subject::customer("c-9")).unwrap(),
        mem.erase_subject(&Subject::customer("c-9")).unwrap(),
    ] {
        assert_eq!((trail_erase.events, trail_erase.values), (3, 9));
    }
    compare("after erasure");
    // The erased words are gone from the index itself, not only filtered out.
    let mut raw = pg_support::raw_client(&url);
    let s = format!("\"{}\"", pg.store().schema());
    let hits: i64 = raw
        .query_one(
            &format!(
                "SELECT count(*) FROM {s}.auditkit_events WHERE search_words && ARRAY['example', 'com']"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(hits, 0, "Alex's e-mail words are still in search_words");
    let changes: i64 = raw
        .query_one(
            &format!("SELECT count(*) FROM {s}.auditkit_event_changes WHERE seq = 1"),
            &[],
        )
        .unwrap()
        .get(0);
    // e1 changed after.phone and after.service; only after.service is left.
    assert_eq!(changes, 1);
    let v = pg.verify().unwrap();
    assert!(v.is_ok() && v.redacted == 3, "{v}");

    let cutoff = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let (rp, rm) = (
        pg.purge_before(cutoff).unwrap(),
        mem.purge_before(cutoff).unwrap(),
    );
    assert_eq!((rp.from_seq, rp.through_seq), (rm.from_seq, rm.through_seq));
    // Four events and the erasure record: all but the head go.
    assert_eq!(rp.through_seq, 4);
    compare("after purge");
    for table in [
        "auditkit_events",
        "auditkit_personal_values",
        "auditkit_event_targets",
        "auditkit_event_changes",
    ] {
        let left: i64 = raw
            .query_one(
                &format!("SELECT count(*) FROM {s}.{table} WHERE seq <= 4"),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "{table} keeps rows of purged events");
    }
    let v = pg.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!((v.purged_through, v.verified_through), (4, 6));
    // (The two logs hash differently: ids and times differ.)
    assert_eq!(
        pg.store().purge_anchor().unwrap().map(|a| a.seq),
        mem.store().purge_anchor().unwrap().map(|a| a.seq)
    );
}

#[test]
fn the_triggers_still_refuse_removals_outside_purge_and_erasure() {
    let url = server!();
    let store = pg_support::fresh_store(&url);
    let s = format!("\"{}\"", store.schema());
    let trail = AuditTrail::new(store);
    let (cutoff, _) = retention::fill(&trail);
    trail.purge_before(cutoff).unwrap();
    assert_eq!(trail.store().purge_anchor().unwrap().unwrap().seq, 5);
    let mut raw = pg_support::raw_client(&url);
    for sql in [
        format!("DELETE FROM {s}.auditkit_events WHERE seq = 8"),
        format!("DELETE FROM {s}.auditkit_events"),
        format!("TRUNCATE {s}.auditkit_events"),
        format!("UPDATE {s}.auditkit_events SET action = 'booking.deleted' WHERE seq = 7"),
        // Re-indexing may only drop search words, never add one.
        format!(
            "UPDATE {s}.auditkit_events SET search_words = search_words || 'forged'::text WHERE seq = 7"
        ),
        format!("UPDATE {s}.auditkit_events SET search_words = '{{}}', tenant = 'x' WHERE seq = 7"),
        format!("UPDATE {s}.auditkit_head SET purged_seq = 2"),
        format!("UPDATE {s}.auditkit_personal_values SET value = '\"x\"'"),
    ] {
        let e = refused(&mut raw, &sql);
        assert!(
            e.as_deref().is_some_and(|m| m.contains("auditkit")),
            "{sql}: {e:?}"
        );
    }
    assert_eq!(trail.count(&Query::new()).unwrap(), 6);
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");

    // The store itself checks the anchor it is given.
    let head = trail.store().head().unwrap();
    let beyond = Head::new(head.seq + 1, [0; 32], Vec::new());
    let e = trail.store().purge(&beyond).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    let behind = Head::new(3, [0; 32], vec![[0; 32]; 2]);
    let e = trail.store().purge(&behind).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    let bad_frontier = Head::new(7, [0; 32], Vec::new());
    let e = trail.store().purge(&bad_frontier).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 6);
    // Erasing fields that are gone or never existed changes nothing.
    trail
        .store()
        .erase(&[
            (2, PersonalPath::ActorName),
            (7, PersonalPath::Context("no.such.key".into())),
        ])
        .unwrap();
    assert!(trail.verify().unwrap().is_ok());
    assert_eq!(trail.count(&Query::new().search("Customer")).unwrap(), 5);
}

#[test]
fn a_version_1_schema_is_migrated_and_then_erases() {
    let url = server!();
    let schema = pg_support::fresh_schema("v1");
    let store = PgStore::connect_with_schema(&url, &schema).unwrap();
    let trail = erasure::fill(store);
    let mut raw = pg_support::raw_client(&url);
    // Version 1's names (version 5 prefixed them) and its guard, which refused every UPDATE
    // of events: put them back as they were.
    let tables = [
        "events",
        "event_targets",
        "event_changes",
        "personal_values",
    ];
    let mut names = String::new();
    for t in tables {
        names += &format!("ALTER TABLE \"{schema}\".auditkit_{t} RENAME TO {t}; ");
        names += &format!("ALTER INDEX \"{schema}\".auditkit_{t}_pkey RENAME TO {t}_pkey; ");
    }
    for i in [
        "id",
        "key",
        "time",
        "tenant",
        "actor",
        "actor_kind",
        "action",
        "target",
        "source",
        "failures",
        "search",
    ] {
        names += &format!("ALTER INDEX \"{schema}\".auditkit_events_{i} RENAME TO events_{i}; ");
    }
    for (trigger, table) in [
        ("events_guard", "events"),
        ("events_no_truncate", "events"),
        ("head_guard", "auditkit_head"),
        ("head_no_truncate", "auditkit_head"),
        ("personal_no_update", "personal_values"),
    ] {
        names += &format!(
            "ALTER TRIGGER auditkit_{trigger} ON \"{schema}\".{table} RENAME TO {trigger}; "
        );
    }
    raw.batch_execute(&names).unwrap();
    raw.batch_execute(&format!(
        "CREATE OR REPLACE FUNCTION \"{schema}\".auditkit_events_guard() RETURNS trigger \
         LANGUAGE plpgsql AS $g$ BEGIN \
         IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'auditkit: events are append-only and cannot be updated' \
         USING ERRCODE = 'integrity_constraint_violation'; END IF; \
         IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $g$; \
         UPDATE \"{schema}\".auditkit_meta SET value = '1' WHERE key = 'schema_version';"
    ))
    .unwrap();
    drop(trail);
    let store = PgStore::connect_with_schema(&url, &schema).unwrap();
    let version: String = raw
        .query_one(
            &format!("SELECT value FROM \"{schema}\".auditkit_meta WHERE key = 'schema_version'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION.to_string());
    // Every table, index, sequence and trigger is prefixed again, as in SQLite.
    let unprefixed: Vec<String> = raw
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname NOT LIKE 'auditkit\\_%' \
             UNION ALL SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND NOT t.tgisinternal AND t.tgname NOT LIKE 'auditkit\\_%'",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(unprefixed.is_empty(), "{unprefixed:?}");
    let trail = AuditTrail::builder(store)
        .personal_keys(["phone", "email"])
        .build();
    let r = trail.erase_subject(&Subject::customer("c-9")).unwrap();
    assert_eq!((r.events, r.values), (3, 9));
    assert_eq!(trail.count(&Query::new().search("Sam")).unwrap(), 0);
    assert!(trail.verify().unwrap().is_ok());
    // The migrated guard refuses a DELETE outside a purge again.
    let e = refused(
        &mut raw,
        &format!("DELETE FROM \"{schema}\".auditkit_events WHERE seq = 1"),
    );
    assert!(e.is_some_and(|m| m.contains("purge")));
}
