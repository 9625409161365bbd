//! Microsecond UTC timestamps, the precision auditkit stores, and the one door every time a
//! caller hands in passes through.
//!
//! The rule (README, "Times"): a time recorded on an event must lie in 1970-01-01 …
//! 9999-12-31 UTC, else it is [`Error::Invalid`] naming the field; a query or purge bound
//! outside that range is clamped to it, so `between(far past, far future)` means all time.
//! Everything here works on [`OffsetDateTime::unix_timestamp_nanos`], which is exact for any
//! date and offset: converting to UTC first (`to_offset`) panics when the UTC date falls
//! outside `time`'s own range, as 9999-12-31 23:00 −12:00 does.

use time::OffsetDateTime;

use crate::{Error, Result};

/// 1970-01-01T00:00:00Z.
pub(crate) const MIN_MICROS: i64 = 0;
/// 9999-12-31T23:59:59.999999Z.
pub(crate) const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// The supported range in words, for error messages.
const RANGE: &str = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z";

/// Microseconds since the epoch of any representable time, rounded down (never panics).
fn exact_micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos().div_euclid(1_000)
}

/// Microseconds since the Unix epoch of a time inside the supported range (every stored time
/// is); saturates outside it rather than wrapping.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    exact_micros(t).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The time `micros` after the epoch, in UTC; [`Error::Corrupt`] outside the supported range
/// (it reads stored values).
pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime> {
    if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
        return Err(Error::corrupt(format!(
            "timestamp {micros} µs is outside {RANGE}"
        )));
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| Error::corrupt(format!("timestamp {micros} µs: {e}")))
}

/// A time to be recorded on an event: `t` in UTC, truncated to microseconds;
/// [`Error::Invalid`] naming `field` when it lies outside the supported range.
pub(crate) fn recorded(field: &str, t: OffsetDateTime) -> Result<OffsetDateTime> {
    let micros = exact_micros(t);
    if !(i128::from(MIN_MICROS)..=i128::from(MAX_MICROS)).contains(&micros) {
        return Err(Error::invalid(
            field,
            format!("{t} is outside the supported range {RANGE}"),
        ));
    }
    from_micros(micros as i64)
}

/// A query or purge bound in microseconds, clamped to the supported range: an exclusive upper
/// bound past the last storable microsecond is `MAX_MICROS + 1`, so it still excludes nothing.
pub(crate) fn bound_micros(t: OffsetDateTime) -> i64 {
    exact_micros(t).clamp(i128::from(MIN_MICROS), i128::from(MAX_MICROS) + 1) as i64
}

/// `t` clamped into the supported range, in UTC (for bounds that are shown or compared as
/// times, such as a purge cutoff or the `now` of a description).
pub(crate) fn clamped(t: OffsetDateTime) -> OffsetDateTime {
    let micros = exact_micros(t).clamp(i128::from(MIN_MICROS), i128::from(MAX_MICROS)) as i64;
    from_micros(micros).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, in UTC, truncated to microseconds.
pub(crate) fn now() -> OffsetDateTime {
    clamped(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_ends_of_the_range_at_any_offset_never_panic() {
        let late = datetime!(9999-12-31 23:00 -12:00);
        assert!(recorded("occurred_at", late).is_err());
        assert_eq!(bound_micros(late), MAX_MICROS + 1);
        assert_eq!(to_micros(clamped(late)), MAX_MICROS);
        let early = datetime!(1970-01-01 01:00 +23:59:59);
        assert!(recorded("occurred_at", early).is_err());
        assert_eq!(bound_micros(early), MIN_MICROS);
        let last = datetime!(9999-12-31 23:59:59.999_999_999 UTC);
        assert_eq!(to_micros(recorded("t", last).unwrap()), MAX_MICROS);
    }
}
