//! PostgreSQL for many app servers, in two parts:
//! - **writes**: events per second that N separate writer processes record through
//!   `AuditTrail<PgStore>` (each its own trail with one connection, as N app servers would),
//!   next to N processes doing plain INSERTs into a hand-written audit table, on the same
//!   server in the same run;
//! - **reads**: `verify` and `export_jsonl` over one log, next to a raw read of the same rows
//!   that re-hashes or serialises them (see `pg_limits/reads.rs`).
//!
//! `cargo bench --bench pg_limits --features postgres`. It starts its own throwaway cluster
//! (fsync on, as in production; `max_connections = 300`) or uses `AUDITKIT_PG_URL`, where it
//! creates a schema per run and drops it afterwards. Environment (all optional):
//! - `AUDITKIT_PG_BENCH_PARTS`: `writes`, `reads` or both, comma-separated (default both).
//! - `AUDITKIT_BENCH_SECS`: seconds each writes run records for (default 3).
//! - `AUDITKIT_PG_BENCH_WRITERS`: the writer counts, comma-separated (default `1,8,32`).
//! - `AUDITKIT_PG_BENCH_ROUNDS`: runs of each side per writer count, and rounds of the reads
//!   (default 3).
//! - `AUDITKIT_PG_BENCH_EVENTS`: events in the log the reads part reads (default 100,000).
//!
//! The rest of this comment is about the writes part.
//!
//! For each writer count N the three sides alternate, auditkit first (A B C A B C ...), each run in a
//! fresh schema: the binary re-executes itself as N child processes (`AUDITKIT_PG_BENCH_CHILD`
//! set, as `tests/crash.rs` does), each opens its connection, prints `ready` and waits for a
//! line on stdin; once all are ready the parent sends it to all of them, they record for
//! `AUDITKIT_BENCH_SECS` seconds, one event per call in a loop, and print their counts. A run's
//! throughput is the sum of the children's events per second; the table shows the median of
//! the rounds and the ratio of the medians against the targets.
//!
//! - **auditkit**: `AuditTrail<PgStore>` with `PgOptions::max_connections(1)`, one `record`
//!   per event (a process's batches hold one event; an append seals every server's queued
//!   events with its own).
//! - **raw**: one `postgres::Client` per process, a prepared single-row INSERT in autocommit
//!   (one row per transaction) into `audit_log (tenant, actor, action, target_kind, target_id,
//!   occurred_at timestamptz, body jsonb)` with four indexes: (tenant, occurred_at), (tenant,
//!   actor, occurred_at), (tenant, action, occurred_at), (target_kind, target_id, occurred_at).
//!   No hash chain, no primary key. The row carries the same values as auditkit's event
//!   (tenant, actor, action, target); what has no column of its own (actor name and role,
//!   source, target label, related customer, before, after, context) is the JSONB body.
//!
//! - **raw2**: raw plus a prepared `SELECT 1` after each INSERT, so two round trips per
//!   event: what any design costs whose writer hands its event over in one round trip and
//!   hears how it was sealed in another, with no sealing at all.
//!
//! Rollbacks are counted on the server: the delta of `pg_stat_database.xact_rollback` over a
//! run (read once every child is connected and again after all of them have exited and their
//! statistics are flushed) divided by the events committed. For auditkit they are lock
//! attempts that found nothing to do (a queued writer told the lock was free that lost it to
//! another, a writer sealing the queue again that found it empty), and any append that lost a
//! race (a duplicate caught by a unique index) and was resealed; a compare-and-append that
//! finds the head moved writes nothing and commits. Raw: always 0. Lock waits are sampled:
//! every 50 ms the parent counts the run's backends (by `application_name`) whose
//! `wait_event_type` is `Lock`, and the table shows
//! the mean (out of N) over the run. On a shared `AUDITKIT_PG_URL` server other clients'
//! rollbacks would count too.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;
#[path = "pg_limits/reads.rs"]
mod reads;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use auditkit::postgres::{PgOptions, PgStore};
use auditkit::{Actor, AuditStore, AuditTrail, NewEvent, Source, Target};
use postgres::{Client, Config, NoTls};
use serde_json::json;

const CHILD_ENV: &str = "AUDITKIT_PG_BENCH_CHILD";
const URL_ENV: &str = "AUDITKIT_PG_BENCH_URL";
const SCHEMA_ENV: &str = "AUDITKIT_PG_BENCH_SCHEMA";
const WRITER_ENV: &str = "AUDITKIT_PG_BENCH_WRITER";
const APP_ENV: &str = "AUDITKIT_PG_BENCH_APP";

/// How often the parent counts the writers waiting on a lock.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// The events: the same values on both sides

const ACTION: &str = "booking.rescheduled";

fn tenant(i: u64) -> String {
    format!("clinic-{}", i % 10)
}

fn actor_id(i: u64) -> String {
    format!("u-{}", i % 50)
}

fn booking(i: u64) -> String {
    format!("b-{i}")
}

fn customer(i: u64) -> String {
    format!("c-{}", i % 500)
}

fn event(i: u64) -> NewEvent {
    NewEvent::new(ACTION)
        .tenant(tenant(i))
        .actor(Actor::user(actor_id(i)).name("Sarah").role("staff"))
        .source(Source::Web)
        .target(Target::new("booking", booking(i)).label("Haircut with Sam"))
        .related(Target::new("customer", customer(i)))
        .before(json!({"start": "2026-01-10T14:00:00Z", "staff": "Sam"}))
        .after(json!({"start": "2026-01-15T09:00:00Z", "staff": "Sam"}))
        .context("reason", "customer asked")
}

/// The raw row's JSONB body: everything of [`event`] that has no column of its own.
fn raw_body(i: u64) -> String {
    json!({
        "actor": {"kind": "user", "name": "Sarah", "role": "staff"},
        "source": "web",
        "target_label": "Haircut with Sam",
        "related": [{"kind": "customer", "id": customer(i)}],
        "before": {"start": "2026-01-10T14:00:00Z", "staff": "Sam"},
        "after": {"start": "2026-01-15T09:00:00Z", "staff": "Sam"},
        "context": {"reason": "customer asked"},
    })
    .to_string()
}

/// The hand-written audit table and its four indexes, in `schema`.
fn raw_ddl(schema: &str) -> String {
    format!(
        "CREATE SCHEMA \"{schema}\";
         CREATE TABLE \"{schema}\".audit_log (
             tenant text NOT NULL, actor text NOT NULL, action text NOT NULL,
             target_kind text NOT NULL, target_id text NOT NULL,
             occurred_at timestamptz NOT NULL, body jsonb NOT NULL);
         CREATE INDEX ON \"{schema}\".audit_log (tenant, occurred_at);
         CREATE INDEX ON \"{schema}\".audit_log (tenant, actor, occurred_at);
         CREATE INDEX ON \"{schema}\".audit_log (tenant, action, occurred_at);
         CREATE INDEX ON \"{schema}\".audit_log (target_kind, target_id, occurred_at);"
    )
}

fn raw_insert_sql(schema: &str) -> String {
    format!(
        "INSERT INTO \"{schema}\".audit_log
             (tenant, actor, action, target_kind, target_id, occurred_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)"
    )
}

// ---------------------------------------------------------------------------------------------
// Children

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn secs() -> f64 {
    env_or("AUDITKIT_BENCH_SECS", 3.0)
}

/// One writer process: connects, prints `ready`, waits for a line on stdin, records for
/// [`secs`] and prints `done <committed> <failed> <elapsed secs> <cpu secs>` (its own CPU
/// time while recording; 0 where `/proc/self/schedstat` is missing).
fn child(kind: &str) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"));
    let (url, schema, app) = (var(URL_ENV), var(SCHEMA_ENV), var(APP_ENV));
    let writer: u64 = var(WRITER_ENV).parse().expect("writer number");
    let mut config: Config = url.parse().expect("url");
    config
        .application_name(&app)
        .connect_timeout(Duration::from_secs(30));
    let mut write: Box<dyn FnMut(u64) -> Result<(), String>> = match kind {
        "auditkit" => {
            let options = PgOptions::default().schema(&schema).max_connections(1);
            let store = PgStore::connect_with(config, NoTls, options).expect("child store");
            let trail = AuditTrail::new(store);
            trail.log_id().expect("log id");
            Box::new(move |i| trail.record(event(i)).map(drop).map_err(|e| e.to_string()))
        }
        "raw" | "raw2" => {
            let mut client = config.connect(NoTls).expect("child raw connection");
            let stmt = client.prepare(&raw_insert_sql(&schema)).expect("prepare");
            let second = client.prepare("SELECT 1").expect("prepare");
            let two = kind == "raw2";
            Box::new(move |i| {
                client
                    .execute(
                        &stmt,
                        &[
                            &tenant(i),
                            &actor_id(i),
                            &ACTION,
                            &"booking",
                            &booking(i),
                            &SystemTime::now(),
                            &raw_body(i),
                        ],
                    )
                    .and_then(|_| match two {
                        true => client.execute(&second, &[]).map(drop),
                        false => Ok(()),
                    })
                    .map_err(|e| e.to_string())
            })
        }
        other => panic!("unknown child kind {other:?}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("start line");
    let start = Instant::now();
    let cpu_start = cpu_secs();
    let deadline = start + Duration::from_secs_f64(secs());
    let (mut committed, mut failed) = (0u64, 0u64);
    let first = writer * 1_000_000_000;
    while Instant::now() < deadline {
        match write(first + committed + failed) {
            Ok(()) => committed += 1,
            Err(e) => {
                if failed == 0 {
                    eprintln!("writer {writer} ({kind}): {e}");
                }
                failed += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_start;
    writeln!(out, "done {committed} {failed} {elapsed} {cpu}").expect("stdout");
    out.flush().expect("stdout");
}

/// This process's CPU time so far (all threads), 0 where the kernel does not say.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split(' ').next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

// ---------------------------------------------------------------------------------------------
// Parent

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Auditkit,
    Raw,
    /// Raw plus a second, empty round trip per event: what any design costs whose writer
    /// hands its event over in one round trip and learns how it was sealed in another.
    RawTwo,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Auditkit => "auditkit",
            Side::Raw => "raw",
            Side::RawTwo => "raw2",
        }
    }
}

/// One run of one side.
struct Run {
    /// Sum of the writers' committed events per second.
    rate: f64,
    committed: u64,
    failed: u64,
    /// `xact_rollback` delta over the run.
    rollbacks: i64,
    /// Mean number of the run's backends waiting on a lock.
    waiting: f64,
    /// The writer processes' CPU time per committed event, microseconds (the server's is
    /// not in it).
    cpu_per_event_us: f64,
}

fn xact_rollback(monitor: &mut Client) -> i64 {
    monitor
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .expect("clear stats snapshot");
    monitor
        .query_one(
            "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .expect("pg_stat_database")
        .get(0)
}

fn backends(monitor: &mut Client, app: &str) -> i64 {
    monitor
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .expect("pg_stat_activity")
        .get(0)
}

/// Counts the backends of `app` waiting on a lock every [`SAMPLE_EVERY`] until `stop`;
/// returns the mean.
fn sample_lock_waits(
    url: &str,
    app: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<f64> {
    let mut client = pg_support::raw_client(url);
    std::thread::spawn(move || {
        let stmt = client
            .prepare(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
            )
            .expect("prepare sample");
        let (mut sum, mut samples) = (0i64, 0u32);
        while !stop.load(Ordering::Relaxed) {
            let n: i64 = client.query_one(&stmt, &[&app]).expect("sample").get(0);
            sum += n;
            samples += 1;
            std::thread::sleep(SAMPLE_EVERY);
        }
        sum as f64 / f64::from(samples.max(1))
    })
}

fn read_line(from: &mut BufReader<ChildStdout>, what: &str) -> String {
    let mut line = String::new();
    let n = from.read_line(&mut line).expect("child stdout");
    assert!(n > 0, "a writer exited before printing {what:?}");
    line.trim_end().to_owned()
}

/// One run: `n` writer processes of `side` in a fresh schema, then the checks.
fn run(side: Side, n: usize, url: &str, monitor: &mut Client) -> Run {
    let schema = pg_support::fresh_schema(side.name());
    match side {
        // Created here so that the writers do not all migrate it at once.
        Side::Auditkit => drop(PgStore::connect_with_schema(url, &schema).expect("create schema")),
        Side::Raw | Side::RawTwo => monitor.batch_execute(&raw_ddl(&schema)).expect("raw table"),
    }
    let app = format!("auditkit-bench-{schema}");
    let exe = std::env::current_exe().expect("own path");
    let mut children: Vec<_> = (0..n)
        .map(|w| {
            let mut child = Command::new(&exe)
                .env(CHILD_ENV, side.name())
                .env(URL_ENV, url)
                .env(SCHEMA_ENV, &schema)
                .env(WRITER_ENV, w.to_string())
                .env(APP_ENV, &app)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn writer");
            let out = BufReader::new(child.stdout.take().expect("stdout"));
            (child, out)
        })
        .collect();
    for (_, out) in &mut children {
        let line = read_line(out, "ready");
        assert_eq!(line, "ready", "unexpected line from a writer");
    }
    let before = xact_rollback(monitor);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_lock_waits(url, app.clone(), stop.clone());
    for (child, _) in &mut children {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("start a writer");
    }
    let (mut rate, mut committed, mut failed, mut cpu_total) = (0.0, 0u64, 0u64, 0.0);
    for (mut child, mut out) in children {
        let line = read_line(&mut out, "done");
        let f: Vec<&str> = line.split(' ').collect();
        assert!(f.len() == 5 && f[0] == "done", "unexpected line {line:?}");
        let (c, x, secs, cpu): (u64, u64, f64, f64) = (
            f[1].parse().expect("committed"),
            f[2].parse().expect("failed"),
            f[3].parse().expect("elapsed"),
            f[4].parse().expect("cpu"),
        );
        rate += c as f64 / secs;
        cpu_total += cpu;
        committed += c;
        failed += x;
        assert!(child.wait().expect("wait").success(), "a writer failed");
    }
    stop.store(true, Ordering::Relaxed);
    let waiting = sampler.join().expect("sampler");
    // A backend leaves pg_stat_activity just before it flushes its statistics: wait for all
    // to be gone, then for the counter to settle.
    let gone = pg_support::wait_until(30, || backends(monitor, &app) == 0);
    assert!(gone, "the writers' backends did not exit");
    let mut after = xact_rollback(monitor);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let again = xact_rollback(monitor);
        if again == after {
            break;
        }
        after = again;
    }
    match side {
        Side::Auditkit => {
            let trail =
                AuditTrail::new(PgStore::connect_with_schema(url, &schema).expect("reopen"));
            let head = trail.store().head().expect("head").seq;
            if failed == 0 {
                assert_eq!(head, committed, "events stored against events acknowledged");
            }
            let report = trail.verify().expect("verify");
            assert!(
                report.is_ok(),
                "the writers' chain does not verify: {report:?}"
            );
        }
        Side::Raw | Side::RawTwo => {
            let rows: i64 = monitor
                .query_one(&format!("SELECT count(*) FROM \"{schema}\".audit_log"), &[])
                .expect("count")
                .get(0);
            if failed == 0 {
                assert_eq!(
                    rows as u64, committed,
                    "rows stored against rows acknowledged"
                );
            }
        }
    }
    monitor
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .expect("drop schema");
    Run {
        rate,
        committed,
        failed,
        rollbacks: after - before,
        waiting,
        cpu_per_event_us: cpu_total * 1e6 / committed.max(1) as f64,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The bound for `n` writers, and its goal where it has one.
fn target(n: usize) -> Option<(f64, Option<f64>)> {
    match n {
        1 => Some((0.8, None)),
        8 => Some((0.6, None)),
        32 => Some((0.5, Some(0.8))),
        _ => None,
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    if let Ok(kind) = std::env::var(CHILD_ENV) {
        child(&kind);
        return;
    }
    let started = Instant::now();
    let parts = std::env::var("AUDITKIT_PG_BENCH_PARTS").unwrap_or_else(|_| "writes,reads".into());
    let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
    for p in &parts {
        assert!(
            matches!(*p, "writes" | "reads"),
            "AUDITKIT_PG_BENCH_PARTS: `writes` and/or `reads`, not {p:?}"
        );
    }
    let Some((url, _cluster)) = pg_support::bench_server() else {
        return;
    };
    let mut monitor = pg_support::raw_client(&url);
    let load_start = loadavg();
    let mut out = String::new();
    if parts.contains(&"writes") {
        out.push_str(&writes(&url, &mut monitor));
    }
    if parts.contains(&"reads") {
        out.push_str(&reads::reads(&url, &mut monitor));
    }
    println!("{out}");
    println!(
        "- load average (1, 5, 15 min) at the start: {load_start}; at the end: {}",
        loadavg()
    );
    println!("- the bench took {:.0} s", started.elapsed().as_secs_f64());
}

/// The writes part: the table and its notes.
fn writes(url: &str, monitor: &mut Client) -> String {
    let secs = secs();
    let rounds: usize = env_or("AUDITKIT_PG_BENCH_ROUNDS", 3).max(1);
    let writers: Vec<usize> = std::env::var("AUDITKIT_PG_BENCH_WRITERS")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .map(|w| {
            w.trim()
                .parse()
                .expect("AUDITKIT_PG_BENCH_WRITERS: numbers")
        })
        .collect();
    let started = Instant::now();
    let max_conn: String = monitor
        .query_one("SHOW max_connections", &[])
        .expect("max_connections")
        .get(0);
    let most = writers.iter().copied().max().unwrap_or(1);
    assert!(
        max_conn.parse::<usize>().unwrap_or(0) >= most + 10,
        "the server's max_connections ({max_conn}) is too low for {most} writers"
    );
    eprintln!(
        "PostgreSQL, separate writer processes: {secs} s per run, {rounds} rounds per side, writers {writers:?}"
    );

    let mut table = String::from(
        "| writers | auditkit events/s | raw events/s | ratio | target | met | rollbacks per committed batch | writers waiting on a lock (mean) | raw, two round trips per event, events/s |\n\
         |---:|---:|---:|---:|---|---|---:|---:|---:|\n",
    );
    let mut notes = Vec::new();
    for &n in &writers {
        let (mut ak, mut raw, mut raw2) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            for side in [Side::Auditkit, Side::Raw, Side::RawTwo] {
                let r = run(side, n, url, monitor);
                eprintln!(
                    "  {n} writers, round {round}, {}: {:.0} events/s ({} committed, {} failed), {} rollbacks, {:.2} waiting on a lock, writers' CPU {:.0} us per event",
                    side.name(),
                    r.rate,
                    r.committed,
                    r.failed,
                    r.rollbacks,
                    r.waiting,
                    r.cpu_per_event_us
                );
                match side {
                    Side::Auditkit => ak.push(r),
                    Side::Raw => raw.push(r),
                    Side::RawTwo => raw2.push(r),
                }
            }
        }
        let (a, b) = (
            median(ak.iter().map(|r| r.rate).collect()),
            median(raw.iter().map(|r| r.rate).collect()),
        );
        let ratio = a / b;
        let two = median(raw2.iter().map(|r| r.rate).collect());
        let per_batch = |runs: &[Run]| {
            runs.iter().map(|r| r.rollbacks).sum::<i64>() as f64
                / runs.iter().map(|r| r.committed).sum::<u64>().max(1) as f64
        };
        let mean_waiting =
            |runs: &[Run]| runs.iter().map(|r| r.waiting).sum::<f64>() / runs.len() as f64;
        let (target_text, met) = match target(n) {
            None => ("—".to_owned(), "—".to_owned()),
            Some((bound, goal)) => {
                let yes = |ok: bool| if ok { "yes" } else { "**no**" };
                match goal {
                    None => (format!(">= {bound}"), yes(ratio >= bound).to_owned()),
                    Some(g) => (
                        format!(">= {bound} (goal {g})"),
                        format!("{} (goal: {})", yes(ratio >= bound), yes(ratio >= g)),
                    ),
                }
            }
        };
        table.push_str(&format!(
            "| {n} | {} | {} | {ratio:.2} | {target_text} | {met} | {:.2} (raw {:.2}) | {:.2} (raw {:.2}) | {} ({:.2} of raw) |\n",
            num(a),
            num(b),
            per_batch(&ak),
            per_batch(&raw),
            mean_waiting(&ak),
            mean_waiting(&raw),
            num(two),
            two / b,
        ));
        let list = |runs: &[Run]| {
            runs.iter()
                .map(|r| format!("{:.0}", r.rate))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let paired = ak
            .iter()
            .zip(&raw)
            .map(|(a, b)| format!("{:.2}", a.rate / b.rate))
            .collect::<Vec<_>>()
            .join(", ");
        notes.push(format!(
            "{n} writers, each round: auditkit {} events/s; raw {} events/s; raw with two round trips {} events/s; ratio within each round {paired}",
            list(&ak),
            list(&raw),
            list(&raw2)
        ));
        let failed: u64 = ak.iter().chain(&raw).chain(&raw2).map(|r| r.failed).sum();
        if failed > 0 {
            notes.push(format!("{n} writers: {failed} calls failed (see stderr)"));
        }
    }
    let mut out = format!("\nWrites: separate writer processes\n\n{table}\n");
    for note in &notes {
        out.push_str(&format!("- {note}\n"));
    }
    out.push_str(&format!(
        "- {secs} s per run, {rounds} rounds per side; the writes took {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    out
}
