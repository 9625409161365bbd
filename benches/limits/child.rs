//! Child processes: this binary re-run with `AUDITKIT_BENCH_CHILD` to run one operation alone
//! (verify, export, the queries, a query plan) and report its time and peak memory (`VmHWM`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use auditkit::sqlite::Synchronous;
use auditkit::{AuditTrail, Query};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};

use crate::queries::query_latencies;
use crate::report::{Report, Row};
use crate::streaming::{raw_export, raw_verify};
use crate::{env_u64, open_store};

/// [`query_latencies`] in a fresh process, as when only the queries are run: after the
/// build, this process's heap (a million generated events, freed but not returned) made
/// auditkit's allocations, and so its p99s, slower than in any application that had not
/// just generated a million events; raw code allocates less and hardly noticed.
pub fn queries_in_child(ak_path: &Path, n: u64, queries: usize, rep: &mut Report) {
    let exe = env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env("AUDITKIT_BENCH_CHILD", "queries")
        .env("AUDITKIT_BENCH_DB", ak_path)
        .env("AUDITKIT_BENCH_EVENTS", n.to_string())
        .env("AUDITKIT_BENCH_QUERIES", queries.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child queries failed: {stdout}");
    for line in stdout.lines() {
        if let Some(row) = line.strip_prefix("ROW ") {
            let f: Vec<&str> = row.split('\t').collect();
            rep.rows.push(Row {
                name: f[0].to_owned(),
                unit: "ms",
                auditkit: f[1].parse().expect("auditkit"),
                raw: Some(f[2].parse().expect("raw")),
                target: Some(("<=", 1.5)),
                ratio_override: None,
            });
        } else if let Some(note) = line.strip_prefix("NOTE ") {
            rep.notes.push(note.to_owned());
        }
    }
}

/// Runs `job` in a child process; returns (seconds, count, peak RSS in MiB).
pub fn run_child(job: &str, db: &Path) -> (f64, u64, f64) {
    let exe = env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env("AUDITKIT_BENCH_CHILD", job)
        .env("AUDITKIT_BENCH_DB", db)
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {job} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("child result");
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[0].parse().expect("secs"),
        f[1].parse().expect("count"),
        f[2].parse::<f64>().expect("kib") / 1024.0,
    )
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The child side: runs one operation and prints `RESULT secs count peak_kib`.
pub fn child(job: &str) {
    let db = PathBuf::from(env::var("AUDITKIT_BENCH_DB").expect("AUDITKIT_BENCH_DB"));
    let t = Instant::now();
    let count = match job {
        "verify-chain-auditkit" => {
            let trail = AuditTrail::new(open_store(&db, Synchronous::Full));
            let r = trail.verify_chain().expect("verify_chain");
            assert!(r.is_ok(), "{r}");
            r.checked
        }
        "verify-auditkit" => {
            let trail = AuditTrail::new(open_store(&db, Synchronous::Full));
            let r = trail.verify().expect("verify");
            assert!(r.is_ok(), "{r}");
            r.checked
        }
        "export-auditkit" => {
            let trail = AuditTrail::new(open_store(&db, Synchronous::Full));
            trail
                .export_jsonl(&Query::new().oldest_first(), std::io::sink())
                .expect("export")
        }
        // A debugging aid: the plans of `;`-separated statements, after an optional ANALYZE.
        "plan" => {
            let conn = Connection::open(&db).expect("open");
            // As auditkit's connections.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .expect("qpsg");
            if env::var("AUDITKIT_BENCH_ANALYZE").is_ok() {
                conn.execute_batch("ANALYZE").expect("analyze");
            }
            let sql = env::var("AUDITKIT_BENCH_SQL").expect("AUDITKIT_BENCH_SQL");
            for q in sql.split(';').filter(|q| !q.trim().is_empty()) {
                println!("== {}", q.trim());
                let mut stmt = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {q}"))
                    .expect("prepare");
                // Parameters, if any, are bound to NULL: the plan still shows the index.
                let nulls = vec![SqlValue::Null; stmt.parameter_count()];
                let mut rows = stmt.query(params_from_iter(&nulls)).expect("plan");
                while let Some(r) = rows.next().expect("row") {
                    println!("  {}", r.get::<_, String>(3).expect("detail"));
                }
                drop(rows);
                let mut stmt = conn.prepare(q).expect("prepare");
                let t = Instant::now();
                let mut n = 0;
                for _ in 0..10 {
                    let mut rows = stmt.query(params_from_iter(&nulls)).expect("query");
                    while rows.next().expect("row").is_some() {
                        n += 1;
                    }
                }
                println!(
                    "  {} rows, {:.3} ms per run",
                    n / 10,
                    t.elapsed().as_secs_f64() * 100.0
                );
            }
            return;
        }
        "queries" => {
            let n = env_u64("AUDITKIT_BENCH_EVENTS", 1_000_000);
            let queries = env_u64("AUDITKIT_BENCH_QUERIES", 1_000) as usize;
            let raw_path = db.with_file_name("raw-large.db");
            let mut rep = Report::default();
            query_latencies(&db, &raw_path, n, queries, &mut rep);
            for r in &rep.rows {
                println!(
                    "ROW {}\t{}\t{}",
                    r.name,
                    r.auditkit,
                    r.raw.unwrap_or(f64::NAN)
                );
            }
            for note in &rep.notes {
                println!("NOTE {note}");
            }
            return;
        }
        "verify-raw" => raw_verify(&db),
        "verify-hand" => crate::handwritten::hand_verify(&db),
        "export-raw" => raw_export(&db),
        other => panic!("unknown child job {other}"),
    };
    println!(
        "RESULT {} {count} {}",
        t.elapsed().as_secs_f64(),
        vm_hwm_kib()
    );
}
