//! Size: bytes on disk per event, auditkit's file against the raw one.

use std::path::Path;

use rusqlite::Connection;

use crate::report::Report;

fn file_bytes(path: &Path) -> u64 {
    let conn = Connection::open(path).expect("open");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    std::fs::metadata(path).expect("metadata").len()
}

pub fn sizes(ak_path: &Path, raw_path: &Path, n: u64, rep: &mut Report) {
    let ak = file_bytes(ak_path) as f64 / n as f64;
    let raw = file_bytes(raw_path) as f64 / n as f64;
    let conn = Connection::open(raw_path).expect("open");
    let payload: f64 = conn
        .query_row(
            "SELECT AVG(8 + length(id) + 16 + COALESCE(length(tenant),0) + length(actor_kind) \
             + length(actor_id) + COALESCE(length(actor_role),0) + COALESCE(length(impersonator),0) \
             + length(source) + COALESCE(length(request),0) + length(action) \
             + COALESCE(length(failure),0) + COALESCE(length(target_kind),0) \
             + COALESCE(length(target_id),0) + COALESCE(length(related),0) \
             + COALESCE(length(before),0) + COALESCE(length(after),0) \
             + COALESCE(length(context),0) + COALESCE(length(idempotency_key),0) \
             + COALESCE(length(personal),0) + 64) FROM auditkit_events",
            [],
            |r| r.get(0),
        )
        .expect("payload");
    rep.add(
        "bytes on disk per event (raw: same schema and indexes)",
        "bytes",
        ak,
        Some(raw),
        Some(("<=", 1.5)),
    );
    let hand_path = ak_path.with_file_name("hand-large.db");
    if hand_path.exists() {
        rep.add(
            "bytes on disk per event vs hand-written table",
            "bytes",
            ak,
            Some(file_bytes(&hand_path) as f64 / n as f64),
            Some(("<=", 1.5)),
        );
    }
    rep.notes.push(format!(
        "the events row itself (sum of its column lengths, no indexes) is {payload:.0} bytes on average; auditkit's file holds {:.2}× that",
        ak / payload
    ));
}
