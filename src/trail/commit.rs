//! Group commit: queueing callers' drafts, sealing them against the tip under one leader and
//! appending them in one store call.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{idempotency, AuditTrail, Inner};
use crate::integrity::{self, hashes, merkle};
use crate::store::append::Optimistic;
use crate::store::queue::{Queue, QueueId, Settled, Stamp, Turn};
use crate::store::sealed::SealedEvent;
use crate::store::{Append, AuditStore, Head, TargetKey};
use crate::{model::time_util, Error, Result};

/// How often a batch is resealed after losing a compare-and-append race before giving up.
const MAX_CONFLICT_RETRIES: u32 = 1_000;

/// How long a writer whose drafts are queued behind another's append waits for them before
/// it reports the outcome as unknown (a live writer seals a queue within milliseconds; the
/// crash tests see a queued writer wait this long now and then after a server restart, a
/// stall not yet explained, so the caller gets an answer it can retry on).
const QUEUE_PATIENCE: Duration = Duration::from_secs(10);

/// How long a queued writer waits with no word of the queue being sealed before it tries the
/// lock itself (the writer that held it has gone), and the longest it waits between tries.
const QUEUE_FIRST_WAIT: Duration = Duration::from_millis(20);
const QUEUE_MAX_WAIT: Duration = Duration::from_millis(200);

/// How many more appends a writer that sealed queued drafts makes while the queue has more.
const QUEUE_DRAIN_ROUNDS: usize = 4;

/// How long a group-commit leader waits for the callers of the previous group to queue
/// again: far below one durable commit, so waiting costs less than the sync it saves.
const GATHER_WAIT: Duration = Duration::from_micros(300);

#[derive(Default)]
pub(super) struct State {
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

/// What one append did: each job's result, each queued draft's outcome, the new tip.
type Integrated = (JobResults, Vec<(QueueId, Settled)>, Option<Tip>);

/// A commit that failed in a way that may have committed after all: the batch to read back,
/// and the error to report if none of it is there.
struct Lost {
    batch: Vec<SealedEvent>,
    error: Error,
}

/// One event of a job's result.
pub(super) enum Stored {
    /// Sealed from the job's own draft at this position: what sealing stamped on it.
    Own(Stamp),
    /// Recorded earlier with the same idempotency key (before this group, or from an
    /// earlier draft of it).
    Other(Box<SealedEvent>),
}

struct Job {
    ticket: u64,
    drafts: Vec<SealedEvent>,
}

/// The head plus what stamping the next event needs.
#[derive(Clone)]
pub(super) struct Tip {
    pub(super) head: Head,
    last_recorded: OffsetDateTime,
    last_id: Uuid,
    /// This trail appended the head and found nobody else appending before it: the next
    /// group is appended with [`AuditStore::append`] expecting this head, no lock taken
    /// first (one round trip on a server). Cleared when that loses to another writer.
    alone: bool,
}

impl<S: AuditStore> AuditTrail<S> {
    /// Queues `drafts` for the next group commit and waits for its result; the first caller
    /// to find no commit in progress leads it.
    pub(super) fn submit(&self, drafts: Vec<SealedEvent>) -> Result<Vec<Stored>> {
        let mut results = self.submit_jobs(vec![drafts], true);
        results.pop().unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Queues each batch of `batches` as its own job (each all or nothing, as from its own
    /// caller) for the next group commit and waits for all their results, in order: how the
    /// async trail's one writer thread hands over everything its callers have queued.
    #[cfg(feature = "async")]
    pub(super) fn submit_all(&self, batches: Vec<Vec<SealedEvent>>) -> Vec<Result<Vec<Stored>>> {
        // The writer hands over all it has: nobody else is on the way to wait for.
        self.submit_jobs(batches, false)
    }

    /// [`Self::submit_all`]; with `gather`, a leader first waits briefly for the callers of
    /// the last group to come back (threads that each record in a loop).
    fn submit_jobs(
        &self,
        batches: Vec<Vec<SealedEvent>>,
        gather: bool,
    ) -> Vec<Result<Vec<Stored>>> {
        let inner = &*self.inner;
        let mut st = lock(&inner.state);
        let mut waiting: Vec<(u64, Option<Result<Vec<Stored>>>)> =
            Vec::with_capacity(batches.len());
        for drafts in batches {
            let ticket = st.next_ticket;
            st.next_ticket += 1;
            st.queue.push(Job { ticket, drafts });
            waiting.push((ticket, None));
        }
        if st.leading {
            inner.arrived.notify_one();
        }
        let mut left = waiting.len();
        loop {
            for (ticket, result) in waiting.iter_mut().filter(|(_, r)| r.is_none()) {
                if let Some(r) = st.finished.remove(ticket) {
                    *result = Some(r);
                    left -= 1;
                }
            }
            if left == 0 {
                return waiting.into_iter().filter_map(|(_, r)| r).collect();
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
            while gather && st.queue.len() < st.last_group {
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

    /// Seals `drafts` through `append`, an append inside the caller's own transaction
    /// ([`crate::store::AppendWithin`]): no group commit, and the group commit's cached tip
    /// is neither used nor updated, since the events are real only once the caller commits.
    /// The tip it reaches is kept apart (`within_tip`) and used by the next append inside a
    /// transaction only if the head it locks is that tip's head to the hash: after a commit
    /// it is, after a rollback it is not, so nothing of a rolled-back event is ever used.
    pub(super) fn append_within(
        &self,
        log_id: &str,
        append: Box<dyn Append + '_>,
        drafts: Vec<SealedEvent>,
    ) -> Result<Vec<Stored>> {
        let job = Job { ticket: 0, drafts };
        // A hint only: the sealing step uses it when the locked head is exactly its head.
        let hint = lock_tip(&self.inner.within_tip).clone();
        let ((results, _, tip), lost) =
            self.integrate_unchecked(log_id, append, std::slice::from_ref(&job), hint)?;
        if let Some(lost) = lost {
            // Nothing to read back: the caller's transaction decides, and it is still open.
            return Err(lost.error);
        }
        *lock_tip(&self.inner.within_tip) = tip.map(|t| Tip { alone: false, ..t });
        results
            .into_iter()
            .next()
            .map_or_else(|| Ok(Vec::new()), |(_, r)| r)
    }

    /// The tip of the stored log, read outside any append (for checkpoints).
    pub(super) fn load_tip(&self) -> Result<Tip> {
        let store = &self.inner.store;
        let head = store.head()?;
        let newest = match head.seq {
            0 => None,
            seq => store.read(seq, 1)?.into_iter().next(),
        };
        self.tip_of(head, newest, || store.purge_anchor())
    }

    /// The tip from a stored head and the newest event read with it, checked: the head's
    /// frontier fits its size and the event is the head's, intact.
    fn tip_of(
        &self,
        mut head: Head,
        newest: Option<SealedEvent>,
        anchor: impl FnOnce() -> Result<Option<Head>>,
    ) -> Result<Tip> {
        let log_id = self.log_id()?;
        if head.seq == 0 {
            head.hash = hashes::genesis(log_id);
            return Ok(Tip {
                head,
                last_recorded: OffsetDateTime::UNIX_EPOCH,
                last_id: Uuid::nil(),
                alone: false,
            });
        }
        if !merkle::fits(&head.frontier, head.seq) {
            return Err(Error::corrupt(format!(
                "the stored head at seq {} has {} frontier hashes, {} expected",
                head.seq,
                head.frontier.len(),
                head.seq.count_ones()
            )));
        }
        match newest {
            // Decoded and re-hashed, not only compared: a file cut short or overwritten can
            // keep the stored hashes while the event's fields are damaged.
            Some(e) if integrity::chain::is_tip(log_id, &e, &head) => Ok(Tip {
                last_recorded: e.recorded_at,
                last_id: e.id,
                head,
                alone: false,
            }),
            // Sealing on would extend a chain whose head does not match its newest event.
            Some(e) if e.seq == head.seq => Err(Error::corrupt(format!(
                "the stored head at seq {} does not match the newest event, which is damaged or altered; nothing was appended, run verify",
                head.seq
            ))),
            // Purged through the head (only a store-level purge does that): the next event
            // links to the anchor, which is the head.
            None if anchor()?.is_some_and(|a| a.seq == head.seq) => {
                Ok(Tip {
                    head,
                    last_recorded: OffsetDateTime::UNIX_EPOCH,
                    last_id: Uuid::nil(),
                    alone: false,
                })
            }
            _ => Err(Error::corrupt(format!(
                "the head records seq {} but that event cannot be read; run verify",
                head.seq
            ))),
        }
    }

    /// The tip to seal against inside `append`: the one this trail left behind when the
    /// locked head is still its head (nothing else appended since), else read under the lock.
    fn tip_under(&self, append: &mut dyn Append, cached: Option<Tip>) -> Result<Tip> {
        let head = append.head();
        if let Some(t) = cached {
            let same = t.head.seq == head.seq
                && (head.seq == 0
                    || (t.head.hash == head.hash && t.head.frontier == head.frontier));
            if same {
                return Ok(Tip { alone: true, ..t });
            }
        }
        let head = head.clone();
        let newest = match head.seq {
            0 => None,
            _ => append.newest()?,
        };
        self.tip_of(head, newest, || append.purge_anchor())
    }

    /// Seals every queued draft against the head the store hands out under its lock and
    /// appends them in one commit; an optimistic store that lost a race is retried. Returns
    /// each job's result and the new tip (if known).
    fn commit_group(&self, jobs: Vec<Job>, tip: Option<Tip>) -> (JobResults, Option<Tip>) {
        let fail_all = |jobs: &[Job], e: &Error| {
            jobs.iter()
                .map(|j| (j.ticket, Err(e.clone())))
                .collect::<Vec<_>>()
        };
        let log_id = self
            .inner
            .log_id
            .get()
            .expect("log id is read before submit")
            .clone();
        let store = &self.inner.store;
        let mut cached = tip;
        let mut attempt = 0;
        loop {
            match self.seal_and_append(store, &log_id, &jobs, cached.take()) {
                Ok(done) => return done,
                Err(e) if e.is_conflict() && attempt < MAX_CONFLICT_RETRIES => {
                    attempt += 1;
                    if attempt > 3 {
                        std::thread::sleep(Duration::from_micros(50 * u64::from(attempt.min(100))));
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
        cached: Option<Tip>,
    ) -> Result<(JobResults, Option<Tip>)> {
        // A trail that appended the head itself, with nobody else appending before it, expects
        // to be alone and skips the lock; losing that bet costs one conflict, then the lock.
        // Not with idempotency keys: a key found outside the lock may be another writer's
        // event that is visible but not yet durable.
        let fast = cached.as_ref().filter(|t| {
            t.alone
                && jobs
                    .iter()
                    .all(|j| j.drafts.iter().all(|d| d.idempotency_key.is_none()))
        });
        let append: Box<dyn Append + '_> = match fast {
            Some(t) => Box::new(Optimistic::expecting(store, t.head.clone())),
            // A queued draft is judged alone by the writer that seals it, so a call of several
            // events with idempotency keys (one of which may stand for another event, refusing
            // the whole call) waits for the lock instead.
            None if jobs.iter().any(|j| {
                j.drafts.len() > 1 && j.drafts.iter().any(|d| d.idempotency_key.is_some())
            }) =>
            {
                store.begin_append()?
            }
            None => {
                // Borrowed: a store that waits for its lock never looks at them.
                let drafts: Vec<&SealedEvent> = jobs.iter().flat_map(|j| j.drafts.iter()).collect();
                match store.begin_or_queue(&drafts)? {
                    Turn::Append(a) => a,
                    Turn::Queued(q) => return self.wait_queued(store, log_id, q, jobs, cached),
                }
            }
        };
        let (results, outcomes, tip) = self.integrate(store, log_id, append, jobs, cached)?;
        let tip = self.drain_queue(store, log_id, !outcomes.is_empty(), tip);
        Ok((results, tip))
    }

    /// After an append that sealed queued drafts, seals the queue again while it has more and
    /// the lock is free: writers queue while an append holds the lock, and without this the
    /// last of them would wait until the next writer arrives or their patience runs out.
    /// Bounded, so this trail's own callers are answered soon. Errors end it quietly: the
    /// queued writers' own patience covers them.
    fn drain_queue(
        &self,
        store: &S,
        log_id: &str,
        sealed_queue: bool,
        tip: Option<Tip>,
    ) -> Option<Tip> {
        let mut tip = tip;
        let mut more = sealed_queue;
        for _ in 0..QUEUE_DRAIN_ROUNDS {
            if !more {
                break;
            }
            let append = match store.begin_or_queue(&[]) {
                Ok(Turn::Append(a)) => a,
                Ok(Turn::Queued(_)) => break,
                Err(_) => return None,
            };
            match self.integrate(store, log_id, append, &[], tip.take()) {
                Ok((_, outcomes, t)) => {
                    more = !outcomes.is_empty();
                    tip = t;
                }
                Err(_) => return None,
            }
        }
        tip
    }

    /// Waits for drafts queued behind another writer's append to be sealed; seals the queue
    /// itself when the lock comes free with them still in it.
    fn wait_queued(
        &self,
        store: &S,
        log_id: &str,
        queue: Box<dyn Queue + '_>,
        jobs: &[Job],
        cached: Option<Tip>,
    ) -> Result<(JobResults, Option<Tip>)> {
        let ids = queue.ids().to_vec();
        let (settled, tip, drain) =
            self.wait_settled(store, log_id, queue, cached)
                .map_err(|e| match e {
                    // Nothing of them was recorded (withdrawn), or already said so.
                    Error::Busy { .. } | Error::OutcomeUnknown { .. } => e,
                    // Still queued: another writer may seal them. Never a conflict, which would
                    // queue them again.
                    e => Error::outcome_unknown(format!(
                        "waiting for {} queued events failed ({e}); another writer may still seal them, so read them back (by idempotency key) before retrying",
                        ids.len()
                    )),
                })?;
        let tip = self.drain_queue(store, log_id, drain, tip);
        if settled.len() != ids.len() {
            return Err(Error::corrupt(format!(
                "the store settled {} of {} queued events",
                settled.len(),
                ids.len()
            )));
        }
        let mut settled = settled.into_iter();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut events = Vec::with_capacity(job.drafts.len());
            let mut refused = None;
            let mut reused = None;
            for s in settled.by_ref().take(job.drafts.len()) {
                match s {
                    Settled::Sealed(stamp) => events.push(Stored::Own(stamp)),
                    Settled::Found(seq) => match store.read(seq, 1)?.into_iter().next() {
                        Some(e) if e.seq == seq => events.push(Stored::Other(Box::new(e))),
                        _ => {
                            return Err(Error::corrupt(format!(
                                "a queued event was settled as recorded at seq {seq}, which cannot be read"
                            )))
                        }
                    },
                    Settled::KeyReused(why) => reused = Some(why),
                    Settled::Refused(why) => refused = Some(why),
                }
            }
            results.push((
                job.ticket,
                match (reused, refused) {
                    (Some(why), _) => Err(Error::invalid("idempotency_key", why)),
                    (None, None) => Ok(events),
                    (None, Some(why)) => Err(Error::storage(format!(
                        "the writer holding the lock could not seal one of this call's queued events ({why}); \
                         its other events may have been recorded, so read them back (by idempotency key) before retrying"
                    ))),
                },
            ));
        }
        Ok((results, tip))
    }

    /// [`AuditTrail::wait_queued`]'s waiting: the outcome of each of `queue`'s drafts, the tip
    /// if this writer appended, and whether it sealed others' drafts too (it seals the queue
    /// again once the queue's connection is given back: the pool may hold no other). The queue
    /// is given back before this returns.
    fn wait_settled(
        &self,
        store: &S,
        log_id: &str,
        mut queue: Box<dyn Queue + '_>,
        cached: Option<Tip>,
    ) -> Result<(Vec<Settled>, Option<Tip>, bool)> {
        let mut cached = cached;
        let ids = queue.ids().to_vec();
        let deadline = std::time::Instant::now() + QUEUE_PATIENCE;
        let mut patience = QUEUE_FIRST_WAIT;
        let mut tip = None;
        let mut drain = false;
        loop {
            if let Some(s) = queue.wait(patience)? {
                return Ok((s, tip, drain));
            }
            let Some(append) = queue.try_append()? else {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::outcome_unknown(format!(
                        "{} queued events were not sealed within {} s; another writer may still seal them, so read them back (by idempotency key) before retrying",
                        ids.len(),
                        QUEUE_PATIENCE.as_secs()
                    )));
                }
                patience = (patience * 2).clamp(QUEUE_FIRST_WAIT, QUEUE_MAX_WAIT);
                continue;
            };
            let (done, lost) = self.integrate_unchecked(log_id, append, &[], cached.take())?;
            let (_, outcomes, t) = done;
            drain |= outcomes.iter().any(|(id, _)| !ids.contains(id));
            tip = t;
            let mut mine: HashMap<QueueId, Settled> = outcomes
                .into_iter()
                .filter(|(id, _)| ids.contains(id))
                .collect();
            let settled = (mine.len() == ids.len()).then(|| {
                ids.iter()
                    .map(|id| mine.remove(id).expect("every id was settled"))
                    .collect()
            });
            if let Some(lost) = lost {
                // The append ran on the queue's connection: given back first, since
                // reading back takes a connection and the pool may hold only that one.
                drop(queue);
                self.read_back(store, &lost.batch, lost.error)?;
                return settled.map(|s| (s, tip, drain)).ok_or_else(|| {
                    Error::outcome_unknown(format!(
                        "some of {} queued events were being sealed by another writer when the connection that listens for them failed",
                        ids.len()
                    ))
                });
            }
            if let Some(settled) = settled {
                return Ok((settled, tip, drain));
            }
            // The rest were settled by the writer before, whose word is on its way.
            patience = QUEUE_FIRST_WAIT;
        }
    }

    /// Seals the store's queue (when it has one) and then `jobs`' drafts against the head
    /// `append` holds, pushes, settles and commits. Returns each job's result, the queued
    /// drafts' outcomes, and the new tip.
    fn integrate(
        &self,
        store: &S,
        log_id: &str,
        append: Box<dyn Append + '_>,
        jobs: &[Job],
        cached: Option<Tip>,
    ) -> Result<Integrated> {
        let (done, lost) = self.integrate_unchecked(log_id, append, jobs, cached)?;
        if let Some(lost) = lost {
            self.read_back(store, &lost.batch, lost.error)?;
        }
        Ok(done)
    }

    /// [`AuditTrail::integrate`] up to its commit: what the append did if it committed, and,
    /// when the commit failed in a way that may have committed after all, what to read back
    /// before believing it (once the append's connection is given back).
    fn integrate_unchecked(
        &self,
        log_id: &str,
        mut append: Box<dyn Append + '_>,
        jobs: &[Job],
        cached: Option<Tip>,
    ) -> Result<(Integrated, Option<Lost>)> {
        let queued = append.queued()?;
        if queued.is_empty() && jobs.is_empty() {
            // Nothing to seal: dropped, the append writes nothing.
            return Ok(((Vec::new(), Vec::new(), cached), None));
        }
        let tip = self.tip_under(&mut *append, cached)?;
        let mut sealing = Sealing {
            next: tip.clone(),
            batch: Vec::new(),
            keys: HashMap::new(),
            found: HashMap::new(),
            links: HashMap::new(),
            draft_keys: HashMap::new(),
        };
        sealing.prefetch_links(
            &mut *append,
            &self.inner.store,
            queued
                .iter()
                .map(|(_, d)| d)
                .chain(jobs.iter().flat_map(|j| &j.drafts)),
        )?;
        // A call whose idempotency key names another event is refused whole, before anything
        // of it is sealed; the others go on.
        let mut queued_slots = Vec::with_capacity(queued.len());
        for (id, draft) in &queued {
            let slot = match sealing.refusal(&mut *append, std::slice::from_ref(draft))? {
                Some(why) => Err(why),
                None => Ok(sealing.place(log_id, draft)?),
            };
            queued_slots.push((*id, slot));
        }
        let mut slots: Vec<Result<Vec<Slot>>> = Vec::with_capacity(jobs.len());
        for job in jobs {
            slots.push(match sealing.refusal(&mut *append, &job.drafts)? {
                Some(why) => Err(Error::invalid("idempotency_key", why)),
                None => job
                    .drafts
                    .iter()
                    .map(|d| sealing.place(log_id, d))
                    .collect(),
            });
        }
        let Sealing { next, batch, .. } = sealing;
        let outcomes: Vec<(QueueId, Settled)> = queued_slots
            .iter()
            .map(|(id, slot)| {
                let settled = match slot {
                    Ok(Slot::Existing(e)) => Settled::Found(e.seq),
                    Ok(Slot::Same(i)) => Settled::Found(batch[*i].seq),
                    Ok(Slot::Own(i)) => Settled::Sealed(stamp(&batch[*i])),
                    Err(why) => Settled::KeyReused(why.clone()),
                };
                (*id, settled)
            })
            .collect();
        if !batch.is_empty() {
            // A failed push committed nothing: the append is dropped, rolled back.
            append.push(&batch, &next.head)?;
        }
        append.settle(&outcomes)?;
        // With nothing pushed (every draft found by its key), committing still makes what the
        // append read durable: the events found may be another writer's, visible before they
        // are durable on a store that commits asynchronously.
        let mut lost = None;
        if let Err(e) = append.commit() {
            if batch.is_empty() || e.is_conflict() || e.is_invalid() || e.is_busy() {
                return Err(e);
            }
            lost = Some(e);
        }
        let results = jobs
            .iter()
            .zip(slots)
            .map(|(job, job_slots)| {
                let events = job_slots.map(|slots| {
                    slots
                        .into_iter()
                        .map(|s| match s {
                            Slot::Existing(e) => Stored::Other(e),
                            Slot::Own(i) => Stored::Own(stamp(&batch[i])),
                            Slot::Same(i) => Stored::Other(Box::new(batch[i].clone())),
                        })
                        .collect()
                });
                (job.ticket, events)
            })
            .collect();
        let tip = if batch.is_empty() { tip } else { next };
        let lost = lost.map(|error| Lost { batch, error });
        Ok(((results, outcomes, Some(tip)), lost))
    }

    /// After a commit error, whether `batch` was committed after all: `Ok` when the store
    /// shows all of it, the error when none of it.
    fn read_back(&self, store: &S, batch: &[SealedEvent], e: Error) -> Result<()> {
        // The write may have been committed before the error surfaced (a connection lost
        // during COMMIT): look, and report only what the store shows.
        let ours = |found: &[SealedEvent]| {
            found
                .iter()
                .zip(batch)
                .take_while(|(a, b)| a.seq == b.seq && a.id == b.id)
                .count()
        };
        // The head first: a store whose commits can be visible before they are durable
        // answers `head` only once what it shows is durable, so a batch found below is one
        // that survives a crash.
        match store
            .head()
            .and_then(|_| store.read(batch[0].seq, batch.len()))
        {
            Ok(found) if ours(&found) == batch.len() => Ok(()),
            Ok(found) if ours(&found) == 0 => Err(e),
            Ok(found) => Err(Error::corrupt(format!(
                "the store kept {} of the {} events of one batch after an append error ({e}); it breaks the all-or-nothing contract",
                ours(&found),
                batch.len()
            ))),
            Err(read_err) => {
                let last = &batch[batch.len() - 1];
                Err(Error::outcome_unknown(format!(
                    "appending seq {}..={} (ids {} to {}) failed with \"{e}\" and reading them back failed with \"{read_err}\"",
                    batch[0].seq, last.seq, batch[0].id, last.id
                )))
            }
        }
    }
}

/// Where a draft went in the batch being sealed.
enum Slot {
    Existing(Box<SealedEvent>),
    /// Sealed from this draft, at this index of the batch.
    Own(usize),
    /// Another draft with the same key was sealed at this index of the batch.
    Same(usize),
}

/// A batch being sealed: the tip it has reached and the idempotency keys it holds.
struct Sealing<'d> {
    next: Tip,
    batch: Vec<SealedEvent>,
    /// Keys sealed in this batch, with the index of their event.
    keys: HashMap<&'d str, usize>,
    /// Keys looked up in the store under the append's lock, with what was found.
    found: HashMap<&'d str, Option<Box<SealedEvent>>>,
    /// The newest seq involving each target the drafts involve (what the next event about
    /// it links to), read under the lock and moved on as the batch is sealed.
    links: HashMap<LinkKey, u64>,
    /// Each draft's targets, worked out once by the prefetch (parsing `related`), by the
    /// draft's address, for [`Sealing::place`].
    draft_keys: HashMap<*const SealedEvent, Vec<LinkKey>>,
}

/// A [`crate::store::TargetKey`], owned: tenant, kind, id.
pub(super) type LinkKey = (Option<String>, String, String);

/// Every target `drafts` link to, once each, in the order first met (what the sqlx append
/// reads under its lock before sealing).
#[cfg(feature = "sqlx")]
pub(super) fn link_keys_of<'x>(
    drafts: impl IntoIterator<Item = &'x SealedEvent>,
) -> Result<Vec<LinkKey>> {
    let mut out: Vec<LinkKey> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in drafts {
        for k in link_keys(d)? {
            if seen.insert(k.clone()) {
                out.push(k);
            }
        }
    }
    Ok(out)
}

/// `key` as the store's lookups take it.
pub(super) fn target_key(key: &LinkKey) -> TargetKey<'_> {
    TargetKey {
        tenant: key.0.as_deref(),
        kind: &key.1,
        id: &key.2,
    }
}

/// The targets `draft` links to, in [`SealedEvent::involved`] order.
fn link_keys(draft: &SealedEvent) -> Result<Vec<LinkKey>> {
    Ok(draft
        .involved()?
        .into_iter()
        .map(|(kind, id)| (draft.tenant.clone(), kind, id))
        .collect())
}

impl<'d> Sealing<'d> {
    /// Reads under the append's lock, in one call, the newest event of each target `drafts`
    /// involve that this batch has not yet sealed an event about.
    fn prefetch_links(
        &mut self,
        append: &mut dyn Append,
        store: &dyn AuditStore,
        drafts: impl IntoIterator<Item = &'d SealedEvent>,
    ) -> Result<()> {
        let mut wanted: Vec<LinkKey> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in drafts {
            let keys = link_keys(d)?;
            for k in &keys {
                if !self.links.contains_key(k) && seen.insert(k.clone()) {
                    wanted.push(k.clone());
                }
            }
            self.draft_keys.insert(d as *const SealedEvent, keys);
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let keys: Vec<TargetKey<'_>> = wanted.iter().map(target_key).collect();
        let seqs = match append.newest_involving(&keys)? {
            Some(seqs) => seqs,
            None => store.newest_involving(&keys)?,
        };
        if seqs.len() != keys.len() {
            return Err(Error::corrupt(format!(
                "the store answered {} of {} target lookups",
                seqs.len(),
                keys.len()
            )));
        }
        drop(keys);
        self.links.extend(wanted.into_iter().zip(seqs));
        Ok(())
    }

    /// Why one call's `drafts` cannot be recorded (the problem of an [`Error::Invalid`] for
    /// `idempotency_key`): one reuses a key of another event (stored, earlier in this batch,
    /// or earlier in the call). `None` when they can. Looks up each key under the append's
    /// lock, once.
    fn refusal(
        &mut self,
        append: &mut dyn Append,
        drafts: &'d [SealedEvent],
    ) -> Result<Option<String>> {
        let mut in_call: HashMap<&str, &SealedEvent> = HashMap::new();
        for draft in drafts {
            let Some(key) = draft.idempotency_key.as_deref() else {
                continue;
            };
            if !self.keys.contains_key(key) && !self.found.contains_key(key) {
                let stored = append.find_by_key(key)?.map(Box::new);
                self.found.insert(key, stored);
            }
            let first = match (in_call.get(key), self.keys.get(key), self.found.get(key)) {
                (Some(d), _, _) => Some(*d),
                (None, Some(&i), _) => Some(&self.batch[i]),
                (None, None, Some(Some(e))) => Some(&**e),
                _ => None,
            };
            if let Some(first) = first {
                if let Some(field) = idempotency::differs(draft, first) {
                    let which = match first.seq {
                        0 => "another event of the same call".to_owned(),
                        seq => format!("the event at seq {seq}"),
                    };
                    return Ok(Some(format!(
                        "{key:?} already stands for {which}, whose {field} differs; a key means one request: retry with the same event, or give a new event a new key"
                    )));
                }
            }
            in_call.entry(key).or_insert(draft);
        }
        Ok(None)
    }

    /// Seals `draft` onto the batch, unless its idempotency key is already recorded (found
    /// by [`Sealing::refusal`], which has passed it) or earlier in the batch.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the draft's targets cannot be read.
    fn place(&mut self, log_id: &str, draft: &'d SealedEvent) -> Result<Slot> {
        if let Some(k) = draft.idempotency_key.as_deref() {
            if let Some(&i) = self.keys.get(k) {
                return Ok(Slot::Same(i));
            }
            if let Some(Some(existing)) = self.found.get(k) {
                return Ok(Slot::Existing(existing.clone()));
            }
            self.keys.insert(k, self.batch.len());
        }
        let keys = match self.draft_keys.remove(&(draft as *const SealedEvent)) {
            Some(keys) => keys,
            None => link_keys(draft)?,
        };
        let links = keys
            .iter()
            .map(|k| {
                self.links.get(k).copied().ok_or_else(|| {
                    Error::corrupt(format!(
                        "target {}:{} was not looked up under the lock",
                        k.1, k.2
                    ))
                })
            })
            .collect::<Result<Vec<u64>>>()?;
        let e = seal(log_id, draft, links, &mut self.next);
        for k in keys {
            self.links.insert(k, e.seq);
        }
        self.batch.push(e);
        Ok(Slot::Own(self.batch.len() - 1))
    }
}

fn stamp(e: &SealedEvent) -> Stamp {
    Stamp {
        seq: e.seq,
        id: e.id,
        recorded_at: e.recorded_at,
        prev_hash: e.prev_hash,
        hash: e.hash,
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_tip(m: &Mutex<Option<Tip>>) -> MutexGuard<'_, Option<Tip>> {
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
                Err(Error::outcome_unknown(
                    "the group commit panicked; read the event back before retrying",
                )),
            );
        }
        self.inner.done.notify_all();
    }
}

/// Stamps `draft` as the event after `tip`, linked to its targets' previous events by
/// `links`, and advances `tip` past it.
fn seal(log_id: &str, draft: &SealedEvent, links: Vec<u64>, tip: &mut Tip) -> SealedEvent {
    let mut e = draft.clone();
    e.links = links;
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
