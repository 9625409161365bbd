//! Domain-separated SHA-256.
//!
//! One tag byte starts every hashed message so that no hash of one kind can be passed off as a
//! hash of another: `0x00` RFC 6962 leaf, `0x01` RFC 6962 Merkle node, `0x02` chain link,
//! `0x03` genesis of a log, `0x04` personal-field commitment.

use sha2::{Digest, Sha256};

use super::Hash;

const LEAF: u8 = 0x00;
const NODE: u8 = 0x01;
const CHAIN: u8 = 0x02;
const GENESIS: u8 = 0x03;
const COMMITMENT: u8 = 0x04;

/// `SHA-256(0x00 ‖ canonical)`: the RFC 6962 leaf hash of an event's canonical bytes.
pub fn leaf(canonical: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([LEAF])
        .chain_update(canonical)
        .finalize()
        .into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: an RFC 6962 Merkle interior node.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([NODE])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// `SHA-256(0x02 ‖ prev ‖ leaf)`: the chain hash of an event.
pub fn chain(prev: &Hash, leaf: &Hash) -> Hash {
    Sha256::new()
        .chain_update([CHAIN])
        .chain_update(prev)
        .chain_update(leaf)
        .finalize()
        .into()
}

/// `SHA-256(0x03 ‖ log_id)`: the `prev_hash` of the first event of a log.
pub fn genesis(log_id: &str) -> Hash {
    Sha256::new()
        .chain_update([GENESIS])
        .chain_update(log_id.as_bytes())
        .finalize()
        .into()
}

/// `SHA-256(0x04 ‖ len(path) ‖ path ‖ salt ‖ value)`: the commitment to one personal value.
///
/// The random per-value salt keeps a short value (a name, an email) from being guessed back
/// from its commitment once the value itself has been erased.
pub fn commitment(path: &str, salt: &[u8; 16], value: &str) -> Hash {
    Sha256::new()
        .chain_update([COMMITMENT])
        .chain_update((path.len() as u32).to_be_bytes())
        .chain_update(path.as_bytes())
        .chain_update(salt)
        .chain_update(value.as_bytes())
        .finalize()
        .into()
}

/// SHA-256 of nothing: the RFC 6962 root of an empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}
