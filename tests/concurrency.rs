//! Many writers, one linear chain: threads on one trail (group commit) and several trails on
//! one SQLite file (compare-and-append across connections, as separate processes would).
#![cfg(feature = "sqlite")]

use std::sync::{Arc, Barrier};

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, NewEvent, Query};

fn event(writer: usize, i: usize) -> NewEvent {
    NewEvent::new("booking.created")
        .tenant("salon-1")
        .actor(Actor::user(format!("u-{writer}")))
        .context("i", i)
}

fn assert_contiguous<S: AuditStore>(trail: &AuditTrail<S>, expected: u64) {
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checked, expected);
    let seqs: Vec<u64> = trail
        .store()
        .read(1, expected as usize + 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=expected).collect::<Vec<_>>());
}

#[test]
fn eight_threads_on_one_trail_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::new(SqliteStore::open(dir.path().join("a.db")).unwrap());
    let barrier = Arc::new(Barrier::new(8));
    let per_thread = 40;
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let trail = trail.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut seqs = Vec::new();
                for i in 0..per_thread {
                    let e = trail.record(event(w, i)).unwrap();
                    // Returned only once durable: it must already be readable.
                    assert_eq!(trail.get(e.id).unwrap().as_ref(), Some(&e));
                    seqs.push(e.seq);
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=8 * per_thread as u64).collect::<Vec<_>>());
    assert_contiguous(&trail, 8 * per_thread as u64);
    for w in 0..8 {
        let n = trail.count(&Query::new().actor(format!("u-{w}"))).unwrap();
        assert_eq!(n, per_thread as u64);
    }
}

#[test]
fn two_trails_on_one_file_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let b = AuditTrail::new(SqliteStore::open(&path).unwrap());
    assert_eq!(a.log_id().unwrap(), b.log_id().unwrap());
    let per = 60;
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = [a.clone(), a.clone(), b.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, trail)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per {
                    trail.record(event(w, i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_contiguous(&a, 4 * per as u64);
    assert_contiguous(&b, 4 * per as u64);
    // Both see each other's events.
    assert_eq!(b.count(&Query::new().actor("u-0")).unwrap(), per as u64);
}

#[test]
fn batches_from_many_threads_stay_whole_and_in_order() {
    let trail = AuditTrail::new(SqliteStore::open_in_memory().unwrap());
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let trail = trail.clone();
            std::thread::spawn(move || {
                for round in 0..10 {
                    let batch: Vec<_> = (0..5).map(|i| event(w, round * 5 + i)).collect();
                    let events = trail.record_batch(batch).unwrap();
                    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
                    let first = seqs[0];
                    assert_eq!(seqs, (first..first + 5).collect::<Vec<_>>());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_contiguous(&trail, 200);
}
