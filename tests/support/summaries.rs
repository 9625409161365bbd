//! The events, queries and groupings that `tests/summarize.rs` (SQLite) and
//! `tests/pg_store.rs` (PostgreSQL) summarize in SQL and compare with `MemoryStore`'s scan.
#![allow(dead_code)]

use auditkit::{Actor, GroupBy, NewEvent, Query, Target};
use time::macros::datetime;
use time::Duration;

pub const ZONES: [&str; 9] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Lord_Howe", // 30-minute daylight-saving shift
    "Asia/Kathmandu",      // +05:45
    "Pacific/Chatham",     // +12:45 / +13:45
    "Africa/Monrovia",     // -00:44:30 until 1972
    "Pacific/Kiritimati",  // +14:00, skipped a whole day in 1994
];

/// A small deterministic generator, so failures reproduce.
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The same events in both stores: times clustered around local midnights and
/// daylight-saving changes, and spread over 1970..2030.
pub fn events() -> Vec<NewEvent> {
    let mut rng = Lcg(42);
    let anchors = [
        datetime!(1970-01-01 00:00 UTC),
        datetime!(1971-06-01 00:00 UTC),
        datetime!(1994-12-31 10:00 UTC),
        datetime!(2026-03-28 22:00 UTC),
        datetime!(2026-03-29 01:00 UTC),
        datetime!(2026-03-08 07:00 UTC),
        datetime!(2026-10-25 00:00 UTC),
        datetime!(2026-11-01 05:00 UTC),
        datetime!(2026-04-04 15:00 UTC),
        datetime!(2026-09-26 13:00 UTC),
        datetime!(2029-12-31 23:00 UTC),
    ];
    let actions = [
        "booking.created",
        "booking.rescheduled",
        "booking.cancelled",
        "payment.refunded",
        "account.login",
    ];
    (0..700)
        .map(|i| {
            let base = anchors[rng.next(anchors.len() as u64) as usize];
            let t = base + Duration::minutes(rng.next(6 * 60) as i64 - 60);
            let t = t.max(datetime!(1970-01-01 00:00 UTC));
            NewEvent::new(actions[rng.next(actions.len() as u64) as usize])
                .tenant(["salon-1", "clinic-2"][rng.next(2) as usize])
                .actor(Actor::user(format!("u-{}", rng.next(4))))
                .target(Target::new("booking", format!("b-{}", i % 37)))
                .occurred_at(t)
        })
        .collect()
}

pub fn queries() -> Vec<Query> {
    vec![
        Query::new(),
        Query::new().tenant("salon-1"),
        Query::new().action("booking.*"),
        Query::new().actor("u-2").tenant("clinic-2"),
        Query::new().between(
            datetime!(2026-03-01 00:00 UTC),
            datetime!(2026-04-01 00:00 UTC),
        ),
        Query::new()
            .since(datetime!(2026-10-24 00:00 UTC))
            .action("booking.created"),
        Query::new().involving(&Target::new("booking", "b-3")),
        Query::new().tenant("nobody"),
        Query::new().limit(1), // the limit is ignored
    ]
}

/// Every grouping: per action, per actor, and per day in each of [`ZONES`].
pub fn groupings() -> Vec<GroupBy> {
    let mut all = vec![GroupBy::Action, GroupBy::Actor];
    all.extend(ZONES.iter().map(|z| GroupBy::day_in(*z)));
    all
}
