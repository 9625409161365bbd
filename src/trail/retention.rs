//! Retention: purging the oldest events, optionally into an archive that verifies on its own.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::integrity::archive::{self, ArchiveReport, ArchiveWriter};
use crate::integrity::verify::Walker;
use crate::integrity::{hashes, Checkpoint, Fault, FaultKind, PurgeRecord};
use crate::model::event::Event;
use crate::model::new_event::NewEvent;
use crate::query::Query;
use crate::store::{AuditStore, Head};
use crate::trail::AuditTrail;
use crate::{model::time_util, Error, Result, Source};

pub use crate::integrity::purge::PURGE_ACTION;

/// Events read per round trip while purging.
const CHUNK: usize = 1_000;

/// What [`AuditTrail::purge_before`] did.
///
/// Serializes with its checkpoint as note text and its event as [`Event`] does; it
/// deserializes back to an equal report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PurgeReport {
    /// How many events were removed (0 when none was older than the cutoff).
    pub purged: u64,
    /// The first purged seq.
    pub from_seq: u64,
    /// The last purged seq: the new purge anchor (`from_seq - 1` when nothing was purged).
    pub through_seq: u64,
    /// The log's checkpoint at `through_seq`; also the archive's end checkpoint. Keep it with
    /// the archive: [`crate::integrity::archive::verify_archive_against`] checks one against
    /// the other.
    pub checkpoint: Checkpoint,
    /// The [`PURGE_ACTION`] event recorded for the purge; `None` when nothing was purged.
    pub event: Option<Event>,
}

impl<S: AuditStore> AuditTrail<S> {
    /// Removes every event recorded before `cutoff` (a prefix of the chain: `recorded_at`
    /// never decreases along it), keeping a purge anchor so the rest still verifies, and
    /// records the purge as an [`PURGE_ACTION`] event.
    ///
    /// The purged events are checked first: a range that fails verification is never purged,
    /// so evidence of tampering is not destroyed. Checkpoints older than the purge can no
    /// longer be checked against the log; keep the purged events with
    /// [`AuditTrail::purge_before_to`] if they may be needed.
    ///
    /// Any cutoff is accepted: one outside 1970-01-01 … 9999-12-31 UTC is clamped to that
    /// range.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the range to purge fails verification (nothing is removed);
    /// [`Error::Unsupported`] when the store cannot purge; storage errors.
    pub fn purge_before(&self, cutoff: OffsetDateTime) -> Result<PurgeReport> {
        self.purge(cutoff, None::<std::io::Sink>)
    }

    /// [`AuditTrail::purge_before`], writing the purged events first to `archive` as JSON
    /// Lines that verify on their own ([`crate::integrity::archive`]). Nothing is removed
    /// unless the whole archive was written and flushed.
    ///
    /// # Errors
    /// As [`AuditTrail::purge_before`]; [`Error::Io`] when writing the archive fails (nothing
    /// is removed).
    pub fn purge_before_to<W: Write>(
        &self,
        cutoff: OffsetDateTime,
        archive: W,
    ) -> Result<PurgeReport> {
        self.purge(cutoff, Some(archive))
    }

    fn purge<W: Write>(&self, cutoff: OffsetDateTime, archive: Option<W>) -> Result<PurgeReport> {
        // A cutoff past either end of the storable range means "nothing" or "everything".
        let cutoff = time_util::clamped(cutoff);
        let store = self.store();
        let log_id = self.log_id()?.to_owned();
        let head = store.head()?;
        let anchor = store.purge_anchor()?.filter(|a| a.seq > 0);
        let mut writer = archive
            .map(|w| ArchiveWriter::new(w, &log_id, anchor.as_ref()))
            .transpose()?;
        let mut walk = Walker::new(&log_id, anchor.as_ref(), None, head.seq)?;
        let mut last_hash = anchor
            .as_ref()
            .map_or_else(|| hashes::genesis(&log_id), |a| a.hash);
        'scan: loop {
            let chunk = store.read(walk.expected, CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            for e in &chunk {
                // The head's event stays: the purge record links to it.
                if e.recorded_at >= cutoff || e.seq >= head.seq {
                    break 'scan;
                }
                if !walk.step_event(&e.view())? {
                    let fault = walk.report.fault.as_ref().map(ToString::to_string);
                    return Err(Error::corrupt(format!(
                        "refusing to purge: {}; purging would destroy the evidence, run verify and investigate first",
                        fault.unwrap_or_default()
                    )));
                }
                if let Some(w) = writer.as_mut() {
                    w.event(e)?;
                }
                last_hash = e.hash;
            }
        }
        let (through, root, chain_head) = walk.state();
        debug_assert_eq!(chain_head, last_hash);
        let checkpoint = Checkpoint::new(&log_id, through, root, chain_head);
        let from = anchor.as_ref().map_or(0, |a| a.seq) + 1;
        let archived = writer.is_some();
        if let Some(w) = writer {
            w.finish(&checkpoint)?;
        }
        if through < from {
            return Ok(PurgeReport {
                purged: 0,
                from_seq: from,
                through_seq: through,
                checkpoint,
                event: None,
            });
        }
        // Fails before anything is recorded when the store cannot purge at all.
        let unchanged = anchor
            .clone()
            .unwrap_or_else(|| Head::new(0, hashes::genesis(&log_id), Vec::new()));
        store.purge(&unchanged)?;
        // Recorded before the delete: a crash in between leaves a record of a purge that did
        // not happen (harmless), never a purge without a record (which verify reports).
        let record = PurgeRecord::new(from, through, cutoff, archived, root, chain_head);
        let event = self.record(record.to_context()?.into_iter().fold(
            NewEvent::new(PURGE_ACTION).source(Source::System),
            |e, (k, v)| e.context(k, v),
        ))?;
        store.purge(&Head::new(through, chain_head, walk.frontier().to_vec()))?;
        Ok(PurgeReport {
            purged: through - from + 1,
            from_seq: from,
            through_seq: through,
            checkpoint,
            event: Some(event),
        })
    }

    /// Verifies an archive written by [`AuditTrail::purge_before_to`] and checks that it is
    /// this log's own history: its checkpoint must match the one the log's [`PURGE_ACTION`]
    /// record states for the same range.
    ///
    /// # Errors
    /// As [`crate::integrity::archive::verify_archive`]; [`Error::Checkpoint`] when the archive
    /// is of another log or no purge record of this log covers it.
    pub fn verify_archive(&self, reader: impl BufRead) -> Result<ArchiveReport> {
        let mut found = archive::verify_archive(reader)?;
        let log_id = self.log_id()?;
        if found.log_id != log_id {
            return Err(Error::checkpoint(format!(
                "the archive is of log {:?}, this log is {log_id:?}",
                found.log_id
            )));
        }
        if !found.is_ok() {
            return Ok(found);
        }
        let through = found.through_seq;
        let mut stated = None;
        self.for_each(&Query::new().action(PURGE_ACTION), |e| {
            match PurgeRecord::from_context(&e.context) {
                Ok(r) if r.through_seq == through => stated = Some(r),
                _ => {}
            }
            Ok(())
        })?;
        let Some(stated) = stated else {
            return Err(Error::checkpoint(format!(
                "no {PURGE_ACTION} event of this log covers events through seq {through}; check the archive against a checkpoint kept elsewhere with integrity::archive::verify_archive_against"
            )));
        };
        let cp = &found.checkpoint;
        if stated.root != cp.root || stated.chain_head != cp.chain_head {
            found.report.fault = Some(Fault {
                seq: through.max(1),
                kind: FaultKind::CheckpointMismatch,
                detail: format!(
                    "the archive's events do not match what the log's {PURGE_ACTION} record states"
                ),
            });
        }
        Ok(found)
    }
}
