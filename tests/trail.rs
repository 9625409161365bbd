//! The trail's behaviour on both bundled stores.
#![cfg(feature = "sqlite")]

use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, ActorKind, AuditStore, AuditTrail, MemoryStore, NewEvent, Outcome, Query,
    RequestContext, Source, Target,
};
use serde_json::json;
use time::macros::datetime;
use time::Duration;

fn both() -> Vec<(&'static str, AuditTrail<Box<dyn AuditStore>>)> {
    vec![
        (
            "memory",
            AuditTrail::new(Box::new(MemoryStore::new()) as Box<dyn AuditStore>),
        ),
        (
            "sqlite",
            AuditTrail::new(Box::new(SqliteStore::open_in_memory().unwrap()) as Box<dyn AuditStore>),
        ),
    ]
}

fn full_event() -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant("clinic-42")
        .actor(
            Actor::customer("c-9")
                .name("Zoë Ñúñez")
                .email("zoe@example.com")
                .impersonated_by(Actor::user("u-1").name("Support Tom").role("support")),
        )
        .source(Source::Other("kiosk".into()))
        .request(RequestContext::new().ip("203.0.113.7").user_agent("Mozilla/5.0").request_id("req-1"))
        .occurred_at(datetime!(2026-01-10 14:00:00.123456789 +02:00))
        .target(Target::new("booking", "b-123").label("Haircut with Sam"))
        .related(Target::new("customer", "c-9").label("Zoë"))
        .related(Target::new("order", "o-1"))
        .before(json!({"slot": {"start": "2026-01-10T14:00:00Z"}, "items": [1, 2], "price": 45.5}))
        .after(json!({"slot": {"start": "2026-01-15T09:00:00Z"}, "items": [1], "price": 45.5, "big": u64::MAX}))
        .context("reason", "customer asked")
        .context("amount", json!({"value": -12, "currency": "EUR", "exact": 0.1}))
        .idempotency_key("req-1")
}

#[test]
fn what_record_returns_is_what_is_read_back() {
    for (name, trail) in both() {
        let e = trail.record(full_event()).unwrap();
        assert_eq!(e.seq, 1, "{name}");
        assert_eq!(
            e.occurred_at,
            datetime!(2026-01-10 12:00:00.123456 UTC),
            "{name}"
        );
        assert_eq!(
            e.actor.impersonator.as_ref().unwrap().name.as_deref(),
            Some("Support Tom")
        );
        assert_eq!(e.related[0].label.as_deref(), Some("Zoë"), "{name}");
        let paths: Vec<&str> = e.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["big", "items[1]", "slot.start"], "{name}");
        assert_eq!(trail.get(e.id).unwrap(), Some(e.clone()), "{name}");
        let page = trail.query(&Query::new()).unwrap();
        assert_eq!(page.events, vec![e.clone()], "{name}");
        assert_eq!(
            trail.history(&Target::new("booking", "b-123")).unwrap(),
            vec![e.clone()]
        );
        // Serde round trip of the public type.
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            serde_json::from_str::<auditkit::Event>(&json).unwrap(),
            e,
            "{name}"
        );
        assert!(trail.verify().unwrap().is_ok(), "{name}");
    }
}

#[test]
fn idempotency_keys_return_the_first_event() {
    for (name, trail) in both() {
        let first = trail.record(full_event()).unwrap();
        let again = trail.record(full_event()).unwrap();
        assert_eq!(again, first, "{name}");
        let batch = trail
            .record_batch(vec![
                NewEvent::new("payment.succeeded").idempotency_key("pay-1"),
                NewEvent::new("payment.succeeded").idempotency_key("pay-1"),
                full_event(),
            ])
            .unwrap();
        assert_eq!(batch[0], batch[1], "{name}");
        assert_eq!(batch[2], first, "{name}");
        assert_eq!(trail.count(&Query::new()).unwrap(), 2, "{name}");
    }
}

#[test]
fn secrets_are_masked_before_storage() {
    let trail = AuditTrail::new(SqliteStore::open_in_memory().unwrap());
    let e = trail
        .record(
            NewEvent::new("staff.updated")
                .before(json!({"password": "hunter2", "profile": {"apiKey": "k-1", "name": "Sam"}}))
                .after(json!({"cards": [{"card_number": "4111111111111111", "cvv": "123"}]}))
                // Not hex-like: a secret must not match by chance inside an id or a hash.
                .context("Access-Token", "tok-s3cr3t"),
        )
        .unwrap();
    let text = serde_json::to_string(&e).unwrap();
    for secret in [
        "hunter2",
        "k-1",
        "4111111111111111",
        "\"123\"",
        "tok-s3cr3t",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(e.before.as_ref().unwrap()["profile"]["name"], "Sam");
    assert_eq!(e.context["Access-Token"], auditkit::REDACTED);
}

#[test]
fn paging_visits_each_event_once_while_events_arrive() {
    for (name, trail) in both() {
        let base = datetime!(2026-03-01 9:00 UTC);
        for i in 0..25 {
            trail
                .record(
                    NewEvent::new("booking.created")
                        .tenant("t")
                        // Several events share a time: the cursor breaks ties by seq.
                        .occurred_at(base + Duration::minutes(i / 3)),
                )
                .unwrap();
        }
        for order in [Query::new().newest_first(), Query::new().oldest_first()] {
            let q = order.tenant("t").limit(4);
            let mut seen = Vec::new();
            let mut page = trail.query(&q).unwrap();
            loop {
                seen.extend(page.events.iter().map(|e| e.seq));
                // New events arrive between pages, both newer and older than the window.
                trail
                    .record(NewEvent::new("booking.created").tenant("other"))
                    .unwrap();
                match page.next {
                    Some(c) => {
                        let text = c.to_string();
                        page = trail
                            .query(&q.clone().after(text.parse().unwrap()))
                            .unwrap();
                    }
                    None => break,
                }
            }
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, (1..=25).collect::<Vec<_>>(), "{name}: {seen:?}");
            assert_eq!(seen.len(), 25, "{name}");
        }
        // A full last page still reports that nothing is left.
        let page = trail.query(&Query::new().tenant("t").limit(25)).unwrap();
        assert_eq!((page.events.len(), page.next), (25, None), "{name}");
    }
}

#[test]
fn every_filter_gives_the_same_answer_on_both_stores() {
    let day = |d: u8| datetime!(2026-02-01 10:00 UTC) + Duration::days(d.into());
    let events = || {
        vec![
            NewEvent::new("booking.created")
                .tenant("a")
                .actor(Actor::customer("c-1").name("Alex"))
                .source(Source::Web)
                .occurred_at(day(0))
                .target(Target::new("booking", "b-1").label("Haircut with Sam"))
                .related(Target::new("customer", "c-1"))
                .after(json!({"slot": {"start": "10:00"}})),
            NewEvent::new("booking.rescheduled")
                .tenant("a")
                .actor(Actor::user("u-1").name("Sarah"))
                .source(Source::Mobile)
                .occurred_at(day(1))
                .target(Target::new("booking", "b-1"))
                .related(Target::new("customer", "c-1"))
                .before(json!({"slot": {"start": "10:00"}}))
                .after(json!({"slot": {"start": "12:00"}}))
                .context("reason", "Customer asked politely"),
            NewEvent::new("payment.failed")
                .tenant("b")
                .actor(Actor::service("stripe"))
                .source(Source::Webhook)
                .occurred_at(day(2))
                .outcome(Outcome::failure("card declined"))
                .target(Target::new("order", "o-1"))
                .related(Target::new("customer", "c-1"))
                .context("amount", 4500),
            NewEvent::new("auth.login_failed")
                .tenant("b")
                .actor(Actor::anonymous())
                .source(Source::Web)
                .occurred_at(day(3))
                .outcome(Outcome::failure("bad password")),
            NewEvent::new("bookings_x.created")
                .tenant("a")
                .occurred_at(day(4)),
        ]
    };
    let c1 = Target::new("customer", "c-1");
    let b1 = Target::new("booking", "b-1");
    let cases: Vec<(&str, Query, Vec<u64>)> = vec![
        ("all", Query::new(), vec![5, 4, 3, 2, 1]),
        ("tenant", Query::new().tenant("a"), vec![5, 2, 1]),
        ("between", Query::new().between(day(1), day(3)), vec![3, 2]),
        ("since", Query::new().since(day(3)), vec![5, 4]),
        ("until", Query::new().until(day(1)), vec![1]),
        ("actor", Query::new().actor("u-1"), vec![2]),
        (
            "actor_kind",
            Query::new().actor_kind(ActorKind::Anonymous),
            vec![4],
        ),
        ("action", Query::new().action("booking.created"), vec![1]),
        (
            "action prefix",
            Query::new().action("booking.*"),
            vec![2, 1],
        ),
        (
            "actions",
            Query::new().actions(["auth.*", "payment.failed"]),
            vec![4, 3],
        ),
        ("target", Query::new().target(&b1), vec![2, 1]),
        ("target_kind", Query::new().target_kind("order"), vec![3]),
        ("involving", Query::new().involving(&c1), vec![3, 2, 1]),
        ("source", Query::new().source(Source::Web), vec![4, 1]),
        ("failures", Query::new().failures(), vec![4, 3]),
        (
            "successes",
            Query::new().outcome(auditkit::OutcomeFilter::Success),
            vec![5, 2, 1],
        ),
        ("search word", Query::new().search("POLITELY"), vec![2]),
        ("search label", Query::new().search("haircut sam"), vec![1]),
        ("search name", Query::new().search("sarah"), vec![2]),
        ("search number", Query::new().search("4500"), vec![3]),
        ("search action", Query::new().search("rescheduled"), vec![2]),
        (
            "search no partial words",
            Query::new().search("hair"),
            vec![],
        ),
        ("changed", Query::new().changed("slot"), vec![2, 1]),
        (
            "changed leaf",
            Query::new().changed("slot.start"),
            vec![2, 1],
        ),
        ("changed none", Query::new().changed("slo"), vec![]),
        (
            "oldest first",
            Query::new().tenant("a").oldest_first(),
            vec![1, 2, 5],
        ),
        (
            "combined",
            Query::new().tenant("a").involving(&c1).since(day(1)),
            vec![2],
        ),
    ];
    for (name, trail) in both() {
        trail.record_batch(events()).unwrap();
        let all = trail.query(&Query::new()).unwrap().events;
        for (case, q, want) in &cases {
            let got: Vec<u64> = trail
                .query(q)
                .unwrap()
                .events
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(&got, want, "{name}: {case}");
            let by_matches: Vec<u64> = all.iter().filter(|e| q.matches(e)).map(|e| e.seq).collect();
            let mut sorted_want = want.clone();
            sorted_want.sort_unstable_by(|a, b| b.cmp(a));
            let mut sorted_matches = by_matches.clone();
            sorted_matches.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(sorted_matches, sorted_want, "Query::matches: {case}");
            assert_eq!(
                trail.count(q).unwrap(),
                want.len() as u64,
                "{name}: count {case}"
            );
        }
    }
}

#[test]
fn exports_stream_every_match_and_neutralise_formulas() {
    for (name, trail) in both() {
        for i in 0..150 {
            trail
                .record(
                    NewEvent::new("client.updated")
                        .tenant("t")
                        .actor(Actor::user("u-1").name("=HYPERLINK(\"http://evil\")"))
                        .target(Target::new("client", format!("c-{i}")).label("@SUM(A1)"))
                        .context("note", "+1 call back"),
                )
                .unwrap();
        }
        let mut csv_out = Vec::new();
        // The limit is ignored by exports.
        let n = trail
            .export_csv(&Query::new().limit(10), &mut csv_out)
            .unwrap();
        assert_eq!(n, 150, "{name}");
        let mut reader = csv::Reader::from_reader(csv_out.as_slice());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, auditkit::CSV_COLUMNS, "{name}");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 150);
        assert_eq!(&rows[0][6], "'=HYPERLINK(\"http://evil\")", "{name}");
        assert_eq!(&rows[0][13], "'@SUM(A1)", "{name}");
        assert_eq!(&rows[0][0], "150", "{name}");

        let mut jsonl = Vec::new();
        assert_eq!(trail.export_jsonl(&Query::new(), &mut jsonl).unwrap(), 150);
        let events: Vec<auditkit::Event> = String::from_utf8(jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 150);
        assert_eq!(
            events[0].context["note"], "+1 call back",
            "JSON is not neutralised"
        );
    }
}

/// A store whose `query` fails from its `n`-th call on.
struct FailingQuery {
    inner: MemoryStore,
    calls: std::sync::atomic::AtomicUsize,
    fail_from: usize,
}

impl AuditStore for FailingQuery {
    fn log_id(&self) -> auditkit::Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> auditkit::Result<auditkit::Head> {
        self.inner.head()
    }
    fn append(
        &self,
        expected: u64,
        batch: &[auditkit::SealedEvent],
        new_head: &auditkit::Head,
    ) -> auditkit::Result<()> {
        self.inner.append(expected, batch, new_head)
    }
    fn read(&self, from: u64, limit: usize) -> auditkit::Result<Vec<auditkit::SealedEvent>> {
        self.inner.read(from, limit)
    }
    fn query(&self, query: &Query, limit: usize) -> auditkit::Result<Vec<auditkit::SealedEvent>> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n + 1 >= self.fail_from {
            return Err(auditkit::Error::storage("injected: page read failed"));
        }
        self.inner.query(query, limit)
    }
}

/// `for_each` (and the exports over it) reads pages ahead on other threads: every event still
/// arrives once, in order, and the first error — the store's or the callback's — ends it.
#[test]
fn streaming_many_pages_keeps_order_and_stops_at_the_first_error() {
    let store = FailingQuery {
        inner: MemoryStore::new(),
        calls: Default::default(),
        fail_from: usize::MAX,
    };
    let trail = AuditTrail::new(store);
    let t0 = datetime!(2026-01-01 09:00 UTC);
    for chunk in 0..5 {
        let batch: Vec<NewEvent> = (0..700)
            .map(|i| {
                // Occurrence times out of seq order, so the query order is not the seq order.
                let k: i64 = chunk * 700 + i;
                NewEvent::new("booking.created")
                    .occurred_at(t0 + Duration::minutes((k * 7919) % 3500))
            })
            .collect();
        trail.record_batch(batch).unwrap();
    }
    for order in [Query::new(), Query::new().oldest_first()] {
        let mut want = trail.store().inner.read(1, 10_000).unwrap();
        want.sort_by_key(|e| (e.occurred_at, e.seq));
        if order.order() == auditkit::SortOrder::NewestFirst {
            want.reverse();
        }
        let mut got = Vec::new();
        trail
            .for_each(&order, |e| {
                got.push(e.seq);
                Ok(())
            })
            .unwrap();
        assert_eq!(got, want.iter().map(|e| e.seq).collect::<Vec<_>>());
    }
    let mut jsonl = Vec::new();
    assert_eq!(trail.export_jsonl(&Query::new(), &mut jsonl).unwrap(), 3500);
    let mut one_by_one = Vec::new();
    trail
        .for_each(&Query::new(), |e| {
            serde_json::to_writer(&mut one_by_one, &e).unwrap();
            one_by_one.push(b'\n');
            Ok(())
        })
        .unwrap();
    assert!(jsonl == one_by_one, "export_jsonl differs from for_each");
    let mut csv = Vec::new();
    assert_eq!(trail.export_csv(&Query::new(), &mut csv).unwrap(), 3500);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 3501);
    let seqs: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let mut want = trail.store().inner.read(1, 10_000).unwrap();
    want.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.seq)));
    assert_eq!(seqs, want.iter().map(|e| e.seq).collect::<Vec<_>>());

    let mut seen = 0;
    let err = trail
        .for_each(&Query::new(), |_| {
            seen += 1;
            if seen == 1_500 {
                return Err(auditkit::Error::storage("callback gave up"));
            }
            Ok(())
        })
        .unwrap_err();
    assert!(err.to_string().contains("callback gave up"), "{err}");
    assert_eq!(seen, 1_500);

    // The third page read fails: the first two pages arrive, then the error.
    let store = FailingQuery {
        inner: MemoryStore::new(),
        calls: Default::default(),
        fail_from: 3,
    };
    let trail = AuditTrail::new(store);
    for _ in 0..4 {
        let batch = (0..1_000)
            .map(|_| NewEvent::new("booking.created"))
            .collect();
        trail.record_batch(batch).unwrap();
    }
    let mut seen = 0;
    let err = trail
        .for_each(&Query::new(), |_| {
            seen += 1;
            Ok(())
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("injected: page read failed"),
        "{err}"
    );
    assert_eq!(seen, 2_000);
}

/// A webhook's event under key `pay-1`, with what a test varies.
fn payment(action: &str, tenant: &str, reason: &str, name: &str) -> NewEvent {
    NewEvent::new(action)
        .tenant(tenant)
        .actor(Actor::customer("c-9").name(name))
        .source(Source::Webhook)
        .request(RequestContext::new().request_id("delivery-1"))
        .target(Target::new("booking", "b-123"))
        .before(json!({"paid_cents": 0}))
        .after(json!({"paid_cents": 4500}))
        .context("reason", reason)
        .idempotency_key("pay-1")
}

#[test]
fn an_idempotency_key_means_one_request() {
    let base = || payment("payment.captured", "clinic-42", "deposit", "Zoë");
    for (name, t) in both() {
        let first = t
            .record(base().occurred_at(datetime!(2026-01-10 14:00:00 +02:00)))
            .unwrap();
        // Another attempt of the same request: another delivery's request context, no
        // occurred_at of its own. The first event comes back, nothing is stored.
        let retry = base().request(RequestContext::new().request_id("delivery-2"));
        assert_eq!(t.record(retry).unwrap(), first, "{name}");
        let same_time = base().occurred_at(datetime!(2026-01-10 14:00:00 +02:00));
        assert_eq!(t.record(same_time).unwrap(), first, "{name}");
        // Anything else the caller supplied differing is another request under the same key.
        for (field, other) in [
            (
                "action",
                payment("payment.refunded", "clinic-42", "deposit", "Zoë"),
            ),
            (
                "tenant",
                payment("payment.captured", "clinic-43", "deposit", "Zoë"),
            ),
            (
                "context",
                payment("payment.captured", "clinic-42", "balance", "Zoë"),
            ),
            (
                "actor.name",
                payment("payment.captured", "clinic-42", "deposit", "Zoe"),
            ),
            (
                "occurred_at",
                base().occurred_at(datetime!(2026-01-10 14:00:01 +02:00)),
            ),
        ] {
            let e = t.record(other).unwrap_err();
            assert!(e.is_invalid(), "{name} {field}: {e}");
            let text = e.to_string();
            assert!(
                text.contains("pay-1") && text.contains(field),
                "{name} {field}: {text}"
            );
        }
        assert_eq!(t.count(&Query::new()).unwrap(), 1, "{name}");
    }
}
