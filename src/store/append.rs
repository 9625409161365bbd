//! An append in progress: what a store hands the trail between taking its write lock and
//! committing, so that events are sealed against the head as it is under that lock.

use super::queue::{QueueId, Settled};
use super::{check_batch, AuditStore, Head, TargetKey};
use crate::store::sealed::SealedEvent;
use crate::{Error, Result};

/// A store that can append inside a transaction the application opened on its own
/// connection to the store's database, for [`crate::AuditTrail::record_in`]: the app's rows
/// and their events commit together or not at all. `T` is how the app lends its transaction
/// (`&rusqlite::Transaction` and `&rusqlite::Savepoint` for [`crate::sqlite::SqliteStore`]).
///
/// # Contract
///
/// - **Inside the caller's transaction.** [`AppendWithin::begin_append_within`] reads the
///   head in `tx` and holds the log's write lock there from its first write (or finds it
///   held): what the append reads is what `tx` sees, and no other append commits between its
///   head and `tx`'s commit. A `tx` that read a snapshot another writer has since moved past
///   gets [`Error::RetryTransaction`].
/// - **The caller commits.** [`Append::commit`] ends only the append's own part of `tx` (a
///   savepoint): the events become real when the caller commits `tx`, and a rollback leaves
///   no event and no gap in `seq`.
/// - **A refusal keeps `tx`.** An error from the append (a bad batch, an id or key already
///   stored, a failed write) leaves `tx` open and as it was before the append: none of the
///   events in it, the caller's own writes kept. It never rolls `tx` back behind the
///   caller's back.
/// - A `tx` on another database than the store's: [`Error::Invalid`], nothing written.
pub trait AppendWithin<T>: AuditStore {
    /// Begins an append inside `tx` (a borrow of the app's transaction: `&Transaction` for
    /// rusqlite, `&mut Transaction` for postgres); see the trait's contract.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a `tx` on another database; [`Error::RetryTransaction`];
    /// storage errors.
    fn begin_append_within<'a>(&'a self, tx: T) -> Result<Box<dyn Append + 'a>>
    where
        T: 'a;
}

/// A store that can append inside a transaction the application holds on an asynchronous
/// connection `C` (`sqlx::PgConnection` for [`crate::postgres::PgStore`]; feature `sqlx`),
/// for [`crate::AuditTrail::record_in_sqlx`]. The contract is [`AppendWithin`]'s; the append comes in
/// three steps so that the trail seals in between, without I/O: [`lock_within`] reads all
/// that sealing needs under the lock, then [`push_within`] writes the sealed batch (or
/// [`abandon_within`] writes nothing), and either ends the append.
///
/// [`lock_within`]: AppendWithinAsync::lock_within
/// [`push_within`]: AppendWithinAsync::push_within
/// [`abandon_within`]: AppendWithinAsync::abandon_within
#[cfg(feature = "sqlx")]
pub trait AppendWithinAsync<C: ?Sized>: AuditStore {
    /// Opens the append inside `conn`'s transaction (a savepoint of its own), takes the log's
    /// write lock there and reads under it the head, the newest event, the purge anchor,
    /// the stored event of each of `keys` and the newest event involving each of `targets`
    /// (as [`Append::newest_involving`]). On an error, nothing of the append is left in the
    /// transaction.
    ///
    /// # Errors
    /// As [`AppendWithin::begin_append_within`].
    fn lock_within<'a>(
        &'a self,
        conn: &'a mut C,
        keys: &'a [String],
        targets: &'a [TargetKey<'a>],
    ) -> impl std::future::Future<Output = Result<LockedWithin>> + Send + 'a;

    /// Writes `batch` (sealed against the locked head) and moves the head to `new_head`, then
    /// ends the append; on an error, rolls back to the append's savepoint first.
    ///
    /// # Errors
    /// As [`Append::push`]; [`Error::RetryTransaction`]; storage errors.
    fn push_within<'a>(
        &'a self,
        conn: &'a mut C,
        batch: &'a [SealedEvent],
        new_head: &'a Head,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'a;

    /// Ends an append that writes nothing (its events all found by their keys, or refused).
    ///
    /// # Errors
    /// Storage errors.
    fn abandon_within<'a>(
        &'a self,
        conn: &'a mut C,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'a;
}

/// What [`AppendWithinAsync::lock_within`] read under the lock.
#[cfg(feature = "sqlx")]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LockedWithin {
    /// The head the events follow.
    pub head: Head,
    /// The stored event at the head's seq, as [`Append::newest`].
    pub newest: Option<SealedEvent>,
    /// The purge anchor, as [`Append::purge_anchor`].
    pub purge_anchor: Option<Head>,
    /// Each key asked for, with the event stored under it.
    pub keyed: Vec<(String, Option<SealedEvent>)>,
    /// For each target asked for, in order, the seq of the newest event involving it (0:
    /// none); set with [`LockedWithin::with_involving`].
    pub involving: Vec<u64>,
}

#[cfg(feature = "sqlx")]
impl LockedWithin {
    /// What was read under the lock.
    pub fn new(
        head: Head,
        newest: Option<SealedEvent>,
        purge_anchor: Option<Head>,
        keyed: Vec<(String, Option<SealedEvent>)>,
    ) -> Self {
        LockedWithin {
            head,
            newest,
            purge_anchor,
            keyed,
            involving: Vec::new(),
        }
    }

    /// What was read, with the newest event involving each target asked for.
    pub fn with_involving(mut self, involving: Vec<u64>) -> Self {
        self.involving = involving;
        self
    }
}

/// [`LockedWithin`] as an [`Append`], so the trail seals against it as against any other:
/// reads come from what was read, and the pushed batch is kept for the caller to write.
#[cfg(feature = "sqlx")]
pub(crate) struct Prefetched<'a> {
    pub(crate) locked: LockedWithin,
    /// The targets whose newest events `locked` holds, in its order.
    pub(crate) targets: &'a [TargetKey<'a>],
    pub(crate) pushed: &'a mut Option<(Vec<SealedEvent>, Head)>,
}

#[cfg(feature = "sqlx")]
impl Append for Prefetched<'_> {
    fn head(&self) -> &Head {
        &self.locked.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        Ok(self.locked.newest.clone())
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        Ok(self.locked.purge_anchor.clone())
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        match self.locked.keyed.iter().find(|(k, _)| k == key) {
            Some((_, e)) => Ok(e.clone()),
            None => Err(Error::corrupt(format!(
                "idempotency key {key:?} was not read under the lock"
            ))),
        }
    }

    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        targets
            .iter()
            .map(|t| {
                let at = self.targets.iter().position(|k| k == t);
                match at.and_then(|i| self.locked.involving.get(i)) {
                    Some(&seq) => Ok(seq),
                    None => Err(Error::corrupt(format!(
                        "target {}:{} was not read under the lock",
                        t.kind, t.id
                    ))),
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let at = self.pushed.as_ref().map_or(&self.locked.head, |(_, h)| h);
        check_batch(at.seq, batch, new_head)?;
        let (events, head) = self
            .pushed
            .get_or_insert_with(|| (Vec::new(), self.locked.head.clone()));
        events.extend_from_slice(batch);
        *head = new_head.clone();
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// An append in progress, from [`AuditStore::begin_append`] to [`Append::commit`].
///
/// The trail reads [`Append::head`] (and, when it does not know it yet, the newest event and
/// any idempotency key it must honour) through the append, seals its events against that head
/// in the core's integrity module, hands them over with [`Append::push`] (once, or several
/// times as more callers arrive) and commits.
///
/// # Contract
///
/// - **Sealing never races.** From `begin_append` until `commit` returns or the append is
///   dropped, no other append to the same log commits in between: a store that can lock takes
///   its write lock in `begin_append` (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the head row
///   `FOR UPDATE`), so `head` is the head the batch will follow and no hand-off is wasted. A
///   store that cannot lock uses the provided [`AuditStore::begin_append`], whose `commit` is a
///   compare-and-append ([`AuditStore::append`]) that returns [`Error::Conflict`] when another
///   writer got there first; the trail then begins again.
/// - **All or nothing.** Everything pushed commits together with the last pushed head, or
///   nothing does; dropping the append without `commit` writes nothing.
/// - **Reads under the lock.** `newest` and `find_by_key` see the log as `head` describes it.
/// - A store never hashes: the events arrive sealed.
pub trait Append {
    /// The head the next pushed event follows: the locked head at first, then the head of the
    /// last push.
    fn head(&self) -> &Head;

    /// The stored event at the locked head's seq (`None` for an empty log, or one purged
    /// through its head), read under the lock: the trail checks it against the head before
    /// sealing onto it.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn newest(&mut self) -> Result<Option<SealedEvent>>;

    /// The purge anchor, read under the lock (the trail asks when `newest` finds no event at
    /// the head: a log purged through its head links on from the anchor).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn purge_anchor(&mut self) -> Result<Option<Head>>;

    /// The stored event recorded with idempotency key `key`, read under the lock (so that two
    /// writers with the same key never both append).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>>;

    /// For each of `targets`, the seq of the newest event of its tenant that involves it, 0
    /// when none, as the log is at [`Append::head`] (what the trail links the batch's events
    /// to, [`SealedEvent::links`]); read under the lock.
    ///
    /// # Behavior
    /// - `Ok(None)` (the provided implementation): the trail asks
    ///   [`AuditStore::newest_involving`] instead, while this append is open. That is right
    ///   for an append that holds no lock (the provided optimistic one); a store whose append
    ///   holds a lock its reads would wait for, or runs in a transaction of its own or in the
    ///   app's ([`AppendWithin`]), answers here, from inside it.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        let _ = targets;
        Ok(None)
    }

    /// Adds `batch` (seqs `head().seq + 1 ..`, in order) with `new_head` as the head after it.
    /// A store may write it at once (so the work overlaps with callers still arriving) or
    /// keep it until `commit`.
    ///
    /// # Behavior
    /// - Seqs that do not follow [`Append::head`], or a `new_head` that does not match the
    ///   last event: [`Error::Invalid`], nothing added.
    /// - An id or idempotency key already stored: [`Error::Conflict`].
    ///
    /// # Errors
    /// As above; storage errors. After an error the append is dropped, not committed.
    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()>;

    /// Makes everything pushed durable, with the head, to the store's stated durability, and
    /// releases the lock. Committing an append with nothing pushed also makes durable what it
    /// read (the trail commits one whose drafts were all found by their idempotency keys).
    ///
    /// # Errors
    /// [`Error::Conflict`] from an optimistic append that lost the race (nothing written);
    /// storage errors, after which the trail reads the events back to learn whether they were
    /// committed after all.
    fn commit(self: Box<Self>) -> Result<()>;

    /// Drafts other writers queued while this append's lock was taken
    /// ([`AuditStore::begin_or_queue`]), oldest first and at most a batch's worth, with their
    /// places in the queue: the trail seals them ahead of its own and settles each.
    ///
    /// # Behavior
    /// - A store without a queue has none (the provided implementation).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn queued(&mut self) -> Result<Vec<(QueueId, SealedEvent)>> {
        Ok(Vec::new())
    }

    /// Records what became of queued drafts (from [`Append::queued`]): taken out of the queue
    /// when this append commits, and told to their writers only once it is durable.
    ///
    /// # Behavior
    /// - The provided implementation, for a store without a queue, refuses any outcome.
    ///
    /// # Errors
    /// [`Error::Invalid`] for drafts this append did not hand out.
    fn settle(&mut self, outcomes: &[(QueueId, Settled)]) -> Result<()> {
        match outcomes.first() {
            None => Ok(()),
            Some((id, _)) => Err(Error::invalid(
                "settle",
                format!(
                    "queue id {} was not handed out by this append, which has no queue",
                    id.0
                ),
            )),
        }
    }
}

/// The provided [`AuditStore::begin_append`]: the head read without a lock, the pushed events
/// kept, and one compare-and-append at commit.
pub(crate) struct Optimistic<'a, S: ?Sized> {
    store: &'a S,
    /// The head read at the start: what the compare-and-append expects.
    start: Head,
    /// The head after the last push.
    head: Head,
    pending: Vec<SealedEvent>,
}

impl<'a, S: AuditStore + ?Sized> Optimistic<'a, S> {
    pub(crate) fn begin(store: &'a S) -> Result<Self> {
        Ok(Self::expecting(store, store.head()?))
    }

    /// An append that expects the head to be `head`, without reading it: for a writer that
    /// knows the head it left behind and expects nobody else to have appended since.
    pub(crate) fn expecting(store: &'a S, head: Head) -> Self {
        Optimistic {
            store,
            start: head.clone(),
            head,
            pending: Vec::new(),
        }
    }
}

impl<S: AuditStore + ?Sized> Append for Optimistic<'_, S> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        let seq = self.start.seq;
        if seq == 0 {
            return Ok(None);
        }
        Ok(self.store.read(seq, 1)?.into_iter().find(|e| e.seq == seq))
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        self.store.purge_anchor()
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        self.store.find_by_key(key)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        check_batch(self.head.seq, batch, new_head)?;
        self.pending.extend_from_slice(batch);
        self.head = new_head.clone();
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.store.append(self.start.seq, &self.pending, &self.head)
    }
}

/// [`AuditStore::append`] for a store whose own [`AuditStore::begin_append`] locks: the head
/// compared under the lock, then one push and a commit.
///
/// # Errors
/// [`Error::Conflict`] when the head is not at `expected`; as [`Append::push`] and
/// [`Append::commit`] otherwise.
pub fn append_through<S: AuditStore + ?Sized>(
    store: &S,
    expected: u64,
    batch: &[SealedEvent],
    new_head: &Head,
) -> Result<()> {
    check_batch(expected, batch, new_head)?;
    let mut tx = store.begin_append()?;
    let actual = tx.head().seq;
    if actual != expected {
        return Err(Error::Conflict { expected, actual });
    }
    tx.push(batch, new_head)?;
    tx.commit()
}
