//! Model-based tests: random event sets and random queries give the same results from
//! `SqliteStore`, `MemoryStore` and filtering with `Query::matches` (the reference semantics).
#![cfg(feature = "sqlite")]

use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, ActorKind, AuditStore, AuditTrail, Cursor, Event, MemoryStore, NewEvent, Outcome,
    OutcomeFilter, Query, SealedEvent, Source, Target,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// Words that stress whole-word, case-insensitive search: case pairs, diacritics precomposed
/// and combining, Greek final sigma, dotted capital I, ligatures, superscripts, other scripts'
/// digits, letter-like numbers, punctuation inside words, emoji.
const WORDS: &[&str] = &[
    "Haircut",
    "haircut",
    "HAIRCUT",
    "cut",
    "Sam",
    "Zoë",
    "ZOË",
    "zoe",
    "école",
    "ÉCOLE",
    "straße",
    "STRASSE",
    "ΣΑΣ",
    "σας",
    "σασ",
    "İstanbul",
    "istanbul",
    "ǅemal",
    "ﬁle",
    "file",
    "x²",
    "٣",
    "½",
    "Ⅻ",
    "naïve",
    "nai\u{308}ve",
    "walk-in",
    "a_b",
    "日本語",
    "😀",
    "ß",
    "ẞ",
    "Ǆ",
    "ǆ",
    "ﬀ",
    "İ",
    "i̇",
    "K",
    "k",
    "Å",
    "Å",
    "µ",
    "μ",
    "42",
    "4.2",
    "O'Brien",
    "obrien",
    "\u{e000}x",
    "ʼn",
    "ŉ",
];

const ACTIONS: &[&str] = &[
    "booking.created",
    "booking.seat.booked",
    "booking_x.created",
    "bookings.created",
    "payment.failed",
    "payment.refund.issued",
    "account.login",
];

const PATHS: &[&str] = &[
    "slot",
    "slot.start",
    "slot.end",
    "price",
    "items",
    "items[0]",
    "items[1]",
    "items[2]",
    "note",
    "a\\.b",
    "a",
];

fn base() -> OffsetDateTime {
    time::macros::datetime!(2026-01-10 09:00:00 UTC)
}

fn source() -> impl Strategy<Value = Source> {
    select(vec![
        Source::Web,
        Source::Api,
        Source::Webhook,
        Source::Other("kiosk".into()),
        Source::Other("web".into()),
    ])
}

fn target() -> impl Strategy<Value = Target> {
    (
        select(vec!["booking", "order"]),
        select(vec!["1", "2"]),
        proptest::option::of(select(WORDS.to_vec())),
    )
        .prop_map(|(k, i, l)| {
            let t = Target::new(k, i);
            match l {
                Some(l) => t.label(l),
                None => t,
            }
        })
}

fn side() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(
        (
            proptest::option::of(select(vec!["10:00", "12:00"])),
            proptest::option::of(0..3u8),
            proptest::option::of(proptest::collection::vec(0..3u8, 0..4)),
            any::<bool>(),
        )
            .prop_map(|(start, price, items, ab)| {
                let mut m = serde_json::Map::new();
                if let Some(s) = start {
                    m.insert("slot".into(), json!({"start": s, "end": "11:00"}));
                }
                if let Some(p) = price {
                    m.insert("price".into(), json!(p));
                }
                if let Some(i) = items {
                    m.insert("items".into(), json!(i));
                }
                if ab {
                    m.insert("a.b".into(), json!({}));
                }
                Value::Object(m)
            }),
    )
}

prop_compose! {
    fn new_event()(
        tenant in proptest::option::of(select(vec!["t1", "t2"])),
        kind in select(ActorKind::ALL.to_vec()),
        actor in select(vec!["a1", "a2", "a3"]),
        name in proptest::option::of(select(WORDS.to_vec())),
        action in select(ACTIONS.to_vec()),
        source in source(),
        failed in proptest::option::of(select(WORDS.to_vec())),
        target in proptest::option::of(target()),
        related in proptest::collection::vec(target(), 0..3),
        before in side(),
        after in side(),
        note in proptest::option::of(proptest::collection::vec(select(WORDS.to_vec()), 1..3)),
        amount in proptest::option::of(prop_oneof![Just(json!(42)), Just(json!(4.2)), Just(json!(u64::MAX))]),
        minute in 0..12i64,
        micro in 0..3i64,
    ) -> NewEvent {
        let mut actor_v = Actor::new(kind, actor);
        if let Some(n) = name { actor_v = actor_v.name(n); }
        let mut e = NewEvent::new(action)
            .actor(actor_v)
            .source(source)
            .occurred_at(base() + Duration::minutes(minute) + Duration::microseconds(micro));
        if let Some(t) = tenant { e = e.tenant(t); }
        if let Some(r) = failed { e = e.outcome(Outcome::failure(r)); }
        if let Some(t) = target { e = e.target(t); }
        for r in related { e = e.related(r); }
        if let Some(b) = before { e = e.before(b); }
        if let Some(a) = after { e = e.after(a); }
        if let Some(n) = note { e = e.context("note", json!({"text": n.join(" ")})); }
        if let Some(a) = amount { e = e.context("amount", a); }
        e
    }
}

/// A query built from a random choice of filters; `cursor_at` picks an event to page after.
#[derive(Debug, Clone)]
struct QuerySpec {
    tenant: Option<&'static str>,
    from: Option<i64>,
    to: Option<i64>,
    actor: Option<&'static str>,
    actor_kind: Option<ActorKind>,
    actions: Vec<&'static str>,
    target: Option<Target>,
    target_kind: Option<&'static str>,
    involving: Option<Target>,
    source: Option<Source>,
    outcome: Option<bool>,
    search: Option<Vec<&'static str>>,
    changed: Option<&'static str>,
    oldest_first: bool,
    cursor_at: Option<prop::sample::Index>,
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    let patterns = select(vec![
        "booking.created",
        "booking.*",
        "payment.*",
        "payment.refund.*",
        "account.login",
        "*",
    ]);
    (
        (
            proptest::option::of(select(vec!["t1", "t2", "t3"])),
            proptest::option::of(0..14i64),
            proptest::option::of(0..14i64),
            proptest::option::of(select(vec!["a1", "a2"])),
            proptest::option::of(select(ActorKind::ALL.to_vec())),
            prop_oneof![
                3 => Just(Vec::new()),
                1 => proptest::collection::vec(patterns, 1..3)
            ],
            proptest::option::of(target()),
            proptest::option::of(select(vec!["booking", "order"])),
        ),
        (
            proptest::option::of(target()),
            proptest::option::of(source()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(proptest::collection::vec(select(WORDS.to_vec()), 1..3)),
            proptest::option::of(select(PATHS.to_vec())),
            any::<bool>(),
            proptest::option::of(any::<prop::sample::Index>()),
        ),
    )
        .prop_map(
            |(
                (tenant, from, to, actor, actor_kind, actions, target, target_kind),
                (involving, source, outcome, search, changed, oldest_first, cursor_at),
            )| QuerySpec {
                tenant,
                from,
                to,
                actor,
                actor_kind,
                actions,
                target,
                target_kind,
                involving,
                source,
                outcome,
                search,
                changed,
                oldest_first,
                cursor_at,
            },
        )
}

impl QuerySpec {
    fn build(&self, events: &[Event]) -> Query {
        let mut q = Query::new();
        if let Some(t) = self.tenant {
            q = q.tenant(t);
        }
        if let Some(m) = self.from {
            q = q.since(base() + Duration::minutes(m));
        }
        if let Some(m) = self.to {
            q = q.until(base() + Duration::minutes(m) + Duration::microseconds(1));
        }
        if let Some(a) = self.actor {
            q = q.actor(a);
        }
        if let Some(k) = self.actor_kind {
            q = q.actor_kind(k);
        }
        if !self.actions.is_empty() {
            q = q.actions(&self.actions);
        }
        if let Some(t) = &self.target {
            q = q.target(t);
        }
        if let Some(k) = self.target_kind {
            q = q.target_kind(k);
        }
        if let Some(t) = &self.involving {
            q = q.involving(t);
        }
        if let Some(s) = &self.source {
            q = q.source(s.clone());
        }
        match self.outcome {
            Some(true) => q = q.outcome(OutcomeFilter::Success),
            Some(false) => q = q.failures(),
            None => {}
        }
        if let Some(w) = &self.search {
            q = q.search(w.join(" "));
        }
        if let Some(p) = self.changed {
            q = q.changed(p);
        }
        if self.oldest_first {
            q = q.oldest_first();
        }
        if let (Some(i), false) = (&self.cursor_at, events.is_empty()) {
            q = q.after(Cursor::after_event(&events[i.index(events.len())]));
        }
        q
    }
}

/// The reference answer: `Query::matches` over every event, in the query's order.
fn reference(events: &[Event], q: &Query) -> Vec<u64> {
    let mut found: Vec<Event> = events.iter().filter(|e| q.matches(e)).cloned().collect();
    q.sort(&mut found);
    found.iter().map(|e| e.seq).collect()
}

fn seqs(events: &[SealedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Records `events` once and copies the very same sealed events into a SQLite store.
fn stores(events: Vec<NewEvent>) -> (MemoryStore, SqliteStore, Vec<Event>) {
    let trail = AuditTrail::new(MemoryStore::new());
    trail.record_batch(events).expect("valid random events");
    let mem = MemoryStore::new();
    let sql = SqliteStore::open_in_memory().expect("in-memory SQLite");
    let sealed = trail.store().read(1, 10_000).expect("read");
    let head = trail.store().head().expect("head");
    if !sealed.is_empty() {
        // Stores never hash: the same sealed events (and head) can be appended to any store.
        mem.append(0, &sealed, &head).expect("memory append");
        sql.append(0, &sealed, &head).expect("sqlite append");
    }
    let decoded = sealed.iter().map(|s| s.decode().expect("decode")).collect();
    (mem, sql, decoded)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_memory_and_matches_agree(
        events in proptest::collection::vec(new_event(), 0..24),
        specs in proptest::collection::vec(query_spec(), 1..8),
    ) {
        let (mem, sql, decoded) = stores(events);
        let sql_trail = AuditTrail::new(sql);
        for spec in &specs {
            let q = spec.build(&decoded);
            if q.validate().is_err() {
                // An unanswerable query (a search with no words) is refused before any store.
                prop_assert!(sql_trail.query(&q).unwrap_err().is_invalid());
                continue;
            }
            let want = reference(&decoded, &q);
            let from_mem = seqs(&mem.query(&q, 1_000).unwrap());
            let from_sql = seqs(&sql_trail.store().query(&q, 1_000).unwrap());
            prop_assert_eq!(&from_mem, &want, "MemoryStore vs Query::matches for {:?}", q);
            prop_assert_eq!(&from_sql, &want, "SqliteStore vs Query::matches for {:?}", q);
            prop_assert_eq!(mem.count(&q).unwrap(), want.len() as u64, "memory count {:?}", q);
            prop_assert_eq!(sql_trail.store().count(&q).unwrap(), want.len() as u64, "sqlite count {:?}", q);
            // Paging through SQLite with small pages visits the same events, in order.
            let mut paged = Vec::new();
            let mut page_q = q.clone().limit(2);
            loop {
                let page = sql_trail.query(&page_q).unwrap();
                paged.extend(page.events.iter().map(|e| e.seq));
                match page.next {
                    Some(c) => page_q = q.clone().limit(2).after(c),
                    None => break,
                }
            }
            prop_assert_eq!(&paged, &want, "paging SQLite for {:?}", q);
        }
    }
}

/// Words FTS5's unicode61 tokenizer would split or fold differently from `Query::matches`
/// (found by the model test above: a private-use character is a word character to FTS5).
#[test]
fn search_agrees_where_fts5_tokenizes_differently() {
    let tricky = [
        "\u{e000}x",
        "nai\u{308}ve",
        "ΣΑΣ",
        "İstanbul",
        "ﬁle",
        "x²",
        "Ⅻ",
        "ǅemal",
        "ẞ",
    ];
    let events = tricky
        .iter()
        .map(|w| NewEvent::new("note.added").context("text", *w))
        .collect();
    let (mem, sql, decoded) = stores(events);
    for probe in tricky
        .iter()
        .chain(&["x", "naive", "σας", "file", "x2", "xii", "ß"])
    {
        let q = Query::new().search(*probe);
        if q.validate().is_err() {
            continue;
        }
        let want = reference(&decoded, &q);
        assert_eq!(
            seqs(&mem.query(&q, 100).unwrap()),
            want,
            "memory, search {probe:?}"
        );
        assert_eq!(
            seqs(&sql.query(&q, 100).unwrap()),
            want,
            "sqlite, search {probe:?}"
        );
    }
    // The first one is the case that failed before SQLite indexed whole words.
    let q = Query::new().search("x");
    assert_eq!(seqs(&sql.query(&q, 100).unwrap()), [1]);
}
