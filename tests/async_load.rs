//! 2,000 concurrent durable `record` calls through `AsyncAuditTrail`, on a current-thread
//! runtime and on a multi-thread runtime with 2 workers: every call answered with its own
//! event, one contiguous verified chain, and the process's OS threads never above the
//! runtime's workers + the trail's fixed threads (1 writer + the reader and export pools) + 2.
//!
//! Its own binary (`harness = false`): the test harness's threads would blur the count.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, AsyncAuditTrail, AuditTrail, NewEvent, Query, Target, DEFAULT_EXPORT_THREADS,
    DEFAULT_READ_THREADS,
};

const CALLS: usize = 2_000;

fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

async fn load(trail: AsyncAuditTrail<SqliteStore>) -> (Duration, usize) {
    let start = Instant::now();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = os_threads();
        loop {
            tokio::select! {
                _ = &mut stopped => return peak,
                _ = tokio::time::sleep(Duration::from_millis(1)) => peak = peak.max(os_threads()),
            }
        }
    });
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let t = trail.clone();
            tokio::spawn(async move {
                t.record(
                    NewEvent::new("booking.rescheduled")
                        .tenant(format!("salon-{}", i % 7))
                        .actor(Actor::user(format!("u-{}", i % 40)).name("Sam"))
                        .target(Target::new("booking", format!("b-{i}")))
                        .before(serde_json::json!({"start": "2026-03-28T10:00:00Z"}))
                        .after(serde_json::json!({"start": "2026-03-30T10:30:00Z"})),
                )
                .await
            })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for (i, c) in calls.into_iter().enumerate() {
        let e = c.await.expect("task").expect("record");
        // Each caller is answered with its own event, not a neighbour's from the same group.
        let own = format!("b-{i}");
        assert_eq!(e.target.as_ref().map(|t| t.id.as_str()), Some(own.as_str()));
        assert!(seqs.insert(e.seq), "seq {} given twice", e.seq);
    }
    let elapsed = start.elapsed();
    let _ = stop.send(());
    let peak = sampler.await.expect("sampler").max(os_threads());
    let first = *seqs.first().expect("events");
    assert_eq!(
        seqs.into_iter().collect::<Vec<_>>(),
        (first..first + CALLS as u64).collect::<Vec<_>>(),
        "the calls' events are not one contiguous run"
    );
    let report = trail.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert!(trail.count(&Query::new()).await.expect("count") >= CALLS as u64);
    (elapsed, peak)
}

fn run(name: &str, workers: usize, runtime: tokio::runtime::Runtime, dir: &std::path::Path) {
    let path = dir.join(format!("{name}.db"));
    let (elapsed, peak) = runtime.block_on(async {
        let store = SqliteStore::open(&path).expect("open");
        let trail = AsyncAuditTrail::new(AuditTrail::new(store)).expect("async trail");
        load(trail).await
    });
    let fixed = 1 + DEFAULT_READ_THREADS + DEFAULT_EXPORT_THREADS;
    let bound = workers + fixed + 2;
    println!(
        "{name}: {CALLS} durable records in {:.2} s ({:.0}/s), peak OS threads {peak} (bound: {workers} workers + {fixed} fixed + 2 = {bound})",
        elapsed.as_secs_f64(),
        CALLS as f64 / elapsed.as_secs_f64()
    );
    assert!(
        peak <= bound,
        "{name}: {peak} OS threads during the run, more than {bound}"
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    run("current-thread runtime", 1, current, dir.path());
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    run("multi-thread runtime, 2 workers", 2, multi, dir.path());
    println!("async_load: ok");
}
