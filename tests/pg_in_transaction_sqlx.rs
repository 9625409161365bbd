//! `record_in_sqlx`: recording inside the application's own sqlx transaction on PostgreSQL.
#![cfg(feature = "sqlx")]

mod pg_support;

use auditkit::{AuditTrail, NewEvent, Query, Target};
use serde_json::json;
use sqlx::{Connection, PgConnection};

fn reschedule(to: &str) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant("salon-1")
        .target(Target::new("booking", "b-1"))
        .before(json!({ "start": "10:00" }))
        .after(json!({ "start": to }))
}

/// The app's sqlx connection, with its own table in a schema of its own.
async fn app(url: &str) -> PgConnection {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let schema = pg_support::fresh_schema("sqlx");
    sqlx::Executor::execute(
        &mut conn,
        format!(
            "CREATE SCHEMA \"{schema}\";
             SET search_path TO \"{schema}\";
             CREATE TABLE bookings (id text PRIMARY KEY, start text NOT NULL);
             INSERT INTO bookings VALUES ('b-1', '10:00');"
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn
}

async fn start(conn: &mut PgConnection) -> String {
    sqlx::query_scalar("SELECT start FROM bookings WHERE id = 'b-1'")
        .fetch_one(conn)
        .await
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn committed_together_rolled_back_together_and_refusals_keep_the_transaction() {
    let Some(url) = pg_support::url() else {
        return;
    };
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    // The trail's other calls on a PgStore block (the `postgres` client runs a runtime of its
    // own): they are made outside the async code here.
    let rt = runtime();
    let mut conn = rt.block_on(app(&url));
    let (first, again) = rt.block_on(async {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("UPDATE bookings SET start = '11:00' WHERE id = 'b-1'")
            .execute(&mut *tx)
            .await
            .unwrap();
        let first = trail
            .record_in_sqlx(&mut *tx, reschedule("11:00"))
            .await
            .unwrap();
        // A refused event leaves the transaction usable and as it was.
        let e = trail
            .record_in_sqlx(&mut *tx, NewEvent::new(""))
            .await
            .unwrap_err();
        assert!(e.is_invalid(), "{e}");
        let again = trail
            .record_in_sqlx(&mut *tx, reschedule("11:00").idempotency_key("k-1"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        (first, again)
    });
    assert_eq!((first.seq, again.seq), (1, 2));
    assert_eq!(trail.get(first.id).unwrap().as_ref(), Some(&first));
    assert_eq!(trail.get(again.id).unwrap().as_ref(), Some(&again));
    rt.block_on(async {
        assert_eq!(start(&mut conn).await, "11:00");
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("UPDATE bookings SET start = '12:00' WHERE id = 'b-1'")
            .execute(&mut *tx)
            .await
            .unwrap();
        let gone = trail
            .record_batch_in_sqlx(&mut *tx, vec![reschedule("12:00"), reschedule("12:00")])
            .await
            .unwrap();
        assert_eq!(gone.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        tx.rollback().await.unwrap();
        assert_eq!(start(&mut conn).await, "11:00");
        // The key recorded inside the committed transaction is found again.
        let mut tx = conn.begin().await.unwrap();
        let found = trail
            .record_in_sqlx(&mut *tx, reschedule("11:00").idempotency_key("k-1"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(found, again);
    });
    assert_eq!(trail.record(reschedule("13:00")).unwrap().seq, 3);
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(trail.count(&Query::new()).unwrap(), 3);
}

#[test]
fn a_snapshot_behind_another_writer_is_told_to_retry() {
    let Some(url) = pg_support::url() else {
        return;
    };
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    trail.record(reschedule("10:30")).unwrap();
    let rt = runtime();
    let mut conn = rt.block_on(app(&url));
    let mut tx = rt.block_on(async {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(start(&mut tx).await, "10:00");
        tx
    });
    trail.record(reschedule("10:45")).unwrap();
    rt.block_on(async {
        let e = trail
            .record_in_sqlx(&mut *tx, reschedule("11:00"))
            .await
            .unwrap_err();
        assert!(e.is_retry_transaction(), "{e}");
        tx.rollback().await.unwrap();
    });
    assert_eq!(trail.count(&Query::new()).unwrap(), 2);
}

#[test]
fn the_future_is_send_so_a_spawned_task_can_record() {
    let Some(url) = pg_support::url() else {
        return;
    };
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    let rt = runtime();
    let recorded = rt.block_on(async {
        let (trail, url) = (trail.clone(), url.clone());
        tokio::spawn(async move {
            let mut conn = app(&url).await;
            let mut tx = conn.begin().await.unwrap();
            let e = trail
                .record_in_sqlx(&mut *tx, reschedule("11:00"))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            e
        })
        .await
        .unwrap()
    });
    assert_eq!(trail.get(recorded.id).unwrap(), Some(recorded));
}
