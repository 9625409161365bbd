//! Purge and erasure for [`super::SqliteStore`]: the only paths that remove anything.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{map_err, SqliteStore};
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::Param;
use crate::store::{check_purge, Head};
use crate::{Error, Result};

/// The purge anchor kept in `auditkit_head`, `None` before the first purge.
pub(super) fn anchor(conn: &Connection) -> Result<Option<Head>> {
    let (seq, hash, frontier): (i64, Option<Vec<u8>>, Option<Vec<u8>>) = conn
        .prepare_cached(
            "SELECT purged_seq, purged_hash, purged_frontier FROM auditkit_head WHERE id = 1",
        )
        .map_err(map_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(map_err)?;
    if seq <= 0 {
        return Ok(None);
    }
    let hash: [u8; 32] = hash
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| Error::Corrupt("the purge anchor's hash is missing or damaged".into()))?;
    let frontier = frontier
        .as_deref()
        .and_then(merkle::from_bytes)
        .filter(|f| merkle::fits(f, seq as u64))
        .ok_or_else(|| Error::Corrupt("the purge anchor's Merkle frontier is damaged".into()))?;
    Ok(Some(Head::new(seq as u64, hash, frontier)))
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
    let head = Head::new(head_seq as u64, [0; 32], Vec::new());
    check_purge(current.as_ref(), &head, new)?;
    if !merkle::fits(&new.frontier, new.seq) {
        return Err(Error::invalid(
            "anchor.frontier",
            format!(
                "has {} hashes, a tree of {} leaves has {}",
                new.frontier.len(),
                new.seq,
                new.seq.count_ones()
            ),
        ));
    }
    if current.as_ref().map_or(0, |a| a.seq) == new.seq {
        // Nothing to remove (the trail probes support this way): leave the file untouched.
        return Ok(());
    }
    let seq = new.seq as i64;
    tx.execute(
        "UPDATE auditkit_head SET purged_seq = ?1, purged_hash = ?2, purged_frontier = ?3 WHERE id = 1",
        rusqlite::params![seq, new.hash.as_slice(), merkle::to_bytes(&new.frontier)],
    )
    .map_err(map_err)?;
    for sql in [
        "DELETE FROM events WHERE seq <= ?1",
        "DELETE FROM personal_values WHERE seq <= ?1",
        "DELETE FROM event_targets WHERE seq <= ?1",
        "DELETE FROM event_changes WHERE seq <= ?1",
        "DELETE FROM event_search WHERE rowid <= ?1",
    ] {
        tx.execute(sql, [seq]).map_err(map_err)?;
    }
    optimize_search(&tx)?;
    tx.commit().map_err(map_err)
}

/// Deletes the personal values and re-indexes the affected events (search text, change
/// paths) without them.
pub(super) fn erase(conn: &mut Connection, fields: &[(u64, String)]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let sql = format!(
        "SELECT {} FROM events e WHERE e.seq = ?1",
        codec::select_list()
    );
    let load = |seq: u64| -> Result<Option<crate::sealed::SealedEvent>> {
        Ok(SqliteStore::select(&tx, &sql, &[Param::Int(seq as i64)])?.pop())
    };
    let mut seqs: Vec<u64> = fields.iter().map(|(s, _)| *s).collect();
    seqs.sort_unstable();
    seqs.dedup();
    // Change paths before erasure, to remove exactly those that go away (by primary key).
    let mut old_paths = std::collections::HashMap::new();
    for &seq in &seqs {
        if let Some(e) = load(seq)? {
            old_paths.insert(seq, e.change_paths()?);
        }
    }
    let mut touched = Vec::new();
    {
        let mut delete = tx
            .prepare_cached("DELETE FROM personal_values WHERE seq = ?1 AND path = ?2")
            .map_err(map_err)?;
        for (seq, path) in fields {
            let n = delete
                .execute(rusqlite::params![*seq as i64, path])
                .map_err(map_err)?;
            if n > 0 {
                touched.push(*seq);
            }
        }
    }
    touched.sort_unstable();
    touched.dedup();
    for &seq in &touched {
        let Some(event) = load(seq)? else {
            continue;
        };
        // Change paths and search text are derived from the decoded event, which no longer
        // holds the erased values: re-derive them so SQL filters agree with `Query::matches`
        // and erased words are no longer found.
        let now = event.change_paths()?;
        for path in old_paths.get(&seq).into_iter().flatten() {
            if !now.contains(path) {
                tx.prepare_cached("DELETE FROM event_changes WHERE path = ?1 AND seq = ?2")
                    .map_err(map_err)?
                    .execute(rusqlite::params![path, seq as i64])
                    .map_err(map_err)?;
            }
        }
        let body = super::search_body(&event)?;
        tx.prepare_cached("DELETE FROM event_search WHERE rowid = ?1")
            .map_err(map_err)?
            .execute([seq as i64])
            .map_err(map_err)?;
        tx.prepare_cached("INSERT INTO event_search (rowid, body) VALUES (?1, ?2)")
            .map_err(map_err)?
            .execute(rusqlite::params![seq as i64, body])
            .map_err(map_err)?;
    }
    if !touched.is_empty() {
        optimize_search(&tx)?;
    }
    tx.commit().map_err(map_err)
}

/// A contentless FTS5 table only marks deleted rows; merging its segments drops their
/// tokens (erased names among them) from the file for good.
fn optimize_search(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT INTO event_search (event_search) VALUES ('optimize')",
        [],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Copies the WAL back into the database and empties it, so old page images holding removed
/// data leave the WAL file too. Best effort: readers may keep it from completing, in which
/// case the next checkpoint does it.
pub(super) fn compact(conn: &Connection) {
    let _ = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .optional();
}
