//! PostgreSQL crash safety with real processes and a real server crash.
//!
//! This test binary re-executes itself as 32 writer processes (`AUDITKIT_PG_CRASH_CHILD` set),
//! each an app server of its own: one `AuditTrail<PgStore>` with one connection, recording
//! events (some in batches of three) into one schema of a throwaway cluster with fsync on, and
//! printing every acknowledged event. The parent crashes the server with
//! `pg_ctl stop -m immediate` at random moments while they write, leaves it down for a moment
//! (the writers see errors and keep trying), starts it again, and checks with a fresh store
//! that every acknowledged event is stored, by seq and id, with its content; that the log is
//! one contiguous chain from seq 1 to the head, which `verify` passes; that a fresh trail
//! appends after the restart; and that every writer goes on recording. After the last crash
//! the writers stop and the whole log is checked once more with nothing else writing.
//!
//! Half of the writers give every event an idempotency key and, after an error, retry the same
//! batch with the same keys (the documented safe retry); the others go on with new events,
//! so an event whose outcome was unknown may or may not be stored. Either way no event is
//! acknowledged twice and no acknowledged event is lost.
//!
//! - `AUDITKIT_PG_CRASH_RUNS` (default 2): how many crashes.
//! - `AUDITKIT_PG_CRASH_SEED`: replays the random delays of an earlier run (the seed is
//!   printed); the interleaving of 32 processes is the scheduler's, so it replays the
//!   schedule, not every outcome.
//!
//! It needs a cluster of its own (it crashes it), so it ignores `AUDITKIT_PG_URL`, and skips
//! (`SKIPPED: ..`, a failure under `AUDITKIT_REQUIRE_PG`) when PostgreSQL is not installed. It
//! runs without the libtest harness (`harness = false` in Cargo.toml) so that a child's stdout
//! is exactly what the child prints.

mod pg_support;

#[path = "support/crash_rng.rs"]
mod crash_rng;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crash_rng::{env_u64, seed, Rng};

use auditkit::postgres::{PgOptions, PgStore};
use auditkit::{Actor, AuditStore, AuditTrail, Error, NewEvent, Target};
use postgres::{Config, NoTls};
use serde_json::json;
use uuid::Uuid;

const NAME: &str = "pg_crash_many_writers";
const CHILD_ENV: &str = "AUDITKIT_PG_CRASH_CHILD";
const URL_ENV: &str = "AUDITKIT_PG_CRASH_URL";
const SCHEMA_ENV: &str = "AUDITKIT_PG_CRASH_SCHEMA";
const TAG_ENV: &str = "AUDITKIT_PG_CRASH_TAG";

/// Writer processes, as many app servers.
const WRITERS: usize = 32;
/// How long the parent waits for the writers to go on after a restart, or to stop.
const PATIENCE: Duration = Duration::from_secs(60);

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"));
        child(&var(URL_ENV), &var(SCHEMA_ENV), &var(TAG_ENV));
        return;
    }
    if !selected(std::env::args().skip(1)) {
        return;
    }
    let seed = seed("AUDITKIT_PG_CRASH_SEED");
    println!("pg crash test, seed {seed} (AUDITKIT_PG_CRASH_SEED={seed} replays the delays)");
    let start = Instant::now();
    if crash_many_writers(&mut Rng(seed)) {
        println!(
            "test {NAME} ... ok ({:.1} s)",
            start.elapsed().as_secs_f64()
        );
    }
}

/// Honours libtest's name filters (`--exact`, `--skip`) so that `cargo test -- other_test`
/// skips this test.
fn selected(mut args: impl Iterator<Item = String>) -> bool {
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--skip" => skips.extend(args.next()),
            // libtest options that take a value.
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => drop(args.next()),
            _ if a.starts_with('-') => {}
            _ => filters.push(a),
        }
    }
    let matches = |f: &String| {
        if exact {
            NAME == f
        } else {
            NAME.contains(f.as_str())
        }
    };
    (filters.is_empty() || filters.iter().any(matches)) && !skips.iter().any(matches)
}

fn crashes() -> u64 {
    env_u64("AUDITKIT_PG_CRASH_RUNS", 2)
}

// ---------------------------------------------------------------------------------------------
// Children

fn event(tag: &str, n: u64, keyed: bool) -> NewEvent {
    let e = NewEvent::new("crash.appended")
        .tenant(tag)
        .actor(Actor::user(format!("{tag}-u{}", n % 7)).name("Sarah Connor"))
        .target(Target::new("booking", format!("b-{}", n % 13)).label("Haircut with Sam"))
        .before(json!({"slot": {"start": n}}))
        .after(json!({"slot": {"start": n + 1}}))
        .context("n", n);
    if keyed {
        e.idempotency_key(format!("{tag}-{n}"))
    } else {
        e
    }
}

/// What a writer expects to see while the server is down or recovering.
fn expected_failure(e: &Error) -> Option<&'static str> {
    match e {
        Error::Storage { .. } => Some("storage"),
        Error::OutcomeUnknown { .. } => Some("outcome-unknown"),
        Error::Busy { .. } => Some("busy"),
        _ => None,
    }
}

/// One app server: records until its stdin closes, printing `ack <seq> <id> <tag> <n>` for
/// every acknowledged event, `fail <kind>` for every expected failure (then it tries again),
/// `bad <error>` for any other error (then it exits 3), and `done` at the end. Writers whose
/// number is odd key their events and retry a failed batch with the same keys; every fourth
/// writer records from two threads, so group commit is in play too.
fn child(url: &str, schema: &str, tag: &str) {
    let w: u64 = tag.trim_start_matches('w').parse().expect("writer number");
    let keyed = w % 2 == 1;
    let threads = if w % 4 == 3 { 2 } else { 1 };
    // The parent closes stdin to stop the writers (and so does its death).
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            stop.store(true, Ordering::SeqCst);
        });
    }
    let mut config: Config = url.parse().expect("url");
    config
        .application_name(tag)
        .connect_timeout(Duration::from_secs(5));
    let options = PgOptions::default().schema(schema).max_connections(1);
    // The first crash may come while the writers connect.
    let trail = loop {
        let opened = PgStore::connect_with(config.clone(), NoTls, options.clone())
            .map(AuditTrail::new)
            .and_then(|t| t.log_id().map(drop).map(|()| t));
        match opened {
            Ok(t) => break t,
            Err(e) => match expected_failure(&e) {
                Some(kind) => say(&format!("fail {kind} {e}")),
                None => bad(&e),
            },
        }
        if stop.load(Ordering::SeqCst) {
            say("done");
            return;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let workers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (trail, stop, tag) = (trail.clone(), stop.clone(), tag.to_owned());
            thread::spawn(move || {
                let mut n = t * 1_000_000_000;
                while !stop.load(Ordering::SeqCst) {
                    let size = if n % 5 == 4 { 3 } else { 1 };
                    let batch = (0..size).map(|i| event(&tag, n + i, keyed)).collect();
                    match trail.record_batch(batch) {
                        Ok(events) => {
                            print_or_exit(std::io::stdout().lock(), |out| {
                                for (i, e) in events.iter().enumerate() {
                                    let n = n + i as u64;
                                    writeln!(out, "ack {} {} {tag} {n}", e.seq, e.id)?;
                                }
                                Ok(())
                            });
                            n += size;
                        }
                        Err(e) => {
                            match expected_failure(&e) {
                                Some(kind) => say(&format!("fail {kind} {e}")),
                                None => bad(&e),
                            }
                            // A keyed writer retries the same events; the others go on with
                            // new ones, leaving the outcome of these unknown.
                            if !keyed {
                                n += size;
                            }
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("writer thread");
    }
    say("done");
}

fn say(line: &str) {
    print_or_exit(std::io::stdout().lock(), |out| writeln!(out, "{line}"));
}

/// Writes and flushes; a parent that went away (a failed test) ends the writer quietly.
fn print_or_exit<W: Write>(mut out: W, f: impl FnOnce(&mut W) -> std::io::Result<()>) {
    if f(&mut out).and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

fn bad(e: &Error) -> ! {
    say(&format!("bad {e}"));
    std::process::exit(3);
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

enum Msg {
    Line(usize, String),
    Eof(usize),
}

struct Writer {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Everything the writers printed so far.
#[derive(Default)]
struct Seen {
    acks: Vec<Ack>,
    /// Per writer: the highest seq it acknowledged.
    top: Vec<u64>,
    done: Vec<bool>,
    eof: Vec<bool>,
    fails: BTreeMap<String, u64>,
    bad: Vec<String>,
    /// Per writer: its last line and when it came, for a writer that stalls.
    last: Vec<Option<(Instant, String)>>,
}

impl Seen {
    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Eof(w) => self.eof[w] = true,
            Msg::Line(w, l) => {
                self.last[w] = Some((Instant::now(), l.clone()));
                let parts: Vec<&str> = l.split(' ').collect();
                match parts.as_slice() {
                    ["ack", seq, id, tag, n] => {
                        let ack = Ack {
                            seq: seq.parse().expect("seq"),
                            id: id.parse().expect("id"),
                            tag: (*tag).to_owned(),
                            n: n.parse().expect("n"),
                        };
                        assert_eq!(ack.tag, format!("w{w}"), "{l}");
                        self.top[w] = self.top[w].max(ack.seq);
                        self.acks.push(ack);
                    }
                    ["fail", kind, ..] => *self.fails.entry((*kind).to_owned()).or_default() += 1,
                    ["done"] => self.done[w] = true,
                    _ => self.bad.push(format!("w{w}: {l}")),
                }
            }
        }
    }

    /// Takes the writers' lines until `until` holds (true) or `within` has passed (false).
    fn pump(
        &mut self,
        rx: &mpsc::Receiver<Msg>,
        within: Duration,
        until: impl Fn(&Seen) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if until(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(msg) => self.take(msg),
                Err(_) => return until(self),
            }
        }
    }

    /// Takes whatever lines are already there.
    fn drain(&mut self, rx: &mpsc::Receiver<Msg>) {
        while let Ok(msg) = rx.try_recv() {
            self.take(msg);
        }
    }

    fn assert_no_complaints(&self) {
        assert!(self.bad.is_empty(), "writers complained: {:?}", self.bad);
    }
}

fn spawn(url: &str, schema: &str, w: usize, tx: mpsc::Sender<Msg>) -> Writer {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_ENV, "writer")
        .env(URL_ENV, url)
        .env(SCHEMA_ENV, schema)
        .env(TAG_ENV, format!("w{w}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(Msg::Line(w, line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Msg::Eof(w));
    });
    Writer {
        stdin: child.stdin.take(),
        child,
    }
}

/// Checks the log with a fresh store: seqs 1..=head all there, the head matching the newest,
/// every acknowledged event in `acks` stored with its content, `verify` passing, and a fresh
/// trail appending after the head. `quiet` says nobody else writes, so counts must be exact.
/// Returns the head read and the event the parent appended (acknowledged too).
fn check(url: &str, schema: &str, acks: &[Ack], quiet: bool, k: u64) -> (u64, Ack) {
    let store = PgStore::connect_with_schema(url, schema).expect("a fresh store connects");
    let head = store.head().expect("head");
    let mut stored = HashMap::new();
    let mut from = 1;
    while from <= head.seq {
        let chunk = store.read(from, 2_000).expect("read");
        assert!(
            !chunk.is_empty(),
            "events from seq {from} to the head are missing"
        );
        for s in chunk {
            if s.seq > head.seq {
                break;
            }
            assert_eq!(s.seq, from, "the chain has a gap before seq {}", s.seq);
            from += 1;
            stored.insert(s.seq, s);
        }
    }
    if head.seq > 0 {
        assert_eq!(
            stored[&head.seq].hash, head.hash,
            "the head is not its newest event"
        );
    }
    // Every loss first, then the first one in detail.
    let lost: Vec<&Ack> = acks
        .iter()
        .filter(|a| stored.get(&a.seq).is_none_or(|s| s.id != a.id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events were lost (the head is at {}; a lost seq beyond it is \
         missing, one below it holds another event), first {:?}",
        lost.len(),
        acks.len(),
        head.seq,
        &lost[..lost.len().min(5)]
    );
    let mut ids = HashSet::new();
    for a in acks {
        let s = &stored[&a.seq];
        assert!(ids.insert(a.id), "{a:?} was acknowledged twice");
        let e = s.decode().expect("acknowledged event decodes");
        assert_eq!(e.tenant.as_deref(), Some(a.tag.as_str()), "{a:?}");
        assert_eq!(e.context["n"], json!(a.n), "{a:?}");
        assert_eq!(e.actor.name.as_deref(), Some("Sarah Connor"), "{a:?}");
    }
    let trail = AuditTrail::new(store);
    let report = trail.verify().expect("verify reads");
    assert!(report.is_ok(), "verify after a crash: {:?}", report.fault);
    assert!(report.checked >= head.seq, "{report:?}");
    let next = trail
        .record(event("parent", k, false))
        .expect("a fresh trail appends after the restart");
    assert!(next.seq > head.seq, "appending goes on after the head");
    if quiet {
        assert_eq!(report.checked, head.seq, "{report:?}");
        assert_eq!(next.seq, head.seq + 1, "appending goes on from the head");
    }
    let ack = Ack {
        seq: next.seq,
        id: next.id,
        tag: "parent".into(),
        n: k,
    };
    (head.seq, ack)
}

/// Returns false when skipped.
fn crash_many_writers(rng: &mut Rng) -> bool {
    let Some(cluster) = pg_support::own_durable_cluster() else {
        return false;
    };
    let url = cluster.url();
    let schema = "crash";
    // Create the schema first so the writers do not race to create it.
    drop(PgStore::connect_with_schema(&url, schema).expect("create the schema"));

    let (tx, rx) = mpsc::channel();
    let mut writers: Vec<Writer> = (0..WRITERS)
        .map(|w| spawn(&url, schema, w, tx.clone()))
        .collect();
    drop(tx);
    let mut seen = Seen {
        top: vec![0; WRITERS],
        done: vec![false; WRITERS],
        eof: vec![false; WRITERS],
        last: vec![None; WRITERS],
        ..Seen::default()
    };
    let mut parent_acks: Vec<Ack> = Vec::new();
    let crashes = crashes();
    let mut lines = Vec::new();
    for crash in 1..=crashes {
        // Mostly mid-stream, now and then while the writers connect or just came back.
        let wait = match rng.below(8) {
            0 => 0,
            _ => 100 + rng.below(1_500),
        };
        let from = seen.acks.len() as u64;
        seen.pump(&rx, Duration::from_secs(20), |s| {
            s.acks.len() as u64 >= from + wait
        });
        thread::sleep(Duration::from_micros(rng.below(200_000)));
        cluster
            .stop_immediately()
            .expect("pg_ctl stop -m immediate");
        let crashed_at = Instant::now();
        seen.drain(&rx);
        let acked_at_crash = seen.acks.len();
        let top_at_crash = seen.acks.iter().map(|a| a.seq).max().unwrap_or(0);
        // Down for a moment: the writers fail to connect, and keep trying.
        thread::sleep(Duration::from_millis(rng.below(500)));
        cluster.start_again().expect("restart the server");
        let down = crashed_at.elapsed();
        // Lines printed before the crash may still be on their way.
        seen.drain(&rx);
        seen.assert_no_complaints();
        let mut all = seen.acks.clone();
        all.extend(parent_acks.iter().cloned());
        let (head, ack) = check(&url, schema, &all, false, crash);
        parent_acks.push(ack);
        // Appends go on: every writer acknowledges an event after the restart.
        let resumed = seen.pump(&rx, PATIENCE, |s| s.top.iter().all(|&t| t > head));
        seen.assert_no_complaints();
        assert!(
            resumed,
            "writers recorded nothing after the restart (each with its last line and how long \
             ago): {:?}",
            (0..WRITERS)
                .filter(|&w| seen.top[w] <= head)
                .map(|w| (w, seen.last[w].as_ref().map(|(at, l)| (at.elapsed(), l))))
                .collect::<Vec<_>>()
        );
        lines.push(format!(
            "  crash {crash}: {acked_at_crash} events acknowledged before it (highest seq {top_at_crash}), \
             head {head} after the restart ({} unacknowledged kept), down {:.2} s, all {WRITERS} writers went on",
            head - top_at_crash.min(head),
            down.as_secs_f64()
        ));
    }
    // Stop the writers: they finish the call in flight and say `done`.
    for w in &mut writers {
        drop(w.stdin.take());
    }
    let stopped = seen.pump(&rx, PATIENCE, |s| s.eof.iter().all(|&e| e));
    assert!(stopped, "writers did not stop");
    for w in &mut writers {
        let status = w.child.wait().expect("wait");
        assert!(status.success(), "a writer failed: {status}");
    }
    seen.assert_no_complaints();
    assert!(seen.done.iter().all(|&d| d), "a writer did not finish");
    let mut all = seen.acks.clone();
    all.extend(parent_acks);
    let (head, _) = check(&url, schema, &all, true, 0);
    for l in lines {
        println!("{l}");
    }
    println!(
        "  {WRITERS} writer processes, {crashes} crashes (pg_ctl stop -m immediate): {} events acknowledged, 0 lost, one contiguous chain of {head} that verifies; failures seen by writers: {:?}",
        all.len(),
        seen.fails
    );
    true
}
