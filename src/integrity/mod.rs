//! Integrity: the ONLY place in auditkit that encodes for hashing, hashes and verifies.
//!
//! - [`canonical`]: RFC 8785-style canonical JSON and the versioned, length-prefixed encoding of
//!   a sealed event.
//! - [`hashes`]: domain-separated SHA-256 (leaf `0x00`, Merkle node `0x01`, chain `0x02`,
//!   genesis `0x03`, personal-field commitment `0x04`).
//! - [`merkle`]: the RFC 6962 Merkle frontier persisted with the head.
//! - [`checkpoint`]: the C2SP tlog-checkpoint note.
//! - [`proof`]: RFC 6962 inclusion and consistency proofs, made from stored subtree hashes
//!   and verified with no store.
//! - [`verify`]: the bounded-memory walk over the chain.
//! - [`archive`]: archives of purged events and their verification.
//! - [`bundle`]: evidence bundles of one target's events, checked with no store.
//! - `sign` (feature `sign`): Ed25519 signatures on checkpoints, as C2SP signed notes.

pub mod archive;
pub mod bundle;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod hashes;
pub mod merkle;
pub mod proof;
pub mod purge;
#[cfg(feature = "sign")]
pub mod sign;
pub mod verify;

pub use checkpoint::Checkpoint;
pub use purge::{PurgeRecord, PURGE_ACTION};
pub use verify::{Fault, FaultKind, VerifyReport};

pub use crate::store::Hash;
