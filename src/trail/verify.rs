//! Verification and checkpoints of the trail's log.

use super::AuditTrail;
use crate::integrity::{self, merkle, Checkpoint, VerifyReport};
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
}
