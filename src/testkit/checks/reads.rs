//! Reading back: seq ranges, every field round-tripped, and lookup by id and idempotency key.

use serde_json::json;
use uuid::Uuid;

use super::{lent, record_corpus};
use crate::query::Query;
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::testkit::corpus::at;
use crate::testkit::{
    clip, describe, ensure, field_diff, same_events, CheckResult, Ctx, Failure, Harness,
};
use crate::{Actor, AuditPayload, NewEvent, Outcome, RequestContext, Source, Target};

/// Reading seq ranges.
///
/// Property: `read(from, limit)` returns the stored events with `seq >= from`, in ascending
/// seq order, at most `limit` of them, each exactly as appended; it starts at `from` (never
/// earlier), returns nothing past the head, and never invents or skips an event.
///
/// # Errors
/// A [`Failure`] naming the broken property.
pub fn read_ranges<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "read_ranges";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    let n = all.len() as u64;
    let cases: [(u64, usize); 9] = [
        (1, 1_000),
        (0, 3),
        (1, 1),
        (5, 3),
        (n - 1, 10),
        (n, 1),
        (n + 1, 10),
        (u64::MAX, 10),
        (3, 0),
    ];
    for (from, limit) in cases {
        let want: Vec<&SealedEvent> = all.iter().filter(|e| e.seq >= from).take(limit).collect();
        let got = h
            .raw()
            .read(from, limit)
            .ctx(C, format!("read({from}, {limit})"))?;
        same_events(C, &format!("read({from}, {limit})"), &want, &got)?;
        let got = lent(C, h.raw(), from, limit)?;
        same_events(C, &format!("read_each({from}, {limit})"), &want, &got)?;
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Rescheduled {
    booking_id: String,
    reason: String,
}

impl AuditPayload for Rescheduled {
    const ACTION: &'static str = "booking.rescheduled";
    const VERSION: u32 = 3;
}

/// Events that exercise every field and every hard value.
fn rich_events() -> Vec<NewEvent> {
    let big = "Lorem ipsum dolor sit amet, ünïcödé ✓ ".repeat(900);
    let mut deep = json!("bottom");
    for i in 0..60 {
        deep = if i % 2 == 0 {
            json!({ "level": deep })
        } else {
            json!([deep, i])
        };
    }
    vec![
        // Every optional field absent.
        NewEvent::new("x.minimal").occurred_at(at(0, 0)),
        // Every field present, with unicode, escapes, floats, big integers and personal values.
        NewEvent::new("booking.rescheduled")
            .tenant("клиника-№1 🏥")
            .actor(
                Actor::user("u-Ω")
                    .name("Zoë O'Brien 👩‍⚕️")
                    .role("staff")
                    .email("zoë@例え.jp")
                    .impersonated_by(
                        Actor::user("support-1")
                            .name("Sam \"Support\" \\ Team")
                            .email("sam@example.com"),
                    ),
            )
            .source(Source::Other("kiosk-é".into()))
            .request(
                RequestContext::new()
                    .ip("2001:db8::1")
                    .user_agent("Mozilla/5.0 (iPhone; ÇPU) \u{202e}rtl")
                    .request_id("req-✓-1"),
            )
            .outcome(Outcome::failure("card declined — 3DS ✗\nline two"))
            .occurred_at(at(1, 123_456) + time::Duration::nanoseconds(789))
            .target(Target::new("booking", "b-ü-1").label("Haircut with Sam ✂️"))
            .related(Target::new("customer", "c-9").label("Zoë Martin"))
            .related(Target::new("order", "o-1"))
            .related(Target::new("staff", "s-2").label("Sam\ttab"))
            .before(json!({
                "slot": {"start": "2026-01-10T14:00:00Z", "end": null},
                "price": 40.5, "tiny": 5e-324, "huge": 1.7976931348623157e308,
                "max": u64::MAX, "min": i64::MIN, "neg_zero": -0.0, "third": 0.1 + 0.2,
                "phone": "+33 6 12 34 56 78",
                "nested": [[1, [2, [3, {"k": "v"}]]], {}, []],
                "quote\"key": "back\\slash", "ключ": "значение", "\u{1f600}": "emoji key",
                "nul": "a\u{0}b", "ctl": "\u{1}\u{1f}\u{7f}"
            }))
            .after(json!({
                "slot": {"start": "2026-01-15T09:00:00Z", "end": "2026-01-15T10:00:00Z"},
                "price": 1e21, "max": u64::MAX - 1, "phone": "+33 7 00 00 00 00",
                "items": [1, 2.5, "three", true, null]
            }))
            .context("reason", "customer asked 🙏")
            .context("amount", 12.5)
            .context("cents", 1_250_i64)
            .context(
                "refund",
                json!({"amount": -0.01, "currency": "EUR", "ok": false}),
            )
            .context("phone", "+33 6 12 34 56 78")
            .context("empty", json!({}))
            .idempotency_key("idem-ü-✓"),
        // A typed payload: its version is stored.
        NewEvent::typed(&Rescheduled {
            booking_id: "b-1".into(),
            reason: "typed".into(),
        })
        .occurred_at(at(2, 999_999)),
        // Large and deeply nested JSON, just under the default limits.
        NewEvent::new("import.large")
            .context("notes", big)
            .context("deep", deep)
            .occurred_at(at(3, 1)),
        // The extremes of the time range.
        NewEvent::new("x.epoch").occurred_at(time::OffsetDateTime::UNIX_EPOCH),
        NewEvent::new("x.far_future")
            .occurred_at(time::macros::datetime!(9999-12-31 23:59:59.999_999 UTC)),
        // Failure with an empty-ish reason and an anonymous actor without a name.
        NewEvent::new("account.login_failed")
            .actor(Actor::anonymous())
            .outcome(Outcome::failure(" "))
            .occurred_at(at(4, 0)),
    ]
}

/// Every field of every event comes back exactly as it was appended.
///
/// Property: for events with unicode everywhere, large (about 40 KiB) and deeply nested
/// JSON, floats at the edges of `f64`, `u64::MAX` and `i64::MIN`, microsecond timestamps
/// (and the first and last supported instants), optional fields absent and present, and
/// personal values (actor and impersonator name and email, target and related labels,
/// configured personal keys), `read`, `get`, `find_by_key` and `query` return the sealed
/// event field for field, its hash recomputes, and it decodes to the [`crate::Event`] that
/// `record` returned.
///
/// # Errors
/// A [`Failure`] naming the field that changed and the event.
pub fn round_trip<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "round_trip";
    let h = Harness::with_trail(store, |b| b.personal_keys(["phone"]));
    let mut recorded = Vec::new();
    for e in rich_events() {
        let action = e.action_name().to_owned();
        recorded.push(
            h.trail
                .record(e)
                .ctx(C, format!("recording the `{action}` round-trip event"))?,
        );
    }
    let log_id = h.raw().log_id().ctx(C, "log_id()")?;
    let appended = h.appended();
    ensure!(
        C,
        appended.iter().any(|e| !e.personal.is_empty()),
        "the round-trip events should carry personal values"
    );
    for (want, event) in appended.iter().zip(&recorded) {
        let what = describe(want);
        let by_seq = h
            .raw()
            .read(want.seq, 1)
            .ctx(C, format!("read({}, 1)", want.seq))?;
        same_events(C, &format!("read({}, 1)", want.seq), &[want], &by_seq)?;
        let lent_one = lent(C, h.raw(), want.seq, 1)?;
        same_events(
            C,
            &format!("read_each({}, 1)", want.seq),
            &[want],
            &lent_one,
        )?;
        let by_id = h.raw().get(want.id).ctx(C, format!("get({})", want.id))?;
        match &by_id {
            None => {
                return Err(Failure::new(
                    C,
                    format!("get({}) found nothing for event {what}", want.id),
                ))
            }
            Some(got) => {
                if let Some(d) = field_diff(want, got) {
                    return Err(Failure::new(C, format!("get(id) of event {what}: {d}")));
                }
            }
        }
        if let Some(key) = &want.idempotency_key {
            let got = h
                .raw()
                .find_by_key(key)
                .ctx(C, format!("find_by_key({key:?})"))?;
            ensure!(
                C,
                got.as_ref() == Some(want),
                "find_by_key({key:?}) of event {what}: {}",
                got.map_or("found nothing".into(), |g| field_diff(want, &g)
                    .unwrap_or_default())
            );
        }
        let q = match event
            .occurred_at
            .checked_add(time::Duration::microseconds(1))
        {
            Some(end) => Query::new().between(event.occurred_at, end),
            None => Query::new().since(event.occurred_at),
        };
        let found = h.raw().query(&q, 100).ctx(C, "query(between(..))")?;
        match found.iter().find(|e| e.seq == want.seq) {
            None => {
                return Err(Failure::new(
                    C,
                    format!(
                        "query(between(occurred_at, occurred_at + 1µs)) did not return event {what}: microsecond precision lost?"
                    ),
                ))
            }
            Some(got) => {
                if let Some(d) = field_diff(want, got) {
                    return Err(Failure::new(C, format!("query() of event {what}: {d}")));
                }
            }
        }
        let back = &by_seq[0];
        let (_, hash) = crate::integrity::verify::seal_hashes(&log_id, back);
        ensure!(
            C,
            hash == back.hash,
            "event {what} read back no longer matches its hash"
        );
        let decoded = back
            .decode()
            .ctx(C, format!("decoding event {what} read back"))?;
        if decoded != *event {
            let d = match (serde_json::to_value(event), serde_json::to_value(&decoded)) {
                (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) => a
                    .iter()
                    .find(|(k, v)| b.get(*k) != Some(v))
                    .map(|(k, v)| {
                        format!(
                            "field `{k}` was {} when recorded, {} when read back",
                            clip(Some(v)),
                            clip(b.get(k))
                        )
                    })
                    .unwrap_or_else(|| "the events differ".into()),
                _ => "the events differ".into(),
            };
            return Err(Failure::new(
                C,
                format!("event {what} decodes differently from what record() returned: {d}"),
            ));
        }
    }
    Ok(())
}

/// Lookup by id and idempotency key.
///
/// Property: `get(id)` returns the event with that id and `None` for an unknown id;
/// `find_by_key(key)` returns the event recorded with that key and `None` for an unknown
/// key; recording a key again returns the first event and stores nothing, in one call or in
/// one batch.
///
/// # Errors
/// A [`Failure`] naming the id or key and the event.
pub fn get_and_idempotency<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "get_and_idempotency";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    for e in h.appended() {
        let got = h.raw().get(e.id).ctx(C, format!("get({})", e.id))?;
        ensure!(
            C,
            got.as_ref().map(|g| g.seq) == Some(e.seq),
            "get({}) returned {} instead of event {}",
            e.id,
            got.as_ref().map_or("nothing".into(), describe),
            describe(&e)
        );
    }
    for id in [Uuid::nil(), Uuid::now_v7(), Uuid::max()] {
        let got = h.raw().get(id).ctx(C, format!("get({id})"))?;
        ensure!(
            C,
            got.is_none(),
            "get({id}) of an id never stored returned event {}",
            got.as_ref().map_or(String::new(), describe)
        );
    }
    let first = h
        .trail
        .record(
            NewEvent::new("payment.captured")
                .idempotency_key("webhook-evt-1")
                .context("amount", 10),
        )
        .ctx(C, "recording with an idempotency key")?;
    let head = h.raw().head().ctx(C, "head()")?;
    let again = h
        .trail
        .record(
            NewEvent::new("payment.captured")
                .idempotency_key("webhook-evt-1")
                .context("amount", 10),
        )
        .ctx(C, "recording the same event with its idempotency key again")?;
    ensure!(
        C,
        again.id == first.id && again.seq == first.seq,
        "recording idempotency key \"webhook-evt-1\" again returned seq {} instead of the first event, seq {}",
        again.seq,
        first.seq
    );
    // The key with another event is a mistake, not a retry: refused, naming the key.
    let other = h.trail.record(
        NewEvent::new("payment.captured")
            .idempotency_key("webhook-evt-1")
            .context("amount", 99),
    );
    ensure!(
        C,
        matches!(&other, Err(e) if e.is_invalid() && e.to_string().contains("webhook-evt-1")),
        "recording idempotency key \"webhook-evt-1\" with a different event must be Error::Invalid naming the key, got {other:?}"
    );
    let batch = h
        .trail
        .record_batch(vec![
            NewEvent::new("payment.captured")
                .idempotency_key("webhook-evt-1")
                .context("amount", 10),
            NewEvent::new("payment.captured").idempotency_key("webhook-evt-2"),
            NewEvent::new("payment.captured").idempotency_key("webhook-evt-2"),
        ])
        .ctx(C, "recording a batch with repeated idempotency keys")?;
    ensure!(
        C,
        batch[0].seq == first.seq && batch[1].seq == batch[2].seq && batch[1].seq == head.seq + 1,
        "a batch repeating keys returned seqs {:?}, expected [{}, {}, {}]",
        batch.iter().map(|e| e.seq).collect::<Vec<_>>(),
        first.seq,
        head.seq + 1,
        head.seq + 1
    );
    let now = h.raw().head().ctx(C, "head()")?;
    ensure!(
        C,
        now.seq == head.seq + 1,
        "repeated idempotency keys stored duplicates: the head moved from {} to {}",
        head.seq,
        now.seq
    );
    for (key, seq) in [
        ("webhook-evt-1", first.seq),
        ("webhook-evt-2", head.seq + 1),
    ] {
        let got = h
            .raw()
            .find_by_key(key)
            .ctx(C, format!("find_by_key({key:?})"))?;
        ensure!(
            C,
            got.as_ref().map(|g| g.seq) == Some(seq),
            "find_by_key({key:?}) returned {} instead of event seq {seq}",
            got.as_ref().map_or("nothing".into(), describe)
        );
    }
    let got = h.raw().find_by_key("never-used").ctx(C, "find_by_key")?;
    ensure!(
        C,
        got.is_none(),
        "find_by_key(\"never-used\") returned event {}",
        got.as_ref().map_or(String::new(), describe)
    );
    // One key for two different events in one call: the call is refused whole.
    let before = h.raw().head().ctx(C, "head()")?;
    let mixed = h.trail.record_batch(vec![
        NewEvent::new("payment.captured").idempotency_key("webhook-evt-3"),
        NewEvent::new("payment.refunded").idempotency_key("webhook-evt-3"),
    ]);
    let after = h.raw().head().ctx(C, "head()")?;
    ensure!(
        C,
        matches!(&mixed, Err(e) if e.is_invalid()) && after.seq == before.seq,
        "a batch giving one idempotency key to two different events must be refused whole (Error::Invalid, nothing stored), got {mixed:?} and the head moved from {} to {}",
        before.seq,
        after.seq
    );
    Ok(())
}
