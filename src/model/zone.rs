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
    saturating(time_util::to_micros(time_util::clamped(t)))
}

/// The instant `micros` after the epoch, as jiff has it.
fn saturating(micros: i64) -> Timestamp {
    // jiff stops short of 9999-12-31 (so that any offset keeps civil times in range): later
    // times saturate there rather than fall back to the epoch, whose offset may differ.
    Timestamp::from_microsecond(micros).unwrap_or(if micros < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The first instant of the local day `date` in `tz`: local midnight, or, when a clock change
/// skips midnight, the first local time after the gap (so a skipped day starts and ends at
/// the same instant). Dates whose midnight lies outside jiff's range take the offset `tz`
/// has at the end of that range.
pub(crate) fn start_of_day(tz: &TimeZone, date: time::Date) -> OffsetDateTime {
    let civil = i16::try_from(date.year())
        .ok()
        .and_then(|y| jiff::civil::Date::new(y, date.month() as i8, date.day() as i8).ok());
    // jiff's `compatible` disambiguation picks the later side of a gap and the earlier side
    // of a fold: exactly the first instant of the day.
    let exact = civil
        .and_then(|d| d.to_zoned(tz.clone()).ok())
        .and_then(|z| {
            OffsetDateTime::from_unix_timestamp_nanos(z.timestamp().as_nanosecond()).ok()
        });
    exact.unwrap_or_else(|| {
        let edge = if date.year() < 1970 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        };
        let offset = time::UtcOffset::from_whole_seconds(tz.to_offset(edge).seconds())
            .unwrap_or(time::UtcOffset::UTC);
        time::PrimitiveDateTime::new(date, time::Time::MIDNIGHT).assume_offset(offset)
    })
}

/// `t` as local wall-clock time in `tz` with its offset, as `2026-03-28 10:00:00 +01:00`
/// (microseconds after the seconds when there are any; offset seconds when the zone has them).
pub(crate) fn local_text(tz: &TimeZone, t: OffsetDateTime) -> String {
    let seconds = tz.to_offset(timestamp(t)).seconds();
    let offset = time::UtcOffset::from_whole_seconds(seconds).unwrap_or(time::UtcOffset::UTC);
    // `checked_to_offset` fails only past 9999-12-31 local time; UTC is the honest fallback.
    let (local, offset) = match t.checked_to_offset(offset) {
        Some(local) => (local, offset),
        None => (t.to_offset(time::UtcOffset::UTC), time::UtcOffset::UTC),
    };
    let micros = local.microsecond();
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    let (h, m, s) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let offset_seconds = if s == 0 {
        String::new()
    } else {
        format!(":{:02}", s.unsigned_abs())
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction} {sign}{:02}:{:02}{offset_seconds}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        h.unsigned_abs(),
        m.unsigned_abs(),
    )
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
    let ts = saturating(micros);
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
        let ts = saturating(start);
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
    fn days_start_at_local_midnight_or_after_the_gap() {
        use time::macros::{date, datetime};
        let berlin = get("Europe/Berlin").expect("bundled");
        assert_eq!(
            start_of_day(&berlin, date!(2026 - 03 - 29)),
            datetime!(2026-03-28 23:00 UTC)
        );
        assert_eq!(
            start_of_day(&berlin, date!(2026 - 03 - 30)),
            datetime!(2026-03-29 22:00 UTC)
        );
        // Havana springs forward at midnight: 8 March 2026 starts at 01:00 local (05:00 UTC).
        let havana = get("America/Havana").expect("bundled");
        assert_eq!(
            start_of_day(&havana, date!(2026 - 03 - 08)),
            datetime!(2026-03-08 05:00 UTC)
        );
        // Samoa skipped 30 December 2011: it starts and ends at the same instant.
        let apia = get("Pacific/Apia").expect("bundled");
        assert_eq!(
            start_of_day(&apia, date!(2011 - 12 - 30)),
            start_of_day(&apia, date!(2011 - 12 - 31))
        );
        // The ends of `time`'s range never panic.
        for zone in ["Pacific/Kiritimati", "Etc/GMT+12", "UTC"] {
            let tz = get(zone).expect("bundled");
            let first = start_of_day(&tz, time::Date::MIN);
            let last = start_of_day(&tz, time::Date::MAX);
            assert!(first < last, "{zone}");
        }
    }

    #[test]
    fn local_text_has_the_offset_and_microseconds_when_there_are_any() {
        use time::macros::datetime;
        let berlin = get("Europe/Berlin").expect("bundled");
        assert_eq!(
            local_text(&berlin, datetime!(2026-03-28 09:00 UTC)),
            "2026-03-28 10:00:00 +01:00"
        );
        assert_eq!(
            local_text(&berlin, datetime!(2026-03-29 01:30:00.123456 UTC)),
            "2026-03-29 03:30:00.123456 +02:00"
        );
        let new_york = get("America/New_York").expect("bundled");
        assert_eq!(
            local_text(&new_york, datetime!(2026-11-01 06:30 UTC)),
            "2026-11-01 01:30:00 -05:00"
        );
        let last = datetime!(9999-12-31 23:59:59.999999 UTC);
        assert_eq!(
            local_text(&TimeZone::UTC, last),
            "9999-12-31 23:59:59.999999 +00:00"
        );
        // Past 9999-12-31 in local time there is no local form: UTC it is.
        let kiritimati = get("Pacific/Kiritimati").expect("bundled");
        assert_eq!(
            local_text(&kiritimati, last),
            "9999-12-31 23:59:59.999999 +00:00"
        );
    }

    #[test]
    fn unknown_zones_are_invalid() {
        let err = get("Europe/Nowhere").expect_err("unknown");
        assert!(err.is_invalid(), "{err}");
        assert!(err.to_string().contains("Europe/Nowhere"), "{err}");
    }
}
