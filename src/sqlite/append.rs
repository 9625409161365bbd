//! The append path: one `BEGIN IMMEDIATE` transaction for the events, their index rows, the head.

use rusqlite::types::{ToSqlOutput, ValueRef};
use std::sync::MutexGuard;

use rusqlite::{params_from_iter, Connection, ToSql};

use super::open::map_err;
use super::search::SQLITE;
use super::{lifecycle, read, SqliteStore};
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, Append, Head};
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
fn insert_event(tx: &Connection, e: &SealedEvent) -> Result<String> {
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
fn insert_search(tx: &Connection, batch: &[SealedEvent], texts: &[String]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("INSERT INTO event_search (rowid, body) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for (e, text) in batch.iter().zip(texts) {
        stmt.execute(rusqlite::params![e.seq as i64, text])
            .map_err(map_err)?;
    }
    Ok(())
}

/// An append on the writer connection: `BEGIN IMMEDIATE` takes SQLite's write lock (waiting
/// up to the busy timeout for another process's), which it holds until `commit` or drop.
pub(super) struct SqliteAppend<'a> {
    conn: MutexGuard<'a, Connection>,
    head: Head,
    /// The transaction is open: dropping rolls it back.
    open: bool,
}

/// Begins an append under the write lock; the head is read inside the transaction.
pub(super) fn begin(store: &SqliteStore) -> Result<SqliteAppend<'_>> {
    if store.options.read_only {
        return Err(Error::storage(
            "the database was opened read-only (SqliteOptions::read_only); open it with write access to record events",
        ));
    }
    let conn = store.writer();
    conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
    let mut append = SqliteAppend {
        conn,
        head: Head::default(),
        open: true,
    };
    append.head = read::head_on(&append.conn)?;
    Ok(append)
}

impl Append for SqliteAppend<'_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        read::at_seq_on(&self.conn, self.head.seq)
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        lifecycle::anchor(&self.conn)
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        read::key_on(&self.conn, key)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        check_batch(self.head.seq, batch, new_head)?;
        let conn = &*self.conn;
        let mut texts = Vec::with_capacity(batch.len());
        for e in batch {
            match insert_event(conn, e) {
                Ok(text) => texts.push(text),
                Err(err @ Error::Storage { .. }) => {
                    // Re-run the insert's first statement only to classify the failure.
                    let dup = conn
                        .query_row(
                            "SELECT 1 FROM events WHERE id = ?1 OR idempotency_key = ?2",
                            rusqlite::params![e.id.as_bytes().as_slice(), e.idempotency_key],
                            |_| Ok(()),
                        )
                        .is_ok();
                    return Err(if dup {
                        Error::Conflict {
                            expected: self.head.seq,
                            actual: self.head.seq,
                        }
                    } else {
                        err
                    });
                }
                Err(other) => return Err(other),
            }
        }
        insert_search(conn, batch, &texts)?;
        conn.prepare_cached(
            // OR ROLLBACK, as for events: no statement journal for the head.
            "UPDATE OR ROLLBACK auditkit_head SET seq = ?1, hash = ?2, frontier = ?3 WHERE id = 1",
        )
        .map_err(map_err)?
        .execute(rusqlite::params![
            new_head.seq as i64,
            new_head.hash.as_slice(),
            merkle::to_bytes(&new_head.frontier)
        ])
        .map_err(map_err)?;
        self.head = new_head.clone();
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT").map_err(map_err)
    }
}

impl Drop for SqliteAppend<'_> {
    fn drop(&mut self) {
        // A refused statement may already have rolled the transaction back (the guards raise
        // ROLLBACK); then this finds none to roll back, which is fine.
        if self.open || !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
