//! The RFC 6962 Merkle frontier: the roots of the perfect subtrees that make up a tree of `n`
//! leaves, largest first, one for each set bit of `n` (so at most 64 hashes).
//!
//! It is persisted with the head so that any process can extend the tree and compute the root
//! of a checkpoint without reading old leaves.

use super::{hashes, Hash};

/// Appends `leaf` to the frontier of a tree of `size` leaves (making it `size + 1`).
pub fn push(frontier: &mut Vec<Hash>, size: u64, leaf: Hash) {
    push_completing(frontier, size, leaf, |_, _| {});
}

/// [`push`], handing `completed` the level and hash of each perfect subtree of two leaves or
/// more that the new leaf completes, smallest first.
pub fn push_completing(
    frontier: &mut Vec<Hash>,
    size: u64,
    leaf: Hash,
    mut completed: impl FnMut(u32, &Hash),
) {
    let mut h = leaf;
    let mut s = size;
    let mut level = 0;
    // Each trailing 1-bit of `size` is a perfect subtree the new leaf completes.
    while s & 1 == 1 {
        let left = frontier
            .pop()
            .expect("frontier holds one hash per set bit of size");
        h = hashes::node(&left, &h);
        s >>= 1;
        level += 1;
        completed(level, &h);
    }
    frontier.push(h);
}

/// The stored subtree hashes ([`crate::SealedEvent::nodes`]) of the event whose leaf makes a
/// tree of `size - 1` leaves `size` long: those [`push_completing`] completes at
/// [`NODE_LEVEL`] and up.
pub(crate) fn stored_nodes(frontier: &mut Vec<Hash>, size: u64, leaf: Hash) -> Vec<Hash> {
    let mut nodes = Vec::new();
    push_completing(frontier, size - 1, leaf, |level, h| {
        if level >= NODE_LEVEL {
            nodes.push(*h);
        }
    });
    nodes
}

pub(crate) use crate::store::sealed::NODE_LEVEL;

/// The RFC 6962 root of the tree whose frontier is `frontier`.
pub fn root(frontier: &[Hash]) -> Hash {
    match frontier.split_last() {
        None => hashes::empty_root(),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |acc, left| hashes::node(left, &acc)),
    }
}

/// True when `frontier` has exactly one hash per set bit of `size`.
pub fn fits(frontier: &[Hash], size: u64) -> bool {
    frontier.len() == size.count_ones() as usize
}

/// Packs a frontier into bytes (32 per hash) for storage.
pub fn to_bytes(frontier: &[Hash]) -> Vec<u8> {
    frontier.concat()
}

/// Unpacks a frontier stored with [`to_bytes`]; `None` when the length is not a multiple of 32.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("chunks are 32 bytes"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 test vectors used by Certificate Transparency implementations.
    #[test]
    fn roots_match_rfc6962_vectors() {
        let leaves: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut frontier = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            push(&mut frontier, i as u64, hashes::leaf(leaf));
            assert!(fits(&frontier, i as u64 + 1));
            assert_eq!(
                hex::encode(root(&frontier)),
                roots[i],
                "tree size {}",
                i + 1
            );
        }
        assert_eq!(from_bytes(&to_bytes(&frontier)).unwrap(), frontier);
    }
}
