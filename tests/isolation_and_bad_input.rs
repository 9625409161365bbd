//! Tenant isolation under random queries, and bad input refused with nothing stored.

use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, AuditPayload, AuditStore, AuditTrail, Error, MemoryStore, NewEvent, Outcome, Query,
    Source, Target,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

const TENANTS: [Option<&str>; 4] = [None, Some("clinic-1"), Some("clinic-2"), Some("salon-3")];
const ACTIONS: [&str; 4] = [
    "booking.created",
    "booking.rescheduled",
    "payment.refunded",
    "client.updated",
];

#[derive(Debug, Clone)]
struct Spec {
    tenant: usize,
    actor: u8,
    action: usize,
    target: u8,
    related: u8,
    minute: i64,
    failed: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..4usize,
        0..3u8,
        0..4usize,
        0..4u8,
        0..4u8,
        0..500i64,
        any::<bool>(),
    )
        .prop_map(
            |(tenant, actor, action, target, related, minute, failed)| Spec {
                tenant,
                actor,
                action,
                target,
                related,
                minute,
                failed,
            },
        )
}

fn base() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("2026-01-01")
}

fn new_event(s: &Spec) -> NewEvent {
    let mut e = NewEvent::new(ACTIONS[s.action])
        .actor(Actor::user(format!("u-{}", s.actor)).name("Sam Haircut"))
        .target(Target::new("booking", format!("b-{}", s.target)))
        .related(Target::new("customer", format!("c-{}", s.related)))
        .occurred_at(base() + time::Duration::minutes(s.minute))
        .before(json!({"slot": s.minute}))
        .after(json!({"slot": s.minute + 1}));
    if let Some(t) = TENANTS[s.tenant] {
        e = e.tenant(t);
    }
    if s.failed {
        e = e.outcome(Outcome::failure("card declined"));
    }
    e
}

#[derive(Debug, Clone)]
struct QuerySpec {
    tenant: usize,
    actor: Option<u8>,
    action: Option<usize>,
    prefix: bool,
    target: Option<u8>,
    involving: Option<u8>,
    failures: bool,
    search: bool,
    changed: bool,
    since: Option<i64>,
    oldest_first: bool,
    limit: usize,
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        (
            1..4usize,
            prop::option::of(0..3u8),
            prop::option::of(0..4usize),
            any::<bool>(),
        ),
        (
            prop::option::of(0..4u8),
            prop::option::of(0..4u8),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            any::<bool>(),
            prop::option::of(0..500i64),
            any::<bool>(),
            1..7usize,
        ),
    )
        .prop_map(
            |(
                (tenant, actor, action, prefix),
                (target, involving, failures, search),
                (changed, since, oldest_first, limit),
            )| QuerySpec {
                tenant,
                actor,
                action,
                prefix,
                target,
                involving,
                failures,
                search,
                changed,
                since,
                oldest_first,
                limit,
            },
        )
}

fn build(q: &QuerySpec) -> Query {
    let mut query = Query::new()
        .tenant(TENANTS[q.tenant].expect("a tenant"))
        .limit(q.limit);
    if let Some(a) = q.actor {
        query = query.actor(format!("u-{a}"));
    }
    if let Some(a) = q.action {
        query = if q.prefix {
            let family = ACTIONS[a].split('.').next().expect("family");
            query.action(format!("{family}.*"))
        } else {
            query.action(ACTIONS[a])
        };
    }
    if let Some(t) = q.target {
        query = query.target(&Target::new("booking", format!("b-{t}")));
    }
    if let Some(c) = q.involving {
        query = query.involving(&Target::new("customer", format!("c-{c}")));
    }
    if q.failures {
        query = query.failures();
    }
    if q.search {
        query = query.search("haircut");
    }
    if q.changed {
        query = query.changed("slot");
    }
    if let Some(m) = q.since {
        query = query.since(base() + time::Duration::minutes(m));
    }
    if q.oldest_first {
        query = query.oldest_first();
    }
    query
}

/// Every page of `query`, followed through the cursors.
fn all_pages<S: AuditStore>(trail: &AuditTrail<S>, query: &Query) -> Vec<auditkit::Event> {
    let mut out = Vec::new();
    let mut q = query.clone();
    loop {
        let page = trail.query(&q).expect("query");
        out.extend(page.events);
        match page.next {
            Some(c) => q = q.after(c),
            None => return out,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_tenant_query_never_returns_another_tenants_event(
        specs in prop::collection::vec(spec(), 1..40),
        queries in prop::collection::vec(query_spec(), 1..6),
    ) {
        let memory = AuditTrail::new(MemoryStore::new());
        let sqlite = AuditTrail::new(SqliteStore::open_in_memory().expect("sqlite"));
        let mut model = Vec::new();
        for s in &specs {
            model.push(memory.record(new_event(s)).expect("memory record"));
            sqlite.record(new_event(s)).expect("sqlite record");
        }
        for q in &queries {
            let query = build(q);
            let tenant = TENANTS[q.tenant];
            let expected: Vec<u64> = model.iter().filter(|e| query.matches(e)).map(|e| e.seq).collect();
            for (name, got, count) in [
                ("memory", all_pages(&memory, &query), memory.count(&query).expect("count")),
                ("sqlite", all_pages(&sqlite, &query), sqlite.count(&query).expect("count")),
            ] {
                for e in &got {
                    prop_assert_eq!(e.tenant.as_deref(), tenant, "{} leaked seq {} for {:?}", name, e.seq, q);
                }
                let mut seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
                seqs.sort_unstable();
                prop_assert_eq!(&seqs, &expected, "{} for {:?}", name, q);
                prop_assert_eq!(count, expected.len() as u64, "{} count for {:?}", name, q);
            }
        }
    }
}

fn nested(n: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..n {
        v = Value::Array(vec![v]);
    }
    v
}

fn nested_object(n: usize) -> Value {
    let mut v = json!("leaf");
    for i in 0..n {
        // Not json!: it would copy `v` through a recursive to_value.
        let mut map = serde_json::Map::new();
        map.insert(format!("k{}", i % 3), v);
        v = Value::Object(map);
    }
    v
}

/// Deeply nested Rust data (not a `Value`), as a typed payload.
#[derive(Debug, Serialize, Deserialize)]
struct Chain {
    next: Option<Box<Chain>>,
}

impl AuditPayload for Chain {
    const ACTION: &'static str = "test.chain";
}

fn chain(n: usize) -> Chain {
    let mut c = Chain { next: None };
    for _ in 0..n {
        c = Chain {
            next: Some(Box::new(c)),
        };
    }
    c
}

fn impersonation(n: usize) -> Actor {
    let mut a = Actor::user("u-0");
    for i in 1..n {
        a = Actor::user(format!("u-{i}")).impersonated_by(a);
    }
    a
}

fn good(i: usize) -> NewEvent {
    NewEvent::new("booking.created")
        .tenant("clinic-1")
        .actor(Actor::user("u-1"))
        .context("i", i)
}

/// Drops `v` without recursing once per level: dropping a `Value` nested 10,000 objects deep
/// the ordinary way overflows a test thread's stack in serde_json's own drop glue.
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

type Make = Box<dyn Fn() -> NewEvent>;

/// Each bad event (made fresh on demand), with the field its error must name.
fn bad_events() -> Vec<(&'static str, Make)> {
    let long = || "x".repeat(257);
    vec![
        ("before", Box::new(|| good(0).before(nested(10_000)))),
        (
            "after",
            Box::new(|| {
                let deep = nested_object(10_000);
                let e = good(0).after(&deep);
                dismantle(deep);
                e
            }),
        ),
        (
            "context.deep",
            Box::new(|| good(0).context("deep", nested(10_000))),
        ),
        ("payload", Box::new(|| NewEvent::typed(&chain(10_000)))),
        ("before", Box::new(|| good(0).before(nested(65)))),
        ("context", Box::new(|| good(0).context("deep", nested(64)))),
        ("actor", Box::new(|| good(0).actor(impersonation(10_000)))),
        (
            "payload",
            Box::new(|| good(0).context("blob", "x".repeat(70_000))),
        ),
        ("action", Box::new(|| NewEvent::new("Booking.Created"))),
        ("action", Box::new(|| NewEvent::new("booking"))),
        ("action", Box::new(|| NewEvent::new("booking..created"))),
        (
            "action",
            Box::new(move || NewEvent::new(format!("a.{}", long()))),
        ),
        ("tenant", Box::new(|| good(0).tenant(""))),
        ("tenant", Box::new(move || good(0).tenant(long()))),
        ("tenant", Box::new(|| good(0).tenant("clinic\n1"))),
        ("actor.id", Box::new(|| good(0).actor(Actor::user(" ")))),
        (
            "target",
            Box::new(|| good(0).target(Target::new("booking", ""))),
        ),
        (
            "related[0]",
            Box::new(|| good(0).related(Target::new("", "c-1"))),
        ),
        (
            "source",
            Box::new(|| good(0).source(Source::Other(String::new()))),
        ),
        (
            "idempotency_key",
            Box::new(move || good(0).idempotency_key(long())),
        ),
        (
            "outcome.reason",
            Box::new(|| good(0).outcome(Outcome::failure("r".repeat(5_000)))),
        ),
        (
            "occurred_at",
            Box::new(|| {
                good(0).occurred_at(OffsetDateTime::from_unix_timestamp(-1).expect("1969"))
            }),
        ),
    ]
}

fn refuses_bad_input<S: AuditStore>(trail: AuditTrail<S>) {
    trail.record(good(0)).expect("a good event");
    let head = trail.checkpoint().expect("checkpoint");
    for (field, make) in bad_events() {
        let e = trail.record(make()).expect_err(field);
        assert!(e.is_invalid(), "{field}: {e}");
        let Error::Invalid {
            field: got,
            problem,
        } = &e
        else {
            unreachable!()
        };
        assert!(
            got.starts_with(field),
            "expected {field}, got {got}: {problem}"
        );
        // In a batch, one bad event refuses the whole batch.
        let e = trail
            .record_batch(vec![good(1), make(), good(2)])
            .expect_err("batch");
        assert!(e.to_string().contains("events[1]."), "{e}");
        assert_eq!(
            trail.count(&Query::new()).expect("count"),
            1,
            "{field}: stored"
        );
    }
    let report = trail.verify_against(&head).expect("verify");
    assert!(report.is_ok(), "{:?}", report.fault);
    assert_eq!(trail.record(good(3)).expect("still records").seq, 2);

    for (what, q) in [
        ("limit", Query::new().limit(0)),
        ("limit", Query::new().limit(1_000_000)),
        ("search", Query::new().search("  ...  ")),
    ] {
        let e = trail.query(&q).expect_err(what);
        assert!(e.is_invalid() && e.to_string().contains(what), "{e}");
    }
    for bad in ["", "c1", "c1.zz.1", &"f".repeat(100_000), "c1.1.1\0"] {
        let e = bad
            .parse::<auditkit::Cursor>()
            .expect_err("malformed cursor");
        assert!(matches!(e, Error::Malformed { what: "cursor", .. }), "{e}");
    }
}

#[test]
fn memory_refuses_bad_input_and_stores_nothing() {
    refuses_bad_input(AuditTrail::new(MemoryStore::new()));
}

#[test]
fn sqlite_refuses_bad_input_and_stores_nothing() {
    refuses_bad_input(AuditTrail::new(
        SqliteStore::open_in_memory().expect("open"),
    ));
}

/// JSON too deep for the parser (10,000 nested arrays) is an error, not a stack overflow.
#[test]
fn deep_json_text_is_an_error() {
    let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(serde_json::from_str::<auditkit::Event>(&text).is_err());
    assert!(serde_json::from_str::<auditkit::SealedEvent>(&text).is_err());
    let event = format!(r#"{{"before": {text}}}"#);
    assert!(serde_json::from_str::<auditkit::Event>(&event).is_err());
}
