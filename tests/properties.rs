//! Round-trip properties: canonical JSON is a fixed point, sealed events survive their serde
//! form byte for byte, and `changes` rebuild `after` from `before`.

use auditkit::changes::{apply, diff};
use auditkit::integrity::{canonical, verify::seal_hashes};
use auditkit::{
    Actor, AuditStore, AuditTrail, MemoryStore, NewEvent, Outcome, RequestContext, SealedEvent,
    Source, Target,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Any JSON value: exact integers at both ends of i64/u64, finite floats of every size,
/// any unicode in strings and keys (control characters included), nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop_oneof![
            any::<f64>(),
            Just(0.1),
            Just(-0.0),
            Just(5e-324),
            Just(1e21),
            Just(f64::MAX)
        ]
        .prop_filter("finite", |f| f.is_finite())
        .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[a-c.\\[\\]\\\\ é\u{0}-\u{1f}]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys, including the characters change paths escape.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c.\\[\\]\\\\]{1,3}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

prop_compose! {
    fn new_event()(
        tenant in proptest::option::of("\\PC{1,12}"),
        name in proptest::option::of(any::<String>()),
        label in proptest::option::of(any::<String>()),
        reason in proptest::option::of(any::<String>()),
        before in proptest::option::of(object()),
        after in proptest::option::of(object()),
        context in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4),
        micros in 0i64..253_402_300_799_999_999,
        ip in proptest::option::of("\\PC{0,20}"),
    ) -> NewEvent {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .expect("in range");
        let mut actor = Actor::user("u-1");
        if let Some(n) = name { actor = actor.name(n); }
        let mut target = Target::new("booking", "b-1");
        if let Some(l) = label { target = target.label(l); }
        let mut e = NewEvent::new("booking.updated")
            .actor(actor)
            .target(target)
            .source(Source::Api)
            .occurred_at(t);
        if let Some(tn) = tenant.filter(|t| !t.trim().is_empty()) { e = e.tenant(tn); }
        if let Some(r) = reason { e = e.outcome(Outcome::failure(r)); }
        if let Some(b) = before { e = e.before(b); }
        if let Some(a) = after { e = e.after(a); }
        if let Some(ip) = ip { e = e.request(RequestContext::new().ip(ip)); }
        for (k, v) in context { e = e.context(k, v); }
        e
    }
}

fn normalized(v: Option<Value>) -> Value {
    v.unwrap_or_else(|| json!({}))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Canonical text parses back to a value whose canonical text is the same text.
    #[test]
    fn canonical_json_is_a_fixed_point(v in json_value()) {
        let once = canonical::json(&v);
        let parsed: Value = serde_json::from_str(&once).expect("canonical JSON parses");
        prop_assert_eq!(canonical::json(&parsed), once);
    }

    /// SealedEvent → JSON → SealedEvent gives the same event and the same canonical bytes,
    /// so its hash still verifies.
    #[test]
    fn sealed_events_round_trip_through_json(events in prop::collection::vec(new_event(), 1..4)) {
        let trail = AuditTrail::builder(MemoryStore::new())
            .personal_keys(["phone", "a"])
            .build();
        let recorded = match trail.record_batch(events) {
            Ok(r) => r,
            // Random payloads may exceed the size or depth limits: refused, never stored.
            Err(e) => {
                prop_assert!(e.is_invalid(), "{}", e);
                prop_assert_eq!(trail.store().head().unwrap().seq, 0);
                return Ok(());
            }
        };
        let log_id = trail.log_id().unwrap().to_owned();
        for s in trail.store().read(1, 100).unwrap() {
            let text = serde_json::to_string(&s).unwrap();
            let back: SealedEvent = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(
                canonical::event_bytes(&log_id, &back),
                canonical::event_bytes(&log_id, &s)
            );
            prop_assert_eq!(seal_hashes(&log_id, &back).1, s.hash);
            let decoded = back.decode().unwrap();
            prop_assert_eq!(&decoded, &recorded[(s.seq - 1) as usize]);
            // The Event's own serde form round-trips too.
            let e2: auditkit::Event =
                serde_json::from_str(&serde_json::to_string(&decoded).unwrap()).unwrap();
            prop_assert_eq!(canonical::json(&serde_json::to_value(&e2).unwrap()),
                canonical::json(&serde_json::to_value(&decoded).unwrap()));
        }
        prop_assert!(trail.verify().unwrap().is_ok());
    }

    /// `apply(before, diff(before, after))` rebuilds `after` (a missing root counting as `{}`,
    /// as in `diff`).
    #[test]
    fn changes_rebuild_after(before in proptest::option::of(json_value()), after in proptest::option::of(json_value())) {
        let changes = diff(before.as_ref(), after.as_ref());
        let rebuilt = apply(before.as_ref(), &changes);
        prop_assert_eq!(normalized(rebuilt), normalized(after.clone()), "changes: {:?}", changes);
        // Only real differences are listed.
        if before == after {
            prop_assert!(changes.is_empty());
        }
    }

    /// The same for objects sharing most of their keys, where nested diffs are likely.
    #[test]
    fn changes_rebuild_after_for_similar_objects(base in object(), edits in prop::collection::vec((key(), proptest::option::of(json_value())), 0..4)) {
        let mut after = base.clone();
        for (k, v) in edits {
            let m = after.as_object_mut().expect("an object");
            match v {
                Some(v) => { m.insert(k, v); }
                None => { m.remove(&k); }
            }
        }
        let changes = diff(Some(&base), Some(&after));
        prop_assert_eq!(apply(Some(&base), &changes), Some(after));
    }
}

/// Floats the fixed-point property found: serde_json's default float parser is not correctly
/// rounded, so auditkit enables its `float_roundtrip` feature.
#[test]
fn floats_survive_canonical_text() {
    for f in [
        -6.780650022211587e44,
        4.8403800785062773e86,
        0.1 + 0.2,
        5e-324,
    ] {
        let text = canonical::json(&json!([f]));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0].as_f64(), Some(f), "{text}");
        assert_eq!(canonical::json(&back), text);
    }
}
