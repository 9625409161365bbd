//! The checks, one public function each. Every check takes a fresh, empty store.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::corpus::{self, at};
use super::{
    describe, ensure, expected, field_diff, is_conflict, same_events, seal_batch, seqs,
    CheckResult, Ctx, Failure, Harness,
};
use crate::query::{Cursor, Query, MAX_LIMIT};
use crate::store::sealed::SealedEvent;
use crate::store::{AuditStore, Head, PersonalPath};
use crate::{
    Actor, AuditPayload, AuditTrail, Error, FaultKind, NewEvent, Outcome, RequestContext, Source,
    Target,
};

/// Records the shared corpus through the trail, in single records and batches.
fn record_corpus<S: AuditStore>(check: &'static str, h: &Harness<S>) -> CheckResult {
    let mut events = corpus::events().into_iter();
    for e in events.by_ref().take(5) {
        let action = e.action_name().to_owned();
        h.trail
            .record(e)
            .ctx(check, format!("recording a `{action}` event"))?;
    }
    let rest: Vec<NewEvent> = events.collect();
    for chunk in rest.chunks(6) {
        h.trail
            .record_batch(chunk.to_vec())
            .ctx(check, "recording a batch of the corpus")?;
    }
    Ok(())
}

/// What `read_each(from, limit)` lends, as owned events.
fn lent<S: AuditStore + ?Sized>(
    check: &'static str,
    store: &S,
    from: u64,
    limit: usize,
) -> std::result::Result<Vec<SealedEvent>, Failure> {
    let mut out = Vec::new();
    store
        .read_each(from, limit, &mut |e| out.push(e.to_owned()))
        .ctx(check, format!("read_each({from}, {limit})"))?;
    Ok(out)
}

fn read_all<S: AuditStore + ?Sized>(
    check: &'static str,
    store: &S,
) -> std::result::Result<Vec<SealedEvent>, Failure> {
    store.read(1, usize::MAX >> 1).ctx(check, "read(1, ..)")
}

/// Appends, the head, and the compare-and-append contract.
///
/// Property: an empty store has head seq 0 and an empty frontier and a stable, non-empty log
/// id; after each append the head is exactly the one appended with; an append whose expected
/// head is stale (or ahead) returns [`Error::Conflict`] with the actual head and writes
/// nothing; a batch containing an already-stored id or idempotency key is a conflict and none
/// of it is stored; a valid raw append is readable and verifies.
///
/// # Errors
/// A [`Failure`] naming the broken property.
pub fn append_and_head<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "append_and_head";
    let h = Harness::new(store);
    let raw = h.raw();
    let log_id = raw.log_id().ctx(C, "log_id()")?;
    ensure!(
        C,
        !log_id.is_empty(),
        "log_id() is empty; a log needs an identity"
    );
    ensure!(
        C,
        raw.log_id().ctx(C, "log_id()")? == log_id,
        "log_id() changed between two calls"
    );
    let head = raw.head().ctx(C, "head() of an empty store")?;
    ensure!(
        C,
        head.seq == 0 && head.frontier.is_empty(),
        "an empty store must have head seq 0 and an empty frontier, got seq {} with {} frontier hashes",
        head.seq,
        head.frontier.len()
    );
    ensure!(
        C,
        read_all(C, raw)?.is_empty(),
        "an empty store returned events from read(1, ..)"
    );

    // Appends through the trail: the head follows each one.
    for n in 1..=3u64 {
        let e = h
            .trail
            .record_batch(vec![
                NewEvent::new("booking.created").context("n", n),
                NewEvent::new("booking.confirmed").context("n", n),
            ])
            .ctx(C, "recording a batch of two events")?;
        let head = raw.head().ctx(C, "head()")?;
        let last = h.appended().pop().expect("two events were appended");
        ensure!(
            C,
            head.seq == 2 * n && head.hash == last.hash,
            "after appending event {} the head is seq {} with hash {}, expected seq {} with that event's hash {}",
            describe(&last),
            head.seq,
            hex::encode(head.hash),
            2 * n,
            hex::encode(last.hash)
        );
        ensure!(
            C,
            e.len() == 2 && e[1].seq == 2 * n,
            "record_batch returned seqs {:?}",
            e.iter().map(|e| e.seq).collect::<Vec<_>>()
        );
    }
    let before = read_all(C, raw)?;
    let acknowledged = h.appended();
    same_events(
        C,
        "reading back every acknowledged append",
        &acknowledged.iter().collect::<Vec<_>>(),
        &before,
    )?;
    let head = raw.head().ctx(C, "head()")?;
    ensure!(
        C,
        head.frontier.len() == head.seq.count_ones() as usize,
        "the head at seq {} has {} frontier hashes; it must keep the {} the trail appended with",
        head.seq,
        head.frontier.len(),
        head.seq.count_ones()
    );

    // A stale expected head: another writer got there first.
    let stale = Head::new(4, before[3].hash, Vec::new());
    let stale = {
        // Rebuild the frontier at seq 4 so the batch is otherwise valid.
        let mut f = Vec::new();
        for e in &before[..4] {
            let (leaf, _) = crate::integrity::verify::seal_hashes(&log_id, e);
            crate::integrity::merkle::push(&mut f, e.seq - 1, leaf);
        }
        Head {
            frontier: f,
            ..stale
        }
    };
    let (batch, new_head) = seal_batch(
        &log_id,
        &stale,
        vec![NewEvent::new("booking.stale").context("writer", "late")],
    )
    .ctx(C, "sealing a test batch")?;
    match raw.append(4, &batch, &new_head) {
        Err(Error::Conflict { expected, actual }) => ensure!(
            C,
            expected == 4 && actual == 6,
            "a stale append (expected head 4, actual 6) returned Conflict with expected {expected}, actual {actual}; report the batch's expected head and the store's actual head"
        ),
        other => {
            return Err(Failure::new(
                C,
                format!(
                    "append with a stale expected head (4, the head is at 6) must return Error::Conflict and write nothing, got {other:?} for event {}",
                    describe(&batch[0])
                ),
            ))
        }
    }
    // An expected head ahead of the store.
    let ahead = Head {
        seq: 9,
        ..head.clone()
    };
    let (batch_ahead, ahead_head) =
        seal_batch(&log_id, &ahead, vec![NewEvent::new("booking.ahead")])
            .ctx(C, "sealing a test batch")?;
    let r = raw.append(9, &batch_ahead, &ahead_head);
    ensure!(
        C,
        r.as_ref().is_err_and(is_conflict),
        "append with an expected head (9) ahead of the store (6) must return Error::Conflict, got {r:?}"
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
        "a rejected append changed the store: the head or the events differ from before it"
    );

    // A duplicate id anywhere in a batch rejects the whole batch.
    let (mut dup, dup_head) = seal_batch(
        &log_id,
        &head,
        vec![
            NewEvent::new("booking.fresh"),
            NewEvent::new("booking.dup_id"),
        ],
    )
    .ctx(C, "sealing a test batch")?;
    dup[1].id = before[0].id;
    let r = raw.append(6, &dup, &dup_head);
    ensure!(
        C,
        r.as_ref().is_err_and(is_conflict),
        "a batch whose second event reuses the id of event {} must return Error::Conflict, got {r:?}",
        describe(&before[0])
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
        "a batch rejected for a duplicate id was partly stored (event {} must not be): batches are all or nothing",
        describe(&dup[0])
    );

    // A duplicate idempotency key likewise.
    h.trail
        .record(NewEvent::new("payment.captured").idempotency_key("pay-1"))
        .ctx(C, "recording an event with an idempotency key")?;
    let head = raw.head().ctx(C, "head()")?;
    let before = read_all(C, raw)?;
    let (dup, dup_head) = seal_batch(
        &log_id,
        &head,
        vec![
            NewEvent::new("booking.fresh"),
            NewEvent::new("payment.captured").idempotency_key("pay-1"),
        ],
    )
    .ctx(C, "sealing a test batch")?;
    let r = raw.append(head.seq, &dup, &dup_head);
    ensure!(
        C,
        r.as_ref().is_err_and(is_conflict),
        "a batch reusing the idempotency key \"pay-1\" of event {} must return Error::Conflict, got {r:?}",
        describe(before.last().expect("an event was recorded"))
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
        "a batch rejected for a duplicate idempotency key was partly stored: batches are all or nothing"
    );

    // A valid raw append lands whole.
    let (ok, ok_head) = seal_batch(
        &log_id,
        &head,
        vec![
            NewEvent::new("booking.raw_one"),
            NewEvent::new("booking.raw_two"),
        ],
    )
    .ctx(C, "sealing a test batch")?;
    raw.append(head.seq, &ok, &ok_head)
        .ctx(C, format!("appending {} at the head", describe(&ok[0])))?;
    let now = raw.head().ctx(C, "head()")?;
    ensure!(
        C,
        now == ok_head,
        "after a raw append the head is seq {} (frontier of {}), expected exactly the new head seq {} (frontier of {})",
        now.seq,
        now.frontier.len(),
        ok_head.seq,
        ok_head.frontier.len()
    );
    let got = raw.read(head.seq + 1, 10).ctx(C, "read")?;
    same_events(
        C,
        "reading a raw append back",
        &ok.iter().collect::<Vec<_>>(),
        &got,
    )?;
    let report = h.trail.verify().ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok(),
        "the chain does not verify after appends and rejected conflicts: {report}"
    );
    Ok(())
}

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
                            super::clip(Some(v)),
                            super::clip(b.get(k))
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

/// Runs `query` with page size `limit` through the trail and checks it against the reference.
fn check_query<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    all: &[SealedEvent],
    name: &str,
    query: &Query,
) -> CheckResult {
    let want = expected(check, all, query)?;
    let page = h
        .trail
        .query(&query.clone().limit(MAX_LIMIT))
        .ctx(check, format!("query {name}"))?;
    let got = h
        .raw()
        .query(&query.clone().limit(MAX_LIMIT), MAX_LIMIT + 1)
        .ctx(check, format!("query {name}"))?;
    same_events(check, &format!("query {name}"), &want, &got)?;
    let page_seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    ensure!(
        check,
        page_seqs == seqs(&got) && page.next.is_none(),
        "query {name} through the trail returned seqs {page_seqs:?} (next {:?}), expected {:?} and no next page",
        page.next,
        seqs(&got)
    );
    Ok(())
}

/// Every query filter, alone and combined, newest and oldest first.
///
/// Property: for each filter of [`Query`] (tenant; between, since, until on `occurred_at`
/// with inclusive start and exclusive end; actor; actor kind; exact actions, `prefix.*`
/// patterns and action lists; exact target; target kind; involving a target or related
/// target; source; outcome and failures; whole-word, case-insensitive search; changed paths
/// and their parents) and combinations of them, the store returns exactly the events
/// [`Query::matches`] accepts, in the query's order, each exactly as appended.
///
/// # Errors
/// A [`Failure`] naming the query and the first missing, unexpected or altered event.
pub fn query_filters<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "query_filters";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    for (name, q) in corpus::queries() {
        check_query(C, &h, &all, &format!("{name} newest first"), &q)?;
        check_query(
            C,
            &h,
            &all,
            &format!("{name} oldest first"),
            &q.oldest_first(),
        )?;
    }
    Ok(())
}

/// Result order and the store-level limit.
///
/// Property: newest first is descending `occurred_at` with ties broken by descending `seq`
/// (oldest first the reverse), independent of recording order; `query(q, n)` returns the first
/// `n` events of that order.
///
/// # Errors
/// A [`Failure`] naming the query, the position and the events out of place.
pub fn query_order<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "query_order";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    for q in [Query::new(), Query::new().oldest_first()] {
        let order = format!("{:?}", q.order());
        let want = expected(C, &all, &q)?;
        for limit in [1, 2, 3, 7, want.len(), want.len() + 5] {
            let got = h
                .raw()
                .query(&q, limit)
                .ctx(C, format!("query({order}, {limit})"))?;
            let want: Vec<&SealedEvent> = want.iter().copied().take(limit).collect();
            same_events(
                C,
                &format!("query in order {order} with limit {limit}"),
                &want,
                &got,
            )?;
        }
    }
    Ok(())
}

/// Walks `query` page by page, appending `during` new events after each page.
fn walk<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    name: &str,
    query: &Query,
    during: &mut dyn FnMut(usize) -> Vec<NewEvent>,
) -> std::result::Result<Vec<u64>, Failure> {
    let mut visited: Vec<u64> = Vec::new();
    let mut q = query.clone();
    for page_no in 0.. {
        let all = h.appended();
        let want = expected(check, &all, &q)?;
        let page = h
            .trail
            .query(&q)
            .ctx(check, format!("{name}: page {page_no}"))?;
        let limit = q.page_size();
        let want_page: Vec<u64> = want.iter().take(limit).map(|e| e.seq).collect();
        let got: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        ensure!(
            check,
            got == want_page,
            "{name}: page {page_no} returned seqs {got:?}, expected {want_page:?}{}",
            want.iter()
                .find(|e| !got.contains(&e.seq) && want_page.contains(&e.seq))
                .map(|e| format!(" (missing event {})", describe(e)))
                .unwrap_or_default()
        );
        for s in &got {
            ensure!(
                check,
                !visited.contains(s),
                "{name}: event seq {s} was returned twice, again on page {page_no}"
            );
        }
        visited.extend(&got);
        let more = want.len() > limit;
        ensure!(
            check,
            page.next.is_some() == more,
            "{name}: page {page_no} has next {:?} while {} events remain after it",
            page.next,
            want.len().saturating_sub(limit)
        );
        let Some(next) = page.next else { break };
        // Cursors travel through browsers as text.
        let text = next.to_string();
        let back: Cursor = text.parse().map_err(|e| {
            Failure::new(
                check,
                format!("{name}: cursor {text:?} does not parse: {e}"),
            )
        })?;
        q = query.clone().after(back);
        let new = during(page_no);
        if !new.is_empty() {
            h.trail
                .record_batch(new)
                .ctx(check, format!("{name}: appending between pages"))?;
        }
        ensure!(check, page_no < 1_000, "{name}: paging does not end");
    }
    Ok(visited)
}

/// Keyset paging with cursors.
///
/// Property: walking a query with `limit(n)` and `after(page.next)` (the cursor passed
/// through its text form) returns each page as [`Query::matches`] says, visits every matching
/// event exactly once and in order, and ends with `next == None`; this holds while new events
/// (some occurring later than everything, some in the middle of the timeline) are appended
/// between pages.
///
/// # Errors
/// A [`Failure`] naming the query, the page and the event missed or repeated.
pub fn paging<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "paging";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let queries = [
        ("no filter", Query::new()),
        ("tenant(clinic-1)", Query::new().tenant("clinic-1")),
        ("action(booking.*)", Query::new().action("booking.*")),
    ];
    for (name, q) in queries {
        for (order, q) in [
            ("newest first", q.clone()),
            ("oldest first", q.oldest_first()),
        ] {
            for limit in [1, 3, 4] {
                let label = format!("paging {name} {order} limit({limit})");
                let q = q.clone().limit(limit);
                let before = h.appended();
                let want: Vec<u64> = expected(C, &before, &q)?.iter().map(|e| e.seq).collect();
                let got = walk(C, &h, &label, &q, &mut |_| Vec::new())?;
                ensure!(
                    C,
                    got == want,
                    "{label}: visited seqs {got:?}, expected every match once: {want:?}"
                );
            }
        }
    }
    // New events arrive between pages: the originals are still each visited exactly once.
    for (order, q) in [
        ("newest first", Query::new().tenant("clinic-1")),
        (
            "oldest first",
            Query::new().tenant("clinic-1").oldest_first(),
        ),
    ] {
        let label = format!("paging tenant(clinic-1) {order} while appending");
        let q = q.limit(3);
        let before = h.appended();
        let originals: Vec<u64> = expected(C, &before, &q)?.iter().map(|e| e.seq).collect();
        let mut arrivals = |page: usize| {
            let minute = 45 + page as i64;
            vec![
                NewEvent::new("booking.created")
                    .tenant("clinic-1")
                    .context("page", page)
                    .occurred_at(at(10_000 + page as i64, 0)),
                NewEvent::new("booking.created")
                    .tenant("clinic-1")
                    .context("page", page)
                    .occurred_at(at(minute, 0)),
            ]
        };
        let got = walk(C, &h, &label, &q, &mut arrivals)?;
        for s in &originals {
            ensure!(
                C,
                got.contains(s),
                "{label}: event seq {s}, present before paging began, was never visited"
            );
        }
    }
    Ok(())
}

/// Counting.
///
/// Property: `count(q)` equals the number of events [`Query::matches`] accepts, for every
/// query of [`query_filters`]; it ignores the query's limit and applies its cursor.
///
/// # Errors
/// A [`Failure`] naming the query and both numbers.
pub fn count<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "count";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    for (name, q) in corpus::queries() {
        let want = expected(C, &all, &q)?;
        let n = h.raw().count(&q).ctx(C, format!("count {name}"))?;
        ensure!(
            C,
            n == want.len() as u64,
            "count {name} is {n}, expected {}{}",
            want.len(),
            want.first()
                .map(|e| format!(" (the first match is event {})", describe(e)))
                .unwrap_or_default()
        );
        let n1 = h
            .trail
            .count(&q.clone().limit(1))
            .ctx(C, format!("count {name} limit(1)"))?;
        ensure!(
            C,
            n1 == n,
            "count {name} with limit(1) is {n1}, expected {n}: count ignores the limit"
        );
        if want.len() >= 2 {
            let decoded = want[1].decode().ctx(C, "decode")?;
            let after = q.clone().after(Cursor::after_event(&decoded));
            let n2 = h
                .raw()
                .count(&after)
                .ctx(C, format!("count {name} after(..)"))?;
            let w2 = expected(C, &all, &after)?.len() as u64;
            ensure!(
                C,
                n2 == w2,
                "count {name} after the cursor of event {} is {n2}, expected {w2}: count applies the cursor",
                describe(want[1])
            );
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
                .context("amount", 99),
        )
        .ctx(C, "recording the same idempotency key again")?;
    ensure!(
        C,
        again.id == first.id && again.seq == first.seq,
        "recording idempotency key \"webhook-evt-1\" again returned seq {} instead of the first event, seq {}",
        again.seq,
        first.seq
    );
    let batch = h
        .trail
        .record_batch(vec![
            NewEvent::new("payment.captured").idempotency_key("webhook-evt-1"),
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
    Ok(())
}

/// How a [`Tamper`] view distorts the store it wraps.
#[derive(Debug, Clone, Copy)]
enum Distortion {
    /// Hides this seq from reads.
    Lose(u64),
    /// Changes the action of this seq.
    Alter(u64),
    /// Changes a personal value of this seq.
    AlterPersonal(u64),
    /// Hides the newest event and moves the head back with it.
    CutNewest,
}

/// A read-only view of the store under test that loses or alters what it reads: verify must
/// notice through it.
struct Tamper<S> {
    inner: Arc<S>,
    how: Distortion,
}

// Not `#[deny(clippy::missing_trait_methods)]`: verify must read through the distorting
// `read` below, which the provided `read_each` does; forwarding it would skip the distortion.
impl<S: AuditStore> AuditStore for Tamper<S> {
    fn log_id(&self) -> crate::Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> crate::Result<Head> {
        let head = self.inner.head()?;
        if let Distortion::CutNewest = self.how {
            if head.seq > 0 {
                let prev = self.inner.read(head.seq - 1, 1)?;
                return Ok(Head::new(
                    head.seq - 1,
                    prev.first().map_or([0; 32], |e| e.hash),
                    Vec::new(),
                ));
            }
        }
        Ok(head)
    }
    fn append(&self, _: u64, _: &[SealedEvent], _: &Head) -> crate::Result<()> {
        Err(Error::unsupported("the tamper view is read-only"))
    }
    fn read(&self, from: u64, limit: usize) -> crate::Result<Vec<SealedEvent>> {
        let head = self.inner.head()?.seq;
        let mut out = self.inner.read(from, limit)?;
        match self.how {
            Distortion::Lose(s) => out.retain(|e| e.seq != s),
            Distortion::Alter(s) => {
                for e in out.iter_mut().filter(|e| e.seq == s) {
                    e.action.push_str("_edited");
                }
            }
            Distortion::AlterPersonal(s) => {
                for e in out.iter_mut().filter(|e| e.seq == s) {
                    for p in &mut e.personal {
                        if let Some(v) = &mut p.value {
                            v.text = "\"Someone Else\"".into();
                        }
                    }
                }
            }
            Distortion::CutNewest => out.retain(|e| e.seq != head),
        }
        Ok(out)
    }
}

/// Verification on the store.
///
/// Property: [`AuditTrail::verify`] passes on the store with every event checked, and
/// [`AuditTrail::verify_against`] passes against a fresh checkpoint; read through a view that
/// loses an event, alters an event, alters a personal value, or cuts off the newest event,
/// verify reports `Missing`, `Modified`, `Modified` and (against the checkpoint)
/// `Truncated` at that event.
///
/// # Errors
/// A [`Failure`] naming the distortion and what verify reported.
pub fn verify<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "verify";
    let h = Harness::with_trail(store, |b| b.personal_keys(["phone"]));
    record_corpus(C, &h)?;
    h.trail
        .record(
            NewEvent::new("customer.updated")
                .actor(Actor::user("u-1").name("Sarah"))
                .after(json!({"phone": "555"})),
        )
        .ctx(C, "recording an event with personal values")?;
    let all = h.appended();
    let n = all.len() as u64;
    let report = h.trail.verify().ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok() && report.checked == n && report.verified_through == n,
        "verify() of an intact store must check all {n} events and pass, got: {report}"
    );
    let cp = h.trail.checkpoint().ctx(C, "checkpoint()")?;
    let report = h.trail.verify_against(&cp).ctx(C, "verify_against()")?;
    ensure!(
        C,
        report.is_ok(),
        "verify_against(a fresh checkpoint) must pass, got: {report}"
    );
    let personal = all
        .iter()
        .rev()
        .find(|e| e.personal.iter().any(|p| p.value.is_some()))
        .map_or(n, |e| e.seq);
    let cases = [
        (Distortion::Lose(7), 7, FaultKind::Missing, "loses event 7"),
        (
            Distortion::Alter(5),
            5,
            FaultKind::Modified,
            "alters event 5",
        ),
        (
            Distortion::AlterPersonal(personal),
            personal,
            FaultKind::Modified,
            "alters a personal value",
        ),
        (
            Distortion::CutNewest,
            n,
            FaultKind::Truncated,
            "cuts off the newest event",
        ),
    ];
    for (how, seq, kind, what) in cases {
        let view = AuditTrail::new(Tamper {
            inner: h.shared(),
            how,
        });
        let report = match how {
            Distortion::CutNewest => view.verify_against(&cp),
            _ => view.verify(),
        }
        .ctx(C, format!("verify() through a view that {what}"))?;
        let event = all
            .iter()
            .find(|e| e.seq == seq)
            .map_or(format!("seq {seq}"), describe);
        ensure!(
            C,
            report.fault.as_ref().is_some_and(|f| f.kind == kind && f.seq == seq),
            "verify() through a view that {what} must report {kind} at event {event}, got: {report}"
        );
    }
    Ok(())
}

/// Several writers at once.
///
/// Property: four trails (each its own group commit, as four processes would be) recording
/// concurrently through the same store leave one contiguous chain holding every event
/// exactly once, with a head that matches it, and the chain verifies.
///
/// # Errors
/// A [`Failure`] naming the lost or duplicated event.
pub fn concurrent_writers<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "concurrent_writers";
    const WRITERS: usize = 4;
    const EACH: usize = 8;
    let shared = Arc::new(store);
    let results: Vec<crate::Result<Vec<crate::Event>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let trail = AuditTrail::new(Arc::clone(&shared));
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in 0..EACH {
                        out.push(
                            trail.record(
                                NewEvent::new("booking.created")
                                    .actor(Actor::user(format!("writer-{w}")))
                                    .context("i", i),
                            )?,
                        );
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::storage("a writer thread panicked")))
            })
            .collect()
    });
    let mut recorded = Vec::new();
    for r in results {
        recorded.extend(r.ctx(C, "recording from concurrent writers")?);
    }
    let total = (WRITERS * EACH) as u64;
    let head = shared.head().ctx(C, "head()")?;
    let stored = read_all(C, &*shared)?;
    ensure!(
        C,
        head.seq == total && seqs(&stored) == (1..=total).collect::<Vec<_>>(),
        "{WRITERS} concurrent writers recorded {total} events, but the head is at {} and the store holds seqs {:?}: every acknowledged event must be stored, and compare-and-append must make a losing writer retry",
        head.seq,
        seqs(&stored)
    );
    for e in &recorded {
        let s = &stored[(e.seq - 1) as usize];
        ensure!(
            C,
            s.id == e.id,
            "event seq {} recorded by {} was acknowledged but the store holds another event there ({})",
            e.seq,
            e.actor.id,
            describe(s)
        );
    }
    let report = AuditTrail::new(Arc::clone(&shared))
        .verify()
        .ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok(),
        "after concurrent writers the chain does not verify: {report}"
    );
    Ok(())
}

/// The head a store had at `seq`: that event's chain hash and the Merkle frontier over
/// leaves `1..=seq`, rebuilt from the events.
fn head_at(log_id: &str, events: &[SealedEvent], seq: u64) -> Head {
    let mut frontier = Vec::new();
    let mut hash = [0; 32];
    for e in events.iter().filter(|e| e.seq <= seq) {
        let (leaf, _) = crate::integrity::verify::seal_hashes(log_id, e);
        crate::integrity::merkle::push(&mut frontier, e.seq - 1, leaf);
        hash = e.hash;
    }
    Head::new(seq, hash, frontier)
}

/// Checks `query` through the store and the trail, and its count, against `all`.
fn check_query_and_count<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    all: &[SealedEvent],
    name: &str,
    query: &Query,
) -> CheckResult {
    check_query(check, h, all, name, query)?;
    let want = expected(check, all, query)?;
    let n = h.raw().count(query).ctx(check, format!("count {name}"))?;
    ensure!(
        check,
        n == want.len() as u64,
        "count {name} is {n}, expected {}{}",
        want.len(),
        want.first()
            .map(|e| format!(" (the first match is event {})", describe(e)))
            .unwrap_or_default()
    );
    Ok(())
}

/// Every way of reading the store agrees with `want`: `read`, `read_each`, `get` and
/// `find_by_key` of every event in `want`, and every corpus query and its count.
fn reads_agree<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    when: &str,
    want: &[SealedEvent],
    extra_queries: &[(&str, Query)],
) -> CheckResult {
    let raw = h.raw();
    let refs: Vec<&SealedEvent> = want.iter().collect();
    same_events(
        check,
        &format!("read(1, ..) {when}"),
        &refs,
        &read_all(check, raw)?,
    )?;
    same_events(
        check,
        &format!("read_each(1, ..) {when}"),
        &refs,
        &lent(check, raw, 1, usize::MAX >> 1)?,
    )?;
    for e in want {
        let got = raw.get(e.id).ctx(check, format!("get({}) {when}", e.id))?;
        match &got {
            Some(g) => {
                if let Some(d) = field_diff(e, g) {
                    return Err(Failure::new(
                        check,
                        format!(
                            "get({}) {when}: event {} came back altered: {d}",
                            e.id,
                            describe(e)
                        ),
                    ));
                }
            }
            None => {
                return Err(Failure::new(
                    check,
                    format!(
                        "get({}) {when} returned nothing for stored event {}",
                        e.id,
                        describe(e)
                    ),
                ))
            }
        }
        if let Some(key) = &e.idempotency_key {
            let got = raw
                .find_by_key(key)
                .ctx(check, format!("find_by_key({key:?}) {when}"))?;
            ensure!(
                check,
                got.as_ref() == Some(e),
                "find_by_key({key:?}) {when} returned {} instead of event {} as it reads now",
                got.as_ref().map_or("nothing".into(), describe),
                describe(e)
            );
        }
    }
    for (name, q) in corpus::queries().into_iter().chain(
        extra_queries
            .iter()
            .map(|(n, q)| (n.to_string(), q.clone())),
    ) {
        check_query_and_count(check, h, want, &format!("{name} {when}"), &q)?;
    }
    Ok(())
}

/// Retention: purging a prefix of the chain.
///
/// Property: a store whose [`AuditStore::purge`] returns [`Error::Unsupported`] passes, as
/// long as the refused [`AuditTrail::purge_before`] changed nothing. Otherwise, after
/// `purge_before(cutoff)` with a cutoff between two halves of a recorded corpus, the events
/// recorded before it are gone from `read`, `read_each`, `get`, `find_by_key`, `query` and
/// `count`; [`AuditStore::purge_anchor`] returns the head the store had at the last purged
/// event; every other event reads back field for field; [`AuditTrail::verify`] passes with
/// `purged_through` at the anchor; purging again with the same cutoff purges nothing; a raw
/// `purge` with an anchor above the head or below the current anchor is [`Error::Invalid`]
/// and changes nothing; appends and further purges continue and verify.
///
/// # Errors
/// A [`Failure`] naming the broken property and the event still readable, lost or altered.
pub fn purge<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "purge";
    let h = Harness::new(store);
    let raw = h.raw();
    let log_id = raw.log_id().ctx(C, "log_id()")?;
    // Old: the corpus and two events with idempotency keys, then a cutoff, then new ones.
    record_corpus(C, &h)?;
    for key in ["purge-old-1", "purge-old-2"] {
        h.trail
            .record(
                NewEvent::new("payment.captured")
                    .tenant("clinic-1")
                    .idempotency_key(key)
                    .context("amount", 10),
            )
            .ctx(C, format!("recording idempotency key {key:?}"))?;
    }
    let old_head = raw.head().ctx(C, "head()")?;
    // `purge_before` compares `recorded_at`, which the trail takes from the clock.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(5));
    record_corpus(C, &h)?;
    h.trail
        .record(
            NewEvent::new("payment.captured")
                .tenant("clinic-1")
                .idempotency_key("purge-new-1")
                .context("amount", 11),
        )
        .ctx(C, "recording idempotency key \"purge-new-1\"")?;
    let head = raw.head().ctx(C, "head()")?;
    let before = read_all(C, raw)?;

    let report = match h.trail.purge_before(cutoff) {
        Err(Error::Unsupported { .. }) => {
            // Allowed: a store that keeps everything. Then it must really keep everything.
            ensure!(
                C,
                raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
                "purge is Unsupported, yet the refused purge_before changed the store: the head or the events differ from before it"
            );
            let anchor = raw.purge_anchor().ctx(C, "purge_anchor()")?;
            ensure!(
                C,
                anchor.is_none(),
                "purge is Unsupported, yet purge_anchor() returned an anchor at seq {}",
                anchor.map_or(0, |a| a.seq)
            );
            return Ok(());
        }
        r => r.ctx(
            C,
            "purge_before(cutoff) of the events recorded before the cutoff",
        )?,
    };
    let through = old_head.seq;
    ensure!(
        C,
        report.purged == through && report.from_seq == 1 && report.through_seq == through,
        "purge_before(cutoff) must purge seqs 1..={through} (recorded before the cutoff), it reports {} events {}..={}",
        report.purged,
        report.from_seq,
        report.through_seq
    );
    let all = h.appended();
    let survivors: Vec<SealedEvent> = all.iter().filter(|e| e.seq > through).cloned().collect();

    // The anchor is the head the store had at the last purged event.
    let anchor = raw.purge_anchor().ctx(C, "purge_anchor()")?;
    ensure!(
        C,
        anchor.as_ref() == Some(&old_head),
        "after purging through event {}, purge_anchor() must return the head at seq {through} (its hash and Merkle frontier), got {}",
        describe(&all[through as usize - 1]),
        anchor.map_or("None".into(), |a| format!(
            "seq {} with hash {} and {} frontier hashes",
            a.seq,
            hex::encode(a.hash),
            a.frontier.len()
        ))
    );
    // Purged events are gone everywhere.
    for e in all.iter().filter(|e| e.seq <= through) {
        let got = raw
            .get(e.id)
            .ctx(C, format!("get({}) of a purged event", e.id))?;
        ensure!(
            C,
            got.is_none(),
            "purged event {} is still returned by get({})",
            describe(e),
            e.id
        );
    }
    for key in ["purge-old-1", "purge-old-2"] {
        let got = raw
            .find_by_key(key)
            .ctx(C, format!("find_by_key({key:?}) of a purged event"))?;
        ensure!(
            C,
            got.is_none(),
            "purged event {} is still returned by find_by_key({key:?})",
            got.as_ref().map_or(String::new(), describe)
        );
    }
    let first = raw.read(1, 1).ctx(C, "read(1, 1)")?;
    ensure!(
        C,
        seqs(&first) == [through + 1],
        "after purging through seq {through}, read(1, 1) must return the oldest kept event, seq {}, got seqs {:?}",
        through + 1,
        seqs(&first)
    );
    // Everything else reads back exactly, through every read path and every query.
    reads_agree(C, &h, "after the purge", &survivors, &[])?;

    let v = h.trail.verify().ctx(C, "verify() after the purge")?;
    ensure!(
        C,
        v.is_ok()
            && v.purged_through == through
            && v.checked == survivors.len() as u64
            && v.verified_through == head.seq + 1,
        "verify() after purging through seq {through} must pass from the anchor, checking the {} kept events with purged_through {through}, got: {v}",
        survivors.len()
    );

    // The same cutoff again: nothing left to purge.
    let head_now = raw.head().ctx(C, "head()")?;
    let again = h
        .trail
        .purge_before(cutoff)
        .ctx(C, "purge_before(the same cutoff) again")?;
    ensure!(
        C,
        again.purged == 0 && again.event.is_none(),
        "purge_before(the same cutoff) a second time must purge nothing, it purged {} events {}..={}",
        again.purged,
        again.from_seq,
        again.through_seq
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head_now
            && raw.purge_anchor().ctx(C, "purge_anchor()")?.as_ref() == Some(&old_head),
        "purge_before(the same cutoff) a second time changed the head or the purge anchor"
    );

    // Raw purges the contract refuses: above the head, below the current anchor.
    let kept = read_all(C, raw)?;
    let above = Head::new(
        head_now.seq + 1,
        [7; 32],
        vec![[7; 32]; (head_now.seq + 1).count_ones() as usize],
    );
    let below = head_at(&log_id, &all, through - 1);
    for (what, bad) in [
        (format!("above the head ({})", head_now.seq), above),
        (format!("below the current anchor ({through})"), below),
    ] {
        let r = raw.purge(&bad);
        ensure!(
            C,
            matches!(r, Err(Error::Invalid { .. })),
            "purge(anchor at seq {}, {what}) must return Error::Invalid and remove nothing, got {r:?}",
            bad.seq
        );
        ensure!(
            C,
            raw.head().ctx(C, "head()")? == head_now
                && raw.purge_anchor().ctx(C, "purge_anchor()")?.as_ref() == Some(&old_head)
                && read_all(C, raw)? == kept,
            "a refused purge(anchor at seq {}, {what}) changed the store: the head, the anchor or the events differ from before it",
            bad.seq
        );
    }

    // The log goes on: appends after the purge verify, and a second purge moves the anchor.
    h.trail
        .record_batch(vec![
            NewEvent::new("booking.created")
                .tenant("clinic-1")
                .context("after", "purge"),
            NewEvent::new("booking.confirmed")
                .tenant("clinic-1")
                .context("after", "purge"),
        ])
        .ctx(C, "recording after the purge")?;
    let all = h.appended();
    let survivors: Vec<SealedEvent> = all.iter().filter(|e| e.seq > through).cloned().collect();
    same_events(
        C,
        "read(1, ..) after appending past a purge",
        &survivors.iter().collect::<Vec<_>>(),
        &read_all(C, raw)?,
    )?;
    let v = h
        .trail
        .verify()
        .ctx(C, "verify() after appending past a purge")?;
    ensure!(
        C,
        v.is_ok() && v.purged_through == through,
        "verify() after appending past a purge through seq {through} must pass, got: {v}"
    );
    // Everything but the head event: the purge record links to it.
    let last = raw.head().ctx(C, "head()")?.seq - 1;
    let second = h
        .trail
        .purge_before(time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .ctx(C, "purge_before(now) after a first purge")?;
    ensure!(
        C,
        second.from_seq == through + 1 && second.through_seq == last,
        "a second purge_before(now) must purge seqs {}..={last} (all but the head event, seq {}), it reports {}..={}",
        through + 1,
        last + 1,
        second.from_seq,
        second.through_seq
    );
    let anchor = raw.purge_anchor().ctx(C, "purge_anchor()")?;
    let want_anchor = head_at(&log_id, &h.appended(), last);
    ensure!(
        C,
        anchor.as_ref() == Some(&want_anchor),
        "after a second purge through seq {last}, purge_anchor() must move to the head at seq {last}, got seq {}",
        anchor.map_or(0, |a| a.seq)
    );
    let v = h.trail.verify().ctx(C, "verify() after a second purge")?;
    ensure!(
        C,
        v.is_ok() && v.purged_through == last && v.checked == 2,
        "verify() after a second purge through seq {last} must pass on the two events left (the last one and the purge record), got: {v}"
    );
    Ok(())
}

/// An event about customer `id`, with every kind of personal value: the actor's name and
/// email, the target's label, a personal key in `after` and in `context`.
fn contact_changed(id: &str, name: &str, email: &str, phone: &str) -> NewEvent {
    NewEvent::new("customer.contact_changed")
        .tenant("clinic-1")
        .actor(Actor::customer(id).name(name).email(email))
        .source(Source::Web)
        .target(Target::new("customer", id).label(name))
        .after(json!({"phone": phone, "plan": "gold"}))
        .context("email", email)
        .context("channel", "web")
        .idempotency_key(format!("contact-{id}"))
        .occurred_at(at(140, 0))
}

/// Checks that the personal values of `got` are present or erased exactly as in `want`,
/// naming the first value kept or lost wrongly.
fn personal_values_agree(
    check: &'static str,
    what: &str,
    want: &[SealedEvent],
    got: &[SealedEvent],
) -> CheckResult {
    for w in want {
        let Some(g) = got.iter().find(|g| g.seq == w.seq) else {
            continue;
        };
        for p in &w.personal {
            let kept = g
                .personal
                .iter()
                .find(|q| q.path == p.path)
                .is_some_and(|q| q.value.is_some());
            ensure!(
                check,
                kept == p.value.is_some(),
                "{what}: personal value `{}` of event {} {}",
                p.path,
                describe(w),
                if kept {
                    "is still readable after erase was asked to remove it"
                } else {
                    "was removed although erase was not asked to remove it (another field or another subject)"
                }
            );
        }
    }
    Ok(())
}

/// Erasure: removing one person's personal values.
///
/// Property: a store whose [`AuditStore::erase`] returns [`Error::Unsupported`] passes, as
/// long as the refused [`AuditTrail::erase_subject`] changed nothing. Otherwise, after
/// `erase_subject` of one customer, exactly the personal values the trail asked to erase are
/// gone (value `None`) from `read`, `read_each`, `get`, `find_by_key` and `query`; every other
/// field, and every other person's values, read back exactly; the commitments stay, so
/// [`AuditTrail::verify`] passes and counts the events as `redacted`; `search` no longer finds
/// the erased name while it still finds another person's; erasing again, or erasing fields
/// already erased or of events never stored, is harmless.
///
/// # Errors
/// A [`Failure`] naming the personal value kept or lost and the event.
pub fn erase<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "erase";
    let h = Harness::with_trail(store, |b| b.personal_keys(["phone", "email"]));
    let raw = h.raw();
    record_corpus(C, &h)?;
    h.trail
        .record_batch(vec![
            contact_changed("c-1", "Zoë Martin", "zoe@example.com", "555-0101"),
            contact_changed("c-4", "Walk-in Kim", "kim@example.com", "555-0404"),
        ])
        .ctx(C, "recording events with personal values")?;
    let before = read_all(C, raw)?;
    let head = raw.head().ctx(C, "head()")?;
    let zoe = crate::Subject::customer("c-1");

    let report = match h.trail.erase_subject(&zoe) {
        Err(Error::Unsupported { .. }) => {
            ensure!(
                C,
                raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
                "erase is Unsupported, yet the refused erase_subject changed the store: the head or the events differ from before it"
            );
            return Ok(());
        }
        r => r.ctx(C, "erase_subject(customer c-1)")?,
    };
    let asked = h.erase_requests();
    let zoe_seq = head.seq - 1;
    ensure!(
        C,
        report.values > 0 && asked.contains(&(zoe_seq, PersonalPath::After("phone".into()))),
        "erase_subject(customer c-1) asked the store to erase [{}]; it must include after.phone of event seq {zoe_seq}",
        asked
            .iter()
            .map(|(seq, path)| format!("({seq}, {path})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let want = h.expected_now();
    let got = read_all(C, raw)?;
    personal_values_agree(C, "read(1, ..) after erasing customer c-1", &want, &got)?;
    personal_values_agree(
        C,
        "read_each(1, ..) after erasing customer c-1",
        &want,
        &lent(C, raw, 1, usize::MAX >> 1)?,
    )?;
    let probes = [
        ("search(zoë) (the erased name)", Query::new().search("zoë")),
        (
            "search(martin) (the erased name)",
            Query::new().search("martin"),
        ),
        (
            "search(zoe@example.com)",
            Query::new().search("zoe@example.com"),
        ),
        ("search(555-0101)", Query::new().search("555-0101")),
        ("search(kim) (another person)", Query::new().search("kim")),
        (
            "search(kim@example.com)",
            Query::new().search("kim@example.com"),
        ),
        ("changed(phone)", Query::new().changed("phone")),
        ("actor(c-1)", Query::new().actor("c-1")),
    ];
    for (name, q) in &probes[..4] {
        let n = raw.count(q).ctx(C, format!("count {name}"))?;
        let found = raw.query(q, MAX_LIMIT).ctx(C, format!("query {name}"))?;
        ensure!(
            C,
            n == 0 && found.is_empty(),
            "after erasing customer c-1, {name} must find nothing, it counts {n} and finds {}: the search index must forget erased values",
            found.first().map_or("nothing".into(), describe)
        );
    }
    let kim = raw
        .query(&Query::new().search("kim"), MAX_LIMIT)
        .ctx(C, "query search(kim)")?;
    ensure!(
        C,
        !kim.is_empty(),
        "after erasing customer c-1, search(kim) must still find Walk-in Kim's events, it finds nothing"
    );
    reads_agree(C, &h, "after erasing customer c-1", &want, &probes)?;

    let erased_events = {
        let mut s: Vec<u64> = asked.iter().map(|(s, _)| *s).collect();
        s.sort_unstable();
        s.dedup();
        s.len() as u64
    };
    let v = h.trail.verify().ctx(C, "verify() after erasure")?;
    ensure!(
        C,
        v.is_ok() && v.redacted == erased_events,
        "verify() after erasing customer c-1 must pass (the commitments stay) and count the {erased_events} events with erased values as redacted, got: {v}"
    );

    // Again: through the trail, and the same fields through the store, plus fields of events
    // never stored. Nothing changes but the second erasure record.
    h.trail
        .erase_subject(&zoe)
        .ctx(C, "erase_subject(customer c-1) a second time")?;
    let head_now = raw.head().ctx(C, "head()")?;
    let mut again = asked.clone();
    again.push((head_now.seq + 100, PersonalPath::ActorName));
    raw.erase(&again)
        .ctx(C, "erase(fields already erased and of events never stored)")?;
    let want = h.expected_now();
    let got = read_all(C, raw)?;
    personal_values_agree(C, "read(1, ..) after erasing again", &want, &got)?;
    same_events(
        C,
        "read(1, ..) after erasing again",
        &want.iter().collect::<Vec<_>>(),
        &got,
    )?;
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head_now,
        "erase moved the head: it may only remove personal values"
    );
    let v = h.trail.verify().ctx(C, "verify() after erasing again")?;
    ensure!(
        C,
        v.is_ok() && v.redacted == erased_events,
        "verify() after erasing customer c-1 again must pass with {erased_events} redacted events, got: {v}"
    );
    Ok(())
}
