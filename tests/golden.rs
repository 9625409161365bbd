//! Frozen hash vectors: the canonical encoding and the hashes must never drift. Any change to
//! them is a format change that breaks every stored log, so this test fails on it.
//!
//! Regenerate only for a deliberate, versioned format change:
//! `AUDITKIT_BLESS=1 cargo test --test golden`.

use auditkit::integrity::{canonical, hashes, merkle, verify::seal_hashes};
use auditkit::{ActorKind, PersonalField, PersonalValue, SealedEvent};
use serde_json::{json, Value};
use time::macros::datetime;
use uuid::Uuid;

const LOG_ID: &str = "01940000-0000-7000-8000-000000000000";

fn events() -> Vec<SealedEvent> {
    let salt = [7u8; 16];
    let name = "\"Sarah\"".to_string();
    let mut first = SealedEvent {
        seq: 1,
        id: Uuid::parse_str("01940000-0000-7000-8000-000000000001").unwrap(),
        occurred_at: datetime!(2026-01-10 14:00:00.123456 UTC),
        recorded_at: datetime!(2026-01-10 14:00:01 UTC),
        tenant: Some("clinic-42".into()),
        actor_kind: ActorKind::User,
        actor_id: "u-17".into(),
        actor_role: Some("staff".into()),
        impersonator: None,
        source: "web".into(),
        request: None,
        action: "booking.rescheduled".into(),
        failure: None,
        target_kind: Some("booking".into()),
        target_id: Some("b-123".into()),
        related: Some(canonical::json(
            &json!([{"id": "c-9", "kind": "customer", "label": null}]),
        )),
        before: Some(canonical::json(&json!({"start": "2026-01-10T14:00:00Z"}))),
        after: Some(canonical::json(&json!({"start": "2026-01-15T09:00:00Z"}))),
        context: Some(canonical::json(
            &json!({"reason": "customer asked", "amount": 4500, "rate": 0.1}),
        )),
        idempotency_key: None,
        payload_version: None,
        personal: vec![PersonalField {
            path: "actor.name".into(),
            commitment: hashes::commitment("actor.name", &salt, &name),
            value: Some(PersonalValue { text: name, salt }),
        }],
        prev_hash: hashes::genesis(LOG_ID),
        hash: [0; 32],
    };
    first.hash = seal_hashes(LOG_ID, &first).1;
    let mut second = SealedEvent {
        seq: 2,
        id: Uuid::parse_str("01940000-0000-7000-8000-000000000002").unwrap(),
        occurred_at: datetime!(2026-01-11 08:00 UTC),
        recorded_at: datetime!(2026-01-11 08:00 UTC),
        tenant: None,
        actor_kind: ActorKind::Anonymous,
        actor_id: "anonymous".into(),
        actor_role: None,
        impersonator: None,
        source: "api".into(),
        request: Some(canonical::json(
            &json!({"ip": "203.0.113.7", "request_id": null, "user_agent": null}),
        )),
        action: "auth.login_failed".into(),
        failure: Some("bad password".into()),
        target_kind: None,
        target_id: None,
        related: None,
        before: None,
        after: None,
        context: None,
        idempotency_key: Some("k-1".into()),
        payload_version: Some(2),
        personal: vec![],
        prev_hash: first.hash,
        hash: [0; 32],
    };
    second.hash = seal_hashes(LOG_ID, &second).1;
    vec![first, second]
}

fn vectors() -> Value {
    let events = events();
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

#[test]
fn hashes_match_the_frozen_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden.json");
    let now = vectors();
    if std::env::var_os("AUDITKIT_BLESS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let frozen: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        now, frozen,
        "the canonical encoding or hashing changed: that breaks every stored log"
    );
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
