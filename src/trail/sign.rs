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

    /// [`AuditTrail::bundle`] against a checkpoint signed now by `signer` (feature `sign`):
    /// the evidence bundle to hand to a customer or an auditor, who checks it with
    /// [`crate::integrity::bundle::verify_signed_bundle`] and the key you published.
    ///
    /// # Errors
    /// As [`AuditTrail::signed_checkpoint`] and [`AuditTrail::bundle`].
    pub fn signed_bundle(
        &self,
        target: &crate::Target,
        tenant: Option<&str>,
        signer: &NoteSigner,
    ) -> Result<crate::integrity::bundle::EvidenceBundle> {
        self.bundle(target, tenant, &self.signed_checkpoint(signer)?)
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
