//! `cargo bench --bench limits`: auditkit against hand-written rusqlite code doing the same
//! work on the same rows, with the same durability settings and the same schema, in one run.
//!
//! Prints a table of figures and ratios (auditkit / raw) against the targets of the
//! benchmark issue, and writes a JSON summary to `target/bench-limits.json`.
//!
//! Environment (all optional):
//! - `AUDITKIT_BENCH_EVENTS`: events in the large log for queries, verify, export and size
//!   (default 1,000,000).
//! - `AUDITKIT_BENCH_DURABLE`: events per fsync-bound run (one per commit; default 2,000).
//! - `AUDITKIT_BENCH_QUERIES`: random queries per kind (default 1,000).
//! - `AUDITKIT_BENCH_DIR`: where the databases go (default `target/bench-limits`).
//!
//! A second baseline (`handwritten.rs`) is the hash-chained audit table a user would write
//! by hand instead: one durable event per commit, 8 threads, bytes per event and verify are
//! also compared with it.
//!
//! The raw side is rusqlite with the schema copied from an empty auditkit database (tables,
//! indexes, the full-text index; not auditkit's guard triggers), fed the exact rows auditkit
//! stored, so a ratio shows auditkit's own overhead. Peak memory is measured in a child
//! process (this binary re-run with `AUDITKIT_BENCH_CHILD`) that runs only the measured
//! operation and reads `VmHWM` from `/proc/self/status`.

mod child;
mod events;
mod handwritten;
mod queries;
mod raw;
mod record;
mod report;
mod size;
mod streaming;

use std::env;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auditkit::sqlite::{SqliteOptions, SqliteStore, Synchronous};

use child::{child, queries_in_child};
use queries::query_latencies;
use raw::auditkit_schema;
use record::{build_large, durable, settle};
use report::Report;
use size::sizes;
use streaming::streaming;

const BATCH: usize = 1_000;
const THREADS: usize = 8;

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn env_u64(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn open_store(path: &Path, sync: Synchronous) -> SqliteStore {
    SqliteStore::open_with(path, SqliteOptions::default().synchronous(sync)).expect("open store")
}

fn main() {
    if let Ok(job) = env::var("AUDITKIT_BENCH_CHILD") {
        child(&job);
        return;
    }
    let n = env_u64("AUDITKIT_BENCH_EVENTS", 1_000_000).max(BATCH as u64);
    let durable_n = env_u64("AUDITKIT_BENCH_DURABLE", 2_000).max(THREADS as u64) as usize;
    let queries = env_u64("AUDITKIT_BENCH_QUERIES", 1_000).max(10) as usize;
    let target_dir = PathBuf::from(
        env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned()),
    );
    let dir = env::var("AUDITKIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target_dir.join("bench-limits"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let schema = auditkit_schema(&dir);
    let load_start = loadavg();
    let mut rep = Report::default();
    eprintln!(
        "auditkit limits: N = {n}, durable runs of {durable_n}, {queries} queries per kind, in {}",
        dir.display()
    );

    // For profiling one part: AUDITKIT_BENCH_ONLY=durable,build,queries,streaming,large
    // (`build` only builds the large log; `queries` and `streaming` reuse one built earlier with
    // the same N; `large` builds, queries, verifies, exports and sizes it).
    let only = env::var("AUDITKIT_BENCH_ONLY").unwrap_or_default();
    let named = |part: &str| only.split(',').any(|p| p.trim() == part);
    let run = |part: &str| only.is_empty() || named(part);
    if run("durable") {
        durable(&dir, &schema, durable_n, &mut rep);
    }
    if run("build") && !run("large") {
        build_large(&dir, &schema, n, &mut rep);
    }
    if named("queries") {
        // Reuses the large log of an earlier run with the same N.
        let (ak_path, raw_path) = (dir.join("large.db"), dir.join("raw-large.db"));
        query_latencies(&ak_path, &raw_path, n, queries, &mut rep);
    }
    if named("streaming") {
        let (ak_path, raw_path) = (dir.join("large.db"), dir.join("raw-large.db"));
        streaming(&ak_path, &raw_path, n, &mut rep);
    }
    if run("large") {
        let (ak_path, raw_path) = build_large(&dir, &schema, n, &mut rep);
        settle(&[&ak_path, &raw_path]);
        queries_in_child(&ak_path, n, queries, &mut rep);
        streaming(&ak_path, &raw_path, n, &mut rep);
        sizes(&ak_path, &raw_path, n, &mut rep);
    }

    rep.notes.push(format!(
        "load average (1, 5, 15 min) at the start: {load_start}; at the end: {}",
        loadavg()
    ));
    rep.finish(n, durable_n, queries, &target_dir.join("bench-limits.json"));
}

/// The machine's load: other work running during the benchmark shows up in its figures.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
