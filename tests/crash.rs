//! Crash safety with real processes.
//!
//! This test binary re-executes itself as the writer processes (`AUDITKIT_CRASH_CHILD` set):
//! children append events to one SQLite file and print every acknowledged event; the parent
//! kills them with SIGKILL at random moments, reopens the file and checks that nothing
//! acknowledged was lost or changed, that the chain verifies and that appending goes on from
//! the right head.
//!
//! - `AUDITKIT_CRASH_RUNS` (default 200): kills of the single-writer test; the multi-writer
//!   test does a tenth as many rounds of three writers each.
//! - `AUDITKIT_CRASH_SEED`: replays the random delays of an earlier run (the seed is printed).
//!
//! It runs without the libtest harness (`harness = false` in Cargo.toml) so that a child's
//! stdout is exactly what the child prints.

#[path = "support/crash_rng.rs"]
mod crash_rng;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crash_rng::{env_u64, seed, Rng};

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, NewEvent, Query, Target};
use serde_json::json;
use uuid::Uuid;

const CHILD_ENV: &str = "AUDITKIT_CRASH_CHILD";
const DB_ENV: &str = "AUDITKIT_CRASH_DB";
const TAG_ENV: &str = "AUDITKIT_CRASH_TAG";

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let db = PathBuf::from(std::env::var(DB_ENV).expect("child needs AUDITKIT_CRASH_DB"));
        let tag = std::env::var(TAG_ENV).unwrap_or_else(|_| "w0".into());
        match mode.as_str() {
            "append" => child_append(&db, &tag),
            "load" => child_load(&db, &tag),
            other => panic!("unknown child mode {other:?}"),
        }
        return;
    }
    // Honour a libtest-style name filter so `cargo test -- some_other_test` skips this.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests: [(&str, CrashTest); 3] = [
        ("crash_single_writer", crash_single_writer),
        ("crash_many_writers", crash_many_writers),
        ("busy_processes_never_fail", busy_processes_never_fail),
    ];
    let seed = seed("AUDITKIT_CRASH_SEED");
    println!("crash tests, seed {seed} (AUDITKIT_CRASH_SEED={seed} replays the delays)");
    let mut rng = Rng(seed);
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = Instant::now();
        test(&mut rng);
        println!(
            "test {name} ... ok ({:.1} s)",
            start.elapsed().as_secs_f64()
        );
    }
}

type CrashTest = fn(&mut Rng);

fn runs() -> u64 {
    env_u64("AUDITKIT_CRASH_RUNS", 200)
}

// ---------------------------------------------------------------------------------------------
// Children

fn event(tag: &str, n: u64) -> NewEvent {
    NewEvent::new("crash.appended")
        .tenant(tag)
        .actor(Actor::user(format!("{tag}-u{}", n % 7)).name("Sarah Connor"))
        .target(Target::new("booking", format!("b-{}", n % 13)).label("Haircut with Sam"))
        .before(json!({"slot": {"start": n}}))
        .after(json!({"slot": {"start": n + 1}}))
        .context("n", n)
}

/// Appends forever from two threads (so group commit is in play), single events and batches
/// of three, printing `ack <seq> <id> <tag> <n>` for every acknowledged event.
fn child_append(db: &Path, tag: &str) {
    let trail = AuditTrail::new(SqliteStore::open(db).expect("child opens the database"));
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let trail = trail.clone();
            let tag = tag.to_owned();
            thread::spawn(move || {
                let mut n = t * 1_000_000_000;
                loop {
                    let batch: Vec<NewEvent> = (0..if n % 5 == 4 { 3 } else { 1 })
                        .map(|i| event(&tag, n + i))
                        .collect();
                    let len = batch.len() as u64;
                    match trail.record_batch(batch) {
                        Ok(events) => {
                            let mut out = std::io::stdout().lock();
                            for (i, e) in events.iter().enumerate() {
                                writeln!(out, "ack {} {} {tag} {}", e.seq, e.id, n + i as u64)
                                    .expect("stdout");
                            }
                            out.flush().expect("stdout");
                        }
                        Err(e) => {
                            println!("err {e}");
                            std::process::exit(2);
                        }
                    }
                    n += len;
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Records 150 events (with batches and idempotent retries) while querying, counting and
/// verifying; prints `ack ..` lines, then `done`, or `err ..` and exits 2 on any error.
fn child_load(db: &Path, tag: &str) {
    let fail = |what: &str, e: auditkit::Error| -> ! {
        println!("err {what}: {e}");
        std::process::exit(2);
    };
    let trail = match SqliteStore::open(db) {
        Ok(s) => AuditTrail::new(s),
        Err(e) => fail("open", e),
    };
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    while n < 150 {
        let size = if n % 10 == 7 { 3 } else { 1 };
        let batch = (0..size)
            .map(|i| event(tag, n + i).idempotency_key(format!("{tag}-{}", n + i)))
            .collect();
        let events = trail
            .record_batch(batch)
            .unwrap_or_else(|e| fail("record", e));
        for (i, e) in events.iter().enumerate() {
            writeln!(out, "ack {} {} {tag} {}", e.seq, e.id, n + i as u64).expect("stdout");
        }
        if n.is_multiple_of(20) {
            // A retried request returns the first event, never a duplicate.
            let again = trail
                .record(event(tag, n).idempotency_key(format!("{tag}-{n}")))
                .unwrap_or_else(|e| fail("retry", e));
            if again.id != events[0].id {
                println!("err idempotent retry stored a duplicate");
                std::process::exit(2);
            }
        }
        let q = Query::new().tenant(tag).action("crash.*").limit(20);
        let page = trail.query(&q).unwrap_or_else(|e| fail("query", e));
        if page.events.iter().any(|e| e.tenant.as_deref() != Some(tag)) {
            println!("err query returned another tenant's event");
            std::process::exit(2);
        }
        let count = trail.count(&q).unwrap_or_else(|e| fail("count", e));
        if count < n + size {
            println!("err count {count} is below the {} recorded", n + size);
            std::process::exit(2);
        }
        if n.is_multiple_of(50) {
            let report = trail.verify().unwrap_or_else(|e| fail("verify", e));
            if !report.is_ok() {
                println!("err verify: {:?}", report.fault);
                std::process::exit(2);
            }
        }
        n += size;
    }
    writeln!(out, "done").expect("stdout");
}

// ---------------------------------------------------------------------------------------------
// Parent

#[derive(Debug, Clone)]
struct Ack {
    seq: u64,
    id: Uuid,
    tag: String,
    n: u64,
}

fn spawn(mode: &str, db: &Path, tag: &str) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_ENV, mode)
        .env(DB_ENV, db)
        .env(TAG_ENV, tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Reads a child's stdout to the end on a thread; every line also goes to `tx` as it comes.
fn collect(stdout: ChildStdout, tx: mpsc::Sender<()>) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            lines.push(line);
            let _ = tx.send(());
        }
        lines
    })
}

fn parse(lines: &[String]) -> (Vec<Ack>, Vec<String>) {
    let mut acks = Vec::new();
    let mut other = Vec::new();
    for l in lines {
        let parts: Vec<&str> = l.split(' ').collect();
        match parts.as_slice() {
            ["ack", seq, id, tag, n] => acks.push(Ack {
                seq: seq.parse().expect("seq"),
                id: id.parse().expect("id"),
                tag: (*tag).to_owned(),
                n: n.parse().expect("n"),
            }),
            // A kill can cut the last line short; anything else is a child's complaint.
            _ if l.starts_with("ack ") => {}
            _ => other.push(l.clone()),
        }
    }
    (acks, other)
}

/// Waits for `acks` lines (or a short timeout), then a random delay of up to `max_delay_us`.
fn wait_for(rx: &mpsc::Receiver<()>, acks: u64, rng: &mut Rng, max_delay_us: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..acks {
        let left = deadline.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
    }
    thread::sleep(Duration::from_micros(rng.below(max_delay_us)));
}

/// Reopens the file and checks every acknowledged event, the chain, and the next append.
/// Returns the event the parent appended (acknowledged too).
fn check(db: &Path, acks: &[Ack]) -> Ack {
    let store = SqliteStore::open(db).expect("reopen after the kill");
    let head = store.head().expect("head");
    let mut stored = HashMap::new();
    let mut from = 1;
    loop {
        let chunk = store.read(from, 1_000).expect("read");
        let Some(last) = chunk.last() else { break };
        from = last.seq + 1;
        for s in chunk {
            assert_eq!(s.seq, stored.len() as u64 + 1, "the chain has a gap");
            stored.insert(s.seq, s);
        }
    }
    assert_eq!(stored.len() as u64, head.seq, "events and head disagree");
    for a in acks {
        let s = stored
            .get(&a.seq)
            .unwrap_or_else(|| panic!("acknowledged event {a:?} was lost (head {})", head.seq));
        assert_eq!(s.id, a.id, "acknowledged seq {} holds another event", a.seq);
        let e = s.decode().expect("acknowledged event decodes");
        assert_eq!(e.tenant.as_deref(), Some(a.tag.as_str()), "{a:?}");
        assert_eq!(e.context["n"], json!(a.n), "{a:?}");
        assert_eq!(e.actor.name.as_deref(), Some("Sarah Connor"), "{a:?}");
    }
    let trail = AuditTrail::new(store);
    let report = trail.verify().expect("verify reads");
    assert!(report.is_ok(), "verify after a kill: {:?}", report.fault);
    assert_eq!(report.checked, head.seq);
    let next = trail
        .record(event("parent", 0))
        .expect("append after a kill");
    assert_eq!(next.seq, head.seq + 1, "appending goes on from the head");
    Ack {
        seq: next.seq,
        id: next.id,
        tag: "parent".into(),
        n: 0,
    }
}

fn crash_single_writer(rng: &mut Rng) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kills = runs();
    const KILLS_PER_FILE: u64 = 10;
    let (mut acked, mut stored_at_kill, mut files) = (0u64, 0u64, 0u64);
    let mut k = 0;
    while k < kills {
        files += 1;
        let db = dir.path().join(format!("single-{files}.db"));
        let mut all: Vec<Ack> = Vec::new();
        for _ in 0..KILLS_PER_FILE.min(kills - k) {
            k += 1;
            let mut child = spawn("append", &db, "w0");
            let (tx, rx) = mpsc::channel();
            let reader = collect(child.stdout.take().expect("stdout"), tx);
            // Mostly mid-stream, sometimes before the first commit (or during open).
            let wait = if rng.below(8) == 0 { 0 } else { rng.below(25) };
            wait_for(&rx, wait, rng, 3_000);
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("wait");
            let (acks, other) = parse(&reader.join().expect("reader"));
            assert!(other.is_empty(), "child complained: {other:?}");
            assert!(!status.success(), "the child was killed, not finished");
            acked += acks.len() as u64;
            all.extend(acks);
            all.push(check(&db, &all));
            stored_at_kill += all.len() as u64;
        }
    }
    println!(
        "  single writer: {kills} SIGKILLs over {files} files, {acked} events acknowledged by killed writers, 0 lost ({stored_at_kill} acknowledged-event checks)"
    );
}

fn crash_many_writers(rng: &mut Rng) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rounds = (runs() / 10).max(3);
    let (mut acked, mut kills) = (0u64, 0u64);
    for file in 0..rounds.div_ceil(4) {
        let db = dir.path().join(format!("many-{file}.db"));
        // Create the schema first so the writers do not race to create it.
        drop(SqliteStore::open(&db).expect("create"));
        let mut all: Vec<Ack> = Vec::new();
        for _ in 0..4.min(rounds - file * 4) {
            let mut children = Vec::new();
            for w in 0..3 {
                let tag = format!("w{w}");
                let mut child = spawn("append", &db, &tag);
                let (tx, rx) = mpsc::channel();
                let reader = collect(child.stdout.take().expect("stdout"), tx);
                children.push((child, rx, reader));
            }
            for (child, rx, _) in &mut children {
                let wait = rng.below(20);
                wait_for(rx, wait, rng, 2_000);
                child.kill().expect("SIGKILL");
                kills += 1;
            }
            for (mut child, _, reader) in children {
                child.wait().expect("wait");
                let (acks, other) = parse(&reader.join().expect("reader"));
                assert!(other.is_empty(), "child complained: {other:?}");
                acked += acks.len() as u64;
                all.extend(acks);
            }
            all.push(check(&db, &all));
        }
    }
    println!(
        "  three writers per file: {rounds} rounds, {kills} SIGKILLs, {acked} events acknowledged, 0 lost"
    );
}

fn busy_processes_never_fail(_rng: &mut Rng) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("busy.db");
    drop(SqliteStore::open(&db).expect("create"));
    let writers = 4;
    let children: Vec<_> = (0..writers)
        .map(|w| {
            let mut child = spawn("load", &db, &format!("l{w}"));
            let (tx, _rx) = mpsc::channel();
            let reader = collect(child.stdout.take().expect("stdout"), tx);
            (child, reader)
        })
        .collect();
    let mut all = Vec::new();
    for (mut child, reader) in children {
        let status = child.wait().expect("wait");
        let lines = reader.join().expect("reader");
        let (acks, other) = parse(&lines);
        assert_eq!(other, ["done"], "a writer failed under load");
        assert!(status.success(), "{status}");
        assert_eq!(acks.len(), 150);
        all.extend(acks);
    }
    let last = check(&db, &all);
    assert_eq!(last.seq, writers * 150 + 1, "no duplicates, no gaps");
    println!(
        "  {writers} processes writing, querying and verifying one file: {} events, 0 errors, one contiguous chain",
        writers * 150
    );
}
