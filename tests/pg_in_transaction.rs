//! Recording inside the application's own PostgreSQL transaction (`record_in` with a
//! `&mut postgres::Transaction`), on the app's connection, whose `search_path` is its own.
#![cfg(feature = "postgres")]

mod pg_support;

use auditkit::{AuditTrail, NewEvent, Query, Target};
use postgres::IsolationLevel;
use serde_json::json;

macro_rules! server {
    () => {
        match pg_support::url() {
            Some(url) => url,
            None => return,
        }
    };
}

/// The app's own table, in a schema of the app's (not auditkit's).
fn app(url: &str, tag: &str) -> (postgres::Client, String) {
    let mut client = pg_support::raw_client(url);
    let app = pg_support::fresh_schema(tag);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{app}\";
             CREATE TABLE \"{app}\".bookings (id text PRIMARY KEY, start text NOT NULL);
             INSERT INTO \"{app}\".bookings VALUES ('b-1', '10:00');
             SET search_path TO \"{app}\";"
        ))
        .unwrap();
    (client, app)
}

fn reschedule(to: &str) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant("salon-1")
        .target(Target::new("booking", "b-1"))
        .before(json!({ "start": "10:00" }))
        .after(json!({ "start": to }))
}

fn start(client: &mut postgres::Client) -> String {
    client
        .query_one("SELECT start FROM bookings WHERE id = 'b-1'", &[])
        .unwrap()
        .get(0)
}

#[test]
fn committed_together_or_not_at_all() {
    let url = server!();
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    let (mut client, _) = app(&url, "app");

    let mut tx = client.transaction().unwrap();
    tx.execute("UPDATE bookings SET start = '11:00' WHERE id = 'b-1'", &[])
        .unwrap();
    let first = trail.record_in(&mut tx, reschedule("11:00")).unwrap();
    // Not real before the commit: the store's own connections do not see it.
    assert_eq!(trail.get(first.id).unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(trail.get(first.id).unwrap().as_ref(), Some(&first));

    let mut tx = client.transaction().unwrap();
    tx.execute("UPDATE bookings SET start = '12:00' WHERE id = 'b-1'", &[])
        .unwrap();
    let gone = trail
        .record_batch_in(&mut tx, vec![reschedule("12:00"), reschedule("12:00")])
        .unwrap();
    assert_eq!(gone.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    tx.rollback().unwrap();
    assert_eq!(start(&mut client), "11:00");
    // No gap, nothing cached: the trail's next event takes seq 2.
    assert_eq!(trail.record(reschedule("13:00")).unwrap().seq, 2);
    let mut tx = client.transaction().unwrap();
    assert_eq!(
        trail.record_in(&mut tx, reschedule("14:00")).unwrap().seq,
        3
    );
    tx.commit().unwrap();
    assert_eq!(trail.record(reschedule("15:00")).unwrap().seq, 4);
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checked, 4);
}

#[test]
fn a_refused_event_leaves_the_app_transaction_usable() {
    let url = server!();
    let store = pg_support::fresh_store(&url);
    let trail = AuditTrail::new(store);
    let (mut client, _) = app(&url, "app");
    trail.record(reschedule("10:30")).unwrap();
    let mut tx = client.transaction().unwrap();
    tx.execute("UPDATE bookings SET start = '11:00' WHERE id = 'b-1'", &[])
        .unwrap();
    let e = trail.record_in(&mut tx, NewEvent::new("")).unwrap_err();
    assert!(e.is_invalid(), "{e}");
    // A write refused by the server halfway through the event (here a trigger on one of
    // auditkit's derived tables, after the event row went in): the savepoint takes the
    // event's rows back, and the app's transaction is not aborted.
    let schema = trail.store().schema().to_owned();
    tx.batch_execute(&format!(
        "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'no targets today'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON \"{schema}\".auditkit_event_targets
           FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();"
    ))
    .unwrap();
    let e = trail.record_in(&mut tx, reschedule("11:00")).unwrap_err();
    assert!(e.to_string().contains("no targets today"), "{e}");
    tx.batch_execute(&format!(
        "DROP TRIGGER refuse ON \"{schema}\".auditkit_event_targets"
    ))
    .unwrap();
    let ok = trail.record_in(&mut tx, reschedule("11:00")).unwrap();
    tx.commit().unwrap();
    assert_eq!(ok.seq, 2);
    assert_eq!(start(&mut client), "11:00");
    assert!(trail.verify().unwrap().is_ok());
    assert_eq!(trail.count(&Query::new()).unwrap(), 2);
}

#[test]
fn a_snapshot_behind_another_writer_is_told_to_retry() {
    let url = server!();
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    let (mut client, _) = app(&url, "app");
    trail.record(reschedule("10:30")).unwrap();
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    assert_eq!(
        tx.query_one("SELECT start FROM bookings", &[])
            .unwrap()
            .get::<_, String>(0),
        "10:00"
    );
    trail.record(reschedule("10:45")).unwrap(); // moves the head past the snapshot
    let e = trail.record_in(&mut tx, reschedule("11:00")).unwrap_err();
    assert!(e.is_retry_transaction(), "{e}");
    tx.rollback().unwrap();
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    assert_eq!(
        trail.record_in(&mut tx, reschedule("11:00")).unwrap().seq,
        3
    );
    tx.commit().unwrap();
}

#[test]
fn a_transaction_on_another_log_is_refused_and_kept() {
    let url = server!();
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    let other = AuditTrail::new(pg_support::fresh_store(&url));
    other.record(reschedule("09:00")).unwrap();
    // Same database, another schema's log: the store's own schema is what record_in writes,
    // so only a transaction on another database can hold another log; a database without
    // the store's schema is refused the same way.
    let mut client = pg_support::raw_client(&url);
    let mut tx = client.transaction().unwrap();
    tx.batch_execute(&format!(
        "DROP SCHEMA \"{}\" CASCADE",
        trail.store().schema().to_owned()
    ))
    .unwrap();
    let e = trail.record_in(&mut tx, reschedule("11:00")).unwrap_err();
    assert!(
        e.is_invalid() && e.to_string().contains("no auditkit log"),
        "{e}"
    );
    // The transaction is still usable.
    tx.query_one("SELECT 1", &[]).unwrap();
    tx.rollback().unwrap();
    assert_eq!(trail.count(&Query::new()).unwrap(), 0);
    assert_eq!(other.count(&Query::new()).unwrap(), 1);
}

#[test]
fn idempotency_keys_are_looked_up_inside_the_transaction() {
    let url = server!();
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    let (mut client, _) = app(&url, "app");
    let first = trail
        .record(reschedule("11:00").idempotency_key("req-1"))
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let again = trail
        .record_in(&mut tx, reschedule("11:00").idempotency_key("req-1"))
        .unwrap();
    let e = trail
        .record_in(&mut tx, reschedule("12:00").idempotency_key("req-1"))
        .unwrap_err();
    assert!(e.is_invalid(), "{e}");
    tx.commit().unwrap();
    assert_eq!(again, first);
    assert_eq!(trail.count(&Query::new()).unwrap(), 1);
}

#[test]
fn app_connections_and_app_servers_share_one_chain() {
    let url = server!();
    let trail = AuditTrail::new(pg_support::fresh_store(&url));
    let (_, app_schema) = app(&url, "app");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (trail, url, app_schema) = (trail.clone(), url.clone(), app_schema.clone());
            std::thread::spawn(move || {
                let mut client = pg_support::raw_client(&url);
                client
                    .batch_execute(&format!("SET search_path TO \"{app_schema}\""))
                    .unwrap();
                for i in 0..20 {
                    if t == 0 {
                        trail.record(reschedule(&format!("t{t}-{i}"))).unwrap();
                        continue;
                    }
                    let mut tx = client.transaction().unwrap();
                    tx.execute(
                        "INSERT INTO bookings VALUES ($1, '09:00')",
                        &[&format!("t{t}-{i}")],
                    )
                    .unwrap();
                    trail
                        .record_in(&mut tx, reschedule(&format!("t{t}-{i}")))
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
    assert_eq!(report.checked, 20 + 3 * 16);
    let mut client = pg_support::raw_client(&url);
    let bookings: i64 = client
        .query_one(
            &format!("SELECT count(*) - 1 FROM \"{app_schema}\".bookings"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bookings, 3 * 16);
}
