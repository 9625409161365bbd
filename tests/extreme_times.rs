//! Times at both ends of `OffsetDateTime`'s range, at every UTC offset (issue 13): every public
//! function that takes a time answers with `Ok` or an `Error`, never a panic.
//!
//! The rule (README, "Times"): a time recorded on an event (`NewEvent::occurred_at`, the
//! `OffsetDateTime` fields of the vocabulary's payloads) outside 1970-01-01T00:00:00Z …
//! 9999-12-31T23:59:59.999999Z is `Error::Invalid` naming the field and the range; a query or
//! purge bound outside it is clamped to it, so `between(min, max)` means all time.
//!
//! `time` 0.3 has no `OffsetDateTime::MIN`/`MAX`: the extremes are built as
//! `PrimitiveDateTime::new(date, time).assume_offset(offset)`, which never panics, from any
//! date in `Date::MIN..=Date::MAX`, any time of day and any offset in ±23:59:59.
#![cfg(feature = "sqlite")]

use std::collections::{BTreeMap, BTreeSet};

use auditkit::sqlite::SqliteStore;
use auditkit::vocab::{BookingCreated, BookingRescheduled, BookingSeatRescheduled, EventCreated};
use auditkit::{
    AuditStore, AuditTrail, Error, Event, GroupBy, MemoryStore, NewEvent, Query, Target,
};
use proptest::prelude::*;
use time::macros::{date, datetime, offset, time};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// 9999-12-31T23:59:59.999999Z in microseconds since the epoch: the last storable time.
const MAX_MICROS: i128 = 253_402_300_799_999_999;

type Trail = AuditTrail<Box<dyn AuditStore>>;

fn both() -> Vec<(&'static str, Trail)> {
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

/// Microseconds since the epoch, rounded down; exact for any `OffsetDateTime` (no conversion
/// to UTC, which is what panics at the ends of the range).
fn micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos().div_euclid(1_000)
}

fn in_range(t: OffsetDateTime) -> bool {
    (0..=MAX_MICROS).contains(&micros(t))
}

/// A query bound as the store applies it: clamped to the storable range, an upper bound at
/// most one past the last storable microsecond.
fn bound(t: OffsetDateTime) -> i128 {
    micros(t).clamp(0, MAX_MICROS + 1)
}

fn at_micros(m: i128) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(m * 1_000).unwrap()
}

/// The bound `t` clamps to, as a time; `None` when that is one past the last storable
/// microsecond, which no `OffsetDateTime` of `time` (without `large-dates`) can express.
fn clamped(t: OffsetDateTime) -> Option<OffsetDateTime> {
    let b = bound(t);
    (b <= MAX_MICROS).then(|| at_micros(b))
}

/// The smallest and the largest instants `OffsetDateTime` can hold.
fn smallest() -> OffsetDateTime {
    PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT).assume_offset(offset!(+23:59:59))
}

fn largest() -> OffsetDateTime {
    PrimitiveDateTime::new(Date::MAX, Time::MAX).assume_offset(offset!(-23:59:59))
}

/// The events every case starts with: both ends of the storable range and a few between, so
/// a bound clamped one microsecond off shows.
const FIXED: &[(&str, i128)] = &[
    ("booking.created", 0),
    ("booking.created", 1),
    ("booking.cancelled", 946_684_800_000_000), // 2000-01-01
    ("booking.created", 1_767_225_600_000_000), // 2026-01-01
    ("booking.cancelled", MAX_MICROS - 1),
    ("booking.completed", MAX_MICROS),
];

fn record_fixed(trail: &Trail) -> Vec<Event> {
    FIXED
        .iter()
        .enumerate()
        .map(|(i, &(action, m))| {
            trail
                .record(
                    NewEvent::new(action)
                        .tenant("clinic-42")
                        .target(Target::new("booking", format!("b-{i}")))
                        .occurred_at(at_micros(m)),
                )
                .unwrap()
        })
        .collect()
}

/// The seqs of `events` that occurred in `[from, to)` (microseconds, as clamped).
fn expected(events: &[Event], from: Option<i128>, to: Option<i128>) -> BTreeSet<u64> {
    events
        .iter()
        .filter(|e| {
            let m = micros(e.occurred_at);
            !matches!(from, Some(f) if m < f) && !matches!(to, Some(u) if m >= u)
        })
        .map(|e| e.seq)
        .collect()
}

/// Zones for descriptions: the largest offsets either way, and one with daylight-saving time.
const ZONES: &[&str] = &["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12"];

/// Zones for per-day summaries in the property (fixed offsets: a summary by day over all
/// time in a zone with daylight-saving time walks some 16,000 transitions, which the fixed
/// cases do once).
const DAY_ZONES: &[&str] = &["Pacific/Kiritimati", "Etc/GMT+12"];

/// One store with the [`FIXED`] events, and the zones its per-day summaries are checked in.
struct Case<'a> {
    name: &'a str,
    trail: &'a Trail,
    events: &'a [Event],
    zones: &'a [&'a str],
}

/// Runs `q` through every reading entry point and checks each against `want` (the seqs the
/// clamped bounds select); `same` is an equivalent query with in-range bounds, whose
/// summaries must be the same.
fn check_query(c: &Case<'_>, what: &str, q: Query, want: &BTreeSet<u64>, same: Option<Query>) {
    let Case {
        name,
        trail,
        events,
        zones,
    } = *c;
    let page = trail
        .query(&q.clone().limit(1000))
        .unwrap_or_else(|e| panic!("{name}: query {what}: {e}"));
    let got: BTreeSet<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(&got, want, "{name}: query {what}");
    assert_eq!(
        trail
            .count(&q)
            .unwrap_or_else(|e| panic!("{name}: count {what}: {e}")),
        want.len() as u64,
        "{name}: count {what}"
    );
    let mut seen = BTreeSet::new();
    trail
        .for_each(&q, |e| {
            seen.insert(e.seq);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: for_each {what}: {e}"));
    assert_eq!(&seen, want, "{name}: for_each {what}");

    let by_action: BTreeMap<String, u64> = trail
        .summarize(&q, &GroupBy::Action)
        .unwrap_or_else(|e| panic!("{name}: summarize {what}: {e}"))
        .into_iter()
        .collect();
    let mut want_actions = BTreeMap::new();
    for e in events.iter().filter(|e| want.contains(&e.seq)) {
        *want_actions.entry(e.action.clone()).or_insert(0u64) += 1;
    }
    assert_eq!(
        by_action, want_actions,
        "{name}: summarize by action, {what}"
    );

    for zone in zones {
        let by = GroupBy::day_in(*zone);
        let days = trail
            .summarize(&q, &by)
            .unwrap_or_else(|e| panic!("{name}: summarize by day in {zone}, {what}: {e}"));
        let total: u64 = days.iter().map(|(_, n)| n).sum();
        assert_eq!(
            total,
            want.len() as u64,
            "{name}: days in {zone}, {what}: {days:?}"
        );
        if let Some(same) = &same {
            let again = trail.summarize(same, &by).unwrap();
            assert_eq!(
                days, again,
                "{name}: days in {zone}, {what}, against the clamped bounds"
            );
        }
    }
}

/// Every reading entry point with bounds `a` and `b`, against the in-memory expectation.
fn check_bounds(name: &str, trail: &Trail, events: &[Event], a: OffsetDateTime, b: OffsetDateTime) {
    let c = &Case {
        name,
        trail,
        events,
        zones: DAY_ZONES,
    };
    let (ba, bb) = (bound(a), bound(b));
    // since(a): at or after the clamped bound; one past the last microsecond selects nothing.
    let same = match clamped(a) {
        Some(t) => Query::new().since(t),
        None => Query::new()
            .since(at_micros(MAX_MICROS))
            .until(at_micros(MAX_MICROS)),
    };
    check_query(
        c,
        &format!("since({a})"),
        Query::new().since(a),
        &expected(events, Some(ba), None),
        Some(same),
    );
    // until(a): before the clamped bound; one past the last microsecond excludes nothing.
    let same = match clamped(a) {
        Some(t) => Query::new().until(t),
        None => Query::new(),
    };
    check_query(
        c,
        &format!("until({a})"),
        Query::new().until(a),
        &expected(events, None, Some(ba)),
        Some(same),
    );
    let same = match (clamped(a), clamped(b)) {
        (Some(x), Some(y)) => Some(Query::new().between(x, y)),
        (Some(x), None) => Some(Query::new().since(x)),
        _ => None,
    };
    check_query(
        c,
        &format!("between({a}, {b})"),
        Query::new().between(a, b),
        &expected(events, Some(ba), Some(bb)),
        same,
    );
    // Combined with other filters, and reversed, the bounds still clamp.
    check_query(
        c,
        &format!("booking.created between({b}, {a}) reversed"),
        Query::new()
            .action("booking.created")
            .between(b, a)
            .tenant("clinic-42"),
        &{
            let mut w = expected(events, Some(bb), Some(ba));
            w.retain(|s| {
                events
                    .iter()
                    .any(|e| e.seq == *s && e.action == "booking.created")
            });
            w
        },
        None,
    );
}

/// Records `t` as `occurred_at`, alone and in a batch, and checks the rule.
fn check_recording(name: &str, trail: &Trail, t: OffsetDateTime) {
    let before = trail.count(&Query::new()).unwrap();
    let result = trail.record(NewEvent::new("booking.created").occurred_at(t));
    if in_range(t) {
        let e = result.unwrap_or_else(|e| panic!("{name}: {t} is in range, record: {e}"));
        assert_eq!(e.occurred_at.offset(), UtcOffset::UTC, "{name}: {t}");
        assert_eq!(
            e.occurred_at.unix_timestamp_nanos(),
            micros(t) * 1_000,
            "{name}: {t} is stored in UTC truncated to the microsecond"
        );
        let back = trail.get(e.id).unwrap().expect("stored");
        assert_eq!(
            back.occurred_at.unix_timestamp_nanos(),
            micros(t) * 1_000,
            "{name}: {t} read back"
        );
    } else {
        let err = result.expect_err(&format!("{name}: {t} is out of range"));
        assert_invalid_time(&err, "occurred_at", &format!("{name}: {t}"));
    }
    let after_one = before + u64::from(in_range(t));
    assert_eq!(
        trail.count(&Query::new()).unwrap(),
        after_one,
        "{name}: {t}"
    );

    let batch = trail.record_batch(vec![
        NewEvent::new("booking.created"),
        NewEvent::new("booking.modified").occurred_at(t),
    ]);
    if in_range(t) {
        let events = batch.unwrap_or_else(|e| panic!("{name}: batch with {t}: {e}"));
        assert_eq!(
            events[1].occurred_at.unix_timestamp_nanos(),
            micros(t) * 1_000,
            "{name}: {t}"
        );
        assert_eq!(
            trail.count(&Query::new()).unwrap(),
            after_one + 2,
            "{name}: {t}"
        );
    } else {
        let err = batch.expect_err(&format!("{name}: a batch with {t} is refused"));
        assert_invalid_time(
            &err,
            "events[1].occurred_at",
            &format!("{name}: batch with {t}"),
        );
        assert_eq!(
            trail.count(&Query::new()).unwrap(),
            after_one,
            "{name}: nothing of the batch is stored"
        );
    }
    assert!(trail.verify().unwrap().is_ok(), "{name}: {t}");
}

/// `err` is `Error::Invalid` for `field`, and its message names the supported range.
fn assert_invalid_time(err: &Error, field: &str, what: &str) {
    match err {
        Error::Invalid { field: f, .. } => assert!(
            f.contains(field),
            "{what}: field {f:?}, expected {field:?}: {err}"
        ),
        other => panic!("{what}: expected Error::Invalid naming {field}, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(field),
        "{what}: the message names the field: {text}"
    );
    assert!(
        text.contains("1970") && text.contains("9999"),
        "{what}: the message names the range: {text}"
    );
}

/// Purges with cutoff `t` (clamped: recorded_at is now, so a cutoff in the past purges
/// nothing and one in the future everything but the head's event), through both entry points.
fn check_purge(name: &str, trail: &Trail, t: OffsetDateTime) {
    let all = trail.count(&Query::new()).unwrap();
    let page = trail.query(&Query::new().limit(1000)).unwrap().events;
    let first = page.iter().map(|e| micros(e.recorded_at)).min().unwrap();
    let last = page.iter().map(|e| micros(e.recorded_at)).max().unwrap();
    let cut = micros(t).clamp(0, MAX_MICROS);
    let mut archive = Vec::new();
    let report = trail
        .purge_before_to(t, &mut archive)
        .unwrap_or_else(|e| panic!("{name}: purge_before_to({t}): {e}"));
    if cut <= first {
        assert_eq!(report.purged, 0, "{name}: purge_before_to({t}) purged");
        assert_eq!(trail.count(&Query::new()).unwrap(), all, "{name}: {t}");
    } else if cut > last {
        assert_eq!(
            report.purged,
            all - 1,
            "{name}: purge_before_to({t}) keeps only the head's event"
        );
        assert_eq!(
            trail.count(&Query::new()).unwrap(),
            2,
            "{name}: the head's event and the purge record"
        );
        assert!(
            !archive.is_empty(),
            "{name}: the archive holds the purged events"
        );
    }
    assert!(
        trail.verify().unwrap().is_ok(),
        "{name}: after purge_before_to({t})"
    );
    trail
        .purge_before(t)
        .unwrap_or_else(|e| panic!("{name}: purge_before({t}): {e}"));
    assert!(
        trail.verify().unwrap().is_ok(),
        "{name}: after purge_before({t})"
    );
}

fn check_describe(name: &str, events: &[Event], now: OffsetDateTime) {
    for e in events {
        let _ = e.describe();
        for zone in ZONES {
            e.describe_in(zone, now).unwrap_or_else(|err| {
                panic!("{name}: describe_in({zone}, {now}) of seq {}: {err}", e.seq)
            });
        }
    }
}

/// A payload of the vocabulary with time fields, the times it carries, and how to read them
/// back from the recorded event.
type TimedPayload = (
    NewEvent,
    Vec<OffsetDateTime>,
    fn(&Event) -> Vec<OffsetDateTime>,
);

/// Records every payload of the vocabulary that has time fields, with `a` and `b` in them: in
/// range they are recorded (RFC 3339 in UTC, so any offset fits) and read back as the same
/// instant (to the microsecond at least); outside it recording is `Error::Invalid` naming
/// the range, with nothing stored.
fn check_vocabulary(
    name: &str,
    trail: &Trail,
    a: OffsetDateTime,
    b: OffsetDateTime,
    now: OffsetDateTime,
) {
    let payloads: Vec<TimedPayload> = vec![
        (
            NewEvent::typed(&BookingCreated {
                start: a,
                end: Some(b),
                service: None,
                host: None,
            }),
            vec![a, b],
            |e| {
                let p: BookingCreated = e.payload().unwrap();
                vec![p.start, p.end.unwrap()]
            },
        ),
        (
            NewEvent::typed(&BookingRescheduled {
                from: a,
                to: b,
                reason: None,
                new_booking_id: None,
            }),
            vec![a, b],
            |e| {
                let p: BookingRescheduled = e.payload().unwrap();
                vec![p.from, p.to]
            },
        ),
        (
            NewEvent::typed(&BookingSeatRescheduled {
                from: b,
                to: a,
                attendee: None,
            }),
            vec![b, a],
            |e| {
                let p: BookingSeatRescheduled = e.payload().unwrap();
                vec![p.from, p.to]
            },
        ),
        (
            NewEvent::typed(&EventCreated {
                start: Some(a),
                capacity: Some(12),
            }),
            vec![a],
            |e| {
                let p: EventCreated = e.payload().unwrap();
                vec![p.start.unwrap()]
            },
        ),
    ];
    for (event, times, read_back) in payloads {
        let storable = times.iter().all(|t| in_range(*t));
        let what = format!("{name}: {} with {times:?}", event.action_name());
        let before = trail.count(&Query::new()).unwrap();
        match trail.record(event.target(Target::new("booking", "b-1").label("Haircut"))) {
            Ok(e) => {
                assert!(storable, "{what}: out of range, but recorded");
                for (back, t) in read_back(&e).into_iter().zip(&times) {
                    let n = back.unix_timestamp_nanos();
                    assert!(
                        n == t.unix_timestamp_nanos() || n == micros(*t) * 1_000,
                        "{what}: {t} read back as {back}"
                    );
                }
                let _ = e.describe();
                for zone in ZONES {
                    e.describe_in(zone, now)
                        .unwrap_or_else(|err| panic!("{what}: describe_in({zone}, {now}): {err}"));
                }
            }
            Err(err) => {
                assert!(!storable, "{what}: in range, recording failed: {err}");
                assert!(
                    err.is_invalid(),
                    "{what}: expected Error::Invalid, got {err}"
                );
                let text = err.to_string();
                assert!(
                    text.contains("1970") && text.contains("9999"),
                    "{what}: the message names the range: {text}"
                );
                assert_eq!(
                    trail.count(&Query::new()).unwrap(),
                    before,
                    "{what}: nothing stored"
                );
            }
        }
    }
    assert!(trail.verify().unwrap().is_ok(), "{name}");
}

// ---- strategies ----

fn any_date() -> impl Strategy<Value = Date> {
    let (lo, hi) = (Date::MIN.to_julian_day(), Date::MAX.to_julian_day());
    let (epoch, end) = (
        date!(1970 - 01 - 01).to_julian_day(),
        date!(9999 - 12 - 31).to_julian_day(),
    );
    prop_oneof![
        3 => prop_oneof![
            Just(Date::MIN),
            Just(Date::MAX),
            Just(date!(1969 - 12 - 31)),
            Just(date!(1970 - 01 - 01)),
            Just(date!(1970 - 01 - 02)),
            Just(date!(9999 - 12 - 30)),
            Just(date!(9999 - 12 - 31)),
        ],
        2 => (lo..=hi).prop_map(|j| Date::from_julian_day(j).unwrap()),
        1 => (epoch - 2..=end).prop_map(|j| Date::from_julian_day(j).unwrap()),
    ]
}

fn any_time() -> impl Strategy<Value = Time> {
    prop_oneof![
        2 => prop_oneof![
            Just(Time::MIDNIGHT),
            Just(Time::MAX),
            Just(time!(0:00:00.000_000_001)),
            Just(time!(0:00:00.000_001)),
            Just(time!(12:00)),
            Just(time!(23:00)),
            Just(time!(23:59:59.999_999)),
        ],
        1 => (0u64..86_400_000_000_000).prop_map(|ns| {
            let s = ns / 1_000_000_000;
            Time::from_hms_nano((s / 3600) as u8, (s / 60 % 60) as u8, (s % 60) as u8, (ns % 1_000_000_000) as u32)
                .unwrap()
        }),
    ]
}

fn any_offset() -> impl Strategy<Value = UtcOffset> {
    prop_oneof![
        2 => prop_oneof![
            Just(offset!(-23:59:59)),
            Just(offset!(+23:59:59)),
            Just(offset!(-23:59)),
            Just(offset!(+23:59)),
            Just(offset!(-12:00)),
            Just(offset!(+12:00)),
            Just(UtcOffset::UTC),
            Just(offset!(+00:00:01)),
            Just(offset!(-00:00:01)),
        ],
        1 => (-86_399i32..=86_399).prop_map(|s| UtcOffset::from_whole_seconds(s).unwrap()),
    ]
}

fn any_datetime() -> impl Strategy<Value = OffsetDateTime> {
    (any_date(), any_time(), any_offset())
        .prop_map(|(d, t, o)| PrimitiveDateTime::new(d, t).assume_offset(o))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every entry point that takes a time, on both stores, with times across the whole range.
    #[test]
    fn every_time_is_ok_or_an_error(a in any_datetime(), b in any_datetime(), now in any_datetime()) {
        for (name, trail) in both() {
            let events = record_fixed(&trail);
            check_bounds(name, &trail, &events, a, b);
            check_describe(name, &events, now);
            check_recording(name, &trail, a);
            check_purge(name, &trail, b);
        }
    }

    /// The vocabulary's time fields follow the rule of `occurred_at`.
    #[test]
    fn vocabulary_times_follow_the_same_rule(a in any_datetime(), b in any_datetime(), now in any_datetime()) {
        for (name, trail) in both() {
            check_vocabulary(name, &trail, a, b, now);
        }
    }
}

// ---- the examples of issue 13 ----

#[test]
fn the_last_hour_of_9999_at_minus_twelve_is_invalid() {
    for (name, trail) in both() {
        for t in [
            datetime!(9999-12-31 23:00 -12:00),
            PrimitiveDateTime::new(Date::MAX, Time::MAX).assume_offset(offset!(-23:59)),
            PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT).assume_offset(offset!(+23:59)),
            largest(),
            smallest(),
            datetime!(1970-01-01 00:00 +00:00:01),
        ] {
            let err = trail
                .record(NewEvent::new("booking.created").occurred_at(t))
                .expect_err(&format!("{name}: {t}"));
            assert_invalid_time(&err, "occurred_at", &format!("{name}: {t}"));
        }
        assert_eq!(trail.count(&Query::new()).unwrap(), 0, "{name}");
        // The ends of the range themselves, from any offset.
        for (t, stored) in [
            (
                datetime!(1970-01-01 00:00 -00:00:01),
                datetime!(1970-01-01 00:00:01 UTC),
            ),
            (
                datetime!(1970-01-01 23:59 +23:59),
                datetime!(1970-01-01 00:00 UTC),
            ),
            (
                datetime!(9999-12-31 23:59:59.999_999_999 UTC),
                datetime!(9999-12-31 23:59:59.999_999 UTC),
            ),
            (
                datetime!(9999-12-31 00:00:59.999_999_999 -23:59),
                datetime!(9999-12-31 23:59:59.999_999 UTC),
            ),
        ] {
            let e = trail
                .record(NewEvent::new("booking.created").occurred_at(t))
                .unwrap_or_else(|e| panic!("{name}: {t}: {e}"));
            assert_eq!(e.occurred_at, stored, "{name}: {t}");
            assert_eq!(e.occurred_at.offset(), UtcOffset::UTC, "{name}: {t}");
        }
        assert!(trail.verify().unwrap().is_ok(), "{name}");
    }
}

#[test]
fn query_bounds_at_the_extremes_are_clamped() {
    for (name, trail) in both() {
        let events = record_fixed(&trail);
        let all: BTreeSet<u64> = events.iter().map(|e| e.seq).collect();
        let none = BTreeSet::new();
        let cases = [
            (
                "between(min, max)",
                Query::new().between(smallest(), largest()),
                &all,
            ),
            ("since(max)", Query::new().since(largest()), &none),
            ("until(min)", Query::new().until(smallest()), &none),
            ("since(min)", Query::new().since(smallest()), &all),
            ("until(max)", Query::new().until(largest()), &all),
            (
                "between(max, min)",
                Query::new().between(largest(), smallest()),
                &none,
            ),
            (
                "since(1900)",
                Query::new().since(datetime!(1900-01-01 0:00 UTC)),
                &all,
            ),
            (
                "since(9999-12-31 23:00 -12:00)",
                Query::new().since(datetime!(9999-12-31 23:00 -12:00)),
                &none,
            ),
            (
                "until(9999-12-31 23:00 -12:00)",
                Query::new().until(datetime!(9999-12-31 23:00 -12:00)),
                &all,
            ),
        ];
        for (what, q, want) in cases {
            check_query(
                &Case {
                    name,
                    trail: &trail,
                    events: &events,
                    zones: ZONES,
                },
                what,
                q,
                want,
                None,
            );
        }
        // Summaries over all time count every event, whatever the zone.
        let q = Query::new().between(smallest(), largest());
        let days = trail
            .summarize(&q, &GroupBy::day_in("Pacific/Kiritimati"))
            .unwrap();
        assert_eq!(
            days,
            trail
                .summarize(&Query::new(), &GroupBy::day_in("Pacific/Kiritimati"))
                .unwrap(),
            "{name}"
        );
        let actions = trail.summarize(&q, &GroupBy::Action).unwrap();
        assert_eq!(
            actions,
            [
                ("booking.created".to_string(), 3),
                ("booking.cancelled".to_string(), 2),
                ("booking.completed".to_string(), 1)
            ],
            "{name}"
        );
        // describe_in with any `now`.
        check_describe(name, &events, largest());
        check_describe(name, &events, smallest());
        check_describe(name, &events, datetime!(9999-12-31 23:00 -12:00));
    }
}

#[test]
fn purge_cutoffs_at_the_extremes_are_clamped() {
    for (name, trail) in both() {
        record_fixed(&trail);
        let n = FIXED.len() as u64;
        for t in [
            smallest(),
            datetime!(1900-01-01 0:00 UTC),
            datetime!(1970-01-01 00:30 +01:00),
        ] {
            let r = trail
                .purge_before(t)
                .unwrap_or_else(|e| panic!("{name}: purge_before({t}): {e}"));
            assert_eq!(r.purged, 0, "{name}: purge_before({t})");
            assert!(r.event.is_none(), "{name}");
        }
        assert_eq!(trail.count(&Query::new()).unwrap(), n, "{name}");
        let r = trail
            .purge_before(datetime!(9999-12-31 23:00 -12:00))
            .unwrap_or_else(|e| panic!("{name}: purge_before(9999-12-31 23:00 -12:00): {e}"));
        // Everything recorded before the (clamped) cutoff, except the head's event.
        assert_eq!(r.purged, n - 1, "{name}");
        let purge = r.event.expect("a purge record");
        assert_eq!(
            purge.context["cutoff"], "9999-12-31T23:59:59.999999Z",
            "{name}: the cutoff, clamped"
        );
        assert!(trail.verify().unwrap().is_ok(), "{name}");
        let mut archive = Vec::new();
        let r = trail
            .purge_before_to(largest(), &mut archive)
            .unwrap_or_else(|e| panic!("{name}: purge_before_to(max): {e}"));
        assert_eq!(r.purged, 1, "{name}: the previous head's event");
        assert!(trail.verify().unwrap().is_ok(), "{name}");
        assert_eq!(trail.count(&Query::new()).unwrap(), 2, "{name}");
    }
}
