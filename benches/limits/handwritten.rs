//! The second baseline (issue 18): the hash-chained audit table a user would write by hand
//! instead of using auditkit, on the same events.
//!
//! One row per event: seq, id, occurred_at, recorded_at, tenant, actor_kind, actor_id,
//! actor_name, action, target_kind, target_id, source, outcome, one JSON text column holding
//! before, after, context, the change list and the related targets, prev_hash and hash
//! (SHA-256 over the previous hash, the seq and the JSON); four indexes: (tenant,
//! occurred_at), (tenant, actor_id, occurred_at), (tenant, action, occurred_at),
//! (target_kind, target_id, occurred_at). Inside its timed loop it serialises the JSON and
//! computes the hash; its change list is given (auditkit's), not diffed.

use std::path::Path;
use std::time::{Duration, Instant};

use auditkit::sqlite::SqliteStore;
use auditkit::{AuditStore, Outcome};
use rusqlite::Connection;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::raw::remove_db;

const SCHEMA: &str = "
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    tenant TEXT,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT,
    action TEXT NOT NULL,
    target_kind TEXT,
    target_id TEXT,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_tenant_time ON audit_log (tenant, occurred_at);
CREATE INDEX audit_tenant_actor ON audit_log (tenant, actor_id, occurred_at);
CREATE INDEX audit_tenant_action ON audit_log (tenant, action, occurred_at);
CREATE INDEX audit_target ON audit_log (target_kind, target_id, occurred_at);
";

/// One event as the hand-written code receives it: plain values, the JSON not yet written.
pub struct HandEvent {
    id: [u8; 16],
    occurred_at: i64,
    tenant: Option<String>,
    actor_kind: String,
    actor_id: String,
    actor_name: Option<String>,
    action: String,
    target: Option<(String, String)>,
    source: String,
    outcome: String,
    body: Value,
}

fn micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The events auditkit stored at seqs `from..from + n`, as the hand-written code gets them.
pub fn hand_events(store: &SqliteStore, from: u64, n: usize) -> Vec<HandEvent> {
    store
        .read(from, n)
        .expect("read")
        .iter()
        .map(|s| {
            let e = s.decode().expect("decode");
            HandEvent {
                id: *e.id.as_bytes(),
                occurred_at: micros(e.occurred_at),
                tenant: e.tenant.clone(),
                actor_kind: e.actor.kind.as_str().to_owned(),
                actor_id: e.actor.id.clone(),
                actor_name: e.actor.name.clone(),
                action: e.action.clone(),
                target: e.target.as_ref().map(|t| (t.kind.clone(), t.id.clone())),
                source: e.source.as_str().to_owned(),
                outcome: match &e.outcome {
                    Outcome::Failure { reason } => format!("failure: {reason}"),
                    _ => "success".to_owned(),
                },
                body: json!({
                    "before": e.before,
                    "after": e.after,
                    "context": e.context,
                    "changes": e.changes.iter().map(|c| json!({"path": c.path, "old": c.old, "new": c.new})).collect::<Vec<_>>(),
                    "related": e.related.iter().map(|t| json!({"kind": t.kind, "id": t.id})).collect::<Vec<_>>(),
                }),
            }
        })
        .collect()
}

/// The hand-written log: its connection, and the chain's tip it keeps in memory.
pub struct HandLog {
    pub conn: Connection,
    seq: i64,
    prev: [u8; 32],
}

/// A new hand-written log at `path`, WAL, with `synchronous` (`FULL` or `NORMAL`).
pub fn open_hand(path: &Path, synchronous: &str) -> HandLog {
    remove_db(path);
    let conn = Connection::open(path).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; {SCHEMA}"
    ))
    .expect("schema");
    HandLog {
        conn,
        seq: 0,
        prev: [0; 32],
    }
}

impl HandLog {
    /// Inserts `evs`, committing every `per_commit` rows; the time it took, serialising and
    /// hashing included.
    pub fn commit_every(&mut self, evs: &[HandEvent], per_commit: usize) -> Duration {
        let t = Instant::now();
        for chunk in evs.chunks(per_commit) {
            let tx = self.conn.transaction().expect("begin");
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO audit_log VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                    )
                    .expect("prepare");
                for e in chunk {
                    self.seq += 1;
                    let body = serde_json::to_string(&e.body).expect("json");
                    let hash: [u8; 32] = Sha256::new()
                        .chain_update(self.prev)
                        .chain_update(self.seq.to_be_bytes())
                        .chain_update(body.as_bytes())
                        .finalize()
                        .into();
                    let recorded_at = micros(time::OffsetDateTime::now_utc());
                    stmt.execute(rusqlite::params![
                        self.seq,
                        e.id.as_slice(),
                        e.occurred_at,
                        recorded_at,
                        e.tenant,
                        e.actor_kind,
                        e.actor_id,
                        e.actor_name,
                        e.action,
                        e.target.as_ref().map(|t| &t.0),
                        e.target.as_ref().map(|t| &t.1),
                        e.source,
                        e.outcome,
                        body,
                        self.prev.as_slice(),
                        hash.as_slice(),
                    ])
                    .expect("insert");
                    self.prev = hash;
                }
            }
            tx.commit().expect("commit");
        }
        t.elapsed()
    }
}

/// The hand-written verify: reads every row and re-hashes the chain; the rows checked.
pub fn hand_verify(path: &Path) -> u64 {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT seq, body, prev_hash, hash FROM audit_log ORDER BY seq")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut prev = [0u8; 32];
    let mut n = 0;
    while let Some(r) = rows.next().expect("row") {
        let seq: i64 = r.get(0).expect("seq");
        let body = r.get_ref(1).expect("body").as_str().expect("text");
        let stored_prev = r.get_ref(2).expect("prev").as_blob().expect("blob");
        let stored = r.get_ref(3).expect("hash").as_blob().expect("blob");
        let hash: [u8; 32] = Sha256::new()
            .chain_update(prev)
            .chain_update(seq.to_be_bytes())
            .chain_update(body.as_bytes())
            .finalize()
            .into();
        assert!(
            stored_prev == prev.as_slice() && stored == hash.as_slice(),
            "hand-written row {seq} does not verify"
        );
        prev = hash;
        n += 1;
    }
    n
}
