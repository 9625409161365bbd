//! Microsecond UTC timestamps, the precision auditkit stores.

use time::{OffsetDateTime, UtcOffset};

use crate::{Error, Result};

/// 1970-01-01T00:00:00Z.
pub(crate) const MIN_MICROS: i64 = 0;
/// 9999-12-31T23:59:59.999999Z.
pub(crate) const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// Microseconds since the Unix epoch.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The time `micros` after the epoch, in UTC; an error outside 1970..=9999.
pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime> {
    if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
        return Err(Error::Corrupt(format!(
            "timestamp {micros} µs is outside 1970-01-01..9999-12-31"
        )));
    }
    OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000)
        .map_err(|e| Error::Corrupt(format!("timestamp {micros} µs: {e}")))
}

/// `t` in UTC truncated to microseconds; an error naming `field` outside 1970..=9999.
pub(crate) fn normalize(field: &str, t: OffsetDateTime) -> Result<OffsetDateTime> {
    let t = t.to_offset(UtcOffset::UTC);
    let micros = t.unix_timestamp_nanos().div_euclid(1_000);
    if !(MIN_MICROS as i128..=MAX_MICROS as i128).contains(&micros) {
        return Err(Error::invalid(
            field,
            format!("{t} is outside the supported range 1970-01-01 to 9999-12-31 (UTC)"),
        ));
    }
    from_micros(micros as i64)
}

/// Now, in UTC, truncated to microseconds.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    from_micros(to_micros(t)).unwrap_or(t)
}
