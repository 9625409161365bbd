//! The storage contract: [`AuditStore`].
//!
//! Layer: the contract an integrator implements, and the sealed form stores keep
//! ([`SealedEvent`], [`Head`], personal fields); uses `model` and [`crate::query`].
//!
//! This module is the home of everything a store implementor uses: [`AuditStore`] (also at
//! the crate root), [`SealedEvent`], [`SealedEventRef`], [`Head`], [`PersonalField`],
//! [`PersonalFieldRef`], [`PersonalValue`], [`PersonalPath`], [`PersonalPathRef`], and the
//! helpers [`check_batch`] and [`check_purge`].

pub(crate) mod append;
pub(crate) mod derived;
pub(crate) mod personal_path;
pub mod queue;
pub(crate) mod sealed;

pub use append::{append_through, Append, AppendWithin};
#[cfg(feature = "sqlx")]
pub use append::{AppendWithinAsync, LockedWithin};
pub use derived::{DerivedRows, SearchEntry};
pub use personal_path::{PersonalPath, PersonalPathRef};
pub use sealed::{PersonalField, PersonalFieldRef, PersonalValue, SealedEvent, SealedEventRef};

/// A SHA-256 digest: what the chain and the Merkle tree are made of.
pub type Hash = [u8; 32];

use std::sync::Arc;

use uuid::Uuid;

use crate::query::summary::{self, GroupBy};
use crate::query::Query;
use crate::{Error, Result};

/// The head of a log: where the next event links on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Head {
    /// `seq` of the newest event; 0 for an empty log.
    pub seq: u64,
    /// Chain hash of the newest event; ignored (the genesis hash applies) when `seq` is 0.
    pub hash: Hash,
    /// RFC 6962 Merkle frontier over leaves `1..=seq`: one hash per set bit of `seq`.
    pub frontier: Vec<Hash>,
}

impl Head {
    /// A head at `seq` with chain hash `hash` and Merkle `frontier`.
    pub fn new(seq: u64, hash: Hash, frontier: Vec<Hash>) -> Self {
        Head {
            seq,
            hash,
            frontier,
        }
    }
}

/// Persistence for sealed events: dumb and faithful.
///
/// # Contract
///
/// - A store holds one log, identified by [`AuditStore::log_id`], fixed when the store is
///   created.
/// - Events are appended only through [`AuditStore::begin_append`], which hands the trail the
///   head to seal against and takes the sealed events ([`Append`]): a store that can lock
///   holds its write lock from the head read to the commit, so no writer ever seals against a
///   stale head and no lock hand-off is wasted. A store that cannot lock keeps the provided
///   one, a compare-and-append through [`AuditStore::append`] that reports a lost race as
///   [`Error::Conflict`] (the trail then reseals). Either way a batch is stored whole or not at
///   all, together with the new head.
/// - The trail begins every append with [`AuditStore::begin_or_queue`]: a store shared by many
///   processes may queue a writer's drafts for the writer holding the lock to seal with its
///   own ([`queue`] has that contract); the provided one waits for the lock. A writer that
///   expects to be alone (the head is the one it appended last) appends with
///   [`AuditStore::append`] directly, expecting that head: a store can make that one round
///   trip.
/// - Every field of a [`SealedEvent`] is given back exactly as it was appended: strings
///   byte for byte, times to the microsecond, hashes verbatim. The core recomputes every hash on
///   verify; a store that loses or alters anything fails verify and the testkit.
/// - Personal values ([`PersonalField::value`]) are the only thing a store may remove
///   (through [`AuditStore::erase`]), and a prefix of the chain the only events it may delete
///   (through [`AuditStore::purge`], which records the purge anchor verification starts from);
///   nothing else is ever updated or deleted.
/// - A store need not check hashes, validate events or understand JSON: the core does that.
///
/// Only the first four methods are required. The provided query methods are slow but correct
/// fallbacks that scan with [`AuditStore::read`] and filter with [`Query::matches`]; SQL stores
/// override them to push filters down to indexes. `auditkit::testkit` (feature `testkit`)
/// checks a store against this contract; [`crate::guide`] walks through writing one.
pub trait AuditStore: Send + Sync {
    /// The log's identity, fixed at creation (it names the log in checkpoints and seeds the
    /// genesis hash).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn log_id(&self) -> Result<String>;

    /// The current head.
    ///
    /// # Behavior
    /// - An empty log has `seq` 0 and an empty frontier.
    /// - The head returned is durable: a store whose commits can be visible before they are
    ///   durable (PostgreSQL's asynchronous commit) waits until what it read is durable. The
    ///   trail relies on it before a checkpoint and when it reads a batch back after a failed
    ///   commit.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn head(&self) -> Result<Head>;

    /// Appends `batch` (seqs `expected + 1 ..= expected + batch.len()`, in order) and sets the
    /// head to `new_head`, atomically, if the head is still at `expected`.
    ///
    /// # Behavior
    /// - Head not at `expected`: nothing is written; returns [`Error::Conflict`] with the
    ///   actual head.
    /// - An idempotency key or id already stored: nothing is written; returns
    ///   [`Error::Conflict`] (the trail re-reads and resolves it).
    /// - On `Ok`, the batch is durable to the store's stated durability.
    ///
    /// # Errors
    /// [`Error::Conflict`] as above; [`Error::Busy`] when locked past the timeout (nothing
    /// written); others when the write fails. After any other error the trail reads the batch
    /// back to learn whether it was committed after all.
    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()>;

    /// Begins an append: the head to seal against, read under the store's write lock, and a
    /// place to push the sealed events and commit them ([`Append`], whose contract says what a
    /// store must guarantee). The trail records only through this.
    ///
    /// # Behavior
    /// - A store that can lock overrides it to take its write lock here and hold it until the
    ///   append commits or is dropped (other writers wait, up to the store's busy timeout).
    /// - The provided implementation reads [`AuditStore::head`] without a lock and commits with
    ///   one [`AuditStore::append`]: correct for any store, but concurrent writers may lose
    ///   races and reseal.
    ///
    /// # Errors
    /// [`Error::Busy`] when the lock stays taken past the timeout; storage errors.
    fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
        Ok(Box::new(append::Optimistic::begin(self)?))
    }

    /// Takes the write lock if it is free, as [`AuditStore::begin_append`] does; if another
    /// writer holds it, queues `drafts` (prepared, not sealed) for that writer to seal in its
    /// own append instead of waiting for the lock ([`queue`] says how). This is how the trail
    /// begins every append.
    ///
    /// # Behavior
    /// - The provided implementation waits for the lock: `begin_append`.
    /// - A store shared by many processes overrides it: a writer then never waits on the lock
    ///   behind others that each hold it for one event.
    ///
    /// # Errors
    /// As [`AuditStore::begin_append`]; [`Error::Invalid`] for a draft the store could not
    /// keep (nothing is queued then).
    fn begin_or_queue(&self, drafts: &[&SealedEvent]) -> Result<queue::Turn<'_>> {
        let _ = drafts;
        Ok(queue::Turn::Append(self.begin_append()?))
    }

    /// Up to `limit` events with `seq >= from`, in ascending `seq` order.
    ///
    /// # Behavior
    /// - Returns what is stored, gaps included: it never fills or hides a missing seq.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>>;

    /// [`AuditStore::read`] without the copies: calls `visit` on each of up to `limit` events
    /// with `seq >= from`, in ascending `seq` order, lent as a [`SealedEventRef`] that borrows
    /// from the store's own buffers.
    ///
    /// Verification reads the whole log through this, so its cost is most of a verify's: the
    /// provided implementation goes through `read`, and a store whose rows can lend their
    /// fields (SQLite's do) overrides it to skip an allocation per field.
    ///
    /// # Behavior
    /// - Lends exactly the events `read(from, limit)` returns, field for field, gaps included.
    ///
    /// # Errors
    /// When the store cannot be read; nothing is visited past the error.
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        for e in self.read(from, limit)? {
            visit(&e.view());
        }
        Ok(())
    }

    /// Up to `limit` events that match `query` (filters and cursor), in its order.
    ///
    /// # Errors
    /// When the store cannot be read or an event cannot be decoded.
    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        let mut found = Vec::new();
        scan(self, |s| {
            let e = s.decode()?;
            if query.matches(&e) {
                found.push((e, s));
            }
            Ok(true)
        })?;
        found.sort_by_key(|(e, _)| (e.occurred_at, e.seq));
        if query.order() == crate::query::SortOrder::NewestFirst {
            found.reverse();
        }
        Ok(found.into_iter().take(limit).map(|(_, s)| s).collect())
    }

    /// How many events match `query` (its limit ignored, its cursor applied).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn count(&self, query: &Query) -> Result<u64> {
        let mut n = 0;
        scan(self, |s| {
            if query.matches(&s.decode()?) {
                n += 1;
            }
            Ok(true)
        })?;
        Ok(n)
    }

    /// The event with this id.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        find(self, |s| s.id == id)
    }

    /// The event recorded with this idempotency key.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        find(self, |s| s.idempotency_key.as_deref() == Some(key))
    }

    /// How many events match `query` (its limit ignored, its cursor applied), per key of
    /// `by`: per action name, per actor id, or per calendar day (`YYYY-MM-DD`) in the IANA
    /// zone of [`GroupBy::Day`].
    ///
    /// # Behavior
    /// - Keys may come in any order and more than once (the counts add up):
    ///   [`crate::AuditTrail::summarize`] merges and sorts them.
    /// - A day is the local calendar day of `occurred_at` in the zone, with the zone's UTC
    ///   offset at that instant (daylight-saving time included).
    ///
    /// # Errors
    /// [`Error::Invalid`] (field `zone`) for an unknown zone; when the store cannot be read.
    fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        let tz = summary::zone_of(by)?;
        let mut counts: std::collections::HashMap<String, u64> = Default::default();
        scan(self, |s| {
            let e = s.decode()?;
            if query.matches(&e) {
                *counts
                    .entry(summary::key_of(&e, by, tz.as_ref()))
                    .or_default() += 1;
            }
            Ok(true)
        })?;
        Ok(counts.into_iter().collect())
    }

    /// Where the stored chain starts after a purge: a [`Head`] at the last purged event (its
    /// seq, its chain hash, the Merkle frontier over leaves `1..=seq`); `None` before any purge.
    ///
    /// # Behavior
    /// - Only moves forward, together with [`AuditStore::purge`].
    ///
    /// # Errors
    /// When the store cannot be read.
    fn purge_anchor(&self) -> Result<Option<Head>> {
        Ok(None)
    }

    /// Removes every event with `seq <= anchor.seq` (and their personal values) and records
    /// `anchor` as the purge anchor, atomically. Called by [`crate::AuditTrail::purge_before`],
    /// which computes and checks the anchor.
    ///
    /// # Behavior
    /// - `anchor.seq` above the head, or below the current anchor: nothing is removed; returns
    ///   [`Error::Invalid`].
    /// - The default implementation returns [`Error::Unsupported`]: a store that cannot purge
    ///   keeps everything.
    ///
    /// # Errors
    /// As above; storage errors.
    fn purge(&self, anchor: &Head) -> Result<()> {
        let _ = anchor;
        Err(Error::unsupported(
            "purge: this store keeps every event; implement AuditStore::purge to support retention",
        ))
    }

    /// Removes the value and salt of each personal field `(seq, path)`, leaving its commitment
    /// (which is what the chain hashes). Called by [`crate::AuditTrail::erase_subject`]. A
    /// store that keeps paths as text keeps [`PersonalPath`]'s `Display` form and matches on
    /// it.
    ///
    /// # Behavior
    /// - Fields already erased, fields an event does not have, and events no longer stored are
    ///   skipped.
    /// - Anything the store derived from the values (a search index) no longer finds them.
    /// - Atomic per call.
    /// - The default implementation returns [`Error::Unsupported`].
    ///
    /// # Errors
    /// As above; storage errors.
    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        let _ = fields;
        Err(Error::unsupported(
            "erase: this store cannot remove personal values; implement AuditStore::erase to support erasure"
                ,
        ))
    }

    /// Damage the store knows of in its own storage that no event shows, such as a database
    /// file cut short past its last event. Called by [`crate::AuditTrail::verify`] after the
    /// chain checked out, so that a damaged store never verifies as intact.
    ///
    /// # Behavior
    /// - `Ok(())` when the store knows of no damage; it need not read anything to say so.
    /// - [`Error::Corrupt`] saying what is damaged and where, otherwise.
    /// - The default implementation returns `Ok(())`.
    ///
    /// # Errors
    /// As above; storage errors.
    fn check_storage(&self) -> Result<()> {
        Ok(())
    }

    /// The rows the store derived from the events `from..=to` and answers queries from (the
    /// targets each involves, its change paths, its search-index entry), for
    /// [`crate::AuditTrail::verify`] to check
    /// against what the events themselves give: a row deleted, added or altered behind the
    /// store's back would otherwise hide an event from a booking's history, or show one
    /// where it does not belong.
    ///
    /// # Behavior
    /// - `Ok(None)` for a store that keeps no derived rows (it answers queries from the
    ///   events, with [`crate::Query::matches`]): the default.
    /// - Otherwise every such row with a `seq` in `from..=to`, in any order, and the search
    ///   entries when the store can read them back ([`DerivedRows::with_search`]).
    ///
    /// # Errors
    /// Storage errors.
    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>> {
        let _ = (from, to);
        Ok(None)
    }

    /// For each of `targets`, the seq of the newest stored event of its tenant that involves
    /// it (as its target or a related target), 0 when none: what the trail links a new event
    /// to ([`SealedEvent::links`]) when the store's [`Append`] does not say
    /// ([`Append::newest_involving`]).
    ///
    /// # Behavior
    /// - One answer per key, in order.
    /// - The provided implementation queries each key with [`Query::involving`]; SQL stores
    ///   answer from their target index.
    ///
    /// # Errors
    /// Storage errors.
    fn newest_involving(&self, targets: &[TargetKey<'_>]) -> Result<Vec<u64>> {
        newest_involving_by_query(self, targets)
    }

    /// Rebuilds every derived row ([`AuditStore::derived_rows`]: target rows, change paths,
    /// search entries) from the stored events, in one transaction that holds the append
    /// lock and passes the store's guards as a sanctioned operation; for
    /// [`crate::AuditTrail::rebuild_indexes`]. Events and personal values are not touched.
    ///
    /// # Behavior
    /// - `Ok(None)` for a store that keeps no derived rows (the default): nothing to do.
    /// - Otherwise the number of events re-indexed; queries answer from the events as
    ///   [`crate::Query::matches`] would once it returns.
    ///
    /// # Errors
    /// Storage errors (nothing changed then).
    fn rebuild_derived(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}

/// A target as an event's links key it ([`SealedEvent::links`]): its kind and id within
/// one tenant (`None`: events without a tenant), so one tenant's chain of events about a
/// booking never passes through another tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey<'a> {
    /// The tenant of the events.
    pub tenant: Option<&'a str>,
    /// The target's kind.
    pub kind: &'a str,
    /// The target's id.
    pub id: &'a str,
}

/// The provided [`AuditStore::newest_involving`]: each key's events found by a query, the
/// tenant compared here (a query cannot ask for "no tenant").
fn newest_involving_by_query<S: AuditStore + ?Sized>(
    store: &S,
    targets: &[TargetKey<'_>],
) -> Result<Vec<u64>> {
    targets
        .iter()
        .map(|t| {
            let mut q = Query::new().involving(&crate::model::event::Target::new(t.kind, t.id));
            if let Some(tenant) = t.tenant {
                q = q.tenant(tenant);
            }
            Ok(store
                .query(&q, usize::MAX)?
                .iter()
                .filter(|e| e.tenant.as_deref() == t.tenant)
                .map(|e| e.seq)
                .max()
                .unwrap_or(0))
        })
        .collect()
}

/// Calls `f` on every stored event in seq order until it returns `false`.
fn scan<S: AuditStore + ?Sized>(
    store: &S,
    mut f: impl FnMut(SealedEvent) -> Result<bool>,
) -> Result<()> {
    let mut from = 1;
    loop {
        let chunk = store.read(from, 1_000)?;
        let Some(last) = chunk.last() else {
            return Ok(());
        };
        from = last.seq + 1;
        for s in chunk {
            if !f(s)? {
                return Ok(());
            }
        }
    }
}

fn find<S: AuditStore + ?Sized>(
    store: &S,
    pred: impl Fn(&SealedEvent) -> bool,
) -> Result<Option<SealedEvent>> {
    let mut out = None;
    scan(store, |s| {
        if pred(&s) {
            out = Some(s);
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(out)
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        // Every method forwards: a provided fallback here would hide the store's own.
        #[deny(clippy::missing_trait_methods)]
        impl<S: AuditStore + ?Sized> AuditStore for $ty {
            fn log_id(&self) -> Result<String> {
                (**self).log_id()
            }
            fn head(&self) -> Result<Head> {
                (**self).head()
            }
            fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
                (**self).append(expected, batch, new_head)
            }
            fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
                (**self).begin_append()
            }
            fn begin_or_queue(&self, drafts: &[&SealedEvent]) -> Result<queue::Turn<'_>> {
                (**self).begin_or_queue(drafts)
            }
            fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
                (**self).read(from, limit)
            }
            fn read_each(
                &self,
                from: u64,
                limit: usize,
                visit: &mut dyn FnMut(&SealedEventRef<'_>),
            ) -> Result<()> {
                (**self).read_each(from, limit, visit)
            }
            fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
                (**self).query(query, limit)
            }
            fn count(&self, query: &Query) -> Result<u64> {
                (**self).count(query)
            }
            fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
                (**self).get(id)
            }
            fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
                (**self).find_by_key(key)
            }
            fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
                (**self).summarize(query, by)
            }
            fn purge_anchor(&self) -> Result<Option<Head>> {
                (**self).purge_anchor()
            }
            fn purge(&self, anchor: &Head) -> Result<()> {
                (**self).purge(anchor)
            }
            fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
                (**self).erase(fields)
            }
            fn check_storage(&self) -> Result<()> {
                (**self).check_storage()
            }
            fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>> {
                (**self).derived_rows(from, to)
            }
            fn newest_involving(&self, targets: &[TargetKey<'_>]) -> Result<Vec<u64>> {
                (**self).newest_involving(targets)
            }
            fn rebuild_derived(&self) -> Result<Option<u64>> {
                (**self).rebuild_derived()
            }
        }
    )*};
}

forward!(Box<S>, Arc<S>);

/// Checks that a purge `anchor` lies between the current anchor and the head; for stores to
/// call in [`AuditStore::purge`].
///
/// # Errors
/// [`Error::Invalid`] naming the bound that `anchor.seq` violates.
pub fn check_purge(current: Option<&Head>, head: &Head, anchor: &Head) -> Result<()> {
    let floor = current.map_or(0, |a| a.seq);
    if anchor.seq > head.seq || anchor.seq < floor {
        return Err(Error::invalid(
            "anchor",
            format!(
                "seq {} must lie between the current purge anchor ({floor}) and the head ({})",
                anchor.seq, head.seq
            ),
        ));
    }
    Ok(())
}

/// Checks that `batch` continues `expected` contiguously; for stores to call in `append`.
///
/// # Errors
/// [`Error::Invalid`] when the seqs are not `expected + 1, expected + 2, ...`.
pub fn check_batch(expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
    for (i, e) in batch.iter().enumerate() {
        if e.seq != expected + 1 + i as u64 {
            return Err(Error::invalid(
                "batch",
                format!(
                    "event {i} has seq {}, expected {}; batches must continue the head contiguously",
                    e.seq,
                    expected + 1 + i as u64
                ),
            ));
        }
    }
    if new_head.seq != expected + batch.len() as u64 {
        return Err(Error::invalid(
            "new_head",
            format!(
                "seq {} does not match the end of the batch ({})",
                new_head.seq,
                expected + batch.len() as u64
            ),
        ));
    }
    Ok(())
}
