//! The append path: one `BEGIN IMMEDIATE` transaction for the events, their index rows, the head.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, ToSql, TransactionBehavior};

use super::open::map_err;
use super::search::SQLITE;
use super::SqliteStore;
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, Head};
use crate::{Error, Result};

impl ToSql for codec::ColumnValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            codec::ColumnValue::Null => ValueRef::Null,
            codec::ColumnValue::Int(i) => ValueRef::Integer(*i),
            codec::ColumnValue::Text(s) => ValueRef::Text(s.as_bytes()),
            codec::ColumnValue::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// `INSERT OR ROLLBACK INTO events (...) VALUES (?1, ...)`, built once. OR ROLLBACK (see
/// `schema::v2_rollback_guards`) spares each event a statement journal: a failed append is
/// rolled back whole anyway.
fn insert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let placeholders: Vec<String> = (1..=codec::COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect();
        format!(
            "INSERT OR ROLLBACK INTO events ({}) VALUES ({})",
            codec::COLUMNS.join(", "),
            placeholders.join(", ")
        )
    })
}

/// Inserts `e` and its index rows, except its full-text entry: that is returned, for
/// [`insert_search`] to add after the whole batch.
fn insert_event(tx: &rusqlite::Transaction<'_>, e: &SealedEvent) -> Result<String> {
    tx.prepare_cached(insert_sql())
        .map_err(map_err)?
        .execute(params_from_iter(codec::encode_ref(e)))
        .map_err(map_err)?;
    let seq = e.seq as i64;
    let rows = IndexRows::of(e, &SQLITE)?;
    let mut personal = tx
        .prepare_cached(
            "INSERT INTO personal_values (seq, path, value, salt) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(map_err)?;
    for p in &rows.personal {
        personal
            .execute(rusqlite::params![
                seq,
                p.path.as_ref(),
                p.value,
                p.salt.as_slice()
            ])
            .map_err(map_err)?;
    }
    let mut targets = tx
        .prepare_cached("INSERT OR IGNORE INTO event_targets (kind, id, seq) VALUES (?1, ?2, ?3)")
        .map_err(map_err)?;
    for (kind, id) in &rows.involved {
        targets
            .execute(rusqlite::params![kind, id, seq])
            .map_err(map_err)?;
    }
    let mut changes = tx
        .prepare_cached("INSERT OR IGNORE INTO event_changes (path, seq) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for path in &rows.change_paths {
        changes
            .execute(rusqlite::params![path, seq])
            .map_err(map_err)?;
    }
    Ok(rows.search)
}

/// Adds the batch's full-text entries. They go in after every event row on purpose: FTS5
/// flushes its pending terms to a new on-disk segment at every savepoint once it has been
/// written in the transaction, and any statement with a statement journal opens one (the
/// event INSERTs had one until schema version 3; lifecycle statements still do); FTS rows
/// between events made every event a segment (and later merges), about half the cost of a
/// batch.
fn insert_search(
    tx: &rusqlite::Transaction<'_>,
    batch: &[SealedEvent],
    texts: &[String],
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("INSERT INTO event_search (rowid, body) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for (e, text) in batch.iter().zip(texts) {
        stmt.execute(rusqlite::params![e.seq as i64, text])
            .map_err(map_err)?;
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

pub(super) fn append(
    store: &SqliteStore,
    expected: u64,
    batch: &[SealedEvent],
    new_head: &Head,
) -> Result<()> {
    check_batch(expected, batch, new_head)?;
    if store.options.read_only {
        return Err(Error::storage(
            "the database was opened read-only (SqliteOptions::read_only); open it with write access to record events",
        ));
    }
    let mut conn = store.writer();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let actual: i64 = tx
        .prepare_cached("SELECT seq FROM auditkit_head WHERE id = 1")
        .map_err(map_err)?
        .query_row([], |r| r.get(0))
        .map_err(map_err)?;
    let conflict = || Error::Conflict {
        expected,
        actual: actual as u64,
    };
    if actual as u64 != expected {
        return Err(conflict());
    }
    let mut texts = Vec::with_capacity(batch.len());
    for e in batch {
        match insert_event(&tx, e) {
            Ok(text) => texts.push(text),
            Err(err) => {
                return Err(match err {
                    Error::Storage { .. } => {
                        // Re-run the insert's first statement only to classify the failure.
                        let dup = tx
                            .query_row(
                                "SELECT 1 FROM events WHERE id = ?1 OR idempotency_key = ?2",
                                rusqlite::params![e.id.as_bytes().as_slice(), e.idempotency_key],
                                |_| Ok(()),
                            )
                            .is_ok();
                        if dup {
                            conflict()
                        } else {
                            err
                        }
                    }
                    other => other,
                });
            }
        }
    }
    insert_search(&tx, batch, &texts)?;
    tx.prepare_cached(
        // OR ROLLBACK, as for events: no statement journal for the head.
        "UPDATE OR ROLLBACK auditkit_head SET seq = ?1, hash = ?2, frontier = ?3 WHERE id = 1",
    )
    .map_err(map_err)?
    .execute(rusqlite::params![
        new_head.seq as i64,
        new_head.hash.as_slice(),
        merkle::to_bytes(&new_head.frontier)
    ])
    .map_err(|e| {
        if is_unique_violation(&e) {
            conflict()
        } else {
            map_err(e)
        }
    })?;
    tx.commit().map_err(map_err)
}
