//! `record_in` on PostgreSQL under crashes, with real processes: the app's change and its
//! event commit together or not at all.
//!
//! This test binary re-executes itself as the app process (`AUDITKIT_PG_TX_CRASH_CHILD`
//! set). The app inserts a row into its own `booking_changes` table and records the event
//! inside the same transaction on its own connection (sometimes two events, sometimes rolling
//! back), printing `committed <n>` once its commit returned; after a connection error it
//! reconnects and goes on. The parent
//! - kills the app with SIGKILL at random moments (`AUDITKIT_PG_TX_KILLS`, default 30), and
//! - stops the server with `pg_ctl stop -m immediate` under a running app and starts it again
//!   (`AUDITKIT_PG_TX_CRASHES`, default 3),
//!
//! and after each checks that the app's committed changes and the events match one to one,
//! that every change the app saw committed is there, that the chain verifies and that
//! appending goes on. `AUDITKIT_PG_TX_CRASH_SEED` replays the random delays.

#[path = "support/crash_rng.rs"]
mod crash_rng;
mod pg_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use auditkit::postgres::PgStore;
use auditkit::{Actor, AuditTrail, NewEvent, Target};
use crash_rng::{env_u64, seed, Rng};
use postgres::{Client, NoTls};
use serde_json::json;

const CHILD_ENV: &str = "AUDITKIT_PG_TX_CRASH_CHILD";
const URL_ENV: &str = "AUDITKIT_PG_TX_CRASH_URL";
const SCHEMA_ENV: &str = "AUDITKIT_PG_TX_CRASH_SCHEMA";
const APP_ENV: &str = "AUDITKIT_PG_TX_CRASH_APP";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"));
        child(&var(URL_ENV), &var(SCHEMA_ENV), &var(APP_ENV));
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seed = seed("AUDITKIT_PG_TX_CRASH_SEED");
    println!("pg record_in crash tests, seed {seed} (AUDITKIT_PG_TX_CRASH_SEED={seed} replays the delays)");
    let mut rng = Rng(seed);
    let tests: [(&str, CrashTest); 2] = [
        ("kill_the_app_mid_transaction", kill_the_app),
        ("crash_the_server_under_the_app", crash_the_server),
    ];
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = Instant::now();
        if test(&mut rng) {
            println!(
                "test {name} ... ok ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
        }
    }
}

/// A test; false when it was skipped.
type CrashTest = fn(&mut Rng) -> bool;

/// The booking app: transaction `n` inserts change `n` and records its event, until killed.
fn child(url: &str, schema: &str, app: &str) {
    let connect = || loop {
        let opened = Client::connect(url, NoTls).and_then(|mut c| {
            c.batch_execute(&format!("SET search_path TO \"{app}\""))
                .map(|()| c)
        });
        match opened {
            Ok(c) => break c,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let trail = loop {
        match PgStore::connect_with_schema(url, schema) {
            Ok(s) => break AuditTrail::new(s),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut client = connect();
    let mut n: i64 = loop {
        match client.query_one("SELECT COALESCE(MAX(n), 0) + 1 FROM booking_changes", &[]) {
            Ok(r) => break r.get(0),
            Err(_) => client = connect(),
        }
    };
    let mut out = std::io::stdout().lock();
    loop {
        let attempt = (|| -> Result<bool, Box<dyn std::error::Error>> {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO booking_changes (n, booking) VALUES ($1, $2)",
                &[&n, &format!("b-{}", n % 10)],
            )?;
            let event = |action: &str| {
                NewEvent::new(action)
                    .tenant("salon-1")
                    .actor(Actor::user("u-1").name("Sarah"))
                    .target(Target::new("booking", format!("b-{}", n % 10)))
                    .after(json!({ "n": n }))
                    .context("n", n)
            };
            if n % 7 == 3 {
                trail.record_batch_in(
                    &mut tx,
                    vec![event("booking.rescheduled"), event("booking.noted")],
                )?;
            } else {
                trail.record_in(&mut tx, event("booking.rescheduled"))?;
            }
            if n % 11 == 5 {
                tx.rollback()?;
                return Ok(false);
            }
            tx.commit()?;
            Ok(true)
        })();
        match attempt {
            Ok(true) => {
                // A parent that went away (a failed test) ends the app quietly.
                if writeln!(out, "committed {n}")
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    std::process::exit(1);
                }
                n += 1;
            }
            Ok(false) => n += 1,
            // The server went away: this change may or may not have committed (it is never
            // acknowledged). The next one takes a number past anything stored.
            Err(_) => {
                client = connect();
                n = loop {
                    match client.query_one(
                        "SELECT GREATEST(COALESCE(MAX(n), 0) + 1, $1) FROM booking_changes",
                        &[&(n + 1)],
                    ) {
                        Ok(r) => break r.get(0),
                        Err(_) => client = connect(),
                    }
                };
            }
        }
    }
}

/// The app's schema and auditkit's, on the server at `url`.
fn prepare(url: &str, tag: &str) -> (String, String) {
    let schema = pg_support::fresh_schema(tag);
    let app = format!("{schema}_app");
    drop(PgStore::connect_with_schema(url, &schema).expect("create auditkit's schema"));
    pg_support::raw_client(url)
        .batch_execute(&format!(
            "CREATE SCHEMA \"{app}\";
             CREATE TABLE \"{app}\".booking_changes (n bigint PRIMARY KEY, booking text NOT NULL);"
        ))
        .unwrap();
    (schema, app)
}

fn spawn(url: &str, schema: &str, app: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, "app")
        .env(URL_ENV, url)
        .env(SCHEMA_ENV, schema)
        .env(APP_ENV, app)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Takes the app's `committed <n>` lines into `acked`.
fn take(rx: &mpsc::Receiver<String>, acked: &mut BTreeSet<i64>, wait: Duration) {
    let deadline = Instant::now() + wait;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let n = line
            .strip_prefix("committed ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line from the app: {line:?}"));
        acked.insert(n);
    }
}

fn kill_the_app(rng: &mut Rng) -> bool {
    let Some(url) = pg_support::url() else {
        return false;
    };
    let (schema, app) = prepare(&url, "txkill");
    let kills = env_u64("AUDITKIT_PG_TX_KILLS", 30);
    let mut acked = BTreeSet::new();
    for run in 0..kills {
        let (mut child, rx) = spawn(&url, &schema, &app);
        std::thread::sleep(Duration::from_micros(20_000 + rng.below(250_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        take(&rx, &mut acked, Duration::from_millis(200));
        check(&url, &schema, &app, &acked, &format!("kill {run}"));
    }
    println!(
        "  {kills} kills of the app: {} transactions acknowledged, each with its events",
        acked.len()
    );
    true
}

fn crash_the_server(rng: &mut Rng) -> bool {
    let Some(cluster) = pg_support::own_durable_cluster() else {
        return false;
    };
    let url = cluster.url();
    let (schema, app) = prepare(&url, "txcrash");
    let crashes = env_u64("AUDITKIT_PG_TX_CRASHES", 3);
    let mut acked = BTreeSet::new();
    let (mut child, rx) = spawn(&url, &schema, &app);
    for crash in 0..crashes {
        // Wait for the app to commit some, then stop the server under it.
        let before = acked.len();
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.len() < before + 20 && Instant::now() < deadline {
            take(&rx, &mut acked, Duration::from_millis(50));
        }
        assert!(
            acked.len() >= before + 20,
            "crash {crash}: the app committed nothing after the restart"
        );
        std::thread::sleep(Duration::from_micros(rng.below(100_000)));
        cluster
            .stop_immediately()
            .expect("pg_ctl stop -m immediate");
        take(&rx, &mut acked, Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        cluster.start_again().expect("restart the server");
        take(&rx, &mut acked, Duration::from_millis(10));
        check(
            &url,
            &schema,
            &app,
            &acked,
            &format!("server crash {crash}"),
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    take(&rx, &mut acked, Duration::from_millis(200));
    check(&url, &schema, &app, &acked, "the end");
    println!(
        "  {crashes} server crashes under the app: {} transactions acknowledged, each with its events",
        acked.len()
    );
    true
}

/// The app's committed changes and the events match one to one (read in one snapshot, since
/// the app may still be running), every acknowledged change is there, the chain verifies,
/// and a fresh trail appends.
fn check(url: &str, schema: &str, app: &str, acked: &BTreeSet<i64>, when: &str) {
    let mut raw = pg_support::raw_client(url);
    let mut snapshot = raw
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .unwrap();
    let changes: BTreeSet<i64> = snapshot
        .query(&format!("SELECT n FROM \"{app}\".booking_changes"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let recorded: Vec<i64> = snapshot
        .query(
            &format!(
                "SELECT context FROM \"{schema}\".auditkit_events WHERE action = 'booking.rescheduled'"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let context: serde_json::Value = serde_json::from_str(r.get(0)).unwrap();
            context["n"].as_i64().unwrap()
        })
        .collect();
    snapshot.commit().unwrap();
    let lost: Vec<&i64> = acked.difference(&changes).collect();
    assert!(
        lost.is_empty(),
        "{when}: acknowledged changes lost: {lost:?}"
    );
    let set: BTreeSet<i64> = recorded.iter().copied().collect();
    assert_eq!(recorded.len(), set.len(), "{when}: an event twice");
    assert_eq!(
        set, changes,
        "{when}: the events and the app's committed changes differ"
    );
    let trail = AuditTrail::new(PgStore::connect_with_schema(url, schema).unwrap());
    let report = trail.verify().unwrap();
    assert!(report.is_ok(), "{when}: {report}");
    assert!(report.checked >= recorded.len() as u64, "{when}: {report}");
    let next = trail.record(NewEvent::new("check.after_crash")).unwrap();
    assert!(next.seq > report.checked, "{when}: appending goes on");
}
