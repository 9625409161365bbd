//! The raw side: the same rows, written and read by hand.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use auditkit::sqlite::SqliteStore;
use auditkit::{AuditStore, SealedEvent};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, TransactionBehavior};
use time::OffsetDateTime;

use crate::BATCH;

/// Everything one event puts in the database, ready to bind.
pub struct RawEvent {
    cols: Vec<SqlValue>,
    personal: Vec<(String, String, Vec<u8>)>,
    targets: Vec<(String, String)>,
    changes: Vec<String>,
    search: String,
}

pub const COLUMNS: &str = "seq, id, occurred_at, recorded_at, tenant, actor_kind, actor_id, \
    actor_role, impersonator, source, request, action, failure, target_kind, target_id, related, \
    before, after, context, idempotency_key, payload_version, personal, prev_hash, hash";

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

fn text(v: &Option<String>) -> SqlValue {
    v.clone().map_or(SqlValue::Null, SqlValue::Text)
}

/// The columns auditkit stores for `e`, computed outside any timed section.
fn raw_event(e: &SealedEvent) -> RawEvent {
    let personal_col = (!e.personal.is_empty()).then(|| {
        e.personal
            .iter()
            .map(|p| format!("{}\t{}", p.path, hex::encode(p.commitment)))
            .collect::<Vec<_>>()
            .join("\n")
    });
    RawEvent {
        cols: vec![
            SqlValue::Integer(e.seq as i64),
            SqlValue::Blob(e.id.as_bytes().to_vec()),
            SqlValue::Integer(micros(e.occurred_at)),
            SqlValue::Integer(micros(e.recorded_at)),
            text(&e.tenant),
            SqlValue::Text(e.actor_kind.as_str().to_owned()),
            SqlValue::Text(e.actor_id.clone()),
            text(&e.actor_role),
            text(&e.impersonator),
            SqlValue::Text(e.source.clone()),
            text(&e.request),
            SqlValue::Text(e.action.clone()),
            text(&e.failure),
            text(&e.target_kind),
            text(&e.target_id),
            text(&e.related),
            text(&e.before),
            text(&e.after),
            text(&e.context),
            text(&e.idempotency_key),
            e.payload_version
                .map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
            text(&personal_col),
            SqlValue::Blob(e.prev_hash.to_vec()),
            SqlValue::Blob(e.hash.to_vec()),
        ],
        personal: e
            .personal
            .iter()
            .filter_map(|p| {
                p.value
                    .as_ref()
                    .map(|v| (p.path.to_string(), v.text.clone(), v.salt.to_vec()))
            })
            .collect(),
        targets: e.involved().expect("involved"),
        changes: e.change_paths().expect("change paths"),
        search: e.search_text().expect("search text"),
    }
}

/// Reads `count` stored events from seq `from` of an auditkit store as raw rows.
pub fn raw_rows(store: &SqliteStore, from: u64, count: usize) -> Vec<RawEvent> {
    let mut out = Vec::with_capacity(count);
    let mut next = from;
    while out.len() < count {
        let chunk = store
            .read(next, (count - out.len()).min(BATCH))
            .expect("read");
        if chunk.is_empty() {
            break;
        }
        next = chunk.last().map(|e| e.seq + 1).unwrap_or(next);
        out.extend(chunk.iter().map(raw_event));
    }
    out
}

/// The DDL of auditkit's tables and indexes (not its guard triggers), read from an empty
/// auditkit database so the raw side can never drift from the real schema.
pub fn auditkit_schema(dir: &Path) -> Vec<String> {
    let path = dir.join("schema-probe.db");
    remove_db(&path);
    drop(SqliteStore::open(&path).expect("open probe"));
    let conn = Connection::open(&path).expect("open probe");
    let mut stmt = conn
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index') \
             AND name NOT IN ('auditkit_meta', 'auditkit_head') \
             AND substr(name, 1, 22) != 'auditkit_event_search_' ORDER BY rowid",
        )
        .expect("prepare");
    let ddl: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    drop(stmt);
    drop(conn);
    remove_db(&path);
    ddl
}

pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

pub fn open_raw(path: &Path, schema: &[String], sync: &str) -> Connection {
    remove_db(path);
    let conn = Connection::open(path).expect("open raw");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", sync).expect("sync");
    for ddl in schema {
        conn.execute_batch(ddl).expect("schema");
    }
    conn
}

fn raw_insert(tx: &Connection, e: &RawEvent) {
    tx.prepare_cached(&format!(
        "INSERT INTO auditkit_events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
    ))
    .expect("prepare")
    .execute(params_from_iter(&e.cols))
    .expect("insert event");
    let seq = &e.cols[0];
    let mut p = tx
        .prepare_cached(
            "INSERT INTO auditkit_personal_values (seq, path, value, salt) VALUES (?1, ?2, ?3, ?4)",
        )
        .expect("prepare");
    for (path, value, salt) in &e.personal {
        p.execute(params![seq, path, value, salt])
            .expect("personal");
    }
    let mut t = tx
        .prepare_cached("INSERT INTO auditkit_event_targets (kind, id, seq) VALUES (?1, ?2, ?3)")
        .expect("prepare");
    for (k, id) in &e.targets {
        t.execute(params![k, id, seq]).expect("target");
    }
    let mut c = tx
        .prepare_cached("INSERT INTO auditkit_event_changes (path, seq) VALUES (?1, ?2)")
        .expect("prepare");
    for path in &e.changes {
        c.execute(params![path, seq]).expect("change");
    }
    tx.prepare_cached("INSERT INTO auditkit_event_search (rowid, body) VALUES (?1, ?2)")
        .expect("prepare")
        .execute(params![seq, e.search])
        .expect("search");
}

/// Inserts `rows` committing every `per_commit` rows; returns the time taken.
pub fn raw_commit_every(conn: &mut Connection, rows: &[RawEvent], per_commit: usize) -> Duration {
    let t = Instant::now();
    for group in rows.chunks(per_commit) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        for e in group {
            raw_insert(&tx, e);
        }
        tx.commit().expect("commit");
    }
    t.elapsed()
}
