//! The hash chain's one step: extending a log's head by one event.

use super::{canonical, hashes, merkle, Hash};
use crate::store::sealed::SealedEvent;
use crate::store::Head;

/// Recomputes the leaf and chain hash of a sealed event, returning `(leaf, hash)`.
pub fn seal_hashes(log_id: &str, e: &SealedEvent) -> (Hash, Hash) {
    let leaf = hashes::leaf(&canonical::event_bytes(log_id, e));
    (leaf, hashes::chain(&e.prev_hash, &leaf))
}

/// Makes `e` the event after `head` and moves `head` past it: `e` gets the next seq, links to
/// the head's hash and is hashed; the head takes its seq and hash and its leaf joins the
/// Merkle frontier, and `e` carries the subtree hashes its leaf completes
/// ([`SealedEvent::nodes`]). Everything else of `e` (its id, times and fields) must be final, since the
/// hash covers it. The head of an empty log must carry the genesis hash
/// ([`hashes::genesis`]).
pub fn extend(log_id: &str, head: &mut Head, e: &mut SealedEvent) {
    e.seq = head.seq + 1;
    e.prev_hash = head.hash;
    let (leaf, hash) = seal_hashes(log_id, e);
    e.hash = hash;
    e.nodes = merkle::stored_nodes(&mut head.frontier, e.seq, leaf);
    head.seq = e.seq;
    head.hash = hash;
}

/// True when `e` is the newest event `head` records, intact: its chain hash recomputed from
/// its fields is the stored one and the head's, and (for an odd seq, where the frontier's last
/// subtree is this one leaf) its leaf is the frontier's last hash. Checked before extending a
/// stored chain, so nothing is appended onto a damaged tip.
pub fn is_tip(log_id: &str, e: &SealedEvent, head: &Head) -> bool {
    let (leaf, hash) = seal_hashes(log_id, e);
    e.seq == head.seq
        && hash == e.hash
        && hash == head.hash
        && (head.seq.is_multiple_of(2) || head.frontier.last() == Some(&leaf))
}
