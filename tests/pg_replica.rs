//! `PgStore` with reads on a streaming replica: a real hot standby of a throwaway primary
//! (`pg_basebackup -R -X stream`), started by this test.
//!
//! A trail whose store has the standby as its read server (`PgOptions::read_url`) records on
//! the primary and, once the standby has replayed, answers queries, counts, summaries, history
//! and exports from it exactly as the primary does. With replay paused it shows what lag means:
//! reads miss the newest events while recording, idempotency, checkpoints and verify (all on
//! the primary) go on, and a cursor taken meanwhile stays valid. A store opened on the standby
//! alone verifies against the primary's checkpoint once the standby has caught up (and reports
//! it truncated before). A read URL of another log is refused.
//!
//! It needs the PostgreSQL server binaries (`AUDITKIT_PG_URL` cannot give a standby), and
//! prints `SKIPPED: ...` only when they are missing.
#![cfg(feature = "postgres")]

mod pg_support;

use std::time::{Duration, Instant};

use auditkit::postgres::{PgOptions, PgStore};
use auditkit::{
    Actor, ActorKind, AuditTrail, Error, Event, FaultKind, GroupBy, NewEvent, Query, Target,
};
use pg_support::Cluster;

/// How long the standby may take to replay what the primary committed.
const CATCH_UP: Duration = Duration::from_secs(60);

fn booking(n: usize) -> Target {
    Target::new("booking", format!("b{}", n % 5))
}

fn event(n: usize) -> NewEvent {
    let actions = [
        "booking.created",
        "booking.rescheduled",
        "booking.cancelled",
    ];
    let staff = ["sam", "alex", "zoe"];
    NewEvent::new(actions[n % actions.len()])
        .tenant(if n.is_multiple_of(4) {
            "clinic-7"
        } else {
            "clinic-42"
        })
        .actor(Actor::new(ActorKind::User, staff[n % staff.len()]))
        .target(booking(n))
        .context("n", n)
}

/// The primary's current WAL position, as text.
fn primary_lsn(primary: &mut postgres::Client) -> String {
    primary
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .expect("pg_current_wal_lsn")
        .get(0)
}

/// Waits until the standby has replayed everything the primary committed so far.
fn wait_caught_up(primary: &mut postgres::Client, standby: &mut postgres::Client) {
    let target = primary_lsn(primary);
    let start = Instant::now();
    loop {
        let replayed: bool = standby
            .query_one(
                "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
                &[&target],
            )
            .expect("pg_last_wal_replay_lsn")
            .get(0);
        if replayed {
            return;
        }
        assert!(
            start.elapsed() < CATCH_UP,
            "the standby did not replay up to {target} within {CATCH_UP:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pauses the standby's replay and waits until it has stopped.
fn pause_replay(standby: &mut postgres::Client) {
    standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .expect("pg_wal_replay_pause");
    assert!(
        pg_support::wait_until(CATCH_UP.as_secs(), || {
            let state: String = standby
                .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
                .expect("pg_get_wal_replay_pause_state")
                .get(0);
            state == "paused"
        }),
        "the standby's replay did not pause"
    );
}

/// Everything the app's reads show, to compare the standby's answers with the primary's.
#[derive(Debug, PartialEq)]
struct Reads {
    all: Vec<Event>,
    clinic_42: Vec<Event>,
    count: u64,
    count_sam: u64,
    per_action: Vec<(String, u64)>,
    per_actor: Vec<(String, u64)>,
    history: Vec<Event>,
    jsonl: String,
}

fn reads(trail: &AuditTrail<PgStore>) -> Reads {
    let mut all = Vec::new();
    trail
        .for_each(&Query::new().oldest_first(), |e| {
            all.push(e);
            Ok(())
        })
        .expect("for_each");
    let mut jsonl = Vec::new();
    trail
        .export_jsonl(&Query::new(), &mut jsonl)
        .expect("export_jsonl");
    Reads {
        all,
        clinic_42: trail
            .query(&Query::new().tenant("clinic-42").limit(500))
            .expect("query")
            .events,
        count: trail.count(&Query::new()).expect("count"),
        count_sam: trail.count(&Query::new().actor("sam")).expect("count"),
        per_action: trail
            .summarize(&Query::new(), &GroupBy::Action)
            .expect("summarize"),
        per_actor: trail
            .summarize(&Query::new().tenant("clinic-42"), &GroupBy::Actor)
            .expect("summarize"),
        history: trail.history(&booking(3)).expect("history"),
        jsonl: String::from_utf8(jsonl).expect("utf-8"),
    }
}

#[test]
fn a_hot_standby_serves_reads_and_verifies_against_a_primary_checkpoint() {
    if let Err(e) = pg_support::find_bin() {
        pg_support::skipped(&e);
        return;
    }
    let started = Instant::now();
    let primary = Cluster::start_primary().expect("start a primary");
    let standby = primary.standby().expect("start a hot standby of it");
    eprintln!("primary and standby up in {:?}", started.elapsed());
    let (primary_url, standby_url) = (primary.url(), standby.url());
    let mut raw_primary = pg_support::raw_client(&primary_url);
    let mut raw_standby = pg_support::raw_client(&standby_url);
    let in_recovery: bool = raw_standby
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(in_recovery, "the standby must be a standby");

    // The schema is created on the primary as the store connects, so the standby has not
    // replayed it yet: connecting lets that be.
    let schema = pg_support::fresh_schema("replica");
    let config: postgres::Config = primary_url.parse().unwrap();
    let trail = AuditTrail::new(
        PgStore::connect_with(
            config.clone(),
            postgres::NoTls,
            PgOptions::default()
                .schema(&schema)
                .read_url(&standby_url)
                .max_connections(4),
        )
        .expect("connect with the standby as read server"),
    );
    // The same log through the primary alone: what the reads must match.
    let direct = AuditTrail::new(
        PgStore::connect_with_schema(&primary_url, &schema).expect("connect to the primary"),
    );
    let debug = format!("{:?}", trail.store());
    assert!(
        debug.contains("read_server: true"),
        "Debug shows the read server: {debug}"
    );

    let first: Vec<Event> = (0..40)
        .map(|n| trail.record(event(n)).expect("record on the primary"))
        .collect();
    let keyed = trail
        .record(event(40).idempotency_key("import-40"))
        .expect("record with a key");
    wait_caught_up(&mut raw_primary, &mut raw_standby);
    let caught_up = reads(&trail);
    assert_eq!(
        caught_up,
        reads(&direct),
        "the standby answers as the primary"
    );
    assert_eq!(caught_up.count, 41);
    assert_eq!(caught_up.all.len(), 41);
    assert_eq!(caught_up.all[..40], first[..]);
    assert_eq!(
        caught_up.history.len(),
        8,
        "booking b3: events 3, 8, ..., 38"
    );
    assert_eq!(trail.get(first[7].id).expect("get"), Some(first[7].clone()));
    let plan = trail
        .store()
        .explain_query(&Query::new().actor("sam"))
        .expect("explain on the standby");
    assert!(!plan.contains("Seq Scan"), "{plan}");

    // The standby alone: head and events from it, checked against the primary's checkpoint.
    let checkpoint = trail.checkpoint().expect("checkpoint on the primary");
    assert_eq!(checkpoint.size, 41);
    let on_standby = AuditTrail::new(
        PgStore::connect_with_schema(&standby_url, &schema).expect("connect to the standby alone"),
    );
    let report = on_standby
        .verify_against(&checkpoint)
        .expect("verify on the standby");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.verified_through, report.checkpoint_size),
        (41, Some(41))
    );
    match on_standby.record(event(99)) {
        Err(e @ Error::Storage { .. }) => assert!(
            e.to_string().contains("hot standby"),
            "the error says why: {e}"
        ),
        other => panic!("recording on a standby must fail with Error::Storage: {other:?}"),
    }

    // Lag: with replay paused, what the primary commits does not reach the reads.
    let page_size = 10;
    let oldest = Query::new().oldest_first().limit(page_size);
    let page = trail.query(&oldest).expect("first page");
    pause_replay(&mut raw_standby);
    let later: Vec<Event> = (41..50)
        .map(|n| {
            trail
                .record(event(n))
                .expect("record while the standby lags")
        })
        .collect();
    // Idempotency is decided on the primary, so a key the standby has not seen is still known.
    let again = trail
        .record(event(40).idempotency_key("import-40"))
        .expect("record a known key");
    assert_eq!(again, keyed, "a known key returns the first event");
    let lagging = reads(&trail);
    assert_eq!(
        lagging, caught_up,
        "a lagging standby shows the log as it was"
    );
    assert_eq!(direct.count(&Query::new()).unwrap(), 50);
    assert_eq!(trail.get(later[0].id).expect("get"), None);
    assert_eq!(
        direct.get(later[0].id).expect("get"),
        Some(later[0].clone())
    );
    // Checkpoints and verify read the primary: the lag does not show in them.
    let newer = trail
        .checkpoint()
        .expect("checkpoint while the standby lags");
    assert_eq!(newer.size, 50);
    let report = trail
        .verify_against(&newer)
        .expect("verify through the trail");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.verified_through, 50);
    // The standby alone has only 41 events: the newer checkpoint says more are due.
    let report = on_standby
        .verify_against(&newer)
        .expect("verify the lagging standby");
    let fault = report.fault.as_ref().expect("a lagging standby is short");
    assert_eq!(fault.kind, FaultKind::Truncated, "{fault:?}");
    let report = on_standby
        .verify_against(&checkpoint)
        .expect("verify against the older checkpoint");
    assert!(report.is_ok(), "{report:?}");
    // A cursor taken before is still a position: the next page continues after it.
    let next = page.next.expect("more than one page");
    let lag_page = trail
        .query(&oldest.clone().after(next))
        .expect("second page while lagging");
    assert_eq!(lag_page.events, first[10..20]);
    // A schema the standby has not replayed yet: connecting lets that be, reads say why.
    let fresh = AuditTrail::new(
        PgStore::connect_with(
            config.clone(),
            postgres::NoTls,
            PgOptions::default()
                .schema(pg_support::fresh_schema("notyet"))
                .read_url(&standby_url),
        )
        .expect("connect before the standby has the schema"),
    );
    match fresh.count(&Query::new()) {
        Err(e @ Error::Storage { .. }) => {
            assert!(e.to_string().contains("not replayed"), "{e}")
        }
        other => panic!("a read before the standby has the schema: {other:?}"),
    }
    fresh
        .record(event(0))
        .expect("recording needs only the primary");

    raw_standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .expect("pg_wal_replay_resume");
    wait_caught_up(&mut raw_primary, &mut raw_standby);
    assert_eq!(fresh.count(&Query::new()).expect("count once replayed"), 1);
    let resumed = reads(&trail);
    assert_eq!(
        resumed,
        reads(&direct),
        "caught up again, the standby answers as the primary"
    );
    assert_eq!(resumed.count, 50);
    assert_eq!(resumed.all[41..], later[..]);
    assert_eq!(trail.get(later[0].id).expect("get"), Some(later[0].clone()));
    // The cursor from before the lag still pages on, now through the newer events.
    let mut paged = page.events.clone();
    let mut cursor = page.next;
    while let Some(c) = cursor {
        let p = trail.query(&oldest.clone().after(c)).expect("next page");
        paged.extend(p.events);
        cursor = p.next;
    }
    assert_eq!(paged, resumed.all);
    let report = on_standby
        .verify_against(&newer)
        .expect("verify the caught-up standby");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.verified_through, report.checkpoint_size),
        (50, Some(50))
    );

    // A read URL naming another log is refused when the store connects.
    raw_primary
        .batch_execute("CREATE DATABASE other")
        .expect("create a second database");
    let other_url = |url: &str| format!("{}/other", url.rsplit_once('/').unwrap().0);
    drop(PgStore::connect_with_schema(&other_url(&primary_url), &schema).expect("another log"));
    wait_caught_up(&mut raw_primary, &mut raw_standby);
    match PgStore::connect_with(
        config,
        postgres::NoTls,
        PgOptions::default()
            .schema(&schema)
            .read_url(other_url(&standby_url)),
    ) {
        Err(Error::Invalid { field, problem }) => {
            assert_eq!(field, "read_url");
            assert!(problem.contains("standby of the primary"), "{problem}");
        }
        other => panic!("a read server of another log must be refused: {other:?}"),
    }
    // A store on a single client has no way to reach a read server.
    match PgStore::from_client(
        pg_support::raw_client(&primary_url),
        PgOptions::default().schema(&schema).read_url(&standby_url),
    ) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "read_url"),
        other => panic!("from_client refuses a read server: {other:?}"),
    }
    eprintln!("replica test done in {:?}", started.elapsed());
}

#[test]
fn a_read_url_is_checked_before_connecting() {
    // Parsed before any connection is tried, so no server is needed.
    let config: postgres::Config = "postgres://nobody@127.0.0.1:1/none".parse().unwrap();
    match PgStore::connect_with(
        config,
        postgres::NoTls,
        PgOptions::default().read_url("not a url at all ="),
    ) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "read_url"),
        other => panic!("a malformed read URL is Error::Invalid: {other:?}"),
    }
    // The password of a read URL stays out of Debug.
    let shown = format!(
        "{:?}",
        PgOptions::default().read_url("postgres://app:hunter2@replica.internal/bookings")
    );
    assert!(
        shown.contains("replica.internal") && !shown.contains("hunter2"),
        "{shown}"
    );
}
