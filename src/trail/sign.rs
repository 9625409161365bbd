//! Signed checkpoints from the trail (feature `sign`): the signing itself is
//! [`crate::integrity::sign`]'s.

use crate::integrity::sign::{NoteSigner, NoteVerifier};
use crate::integrity::{Checkpoint, VerifyReport};
use crate::store::AuditStore;
use crate::trail::AuditTrail;
use crate::Result;

impl<S: AuditStore> AuditTrail<S> {
    /// [`AuditTrail::checkpoint`], signed by `signer` (feature `sign`).
    ///
    /// # Errors
    /// As [`AuditTrail::checkpoint`] and [`NoteSigner::sign`].
    pub fn signed_checkpoint(&self, signer: &NoteSigner) -> Result<Checkpoint> {
        signer.sign(&self.checkpoint()?)
    }

    /// Checks `checkpoint`'s signature by `verifier`, then [`AuditTrail::verify_against`] it
    /// (feature `sign`).
    ///
    /// # Errors
    /// [`Error::Checkpoint`](crate::Error::Checkpoint) when the signature is missing, by another key, or does not verify
    /// (nothing else is checked then); as [`AuditTrail::verify_against`] otherwise.
    pub fn verify_signed(
        &self,
        checkpoint: &Checkpoint,
        verifier: &NoteVerifier,
    ) -> Result<VerifyReport> {
        checkpoint.verify_signature(verifier)?;
        self.verify_against(checkpoint)
    }
}
