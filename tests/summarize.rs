//! `AuditTrail::summarize`: SQLite's SQL `GROUP BY` against MemoryStore's scan, per action,
//! per actor and per local day across daylight-saving changes, plus hand-checked reports.
#![cfg(feature = "sqlite")]

#[path = "support/summaries.rs"]
mod summaries;

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, Error, GroupBy, MemoryStore, NewEvent, Query};
use summaries::{events, groupings, queries};
use time::macros::datetime;
use time::OffsetDateTime;

fn stores() -> auditkit::Result<(AuditTrail<SqliteStore>, AuditTrail<MemoryStore>)> {
    let sql = AuditTrail::new(SqliteStore::open_in_memory()?);
    let mem = AuditTrail::new(MemoryStore::new());
    for chunk in events().chunks(100) {
        sql.record_batch(chunk.to_vec())?;
        mem.record_batch(chunk.to_vec())?;
    }
    Ok((sql, mem))
}

#[test]
fn sqlite_matches_memory_for_every_grouping() -> auditkit::Result<()> {
    let (sql, mem) = stores()?;
    for q in queries() {
        let total = mem.count(&q)?;
        for by in &groupings() {
            let a = sql.summarize(&q, by)?;
            let b = mem.summarize(&q, by)?;
            assert_eq!(a, b, "{by:?} over {q:?}");
            assert_eq!(
                a.iter().map(|(_, n)| n).sum::<u64>(),
                total,
                "{by:?} over {q:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_default_scan_agrees_too() -> auditkit::Result<()> {
    // A store that only has the required methods uses the trait's scanning `summarize`.
    struct Plain(SqliteStore);
    impl AuditStore for Plain {
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
            head: &auditkit::Head,
        ) -> auditkit::Result<()> {
            self.0.append(expected, batch, head)
        }
        fn read(&self, from: u64, limit: usize) -> auditkit::Result<Vec<auditkit::SealedEvent>> {
            self.0.read(from, limit)
        }
    }
    let trail = AuditTrail::new(std::sync::Arc::new(Plain(SqliteStore::open_in_memory()?)));
    let sql = AuditTrail::new(SqliteStore::open_in_memory()?);
    for chunk in events().chunks(100) {
        trail.record_batch(chunk.to_vec())?;
        sql.record_batch(chunk.to_vec())?;
    }
    for by in [GroupBy::Action, GroupBy::day_in("Europe/Berlin")] {
        assert_eq!(
            trail.summarize(&Query::new(), &by)?,
            sql.summarize(&Query::new(), &by)?
        );
    }
    Ok(())
}

#[test]
fn days_follow_the_zones_clock() -> auditkit::Result<()> {
    let sql = AuditTrail::new(SqliteStore::open_in_memory()?);
    let mem = AuditTrail::new(MemoryStore::new());
    let times: [OffsetDateTime; 5] = [
        // Berlin switches to summer time at 01:00 UTC on 29 March 2026.
        datetime!(2026-03-28 22:59 UTC), // 23:59 CET, the 28th
        datetime!(2026-03-28 23:00 UTC), // 00:00 CET, the 29th
        datetime!(2026-03-29 21:59 UTC), // 23:59 CEST, the 29th
        datetime!(2026-03-29 22:00 UTC), // 00:00 CEST, the 30th
        // Los Angeles is still on the 31st of December 1969 here.
        datetime!(1970-01-01 00:30 UTC),
    ];
    for t in times {
        let e = NewEvent::new("booking.created").occurred_at(t);
        sql.record(e.clone())?;
        mem.record(e)?;
    }
    let s = |k: &str, n: u64| (k.to_string(), n);
    for trail_result in [
        sql.summarize(&Query::new(), &GroupBy::day_in("Europe/Berlin"))?,
        mem.summarize(&Query::new(), &GroupBy::day_in("Europe/Berlin"))?,
    ] {
        assert_eq!(
            trail_result,
            [
                s("1970-01-01", 1),
                s("2026-03-28", 1),
                s("2026-03-29", 2),
                s("2026-03-30", 1)
            ]
        );
    }
    assert_eq!(
        sql.summarize(&Query::new(), &GroupBy::day_in("America/Los_Angeles"))?,
        [s("1969-12-31", 1), s("2026-03-28", 2), s("2026-03-29", 2)]
    );
    assert_eq!(
        sql.summarize(&Query::new(), &GroupBy::day_in("UTC"))?,
        [s("1970-01-01", 1), s("2026-03-28", 2), s("2026-03-29", 2)]
    );
    Ok(())
}

#[test]
fn actions_and_actors_sort_by_count_then_name() -> auditkit::Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    for (action, actor) in [
        ("booking.created", "sarah"),
        ("booking.created", "sarah"),
        ("booking.cancelled", "tom"),
        ("booking.rescheduled", "sarah"),
        ("booking.rescheduled", "amy"),
        ("account.login", "tom"),
    ] {
        trail.record(NewEvent::new(action).actor(Actor::user(actor)))?;
    }
    let s = |k: &str, n: u64| (k.to_string(), n);
    assert_eq!(
        trail.summarize(&Query::new().action("booking.*"), &GroupBy::Action)?,
        [
            s("booking.created", 2),
            s("booking.rescheduled", 2),
            s("booking.cancelled", 1)
        ]
    );
    assert_eq!(
        trail.summarize(&Query::new(), &GroupBy::Actor)?,
        [s("sarah", 3), s("tom", 2), s("amy", 1)]
    );
    assert!(trail
        .summarize(&Query::new().tenant("x"), &GroupBy::Actor)?
        .is_empty());
    Ok(())
}

#[test]
fn bad_zones_and_queries_are_invalid() -> auditkit::Result<()> {
    let sql = AuditTrail::new(SqliteStore::open_in_memory()?);
    let mem = AuditTrail::new(MemoryStore::new());
    sql.record(NewEvent::new("booking.created"))?;
    mem.record(NewEvent::new("booking.created"))?;
    let bad = GroupBy::day_in("Mars/Olympus_Mons");
    for err in [
        sql.summarize(&Query::new(), &bad).expect_err("bad zone"),
        mem.summarize(&Query::new(), &bad).expect_err("bad zone"),
    ] {
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "zone"),
            "{err}"
        );
        assert!(err.to_string().contains("Mars/Olympus_Mons"), "{err}");
    }
    let err = sql
        .summarize(&Query::new().search("  "), &GroupBy::Action)
        .expect_err("empty search");
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "search"),
        "{err}"
    );
    Ok(())
}
