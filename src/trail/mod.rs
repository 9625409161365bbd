//! [`AuditTrail`]: validate → redact → stamp → seal → store, with group commit.
//!
//! Layer: the pipeline users call (prepare, group commit, reads, exports, retention,
//! erasure); uses every layer below it but no backend.

pub(crate) mod config;
pub(crate) mod erasure;
pub(crate) mod export;
pub(crate) mod pages;
pub(crate) mod retention;
#[cfg(feature = "sign")]
mod sign;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::integrity::{self, hashes, merkle, Checkpoint, VerifyReport};
use crate::model::event::{Event, Target};
use crate::model::new_event::NewEvent;
use crate::query::summary::GroupBy;
use crate::query::{Cursor, Page, Query};
use crate::store::sealed::SealedEvent;
use crate::store::{AuditStore, Head};
use crate::trail::config::{normalize, TrailConfig};
use crate::{model::time_util, Error, Result};

/// How often a batch is resealed after losing a compare-and-append race before giving up.
const MAX_CONFLICT_RETRIES: u32 = 1_000;

/// How long a group-commit leader waits for the callers of the previous group to queue
/// again: far below one durable commit, so waiting costs less than the sync it saves.
const GATHER_WAIT: Duration = Duration::from_micros(300);

/// The audit trail: records events into a store and reads, verifies and exports them.
///
/// `AuditTrail` is `Send + Sync` and cheap to clone (an `Arc` inside): share one per store.
/// It is synchronous; from async code call it inside `spawn_blocking`.
///
/// Concurrent [`record`](AuditTrail::record) calls are grouped into one store transaction
/// (group commit); each call still returns only after its own event is durable.
pub struct AuditTrail<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for AuditTrail<S> {
    fn clone(&self) -> Self {
        AuditTrail {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for AuditTrail<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<S> {
    store: S,
    config: TrailConfig,
    log_id: OnceLock<String>,
    state: Mutex<State>,
    done: Condvar,
    /// Signalled when a job is queued while a leader gathers its group.
    arrived: Condvar,
}

#[derive(Default)]
struct State {
    queue: Vec<Job>,
    leading: bool,
    /// Jobs in the last group committed: how many callers are likely to come back.
    last_group: usize,
    tip: Option<Tip>,
    finished: HashMap<u64, Result<Vec<Stored>>>,
    next_ticket: u64,
}

/// Each job's result, by ticket.
type JobResults = Vec<(u64, Result<Vec<Stored>>)>;

/// One event of a job's result.
enum Stored {
    /// Sealed from the job's own draft at this position: what sealing stamped on it.
    Own(Stamp),
    /// Recorded earlier with the same idempotency key (before this group, or from an
    /// earlier draft of it).
    Other(Box<SealedEvent>),
}

/// The fields sealing stamps on a draft.
struct Stamp {
    seq: u64,
    id: Uuid,
    recorded_at: OffsetDateTime,
    prev_hash: integrity::Hash,
    hash: integrity::Hash,
}

struct Job {
    ticket: u64,
    drafts: Vec<SealedEvent>,
}

/// The head plus what stamping the next event needs.
#[derive(Clone)]
struct Tip {
    head: Head,
    last_recorded: OffsetDateTime,
    last_id: Uuid,
}

/// Builds an [`AuditTrail`] with non-default settings.
#[derive(Debug)]
#[must_use]
pub struct TrailBuilder<S> {
    store: S,
    config: TrailConfig,
}

impl<S: AuditStore> TrailBuilder<S> {
    /// Largest canonical JSON of `before` + `after` + `context` together, in bytes
    /// (default [`crate::DEFAULT_MAX_PAYLOAD_BYTES`], 64 KiB).
    pub fn max_payload_bytes(mut self, n: usize) -> Self {
        self.config.max_payload_bytes = n;
        self
    }

    /// Replaces the keys masked before storage (default [`crate::DEFAULT_REDACT_KEYS`]).
    pub fn redact_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.config.redact_keys = keys.into_iter().map(|k| normalize(k.as_ref())).collect();
        self
    }

    /// Adds to the keys masked before storage.
    pub fn also_redact<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.config
            .redact_keys
            .extend(keys.into_iter().map(|k| normalize(k.as_ref())));
        self
    }

    /// Top-level keys of `before`, `after` and `context` that hold personal data (phone,
    /// email, address...): they are stored as erasable values with a salted commitment, like
    /// actor names and target labels. Applies to events recorded from now on (default: none).
    pub fn personal_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.config.personal_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The trail.
    pub fn build(self) -> AuditTrail<S> {
        AuditTrail {
            inner: Arc::new(Inner {
                store: self.store,
                config: self.config,
                log_id: OnceLock::new(),
                state: Mutex::default(),
                done: Condvar::new(),
                arrived: Condvar::new(),
            }),
        }
    }
}

impl<S: AuditStore> AuditTrail<S> {
    /// A trail over `store` with default settings.
    pub fn new(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder for a trail over `store`.
    pub fn builder(store: S) -> TrailBuilder<S> {
        TrailBuilder {
            store,
            config: TrailConfig::default(),
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The log's id, as the store reports it.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn log_id(&self) -> Result<&str> {
        if let Some(id) = self.inner.log_id.get() {
            return Ok(id);
        }
        let id = self.inner.store.log_id()?;
        Ok(self.inner.log_id.get_or_init(|| id))
    }

    /// Records one event and returns it as stored.
    ///
    /// Returns once the event is durable. With an idempotency key already recorded, returns
    /// the event recorded first and stores nothing.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field for bad input (nothing is stored); [`Error::Busy`]
    /// when the database stays locked; storage errors. [`Error::OutcomeUnknown`] when the store
    /// failed in a way that leaves open whether the event was committed.
    pub fn record(&self, event: NewEvent) -> Result<Event> {
        let mut events = self.record_batch(vec![event])?;
        Ok(events.remove(0))
    }

    /// Records several events atomically: all are stored, contiguously and in order, or none.
    ///
    /// # Errors
    /// As [`AuditTrail::record`]; an invalid event fails the whole batch, naming its index.
    pub fn record_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let many = events.len() > 1;
        let (drafts, mut out): (Vec<SealedEvent>, Vec<Event>) = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                e.prepare_with_event(&self.inner.config)
                    .map_err(|err| match err {
                        Error::Invalid { field, problem } if many => Error::Invalid {
                            field: format!("events[{i}].{field}"),
                            problem,
                        },
                        other => other,
                    })
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        self.log_id()?;
        let stored = self.submit(drafts)?;
        for (event, s) in out.iter_mut().zip(stored) {
            match s {
                // The event prepared with the draft is what decoding the stored one gives.
                Stored::Own(stamp) => {
                    event.seq = stamp.seq;
                    event.id = stamp.id;
                    event.recorded_at = stamp.recorded_at;
                    event.prev_hash = stamp.prev_hash;
                    event.hash = stamp.hash;
                }
                Stored::Other(sealed) => *event = sealed.decode()?,
            }
        }
        Ok(out)
    }

    /// Queues `drafts` for the next group commit and waits for its result; the first caller
    /// to find no commit in progress leads it.
    fn submit(&self, drafts: Vec<SealedEvent>) -> Result<Vec<Stored>> {
        let inner = &*self.inner;
        let mut st = lock(&inner.state);
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.queue.push(Job { ticket, drafts });
        if st.leading {
            inner.arrived.notify_one();
        }
        loop {
            if let Some(r) = st.finished.remove(&ticket) {
                return r;
            }
            if st.leading {
                st = inner.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.leading = true;
            // The callers of the last group are on their way back with their next events
            // while this one forms; without a short wait, concurrent callers split into two
            // cohorts that commit alternately, each half as large (and twice as many syncs).
            // A lone caller never waits: its last group held only itself.
            let deadline = std::time::Instant::now() + GATHER_WAIT;
            while st.queue.len() < st.last_group {
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                st = inner
                    .arrived
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            let jobs = std::mem::take(&mut st.queue);
            st.last_group = jobs.len();
            let tip = st.tip.take();
            drop(st);
            // Answers every taken job and resets `leading` even if committing panics, so
            // waiters are never stranded.
            let mut guard = LeaderGuard {
                inner,
                tickets: jobs.iter().map(|j| j.ticket).collect(),
            };
            let (results, tip) = self.commit_group(jobs, tip);
            // Disarmed, not forgotten: forgetting would leak the ticket list on every commit.
            guard.tickets.clear();
            drop(guard);
            st = lock(&inner.state);
            st.leading = false;
            st.tip = tip;
            st.finished.extend(results);
            inner.done.notify_all();
        }
    }

    fn load_tip(&self) -> Result<Tip> {
        let store = &self.inner.store;
        let mut head = store.head()?;
        if head.seq == 0 {
            head.hash = hashes::genesis(self.log_id()?);
            return Ok(Tip {
                head,
                last_recorded: OffsetDateTime::UNIX_EPOCH,
                last_id: Uuid::nil(),
            });
        }
        if !merkle::fits(&head.frontier, head.seq) {
            return Err(Error::Corrupt(format!(
                "the stored head at seq {} has {} frontier hashes, {} expected",
                head.seq,
                head.frontier.len(),
                head.seq.count_ones()
            )));
        }
        let last = store.read(head.seq, 1)?;
        match last.first() {
            // Decoded and re-hashed, not only compared: a file cut short or overwritten can
            // keep the stored hashes while the event's fields are damaged.
            Some(e) if integrity::chain::is_tip(self.log_id()?, e, &head) => Ok(Tip {
                last_recorded: e.recorded_at,
                last_id: e.id,
                head,
            }),
            // Sealing on would extend a chain whose head does not match its newest event.
            Some(e) if e.seq == head.seq => Err(Error::Corrupt(format!(
                "the stored head at seq {} does not match the newest event, which is damaged or altered; nothing was appended, run verify",
                head.seq
            ))),
            // Purged through the head (only a store-level purge does that): the next event
            // links to the anchor, which is the head.
            None if store.purge_anchor()?.is_some_and(|a| a.seq == head.seq) => Ok(Tip {
                head,
                last_recorded: OffsetDateTime::UNIX_EPOCH,
                last_id: Uuid::nil(),
            }),
            _ => Err(Error::Corrupt(format!(
                "the head records seq {} but that event cannot be read; run verify",
                head.seq
            ))),
        }
    }

    /// Seals every queued draft against the head and appends them in one store call,
    /// resealing on conflicts. Returns each job's result and the new tip (if known).
    fn commit_group(&self, jobs: Vec<Job>, tip: Option<Tip>) -> (JobResults, Option<Tip>) {
        let fail_all = |jobs: &[Job], e: &Error| {
            jobs.iter()
                .map(|j| (j.ticket, Err(duplicate(e))))
                .collect::<Vec<_>>()
        };
        let mut tip = match tip.map(Ok).unwrap_or_else(|| self.load_tip()) {
            Ok(t) => t,
            Err(e) => return (fail_all(&jobs, &e), None),
        };
        let log_id = self
            .inner
            .log_id
            .get()
            .expect("log id is read before submit")
            .clone();
        let store = &self.inner.store;
        let mut attempt = 0;
        loop {
            match self.seal_and_append(store, &log_id, &jobs, &tip) {
                Ok((results, new_tip)) => return (results, Some(new_tip.unwrap_or(tip))),
                Err(e) if e.is_conflict() && attempt < MAX_CONFLICT_RETRIES => {
                    attempt += 1;
                    if attempt > 3 {
                        std::thread::sleep(Duration::from_micros(50 * u64::from(attempt.min(100))));
                    }
                    match self.load_tip() {
                        Ok(t) => tip = t,
                        Err(e) => return (fail_all(&jobs, &e), None),
                    }
                }
                Err(e) => return (fail_all(&jobs, &e), None),
            }
        }
    }

    fn seal_and_append(
        &self,
        store: &S,
        log_id: &str,
        jobs: &[Job],
        tip: &Tip,
    ) -> Result<(JobResults, Option<Tip>)> {
        enum Slot {
            Existing(Box<SealedEvent>),
            /// Sealed from this draft, at this index of the batch.
            Own(usize),
            /// Another draft with the same key was sealed at this index of the batch.
            Same(usize),
        }
        let mut next = tip.clone();
        let mut batch: Vec<SealedEvent> = Vec::new();
        let mut keys: HashMap<&str, usize> = HashMap::new();
        let mut slots: Vec<Vec<Slot>> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut job_slots = Vec::with_capacity(job.drafts.len());
            for draft in &job.drafts {
                if let Some(k) = draft.idempotency_key.as_deref() {
                    if let Some(&i) = keys.get(k) {
                        job_slots.push(Slot::Same(i));
                        continue;
                    }
                    if let Some(existing) = store.find_by_key(k)? {
                        job_slots.push(Slot::Existing(Box::new(existing)));
                        continue;
                    }
                    keys.insert(k, batch.len());
                }
                job_slots.push(Slot::Own(batch.len()));
                batch.push(seal(log_id, draft, &mut next));
            }
            slots.push(job_slots);
        }
        if !batch.is_empty() {
            if let Err(e) = store.append(tip.head.seq, &batch, &next.head) {
                if e.is_conflict() || e.is_invalid() || e.is_busy() {
                    return Err(e);
                }
                // The write may have been committed before the error surfaced (a connection
                // lost during COMMIT): look, and report only what the store shows.
                let ours = |found: &[SealedEvent]| {
                    found
                        .iter()
                        .zip(&batch)
                        .take_while(|(a, b)| a.seq == b.seq && a.id == b.id)
                        .count()
                };
                match store.read(batch[0].seq, batch.len()) {
                    Ok(found) if ours(&found) == batch.len() => {}
                    Ok(found) if ours(&found) == 0 => return Err(e),
                    Ok(found) => {
                        return Err(Error::Corrupt(format!(
                            "the store kept {} of the {} events of one batch after an append error ({e}); it breaks the all-or-nothing contract",
                            ours(&found),
                            batch.len()
                        )))
                    }
                    Err(read_err) => {
                        let last = &batch[batch.len() - 1];
                        return Err(Error::OutcomeUnknown(format!(
                            "appending seq {}..={} (ids {} to {}) failed with \"{e}\" and reading them back failed with \"{read_err}\"",
                            batch[0].seq, last.seq, batch[0].id, last.id
                        )));
                    }
                }
            }
        }
        let results = jobs
            .iter()
            .zip(slots)
            .map(|(job, job_slots)| {
                let events = job_slots
                    .into_iter()
                    .map(|s| match s {
                        Slot::Existing(e) => Stored::Other(e),
                        Slot::Own(i) => {
                            let e = &batch[i];
                            Stored::Own(Stamp {
                                seq: e.seq,
                                id: e.id,
                                recorded_at: e.recorded_at,
                                prev_hash: e.prev_hash,
                                hash: e.hash,
                            })
                        }
                        Slot::Same(i) => Stored::Other(Box::new(batch[i].clone())),
                    })
                    .collect();
                (job.ticket, Ok(events))
            })
            .collect();
        Ok((results, (!batch.is_empty()).then_some(next)))
    }

    /// The event with this id.
    ///
    /// # Errors
    /// When the store cannot be read or the event cannot be decoded.
    pub fn get(&self, id: Uuid) -> Result<Option<Event>> {
        self.inner.store.get(id)?.map(|s| s.decode()).transpose()
    }

    /// One page of events matching `query`; continue with `query.after(page.next)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unanswerable query (bad limit, empty search); storage errors.
    pub fn query(&self, query: &Query) -> Result<Page> {
        query.validate()?;
        let limit = query.page_size();
        let mut found = self.inner.store.query(query, limit + 1)?;
        let more = found.len() > limit;
        found.truncate(limit);
        let events = found
            .iter()
            .map(SealedEvent::decode)
            .collect::<Result<Vec<_>>>()?;
        let next = if more {
            events.last().map(Cursor::after_event)
        } else {
            None
        };
        Ok(Page { events, next })
    }

    /// How many events match `query` (its limit is ignored).
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub fn count(&self, query: &Query) -> Result<u64> {
        query.validate()?;
        self.inner.store.count(query)
    }

    /// Calls `f` on every event matching `query`, in its order, ignoring its limit; memory
    /// stays bounded by a few pages of [`crate::query::MAX_LIMIT`] events. Past the first
    /// page, the next pages are read and decoded on two other threads while `f` runs.
    ///
    /// # Errors
    /// As [`AuditTrail::query`], or the first error `f` returns.
    pub fn for_each(&self, query: &Query, mut f: impl FnMut(Event) -> Result<()>) -> Result<()> {
        crate::trail::pages::for_each_page(
            &self.inner.store,
            query,
            |page| {
                page.iter()
                    .map(SealedEvent::decode)
                    .collect::<Result<Vec<_>>>()
            },
            |events| events.into_iter().try_for_each(&mut f),
        )
    }

    /// How many events match `query` (its limit ignored) per action, per actor or per day in
    /// a time zone, for report views: new and modified bookings per day, who did what this
    /// week.
    ///
    /// Days come in calendar order (days without events are left out); actions and actors
    /// by count, largest first, then by name.
    ///
    /// ```
    /// # fn main() -> auditkit::Result<()> {
    /// use auditkit::{AuditTrail, GroupBy, MemoryStore, NewEvent, Query};
    /// use time::macros::datetime;
    ///
    /// let trail = AuditTrail::new(MemoryStore::new());
    /// // 23:30 UTC on 28 March is already 29 March in Berlin.
    /// for t in [datetime!(2026-03-28 10:00 UTC), datetime!(2026-03-28 23:30 UTC)] {
    ///     trail.record(NewEvent::new("booking.created").occurred_at(t))?;
    /// }
    /// let per_day = trail.summarize(&Query::new(), &GroupBy::day_in("Europe/Berlin"))?;
    /// assert_eq!(per_day, [("2026-03-28".to_string(), 1), ("2026-03-29".to_string(), 1)]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unanswerable query or an unknown zone (field `zone`);
    /// storage errors.
    pub fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        query.validate()?;
        by.validate()?;
        let counts = self.inner.store.summarize(query, by)?;
        Ok(crate::query::summary::finish(by, counts))
    }

    /// Every event whose target is exactly `target` (not merely related), newest first, across
    /// tenants. Scope it with a [`Query`] and `.tenant(..)` where target ids are not unique.
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub fn history(&self, target: &Target) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        self.for_each(&Query::new().target(target), |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// Recomputes every hash of the chain, in bounded memory.
    ///
    /// Returns `Ok` with `report.fault` set for a tampered log; `Err` only when the store
    /// cannot be read. Without an outside checkpoint, cutting off the newest events together
    /// with the recorded head cannot be detected: keep checkpoints and use
    /// [`AuditTrail::verify_against`].
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn verify(&self) -> Result<VerifyReport> {
        integrity::verify::run(&Log(&self.inner.store), self.log_id()?, None)
    }

    /// [`AuditTrail::verify`], and also checks that the log still holds exactly what
    /// `checkpoint` stated, which catches deletion of the newest events.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the checkpoint belongs to another log; as
    /// [`AuditTrail::verify`] otherwise.
    pub fn verify_against(&self, checkpoint: &Checkpoint) -> Result<VerifyReport> {
        let log_id = self.log_id()?;
        let origin = format!("{}{log_id}", integrity::checkpoint::ORIGIN_PREFIX);
        if checkpoint.origin != origin {
            return Err(Error::Checkpoint(format!(
                "it is for log {:?}, this log is {origin:?}",
                checkpoint.origin
            )));
        }
        integrity::verify::run(&Log(&self.inner.store), log_id, Some(checkpoint))
    }

    /// The log's current checkpoint: size, Merkle root and chain head, as a C2SP note.
    ///
    /// Keep it somewhere the database's owner cannot rewrite; [`AuditTrail::verify_against`]
    /// then proves nothing up to it changed.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the stored head does not match the newest event; storage errors.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let log_id = self.log_id()?.to_owned();
        // `load_tip` checks the head against the newest event (or the purge anchor).
        let tip = self.load_tip()?;
        Ok(Checkpoint::new(
            &log_id,
            tip.head.seq,
            merkle::root(&tip.head.frontier),
            tip.head.hash,
        ))
    }
}

/// A store seen as the plain log verification reads.
pub(crate) struct Log<'a, S: ?Sized>(pub(crate) &'a S);

impl<S: AuditStore + ?Sized> integrity::verify::EventSource for Log<'_, S> {
    fn head(&self) -> Result<Head> {
        self.0.head()
    }
    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.0.purge_anchor()
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&crate::store::sealed::SealedEventRef<'_>),
    ) -> Result<()> {
        self.0.read_each(from, limit, visit)
    }
    fn check_storage(&self) -> Result<()> {
        self.0.check_storage()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct LeaderGuard<'a, S> {
    inner: &'a Inner<S>,
    tickets: Vec<u64>,
}

impl<S> Drop for LeaderGuard<'_, S> {
    fn drop(&mut self) {
        if self.tickets.is_empty() {
            return;
        }
        let mut st = lock(&self.inner.state);
        st.leading = false;
        st.tip = None;
        for t in &self.tickets {
            st.finished.insert(
                *t,
                Err(Error::OutcomeUnknown(
                    "the group commit panicked; read the event back before retrying".into(),
                )),
            );
        }
        self.inner.done.notify_all();
    }
}

/// Stamps `draft` as the event after `tip` and advances `tip` past it.
fn seal(log_id: &str, draft: &SealedEvent, tip: &mut Tip) -> SealedEvent {
    let mut e = draft.clone();
    e.recorded_at = time_util::now().max(tip.last_recorded);
    let micros = time_util::to_micros(e.recorded_at);
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        (micros / 1_000_000) as u64,
        ((micros % 1_000_000) * 1_000) as u32,
    );
    e.id = Uuid::new_v7(ts);
    if e.id <= tip.last_id {
        e.id = Uuid::from_u128(tip.last_id.as_u128() + 1);
    }
    integrity::chain::extend(log_id, &mut tip.head, &mut e);
    tip.last_recorded = e.recorded_at;
    tip.last_id = e.id;
    e
}

/// A copy of `e` for each waiter of a failed group commit.
fn duplicate(e: &Error) -> Error {
    match e {
        Error::Invalid { field, problem } => Error::Invalid {
            field: field.clone(),
            problem: problem.clone(),
        },
        Error::Conflict { expected, actual } => Error::Conflict {
            expected: *expected,
            actual: *actual,
        },
        Error::Busy(s) => Error::Busy(s.clone()),
        Error::Malformed { what, problem } => Error::Malformed {
            what,
            problem: problem.clone(),
        },
        Error::SchemaTooNew { found, supported } => Error::SchemaTooNew {
            found: *found,
            supported: *supported,
        },
        Error::Corrupt(s) => Error::Corrupt(s.clone()),
        Error::Checkpoint(s) => Error::Checkpoint(s.clone()),
        Error::Payload(s) => Error::Payload(s.clone()),
        Error::Unsupported(s) => Error::Unsupported(s.clone()),
        Error::OutcomeUnknown(s) => Error::OutcomeUnknown(s.clone()),
        Error::Storage(s) => Error::Storage(s.clone()),
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
    }
}
