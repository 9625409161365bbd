//! Counts for report views: [`GroupBy`] and what every store's `summarize` returns.

use std::collections::HashMap;

use jiff::tz::TimeZone;

use crate::model::event::Event;
use crate::{model::zone, Result};

/// How [`crate::AuditTrail::summarize`] groups the events it counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupBy {
    /// Per action name (`booking.created`): "what happened most".
    Action,
    /// Per actor id: "who did what this week".
    Actor,
    /// Per calendar day (`2026-01-15`) in the IANA time zone named here (`Europe/Berlin`,
    /// `UTC`), daylight-saving time included: "new bookings per day".
    Day(String),
}

impl GroupBy {
    /// Per calendar day in the IANA time zone `zone`.
    pub fn day_in(zone: impl Into<String>) -> Self {
        GroupBy::Day(zone.into())
    }

    /// Checks the zone of [`GroupBy::Day`].
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] (field `zone`) for an unknown zone name.
    pub fn validate(&self) -> Result<()> {
        zone_of(self).map(drop)
    }
}

/// The key `e` is counted under; days are `YYYY-MM-DD` in `tz` (the zone of
/// [`GroupBy::Day`], parsed once by the caller).
pub(crate) fn key_of(e: &Event, by: &GroupBy, tz: Option<&TimeZone>) -> String {
    match (by, tz) {
        (GroupBy::Action, _) => e.action.clone(),
        (GroupBy::Actor, _) => e.actor.id.clone(),
        (GroupBy::Day(_), tz) => zone::day_key(zone::local_day(
            tz.unwrap_or(&TimeZone::UTC),
            crate::model::time_util::to_micros(e.occurred_at),
        )),
    }
}

/// The zone of a [`GroupBy::Day`], parsed.
pub(crate) fn zone_of(by: &GroupBy) -> Result<Option<TimeZone>> {
    match by {
        GroupBy::Day(z) => zone::get(z).map(Some),
        _ => Ok(None),
    }
}

/// Counts per key, merged (a key may come in several times) and sorted as reports show
/// them: days in calendar order, other keys by count (largest first), then by key.
pub(crate) fn finish(
    by: &GroupBy,
    counts: impl IntoIterator<Item = (String, u64)>,
) -> Vec<(String, u64)> {
    let mut merged: HashMap<String, u64> = HashMap::new();
    for (k, n) in counts {
        *merged.entry(k).or_default() += n;
    }
    let mut out: Vec<(String, u64)> = merged.into_iter().filter(|(_, n)| *n > 0).collect();
    match by {
        // `YYYY-MM-DD` sorts as text in calendar order.
        GroupBy::Day(_) => out.sort(),
        _ => out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))),
    }
    out
}
