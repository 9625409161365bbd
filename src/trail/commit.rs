//! Group commit: queueing callers' drafts, sealing them against the tip under one leader and
//! appending them in one store call.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuditTrail, Inner};
use crate::integrity::{self, hashes, merkle};
use crate::store::sealed::SealedEvent;
use crate::store::{Append, AuditStore, Head};
use crate::{model::time_util, Error, Result};

/// How often a batch is resealed after losing a compare-and-append race before giving up.
const MAX_CONFLICT_RETRIES: u32 = 1_000;

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

/// One event of a job's result.
pub(super) enum Stored {
    /// Sealed from the job's own draft at this position: what sealing stamped on it.
    Own(Stamp),
    /// Recorded earlier with the same idempotency key (before this group, or from an
    /// earlier draft of it).
    Other(Box<SealedEvent>),
}

/// The fields sealing stamps on a draft.
pub(super) struct Stamp {
    pub(super) seq: u64,
    pub(super) id: Uuid,
    pub(super) recorded_at: OffsetDateTime,
    pub(super) prev_hash: integrity::Hash,
    pub(super) hash: integrity::Hash,
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
}

impl<S: AuditStore> AuditTrail<S> {
    /// Queues `drafts` for the next group commit and waits for its result; the first caller
    /// to find no commit in progress leads it.
    pub(super) fn submit(&self, drafts: Vec<SealedEvent>) -> Result<Vec<Stored>> {
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
                return Ok(t);
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
        let mut append = store.begin_append()?;
        let tip = self.tip_under(&mut *append, cached)?;
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
                    if let Some(existing) = append.find_by_key(k)? {
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
        if batch.is_empty() {
            // Every draft was found by its key. Committing the empty append still makes what
            // it read durable: the events found may be another writer's, visible before they
            // are durable on a store that commits asynchronously.
            append.commit()?;
        } else {
            // A failed push committed nothing: the append is dropped, rolled back.
            append.push(&batch, &next.head)?;
            if let Err(e) = append.commit() {
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
                // The head first: a store whose commits can be visible before they are
                // durable answers `head` only once what it shows is durable, so a batch found
                // below is one that survives a crash.
                match store
                    .head()
                    .and_then(|_| store.read(batch[0].seq, batch.len()))
                {
                    Ok(found) if ours(&found) == batch.len() => {}
                    Ok(found) if ours(&found) == 0 => return Err(e),
                    Ok(found) => {
                        return Err(Error::corrupt(format!(
                            "the store kept {} of the {} events of one batch after an append error ({e}); it breaks the all-or-nothing contract",
                            ours(&found),
                            batch.len()
                        )))
                    }
                    Err(read_err) => {
                        let last = &batch[batch.len() - 1];
                        return Err(Error::outcome_unknown(format!(
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
        Ok((results, Some(if batch.is_empty() { tip } else { next })))
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
                Err(Error::outcome_unknown(
                    "the group commit panicked; read the event back before retrying",
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
