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
