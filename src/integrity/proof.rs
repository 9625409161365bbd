//! RFC 6962 Merkle proofs over the log: inclusion (an event is in a checkpointed tree) and
//! consistency (a later checkpoint's tree extends an earlier one's).
//!
//! The log's Merkle tree has one leaf per event, in `seq` order: the leaf of event `seq` is
//! leaf index `seq − 1`, and its hash is the event's leaf hash ([`super::hashes::leaf`] of its
//! canonical encoding). Proofs are made from subtree hashes a [`Subtrees`] source hands out
//! (a store keeps them, so a proof reads O(log n) of them and never re-hashes the log), and
//! verified with nothing but the hashes: no store, no database.
//!
//! Text forms:
//! - an inclusion proof is a C2SP [`tlog-proof`](https://c2sp.org/tlog-proof): the line
//!   `c2sp.org/tlog-proof@v1`, `index <leaf index>`, one base64 hash per line from the
//!   leaf's sibling up to the root's child, an empty line, and the checkpoint verbatim;
//! - a consistency proof, which C2SP defines only inside the witness protocol, is auditkit's
//!   own: the line `auditkit/consistency-proof@v1`, `old <size>`, `new <size>`, then one
//!   base64 hash per line in RFC 6962 order (§2.1.2). It carries no checkpoints: it is
//!   checked against the two the verifier already holds.
//!
//! The algorithms are RFC 9162's (§2.1.3.2 and §2.1.4.2), which verify the proofs RFC 6962
//! (§2.1.1 and §2.1.2) defines.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::checkpoint::Checkpoint;
use super::{hashes, Hash};
use crate::{Error, Result};

/// Where a prover finds the hashes of perfect subtrees of the log's tree.
pub trait Subtrees {
    /// The hash of the perfect subtree of `2^level` leaves whose first leaf is
    /// `index << level` (at level 0, the leaf hash of leaf `index`).
    ///
    /// # Errors
    /// When the store cannot be read, or holds no such subtree.
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash>;
}

/// A whole tree in memory: every perfect subtree's hash, level by level, built once from the
/// leaf hashes in order. A [`Subtrees`] for tests, tools and small logs.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    /// `levels[l][i]`: the subtree of `2^l` leaves from leaf `i << l`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The tree over `leaves`.
    pub fn new(leaves: &[Hash]) -> Self {
        let mut levels = vec![leaves.to_vec()];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks_exact(2)
                .map(|pair| hashes::node(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        MemoryTree { levels }
    }
}

impl Subtrees for MemoryTree {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash> {
        self.levels
            .get(usize::from(level))
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or_else(|| {
                Error::invalid(
                    "subtree",
                    format!(
                        "the subtree of 2^{level} leaves at {index} lies past the {} leaves there are",
                        self.levels[0].len()
                    ),
                )
            })
    }
}

/// The RFC 6962 root of `leaves`, straight from the definition (MTH).
pub fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => hashes::empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            hashes::node(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

/// The largest power of two below `n` (`n` ≥ 2): where RFC 6962 splits a tree of `n` leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `lo..hi` as RFC 6962 defines it for a subtree of a proof (`lo` is a
/// multiple of the largest power of two not above `hi - lo`, as every such subtree's is): a
/// perfect subtree in one lookup, else its left perfect part and its right part.
fn range_hash(src: &mut dyn Subtrees, lo: u64, hi: u64) -> Result<Hash> {
    let n = hi - lo;
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return src.subtree(level, lo >> level);
    }
    let k = split(n);
    let left = range_hash(src, lo, lo + k)?;
    let right = range_hash(src, lo + k, hi)?;
    Ok(hashes::node(&left, &right))
}

/// The audit path of leaf `index` in the tree of the first `size` leaves, from the leaf's
/// sibling up to the root's child (RFC 6962 §2.1.1).
///
/// # Errors
/// [`Error::Invalid`] when `index` is not below `size`; errors of `src`.
pub fn inclusion_path(src: &mut dyn Subtrees, index: u64, size: u64) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::invalid(
            "index",
            format!("leaf {index} is not in a tree of {size} leaves"),
        ));
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0, size, index);
    // Top-down, then reversed: the leaf's sibling first.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof from the tree of the first `old` leaves to the tree of the first
/// `new` (RFC 6962 §2.1.2); empty when `old` is 0 or equals `new`.
///
/// # Errors
/// [`Error::Invalid`] when `old` is greater than `new`; errors of `src`.
pub fn consistency_path(src: &mut dyn Subtrees, old: u64, new: u64) -> Result<Vec<Hash>> {
    if old > new {
        return Err(Error::invalid(
            "old",
            format!("a tree of {old} leaves cannot be extended by one of {new}"),
        ));
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    // SUBPROOF(m, D[lo:hi], whole) walked down to the subtree holding the old tree's edge.
    let (mut lo, mut hi, mut m, mut whole) = (0, new, old, true);
    while m != hi - lo {
        let k = split(hi - lo);
        if m <= k {
            proof.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(src, lo, lo + k)?);
            lo += k;
            m -= k;
            whole = false;
        }
    }
    if !whole {
        proof.push(range_hash(src, lo, hi)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`, by
/// its audit path `proof` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`Error::Checkpoint`] saying what does not hold.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    let fail = |why: &str| {
        Err(Error::Checkpoint {
            message: format!("the inclusion proof of leaf {index} in a tree of {size} {why}"),
        })
    };
    if index >= size {
        return fail("names a leaf past the tree");
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return fail("has more hashes than the tree is deep");
        }
        if f & 1 == 1 || f == s {
            r = hashes::node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = hashes::node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return fail("has fewer hashes than the tree is deep");
    }
    if r != *root {
        return fail("does not lead to the checkpoint's root");
    }
    Ok(())
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree of `old` leaves
/// with root `old_root`, by the consistency proof `proof` (RFC 9162 §2.1.4.2).
///
/// # Errors
/// [`Error::Checkpoint`] saying what does not hold.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    let fail = |why: &str| {
        Err(Error::Checkpoint {
            message: format!("the consistency proof from {old} to {new} leaves {why}"),
        })
    };
    if old > new {
        return fail("goes backwards");
    }
    if old == new {
        return match (proof.is_empty(), old_root == new_root) {
            (true, true) => Ok(()),
            (false, _) => fail("should be empty for two trees of one size"),
            (true, false) => fail("joins two trees of one size with different roots"),
        };
    }
    if old == 0 {
        // Every tree extends the empty one.
        return match proof.is_empty() {
            true => Ok(()),
            false => fail("should be empty from the empty tree"),
        };
    }
    let mut hashes_in: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        hashes_in.push(*old_root);
    }
    hashes_in.extend_from_slice(proof);
    let Some((first, rest)) = hashes_in.split_first() else {
        return fail("is empty");
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return fail("has more hashes than the trees are deep");
        }
        if f & 1 == 1 || f == s {
            fr = hashes::node(c, &fr);
            sr = hashes::node(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = hashes::node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return fail("has fewer hashes than the trees are deep");
    }
    if fr != *old_root {
        return fail("does not lead to the old checkpoint's root");
    }
    if sr != *new_root {
        return fail("does not lead to the new checkpoint's root");
    }
    Ok(())
}

/// An inclusion proof of one event in a checkpoint, in the C2SP `tlog-proof` text form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InclusionProof {
    /// The leaf index: the event's `seq` − 1.
    pub index: u64,
    /// The audit path, from the leaf's sibling up to the root's child.
    pub hashes: Vec<Hash>,
    /// The checkpoint the path leads to.
    pub checkpoint: Checkpoint,
}

impl InclusionProof {
    /// The proof that leaf `index` is in `checkpoint`'s tree, by `hashes`.
    pub fn new(index: u64, hashes: Vec<Hash>, checkpoint: Checkpoint) -> Self {
        InclusionProof {
            index,
            hashes,
            checkpoint,
        }
    }

    /// Checks that `leaf` (an event's leaf hash) is at this proof's index in its checkpoint's
    /// tree. It says nothing of who signed the checkpoint: check its signatures as well
    /// (`integrity::sign`), or compare it with one kept elsewhere.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it does not hold.
    pub fn verify(&self, leaf: &Hash) -> Result<()> {
        verify_inclusion(
            leaf,
            self.index,
            self.checkpoint.size,
            &self.hashes,
            &self.checkpoint.root,
        )
    }
}

/// The first line of an inclusion proof's text.
const INCLUSION_HEADER: &str = "c2sp.org/tlog-proof@v1";

impl fmt::Display for InclusionProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{INCLUSION_HEADER}")?;
        writeln!(f, "index {}", self.index)?;
        for h in &self.hashes {
            writeln!(f, "{}", B64.encode(h))?;
        }
        writeln!(f)?;
        write!(f, "{}", self.checkpoint)
    }
}

impl FromStr for InclusionProof {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |problem: String| Error::Malformed {
            what: "inclusion proof",
            problem,
        };
        let (head, checkpoint) = s
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(INCLUSION_HEADER) {
            return Err(bad(format!("the first line must be {INCLUSION_HEADER}")));
        }
        let mut line = lines.next();
        // Extra data is opaque to auditkit and not authenticated: accepted, not kept.
        if line.is_some_and(|l| l.starts_with("extra ")) {
            line = lines.next();
        }
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .and_then(decimal)
            .ok_or_else(|| bad("the index line must be `index <decimal>`".into()))?;
        let hashes = lines
            .map(|l| hash_line(l).ok_or_else(|| bad(format!("{l:?} is not a base64 hash"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(InclusionProof {
            index,
            hashes,
            checkpoint: checkpoint.parse()?,
        })
    }
}

/// A consistency proof between two sizes of the log, in auditkit's text form (see the
/// module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsistencyProof {
    /// The earlier tree's size.
    pub old: u64,
    /// The later tree's size.
    pub new: u64,
    /// The proof's hashes, in RFC 6962 order.
    pub hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// The proof that the tree of `new` leaves extends the one of `old`, by `hashes`.
    pub fn new(old: u64, new: u64, hashes: Vec<Hash>) -> Self {
        ConsistencyProof { old, new, hashes }
    }

    /// Checks that checkpoint `new` extends checkpoint `old` (same log, sizes as the proof
    /// says, and the proof joining their roots).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it does not hold.
    pub fn verify(&self, old: &Checkpoint, new: &Checkpoint) -> Result<()> {
        if old.origin != new.origin {
            return Err(Error::Checkpoint {
                message: format!(
                    "the checkpoints are of two logs ({} and {})",
                    old.origin, new.origin
                ),
            });
        }
        if (old.size, new.size) != (self.old, self.new) {
            return Err(Error::Checkpoint {
                message: format!(
                    "the proof joins sizes {} and {}, the checkpoints are of sizes {} and {}",
                    self.old, self.new, old.size, new.size
                ),
            });
        }
        verify_consistency(self.old, self.new, &old.root, &new.root, &self.hashes)
    }
}

/// The first line of a consistency proof's text.
const CONSISTENCY_HEADER: &str = "auditkit/consistency-proof@v1";

impl fmt::Display for ConsistencyProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{CONSISTENCY_HEADER}")?;
        writeln!(f, "old {}", self.old)?;
        writeln!(f, "new {}", self.new)?;
        for h in &self.hashes {
            writeln!(f, "{}", B64.encode(h))?;
        }
        Ok(())
    }
}

impl FromStr for ConsistencyProof {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |problem: String| Error::Malformed {
            what: "consistency proof",
            problem,
        };
        let mut lines = s.strip_suffix('\n').unwrap_or(s).split('\n');
        if lines.next() != Some(CONSISTENCY_HEADER) {
            return Err(bad(format!("the first line must be {CONSISTENCY_HEADER}")));
        }
        let mut size = |name: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(' '))
                .and_then(decimal)
                .ok_or_else(|| bad(format!("expected a line `{name} <decimal>`")))
        };
        let old = size("old")?;
        let new = size("new")?;
        let hashes = lines
            .map(|l| hash_line(l).ok_or_else(|| bad(format!("{l:?} is not a base64 hash"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(ConsistencyProof { old, new, hashes })
    }
}

/// An ASCII decimal without leading zeroes (but `0`).
fn decimal(s: &str) -> Option<u64> {
    let well_formed =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    well_formed.then(|| s.parse().ok()).flatten()
}

/// One base64 SHA-256 hash line.
fn hash_line(line: &str) -> Option<Hash> {
    B64.decode(line).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| hashes::leaf(&i.to_be_bytes())).collect()
    }

    #[test]
    fn every_inclusion_proof_up_to_64_leaves_verifies_and_no_other_does() {
        let all = leaves(64);
        for size in 1..=64u64 {
            let tree = &all[..size as usize];
            let root = reference_root(tree);
            for index in 0..size {
                let proof = inclusion_path(&mut MemoryTree::new(tree), index, size).unwrap();
                let leaf = &tree[index as usize];
                verify_inclusion(leaf, index, size, &proof, &root).unwrap();
                // A wrong leaf, index, size or root is refused.
                assert!(
                    verify_inclusion(&all[63], index, size, &proof, &root).is_err() || index == 63
                );
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(leaf, other, size, &proof, &root).is_err());
                }
                // (A size is bound by its root: the proof checked against the next size's.)
                let next_root = reference_root(&all[..(size as usize + 1).min(64)]);
                if size < 64 {
                    assert!(verify_inclusion(leaf, index, size + 1, &proof, &next_root).is_err());
                }
                assert!(verify_inclusion(leaf, index, size, &proof, &all[0]).is_err() || size == 1);
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves_verifies_and_no_other_does() {
        let all = leaves(64);
        for new in 1..=64u64 {
            let new_root = reference_root(&all[..new as usize]);
            for old in 0..=new {
                let old_root = reference_root(&all[..old as usize]);
                let proof =
                    consistency_path(&mut MemoryTree::new(&all[..new as usize]), old, new).unwrap();
                verify_consistency(old, new, &old_root, &new_root, &proof)
                    .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
                if old > 0 && old < new {
                    // Another old root, another new root, or sizes off by one are refused.
                    let wrong = hashes::leaf(b"not a root");
                    assert!(verify_consistency(old, new, &wrong, &new_root, &proof).is_err());
                    assert!(verify_consistency(old, new, &old_root, &wrong, &proof).is_err());
                    // (A size is bound by its root: checked against the next size's.)
                    if new < 64 {
                        let next_root = reference_root(&all[..new as usize + 1]);
                        assert!(
                            verify_consistency(old, new + 1, &old_root, &next_root, &proof)
                                .is_err()
                        );
                    }
                    let bigger_old = reference_root(&all[..old as usize + 1]);
                    assert!(
                        verify_consistency(old + 1, new, &bigger_old, &new_root, &proof).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn proofs_are_log_sized() {
        let size = 1u64 << 20;
        // A source that makes up subtree hashes cheaply: only the count matters here.
        struct Counting(u64);
        impl Subtrees for Counting {
            fn subtree(&mut self, level: u8, index: u64) -> Result<Hash> {
                self.0 += 1;
                Ok(hashes::leaf(&[level, index as u8]))
            }
        }
        let mut src = Counting(0);
        let path = inclusion_path(&mut src, 12_345, size).unwrap();
        assert_eq!(path.len(), 20);
        assert!(src.0 <= 40, "{} lookups", src.0);
        let path = consistency_path(&mut src, 600_001, 1_000_000).unwrap();
        assert!(path.len() <= 40, "{}", path.len());
    }

    #[test]
    fn text_forms_round_trip_and_bad_text_is_refused() {
        let all = leaves(10);
        let root = reference_root(&all);
        let cp = Checkpoint::new("log-1", 10, root, [7; 32]);
        let proof = InclusionProof::new(
            3,
            inclusion_path(&mut MemoryTree::new(&all), 3, 10).unwrap(),
            cp,
        );
        let text = proof.to_string();
        assert!(
            text.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"),
            "{text}"
        );
        let back: InclusionProof = text.parse().unwrap();
        assert_eq!(back, proof);
        back.verify(&all[3]).unwrap();
        assert!(back.verify(&all[4]).is_err());
        let with_extra = text.replacen("index 3", "extra aGVsbG8=\nindex 3", 1);
        assert_eq!(with_extra.parse::<InclusionProof>().unwrap(), proof);
        for bad in [
            text.replacen("index 3", "index 03", 1),
            text.replacen("c2sp.org/tlog-proof@v1", "tlog-proof", 1),
            text.replacen("\n\n", "\n", 1),
        ] {
            assert!(bad.parse::<InclusionProof>().is_err(), "{bad}");
        }
        let c = ConsistencyProof::new(
            4,
            10,
            consistency_path(&mut MemoryTree::new(&all), 4, 10).unwrap(),
        );
        let text = c.to_string();
        assert!(
            text.starts_with("auditkit/consistency-proof@v1\nold 4\nnew 10\n"),
            "{text}"
        );
        assert_eq!(text.parse::<ConsistencyProof>().unwrap(), c);
        let old = Checkpoint::new("log-1", 4, reference_root(&all[..4]), [1; 32]);
        let new = Checkpoint::new("log-1", 10, root, [2; 32]);
        c.verify(&old, &new).unwrap();
        assert!(c.verify(&new, &old).is_err());
        let other_log = Checkpoint::new("log-2", 10, root, [2; 32]);
        assert!(c.verify(&old, &other_log).is_err());
        assert!("auditkit/consistency-proof@v1\nold x\nnew 3\n"
            .parse::<ConsistencyProof>()
            .is_err());
    }
}
