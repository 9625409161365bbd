//! Proofs and incremental verify on a large SQLite log (issue 17's figures), as ratios
//! against a full verify of the same log measured in the same run, alternating.
//!
//! - an inclusion proof (`prove`) and a consistency proof (`prove_consistency`): time per
//!   proof (median of many, random events and sizes) against a full `verify_chain` and a full
//!   `verify`; target < 1/1000 of a full verify; and their hash lines' size (targets ≤ 1 KB
//!   and ≤ 2 KB);
//! - `verify_since` of a checkpoint at 99% (the newest 1% checked) against a full `verify`.
//!
//! `cargo bench --bench proofs` (1,000,000 events; `AUDITKIT_PROOF_BENCH_EVENTS` for another
//! size). Building the log takes about a minute here.

use std::time::{Duration, Instant};

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, Checkpoint, NewEvent, Target};
use serde_json::json;

/// Rounds of the alternating comparison.
const ROUNDS: usize = 3;

fn event(i: u64) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant(format!("salon-{}", i % 20))
        .actor(Actor::user(format!("u-{}", i % 50)).name("Sarah Staff"))
        .target(Target::new("booking", format!("b-{}", i % 50_000)).label("Colour & cut"))
        .related(Target::new("customer", format!("c-{}", i % 20_000)))
        .before(json!({"start": "2026-03-28T10:00:00Z", "staff": "u-3"}))
        .after(json!({"start": "2026-03-30T10:30:00Z", "staff": "u-4"}))
        .context("reason", "customer called to move it")
}

/// A small deterministic generator, so runs pick the same events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::var("AUDITKIT_PROOF_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = AuditTrail::new(SqliteStore::open(dir.path().join("audit.db")).expect("open"));
    eprintln!("recording {n} events...");
    let t = Instant::now();
    let at_99 = n - n / 100;
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut i = 0;
    while i < n {
        let end = (i + 1_000).min(n);
        let end = if i < at_99 { end.min(at_99) } else { end };
        trail
            .record_batch((i..end).map(event).collect())
            .expect("record");
        i = end;
        if i % (n / 20).max(1) == 0 || i == at_99 {
            checkpoints.push(trail.checkpoint().expect("checkpoint"));
        }
    }
    let head = trail.checkpoint().expect("checkpoint");
    let cp99 = checkpoints
        .iter()
        .find(|c| c.size == at_99)
        .expect("the 99% checkpoint")
        .clone();
    eprintln!("recorded in {:.1?}", t.elapsed());

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut full_chain, mut full, mut since) = (Vec::new(), Vec::new(), Vec::new());
    let (mut inclusion, mut consistency) = (Vec::new(), Vec::new());
    let (mut inclusion_bytes, mut consistency_bytes) = (0usize, 0usize);
    for round in 0..ROUNDS {
        eprintln!(
            "round {}: verify_chain, verify, proofs, verify_since...",
            round + 1
        );
        let t = Instant::now();
        assert!(trail.verify_chain().expect("verify_chain").is_ok());
        full_chain.push(t.elapsed());
        let t = Instant::now();
        assert!(trail.verify().expect("verify").is_ok());
        full.push(t.elapsed());
        for _ in 0..200 {
            let seq = 1 + rng.below(n);
            let t = Instant::now();
            let proof = trail.prove(seq, &head).expect("prove");
            inclusion.push(t.elapsed());
            // The hash lines: the text form without the checkpoint it carries.
            let text = proof.to_string();
            let cp = proof.checkpoint.to_string();
            inclusion_bytes = inclusion_bytes.max(text.len() - cp.len());
        }
        for _ in 0..50 {
            let old = &checkpoints[rng.below(checkpoints.len() as u64) as usize];
            let t = Instant::now();
            let proof = trail
                .prove_consistency(old, &head)
                .expect("prove_consistency");
            consistency.push(t.elapsed());
            consistency_bytes = consistency_bytes.max(proof.to_string().len());
        }
        let t = Instant::now();
        let r = trail.verify_since(&cp99).expect("verify_since");
        assert!(r.is_ok() && r.checked == n - at_99, "{r}");
        since.push(t.elapsed());
    }
    let (full_chain, full, since) = (median(full_chain), median(full), median(since));
    let (inclusion, consistency) = (median(inclusion), median(consistency));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("\n| figure at {n} events | auditkit | baseline | ratio | target |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| inclusion proof vs full verify_chain | {:.2} ms | {:.2} s | {:.6} | < 0.001 |",
        inclusion.as_secs_f64() * 1e3,
        full_chain.as_secs_f64(),
        ratio(inclusion, full_chain)
    );
    println!(
        "| inclusion proof vs full verify | {:.2} ms | {:.2} s | {:.6} | < 0.001 |",
        inclusion.as_secs_f64() * 1e3,
        full.as_secs_f64(),
        ratio(inclusion, full)
    );
    println!(
        "| consistency proof vs full verify_chain | {:.2} ms | {:.2} s | {:.6} | < 0.001 |",
        consistency.as_secs_f64() * 1e3,
        full_chain.as_secs_f64(),
        ratio(consistency, full_chain)
    );
    println!(
        "| verify_since (newest 1%) vs full verify | {:.2} s | {:.2} s | {:.3} | (about 0.01) |",
        since.as_secs_f64(),
        full.as_secs_f64(),
        ratio(since, full)
    );
    println!(
        "| inclusion proof hash lines, largest | {inclusion_bytes} B | 1024 B | {:.2} | <= 1 |",
        inclusion_bytes as f64 / 1024.0
    );
    println!(
        "| consistency proof, largest | {consistency_bytes} B | 2048 B | {:.2} | <= 1 |",
        consistency_bytes as f64 / 2048.0
    );
}
