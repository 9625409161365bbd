//! Frozen hash vectors: the canonical encoding and the hashes must never drift. Any change to
//! them is a format change that breaks every stored log, so this test fails on it.
//!
//! Regenerate only for a deliberate, versioned format change:
//! `AUDITKIT_BLESS=1 cargo test --test golden`.

use auditkit::integrity::{canonical, hashes, merkle, verify::seal_hashes};
use auditkit::store::{
    Head, PersonalField, PersonalPath, PersonalValue, SealedEvent, SealedEventRef,
};
use auditkit::{ActorKind, AuditStore, AuditTrail, MemoryStore};
use serde_json::{json, Value};
use time::macros::datetime;
use uuid::Uuid;

const LOG_ID: &str = "01940000-0000-7000-8000-000000000000";

/// The frozen events, sealed with canonical encoding `encoding` (2 adds links, given fixed
/// values here: the vectors pin the bytes, not how a trail finds them).
fn events_in(encoding: u8) -> Vec<SealedEvent> {
    let salt = [7u8; 16];
    let name = "\"Sarah\"".to_string();
    let mut first = SealedEvent::new(
        1,
        Uuid::parse_str("01940000-0000-7000-8000-000000000001").unwrap(),
        datetime!(2026-01-10 14:00:00.123456 UTC),
        "booking.rescheduled",
    );
    first.recorded_at = datetime!(2026-01-10 14:00:01 UTC);
    first.tenant = Some("clinic-42".into());
    first.actor_kind = ActorKind::User;
    first.actor_id = "u-17".into();
    first.actor_role = Some("staff".into());
    first.source = "web".into();
    first.target_kind = Some("booking".into());
    first.target_id = Some("b-123".into());
    first.related = Some(canonical::json(
        &json!([{"id": "c-9", "kind": "customer", "label": null}]),
    ));
    first.before = Some(canonical::json(&json!({"start": "2026-01-10T14:00:00Z"})));
    first.after = Some(canonical::json(&json!({"start": "2026-01-15T09:00:00Z"})));
    first.context = Some(canonical::json(
        &json!({"reason": "customer asked", "amount": 4500, "rate": 0.1}),
    ));
    first.personal = vec![PersonalField {
        path: PersonalPath::ActorName,
        commitment: hashes::commitment("actor.name", &salt, &name),
        value: Some(PersonalValue { text: name, salt }),
    }];
    first.encoding = encoding;
    if encoding >= 2 {
        first.links = vec![7, 300];
    }
    first.prev_hash = hashes::genesis(LOG_ID);
    first.hash = seal_hashes(LOG_ID, &first).1;
    let mut second = SealedEvent::new(
        2,
        Uuid::parse_str("01940000-0000-7000-8000-000000000002").unwrap(),
        datetime!(2026-01-11 08:00 UTC),
        "auth.login_failed",
    );
    second.actor_kind = ActorKind::Anonymous;
    second.actor_id = "anonymous".into();
    second.source = "api".into();
    second.request = Some(canonical::json(
        &json!({"ip": "203.0.113.7", "request_id": null, "user_agent": null}),
    ));
    second.failure = Some("bad password".into());
    second.idempotency_key = Some("k-1".into());
    second.payload_version = Some(2);
    second.encoding = encoding;
    second.prev_hash = first.hash;
    second.hash = seal_hashes(LOG_ID, &second).1;
    vec![first, second]
}

fn events() -> Vec<SealedEvent> {
    events_in(2)
}

fn vectors(encoding: u8) -> Value {
    let events = events_in(encoding);
    let mut frontier = Vec::new();
    let mut out = Vec::new();
    for e in &events {
        let bytes = canonical::event_bytes(LOG_ID, e);
        let (leaf, hash) = seal_hashes(LOG_ID, e);
        merkle::push(&mut frontier, e.seq - 1, leaf);
        out.push(json!({
            "seq": e.seq,
            "canonical_bytes": hex::encode(&bytes),
            "leaf": hex::encode(leaf),
            "hash": hex::encode(hash),
            "merkle_root": hex::encode(merkle::root(&frontier)),
        }));
    }
    json!({
        "log_id": LOG_ID,
        "genesis": hex::encode(hashes::genesis(LOG_ID)),
        "canonical_json": canonical::json(&json!({"b": [1.5, 1e21, -0.0, u64::MAX], "a": "é\n\u{1}"})),
        "events": out,
    })
}

/// Encoding 1 in `golden.json` (frozen since the first release), encoding 2 in
/// `golden_v2.json`.
#[test]
fn hashes_match_the_frozen_vectors() {
    for (encoding, file) in [(1, "golden.json"), (2, "golden_v2.json")] {
        let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        let now = vectors(encoding);
        if std::env::var_os("AUDITKIT_BLESS").is_some() {
            std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
        }
        let frozen: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            now, frozen,
            "canonical encoding {encoding} or its hashing changed: that breaks every stored log"
        );
    }
}

#[test]
fn sealed_events_round_trip_through_json_with_identical_bytes() {
    for e in events() {
        let text = serde_json::to_string(&e).unwrap();
        let back: SealedEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(
            canonical::event_bytes(LOG_ID, &back),
            canonical::event_bytes(LOG_ID, &e)
        );
        assert_eq!(back, e);
        let event = back.decode().unwrap();
        assert_eq!(event.hash, e.hash);
    }
}

/// The log `tests/data/sealed_events_v1.jsonl` was recorded in.
const V1_LOG_ID: &str = "01940000-0000-7000-8000-0000000000aa";

/// `SealedEvent`s as this version's serde impls wrote them, one per line: a trail with
/// personal keys `phone` and `home.phone` recorded (1) a rescheduling with every field set
/// (a tenant, an actor with name, email and role impersonated by a user impersonated in turn,
/// a request, a labelled target, a labelled and an unlabelled related target, personal keys in
/// `before`, `after` and `context`, an idempotency key), (2) a typed-payload failure and (3) a
/// bare event, then erased `actor.email` and `context.phone` of event 1. Written once, never
/// regenerated: custom stores and archives keep this form.
fn v1_lines() -> Vec<(String, SealedEvent)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sealed_events_v1.jsonl"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let e = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("a line written by 0.1 no longer decodes: {err}"));
            (line.to_owned(), e)
        })
        .collect()
}

/// The same log under its own id, for `verify`.
struct V1Log(MemoryStore);

impl AuditStore for V1Log {
    fn log_id(&self) -> auditkit::Result<String> {
        Ok(V1_LOG_ID.into())
    }
    fn head(&self) -> auditkit::Result<Head> {
        self.0.head()
    }
    fn append(
        &self,
        expected: u64,
        batch: &[SealedEvent],
        new_head: &Head,
    ) -> auditkit::Result<()> {
        self.0.append(expected, batch, new_head)
    }
    fn read(&self, from: u64, limit: usize) -> auditkit::Result<Vec<SealedEvent>> {
        self.0.read(from, limit)
    }
}

#[test]
fn sealed_events_written_by_0_1_decode_re_encode_and_verify() {
    let lines = v1_lines();
    assert_eq!(lines.len(), 3);
    let mut frontier = Vec::new();
    let mut prev = hashes::genesis(V1_LOG_ID);
    for (line, e) in &lines {
        // Re-encoding keeps every field of the text as it was (a field added later may add a
        // key, never change one).
        let frozen: Value = serde_json::from_str(line).unwrap();
        let again = serde_json::to_value(e).unwrap();
        for (key, value) in frozen.as_object().unwrap() {
            assert_eq!(
                &again[key], value,
                "event {}: field {key} re-encodes differently",
                e.seq
            );
        }
        let back: SealedEvent = serde_json::from_value(again).unwrap();
        assert_eq!(&back, e);
        // The hashes and commitments recompute from the decoded fields.
        let (leaf, hash) = seal_hashes(V1_LOG_ID, e);
        assert_eq!((e.prev_hash, e.hash), (prev, hash), "event {}", e.seq);
        for p in &e.personal {
            if let Some(v) = &p.value {
                assert_eq!(
                    hashes::commitment(&p.path.to_string(), &v.salt, &v.text),
                    p.commitment,
                    "event {}: {}",
                    e.seq,
                    p.path
                );
            }
        }
        merkle::push(&mut frontier, e.seq - 1, leaf);
        prev = hash;
    }

    let events: Vec<SealedEvent> = lines.into_iter().map(|(_, e)| e).collect();
    let first = events[0].decode().unwrap();
    assert_eq!(first.redacted, ["actor.email", "context.phone"]);
    assert_eq!(first.actor.name.as_deref(), Some("Sarah"));
    assert_eq!(first.actor.email, None);
    let imp = first.actor.impersonator.as_deref().unwrap();
    assert_eq!(
        (imp.name.as_deref(), imp.email.as_deref()),
        (Some("Support Sam"), Some("sam@example.com"))
    );
    let root = imp.impersonator.as_deref().unwrap();
    assert_eq!(root.name.as_deref(), Some("Root Admin"));
    assert_eq!(
        first.target.as_ref().unwrap().label.as_deref(),
        Some("Haircut with Sam")
    );
    assert_eq!(first.related[0].label.as_deref(), Some("Alex Doe"));
    assert_eq!(first.related[1].label, None);
    assert_eq!(first.before.as_ref().unwrap()["phone"], "555-0101");
    assert_eq!(first.after.as_ref().unwrap()["phone"], "555-0199");
    assert_eq!(first.context["home.phone"], "555-0102");
    assert!(!first.context.contains_key("phone"));
    assert_eq!(first.changes.len(), 2, "{:?}", first.changes);
    assert_eq!(events[1].decode().unwrap().payload_version, Some(1));

    // And they verify as a log, erased value counted as redacted.
    let store = V1Log(MemoryStore::new());
    let head = Head::new(events.len() as u64, prev, frontier);
    store.append(0, &events, &head).unwrap();
    let report = AuditTrail::new(store).verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.checked, report.redacted), (3, 1));
}

/// A later version adds fields as `#[serde(default)]`, so text written before them decodes:
/// every field that can be empty already is, checked by leaving each one out of the frozen
/// text wherever it holds its empty value.
#[test]
fn sealed_event_text_without_its_empty_fields_decodes() {
    // The fields an event can leave empty, and their empty values: what a bare event holds.
    let bare = serde_json::to_value(SealedEvent::new(
        1,
        Uuid::nil(),
        datetime!(2026-01-01 00:00 UTC),
        "audit.probe",
    ))
    .unwrap();
    let empty: Vec<(&String, &Value)> = bare
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_null() || v.as_array().is_some_and(Vec::is_empty))
        .collect();
    assert!(empty.len() >= 14, "{empty:?}");
    let mut left_out = 0;
    for (line, e) in v1_lines() {
        let frozen: Value = serde_json::from_str(&line).unwrap();
        let mut text = frozen.as_object().unwrap().clone();
        for (key, value) in &empty {
            if text.get(*key) == Some(value) {
                text.remove(*key);
                left_out += 1;
                let one: SealedEvent = serde_json::from_value(Value::Object(text.clone()))
                    .unwrap_or_else(|err| panic!("event {} without {key}: {err}", e.seq));
                assert_eq!(one, e, "event {} without {key}", e.seq);
            }
        }
        // Erased personal fields without their `value`.
        if let Some(Value::Array(personal)) = text.get_mut("personal") {
            for p in personal.iter_mut().filter(|p| p["value"].is_null()) {
                p.as_object_mut().unwrap().remove("value");
                left_out += 1;
            }
        }
        let all: SealedEvent = serde_json::from_value(Value::Object(text)).unwrap();
        assert_eq!(all, e, "event {} with every empty field left out", e.seq);
    }
    assert_eq!(left_out, 29);
}

#[test]
fn the_lent_constructor_builds_the_same_event() {
    let (id, at) = (Uuid::nil(), datetime!(2026-01-01 00:00 UTC));
    assert_eq!(
        SealedEvent::new(7, id, at, "audit.probe").view(),
        SealedEventRef::new(7, id, at, "audit.probe")
    );
}
