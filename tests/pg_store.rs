//! `PgStore` against a real PostgreSQL server: the store contract (compared with `MemoryStore`
//! and `Query::matches` on the same events), the database-side guards, and what only a server
//! brings (several connections and processes appending at once, rows tampered with directly).
//!
//! A throwaway cluster is started once for this test binary (see `pg_support`), or
//! `AUDITKIT_PG_URL` is used. Each test gets a store in a fresh schema via `fresh_pg_store`,
//! the factory a conformance suite (`auditkit::testkit::run`) can take as it is.
#![cfg(feature = "postgres")]

#[path = "support/action_filters.rs"]
mod action_filters;
#[path = "support/answers.rs"]
mod answers;
mod pg_support;
#[path = "support/summaries.rs"]
mod summaries;

use std::sync::Arc;
use std::time::Duration;

use auditkit::postgres::{PgOptions, PgStore, SCHEMA_VERSION};
use auditkit::{
    Actor, ActorKind, AuditStore, AuditTrail, Cursor, Error, FaultKind, GroupBy, MemoryStore,
    NewEvent, Outcome, OutcomeFilter, Query, RequestContext, SealedEvent, SortOrder, Source,
    Target,
};
use serde_json::json;
use time::macros::datetime;
use time::{Duration as TimeDelta, OffsetDateTime};

/// The shared server's URL, or return from the test after a visible SKIPPED line.
macro_rules! server {
    () => {
        match pg_support::url() {
            Some(url) => url,
            None => return,
        }
    };
}

/// A fresh, empty store: one new schema per call.
fn fresh_pg_store(url: &str) -> PgStore {
    pg_support::fresh_store(url)
}

// ---------------------------------------------------------------------------------------------
// Events for the model comparison
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (no dependency, same events every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.next() as usize % xs.len()]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

const BASE: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

fn varied_event(r: &mut Lcg, i: usize) -> NewEvent {
    let actions = [
        "booking.created",
        "booking.rescheduled",
        "booking.cancelled",
        "booking.note.added",
        "bookings.exported",
        "booking_x.changed",
        "payment.captured",
        "auth.login_failed",
    ];
    let names = ["Sarah Connor", "Sam_Smith", "Zoë Ångström", "ALEX doe"];
    let labels = [
        "Haircut with Sam",
        "Massage – Zoë",
        "colour & cut",
        "Check-up #42",
    ];
    let reasons = [
        "customer_asked",
        "late arrival",
        "ÜBER important",
        "no-show fee 15.50",
        "room 101",
    ];
    let mut e = NewEvent::new(*r.pick(&actions))
        // Ties on occurred_at are frequent so (occurred_at, seq) ordering is exercised.
        .occurred_at(BASE + TimeDelta::minutes((r.next() % 40) as i64));
    if let Some(t) = r.pick(&[None, Some("clinic-1"), Some("clinic-2")]) {
        e = e.tenant(*t);
    }
    let actor = match r.next() % 5 {
        0 => Actor::customer(format!("c-{}", r.next() % 3)),
        1 => Actor::system(),
        2 => Actor::service("api-key-1"),
        _ => Actor::user(format!("u-{}", r.next() % 3))
            .name(*r.pick(&names))
            .role("staff"),
    };
    let actor = if r.chance(10) {
        actor.impersonated_by(Actor::user("admin-1").name("Root Admin"))
    } else {
        actor
    };
    e = e.actor(actor);
    e = e.source(
        r.pick(&[
            Source::Web,
            Source::Mobile,
            Source::Api,
            Source::Other("kiosk".into()),
        ])
        .clone(),
    );
    if r.chance(15) {
        e = e.outcome(Outcome::failure("card declined"));
    }
    if r.chance(80) {
        let mut t = Target::new(
            *r.pick(&["booking", "order"]),
            format!("b-{}", r.next() % 6),
        );
        if r.chance(70) {
            t = t.label(*r.pick(&labels));
        }
        e = e.target(t);
    }
    if r.chance(50) {
        e = e.related(Target::new("customer", format!("c-{}", r.next() % 3)));
    }
    if r.chance(30) {
        e = e.related(Target::new("booking", format!("b-{}", r.next() % 6)));
    }
    if r.chance(50) {
        e = e
            .before(json!({"slot": {"start": "2026-01-10T14:00:00Z"}, "price": 4500}))
            .after(json!({"slot": {"start": format!("2026-01-1{}T09:00:00Z", i % 10)}, "price": 4500 + (r.next() % 2) * 500}));
    }
    if r.chance(60) {
        e = e.context("reason", *r.pick(&reasons));
    }
    if r.chance(20) {
        e = e.context("amount", r.next() % 10_000);
    }
    if r.chance(10) {
        e = e.request(
            RequestContext::new()
                .ip("127.0.0.1")
                .request_id(format!("req-{i}")),
        );
    }
    if r.chance(10) {
        e = e.idempotency_key(format!("key-{i}"));
    }
    e
}

/// The same sealed events in a `MemoryStore` (the oracle) and in a fresh `PgStore`.
fn twin_stores(url: &str, n: usize) -> (MemoryStore, PgStore) {
    let (mem, pg, _) = twin_stores_with_source(url, n);
    (mem, pg)
}

/// [`twin_stores`], and the trail the events were recorded with: events recorded there later
/// can be copied to both (the stores hold the source's chain, so a trail on either would
/// rightly refuse to seal onto it).
fn twin_stores_with_source(url: &str, n: usize) -> (MemoryStore, PgStore, AuditTrail<MemoryStore>) {
    let trail = AuditTrail::new(MemoryStore::new());
    let mut r = Lcg(7);
    for chunk in (0..n).collect::<Vec<_>>().chunks(17) {
        let batch = chunk.iter().map(|&i| varied_event(&mut r, i)).collect();
        trail.record_batch(batch).expect("record into memory");
    }
    let mem = trail.store();
    let pg = fresh_pg_store(url);
    copy_all(mem, &pg);
    let mem_copy = MemoryStore::new();
    copy_all(mem, &mem_copy);
    (mem_copy, pg, trail)
}

/// Appends every event of `from` to `to` in a few batches, heads included.
fn copy_all(from: &impl AuditStore, to: &impl AuditStore) {
    let all = from.read(1, usize::MAX).expect("read source");
    let head = from.head().expect("source head");
    let mut done = 0u64;
    for chunk in all.chunks(40) {
        let last = chunk.last().expect("non-empty chunk").seq;
        // Intermediate heads only need the right seq for these reads-and-queries tests; the
        // final head is the real one.
        let h = if last == head.seq {
            head.clone()
        } else {
            auditkit::Head::new(last, chunk.last().expect("chunk").hash, Vec::new())
        };
        to.append(done, chunk, &h).expect("append copy");
        done = last;
    }
}

fn seqs(events: &[SealedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn queries() -> Vec<(&'static str, Query)> {
    let b = |id: &str| Target::new("booking", id);
    vec![
        ("all", Query::new()),
        ("oldest first", Query::new().oldest_first()),
        ("tenant", Query::new().tenant("clinic-1")),
        (
            "between",
            Query::new().between(BASE + TimeDelta::minutes(5), BASE + TimeDelta::minutes(20)),
        ),
        ("since", Query::new().since(BASE + TimeDelta::minutes(30))),
        ("until", Query::new().until(BASE + TimeDelta::minutes(3))),
        ("actor", Query::new().actor("u-1")),
        ("actor kind", Query::new().actor_kind(ActorKind::Customer)),
        ("action exact", Query::new().action("booking.rescheduled")),
        ("action prefix", Query::new().action("booking.*")),
        ("action prefix deep", Query::new().action("booking.note.*")),
        (
            "actions",
            Query::new().actions(["payment.captured", "auth.login_failed"]),
        ),
        ("target", Query::new().target(&b("b-2"))),
        ("target kind", Query::new().target_kind("order")),
        ("involving", Query::new().involving(&b("b-3"))),
        (
            "involving customer",
            Query::new().involving(&Target::new("customer", "c-1")),
        ),
        ("source", Query::new().source(Source::Mobile)),
        (
            "source other",
            Query::new().source(Source::Other("kiosk".into())),
        ),
        ("failures", Query::new().failures()),
        ("successes", Query::new().outcome(OutcomeFilter::Success)),
        ("changed", Query::new().changed("slot")),
        ("changed leaf", Query::new().changed("slot.start")),
        ("changed price", Query::new().changed("price")),
        ("search word", Query::new().search("haircut")),
        ("search case", Query::new().search("SAM")),
        ("search underscore", Query::new().search("customer_asked")),
        ("search unicode", Query::new().search("ZOË")),
        ("search umlaut", Query::new().search("über")),
        ("search two words", Query::new().search("late arrival")),
        ("search action word", Query::new().search("rescheduled")),
        ("search number", Query::new().search("101")),
        ("search partial word", Query::new().search("hair")),
        ("search nothing", Query::new().search("zzzz")),
        ("search punctuation only", Query::new().search("--")),
        (
            "combined",
            Query::new()
                .tenant("clinic-2")
                .action("booking.*")
                .between(BASE, BASE + TimeDelta::minutes(30)),
        ),
        (
            "combined search",
            Query::new()
                .search("sam")
                .source(Source::Web)
                .oldest_first(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// The store contract
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_store_has_genesis_head_and_nothing_to_read() {
    let url = server!();
    let store = fresh_pg_store(&url);
    let head = store.head().expect("head");
    assert_eq!(head.seq, 0);
    assert!(head.frontier.is_empty());
    assert!(store.read(1, 10).expect("read").is_empty());
    assert_eq!(store.count(&Query::new()).expect("count"), 0);
    assert!(store.get(uuid::Uuid::now_v7()).expect("get").is_none());
    assert!(store.find_by_key("nope").expect("find").is_none());
}

#[test]
fn every_field_round_trips_exactly() {
    let url = server!();
    let (mem, pg) = twin_stores(&url, 120);
    let a = mem.read(1, usize::MAX).expect("memory");
    let b = pg.read(1, usize::MAX).expect("pg");
    assert_eq!(a.len(), 120);
    assert_eq!(a, b, "the PostgreSQL store changed a sealed field");
    assert_eq!(mem.head().expect("mem head"), pg.head().expect("pg head"));
    for e in a.iter().step_by(7) {
        assert_eq!(pg.get(e.id).expect("get").as_ref(), Some(e));
        if let Some(k) = &e.idempotency_key {
            assert_eq!(pg.find_by_key(k).expect("find").as_ref(), Some(e));
        }
    }
}

#[test]
fn trail_records_and_reads_back_equal_events_and_verifies() {
    let url = server!();
    let trail = AuditTrail::builder(fresh_pg_store(&url))
        .personal_keys(["phone"])
        .build();
    let event = || {
        NewEvent::new("booking.rescheduled")
            .tenant("clinic-42")
            .actor(
                Actor::user("u-17")
                    .name("Sarah")
                    .role("staff")
                    .email("sarah@example.com")
                    .impersonated_by(Actor::user("admin").name("Ada")),
            )
            .source(Source::Web)
            .request(
                RequestContext::new()
                    .ip("10.1.2.3")
                    .user_agent("Firefox")
                    .request_id("r-1"),
            )
            .target(Target::new("booking", "b-123").label("Haircut with Sam"))
            .related(Target::new("customer", "c-9").label("Alex"))
            .before(json!({"start": "2026-01-10T14:00:00Z", "big": 9_007_199_254_740_993u64}))
            .after(
                json!({"start": "2026-01-15T09:00:00Z", "big": 9_007_199_254_740_993u64, "f": 0.1}),
            )
            .context("reason", "customer asked")
            .context("phone", "+44 20 7946 0000")
            .idempotency_key("req-1")
    };
    let recorded = trail.record(event()).expect("record");
    assert_eq!(trail.get(recorded.id).expect("get"), Some(recorded.clone()));
    let page = trail
        .query(&Query::new().tenant("clinic-42"))
        .expect("query");
    assert_eq!(page.events, vec![recorded.clone()]);
    // Another attempt of the request comes with another request context: still a retry.
    let again = trail
        .record(event().request(RequestContext::new().request_id("r-2")))
        .expect("retry");
    assert_eq!(
        again, recorded,
        "an idempotent retry returns the first event"
    );
    let e = trail
        .record(NewEvent::new("booking.rescheduled").idempotency_key("req-1"))
        .expect_err("another event under the key");
    assert!(e.is_invalid() && e.to_string().contains("req-1"), "{e}");
    assert_eq!(trail.count(&Query::new()).expect("count"), 1);
    let report = trail.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    let cp = trail.checkpoint().expect("checkpoint");
    assert!(trail.verify_against(&cp).expect("verify against").is_ok());
}

#[test]
fn append_compares_the_head() {
    let url = server!();
    let (mem, _) = twin_stores(&url, 10);
    let events = mem.read(1, 10).expect("read");
    let pg = fresh_pg_store(&url);
    let h = |e: &SealedEvent| auditkit::Head::new(e.seq, e.hash, Vec::new());
    pg.append(0, &events[..3], &h(&events[2]))
        .expect("first batch");
    // A writer that sealed against an old head.
    let e = pg
        .append(0, &events[..3], &h(&events[2]))
        .expect_err("stale head");
    assert!(
        matches!(
            e,
            Error::Conflict {
                expected: 0,
                actual: 3
            }
        ),
        "{e}"
    );
    // A batch that does not continue the head is refused before touching the database.
    let e = pg
        .append(3, &events[4..6], &h(&events[5]))
        .expect_err("gap");
    assert!(e.is_invalid(), "{e}");
    // An id already stored (the same event sealed again at a new seq) is a conflict.
    let mut dup = events[3].clone();
    dup.id = events[0].id;
    let e = pg.append(3, &[dup], &h(&events[3])).expect_err("dup id");
    assert!(e.is_conflict(), "{e}");
    // So is an idempotency key already stored.
    let mut keyed = events[3].clone();
    keyed.idempotency_key = Some("k".into());
    pg.append(3, &[keyed], &h(&events[3])).expect("keyed");
    let mut again = events[4].clone();
    again.idempotency_key = Some("k".into());
    let e = pg.append(4, &[again], &h(&events[4])).expect_err("dup key");
    assert!(e.is_conflict(), "{e}");
    // Nothing of the refused batches was written.
    assert_eq!(seqs(&pg.read(1, 100).expect("read")), vec![1, 2, 3, 4]);
    assert_eq!(pg.head().expect("head").seq, 4);
}

#[test]
fn a_batch_longer_than_one_statement_is_stored_whole() {
    let url = server!();
    let trail = AuditTrail::new(fresh_pg_store(&url));
    let mut r = Lcg(11);
    let batch: Vec<NewEvent> = (0..600).map(|i| varied_event(&mut r, i)).collect();
    let recorded = trail.record_batch(batch).expect("record 600 at once");
    assert_eq!(recorded.last().map(|e| e.seq), Some(600));
    let report = trail.verify().expect("verify");
    assert!(report.is_ok() && report.checked == 600, "{report:?}");
    let store = trail.store();
    // An empty append only checks the head.
    store
        .append(600, &[], &store.head().expect("head"))
        .expect("empty append at the head");
    let e = store
        .append(5, &[], &auditkit::Head::new(5, [0; 32], Vec::new()))
        .expect_err("empty append at a stale head");
    assert!(
        matches!(
            e,
            Error::Conflict {
                expected: 5,
                actual: 600
            }
        ),
        "{e}"
    );
}

#[test]
fn a_store_on_one_given_client_serves_many_threads() {
    let url = server!();
    let schema = pg_support::fresh_schema("client");
    let store = PgStore::from_client(
        pg_support::raw_client(&url),
        PgOptions::default().schema(&schema),
    )
    .expect("from client");
    assert_eq!(store.schema(), schema);
    let trail = Arc::new(AuditTrail::new(store));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let trail = Arc::clone(&trail);
            std::thread::spawn(move || {
                for i in 0..10 {
                    trail
                        .record(
                            NewEvent::new("booking.created")
                                .context("t", t)
                                .context("i", i),
                        )
                        .expect("record");
                    trail.count(&Query::new()).expect("count");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let report = trail.verify().expect("verify");
    assert!(report.is_ok() && report.checked == 40, "{report:?}");
}

#[test]
fn read_ranges_and_limits() {
    let url = server!();
    let (_, pg) = twin_stores(&url, 50);
    assert_eq!(seqs(&pg.read(1, 5).expect("read")), vec![1, 2, 3, 4, 5]);
    assert_eq!(seqs(&pg.read(48, 10).expect("read")), vec![48, 49, 50]);
    assert!(pg.read(51, 10).expect("read").is_empty());
    assert!(pg.read(u64::MAX, 10).expect("read").is_empty());
    assert!(pg.read(1, 0).expect("read").is_empty());
    assert_eq!(pg.read(0, usize::MAX).expect("read").len(), 50);
}

#[test]
fn every_filter_matches_the_reference_semantics() {
    let url = server!();
    let (mem, pg) = twin_stores(&url, 160);
    let all: Vec<auditkit::Event> = mem
        .read(1, usize::MAX)
        .expect("read")
        .iter()
        .map(|s| s.decode().expect("decode"))
        .collect();
    for (name, q) in queries() {
        let want = seqs(&mem.query(&q, 1_000).expect("memory query"));
        let got = seqs(&pg.query(&q, 1_000).expect("pg query"));
        assert_eq!(got, want, "query {name:?}");
        // The oracle itself agrees with Query::matches, so the comparison means something.
        let mut matching: Vec<auditkit::Event> =
            all.iter().filter(|e| q.matches(e)).cloned().collect();
        q.sort(&mut matching);
        assert_eq!(
            matching.iter().map(|e| e.seq).collect::<Vec<_>>(),
            want,
            "oracle for {name:?}"
        );
        assert_eq!(
            pg.count(&q).expect("count"),
            want.len() as u64,
            "count for {name:?}"
        );
        let limited = seqs(&pg.query(&q, 3).expect("limited"));
        assert_eq!(limited, want.iter().copied().take(3).collect::<Vec<_>>());
    }
    // The interesting filters really select something, and not everything.
    for (name, q) in queries() {
        let n = pg.count(&q).expect("count");
        let trivial = matches!(name, "all" | "oldest first" | "search punctuation only");
        let empty = matches!(name, "search nothing" | "search partial word");
        assert!(
            trivial || empty || (n > 0 && n < 160),
            "query {name:?} matched {n} of 160: the test data does not exercise it"
        );
        if empty {
            assert_eq!(n, 0, "query {name:?}");
        }
    }
}

#[test]
fn every_filter_runs_on_an_index() {
    let url = server!();
    let (_, pg) = twin_stores(&url, 40);
    let cursor = Cursor::after_event(&pg.read(20, 1).expect("read")[0].decode().expect("decode"));
    let mut all = queries();
    all.push(("cursor", Query::new().after(cursor)));
    all.push(("cursor oldest", Query::new().oldest_first().after(cursor)));
    for (name, q) in all {
        let plan = pg.explain_query(&q).expect("explain");
        assert!(
            !plan.contains("Seq Scan"),
            "query {name:?} scans the table:\n{plan}"
        );
    }
}

#[test]
fn summarize_matches_memory_for_every_grouping() {
    let url = server!();
    // The events and queries tests/summarize.rs runs on SQLite: times around local midnights
    // and daylight-saving changes over 1970..2030, every grouping in nine zones.
    let mem = AuditTrail::new(MemoryStore::new());
    for chunk in summaries::events().chunks(100) {
        mem.record_batch(chunk.to_vec())
            .expect("record into memory");
    }
    let pg = fresh_pg_store(&url);
    copy_all(mem.store(), &pg);
    let pg = AuditTrail::new(pg);
    for q in summaries::queries() {
        let total = mem.count(&q).expect("count");
        for by in &summaries::groupings() {
            let want = mem.summarize(&q, by).expect("memory summarize");
            let got = pg.summarize(&q, by).expect("pg summarize");
            assert_eq!(got, want, "{by:?} over {q:?}");
            assert_eq!(
                got.iter().map(|(_, n)| n).sum::<u64>(),
                total,
                "{by:?} over {q:?}"
            );
        }
    }
    let err = pg
        .summarize(&Query::new(), &GroupBy::day_in("Mars/Olympus_Mons"))
        .expect_err("bad zone");
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "zone"),
        "{err}"
    );
}

#[test]
fn every_summary_runs_on_an_index() {
    // SQLite's summaries run on its indexes for the same groupings and filters (the unit test
    // `every_summary_runs_on_an_index` in src/sqlite/tests.rs); so must PostgreSQL's.
    let url = server!();
    let (_, pg) = twin_stores(&url, 40);
    for (name, q) in queries() {
        for by in [
            GroupBy::Action,
            GroupBy::Actor,
            GroupBy::day_in("Europe/Berlin"),
        ] {
            let plan = pg.explain_summarize(&q, &by).expect("explain");
            assert!(
                plan.contains("Index"),
                "{by:?} over {name:?} names no index:\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan"),
                "{by:?} over {name:?} scans the table:\n{plan}"
            );
        }
    }
}

#[test]
fn keyset_cursors_page_through_every_match_once() {
    let url = server!();
    let (mem, pg, source) = twin_stores_with_source(&url, 120);
    for (name, q) in queries() {
        for order in [SortOrder::NewestFirst, SortOrder::OldestFirst] {
            let q = match order {
                SortOrder::NewestFirst => q.clone().newest_first(),
                _ => q.clone().oldest_first(),
            };
            let want = seqs(&mem.query(&q, 1_000).expect("memory"));
            let mut got = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let page_q = match cursor {
                    Some(c) => q.clone().after(c),
                    None => q.clone(),
                };
                let page = pg.query(&page_q, 7).expect("page");
                let Some(last) = page.last() else { break };
                cursor = Some(Cursor::after_event(&last.decode().expect("decode")));
                // Cursors survive Display/FromStr, as they travel through URLs.
                let text = cursor.expect("cursor").to_string();
                cursor = Some(text.parse().expect("cursor parses"));
                got.extend(seqs(&page));
            }
            assert_eq!(got, want, "paging {name:?} {order:?}");
        }
    }
    // New events arriving while a client pages do not shift the pages it has not read.
    let trail = AuditTrail::new(pg);
    let q = Query::new().limit(10);
    let first = trail.query(&q).expect("first page");
    let next = first.next.expect("more pages");
    let meanwhile = source
        .record(NewEvent::new("booking.created").occurred_at(BASE + TimeDelta::minutes(39)))
        .expect("record meanwhile");
    let sealed = source
        .store()
        .read(meanwhile.seq, 1)
        .expect("read the new event");
    let head = source.store().head().expect("source head");
    trail
        .store()
        .append(meanwhile.seq - 1, &sealed, &head)
        .expect("append meanwhile");
    let second = trail.query(&q.clone().after(next)).expect("second page");
    let mem_second = mem.query(&Query::new().after(next), 10).expect("memory");
    assert_eq!(
        second.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        seqs(&mem_second)
    );
}

#[test]
fn group_commit_from_many_threads_keeps_one_chain() {
    let url = server!();
    let trail = Arc::new(AuditTrail::new(fresh_pg_store(&url)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let trail = Arc::clone(&trail);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        trail
                            .record(
                                NewEvent::new("booking.created")
                                    .actor(Actor::user(format!("u-{t}")))
                                    .context("i", i),
                            )
                            .expect("record")
                            .seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    let report = trail.verify().expect("verify");
    assert!(report.is_ok() && report.checked == 200, "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// Schema, guards and grants
// ---------------------------------------------------------------------------------------------

#[test]
fn reopening_keeps_the_log_and_a_newer_schema_is_refused() {
    let url = server!();
    let schema = pg_support::fresh_schema("reopen");
    let first = PgStore::connect_with_schema(&url, &schema).expect("create");
    let trail = AuditTrail::new(first);
    trail
        .record(NewEvent::new("booking.created"))
        .expect("record");
    let log_id = trail.log_id().expect("log id").to_owned();
    let again = PgStore::connect_with_schema(&url, &schema).expect("reopen");
    assert_eq!(again.log_id().expect("log id"), log_id);
    assert_eq!(again.head().expect("head").seq, 1);

    let mut raw = pg_support::raw_client(&url);
    raw.execute(
        &format!("UPDATE \"{schema}\".auditkit_meta SET value = '99' WHERE key = 'schema_version'"),
        &[],
    )
    .expect("bump version");
    let e = PgStore::connect_with_schema(&url, &schema).expect_err("too new");
    assert!(
        matches!(e, Error::SchemaTooNew { found: 99, supported } if supported == SCHEMA_VERSION),
        "{e}"
    );
}

#[test]
fn a_schema_with_foreign_tables_is_refused_and_bad_input_is_named() {
    let url = server!();
    let schema = pg_support::fresh_schema("foreign");
    let mut raw = pg_support::raw_client(&url);
    raw.batch_execute(&format!(
        "CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".auditkit_events (x int);"
    ))
    .expect("foreign table");
    let e = PgStore::connect_with_schema(&url, &schema).expect_err("foreign");
    assert!(
        matches!(e, Error::Corrupt { message: ref m, .. } if m.contains("events")),
        "{e}"
    );

    let e = PgStore::connect_with_schema(&url, "").expect_err("empty schema");
    assert!(e.is_invalid(), "{e}");
    let e = PgStore::connect("definitely not a url ===").expect_err("bad url");
    assert!(e.is_invalid(), "{e}");
    // Nothing listens on port 1.
    let e = PgStore::connect("postgres://postgres@127.0.0.1:1/postgres").expect_err("no server");
    assert!(
        matches!(e, Error::Storage { message: ref m, .. } if m.contains("cannot connect")),
        "{e}"
    );
}

#[test]
fn the_database_refuses_edits_outside_the_append_path() {
    let url = server!();
    let store = fresh_pg_store(&url);
    let schema = store.schema().to_owned();
    let trail = AuditTrail::new(store);
    for i in 0..3 {
        trail
            .record(
                NewEvent::new("booking.created")
                    .actor(Actor::user("u-1").name("Sarah"))
                    .target(Target::new("booking", format!("b-{i}")))
                    .before(json!({"start": "10:00"}))
                    .after(json!({"start": "11:00"}))
                    .context("i", i),
            )
            .expect("record");
    }
    let mut raw = pg_support::raw_client(&url);
    let s = format!("\"{schema}\"");
    let refused = [
        // The derived rows a query answers from: never changed, deleted only by a purge or
        // an erasure.
        format!("DELETE FROM {s}.auditkit_event_targets WHERE seq = 2"),
        format!("UPDATE {s}.auditkit_event_targets SET id = 'b-9' WHERE seq = 2"),
        format!("TRUNCATE {s}.auditkit_event_targets"),
        format!("DELETE FROM {s}.auditkit_event_changes"),
        format!("UPDATE {s}.auditkit_event_changes SET path = 'x'"),
        format!("TRUNCATE {s}.auditkit_event_changes"),
        format!("DELETE FROM {s}.auditkit_personal_values WHERE seq = 2"),
        format!("TRUNCATE {s}.auditkit_personal_values"),
        format!("UPDATE {s}.auditkit_events SET action = 'booking.deleted' WHERE seq = 2"),
        format!("DELETE FROM {s}.auditkit_events WHERE seq = 3"),
        format!("TRUNCATE {s}.auditkit_events"),
        format!("UPDATE {s}.auditkit_head SET seq = 1"),
        format!("DELETE FROM {s}.auditkit_head"),
        format!("UPDATE {s}.auditkit_personal_values SET value = '\"x\"'"),
        // An insert that skips a seq, and one that reuses one.
        format!(
            "INSERT INTO {s}.auditkit_events SELECT seq + 10, id || '\\x00'::bytea, occurred_at, recorded_at, tenant, actor_kind, actor_id, actor_role, impersonator, source, request, action, failure, target_kind, target_id, related, before, after, context, NULL, payload_version, personal, prev_hash, hash, search_words FROM {s}.auditkit_events WHERE seq = 1"
        ),
        format!(
            "INSERT INTO {s}.auditkit_events SELECT seq, id || '\\x00'::bytea, occurred_at, recorded_at, tenant, actor_kind, actor_id, actor_role, impersonator, source, request, action, failure, target_kind, target_id, related, before, after, context, NULL, payload_version, personal, prev_hash, hash, search_words FROM {s}.auditkit_events WHERE seq = 1"
        ),
    ];
    for sql in &refused {
        let e = raw.batch_execute(sql).expect_err(sql);
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_default();
        assert!(
            msg.contains("auditkit") || msg.contains("duplicate key"),
            "{sql}: {e:?}"
        );
    }
    let report = trail.verify().expect("verify");
    assert!(report.is_ok() && report.checked == 3, "{report:?}");
}

#[test]
fn tampering_behind_the_triggers_is_caught_by_verify() {
    let url = server!();
    let store = fresh_pg_store(&url);
    let schema = store.schema().to_owned();
    let trail = AuditTrail::new(store);
    for i in 0..6 {
        trail
            .record(
                NewEvent::new("payment.captured")
                    .actor(Actor::user("u-1").name("Sarah"))
                    .context("amount", 1000 + i),
            )
            .expect("record");
    }
    let cp = trail.checkpoint().expect("checkpoint");
    let s = format!("\"{schema}\"");
    let mut raw = pg_support::raw_client(&url);
    let tamper = |raw: &mut postgres::Client, sql: &str| {
        raw.batch_execute(&format!(
            "ALTER TABLE {s}.auditkit_events DISABLE TRIGGER USER; {sql}; ALTER TABLE {s}.auditkit_events ENABLE TRIGGER USER;"
        ))
        .expect("tamper as the owner");
    };

    // Quietly change an amount.
    tamper(
        &mut raw,
        &format!("UPDATE {s}.auditkit_events SET context = '{{\"amount\":1}}' WHERE seq = 3"),
    );
    let report = trail.verify().expect("verify");
    let fault = report.fault.clone().expect("modified row caught");
    assert_eq!(
        (fault.seq, fault.kind),
        (3, FaultKind::Modified),
        "{report:?}"
    );
    tamper(
        &mut raw,
        &format!("UPDATE {s}.auditkit_events SET context = '{{\"amount\":1002}}' WHERE seq = 3"),
    );
    assert!(trail.verify().expect("verify").is_ok(), "restored");

    // A personal value edited in its own table.
    raw.batch_execute(&format!(
        "ALTER TABLE {s}.auditkit_personal_values DISABLE TRIGGER USER; \
         UPDATE {s}.auditkit_personal_values SET value = '\"Mallory\"' WHERE seq = 2; \
         ALTER TABLE {s}.auditkit_personal_values ENABLE TRIGGER USER;"
    ))
    .expect("edit personal value");
    let fault = trail.verify().expect("verify").fault.expect("caught");
    assert_eq!((fault.seq, fault.kind), (2, FaultKind::Modified));
    raw.batch_execute(&format!(
        "ALTER TABLE {s}.auditkit_personal_values DISABLE TRIGGER USER; \
         UPDATE {s}.auditkit_personal_values SET value = '\"Sarah\"' WHERE seq = 2; \
         ALTER TABLE {s}.auditkit_personal_values ENABLE TRIGGER USER;"
    ))
    .expect("restore personal value");

    // Delete one from the middle.
    tamper(
        &mut raw,
        &format!("DELETE FROM {s}.auditkit_events WHERE seq = 4"),
    );
    let fault = trail.verify().expect("verify").fault.expect("gap caught");
    assert_eq!((fault.seq, fault.kind), (4, FaultKind::Missing));

    // Cut off the newest along with the head: only a checkpoint kept outside sees it.
    tamper(
        &mut raw,
        &format!("DELETE FROM {s}.auditkit_events WHERE seq >= 4"),
    );
    raw.batch_execute(&format!(
        "ALTER TABLE {s}.auditkit_head DISABLE TRIGGER USER; \
         UPDATE {s}.auditkit_head SET seq = 3; \
         ALTER TABLE {s}.auditkit_head ENABLE TRIGGER USER;"
    ))
    .expect("roll the head back");
    let report = trail.verify_against(&cp).expect("verify against");
    let fault = report.fault.clone().expect("truncation caught");
    assert!(
        matches!(
            fault.kind,
            FaultKind::Truncated | FaultKind::CheckpointMismatch
        ),
        "{report:?}"
    );
}

#[test]
fn grants_narrow_the_app_role_to_insert_and_select() {
    let url = server!();
    let owner = fresh_pg_store(&url);
    let schema = owner.schema().to_owned();
    let role = format!("app_{schema}");
    let mut raw = pg_support::raw_client(&url);
    // The README's GRANTs, word for word apart from the names.
    let setup = format!(
        "CREATE ROLE \"{role}\" LOGIN;
         GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\";
         GRANT SELECT ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\";
         GRANT INSERT ON \"{schema}\".auditkit_events, \"{schema}\".auditkit_event_targets,
             \"{schema}\".auditkit_event_changes, \"{schema}\".auditkit_personal_values TO \"{role}\";
         GRANT UPDATE ON \"{schema}\".auditkit_head TO \"{role}\";
         GRANT INSERT, UPDATE, DELETE ON \"{schema}\".auditkit_queue TO \"{role}\";
         GRANT USAGE ON SEQUENCE \"{schema}\".auditkit_queue_id_seq TO \"{role}\";"
    );
    if let Err(e) = raw.batch_execute(&setup) {
        pg_support::skipped(&format!(
            "the server at AUDITKIT_PG_URL does not let this role create roles ({e}); grants test not run"
        ));
        return;
    }
    let mut config: postgres::Config = url.parse().expect("url");
    config.user(&role);
    let app = PgStore::connect_with(
        config.clone(),
        postgres::NoTls,
        PgOptions::default().schema(&schema),
    )
    .expect("the app role opens the existing schema");
    let trail = AuditTrail::new(app);
    let e = trail
        .record(
            NewEvent::new("booking.created")
                .actor(Actor::user("u-1").name("Sarah"))
                .target(Target::new("booking", "b-1").label("Haircut"))
                .after(json!({"start": "09:00"})),
        )
        .expect("the app role records");
    assert_eq!(
        trail
            .query(
                &Query::new()
                    .involving(&Target::new("booking", "b-1"))
                    .search("haircut")
            )
            .expect("the app role queries")
            .events,
        vec![e]
    );
    let mut as_app = config.connect(postgres::NoTls).expect("app connection");
    for sql in [
        format!("UPDATE \"{schema}\".auditkit_events SET action = 'x.y'"),
        format!("DELETE FROM \"{schema}\".auditkit_events"),
        format!("ALTER TABLE \"{schema}\".auditkit_events DISABLE TRIGGER USER"),
    ] {
        let err = as_app.batch_execute(&sql).expect_err(&sql);
        let code = err.as_db_error().map(|d| d.code().code().to_owned());
        assert!(
            matches!(code.as_deref(), Some("42501")),
            "{sql}: {err:?} (expected permission denied)"
        );
    }
    assert!(trail.verify().expect("verify").is_ok());
    drop(as_app);
    drop(trail);
    raw.batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\";"))
        .expect("drop the role");
}

#[test]
fn a_held_head_lock_past_the_timeout_is_busy() {
    let url = server!();
    let schema = pg_support::fresh_schema("busy");
    let store = PgStore::connect_with(
        url.parse().expect("url"),
        postgres::NoTls,
        PgOptions::default()
            .schema(&schema)
            .lock_timeout(Duration::from_millis(200)),
    )
    .expect("store");
    let trail = AuditTrail::new(store);
    trail
        .record(NewEvent::new("booking.created"))
        .expect("first");
    let mut raw = pg_support::raw_client(&url);
    let mut tx = raw.transaction().expect("tx");
    tx.batch_execute(&format!(
        "SELECT seq FROM \"{schema}\".auditkit_head FOR UPDATE"
    ))
    .expect("hold the head");
    let e = trail
        .record(NewEvent::new("booking.created"))
        .expect_err("busy");
    assert!(e.is_busy(), "{e}");
    tx.rollback().expect("release");
    let ok = trail
        .record(NewEvent::new("booking.created"))
        .expect("after release");
    assert_eq!(ok.seq, 2);
}

// ---------------------------------------------------------------------------------------------
// Many writers
// ---------------------------------------------------------------------------------------------

/// What one "app server" does: its own store (own connections) and trail, `n` records.
fn app_server_writes(url: &str, schema: &str, tag: &str, n: usize) -> Vec<u64> {
    let store = PgStore::connect_with_schema(url, schema).expect("app server store");
    let trail = AuditTrail::new(store);
    (0..n)
        .map(|i| {
            trail
                .record(
                    NewEvent::new("booking.created")
                        .actor(Actor::service(tag))
                        .context("i", i)
                        .idempotency_key(format!("{tag}-{i}")),
                )
                .expect("record")
                .seq
        })
        .collect()
}

fn assert_one_contiguous_chain(url: &str, schema: &str, total: u64) {
    let trail = AuditTrail::new(PgStore::connect_with_schema(url, schema).expect("reader"));
    let report = trail.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checked, total, "{report:?}");
    assert_eq!(trail.count(&Query::new()).expect("count"), total);
}

#[test]
fn app_servers_on_separate_connections_keep_one_chain() {
    let url = server!();
    let schema = pg_support::fresh_schema("servers");
    PgStore::connect_with_schema(&url, &schema).expect("create");
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (url, schema) = (url.clone(), schema.clone());
            std::thread::spawn(move || app_server_writes(&url, &schema, &format!("srv{w}"), 30))
        })
        .collect();
    let mut all: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=180).collect::<Vec<_>>());
    assert_one_contiguous_chain(&url, &schema, 180);
}

const CHILD_ENV: &str = "AUDITKIT_PG_CHILD";

/// Writer processes re-run this test binary with `CHILD_ENV` set; run directly, it checks the
/// same writer code in-process.
#[test]
fn process_writer() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let mut parts = spec.splitn(4, '|');
        let (url, schema, tag, n) = (
            parts.next().expect("url"),
            parts.next().expect("schema"),
            parts.next().expect("tag"),
            parts.next().expect("n").parse().expect("n"),
        );
        let seqs = app_server_writes(url, schema, tag, n);
        assert_eq!(seqs.len(), n);
        return;
    }
    let url = server!();
    let schema = pg_support::fresh_schema("inproc");
    let seqs = app_server_writes(&url, &schema, "solo", 5);
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_one_contiguous_chain(&url, &schema, 5);
}

#[test]
fn app_servers_in_separate_processes_keep_one_chain() {
    let url = server!();
    let schema = pg_support::fresh_schema("procs");
    PgStore::connect_with_schema(&url, &schema).expect("create");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..3)
        .map(|p| {
            std::process::Command::new(&exe)
                .args(["--exact", "process_writer", "--test-threads=1"])
                .env(CHILD_ENV, format!("{url}|{schema}|proc{p}|40"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn writer process")
        })
        .collect();
    // This process appends at the same time.
    let mine = app_server_writes(&url, &schema, "parent", 40);
    assert_eq!(mine.len(), 40);
    for mut c in children {
        let status = c.wait().expect("writer process");
        assert!(status.success(), "a writer process failed: {status}");
    }
    assert_one_contiguous_chain(&url, &schema, 160);
    let store = PgStore::connect_with_schema(&url, &schema).expect("store");
    for p in 0..3 {
        let n = store
            .count(&Query::new().actor(format!("proc{p}")))
            .expect("count");
        assert_eq!(n, 40, "process {p}");
    }
}

#[cfg(feature = "testkit")]
#[test]
fn passes_the_conformance_suite() {
    let url = server!();
    auditkit::testkit::run(|| fresh_pg_store(&url));
}

#[test]
fn a_queued_row_that_does_not_decode_is_refused_not_a_roadblock() {
    let url = server!();
    let store = fresh_pg_store(&url);
    let schema = store.schema().to_owned();
    let trail = AuditTrail::new(store);
    trail
        .record(NewEvent::new("booking.created"))
        .expect("first");
    let mut raw = pg_support::raw_client(&url);
    raw.batch_execute(&format!(
        "INSERT INTO \"{schema}\".auditkit_queue (draft) VALUES ('not an event')"
    ))
    .expect("plant a bad queued row");
    // The next writer to take the lock seals the queue first: the bad row is refused and
    // removed, and its own event goes in.
    let e = trail
        .record(NewEvent::new("booking.rescheduled"))
        .expect("record past the bad row");
    assert_eq!(e.seq, 2);
    let left: i64 = raw
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".auditkit_queue"),
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "the refused row stays in the queue");
    assert!(trail.verify().expect("verify").is_ok());
}

#[test]
fn many_app_servers_at_once_share_one_contiguous_chain() {
    let url = server!();
    let schema = pg_support::fresh_schema("many");
    drop(PgStore::connect_with_schema(&url, &schema).expect("create"));
    let writers = 12;
    let per_writer = 40;
    let acked: Vec<Vec<auditkit::Event>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (url, schema) = (url.clone(), schema.clone());
                s.spawn(move || {
                    // Each its own store and one connection, as separate app servers.
                    let store = PgStore::connect_with(
                        url.parse().expect("url"),
                        postgres::NoTls,
                        PgOptions::default().schema(&schema).max_connections(1),
                    )
                    .expect("store");
                    let trail = AuditTrail::new(store);
                    (0..per_writer)
                        .map(|i| {
                            let mut ev = NewEvent::new("booking.rescheduled")
                                .target(Target::new("booking", format!("b-{w}-{i}")));
                            if i % 5 == 0 {
                                ev = ev.idempotency_key(format!("k-{w}-{i}"));
                            }
                            trail.record(ev).expect("record")
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    let trail = AuditTrail::new(PgStore::connect_with_schema(&url, &schema).expect("reopen"));
    let stored = trail
        .store()
        .read(1, writers * per_writer + 1)
        .expect("read");
    assert_eq!(stored.len(), writers * per_writer, "one event per record");
    for (seq, e) in (1..).zip(&stored) {
        assert_eq!(e.seq, seq, "the chain has a gap");
    }
    for e in acked.iter().flatten() {
        let s = &stored[e.seq as usize - 1];
        assert_eq!(
            (s.id, s.hash),
            (e.id, e.hash),
            "acknowledged event {} differs from the stored one",
            e.seq
        );
    }
    assert!(trail.verify().expect("verify").is_ok());
}

#[test]
fn derived_rows_changed_behind_the_guards_are_caught_by_verify() {
    let url = server!();
    let store = fresh_pg_store(&url);
    let schema = store.schema().to_owned();
    let trail = AuditTrail::new(store);
    for i in 1..=6 {
        trail
            .record(
                NewEvent::new("booking.rescheduled")
                    .target(Target::new("booking", format!("b-{i}")))
                    .before(json!({"start": "10:00"}))
                    .after(json!({"start": "11:00"})),
            )
            .expect("record");
    }
    let s = format!("\"{schema}\"");
    let mut raw = pg_support::raw_client(&url);
    let behind = |raw: &mut postgres::Client, sql: &str| {
        raw.batch_execute(&format!(
            "ALTER TABLE {s}.auditkit_event_targets DISABLE TRIGGER USER; \
             ALTER TABLE {s}.auditkit_event_changes DISABLE TRIGGER USER; {sql}; \
             ALTER TABLE {s}.auditkit_event_targets ENABLE TRIGGER USER; \
             ALTER TABLE {s}.auditkit_event_changes ENABLE TRIGGER USER;"
        ))
        .expect("tamper as the owner");
    };
    let cases = [
        (
            format!("DELETE FROM {s}.auditkit_event_targets WHERE seq = 5"),
            format!("INSERT INTO {s}.auditkit_event_targets VALUES ('booking', 'b-5', 5)"),
            5,
            "lacks booking b-5",
        ),
        (
            format!("INSERT INTO {s}.auditkit_event_targets VALUES ('customer', 'c-0', 3)"),
            format!("DELETE FROM {s}.auditkit_event_targets WHERE kind = 'customer'"),
            3,
            "holds customer c-0",
        ),
        (
            format!("UPDATE {s}.auditkit_event_changes SET path = 'end' WHERE seq = 2"),
            format!("UPDATE {s}.auditkit_event_changes SET path = 'start' WHERE seq = 2"),
            2,
            "\"end\"",
        ),
        // The events guard lets an UPDATE drop search words (erasure does): verify sees an
        // event hidden from a search that way.
        (
            format!(
                "UPDATE {s}.auditkit_events SET search_words = array_remove(search_words, 'rescheduled') WHERE seq = 4"
            ),
            format!(
                "ALTER TABLE {s}.auditkit_events DISABLE TRIGGER USER; \
                 UPDATE {s}.auditkit_events SET search_words = search_words || '{{rescheduled}}' WHERE seq = 4; \
                 ALTER TABLE {s}.auditkit_events ENABLE TRIGGER USER"
            ),
            4,
            "lacks the word \"rescheduled\"",
        ),
    ];
    let queries = [
        Query::new().involving(&Target::new("booking", "b-5")),
        Query::new().changed("start"),
        Query::new().search("rescheduled"),
    ];
    let before = answers::answers(&trail, &queries);
    for (tamper, restore, seq, says) in &cases {
        let seq = *seq;
        behind(&mut raw, tamper);
        let report = trail.verify().expect("verify");
        let fault = report
            .fault
            .clone()
            .unwrap_or_else(|| panic!("{tamper}: not caught"));
        assert_eq!(
            (fault.seq, fault.kind),
            (seq, FaultKind::DerivedRow),
            "{tamper}: {report}"
        );
        assert!(fault.detail.contains(says), "{tamper}: {}", fault.detail);
        behind(&mut raw, restore);
        let report = trail.verify().expect("verify");
        assert!(report.is_ok(), "{restore}: {report}");
    }
    // Everything at once, then the rebuild: verify passes and queries answer as before.
    for (tamper, ..) in &cases {
        behind(&mut raw, tamper);
    }
    assert!(!trail.verify().expect("verify").is_ok());
    assert_ne!(answers::answers(&trail, &queries), before);
    let event = trail
        .rebuild_indexes(Actor::user("ops-1"))
        .expect("rebuild")
        .expect("PostgreSQL keeps derived rows");
    assert_eq!(event.context["events"], 6);
    let report = trail.verify().expect("verify");
    assert!(report.is_ok() && report.checked == 7, "{report}");
    assert_eq!(answers::answers(&trail, &queries), before);
}

#[test]
fn action_filters_that_are_not_action_names_are_invalid() {
    let url = server!();
    action_filters::check(&AuditTrail::new(fresh_pg_store(&url)));
}
