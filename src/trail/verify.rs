//! Verification and checkpoints of the trail's log.

use super::AuditTrail;
use std::collections::BTreeSet;

use crate::integrity::{self, merkle, Checkpoint, FaultKind, VerifyReport};
use crate::store::{AuditStore, Head};
use crate::{Error, Result};

impl<S: AuditStore> AuditTrail<S> {
    /// Recomputes every hash of the chain, in bounded memory.
    ///
    /// Returns `Ok` with `report.fault` set for a tampered log; `Err` only when the store
    /// cannot be read. Without an outside checkpoint, cutting off the newest events together
    /// with the recorded head cannot be detected: keep checkpoints and use
    /// [`AuditTrail::verify_against`].
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn verify(&self) -> Result<VerifyReport> {
        integrity::verify::run(&Log(&self.inner.store), self.log_id()?, None)
    }

    /// [`AuditTrail::verify`], then the derived rows the store answers queries from, for a
    /// store that keeps them ([`AuditStore::derived_rows`]): each verified event's involved
    /// targets and change paths are recomputed and compared with the stored rows, and the
    /// first missing, extra or altered row is a [`FaultKind::DerivedRow`] fault naming the
    /// event and the row. Such a row would hide an event from a booking's history (or show it
    /// where it does not belong) while the chain itself is intact.
    ///
    /// It reads and decodes every event a second time, so it costs several times what
    /// `verify` does (`benches/limits`, row `verify_indexes`; BENCHMARKS.md). The search index
    /// and personal-value rows are not part of it yet.
    ///
    /// # Errors
    /// As [`AuditTrail::verify`].
    pub fn verify_indexes(&self) -> Result<VerifyReport> {
        let report = self.verify()?;
        self.check_derived(report)
    }

    /// [`AuditTrail::verify`], and also checks that the log still holds exactly what
    /// `checkpoint` stated, which catches deletion of the newest events.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the checkpoint belongs to another log; as
    /// [`AuditTrail::verify`] otherwise.
    pub fn verify_against(&self, checkpoint: &Checkpoint) -> Result<VerifyReport> {
        let log_id = self.log_id()?;
        let origin = format!("{}{log_id}", integrity::checkpoint::ORIGIN_PREFIX);
        if checkpoint.origin != origin {
            return Err(Error::checkpoint(format!(
                "it is for log {:?}, this log is {origin:?}",
                checkpoint.origin
            )));
        }
        integrity::verify::run(&Log(&self.inner.store), log_id, Some(checkpoint))
    }

    /// [`AuditTrail::verify_indexes`] once the events verified: the first difference, in seq
    /// order, between the stored derived rows and what each event gives.
    fn check_derived(&self, mut report: VerifyReport) -> Result<VerifyReport> {
        if report.fault.is_some() || report.verified_through == 0 {
            return Ok(report);
        }
        let store = &self.inner.store;
        let mut from = report.purged_through + 1;
        while from <= report.verified_through {
            let events = store.read(from, DERIVED_CHUNK)?;
            let Some(last) = events.last().map(|e| e.seq.min(report.verified_through)) else {
                break;
            };
            let Some(stored) = store.derived_rows(from, last)? else {
                return Ok(report);
            };
            let mut want_targets = BTreeSet::new();
            let mut want_paths = BTreeSet::new();
            for e in events.iter().filter(|e| e.seq <= last) {
                for (kind, id) in e.involved()? {
                    want_targets.insert((e.seq, kind, id));
                }
                for path in e.change_paths()? {
                    want_paths.insert((e.seq, path));
                }
            }
            let have_targets: BTreeSet<_> = stored.involved.into_iter().collect();
            let have_paths: BTreeSet<_> = stored.change_paths.into_iter().collect();
            let mut found: Vec<(u64, String)> = Vec::new();
            for (seq, kind, id) in want_targets.difference(&have_targets) {
                found.push((
                    *seq,
                    format!("the targets index lacks {kind} {id}, which it involves"),
                ));
            }
            for (seq, kind, id) in have_targets.difference(&want_targets) {
                found.push((
                    *seq,
                    format!("the targets index holds {kind} {id}, which it does not involve"),
                ));
            }
            for (seq, path) in want_paths.difference(&have_paths) {
                found.push((
                    *seq,
                    format!("the change-path index lacks {path:?}, which it changes"),
                ));
            }
            for (seq, path) in have_paths.difference(&want_paths) {
                found.push((
                    *seq,
                    format!("the change-path index holds {path:?}, which it does not change"),
                ));
            }
            if let Some((seq, detail)) = found.into_iter().min() {
                report.fault = integrity::verify::fault(seq, FaultKind::DerivedRow, detail);
                report.verified_through = seq - 1;
                return Ok(report);
            }
            from = last + 1;
        }
        Ok(report)
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

/// Events checked per round of [`AuditTrail::check_derived`].
const DERIVED_CHUNK: usize = 1_000;

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
}
