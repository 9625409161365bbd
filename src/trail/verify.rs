//! Verification and checkpoints of the trail's log.

use super::AuditTrail;

use crate::integrity::verify::Scope;
use crate::integrity::{self, merkle, Checkpoint, VerifyReport};
use crate::store::{AuditStore, DerivedRows, Head};
use crate::{Error, Result};

/// The action of the event [`AuditTrail::rebuild_indexes`] records.
pub const INDEX_REBUILD_ACTION: &str = "audit.indexes_rebuilt";

impl<S: AuditStore> AuditTrail<S> {
    /// Verifies the log: recomputes every hash of the chain and the Merkle tree, and, for a
    /// store that keeps derived rows ([`AuditStore::derived_rows`]: SQLite and PostgreSQL),
    /// checks every event's rows that queries answer from: the targets it involves, its
    /// change paths and its search-index entry. In bounded memory.
    ///
    /// Returns `Ok` with `report.fault` set for a tampered log: an event modified, missing,
    /// inserted or reordered, or a derived row missing, extra or altered
    /// ([`crate::FaultKind::DerivedRow`], naming the event and the row: such a row would hide
    /// the event from a booking's history or a search, or show it where it does not
    /// belong). Erased personal values are counted as redacted, never a fault. Without an
    /// outside checkpoint, cutting off the newest events together with the recorded head
    /// cannot be detected: keep checkpoints and use [`AuditTrail::verify_against`].
    ///
    /// Checking the derived rows decodes every event; [`AuditTrail::verify_chain`] checks the
    /// chain alone, several times faster (BENCHMARKS.md).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn verify(&self) -> Result<VerifyReport> {
        integrity::verify::run(
            &Log(&self.inner.store),
            self.log_id()?,
            None,
            Scope::Everything,
        )
    }

    /// [`AuditTrail::verify`] of the chain and the Merkle tree alone: every event read,
    /// re-encoded and re-hashed, and the derived rows not compared.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn verify_chain(&self) -> Result<VerifyReport> {
        integrity::verify::run(&Log(&self.inner.store), self.log_id()?, None, Scope::Chain)
    }

    /// [`AuditTrail::verify`], and also checks that the log still holds exactly what
    /// `checkpoint` stated, which catches deletion of the newest events.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the checkpoint belongs to another log; as
    /// [`AuditTrail::verify`] otherwise.
    pub fn verify_against(&self, checkpoint: &Checkpoint) -> Result<VerifyReport> {
        let log_id = self.log_id()?;
        self.check_origin(checkpoint)?;
        integrity::verify::run(
            &Log(&self.inner.store),
            log_id,
            Some(checkpoint),
            Scope::Everything,
        )
    }

    /// Verifies only what was appended after a checkpoint you trust (one a full
    /// [`AuditTrail::verify_against`] accepted, kept outside the database): that the log
    /// still extends it (the Merkle tree of its first `checkpoint.size` events has the
    /// checkpoint's root, read from O(log n) stored subtree hashes, and the event at its
    /// size has its chain head), then every later event and its derived rows, as `verify`
    /// does. A nightly check costs the day's events, not the whole log.
    ///
    /// The events up to the checkpoint and their derived rows are **not** re-checked: a row
    /// of an older event deleted since the checkpoint is found only by a full `verify`. Run
    /// one now and then. The report's `trusted_through` is the checkpoint's size.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for a checkpoint of another log, one beyond the head, or one the
    /// log no longer extends (its events up to it changed: run `verify_against` with it to
    /// see where); [`Error::Unsupported`] for a checkpoint inside the purged events; storage
    /// errors.
    pub fn verify_since(&self, checkpoint: &Checkpoint) -> Result<VerifyReport> {
        let log_id = self.log_id()?;
        self.check_origin(checkpoint)?;
        let start = self.head_at(checkpoint)?;
        integrity::verify::run_from(&Log(&self.inner.store), log_id, start, Scope::Everything)
    }

    /// Rebuilds the rows the store derived from the events and answers queries from (target
    /// rows, change paths, the search index) from the events themselves, after
    /// [`AuditTrail::verify`] reported a [`crate::FaultKind::DerivedRow`] (or to be sure),
    /// and records that it did as an [`INDEX_REBUILD_ACTION`] event by `by` (who ran it),
    /// with the number of events re-indexed in its context. The store passes its own guards
    /// in a sanctioned way for it (a mark on the transaction); events and personal values are
    /// not touched, so the chain and every proof stay as they were. Afterwards every query
    /// answers as it did before the rows were damaged.
    ///
    /// `Ok(None)` for a store that keeps no derived rows: nothing to rebuild, nothing
    /// recorded.
    ///
    /// # Errors
    /// Storage errors, with nothing changed; as [`AuditTrail::record`] for the event.
    pub fn rebuild_indexes(&self, by: crate::Actor) -> Result<Option<crate::Event>> {
        let Some(events) = self.inner.store.rebuild_derived()? else {
            return Ok(None);
        };
        self.record(
            crate::NewEvent::new(INDEX_REBUILD_ACTION)
                .actor(by)
                .source(crate::Source::System)
                .context("events", events),
        )
        .map(Some)
    }

    fn check_origin(&self, checkpoint: &Checkpoint) -> Result<()> {
        let log_id = self.log_id()?;
        if checkpoint.log_id() != Some(log_id) {
            return Err(Error::checkpoint(format!(
                "it is for log {:?}, this log is {:?}",
                checkpoint.origin,
                format!("{}{log_id}", integrity::checkpoint::ORIGIN_PREFIX)
            )));
        }
        Ok(())
    }

    /// The log's current checkpoint: size, Merkle root and chain head, as a C2SP note.
    ///
    /// Keep it somewhere the database's owner cannot rewrite; [`AuditTrail::verify_against`]
    /// then proves nothing up to it changed.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the stored head does not match the newest event; storage errors.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let log_id = self.log_id()?.to_owned();
        // `load_tip` checks the head against the newest event (or the purge anchor).
        let tip = self.load_tip()?;
        Ok(Checkpoint::new(
            &log_id,
            tip.head.seq,
            merkle::root(&tip.head.frontier),
            tip.head.hash,
        ))
    }
}

/// A store seen as the plain log verification reads.
struct Log<'a, S: ?Sized>(&'a S);

impl<S: AuditStore + ?Sized> integrity::verify::EventSource for Log<'_, S> {
    fn head(&self) -> Result<Head> {
        self.0.head()
    }
    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.0.purge_anchor()
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&crate::store::sealed::SealedEventRef<'_>),
    ) -> Result<()> {
        self.0.read_each(from, limit, visit)
    }
    fn check_storage(&self) -> Result<()> {
        self.0.check_storage()
    }
    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>> {
        self.0.derived_rows(from, to)
    }
}
