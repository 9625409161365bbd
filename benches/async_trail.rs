//! `cargo bench --bench async_trail --features async`: `AsyncAuditTrail` against what an
//! async app writes without it (`tokio::task::spawn_blocking` around `AuditTrail::record`), at
//! 1, 32 and 2,000 concurrent callers, every event durable (SQLite, WAL, FULL), on a
//! multi-thread runtime with 2 workers. The two sides alternate round by round, each on its
//! own fresh file; prints throughput, p99 latency and peak OS threads, and the ratios.
//!
//! Environment: `AUDITKIT_BENCH_DIR` (default `target/bench-async`), `AUDITKIT_BENCH_ROUNDS`
//! (default 3), `AUDITKIT_BENCH_SCALE` (events per caller count, default 1.0).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AsyncAuditTrail, AuditTrail, NewEvent, Target};

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Facade,
    SpawnBlocking,
}

struct Run {
    per_sec: f64,
    p99: Duration,
    peak_threads: usize,
}

fn os_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn event(i: usize) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant(format!("salon-{}", i % 7))
        .actor(Actor::user(format!("u-{}", i % 40)).name("Sam"))
        .target(Target::new("booking", format!("b-{i}")))
        .before(serde_json::json!({"start": "2026-03-28T10:00:00Z"}))
        .after(serde_json::json!({"start": "2026-03-30T10:30:00Z"}))
}

fn fresh(dir: &Path, name: &str) -> SqliteStore {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    SqliteStore::open(&path).expect("open")
}

fn run(side: Side, callers: usize, events: usize, dir: &Path) -> Run {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let store = fresh(dir, "async-bench.db");
    runtime.block_on(async move {
        let trail = AuditTrail::new(store);
        let facade = AsyncAuditTrail::new(trail.clone()).expect("async trail");
        let peak = Arc::new(AtomicUsize::new(os_threads()));
        let sampling = Arc::new(AtomicUsize::new(1));
        let sampler = {
            let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) == 1 {
                    peak.fetch_max(os_threads(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let per_caller = events / callers;
        let start = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let (trail, facade) = (trail.clone(), facade.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_caller);
                    for k in 0..per_caller {
                        let e = event(c * per_caller + k);
                        let t0 = Instant::now();
                        match side {
                            Side::Facade => {
                                facade.record(e).await.expect("record");
                            }
                            Side::SpawnBlocking => {
                                let trail = trail.clone();
                                tokio::task::spawn_blocking(move || trail.record(e))
                                    .await
                                    .expect("join")
                                    .expect("record");
                            }
                        }
                        latencies.push(t0.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::with_capacity(events);
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        let elapsed = start.elapsed();
        sampling.store(0, Ordering::Relaxed);
        let _ = sampler.await;
        all.sort();
        let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
        Run {
            per_sec: all.len() as f64 / elapsed.as_secs_f64(),
            p99,
            peak_threads: peak.load(Ordering::Relaxed),
        }
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::var_os("AUDITKIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench-async"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let rounds: usize = std::env::var("AUDITKIT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let scale: f64 = std::env::var("AUDITKIT_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    println!(
        "async facade vs spawn_blocking, durable SQLite (WAL, FULL) in {}, {rounds} rounds alternating, median",
        dir.display()
    );
    println!("| callers | events | facade events/s | spawn_blocking events/s | ratio | facade p99 | spawn_blocking p99 | p99 ratio | peak threads (facade / spawn_blocking) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (callers, events) in [(1, 400), (32, 6_400), (2_000, 16_000)] {
        let events = ((events as f64 * scale) as usize).max(callers);
        let mut rate = [Vec::new(), Vec::new()];
        let mut p99 = [Vec::new(), Vec::new()];
        let mut threads = [0, 0];
        for _ in 0..rounds {
            for (i, side) in [Side::Facade, Side::SpawnBlocking].into_iter().enumerate() {
                let r = run(side, callers, events, &dir);
                rate[i].push(r.per_sec);
                p99[i].push(r.p99.as_secs_f64() * 1e3);
                threads[i] = threads[i].max(r.peak_threads);
            }
        }
        let [fr, sr] = rate.map(median);
        let [fp, sp] = p99.map(median);
        println!(
            "| {callers} | {events} | {fr:.0} | {sr:.0} | {:.2} | {fp:.1} ms | {sp:.1} ms | {:.2} | {} / {} |",
            fr / sr,
            fp / sp,
            threads[0],
            threads[1]
        );
    }
}
