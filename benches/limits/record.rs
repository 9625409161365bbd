//! Recording: one event per commit and from several threads (against raw inserts and
//! commits), and building the large log with `record_batch`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditkit::sqlite::{SqliteStore, Synchronous};
use auditkit::{AuditTrail, NewEvent};
use rusqlite::Connection;

use crate::events::events;
use crate::handwritten::{hand_events, open_hand, HandLog};
use crate::raw::{open_raw, raw_commit_every, raw_rows, remove_db};
use crate::report::Report;
use crate::{open_store, per_sec, BATCH, THREADS};

/// Lets the files just built settle before they are queried: folds each WAL into its database
/// and waits for the kernel to write back dirty pages. Queries right after a 3 GB build
/// otherwise met its writeback, which showed up in the p99s of whichever side it hit.
pub fn settle(paths: &[&Path]) {
    for path in paths {
        let conn = Connection::open(path).expect("open");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
    }
    let _ = Command::new("sync").status();
}

/// Rounds the fsync-bound runs are split into, auditkit and raw alternating, so that a
/// change in the disk's speed during the run (other work on the machine) hits both sides.
const ROUNDS: usize = 4;

/// Records `evs` from `THREADS` threads at once, each event with its own `record` call.
fn record_threaded(trail: &AuditTrail<SqliteStore>, evs: Vec<NewEvent>) -> Duration {
    let per = evs.len().div_ceil(THREADS);
    let mut evs = evs.into_iter();
    let start = Arc::new(std::sync::Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let mine: Vec<NewEvent> = evs.by_ref().take(per).collect();
            let trail = trail.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for e in mine {
                    // `record` returns only once its event is committed (FULL: on disk).
                    trail.record(e).expect("record");
                }
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    for h in handles {
        h.join().expect("thread");
    }
    t.elapsed()
}

/// `record`, one event per call, against raw one-row insert-and-commit (FULL and NORMAL), and
/// from 8 threads at once (group commit) against raw inserts committed 8 rows at a time.
pub fn durable(dir: &Path, schema: &[String], m: usize, rep: &mut Report) {
    eprintln!("record, one event per commit and from {THREADS} threads ({m} events each)...");
    struct Side {
        trail: AuditTrail<SqliteStore>,
        raw: Connection,
        /// The hand-written table (issue 18's baseline), for the FULL sides.
        hand: Option<HandLog>,
        per_commit: usize,
        threads: bool,
        ak: Duration,
        rw: Duration,
        hw: Duration,
    }
    let mut sides: Vec<(String, Side)> = [
        ("FULL", Synchronous::Full, 1, false),
        ("NORMAL", Synchronous::Normal, 1, false),
        ("threads", Synchronous::Full, THREADS, true),
    ]
    .into_iter()
    .map(|(name, sync, per_commit, threads)| {
        let path = dir.join(format!("durable-{name}.db"));
        remove_db(&path);
        let raw_sync = if sync == Synchronous::Full {
            "FULL"
        } else {
            "NORMAL"
        };
        let side = Side {
            trail: AuditTrail::new(open_store(&path, sync)),
            raw: open_raw(
                &dir.join(format!("raw-durable-{name}.db")),
                schema,
                raw_sync,
            ),
            hand: (sync == Synchronous::Full)
                .then(|| open_hand(&dir.join(format!("hand-durable-{name}.db")), "FULL")),
            per_commit,
            threads,
            ak: Duration::ZERO,
            rw: Duration::ZERO,
            hw: Duration::ZERO,
        };
        (name.to_owned(), side)
    })
    .collect();
    let per_round = (m / ROUNDS).max(THREADS);
    for round in 0..ROUNDS {
        let range = (round * per_round) as u64..((round + 1) * per_round) as u64;
        for (_, side) in &mut sides {
            let evs = events(range.clone(), (per_round * ROUNDS) as u64);
            side.ak += if side.threads {
                record_threaded(&side.trail, evs)
            } else {
                let t = Instant::now();
                for e in evs {
                    side.trail.record(e).expect("record");
                }
                t.elapsed()
            };
            let rows = raw_rows(side.trail.store(), range.start + 1, per_round);
            side.rw += raw_commit_every(&mut side.raw, &rows, side.per_commit);
            if let Some(hand) = &mut side.hand {
                let evs = hand_events(side.trail.store(), range.start + 1, per_round);
                side.hw += hand.commit_every(&evs, side.per_commit);
            }
        }
    }
    let total = per_round * ROUNDS;
    for (name, side) in &sides {
        let (ak, rw) = (per_sec(total, side.ak), per_sec(total, side.rw));
        if side.hand.is_some() {
            let hw = per_sec(total, side.hw);
            let (what, target) = if side.threads {
                (
                    format!("record, {THREADS} threads vs hand-written table, {THREADS} rows/commit, FULL"),
                    0.7,
                )
            } else {
                (
                    "record, 1 event/commit vs hand-written table, FULL".to_owned(),
                    0.8,
                )
            };
            rep.add(what, "events/s", ak, Some(hw), Some((">=", target)));
        }
        if side.threads {
            rep.add(
                format!(
                    "record, {THREADS} threads (group commit) vs raw {THREADS} rows/commit, FULL"
                ),
                "events/s",
                ak,
                Some(rw),
                Some((">=", 0.8)),
            );
            let one = per_sec(total, sides[0].1.ak);
            rep.add_ratio(
                &format!("record, {THREADS} threads vs 1 thread (speed-up), FULL"),
                "events/s",
                ak,
                one,
                4.0,
            );
            rep.notes.push(format!(
                "for scale: raw {THREADS} rows/commit is {:.2}× raw 1 row/commit on this disk",
                rw / per_sec(total, sides[0].1.rw)
            ));
        } else {
            rep.add(
                format!("record, 1 event/commit, synchronous={name}"),
                "events/s",
                ak,
                Some(rw),
                Some((">=", 0.8)),
            );
        }
    }
}

/// Builds the large log with `record_batch` of 1,000, and the raw copy with batched inserts
/// of the same rows, both synchronous=FULL; returns both paths.
pub fn build_large(dir: &Path, schema: &[String], n: u64, rep: &mut Report) -> (PathBuf, PathBuf) {
    eprintln!("record_batch of {BATCH}, building {n} events...");
    let ak_path = dir.join("large.db");
    let raw_path = dir.join("raw-large.db");
    remove_db(&ak_path);
    let trail = AuditTrail::new(open_store(&ak_path, Synchronous::Full));
    let mut raw = open_raw(&raw_path, schema, "FULL");
    // The hand-written table of the same events, for its size and its verify (untimed here).
    let mut hand = open_hand(&dir.join("hand-large.db"), "FULL");
    let (mut ak_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    let (mut ak_last, mut raw_last) = (Duration::ZERO, Duration::ZERO);
    let mut i = 0;
    let report_every = (n / 10).max(BATCH as u64);
    while i < n {
        let end = (i + BATCH as u64).min(n);
        let evs = events(i..end, n);
        let t = Instant::now();
        trail.record_batch(evs).expect("record_batch");
        let d = t.elapsed();
        ak_time += d;
        ak_last = d;
        let rows = raw_rows(trail.store(), i + 1, (end - i) as usize);
        let d = raw_commit_every(&mut raw, &rows, BATCH);
        raw_time += d;
        raw_last = d;
        hand.commit_every(
            &hand_events(trail.store(), i + 1, (end - i) as usize),
            BATCH,
        );
        i = end;
        if i % report_every == 0 {
            eprintln!(
                "  {i}: auditkit {:.0} ev/s, raw {:.0} ev/s so far",
                per_sec(i as usize, ak_time),
                per_sec(i as usize, raw_time)
            );
        }
    }
    rep.add(
        format!("record_batch of {BATCH}, average over 0..{n} events, FULL"),
        "events/s",
        per_sec(n as usize, ak_time),
        Some(per_sec(n as usize, raw_time)),
        Some((">=", 0.7)),
    );
    rep.add(
        format!("record_batch of {BATCH}, last batch at {n} events, FULL"),
        "events/s",
        per_sec(BATCH, ak_last),
        Some(per_sec(BATCH, raw_last)),
        Some((">=", 0.7)),
    );
    let mut hist = raw
        .prepare("SELECT AVG(COALESCE(length(before),0) + COALESCE(length(after),0) + COALESCE(length(context),0) + COALESCE(length(request),0) + COALESCE(length(related),0)) FROM auditkit_events")
        .expect("prepare");
    let json_bytes: f64 = hist.query_row([], |r| r.get(0)).expect("avg");
    let personal: f64 = raw
        .query_row(
            "SELECT CAST(SUM(length(value)) AS REAL) / ?1 FROM auditkit_personal_values",
            [n as i64],
            |r| r.get(0),
        )
        .expect("avg personal");
    rep.notes.push(format!(
        "generated events carry on average {:.0} bytes of JSON (before, after, context, request, related) plus {:.0} bytes of personal values (names, labels, email)",
        json_bytes, personal
    ));
    (ak_path, raw_path)
}
