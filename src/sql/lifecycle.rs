//! Purge and erasure as both SQL backends do them: the checks, the order of steps and what
//! gets re-derived are written here once; each backend supplies only its statements.

use std::collections::HashMap;

use super::index_rows::IndexRows;
use super::Dialect;
use crate::integrity::merkle;
use crate::store::sealed::SealedEvent;
use crate::store::{check_purge, Head, PersonalPath};
use crate::{Error, Result};

/// The tables whose rows belong to one event through a `seq` column, events first: what a
/// purge deletes up to the anchor.
pub(crate) const PURGED_TABLES: [&str; 4] = [
    "auditkit_events",
    "auditkit_personal_values",
    "auditkit_event_targets",
    "auditkit_event_changes",
];

/// The purge anchor from the head row's `purged_seq`, `purged_hash` and `purged_frontier`;
/// `None` before the first purge.
pub(crate) fn decode_anchor(
    seq: i64,
    hash: Option<Vec<u8>>,
    frontier: Option<Vec<u8>>,
) -> Result<Option<Head>> {
    if seq <= 0 {
        return Ok(None);
    }
    let hash: [u8; 32] = hash
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| Error::corrupt("the purge anchor's hash is missing or damaged"))?;
    let frontier = frontier
        .as_deref()
        .and_then(merkle::from_bytes)
        .filter(|f| merkle::fits(f, seq as u64))
        .ok_or_else(|| Error::corrupt("the purge anchor's Merkle frontier is damaged"))?;
    Ok(Some(Head::new(seq as u64, hash, frontier)))
}

/// Checks `new` against the current anchor and the head's seq; `Ok(false)` when it is the
/// current anchor again, so there is nothing to remove (the trail probes support this way)
/// and the store is left untouched.
pub(crate) fn check_anchor(current: Option<&Head>, head_seq: u64, new: &Head) -> Result<bool> {
    let head = Head::new(head_seq, [0; 32], Vec::new());
    check_purge(current, &head, new)?;
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
    Ok(current.map_or(0, |a| a.seq) != new.seq)
}

/// The statements erasure needs from a backend, all inside one open transaction.
pub(crate) trait Eraser {
    /// The stored event at `seq` with the personal values still present, if it is stored.
    fn load(&mut self, seq: u64) -> Result<Option<SealedEvent>>;
    /// Deletes one personal value; whether there was one.
    fn delete_value(&mut self, seq: u64, path: &str) -> Result<bool>;
    /// Brings the index rows of event `seq` up to date with `rows` (derived from the event as
    /// it reads now, without the erased values): drops its change paths `gone` and replaces
    /// its search words with `rows.search`.
    fn reindex(&mut self, seq: u64, rows: &IndexRows<'_>, gone: &[String]) -> Result<()>;
}

/// Deletes the personal values `fields` names and re-indexes the events that lost one, with
/// search words in `dialect`'s form; returns how many events were re-indexed.
pub(crate) fn erase(
    ops: &mut impl Eraser,
    dialect: &Dialect,
    fields: &[(u64, PersonalPath)],
) -> Result<usize> {
    let mut seqs: Vec<u64> = fields.iter().map(|(s, _)| *s).collect();
    seqs.sort_unstable();
    seqs.dedup();
    // Change paths before erasure, to remove exactly those that go away (by primary key).
    let mut old_paths = HashMap::new();
    for &seq in &seqs {
        if let Some(e) = ops.load(seq)? {
            old_paths.insert(seq, IndexRows::of(&e, dialect)?.change_paths);
        }
    }
    let mut touched = Vec::new();
    for (seq, path) in fields {
        if ops.delete_value(*seq, &path.text())? {
            touched.push(*seq);
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let mut reindexed = 0;
    for &seq in &touched {
        let Some(event) = ops.load(seq)? else {
            continue;
        };
        // Change paths and search words are derived from the decoded event, which no longer
        // holds the erased values: re-derive them so SQL filters agree with `Query::matches`
        // and erased words are no longer found.
        let now = IndexRows::of(&event, dialect)?;
        let gone: Vec<String> = old_paths
            .remove(&seq)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !now.change_paths.contains(p))
            .collect();
        ops.reindex(seq, &now, &gone)?;
        reindexed += 1;
    }
    Ok(reindexed)
}

/// The statements an index rebuild needs from a backend, all inside one open transaction
/// that holds the append lock and carries the mark that lets it past the guards.
pub(crate) trait Rebuilder {
    /// Deletes the target rows, change paths and search entries of every event after
    /// `after` (the purge anchor's seq).
    fn clear(&mut self, after: u64) -> Result<()>;
    /// Up to `limit` stored events from seq `from` on, in seq order, personal values present.
    fn load(&mut self, from: u64, limit: usize) -> Result<Vec<SealedEvent>>;
    /// Writes the index rows of `events` (each with what [`IndexRows::of`] gives for it).
    fn index(&mut self, events: &[(u64, IndexRows<'_>)]) -> Result<()>;
}

/// Events re-indexed per round of [`rebuild`].
const REBUILD_CHUNK: usize = 1_000;

/// Rebuilds every derived row of the events after `after` from the events themselves, with
/// search words in `dialect`'s form; returns how many events were re-indexed.
pub(crate) fn rebuild(ops: &mut impl Rebuilder, dialect: &Dialect, after: u64) -> Result<u64> {
    ops.clear(after)?;
    let mut from = after + 1;
    let mut n = 0;
    loop {
        let events = ops.load(from, REBUILD_CHUNK)?;
        let Some(last) = events.last() else {
            return Ok(n);
        };
        from = last.seq + 1;
        let rows = events
            .iter()
            .map(|e| Ok((e.seq, IndexRows::of(e, dialect)?)))
            .collect::<Result<Vec<_>>>()?;
        ops.index(&rows)?;
        n += rows.len() as u64;
    }
}
