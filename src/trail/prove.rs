//! Proofs from the store: inclusion of one event in a checkpoint, and consistency between two
//! checkpoints, made from the subtree hashes events carry ([`SealedEvent::nodes`]). The
//! proofs themselves, their text forms and their verification are
//! [`crate::integrity::proof`]'s.

use std::collections::HashMap;

use crate::integrity::proof::{
    consistency_path, inclusion_path, ConsistencyProof, InclusionProof, Subtrees,
};
use crate::integrity::{chain, hashes, merkle, Checkpoint, Hash};
use crate::store::sealed::{SealedEvent, NODE_LEVEL};
use crate::store::{AuditStore, Head};
use crate::trail::AuditTrail;
use crate::{Error, Result};

impl<S: AuditStore> AuditTrail<S> {
    /// An inclusion proof that the event at `seq` is in `checkpoint`'s tree (a checkpoint of
    /// this log at or after the event), in the C2SP `tlog-proof` text form when displayed.
    ///
    /// The event at `seq` is leaf index `seq − 1`. Anyone holding the event (its leaf hash,
    /// [`crate::integrity::verify::seal_hashes`]) and the proof can check it with
    /// [`InclusionProof::verify`], without the store; at 1M events its hash lines are 20
    /// base64 lines, under 1 KB. Making it reads O(log n) stored subtree hashes and at most
    /// a few blocks of 16 events whose leaves it hashes; it never re-hashes the log. Events
    /// sealed before subtree hashes were stored (auditkit 0.x logs, encoding 1) have their
    /// subtrees recomputed from their events, which costs more for old ones.
    ///
    /// The proof is checked against the checkpoint before it is returned.
    ///
    /// # Errors
    /// - [`Error::Invalid`] (`seq`) when `seq` is 0 or beyond the checkpoint.
    /// - [`Error::Checkpoint`] for a checkpoint of another log, one beyond the head, or one
    ///   the stored hashes do not lead to (the log differs from what it states: run
    ///   [`AuditTrail::verify_against`]).
    /// - [`Error::Unsupported`] when the event was purged.
    pub fn prove(&self, seq: u64, checkpoint: &Checkpoint) -> Result<InclusionProof> {
        let mut tree = self.stored_tree(checkpoint)?;
        prove_in(&mut tree, seq, checkpoint)
    }

    /// A consistency proof that checkpoint `new` of this log extends checkpoint `old` (every
    /// event of `old` is in `new`, unchanged and in place), checked with
    /// [`ConsistencyProof::verify`] against the two checkpoints, without the store. At 1M
    /// events its hashes are under 2 KB; making it reads O(log n) stored hashes.
    ///
    /// # Errors
    /// - [`Error::Checkpoint`] for checkpoints of another log, in the wrong order, beyond the
    ///   head, or that the stored hashes do not lead to.
    /// - [`Error::Unsupported`] when `old` lies inside the purged events (its subtrees are
    ///   gone with them).
    pub fn prove_consistency(
        &self,
        old: &Checkpoint,
        new: &Checkpoint,
    ) -> Result<ConsistencyProof> {
        let mut tree = self.stored_tree(new)?;
        if old.origin != new.origin {
            return Err(Error::checkpoint(format!(
                "the checkpoints are of two logs ({} and {})",
                old.origin, new.origin
            )));
        }
        if old.size > new.size {
            return Err(Error::checkpoint(format!(
                "the old checkpoint (size {}) is newer than the new one (size {})",
                old.size, new.size
            )));
        }
        let path = consistency_path(&mut tree, old.size, new.size)?;
        let proof = ConsistencyProof::new(old.size, new.size, path);
        proof.verify(old, new).map_err(|e| mismatch(new, e))?;
        Ok(proof)
    }

    /// The head the log had at `checkpoint`'s size, from stored subtree hashes and the event
    /// at that size, once it is known to match the checkpoint: where
    /// [`AuditTrail::verify_since`] starts.
    pub(super) fn head_at(&self, checkpoint: &Checkpoint) -> Result<Head> {
        let mut tree = self.stored_tree(checkpoint)?;
        let size = checkpoint.size;
        let log_id = tree.log_id;
        if size == 0 {
            return Ok(Head::new(0, hashes::genesis(log_id), Vec::new()));
        }
        let mut frontier = Vec::new();
        let mut start = 0u64;
        for bit in (0..64u8).rev().filter(|b| size >> b & 1 == 1) {
            frontier.push(tree.subtree(bit, start >> bit)?);
            start += 1 << bit;
        }
        let hash = if size == tree.purged.seq {
            tree.purged.hash
        } else {
            let e = tree.event(size)?;
            if chain::seal_hashes(log_id, &e).1 != e.hash {
                return Err(mismatch(
                    checkpoint,
                    Error::corrupt(format!("event {size}'s fields do not match its hash")),
                ));
            }
            e.hash
        };
        if merkle::root(&frontier) != checkpoint.root || hash != checkpoint.chain_head {
            return Err(mismatch(
                checkpoint,
                Error::checkpoint("its root or chain head differs from the log's"),
            ));
        }
        Ok(Head::new(size, hash, frontier))
    }

    /// The store's tree as a [`Subtrees`] for proofs up to `checkpoint`, once the checkpoint
    /// is known to be this log's and within its head.
    pub(super) fn stored_tree(&self, checkpoint: &Checkpoint) -> Result<StoredTree<'_, S>> {
        let log_id = self.log_id()?;
        if checkpoint.log_id() != Some(log_id) {
            return Err(Error::checkpoint(format!(
                "it is a checkpoint of {}, this log is {log_id}",
                checkpoint.origin
            )));
        }
        let store = &self.inner.store;
        let head = store.head()?;
        if checkpoint.size > head.seq {
            return Err(Error::checkpoint(format!(
                "it covers {} events, the log holds {}: the newest were cut off, or the checkpoint is of another copy; run verify_against",
                checkpoint.size, head.seq
            )));
        }
        Ok(StoredTree {
            store,
            log_id,
            purged: store.purge_anchor()?.unwrap_or_default(),
            blocks: HashMap::new(),
        })
    }
}

/// [`AuditTrail::prove`] in `tree` (a store's tree checked against `checkpoint`), so that
/// several proofs against one checkpoint share its checks and the blocks it read.
pub(super) fn prove_in<S: AuditStore + ?Sized>(
    tree: &mut StoredTree<'_, S>,
    seq: u64,
    checkpoint: &Checkpoint,
) -> Result<InclusionProof> {
    if seq == 0 || seq > checkpoint.size {
        return Err(Error::invalid(
            "seq",
            format!(
                "{seq} is not an event of the checkpoint, which covers seqs 1..={}",
                checkpoint.size
            ),
        ));
    }
    if seq <= tree.purged.seq {
        return Err(Error::unsupported(format!(
            "event {seq} was purged (events 1..={} are gone); prove it from the purge's archive",
            tree.purged.seq
        )));
    }
    let path = inclusion_path(&mut *tree, seq - 1, checkpoint.size)?;
    let leaf = tree.subtree(0, seq - 1)?;
    let proof = InclusionProof::new(seq - 1, path, checkpoint.clone());
    proof.verify(&leaf).map_err(|e| mismatch(checkpoint, e))?;
    Ok(proof)
}

fn mismatch(checkpoint: &Checkpoint, e: Error) -> Error {
    Error::checkpoint(format!(
        "the stored hashes do not lead to the checkpoint of size {} ({e}): the log or the checkpoint was altered; run verify_against",
        checkpoint.size
    ))
}

/// Leaves per block: the subtrees below [`NODE_LEVEL`] are recomputed from their events.
const BLOCK: u64 = 1 << NODE_LEVEL;

/// A store's Merkle tree, as proofs read it.
pub(super) struct StoredTree<'a, S: ?Sized> {
    store: &'a S,
    log_id: &'a str,
    /// The purge anchor (seq 0 when nothing was purged): its frontier stands for the
    /// subtrees of purged events.
    purged: Head,
    /// Leaf hashes of the blocks of 16 events read so far, by block number, with the leaf
    /// index of the first.
    blocks: HashMap<u64, (u64, Vec<Hash>)>,
}

impl<S: AuditStore + ?Sized> StoredTree<'_, S> {
    fn event(&self, seq: u64) -> Result<SealedEvent> {
        self.store
            .read(seq, 1)?
            .into_iter()
            .find(|e| e.seq == seq)
            .ok_or_else(|| Error::corrupt(format!("event {seq} cannot be read; run verify")))
    }

    /// The leaf hashes of block `b` (leaves `16b..16b + 16`; the log's last block maybe
    /// shorter, and a block the purge cut into starting after the anchor), hashed from its
    /// events once, with the leaf index of the first.
    fn block(&mut self, b: u64) -> Result<&(u64, Vec<Hash>)> {
        if !self.blocks.contains_key(&b) {
            let first = (b * BLOCK + 1).max(self.purged.seq + 1);
            let end = (b + 1) * BLOCK;
            let events = self.store.read(first, (end + 1 - first) as usize)?;
            let mut leaves = Vec::with_capacity(events.len());
            for (e, seq) in events.iter().zip(first..=end) {
                if e.seq != seq {
                    return Err(Error::corrupt(format!(
                        "event {seq} cannot be read; run verify"
                    )));
                }
                leaves.push(chain::seal_hashes(self.log_id, e).0);
            }
            self.blocks.insert(b, (first - 1, leaves));
        }
        Ok(&self.blocks[&b])
    }

    /// The frontier hash of the purge anchor that is exactly this subtree, if any.
    fn purged_subtree(&self, level: u8, index: u64) -> Option<Hash> {
        let lo = index << level;
        let mut start = 0u64;
        for (bit, h) in (0..64u32)
            .rev()
            .filter(|b| self.purged.seq >> b & 1 == 1)
            .zip(&self.purged.frontier)
        {
            if start == lo && bit == u32::from(level) {
                return Some(*h);
            }
            start += 1 << bit;
        }
        None
    }
}

impl<S: AuditStore + ?Sized> Subtrees for StoredTree<'_, S> {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash> {
        let lo = index << level;
        let hi = lo + (1u64 << level);
        let purged = self.purged.seq;
        if lo < purged {
            if let Some(h) = self.purged_subtree(level, index) {
                return Ok(h);
            }
            if hi <= purged || level == 0 {
                return Err(Error::unsupported(format!(
                    "the proof needs events {}..={hi}, which were purged; prove from a checkpoint after them, or from the purge's archive",
                    lo + 1
                )));
            }
            // Straddling the anchor: purged on the left, stored on the right.
            let left = self.subtree(level - 1, 2 * index)?;
            let right = self.subtree(level - 1, 2 * index + 1)?;
            return Ok(hashes::node(&left, &right));
        }
        if u32::from(level) < NODE_LEVEL {
            let (start, leaves) = self.block(lo / BLOCK)?;
            let offset = (lo - start) as usize;
            let wanted = offset..offset + (1usize << level);
            let Some(leaves) = leaves.get(wanted) else {
                return Err(Error::corrupt(format!(
                    "events {}..={hi} cannot be read; run verify",
                    lo + 1
                )));
            };
            return Ok(fold(leaves));
        }
        let e = self.event(hi)?;
        match e.nodes.get((u32::from(level) - NODE_LEVEL) as usize) {
            Some(h) => Ok(*h),
            // Sealed before events carried their subtrees (encoding 1): from its halves.
            None if e.nodes.is_empty() && e.encoding < 2 => {
                let left = self.subtree(level - 1, 2 * index)?;
                let right = self.subtree(level - 1, 2 * index + 1)?;
                Ok(hashes::node(&left, &right))
            }
            None => Err(Error::corrupt(format!(
                "event {hi} lacks the hash of its subtree of {} events; run verify",
                1u64 << level
            ))),
        }
    }
}

/// The root of a perfect subtree from its leaves (a power of two of them).
fn fold(leaves: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| hashes::node(&p[0], &p[1]))
            .collect();
    }
    level[0]
}
