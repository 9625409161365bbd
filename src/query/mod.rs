//! Queries: one builder, evaluated in SQL by the SQL stores and by [`Query::matches`] in the core.
//!
//! Layer: queries and their summaries (`GroupBy`); uses only `model`.

pub(crate) mod summary;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::{Date, OffsetDateTime};

use crate::model::event::{ActorKind, Event, Source, Target};
use crate::model::{new_event, time_util, zone};
use crate::{Error, Result};

/// Page size when [`Query::limit`] is not called.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page [`Query::limit`] accepts.
pub const MAX_LIMIT: usize = 1_000;

/// The order results come in: by `occurred_at`, ties broken by `seq`. (Named so that it is
/// never read as a booking order.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SortOrder {
    /// Newest `occurred_at` first, ties by higher `seq` first (default, as timelines show).
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// Which outcomes a query keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeFilter {
    /// Successes only.
    Success,
    /// Failures only (failed logins, declined cards).
    Failure,
}

/// An action filter: an exact name, or a prefix written `booking.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActionPattern {
    /// Exactly this action.
    Exact(String),
    /// Any action that starts with this prefix (which ends in `.`).
    Prefix(String),
}

impl ActionPattern {
    fn parse(s: &str) -> ActionPattern {
        match s.strip_suffix('*') {
            Some(prefix) => ActionPattern::Prefix(prefix.to_owned()),
            None => ActionPattern::Exact(s.to_owned()),
        }
    }

    /// True when `action` matches.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionPattern::Exact(a) => a == action,
            ActionPattern::Prefix(p) => action.starts_with(p.as_str()),
        }
    }
}

/// A filter over the audit trail, built by value.
///
/// ```
/// # use auditkit::Query;
/// let q = Query::new().tenant("clinic-42").action("booking.*").limit(50);
/// ```
///
/// Every filter narrows the result (they combine with AND; the list in [`Query::actions`] is an
/// OR). Times filter on `occurred_at`. Problems with the filter (an empty search, a limit over
/// [`MAX_LIMIT`], an unknown time zone) are reported as [`Error::Invalid`] when the query runs
/// (and by [`Query::validate`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Query {
    tenant: Option<String>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    actor: Option<String>,
    actor_kind: Option<ActorKind>,
    actions: Vec<ActionPattern>,
    target: Option<(String, String)>,
    target_kind: Option<String>,
    involving: Option<(String, String)>,
    source: Option<Source>,
    outcome: Option<OutcomeFilter>,
    search: Option<String>,
    changed: Option<String>,
    order: SortOrder,
    limit: Option<usize>,
    after: Option<Cursor>,
    /// The first problem a builder method found, as (field, problem): the builder cannot
    /// return an error, so it is reported when the query runs.
    invalid: Option<(String, String)>,
}

impl Query {
    /// Everything, newest first, [`DEFAULT_LIMIT`] per page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of this tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Events that occurred in `[from, to)`.
    ///
    /// Any time is accepted: a bound outside 1970-01-01 … 9999-12-31 UTC is clamped to that
    /// range, so `between(far past, far future)` means all time.
    pub fn between(mut self, from: OffsetDateTime, to: OffsetDateTime) -> Self {
        self.from = Some(from);
        self.to = Some(to);
        self
    }

    /// Events that occurred on the local calendar days `from` to `to`, both included, in the
    /// IANA time zone `zone` (such as `"Europe/Berlin"`, from the tz database bundled into
    /// auditkit): from the first instant of `from` to the first instant of the day after `to`,
    /// local time. Days are as long as the zone's clocks make them, so the day clocks spring
    /// forward has 23 hours and the day they fall back 25. Replaces earlier time bounds, as
    /// [`Query::between`] does (and a later `between`, `since` or `until` replaces these).
    ///
    /// ```
    /// # use auditkit::{memory::MemoryStore, AuditTrail, NewEvent, Query};
    /// # use time::macros::{date, datetime};
    /// # fn main() -> auditkit::Result<()> {
    /// let trail = AuditTrail::new(MemoryStore::new());
    /// // 23:30 UTC on 27 March is already 28 March in Berlin (UTC+1).
    /// trail.record(NewEvent::new("booking.created").occurred_at(datetime!(2026-03-27 23:30 UTC)))?;
    /// // 22:30 UTC on 29 March is 30 March there (UTC+2 since that morning).
    /// trail.record(NewEvent::new("booking.created").occurred_at(datetime!(2026-03-29 22:30 UTC)))?;
    ///
    /// let q = Query::new().between_local_days(date!(2026-03-28), date!(2026-03-29), "Europe/Berlin");
    /// assert_eq!(q.from_filter(), Some(datetime!(2026-03-27 23:00 UTC)));
    /// assert_eq!(q.to_filter(), Some(datetime!(2026-03-29 22:00 UTC)));
    /// assert_eq!(trail.count(&q)?, 1);
    ///
    /// let bad = Query::new().on_local_day(date!(2026-03-28), "Europe/Berlinn");
    /// assert!(trail.count(&bad).unwrap_err().is_invalid());
    /// # Ok(()) }
    /// ```
    ///
    /// An unknown zone, or `from` after `to`, is [`Error::Invalid`] when the query runs
    /// (naming `zone` or `between_local_days.to`). Until then its time range is empty, so a
    /// store asked directly, without [`Query::validate`], returns nothing for it, unless a
    /// later `since`, `until` or `between` sets the range again; the trail validates every
    /// query it runs.
    pub fn between_local_days(mut self, from: Date, to: Date, zone: &str) -> Self {
        let tz = match zone::get(zone) {
            Ok(tz) => tz,
            Err(Error::Invalid { field, problem }) => return self.fail(field, problem),
            Err(e) => return self.fail("zone".to_owned(), e.to_string()),
        };
        if from > to {
            return self.fail(
                "between_local_days.to".to_owned(),
                format!(
                    "{to} is before from ({from}); pass the earlier day first (both days are \
                     included; `on_local_day` takes a single day)"
                ),
            );
        }
        self.from = Some(zone::start_of_day(&tz, from));
        // `time` has no day after 9999-12-31: that last day stays open to the end of storable
        // time rather than being refused.
        self.to = to.next_day().map(|next| zone::start_of_day(&tz, next));
        self
    }

    /// Events that occurred on the local calendar day `day` in the IANA time zone `zone`:
    /// [`Query::between_local_days`]`(day, day, zone)`.
    ///
    /// ```
    /// # use auditkit::Query;
    /// # use time::macros::{date, datetime};
    /// // 25 October 2026 in Berlin has 25 hours: clocks fall back from 03:00 to 02:00.
    /// let q = Query::new().on_local_day(date!(2026-10-25), "Europe/Berlin");
    /// assert_eq!(q.from_filter(), Some(datetime!(2026-10-24 22:00 UTC)));
    /// assert_eq!(q.to_filter(), Some(datetime!(2026-10-25 23:00 UTC)));
    /// ```
    pub fn on_local_day(self, day: Date, zone: &str) -> Self {
        self.between_local_days(day, day, zone)
    }

    /// Keeps the first problem for [`Query::validate`] and makes the time range empty.
    fn fail(mut self, field: String, problem: String) -> Self {
        if self.invalid.is_none() {
            self.invalid = Some((field, problem));
        }
        self.from = Some(OffsetDateTime::UNIX_EPOCH);
        self.to = Some(OffsetDateTime::UNIX_EPOCH);
        self
    }

    /// Events that occurred at or after `from` (clamped like [`Query::between`]).
    pub fn since(mut self, from: OffsetDateTime) -> Self {
        self.from = Some(from);
        self
    }

    /// Events that occurred before `to` (clamped like [`Query::between`]).
    pub fn until(mut self, to: OffsetDateTime) -> Self {
        self.to = Some(to);
        self
    }

    /// Events by the actor with this id.
    pub fn actor(mut self, id: impl Into<String>) -> Self {
        self.actor = Some(id.into());
        self
    }

    /// Events by actors of this kind.
    pub fn actor_kind(mut self, kind: ActorKind) -> Self {
        self.actor_kind = Some(kind);
        self
    }

    /// Events with this action; `booking.*` matches every action that starts with `booking.`
    /// (deeper names too). `_` is literal. Replaces earlier action filters.
    ///
    /// A name that is not an action name (`"Booking Rescheduled"`, `"booking"`) or a pattern
    /// other than `prefix.*` makes the query an [`Error::Invalid`] (field `query.action`) when
    /// it runs: no event could match it, so an empty answer would only hide the typo.
    pub fn action(mut self, action: impl AsRef<str>) -> Self {
        self.actions = vec![ActionPattern::parse(action.as_ref())];
        self
    }

    /// Events with any of these actions (each may be a `prefix.*`); each is checked as
    /// [`Query::action`] says.
    pub fn actions<I, A>(mut self, actions: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<str>,
    {
        self.actions = actions
            .into_iter()
            .map(|a| ActionPattern::parse(a.as_ref()))
            .collect();
        self
    }

    /// Events whose target is exactly this one (kind and id; the label is ignored).
    pub fn target(mut self, target: &Target) -> Self {
        self.target = Some((target.kind.clone(), target.id.clone()));
        self
    }

    /// Events whose target has this kind.
    pub fn target_kind(mut self, kind: impl Into<String>) -> Self {
        self.target_kind = Some(kind.into());
        self
    }

    /// Events whose target or any related target is this one: a customer's whole history.
    pub fn involving(mut self, target: &Target) -> Self {
        self.involving = Some((target.kind.clone(), target.id.clone()));
        self
    }

    /// Events from this source. `Source::Other("web")` means the same as `Source::Web`, as it
    /// does when recorded.
    pub fn source(mut self, source: Source) -> Self {
        // Normalized so that `matches` agrees with stores, which compare the stored name.
        self.source = Some(Source::parse(source.as_str()));
        self
    }

    /// Events with this outcome.
    pub fn outcome(mut self, outcome: OutcomeFilter) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Failures only.
    pub fn failures(self) -> Self {
        self.outcome(OutcomeFilter::Failure)
    }

    /// Events containing every word of `keyword` (case-insensitive, whole words) in the action,
    /// actor name, target label or a context value.
    pub fn search(mut self, keyword: impl Into<String>) -> Self {
        self.search = Some(keyword.into());
        self
    }

    /// Events with a change at `path` or below it (`slot` matches `slot.start`).
    pub fn changed(mut self, path: impl Into<String>) -> Self {
        self.changed = Some(path.into());
        self
    }

    /// Newest first (the default).
    pub fn newest_first(mut self) -> Self {
        self.order = SortOrder::NewestFirst;
        self
    }

    /// Oldest first.
    pub fn oldest_first(mut self) -> Self {
        self.order = SortOrder::OldestFirst;
        self
    }

    /// Page size: default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`].
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Continue after the last event of a previous page.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    // ---- accessors, for stores that push filters down ----

    /// The tenant filter.
    pub fn tenant_filter(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
    /// The inclusive lower bound on `occurred_at`.
    pub fn from_filter(&self) -> Option<OffsetDateTime> {
        self.from
    }
    /// The exclusive upper bound on `occurred_at`.
    pub fn to_filter(&self) -> Option<OffsetDateTime> {
        self.to
    }
    /// The actor id filter.
    pub fn actor_filter(&self) -> Option<&str> {
        self.actor.as_deref()
    }
    /// The actor kind filter.
    pub fn actor_kind_filter(&self) -> Option<ActorKind> {
        self.actor_kind
    }
    /// The action patterns (any may match); empty for no action filter.
    pub fn action_filters(&self) -> &[ActionPattern] {
        &self.actions
    }
    /// The exact target filter as (kind, id).
    pub fn target_filter(&self) -> Option<(&str, &str)> {
        self.target.as_ref().map(|(k, i)| (k.as_str(), i.as_str()))
    }
    /// The target kind filter.
    pub fn target_kind_filter(&self) -> Option<&str> {
        self.target_kind.as_deref()
    }
    /// The involving filter as (kind, id).
    pub fn involving_filter(&self) -> Option<(&str, &str)> {
        self.involving
            .as_ref()
            .map(|(k, i)| (k.as_str(), i.as_str()))
    }
    /// The source filter.
    pub fn source_filter(&self) -> Option<&Source> {
        self.source.as_ref()
    }
    /// The outcome filter.
    pub fn outcome_filter(&self) -> Option<OutcomeFilter> {
        self.outcome
    }
    /// The lowercase words of the search filter.
    pub fn search_words(&self) -> Option<Vec<String>> {
        self.search.as_deref().map(words)
    }
    /// The changed-path filter.
    pub fn changed_filter(&self) -> Option<&str> {
        self.changed.as_deref()
    }
    /// The order.
    pub fn order(&self) -> SortOrder {
        self.order
    }
    /// The page size in effect.
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }
    /// The cursor to continue after.
    pub fn cursor(&self) -> Option<Cursor> {
        self.after
    }

    /// Checks the query for problems that make it unanswerable.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the filter.
    pub fn validate(&self) -> Result<()> {
        if let Some((field, problem)) = &self.invalid {
            return Err(Error::invalid(field.as_str(), problem));
        }
        if let Some(n) = self.limit {
            if n == 0 || n > MAX_LIMIT {
                return Err(Error::invalid(
                    "limit",
                    format!("{n} is out of range, use 1 to {MAX_LIMIT} and page with `after`"),
                ));
            }
        }
        if let Some(s) = &self.search {
            if words(s).is_empty() {
                return Err(Error::invalid(
                    "search",
                    format!("{s:?} has no letters or digits to search for"),
                ));
            }
        }
        // No stored event can have an action that is not a valid name, so such a filter would
        // silently match nothing: say so instead, as recording would.
        for p in &self.actions {
            match p {
                ActionPattern::Exact(name) => {
                    if new_event::validate_action(name).is_err() {
                        return Err(Error::invalid(
                            "query.action",
                            format!("{name:?} is not an action name: use at least two dot-separated segments of lowercase letters, digits and `_` (like `booking.rescheduled`), or a pattern like `booking.*`"),
                        ));
                    }
                }
                ActionPattern::Prefix(prefix) => {
                    let ok = prefix.is_empty()
                        || prefix
                            .strip_suffix('.')
                            .is_some_and(new_event::action_segments);
                    if !ok {
                        return Err(Error::invalid(
                            "query.action",
                            format!("{prefix:?}* is not a valid pattern: a `*` may only follow a `.` after lowercase segments, as in `booking.*`"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Lower and upper `occurred_at` bounds in microseconds, clamped to the stored range
    /// (1970-01-01 … 9999-12-31 UTC; the upper bound is exclusive, at most one past the last
    /// storable microsecond).
    pub fn micros_range(&self) -> (Option<i64>, Option<i64>) {
        (
            self.from.map(time_util::bound_micros),
            self.to.map(time_util::bound_micros),
        )
    }

    /// True when `event` passes every filter of this query, including the cursor (limit and
    /// order aside). This is the reference semantics every store must reproduce.
    pub fn matches(&self, e: &Event) -> bool {
        let t = time_util::to_micros(e.occurred_at);
        let (from, to) = self.micros_range();
        if from.is_some_and(|f| t < f) || to.is_some_and(|u| t >= u) {
            return false;
        }
        if let Some(c) = &self.after {
            let key = (t, e.seq);
            let ck = (c.occurred_at_micros, c.seq);
            let beyond = match self.order {
                SortOrder::NewestFirst => key < ck,
                SortOrder::OldestFirst => key > ck,
            };
            if !beyond {
                return false;
            }
        }
        if self.tenant.is_some() && self.tenant != e.tenant {
            return false;
        }
        if self.actor.as_ref().is_some_and(|a| *a != e.actor.id) {
            return false;
        }
        if self.actor_kind.is_some_and(|k| k != e.actor.kind) {
            return false;
        }
        if !self.actions.is_empty() && !self.actions.iter().any(|p| p.matches(&e.action)) {
            return false;
        }
        let is = |t: &Target, (k, i): &(String, String)| t.kind == *k && t.id == *i;
        if let Some(f) = &self.target {
            if !e.target.as_ref().is_some_and(|t| is(t, f)) {
                return false;
            }
        }
        if let Some(k) = &self.target_kind {
            if e.target.as_ref().is_none_or(|t| t.kind != *k) {
                return false;
            }
        }
        if let Some(f) = &self.involving {
            if !e.target.iter().chain(&e.related).any(|t| is(t, f)) {
                return false;
            }
        }
        if self.source.as_ref().is_some_and(|s| *s != e.source) {
            return false;
        }
        match self.outcome {
            Some(OutcomeFilter::Success) if !e.outcome.is_success() => return false,
            Some(OutcomeFilter::Failure) if e.outcome.is_success() => return false,
            _ => {}
        }
        if let Some(path) = &self.changed {
            if !e.changes.iter().any(|c| {
                crate::model::changes::with_ancestors(&c.path)
                    .into_iter()
                    .any(|p| p == path)
            }) {
                return false;
            }
        }
        if let Some(s) = &self.search {
            let have = words(&search_text(e));
            if !words(s).iter().all(|w| have.contains(w)) {
                return false;
            }
        }
        true
    }

    /// Sorts events in this query's order.
    pub fn sort(&self, events: &mut [Event]) {
        events.sort_by_key(|e| (e.occurred_at, e.seq));
        if self.order == SortOrder::NewestFirst {
            events.reverse();
        }
    }
}

/// The lowercase words of `text`: maximal runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What `search` looks in: the action, actor name, target label and every string or number in
/// the context, separated by spaces.
pub fn search_text(e: &Event) -> String {
    search_text_of(
        &e.action,
        e.actor.name.as_deref(),
        e.target.as_ref().and_then(|t| t.label.as_deref()),
        &e.context,
    )
}

/// [`search_text`] from the parts of an event it reads.
pub(crate) fn search_text_of(
    action: &str,
    actor_name: Option<&str>,
    target_label: Option<&str>,
    context: &serde_json::Map<String, Value>,
) -> String {
    let mut out = action.to_owned();
    for part in [actor_name, target_label].into_iter().flatten() {
        out.push(' ');
        out.push_str(part);
    }
    let mut stack: Vec<&Value> = context.values().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                out.push(' ');
                out.push_str(s);
            }
            Value::Number(n) => {
                out.push(' ');
                out.push_str(&n.to_string());
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    out
}

/// A position in a result list: continue with [`Query::after`].
///
/// Opaque to callers; its text form (`Display`/`FromStr`) can be handed to a browser and back.
/// Keyset-based on (`occurred_at`, `seq`), so pages stay stable while new events arrive.
/// In JSON it is that text (`"c1.…"`); a string that is not a cursor fails to deserialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    occurred_at_micros: i64,
    seq: u64,
}

impl Cursor {
    /// The cursor just past `event`.
    pub fn after_event(event: &Event) -> Self {
        Cursor {
            occurred_at_micros: time_util::to_micros(event.occurred_at),
            seq: event.seq,
        }
    }

    /// The cursor just past the event at `seq` that occurred at `occurred_at`: what
    /// [`Cursor::after_event`] gives for it, from the two fields alone (for sealed events).
    pub(crate) fn after_position(occurred_at: OffsetDateTime, seq: u64) -> Self {
        Cursor {
            occurred_at_micros: time_util::to_micros(occurred_at),
            seq,
        }
    }

    /// The `occurred_at` of the event it points past, in microseconds since the epoch.
    pub fn occurred_at_micros(&self) -> i64 {
        self.occurred_at_micros
    }

    /// The `seq` of the event it points past.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c1.{:x}.{:x}", self.occurred_at_micros, self.seq)
    }
}

impl FromStr for Cursor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::malformed(
                "cursor",
                format!(
                    "{s:?} is not a cursor this version produced; pass `page.next` back unchanged"
                ),
            )
        };
        let rest = s.strip_prefix("c1.").ok_or_else(bad)?;
        let (t, seq) = rest.split_once('.').ok_or_else(bad)?;
        let hex =
            |x: &str| !x.is_empty() && x.len() <= 16 && x.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(t) || !hex(seq) {
            return Err(bad());
        }
        let occurred_at_micros = i64::from_str_radix(t, 16).map_err(|_| bad())?;
        let seq = u64::from_str_radix(seq, 16).map_err(|_| bad())?;
        if !(time_util::MIN_MICROS..=time_util::MAX_MICROS).contains(&occurred_at_micros) {
            return Err(bad());
        }
        Ok(Cursor {
            occurred_at_micros,
            seq,
        })
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::model::text_form::deserialize(d, "a cursor from `page.next`")
    }
}

/// One page of results.
///
/// In JSON: `{"events": [...], "next": "c1.…"}` (`next` is `null` on the last page), each
/// event as [`Event`] serializes itself; it deserializes back to an equal page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Page {
    /// The events, in the query's order.
    pub events: Vec<Event>,
    /// Where the next page starts; `None` when nothing is left.
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            occurred_at_micros: 1_700_000_000_000_000,
            seq: 42,
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        for bad in [
            "",
            "c1.",
            "c1.x.y",
            "c2.1.1",
            "c1.-1.1",
            "c1.1",
            "c1.fffffffffffffffff.1",
        ] {
            let e = bad.parse::<Cursor>().unwrap_err();
            assert!(matches!(e, Error::Malformed { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn words_are_lowercase_alphanumeric_runs() {
        assert_eq!(
            words("Booking.Rescheduled by Zoë_2!"),
            ["booking", "rescheduled", "by", "zoë", "2"]
        );
    }

    fn hours(q: &Query) -> i64 {
        let (from, to) = (q.from_filter().unwrap(), q.to_filter().unwrap());
        (to - from).whole_hours()
    }

    #[test]
    fn local_days_follow_the_zone_across_clock_changes() {
        use time::macros::{date, datetime};
        let cases = [
            (
                "Europe/Berlin",
                date!(2026 - 03 - 29),
                datetime!(2026-03-28 23:00 UTC),
                23,
            ),
            (
                "Europe/Berlin",
                date!(2026 - 10 - 25),
                datetime!(2026-10-24 22:00 UTC),
                25,
            ),
            (
                "Europe/Berlin",
                date!(2026 - 06 - 01),
                datetime!(2026-05-31 22:00 UTC),
                24,
            ),
            (
                "America/New_York",
                date!(2026 - 03 - 08),
                datetime!(2026-03-08 05:00 UTC),
                23,
            ),
            (
                "America/New_York",
                date!(2026 - 11 - 01),
                datetime!(2026-11-01 04:00 UTC),
                25,
            ),
            (
                "UTC",
                date!(2026 - 03 - 29),
                datetime!(2026-03-29 00:00 UTC),
                24,
            ),
        ];
        for (zone, day, start, length) in cases {
            let q = Query::new().on_local_day(day, zone);
            assert!(q.validate().is_ok(), "{zone} {day}");
            assert_eq!(q.from_filter(), Some(start), "{zone} {day}");
            assert_eq!(hours(&q), length, "{zone} {day}");
        }
        let q = Query::new().between_local_days(
            date!(2026 - 03 - 28),
            date!(2026 - 03 - 29),
            "Europe/Berlin",
        );
        assert_eq!(q.from_filter(), Some(datetime!(2026-03-27 23:00 UTC)));
        assert_eq!(q.to_filter(), Some(datetime!(2026-03-29 22:00 UTC)));
        // The last day `time` has: no upper bound, since nothing can lie beyond it.
        let q = Query::new().on_local_day(Date::MAX, "UTC");
        assert_eq!(q.from_filter(), Some(datetime!(9999-12-31 00:00 UTC)));
        assert_eq!(q.to_filter(), None);
    }

    #[test]
    fn bad_local_days_are_invalid_and_match_nothing_meanwhile() {
        use time::macros::date;
        let cases = [
            (
                Query::new().on_local_day(date!(2026 - 03 - 28), "Europe/Nowhere"),
                "zone",
                "Europe/Nowhere",
            ),
            (
                Query::new().between_local_days(
                    date!(2026 - 03 - 29),
                    date!(2026 - 03 - 28),
                    "Europe/Berlin",
                ),
                "between_local_days.to",
                "2026-03-28 is before from (2026-03-29)",
            ),
        ];
        for (q, want_field, want_text) in cases {
            let err = q.validate().unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, .. } if field == want_field),
                "{err}"
            );
            assert!(err.to_string().contains(want_text), "{err}");
            assert!(
                q.from_filter().is_some() && q.from_filter() == q.to_filter(),
                "an empty range until it runs: {q:?}"
            );
            // The first problem is the one reported, whatever follows.
            let later = q
                .limit(0)
                .on_local_day(date!(2026 - 01 - 01), "Mars/Olympus");
            assert!(later
                .validate()
                .unwrap_err()
                .to_string()
                .contains(want_text));
        }
    }

    #[test]
    fn action_patterns() {
        assert!(ActionPattern::parse("booking.*").matches("booking.created"));
        assert!(ActionPattern::parse("booking.*").matches("booking.seat.booked"));
        assert!(!ActionPattern::parse("booking.*").matches("bookings.created"));
        assert!(!ActionPattern::parse("booking.created").matches("booking.created_x"));
    }

    #[test]
    fn action_filters_must_be_action_names_or_patterns() {
        for good in [
            "booking.rescheduled",
            "booking.*",
            "booking.seat.*",
            "*",
            "a_1.b_2",
        ] {
            assert!(Query::new().action(good).validate().is_ok(), "{good}");
        }
        for bad in [
            "Booking Rescheduled",
            "booking",
            "booking.",
            ".booking",
            "booking.Created",
            "booking*",
            "Booking.*",
            ".*",
        ] {
            let e = Query::new().action(bad).validate().unwrap_err();
            assert!(
                matches!(&e, Error::Invalid { field, .. } if field == "query.action"),
                "{bad}: {e}"
            );
        }
        let e = Query::new()
            .actions(["booking.created", "Booking Rescheduled"])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("\"Booking Rescheduled\""), "{e}");
        assert!(e.to_string().contains("booking.rescheduled"), "{e}");
    }
}
