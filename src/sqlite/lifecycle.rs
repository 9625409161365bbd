//! Purge and erasure for [`super::SqliteStore`]: the only paths that remove anything.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::append;
use super::open::map_err;
use super::search::{self, SQLITE};
use super::SqliteStore;
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::sql::{lifecycle, EventKey, Param, Schema};
use crate::store::sealed::SealedEvent;
use crate::store::{Head, PersonalPath};
use crate::Result;

/// The purge anchor kept in `auditkit_head`, `None` before the first purge.
pub(super) fn anchor(conn: &Connection) -> Result<Option<Head>> {
    let (seq, hash, frontier): (i64, Option<Vec<u8>>, Option<Vec<u8>>) = conn
        .prepare_cached(
            "SELECT purged_seq, purged_hash, purged_frontier FROM auditkit_head WHERE id = 1",
        )
        .map_err(map_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(map_err)?;
    lifecycle::decode_anchor(seq, hash, frontier)
}

/// Sets the anchor first, so the guard trigger lets exactly these deletes through, then
/// deletes the events and everything derived from them, in one transaction.
pub(super) fn purge(conn: &mut Connection, new: &Head) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let head_seq: i64 = tx
        .query_row("SELECT seq FROM auditkit_head WHERE id = 1", [], |r| {
            r.get(0)
        })
        .map_err(map_err)?;
    let current = anchor(&tx)?;
    if !lifecycle::check_anchor(current.as_ref(), head_seq as u64, new)? {
        // Nothing to remove: leave the file untouched.
        return Ok(());
    }
    let seq = new.seq as i64;
    tx.execute(
        "UPDATE auditkit_head SET purged_seq = ?1, purged_hash = ?2, purged_frontier = ?3 WHERE id = 1",
        rusqlite::params![seq, new.hash.as_slice(), merkle::to_bytes(&new.frontier)],
    )
    .map_err(map_err)?;
    for table in lifecycle::PURGED_TABLES {
        tx.execute(&format!("DELETE FROM {table} WHERE seq <= ?1"), [seq])
            .map_err(map_err)?;
    }
    search::remove(&tx, 0, new.seq)?;
    search::optimize(&tx)?;
    tx.commit().map_err(map_err)
}

/// Erasure's statements on an open SQLite transaction.
struct SqliteEraser<'a> {
    tx: &'a Connection,
    load_sql: String,
}

impl lifecycle::Eraser for SqliteEraser<'_> {
    fn load(&mut self, seq: u64) -> Result<Option<SealedEvent>> {
        Ok(SqliteStore::select(self.tx, &self.load_sql, &[Param::Int(seq as i64)])?.pop())
    }

    fn delete_value(&mut self, seq: u64, path: &str) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM auditkit_personal_values WHERE seq = ?1 AND path = ?2")
            .map_err(map_err)?
            .execute(rusqlite::params![seq as i64, path])
            .map_err(map_err)?;
        Ok(n > 0)
    }

    fn reindex(&mut self, seq: u64, rows: &IndexRows<'_>, gone: &[String]) -> Result<()> {
        let seq = seq as i64;
        for path in gone {
            self.tx
                .prepare_cached("DELETE FROM auditkit_event_changes WHERE path = ?1 AND seq = ?2")
                .map_err(map_err)?
                .execute(rusqlite::params![path, seq])
                .map_err(map_err)?;
        }
        search::remove(self.tx, seq as u64, seq as u64)?;
        search::index(self.tx, [(seq as u64, rows.search.as_str())])
    }
}

/// An index rebuild's statements on an open SQLite transaction.
struct SqliteRebuilder<'a> {
    tx: &'a Connection,
}

impl lifecycle::Rebuilder for SqliteRebuilder<'_> {
    fn clear(&mut self, after: u64) -> Result<()> {
        let after = after as i64;
        for table in ["auditkit_event_targets", "auditkit_event_changes"] {
            self.tx
                .execute(&format!("DELETE FROM {table} WHERE seq > ?1"), [after])
                .map_err(map_err)?;
        }
        // The search tables keep no rows of purged events: all of them go.
        search::clear(self.tx)
    }

    fn load(&mut self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        SqliteStore::select(
            self.tx,
            &codec::read_sql(&SQLITE),
            &[Param::Int(from as i64), Param::Int(limit as i64)],
        )
    }

    fn index(&mut self, events: &[(u64, IndexRows<'_>)]) -> Result<()> {
        append::insert_derived(self.tx, events)?;
        search::index(
            self.tx,
            events
                .iter()
                .map(|(seq, rows)| (*seq, rows.search.as_str())),
        )
    }
}

/// Rebuilds the derived rows of every stored event from the events, under the write lock,
/// past the guards with the head's mark (`erasing = 2`, cleared before commit); returns how
/// many events were re-indexed.
pub(super) fn rebuild(conn: &mut Connection) -> Result<u64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    tx.execute("UPDATE auditkit_head SET erasing = 2 WHERE id = 1", [])
        .map_err(map_err)?;
    let after = anchor(&tx)?.map_or(0, |a| a.seq);
    let n = lifecycle::rebuild(&mut SqliteRebuilder { tx: &tx }, &SQLITE, after)?;
    search::optimize(&tx)?;
    tx.execute("UPDATE auditkit_head SET erasing = 0 WHERE id = 1", [])
        .map_err(map_err)?;
    tx.commit().map_err(map_err)?;
    Ok(n)
}

/// Deletes the personal values and re-indexes the affected events (search text, change
/// paths) without them.
pub(super) fn erase(conn: &mut Connection, fields: &[(u64, PersonalPath)]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    // The guards let this transaction delete personal values and change paths
    // (schema::v5_derived_guards); the mark is gone again before it commits.
    tx.execute("UPDATE auditkit_head SET erasing = 1 WHERE id = 1", [])
        .map_err(map_err)?;
    let mut ops = SqliteEraser {
        tx: &tx,
        load_sql: SQLITE.select_event_by(&Schema::unqualified(), EventKey::Seq),
    };
    if lifecycle::erase(&mut ops, &SQLITE, fields)? > 0 {
        search::optimize(&tx)?;
    }
    tx.execute("UPDATE auditkit_head SET erasing = 0 WHERE id = 1", [])
        .map_err(map_err)?;
    tx.commit().map_err(map_err)
}

/// Copies the WAL back into the database and empties it, so old page images holding removed
/// data leave the WAL file too. Best effort: readers may keep it from completing, in which
/// case the next checkpoint does it.
pub(super) fn compact(conn: &Connection) {
    let _ = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .optional();
}
