//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (cargo fuzz, nightly)
//! and `tests/fuzz_targets.rs` (stable, over the kept corpus and proptest inputs).
//!
//! Each takes arbitrary bytes. Bad input must come back as an `auditkit::Error`; a panic, an
//! abort or a failed assertion here is a bug in auditkit.

use std::str::FromStr;

use auditkit::sqlite::{SqliteOptions, SqliteStore};
use auditkit::vocab::BookingCreated;
use auditkit::{
    AuditStore, AuditTrail, Checkpoint, Cursor, Event, GroupBy, Head, MemoryStore, NewEvent, Query,
    SealedEvent,
};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Cursor text: parses or is `Malformed`; what parses prints back to the same text's value.
pub fn cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Cursor::from_str(text) {
        Ok(c) => {
            let again: Cursor = c.to_string().parse().expect("a printed cursor parses");
            assert_eq!(again, c, "cursor round trip of {text:?}");
            // A parsed cursor is usable in a query.
            let trail = AuditTrail::new(MemoryStore::new());
            trail
                .query(&Query::new().after(c))
                .expect("a query after any valid cursor runs");
        }
        Err(e) => assert!(
            matches!(e, auditkit::Error::Malformed { what: "cursor", .. }),
            "{e}"
        ),
    }
}

/// Checkpoint notes: parse or `Malformed`; parse → print → parse is stable.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Checkpoint::from_str(text) {
        Ok(cp) => {
            let printed = cp.to_string();
            let again: Checkpoint = printed.parse().expect("a printed checkpoint parses");
            assert_eq!(again, cp, "checkpoint round trip of {text:?}");
            assert_eq!(again.to_string(), printed);
            // A foreign checkpoint is refused, never a panic.
            let trail = AuditTrail::new(MemoryStore::new());
            let _ = trail.verify_against(&cp);
        }
        Err(e) => assert!(
            matches!(e, auditkit::Error::Malformed { .. }),
            "checkpoint errors are Malformed: {e}"
        ),
    }
}

/// A sealed event as a store might hand it back (JSON): decoding, indexing, hashing and
/// verifying it never panic, in memory and in SQLite.
pub fn sealed_decode(data: &[u8]) {
    let Ok(mut sealed) = serde_json::from_slice::<SealedEvent>(data) else {
        return;
    };
    if let Ok(event) = sealed.decode() {
        let json = serde_json::to_string(&event).expect("an Event serializes");
        let _: Event = serde_json::from_str(&json).expect("a serialized Event parses");
    }
    let _ = sealed.involved();
    let _ = sealed.change_paths();
    let _ = sealed.search_text();
    let _ = auditkit::integrity::verify::seal_hashes("fuzz-log", &sealed);
    sealed.seq = 1;
    let head = Head::new(1, sealed.hash, vec![sealed.hash]);
    let memory = MemoryStore::new();
    let sqlite = SqliteStore::open_in_memory().expect("in-memory SQLite");
    // Either store may refuse the event (the SQLite one indexes its JSON); both must answer.
    let _ = memory.append(0, std::slice::from_ref(&sealed), &head);
    let _ = sqlite.append(0, std::slice::from_ref(&sealed), &head);
    // An event that was not sealed by this log cannot verify; what matters is an answer.
    let reports = [
        AuditTrail::new(memory).verify(),
        AuditTrail::new(sqlite).verify(),
    ];
    for r in reports.into_iter().flatten() {
        assert!(r.checked <= 1, "one event stored, {} checked", r.checked);
    }
}

/// Event JSON (as exports and APIs carry it): parses or not; what parses can be recorded
/// again, or is refused as `Invalid` with nothing stored.
pub fn event_json(data: &[u8]) {
    let Ok(e) = serde_json::from_slice::<Event>(data) else {
        return;
    };
    let _ = serde_json::to_string(&e).expect("an Event serializes");
    let _ = e.describe_fallback();
    let mut n = NewEvent::new(e.action.clone())
        .actor(e.actor.clone())
        .source(e.source.clone())
        .outcome(e.outcome.clone())
        .occurred_at(e.occurred_at);
    if let Some(t) = &e.tenant {
        n = n.tenant(t.clone());
    }
    if let Some(r) = &e.request {
        n = n.request(r.clone());
    }
    if let Some(t) = &e.target {
        n = n.target(t.clone());
    }
    for r in &e.related {
        n = n.related(r.clone());
    }
    if let Some(b) = &e.before {
        n = n.before(b);
    }
    if let Some(a) = &e.after {
        n = n.after(a);
    }
    for (k, v) in &e.context {
        n = n.context(k.clone(), v);
    }
    if let Some(k) = &e.idempotency_key {
        n = n.idempotency_key(k.clone());
    }
    let trail = AuditTrail::new(MemoryStore::new());
    match trail.record(n) {
        Ok(recorded) => {
            let back = trail
                .get(recorded.id)
                .expect("get")
                .expect("recorded is stored");
            assert_eq!(back, recorded, "read back equals what record returned");
            assert!(trail.verify().expect("verify").is_ok());
        }
        Err(err) => {
            assert!(err.is_invalid(), "bad input is Invalid, got {err}");
            assert_eq!(
                trail.count(&Query::new()).expect("count"),
                0,
                "nothing stored"
            );
        }
    }
}

/// Arbitrary bytes as a database file: opening, reading, verifying and recording answer with
/// `Ok` or an `Error`, never a panic.
pub fn open_database(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fuzz.db");
    std::fs::write(&path, data).expect("write");
    for options in [
        SqliteOptions::default().read_only(true),
        SqliteOptions::default(),
    ] {
        let writable = !options.read_only;
        let Ok(store) = SqliteStore::open_with(&path, options) else {
            continue;
        };
        let _ = store.head();
        let _ = store.read(1, 10);
        let trail = AuditTrail::new(store);
        let _ = trail.query(&Query::new().search("haircut"));
        let _ = trail.count(&Query::new().tenant("clinic-42"));
        let _ = trail.verify();
        let _ = trail.checkpoint();
        if writable {
            let _ = trail.record(NewEvent::new("fuzz.opened"));
        }
    }
}

/// 9999-12-31T23:59:59.999999Z in microseconds since the epoch: the last storable time.
const MAX_MICROS: i128 = 253_402_300_799_999_999;

/// Zones the `times` body describes and summarizes in, picked by a byte.
const ZONES: &[&str] = &[
    "UTC",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "Europe/Berlin",
    "America/St_Johns",
];

/// One `OffsetDateTime` from 16 bytes (missing bytes are zero): a Julian day (`i32` LE, folded
/// into `Date::MIN..=Date::MAX`), nanoseconds into the day (`u64` LE, modulo a day) and an
/// offset in seconds (`i32` LE, folded into ±23:59:59). Any date, time and offset `time`
/// can hold comes out of some input, the ends of its range included.
fn datetime_from(bytes: &mut impl Iterator<Item = u8>) -> OffsetDateTime {
    let mut take = |n: usize| -> [u8; 8] {
        let mut b = [0; 8];
        for slot in b.iter_mut().take(n) {
            *slot = bytes.next().unwrap_or(0);
        }
        b
    };
    let jd = {
        let b = take(4);
        i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (lo, hi) = (
        i64::from(Date::MIN.to_julian_day()),
        i64::from(Date::MAX.to_julian_day()),
    );
    let jd = if (lo..=hi).contains(&jd) {
        jd
    } else {
        lo + jd.rem_euclid(hi - lo + 1)
    };
    let date = Date::from_julian_day(jd as i32).expect("folded into range");
    let ns = u64::from_le_bytes(take(8)) % 86_400_000_000_000;
    let s = ns / 1_000_000_000;
    let time = Time::from_hms_nano(
        (s / 3_600) as u8,
        (s / 60 % 60) as u8,
        (s % 60) as u8,
        (ns % 1_000_000_000) as u32,
    )
    .expect("within a day");
    let offset = {
        let b = take(4);
        let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if (-86_399..=86_399).contains(&v) {
            v
        } else {
            v.rem_euclid(2 * 86_399 + 1) - 86_399
        }
    };
    let offset = UtcOffset::from_whole_seconds(offset).expect("within ±23:59:59");
    PrimitiveDateTime::new(date, time).assume_offset(offset)
}

/// Microseconds since the epoch, rounded down (exact for any `OffsetDateTime`).
fn micros_of(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos().div_euclid(1_000)
}

fn storable(t: OffsetDateTime) -> bool {
    (0..=MAX_MICROS).contains(&micros_of(t))
}

/// Bad input of a time: `Invalid`, naming `field` and the supported range.
fn assert_time_refused(err: &auditkit::Error, field: &str, t: OffsetDateTime) {
    assert!(err.is_invalid(), "{t}: expected Invalid, got {err}");
    let text = err.to_string();
    assert!(text.contains(field), "{t}: the error names {field}: {text}");
    assert!(
        text.contains("1970") && text.contains("9999"),
        "{t}: the error names the range: {text}"
    );
}

/// Two times and a zone from the bytes (see `datetime_from`), through every entry point that
/// takes a time, on both bundled stores: recording (`occurred_at`, a batch, a vocabulary
/// payload's times), query bounds (`query`, `count`, `for_each`, `summarize`), `describe_in`'s
/// `now`, and purge cutoffs. Recorded times outside 1970-01-01 … 9999-12-31 UTC are `Invalid`
/// and store nothing; query and purge bounds are clamped; nothing panics.
pub fn times(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let a = datetime_from(&mut bytes);
    let b = datetime_from(&mut bytes);
    let zone = ZONES[usize::from(bytes.next().unwrap_or(0)) % ZONES.len()];
    let stores: [Box<dyn AuditStore>; 2] = [
        Box::new(MemoryStore::new()),
        Box::new(SqliteStore::open_in_memory().expect("in-memory SQLite")),
    ];
    for store in stores {
        let trail = AuditTrail::new(store);
        // Both ends of the storable range, so a bound clamped one microsecond off shows.
        for m in [0, 1_767_225_600_000_000, MAX_MICROS] {
            let t = OffsetDateTime::from_unix_timestamp_nanos(m * 1_000).expect("storable");
            trail
                .record(NewEvent::new("booking.created").occurred_at(t))
                .expect("a storable time is recorded");
        }

        match trail.record(NewEvent::new("booking.created").occurred_at(a)) {
            Ok(e) => {
                assert!(storable(a), "{a} is out of range but was recorded");
                assert_eq!(e.occurred_at.offset(), UtcOffset::UTC, "{a}");
                assert_eq!(
                    e.occurred_at.unix_timestamp_nanos(),
                    micros_of(a) * 1_000,
                    "{a}: UTC, truncated to the microsecond"
                );
            }
            Err(err) => {
                assert!(!storable(a), "{a} is in range: {err}");
                assert_time_refused(&err, "occurred_at", a);
            }
        }
        let before = trail.count(&Query::new()).expect("count");
        match trail.record_batch(vec![
            NewEvent::new("booking.modified"),
            NewEvent::new("booking.modified").occurred_at(b),
        ]) {
            Ok(_) => assert!(storable(b), "{b} is out of range but was recorded"),
            Err(err) => {
                assert!(!storable(b), "{b} is in range: {err}");
                assert_time_refused(&err, "occurred_at", b);
                assert_eq!(trail.count(&Query::new()).expect("count"), before);
            }
        }
        let payload = BookingCreated {
            start: a,
            end: Some(b),
            service: None,
            host: None,
        };
        match trail.record(NewEvent::typed(&payload)) {
            Ok(e) => {
                assert!(
                    storable(a) && storable(b),
                    "{a} / {b}: out of range but recorded"
                );
                let back: BookingCreated = e.payload().expect("payload reads back");
                assert_eq!(micros_of(back.start), micros_of(a), "{a}");
                assert_eq!(micros_of(back.end.expect("end")), micros_of(b), "{b}");
            }
            Err(err) => {
                assert!(
                    !(storable(a) && storable(b)),
                    "{a} / {b} are in range: {err}"
                );
                assert!(err.is_invalid(), "{err}");
            }
        }

        // Query bounds clamp: compare with the stored times filtered here.
        let all = trail
            .query(&Query::new().limit(1000))
            .expect("query everything")
            .events;
        let clamp = |t: OffsetDateTime| micros_of(t).clamp(0, MAX_MICROS + 1);
        let expect = |from: Option<i128>, to: Option<i128>| {
            all.iter()
                .filter(|e| {
                    let m = micros_of(e.occurred_at);
                    !matches!(from, Some(f) if m < f) && !matches!(to, Some(u) if m >= u)
                })
                .count() as u64
        };
        for (q, want) in [
            (Query::new().since(a), expect(Some(clamp(a)), None)),
            (Query::new().until(b), expect(None, Some(clamp(b)))),
            (
                Query::new().between(a, b),
                expect(Some(clamp(a)), Some(clamp(b))),
            ),
        ] {
            let page = trail.query(&q.clone().limit(1000)).expect("query");
            assert_eq!(page.events.len() as u64, want, "{q:?}");
            assert_eq!(trail.count(&q).expect("count"), want, "{q:?}");
            let mut n = 0;
            trail
                .for_each(&q, |_| {
                    n += 1;
                    Ok(())
                })
                .expect("for_each");
            assert_eq!(n, want, "{q:?}");
            for by in [GroupBy::Action, GroupBy::day_in(zone)] {
                let groups = trail.summarize(&q, &by).expect("summarize");
                assert_eq!(
                    groups.iter().map(|(_, n)| n).sum::<u64>(),
                    want,
                    "{q:?} {by:?}"
                );
            }
        }

        for e in &all {
            let _ = e.describe();
            e.describe_in(zone, a).expect("describe_in with any now");
            e.describe_in(zone, b).expect("describe_in with any now");
        }

        trail
            .purge_before_to(a, Vec::new())
            .expect("purge_before_to with any cutoff");
        trail.purge_before(b).expect("purge_before with any cutoff");
        assert!(trail.verify().expect("verify").is_ok());
    }
}

/// What `Event` can say about itself without the vocabulary: used only to exercise the
/// accessors on parsed input.
trait DescribeFallback {
    fn describe_fallback(&self) -> String;
}

impl DescribeFallback for Event {
    fn describe_fallback(&self) -> String {
        format!(
            "{} {} {} {:?}",
            self.actor.display_name(),
            self.action,
            self.hash_hex(),
            self.context_value("reason")
        )
    }
}
