//! Writing: appends, the head and compare-and-append, and several writers at once.

use std::sync::Arc;

use super::read_all;
use crate::store::{AuditStore, Head};
use crate::testkit::{
    describe, ensure, is_conflict, same_events, seal_batch, seqs, CheckResult, Ctx, Failure,
    Harness,
};
use crate::{Actor, AuditTrail, Error, NewEvent};

/// Appends, the head, and the compare-and-append contract.
///
/// Property: an empty store has head seq 0 and an empty frontier and a stable, non-empty log
/// id; after each append the head is exactly the one appended with; an append whose expected
/// head is stale (or ahead) returns [`Error::Conflict`] with the actual head and writes
/// nothing; a batch containing an already-stored id or idempotency key is a conflict and none
/// of it is stored; a valid raw append is readable and verifies.
///
/// # Errors
/// A [`Failure`] naming the broken property.
pub fn append_and_head<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "append_and_head";
    let h = Harness::new(store);
    let raw = h.raw();
    let log_id = raw.log_id().ctx(C, "log_id()")?;
    ensure!(
        C,
        !log_id.is_empty(),
        "log_id() is empty; a log needs an identity"
    );
    ensure!(
        C,
        raw.log_id().ctx(C, "log_id()")? == log_id,
        "log_id() changed between two calls"
    );
    let head = raw.head().ctx(C, "head() of an empty store")?;
    ensure!(
        C,
        head.seq == 0 && head.frontier.is_empty(),
        "an empty store must have head seq 0 and an empty frontier, got seq {} with {} frontier hashes",
        head.seq,
        head.frontier.len()
    );
    ensure!(
        C,
        read_all(C, raw)?.is_empty(),
        "an empty store returned events from read(1, ..)"
    );

    // Appends through the trail: the head follows each one.
    for n in 1..=3u64 {
        let e = h
            .trail
            .record_batch(vec![
                NewEvent::new("booking.created").context("n", n),
                NewEvent::new("booking.confirmed").context("n", n),
            ])
            .ctx(C, "recording a batch of two events")?;
        let head = raw.head().ctx(C, "head()")?;
        let last = h.appended().pop().expect("two events were appended");
        ensure!(
            C,
            head.seq == 2 * n && head.hash == last.hash,
            "after appending event {} the head is seq {} with hash {}, expected seq {} with that event's hash {}",
            describe(&last),
            head.seq,
            hex::encode(head.hash),
            2 * n,
            hex::encode(last.hash)
        );
        ensure!(
            C,
            e.len() == 2 && e[1].seq == 2 * n,
            "record_batch returned seqs {:?}",
            e.iter().map(|e| e.seq).collect::<Vec<_>>()
        );
    }
    let before = read_all(C, raw)?;
    let acknowledged = h.appended();
    same_events(
        C,
        "reading back every acknowledged append",
        &acknowledged.iter().collect::<Vec<_>>(),
        &before,
    )?;
    let head = raw.head().ctx(C, "head()")?;
    ensure!(
        C,
        head.frontier.len() == head.seq.count_ones() as usize,
        "the head at seq {} has {} frontier hashes; it must keep the {} the trail appended with",
        head.seq,
        head.frontier.len(),
        head.seq.count_ones()
    );

    // A stale expected head: another writer got there first.
    let stale = Head::new(4, before[3].hash, Vec::new());
    let stale = {
        // Rebuild the frontier at seq 4 so the batch is otherwise valid.
        let mut f = Vec::new();
        for e in &before[..4] {
            let (leaf, _) = crate::integrity::verify::seal_hashes(&log_id, e);
            crate::integrity::merkle::push(&mut f, e.seq - 1, leaf);
        }
        Head {
            frontier: f,
            ..stale
        }
    };
    let (batch, new_head) = seal_batch(
        &log_id,
        &stale,
        vec![NewEvent::new("booking.stale").context("writer", "late")],
    )
    .ctx(C, "sealing a test batch")?;
    match raw.append(4, &batch, &new_head) {
        Err(Error::Conflict { expected, actual }) => ensure!(
            C,
            expected == 4 && actual == 6,
            "a stale append (expected head 4, actual 6) returned Conflict with expected {expected}, actual {actual}; report the batch's expected head and the store's actual head"
        ),
        other => {
            return Err(Failure::new(
                C,
                format!(
                    "append with a stale expected head (4, the head is at 6) must return Error::Conflict and write nothing, got {other:?} for event {}",
                    describe(&batch[0])
                ),
            ))
        }
    }
    // An expected head ahead of the store.
    let ahead = Head {
        seq: 9,
        ..head.clone()
    };
    let (batch_ahead, ahead_head) =
        seal_batch(&log_id, &ahead, vec![NewEvent::new("booking.ahead")])
            .ctx(C, "sealing a test batch")?;
    let r = raw.append(9, &batch_ahead, &ahead_head);
    ensure!(
        C,
        r.as_ref().is_err_and(is_conflict),
        "append with an expected head (9) ahead of the store (6) must return Error::Conflict, got {r:?}"
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
        "a rejected append changed the store: the head or the events differ from before it"
    );

    // A duplicate id anywhere in a batch rejects the whole batch.
    let (mut dup, dup_head) = seal_batch(
        &log_id,
        &head,
        vec![
            NewEvent::new("booking.fresh"),
            NewEvent::new("booking.dup_id"),
        ],
    )
    .ctx(C, "sealing a test batch")?;
    dup[1].id = before[0].id;
    let r = raw.append(6, &dup, &dup_head);
    ensure!(
        C,
        r.as_ref().is_err_and(is_conflict),
        "a batch whose second event reuses the id of event {} must return Error::Conflict, got {r:?}",
        describe(&before[0])
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
        "a batch rejected for a duplicate id was partly stored (event {} must not be): batches are all or nothing",
        describe(&dup[0])
    );

    // A duplicate idempotency key likewise.
    h.trail
        .record(NewEvent::new("payment.captured").idempotency_key("pay-1"))
        .ctx(C, "recording an event with an idempotency key")?;
    let head = raw.head().ctx(C, "head()")?;
    let before = read_all(C, raw)?;
    let (dup, dup_head) = seal_batch(
        &log_id,
        &head,
        vec![
            NewEvent::new("booking.fresh"),
            NewEvent::new("payment.captured").idempotency_key("pay-1"),
        ],
    )
    .ctx(C, "sealing a test batch")?;
    let r = raw.append(head.seq, &dup, &dup_head);
    ensure!(
        C,
        r.as_ref().is_err_and(is_conflict),
        "a batch reusing the idempotency key \"pay-1\" of event {} must return Error::Conflict, got {r:?}",
        describe(before.last().expect("an event was recorded"))
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
        "a batch rejected for a duplicate idempotency key was partly stored: batches are all or nothing"
    );

    // A valid raw append lands whole.
    let (ok, ok_head) = seal_batch(
        &log_id,
        &head,
        vec![
            NewEvent::new("booking.raw_one"),
            NewEvent::new("booking.raw_two"),
        ],
    )
    .ctx(C, "sealing a test batch")?;
    raw.append(head.seq, &ok, &ok_head)
        .ctx(C, format!("appending {} at the head", describe(&ok[0])))?;
    let now = raw.head().ctx(C, "head()")?;
    ensure!(
        C,
        now == ok_head,
        "after a raw append the head is seq {} (frontier of {}), expected exactly the new head seq {} (frontier of {})",
        now.seq,
        now.frontier.len(),
        ok_head.seq,
        ok_head.frontier.len()
    );
    let got = raw.read(head.seq + 1, 10).ctx(C, "read")?;
    same_events(
        C,
        "reading a raw append back",
        &ok.iter().collect::<Vec<_>>(),
        &got,
    )?;
    let report = h.trail.verify().ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok(),
        "the chain does not verify after appends and rejected conflicts: {report}"
    );
    Ok(())
}

/// Several writers at once.
///
/// Property: four trails (each its own group commit, as four processes would be) recording
/// concurrently through the same store leave one contiguous chain holding every event
/// exactly once, with a head that matches it, and the chain verifies.
///
/// # Errors
/// A [`Failure`] naming the lost or duplicated event.
pub fn concurrent_writers<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "concurrent_writers";
    const WRITERS: usize = 4;
    const EACH: usize = 8;
    let shared = Arc::new(store);
    let results: Vec<crate::Result<Vec<crate::Event>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let trail = AuditTrail::new(Arc::clone(&shared));
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in 0..EACH {
                        out.push(
                            trail.record(
                                NewEvent::new("booking.created")
                                    .actor(Actor::user(format!("writer-{w}")))
                                    .context("i", i),
                            )?,
                        );
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::storage("a writer thread panicked")))
            })
            .collect()
    });
    let mut recorded = Vec::new();
    for r in results {
        recorded.extend(r.ctx(C, "recording from concurrent writers")?);
    }
    let total = (WRITERS * EACH) as u64;
    let head = shared.head().ctx(C, "head()")?;
    let stored = read_all(C, &*shared)?;
    ensure!(
        C,
        head.seq == total && seqs(&stored) == (1..=total).collect::<Vec<_>>(),
        "{WRITERS} concurrent writers recorded {total} events, but the head is at {} and the store holds seqs {:?}: every acknowledged event must be stored, and compare-and-append must make a losing writer retry",
        head.seq,
        seqs(&stored)
    );
    for e in &recorded {
        let s = &stored[(e.seq - 1) as usize];
        ensure!(
            C,
            s.id == e.id,
            "event seq {} recorded by {} was acknowledged but the store holds another event there ({})",
            e.seq,
            e.actor.id,
            describe(s)
        );
    }
    let report = AuditTrail::new(Arc::clone(&shared))
        .verify()
        .ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok(),
        "after concurrent writers the chain does not verify: {report}"
    );
    Ok(())
}

/// Two appends begun at once never both commit against the same head.
///
/// Property: while one [`AuditStore::begin_append`] is open, a second one either waits for
/// it (a store that locks, which then hands out the head the first one committed) or hands
/// out the same head and its commit is [`Error::Conflict`] (the provided optimistic append).
/// Either way the log stays one contiguous chain that verifies: a store that hands out a
/// stale head and accepts an append sealed against it fails.
///
/// # Errors
/// A [`Failure`] naming the broken property.
pub fn sealing_under_lock<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "sealing_under_lock";
    let h = Harness::new(store);
    let raw = h.raw();
    let log_id = raw.log_id().ctx(C, "log_id()")?;
    let genesis = raw.head().ctx(C, "head()")?;
    let (first, head) = seal_batch(&log_id, &genesis, vec![NewEvent::new("booking.created")])
        .ctx(C, "sealing the first event")?;
    raw.append(0, &first, &head).ctx(C, "append(0, [seq 1])")?;

    let mut a = raw.begin_append().ctx(C, "begin_append() (first)")?;
    let a_head = a.head().clone();
    let (b_head, b_commit, a_new) = std::thread::scope(|s| {
        let b = s.spawn(|| -> crate::Result<(Head, crate::Result<()>)> {
            let mut b = raw.begin_append()?;
            let b_head = b.head().clone();
            let (batch, next) = seal_batch(
                &log_id,
                &b_head,
                vec![NewEvent::new("booking.confirmed").context("writer", "second")],
            )?;
            b.push(&batch, &next)?;
            Ok((b_head, b.commit()))
        });
        // Give the second append time to reach its `begin_append` while the first is open.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let sealed = seal_batch(
            &log_id,
            &a_head,
            vec![NewEvent::new("booking.confirmed").context("writer", "first")],
        );
        let a_new = sealed.and_then(|(batch, next)| {
            a.push(&batch, &next)?;
            a.commit()?;
            Ok(next)
        });
        let b = b
            .join()
            .unwrap_or_else(|_| Err(Error::storage("the second appender panicked")));
        b.map(|(head, commit)| (head, commit, a_new))
    })
    .ctx(C, "the second append")?;
    if b_head.seq == a_head.seq {
        // The second append did not wait: both sealed against the same head, so exactly one
        // commit may win and the other must be a conflict.
        let lost = |r: &crate::Result<()>| r.as_ref().is_err_and(is_conflict);
        let a_commit = a_new.as_ref().map(|_| ()).map_err(Clone::clone);
        ensure!(
            C,
            (a_commit.is_ok() && lost(&b_commit)) || (b_commit.is_ok() && lost(&a_commit)),
            "two appends open at once both got the head at seq {}; exactly one may commit and the other, sealed against a stale head, must be Error::Conflict, got {:?} and {:?}",
            a_head.seq,
            a_commit,
            b_commit
        );
    } else {
        let a_new = a_new.ctx(C, "the first append (push and commit)")?;
        ensure!(
            C,
            b_head.seq == a_new.seq && b_head.hash == a_new.hash,
            "a second append that waited for the first must start from the head the first committed (seq {}), it got seq {}",
            a_new.seq,
            b_head.seq
        );
        b_commit.ctx(C, "the second append's commit, after waiting")?;
    }
    let stored = read_all(C, raw)?;
    let expected: Vec<u64> = (1..=stored.len() as u64).collect();
    ensure!(
        C,
        seqs(&stored) == expected && (stored.len() == 2 || stored.len() == 3),
        "after two overlapping appends the store holds seqs {:?}: it must hold one contiguous chain",
        seqs(&stored)
    );
    let report = AuditTrail::new(h.shared()).verify().ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok(),
        "after two overlapping appends the chain does not verify: {report}"
    );
    Ok(())
}
