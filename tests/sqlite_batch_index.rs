//! A batch's side indexes (full text, involved targets, changed paths) are written after its
//! event rows; every event of the batch must still be found through each of them.

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, NewEvent, Query, Result, Target};
use serde_json::json;

#[test]
fn every_event_of_a_batch_is_found_through_each_side_index() -> Result<()> {
    let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
    let batch: Vec<NewEvent> = (0..5)
        .map(|i| {
            NewEvent::new("booking.rescheduled")
                .tenant("clinic-1")
                .actor(Actor::user("u-1").name(format!("Staffer{i}")))
                .target(Target::new("booking", format!("b-{i}")))
                .related(Target::new("customer", format!("c-{i}")))
                .before(json!({"slot": {"start": i}}))
                .after(json!({"slot": {"start": i + 1}}))
                .context("note", format!("word{i}"))
        })
        .collect();
    let recorded = trail.record_batch(batch)?;
    assert_eq!(recorded.len(), 5);
    for (i, e) in recorded.iter().enumerate() {
        let found = |q: Query| -> Result<Vec<u64>> {
            Ok(trail.query(&q)?.events.iter().map(|e| e.seq).collect())
        };
        assert_eq!(found(Query::new().search(format!("word{i}")))?, vec![e.seq]);
        assert_eq!(
            found(Query::new().search(format!("staffer{i}")))?,
            vec![e.seq]
        );
        assert_eq!(
            found(Query::new().involving(&Target::new("customer", format!("c-{i}"))))?,
            vec![e.seq]
        );
        assert_eq!(
            found(Query::new().target(&Target::new("booking", format!("b-{i}"))))?,
            vec![e.seq]
        );
    }
    assert_eq!(trail.count(&Query::new().changed("slot.start"))?, 5);
    assert_eq!(trail.count(&Query::new().search("booking"))?, 5);
    assert!(trail.verify()?.is_ok());
    Ok(())
}

/// SQLite keeps the newest events' search words apart and moves them to the full-text table
/// every 64 events: a search finds every event the moment its append returns, on either side
/// of each move, after single appends and batches that cross one, and after a rebuild, an
/// erasure and a purge.
#[test]
fn search_finds_every_event_before_and_after_its_words_reach_the_full_text_table() -> Result<()> {
    use auditkit::Subject;
    use time::{Duration, OffsetDateTime};
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::new(SqliteStore::open(dir.path().join("audit.db"))?);
    let start = OffsetDateTime::now_utc() - Duration::days(30);
    let event = |i: u64| {
        NewEvent::new("booking.created")
            .tenant("clinic-1")
            .occurred_at(start + Duration::minutes(i as i64))
            .target(Target::new("booking", format!("b-{i}")).label(format!("Client{i}")))
            .related(Target::new("customer", format!("c-{i}")))
            .context("note", format!("word{i}"))
    };
    let found = |word: String| -> Result<Vec<u64>> {
        Ok(trail
            .query(&Query::new().search(word))?
            .events
            .iter()
            .map(|e| e.seq)
            .collect())
    };
    let mut n = 0;
    // Single appends up to 70 (one move at 64), a batch of 5 from 70 to 75, one of 60 that
    // crosses 128, single appends again.
    for size in std::iter::repeat_n(1, 70)
        .chain([5, 60])
        .chain(std::iter::repeat_n(1, 10))
    {
        let batch: Vec<NewEvent> = (n + 1..=n + size).map(event).collect();
        trail.record_batch(batch)?;
        n += size;
        assert_eq!(
            trail.count(&Query::new().search("booking"))?,
            n,
            "after {n}"
        );
        assert_eq!(found(format!("word{n}"))?, vec![n], "the newest, after {n}");
        assert_eq!(
            found(format!("word{}", n.div_ceil(2)))?,
            vec![n.div_ceil(2)]
        );
    }
    for i in 1..=n {
        assert_eq!(found(format!("word{i}"))?, vec![i]);
    }
    assert!(trail.verify()?.is_ok());
    // An erased label leaves the search, wherever its event's words are kept.
    for i in [3, n] {
        assert_eq!(found(format!("client{i}"))?, vec![i]);
        trail.erase_subject(&Subject::new().target(&Target::new("booking", format!("b-{i}"))))?;
        assert_eq!(
            found(format!("client{i}"))?,
            Vec::<u64>::new(),
            "erased {i}"
        );
        assert_eq!(found(format!("word{i}"))?, vec![i]);
    }
    assert!(trail.verify()?.is_ok());
    // A purge takes its events' words from both places: through 139, where 136 on are
    // pending.
    let cutoff = trail.query(&Query::new().search("word140"))?.events[0].recorded_at;
    let purged = trail.purge_before(cutoff)?.through_seq;
    assert_eq!(purged, 139);
    assert_eq!(trail.count(&Query::new().search("booking"))?, n - purged);
    assert_eq!(found("word137".into())?, Vec::<u64>::new());
    assert_eq!(found(format!("word{n}"))?, vec![n]);
    assert!(trail.verify()?.is_ok());
    trail.rebuild_indexes(Actor::system())?;
    assert_eq!(trail.count(&Query::new().search("booking"))?, n - purged);
    assert_eq!(found(format!("word{n}"))?, vec![n]);
    assert!(trail.verify()?.is_ok());
    Ok(())
}
