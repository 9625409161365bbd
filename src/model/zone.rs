//! IANA time zones (jiff, with its bundled tz database) for descriptions and per-day reports.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::OffsetDateTime;

use crate::{model::time_util, Error, Result};

/// The zone named `name`, from the tz database bundled into the binary, so results do not
/// depend on the machine's `/usr/share/zoneinfo` (or its absence).
pub(crate) fn get(name: &str) -> Result<TimeZone> {
    TimeZone::get(name).map_err(|e| {
        Error::invalid(
            "zone",
            format!(
                "{name:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\" ({e})"
            ),
        )
    })
}

/// `t` as a jiff timestamp (to the microsecond, which is all auditkit keeps).
pub(crate) fn timestamp(t: OffsetDateTime) -> Timestamp {
    // Clamped to 1970..=9999 (every stored time lies there; a caller's `now` may not), well
    // inside jiff's range.
    Timestamp::from_microsecond(time_util::to_micros(time_util::clamped(t)))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Microseconds per day.
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;

/// The local date numbered `days` since 1970-01-01, as `YYYY-MM-DD`.
pub(crate) fn day_key(days: i64) -> String {
    let epoch = jiff::civil::date(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(days))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| format!("day {days}"))
}

/// The local day number (days since 1970-01-01) of `micros` after the epoch, in `tz`.
pub(crate) fn local_day(tz: &TimeZone, micros: i64) -> i64 {
    let ts = Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH);
    let offset = i64::from(tz.to_offset(ts).seconds()) * 1_000_000;
    (micros + offset).div_euclid(DAY_MICROS)
}

/// Spans `[start, end)` of `[from, to)` (microseconds) over which `tz` keeps one UTC offset,
/// with that offset in microseconds.
// Only the SQL stores group per day in SQL; without them this is unused.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn offset_spans(tz: &TimeZone, from: i64, to: i64) -> Vec<(i64, i64, i64)> {
    let mut spans = Vec::new();
    let mut start = from;
    while start < to {
        let ts = Timestamp::from_microsecond(start).unwrap_or(Timestamp::UNIX_EPOCH);
        let offset = i64::from(tz.to_offset(ts).seconds()) * 1_000_000;
        let end = tz
            .following(ts)
            .map(|t| t.timestamp().as_microsecond())
            .find(|&m| m > start)
            .map_or(to, |m| m.min(to));
        match spans.last_mut() {
            // Transitions that change only the abbreviation keep the offset: merge them.
            Some((_, e, o)) if *o == offset && *e == start => *e = end,
            _ => spans.push((start, end, offset)),
        }
        start = end;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(t: OffsetDateTime) -> i64 {
        time_util::to_micros(t)
    }

    #[test]
    fn spans_split_at_daylight_saving_changes() {
        let tz = get("Europe/Berlin").expect("bundled");
        let from = micros(time::macros::datetime!(2026-01-01 00:00 UTC));
        let to = micros(time::macros::datetime!(2027-01-01 00:00 UTC));
        let spring = micros(time::macros::datetime!(2026-03-29 01:00 UTC));
        let autumn = micros(time::macros::datetime!(2026-10-25 01:00 UTC));
        let hour = 3_600_000_000;
        assert_eq!(
            offset_spans(&tz, from, to),
            vec![
                (from, spring, hour),
                (spring, autumn, 2 * hour),
                (autumn, to, hour)
            ]
        );
        assert_eq!(offset_spans(&TimeZone::UTC, from, to), vec![(from, to, 0)]);
        assert!(offset_spans(&tz, to, to).is_empty());
    }

    #[test]
    fn local_days_and_keys() {
        let tz = get("America/Los_Angeles").expect("bundled");
        // 00:30 UTC on 1 January 1970 is still 31 December 1969 in Los Angeles.
        assert_eq!(local_day(&tz, 30 * 60 * 1_000_000), -1);
        assert_eq!(day_key(-1), "1969-12-31");
        assert_eq!(day_key(0), "1970-01-01");
        assert_eq!(day_key(20_454), "2026-01-01");
    }

    #[test]
    fn unknown_zones_are_invalid() {
        let err = get("Europe/Nowhere").expect_err("unknown");
        assert!(err.is_invalid(), "{err}");
        assert!(err.to_string().contains("Europe/Nowhere"), "{err}");
    }
}
