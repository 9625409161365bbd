//! Evidence bundles from the store: one target's events, found by following their links
//! back from the newest, each proved against a checkpoint. The bundle's format and its
//! verification are [`crate::integrity::bundle`]'s.

use crate::integrity::bundle::{BundleTarget, BundledEvent, EvidenceBundle};
use crate::integrity::Checkpoint;
use crate::model::event::Target;
use crate::store::{AuditStore, SealedEvent, TargetKey};
use crate::trail::AuditTrail;
use crate::{Error, Result};

impl<S: AuditStore> AuditTrail<S> {
    /// An evidence bundle of every event of tenant `tenant` (`None`: events without one)
    /// that involves `target` (as its target or a related target), up to `checkpoint`: the
    /// events as stored, an inclusion proof of each, and the checkpoint (pass a signed one,
    /// [`AuditTrail::signed_checkpoint`], to hand to outsiders). Write it with
    /// [`EvidenceBundle::to_json`]; anyone checks it with
    /// [`crate::integrity::bundle::verify_bundle`], which needs no database.
    ///
    /// The events are found from the newest one involving the target by following each
    /// event's link to the previous one ([`crate::SealedEvent::links`]), not by a query, so
    /// a damaged target index cannot make the bundle skip one. It starts at the target's
    /// first event, or at the first one after a purge or sealed with links (events of
    /// auditkit before 0.x carry none).
    ///
    /// # Errors
    /// [`Error::Invalid`] (`target`) when no such event is in the checkpoint; as
    /// [`AuditTrail::prove`].
    pub fn bundle(
        &self,
        target: &Target,
        tenant: Option<&str>,
        checkpoint: &Checkpoint,
    ) -> Result<EvidenceBundle> {
        let store = &self.inner.store;
        let key = TargetKey {
            tenant,
            kind: &target.kind,
            id: &target.id,
        };
        let purged = store.purge_anchor()?.map_or(0, |a| a.seq);
        let mut seq = store
            .newest_involving(std::slice::from_ref(&key))?
            .first()
            .copied()
            .unwrap_or(0);
        let mut events: Vec<SealedEvent> = Vec::new();
        while seq > purged {
            let e = store
                .read(seq, 1)?
                .into_iter()
                .find(|e| e.seq == seq)
                .ok_or_else(|| Error::corrupt(format!("event {seq} cannot be read; run verify")))?;
            if e.encoding < 2 {
                break;
            }
            let at = e
                .involved()?
                .iter()
                .position(|(k, i)| *k == target.kind && *i == target.id);
            let link = match (at, e.tenant.as_deref() == tenant) {
                (Some(at), true) => e.links.get(at).copied(),
                _ => None,
            };
            let Some(link) = link.filter(|&l| l < seq) else {
                return Err(Error::corrupt(format!(
                    "event {seq}, found as an event about {}:{}, does not link to an earlier one; run verify",
                    target.kind, target.id
                )));
            };
            // Events after the checkpoint are not in its tree: skipped, as is their place.
            if seq <= checkpoint.size {
                events.push(e);
            }
            seq = link;
        }
        if events.is_empty() {
            return Err(Error::invalid(
                "target",
                format!(
                    "no event of {} involves {}:{} up to seq {} (the checkpoint's size)",
                    tenant.map_or("no tenant".to_owned(), |t| format!("tenant {t}")),
                    target.kind,
                    target.id,
                    checkpoint.size
                ),
            ));
        }
        events.reverse();
        let mut tree = self.stored_tree(checkpoint)?;
        let events = events
            .into_iter()
            .map(|event| {
                let proof = super::prove::prove_in(&mut tree, event.seq, checkpoint)?;
                Ok(BundledEvent {
                    event,
                    proof: proof.hashes,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EvidenceBundle::new(
            BundleTarget {
                tenant: tenant.map(str::to_owned),
                kind: target.kind.clone(),
                id: target.id.clone(),
            },
            checkpoint.clone(),
            events,
        ))
    }
}
