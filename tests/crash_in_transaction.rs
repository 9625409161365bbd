//! `record_in` under SIGKILL, with real processes: the booking change and its event commit
//! together or not at all.
//!
//! This test binary re-executes itself as the app process (`AUDITKIT_TX_CRASH_CHILD` set).
//! The app updates a booking and inserts a row into its own `booking_changes` table, records
//! the event inside the same transaction (sometimes two events, sometimes rolling back), and
//! prints `committed <n>` once its commit returned. The parent kills it with SIGKILL at a
//! random moment, then checks that the app's changes and the events match one to one, that
//! every change the app saw committed is there, that the chain verifies, and that appending
//! goes on.
//!
//! - `AUDITKIT_TX_CRASH_RUNS` (default 200): kills.
//! - `AUDITKIT_TX_CRASH_SEED`: replays the random delays of an earlier run (the seed is
//!   printed).

#[path = "support/crash_rng.rs"]
mod crash_rng;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use auditkit::sqlite::rusqlite::{Connection, TransactionBehavior};
use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, NewEvent, Query, Target};
use crash_rng::{env_u64, seed, Rng};
use serde_json::json;

const CHILD_ENV: &str = "AUDITKIT_TX_CRASH_CHILD";
const DB_ENV: &str = "AUDITKIT_TX_CRASH_DB";

fn main() {
    if std::env::var(CHILD_ENV).is_ok() {
        let db = PathBuf::from(std::env::var(DB_ENV).expect("the child needs its database"));
        child(&db);
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let name = "kill_during_app_transactions";
    if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
        return;
    }
    let seed = seed("AUDITKIT_TX_CRASH_SEED");
    println!(
        "record_in crash test, seed {seed} (AUDITKIT_TX_CRASH_SEED={seed} replays the delays)"
    );
    let start = Instant::now();
    kill_during_app_transactions(&mut Rng(seed));
    println!(
        "test {name} ... ok ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
}

/// The booking app: reschedules `b-<n % 10>` in transaction `n`, with its event, until killed.
fn child(db: &Path) {
    let mut app = Connection::open(db).expect("open the app's database");
    app.busy_timeout(Duration::from_secs(10)).unwrap();
    app.pragma_update(None, "synchronous", "FULL").unwrap();
    let trail = AuditTrail::new(SqliteStore::adopt(db).expect("adopt"));
    let mut n: i64 = app
        .query_row(
            "SELECT COALESCE(MAX(n), 0) + 1 FROM booking_changes",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        let booking = format!("b-{}", n % 10);
        let tx = app
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let start = format!("2026-03-{:02}T10:00:00Z", n % 28 + 1);
        tx.execute(
            "UPDATE bookings SET start = ?1 WHERE id = ?2",
            [&start, &booking],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO booking_changes (n, booking, start) VALUES (?1, ?2, ?3)",
            (n, &booking, &start),
        )
        .unwrap();
        let event = |action: &str| {
            NewEvent::new(action)
                .tenant("salon-1")
                .actor(Actor::user("u-1").name("Sarah"))
                .target(Target::new("booking", &booking))
                .after(json!({ "start": start }))
                .context("n", n)
        };
        if n % 7 == 3 {
            trail
                .record_batch_in(
                    &tx,
                    vec![event("booking.rescheduled"), event("booking.noted")],
                )
                .unwrap();
        } else {
            trail.record_in(&tx, event("booking.rescheduled")).unwrap();
        }
        if n % 11 == 5 {
            tx.rollback().unwrap();
        } else {
            tx.commit().unwrap();
            writeln!(out, "committed {n}").unwrap();
            out.flush().unwrap();
        }
        n += 1;
    }
}

fn kill_during_app_transactions(rng: &mut Rng) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let app = Connection::open(&db).unwrap();
    app.execute_batch(
        "CREATE TABLE bookings (id TEXT PRIMARY KEY, start TEXT NOT NULL);
         CREATE TABLE booking_changes (n INTEGER PRIMARY KEY, booking TEXT NOT NULL, start TEXT NOT NULL);",
    )
    .unwrap();
    for b in 0..10 {
        app.execute(
            "INSERT INTO bookings VALUES (?1, '2026-03-01T10:00:00Z')",
            [format!("b-{b}")],
        )
        .unwrap();
    }
    drop(app);
    let runs = env_u64("AUDITKIT_TX_CRASH_RUNS", 200);
    let mut acked = BTreeSet::new();
    let mut appended_after = 0;
    for run in 0..runs {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, "app")
            .env(DB_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        // Now and then while the app opens, mostly once it is committing.
        let wait = match rng.below(6) {
            0 => Duration::from_micros(rng.below(20_000)),
            _ => Duration::from_micros(5_000 + rng.below(120_000)),
        };
        std::thread::sleep(wait);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        assert!(
            status.code().is_none(),
            "run {run}: the app exited by itself ({status}) instead of being killed"
        );
        for line in rx.try_iter() {
            let n: i64 = line
                .strip_prefix("committed ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("run {run}: unexpected line {line:?}"));
            acked.insert(n);
        }
        appended_after += check(&db, &acked, run);
    }
    println!(
        "  {runs} kills: {} app transactions acknowledged, all with their events; {appended_after} appends after a kill",
        acked.len()
    );
}

/// After a kill: the app's committed changes and the events match one to one, every
/// acknowledged change is there, the chain verifies, and a fresh trail appends. Returns 1
/// for that append.
fn check(db: &Path, acked: &BTreeSet<i64>, run: u64) -> usize {
    let app = Connection::open(db).unwrap();
    let changes: BTreeSet<i64> = app
        .prepare("SELECT n FROM booking_changes")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lost: Vec<&i64> = acked.difference(&changes).collect();
    assert!(
        lost.is_empty(),
        "run {run}: acknowledged changes lost: {lost:?}"
    );
    let trail = AuditTrail::new(SqliteStore::adopt(db).unwrap());
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "run {run}: {report}");
    let mut events = Vec::new();
    let mut query = Query::new().action("booking.rescheduled").oldest_first();
    loop {
        let page = trail.query(&query).unwrap();
        events.extend(page.events);
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    let recorded: Vec<i64> = events
        .iter()
        .map(|e| e.context["n"].as_i64().expect("n"))
        .collect();
    let recorded_set: BTreeSet<i64> = recorded.iter().copied().collect();
    assert_eq!(
        recorded.len(),
        recorded_set.len(),
        "run {run}: an event twice"
    );
    assert_eq!(
        recorded_set, changes,
        "run {run}: the events and the app's committed changes differ"
    );
    // Each event says what its change wrote.
    for e in &events {
        let n = e.context["n"].as_i64().unwrap();
        let start: String = app
            .query_row("SELECT start FROM booking_changes WHERE n = ?1", [n], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            e.after.as_ref().unwrap()["start"],
            json!(start),
            "run {run}"
        );
    }
    let next = trail.record(NewEvent::new("check.after_kill")).unwrap();
    assert_eq!(
        next.seq,
        report.checked + 1,
        "run {run}: appending goes on from the head"
    );
    1
}
