//! The server goes away under a running trail: a crash (`pg_ctl stop -m immediate`, fsync on)
//! and restart must lose no acknowledged event, and the same trail must go on recording
//! without being rebuilt. Needs a cluster of its own (restarting a shared one would break the
//! other tests), so it ignores `AUDITKIT_PG_URL`.
#![cfg(feature = "postgres")]

mod pg_support;

use auditkit::postgres::PgStore;
use auditkit::{AuditStore, AuditTrail, NewEvent, Query};

#[test]
fn acknowledged_events_survive_a_server_crash_and_the_trail_reconnects() {
    let Some(cluster) = pg_support::own_durable_cluster() else {
        return;
    };
    let url = cluster.url();
    let trail = AuditTrail::new(PgStore::connect(&url).expect("connect"));
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        acknowledged.push(
            trail
                .record(NewEvent::new("booking.created").context("i", i))
                .expect("record"),
        );
    }
    // Readers hold pooled connections too; all of them die with the server.
    assert_eq!(trail.count(&Query::new()).expect("count"), 20);

    cluster
        .crash_restart()
        .expect("crash and restart the server");
    // No error for the caller: the dead pooled connection is replaced transparently.
    let after = trail
        .record(NewEvent::new("booking.confirmed"))
        .expect("record after the restart");
    assert_eq!(after.seq, 21);
    for e in &acknowledged {
        assert_eq!(
            trail.get(e.id).expect("get").as_ref(),
            Some(e),
            "acknowledged event {} lost",
            e.seq
        );
    }

    // While the server is down, calls fail with a clear error and nothing is half-written.
    cluster.stop_immediately().expect("stop");
    let e = trail
        .record(NewEvent::new("booking.cancelled"))
        .expect_err("server down");
    let msg = e.to_string();
    assert!(
        msg.contains("PostgreSQL") || msg.contains("outcome unknown"),
        "unclear error while the server is down: {msg}"
    );
    let e = trail.store().head().expect_err("head while down");
    assert!(e.to_string().contains("cannot connect"), "{e}");

    cluster.start_again().expect("start again");
    let next = trail
        .record(NewEvent::new("booking.cancelled"))
        .expect("record once the server is back");
    assert_eq!(next.seq, 22, "the failed call stored nothing");
    let report = trail.verify().expect("verify");
    assert!(report.is_ok() && report.checked == 22, "{report:?}");
}
