//! The append queue: how writers on many app servers share one lock hold.
//!
//! When one writer holds a store's write lock, the others need not wait for it one by one:
//! a store that can ([`AuditStore::begin_or_queue`]) keeps their drafts in a queue, and the
//! writer holding the lock seals the queued drafts together with its own in the same append
//! ([`Append::queued`], [`Append::settle`]). The waiting writers learn what became of their
//! drafts when that append commits ([`Queue::wait`]). One lock hold then carries the events of
//! every server that arrived during the previous one, and no lock hand-off is spent on a
//! single event.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Append, Hash};
#[cfg(doc)]
use super::{AuditStore, SealedEvent};
use crate::Result;

/// A queued draft's place in a store's queue, unique within the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u64);

/// What sealing stamped on a draft: the fields a [`SealedEvent`] gains over its draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Position in the chain.
    pub seq: u64,
    /// Time-ordered id.
    pub id: Uuid,
    /// When it was sealed.
    pub recorded_at: OffsetDateTime,
    /// Chain hash of the event before it.
    pub prev_hash: Hash,
    /// Its chain hash.
    pub hash: Hash,
}

/// What became of a queued draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Sealed and appended, with this stamp.
    Sealed(Stamp),
    /// Its idempotency key was already recorded, by the event at this seq.
    Found(u64),
    /// Its idempotency key stands for another event (the trail's rule: a key means one
    /// request); the writer that queued it reports `Error::Invalid` for `idempotency_key`
    /// with this problem.
    KeyReused(String),
    /// It could not be sealed (the store could not decode it, for one): why.
    Refused(String),
}

/// What [`AuditStore::begin_or_queue`] gives the trail.
pub enum Turn<'a> {
    /// The write lock, as [`AuditStore::begin_append`] gives it: seal the drafts, and the
    /// queue ([`Append::queued`]) with them.
    Append(Box<dyn Append + 'a>),
    /// Another writer held the lock: the drafts are queued for it to seal.
    Queued(Box<dyn Queue + 'a>),
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Turn::Append(_) => "Turn::Append",
            Turn::Queued(_) => "Turn::Queued",
        })
    }
}

/// Drafts waiting in a store's queue, from [`AuditStore::begin_or_queue`].
///
/// # Contract
///
/// - The drafts stay queued until a writer holding the lock seals them and settles them
///   ([`Append::settle`]) in the append that appends them; once that append commits (durably)
///   [`Queue::wait`] returns their outcomes, in the order they were queued.
/// - Dropping the queue does not take the drafts back: another writer may still seal them.
///   A caller that gives up reports the outcome as unknown.
pub trait Queue {
    /// Waits for the drafts to be settled; `None` when `quiet` passes with no word of any
    /// queued draft being settled (nobody is sealing the queue: the trail then tries the lock
    /// itself), and at the latest after a second.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn wait(&mut self, quiet: Duration) -> Result<Option<Vec<Settled>>>;

    /// Takes the write lock if it is free, for this writer to seal the queue (its own drafts
    /// among it, unless they were settled meanwhile): the writer that held the lock has
    /// committed, and nobody took it since.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn try_append(&mut self) -> Result<Option<Box<dyn Append + '_>>>;

    /// The drafts' places in the queue, in the order they were queued.
    fn ids(&self) -> &[QueueId];
}
