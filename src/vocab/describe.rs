//! Readable sentences for events: [`Event::describe`] and [`Event::describe_in`].

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Unit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::model::changes;
use crate::model::event::{Actor, ActorKind, Event, Outcome};
use crate::model::payload::{Currency, Money};
use crate::{model::zone, vocab, AuditPayload, Result};

/// How many field changes a sentence spells out before summing up the rest.
const MAX_CHANGES_SHOWN: usize = 3;

/// An event described for a business in its time zone: see [`Event::describe_in`].
///
/// In JSON: `{"sentence": "...", "at": "...", "relative": "..."}`, ready for a timeline view;
/// it deserializes back to an equal description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Description {
    /// The sentence, with times in the business's zone:
    /// `Sarah (staff) rescheduled Haircut with Sam from Sat 10 Jan 15:00 to Thu 15 Jan 10:00`.
    pub sentence: String,
    /// When it happened, exactly, in the zone: `Tue 13 Jan 2026 11:00 CET`.
    pub at: String,
    /// When it happened relative to `now`: `2 hours ago`, `yesterday`, `in 3 days`.
    pub relative: String,
}

impl fmt::Display for Description {
    /// `sentence (relative)`, as a timeline line shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.sentence, self.relative)
    }
}

impl Event {
    /// One clear sentence saying who did what: `Sarah (staff) rescheduled Haircut with Sam
    /// from Sat 10 Jan 14:00 to Thu 15 Jan 09:00`. Times are in UTC; use
    /// [`Event::describe_in`] for a business's time zone.
    ///
    /// Actions of the [`vocab`] fill in their template (amounts with their currency, reasons,
    /// old and new values); any other action reads `actor — action: target`. Field changes the
    /// sentence does not already show are appended (`, changing price from €40.00 to €45.00`).
    /// Someone acting on behalf of another shows as `Support agent Tom as Alex Doe
    /// (customer)`; a failure ends with its reason.
    ///
    /// Which changes the sentence already shows, and which numbers are money, depends on how
    /// the event was recorded:
    /// - from a typed payload ([`crate::NewEvent::typed`]) of a [`vocab`] action: by the
    ///   declarations of the vocabulary's payload type ([`AuditPayload::STATED_PATHS`] and
    ///   [`AuditPayload::MONEY`]); a reschedule's `start` change is not repeated after its
    ///   `from … to …`. For a payload type of your own, use [`Event::describe_as`].
    /// - otherwise by key names: the changes of keys the template showed are left out, and
    ///   integers under `amount`, `price`, `total` and keys ending in `_amount` or `_price` are
    ///   money in the event's `currency`.
    pub fn describe(&self) -> String {
        sentence(self, &TimeZone::UTC, Declared::for_event(self))
    }

    /// [`Event::describe`] by the declarations of the payload type `P`
    /// ([`AuditPayload::STATED_PATHS`], [`AuditPayload::MONEY`]) when the event has `P`'s
    /// action: how an app describes events of its own payload types, which the event alone
    /// cannot name. An event of another action is described as [`Event::describe`] does.
    ///
    /// ```
    /// # fn main() -> auditkit::Result<()> {
    /// use auditkit::{Actor, AuditPayload, AuditTrail, MemoryStore, Money, NewEvent, Target};
    /// use serde_json::json;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Refund { amount: i64, currency: String }
    ///
    /// impl AuditPayload for Refund {
    ///     const ACTION: &'static str = "payment.refunded";
    ///     const MONEY: &'static [Money] = &[
    ///         Money::new("amount", "currency"),
    ///         Money::new("refunded_cents", "currency"),
    ///     ];
    /// }
    ///
    /// let trail = AuditTrail::new(MemoryStore::new());
    /// let e = trail.record(
    ///     NewEvent::typed(&Refund { amount: 2000, currency: "EUR".into() })
    ///         .actor(Actor::user("u-1").name("Sam").role("staff"))
    ///         .target(Target::new("order", "o-1").label("Order #1001"))
    ///         .before(json!({"refunded_cents": 0}))
    ///         .after(json!({"refunded_cents": 2000})),
    /// )?;
    /// assert_eq!(
    ///     e.describe_as::<Refund>(),
    ///     "Sam (staff) refunded €20.00 for Order #1001, changing refunded_cents from €0.00 to €20.00"
    /// );
    /// # Ok(()) }
    /// ```
    pub fn describe_as<P: AuditPayload>(&self) -> String {
        sentence(self, &TimeZone::UTC, Declared::as_payload::<P>(self))
    }

    /// [`Event::describe`] for a business in the IANA time zone `zone` (such as
    /// `Europe/Berlin`), daylight-saving time included, with when it happened both exactly
    /// and relative to `now`.
    ///
    /// ```
    /// # fn main() -> auditkit::Result<()> {
    /// # use auditkit::{Actor, AuditTrail, MemoryStore, NewEvent, Target};
    /// use time::macros::datetime;
    /// # let trail = AuditTrail::new(MemoryStore::new());
    /// let e = trail.record(
    ///     NewEvent::new("booking.cancelled")
    ///         .actor(Actor::customer("c-9").name("Alex Doe"))
    ///         .target(Target::new("booking", "b-1").label("Massage"))
    ///         .occurred_at(datetime!(2026-07-01 08:00 UTC)),
    /// )?;
    /// let d = e.describe_in("Europe/Berlin", datetime!(2026-07-01 10:30 UTC))?;
    /// assert_eq!(d.sentence, "Alex Doe (customer) cancelled Massage");
    /// assert_eq!(d.at, "Wed 1 Jul 2026 10:00 CEST");
    /// assert_eq!(d.relative, "2 hours ago");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] (field `zone`) when `zone` is not a known IANA zone name.
    pub fn describe_in(&self, zone: &str, now: OffsetDateTime) -> Result<Description> {
        self.description(zone, now, Declared::for_event(self))
    }

    /// [`Event::describe_in`] by the declarations of the payload type `P`, as
    /// [`Event::describe_as`] describes.
    ///
    /// # Errors
    /// As [`Event::describe_in`].
    pub fn describe_in_as<P: AuditPayload>(
        &self,
        zone: &str,
        now: OffsetDateTime,
    ) -> Result<Description> {
        self.description(zone, now, Declared::as_payload::<P>(self))
    }

    fn description(
        &self,
        zone: &str,
        now: OffsetDateTime,
        declared: Option<Declared>,
    ) -> Result<Description> {
        let tz = zone::get(zone)?;
        let at = zone::timestamp(self.occurred_at).to_zoned(tz.clone());
        Ok(Description {
            sentence: sentence(self, &tz, declared),
            at: at.strftime("%a %-d %b %Y %H:%M %Z").to_string(),
            relative: relative(zone::timestamp(self.occurred_at), zone::timestamp(now), &tz),
        })
    }
}

/// When `then` was, seen from `now`, in words; calendar days are counted in `tz`.
pub(crate) fn relative(then: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let secs = (now.as_microsecond() - then.as_microsecond()) / 1_000_000;
    let past = secs >= 0;
    let say = |n: i64, unit: &str| {
        let unit = if n == 1 {
            unit.to_owned()
        } else {
            format!("{unit}s")
        };
        if past {
            format!("{n} {unit} ago")
        } else {
            format!("in {n} {unit}")
        }
    };
    let a = secs.abs();
    if a < 60 {
        return "just now".into();
    }
    if a < 3_600 {
        return say(a / 60, "minute");
    }
    if a < 86_400 {
        return say(a / 3_600, "hour");
    }
    let (d_then, d_now) = (
        then.to_zoned(tz.clone()).date(),
        now.to_zoned(tz.clone()).date(),
    );
    let (early, late) = if past {
        (d_then, d_now)
    } else {
        (d_now, d_then)
    };
    let days = early
        .until((Unit::Day, late))
        .map_or(a / 86_400, |s| i64::from(s.get_days()));
    match days {
        // 24 hours or more within one calendar day: the 25-hour day when clocks go back.
        0 => say(a / 3_600, "hour"),
        1 if past => "yesterday".into(),
        1 => "tomorrow".into(),
        2..=6 => say(days, "day"),
        7..=29 => say(days / 7, "week"),
        _ => {
            let months = early
                .until((Unit::Month, late))
                .map_or(days / 30, |s| i64::from(s.get_months()))
                .max(1);
            if months < 12 {
                say(months, "month")
            } else {
                say(months / 12, "year")
            }
        }
    }
}

/// What a payload type declares about describing its events; `None` where an event is
/// described by key names (it was not recorded from a typed payload).
#[derive(Debug, Clone, Copy)]
struct Declared {
    stated: &'static [&'static str],
    money: &'static [Money],
}

impl Declared {
    /// The vocabulary's declarations for an event recorded from a typed payload of its
    /// action. The event names no type, so a vocabulary action is taken to be the
    /// vocabulary's payload; an app's own type is named with [`Event::describe_as`].
    fn for_event(e: &Event) -> Option<Declared> {
        e.payload_version?;
        vocab::entry(&e.action).map(|v| Declared {
            stated: v.stated_paths,
            money: v.money,
        })
    }

    fn as_payload<P: AuditPayload>(e: &Event) -> Option<Declared> {
        if e.action == P::ACTION {
            Some(Declared {
                stated: P::STATED_PATHS,
                money: P::MONEY,
            })
        } else {
            Declared::for_event(e)
        }
    }

    /// True when the sentence states the change at `path`: a stated path is it or above it.
    fn states(&self, path: &str) -> bool {
        changes::with_ancestors(path)
            .iter()
            .any(|p| self.stated.contains(p))
    }
}

/// Which of an event's values a value shown comes from: a currency is looked up on the same
/// side first, so a change from euros to dollars shows each amount in its own.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// A payload (context) field, as the template shows it.
    Context,
    /// A change's old value, from `before`.
    Old,
    /// A change's new value, from `after`.
    New,
}

/// The whole sentence for `e` with times in `tz`.
fn sentence(e: &Event, tz: &TimeZone, declared: Option<Declared>) -> String {
    let mut r = Renderer {
        e,
        tz,
        declared,
        used: Vec::new(),
    };
    let who = who_acted(&e.actor);
    let entry = vocab::entry(&e.action);
    let (ok_tpl, fail_tpl) = match entry.map(|v| v.template) {
        Some(t) => match t.split_once('|') {
            Some((ok, fail)) => (Some(ok), Some(fail)),
            None => (Some(t), None),
        },
        None => (None, None),
    };
    let reason = match &e.outcome {
        Outcome::Failure { reason } => Some(reason.as_str()),
        _ => None,
    };
    let tpl = if reason.is_some() {
        fail_tpl.or(ok_tpl)
    } else {
        ok_tpl
    };
    let filled = tpl.and_then(|t| r.fill(t));
    let template_used = filled.is_some();
    let mut out = match filled {
        Some(text) => format!("{who} {text}"),
        None => {
            // Not in the vocabulary, or its template lacks a value it needs.
            let what = entry.map_or(e.action.as_str(), |v| v.description);
            match &e.target {
                Some(t) => format!("{who} — {what}: {}", t.display_name()),
                None => format!("{who} — {what}"),
            }
        }
    };
    if !r.used.iter().any(|k| k == "reason") {
        if let Some(why) = r.value("reason") {
            out.push_str(&format!(" (reason: {why})"));
        }
    }
    out.push_str(&r.changes());
    if let Some(reason) = reason {
        if fail_tpl.is_some() && template_used {
            out.push_str(&format!(": {reason}"));
        } else {
            out.push_str(&format!(" — failed: {reason}"));
        }
    }
    out
}

/// `Sarah (staff)`, `Alex Doe (customer)`, `System`, `Support agent Tom as Alex Doe (customer)`.
fn who_acted(a: &Actor) -> String {
    let name = match a.kind {
        ActorKind::System => a.name.clone().unwrap_or_else(|| "System".into()),
        ActorKind::Anonymous => a
            .name
            .clone()
            .or_else(|| a.email.clone())
            .unwrap_or_else(|| "Someone".into()),
        _ => a.display_name().to_owned(),
    };
    let role = match (&a.role, a.kind) {
        (Some(r), _) => Some(r.as_str()),
        (None, ActorKind::Customer) => Some("customer"),
        (None, ActorKind::Service) => Some("integration"),
        _ => None,
    };
    let me = match role {
        Some(r) => format!("{name} ({r})"),
        None => name,
    };
    match &a.impersonator {
        Some(by) => {
            let by_name = by.display_name();
            match &by.role {
                Some(r) => format!("{} {by_name} as {me}", capitalize(r)),
                None => format!("{by_name} as {me}"),
            }
        }
        None => me,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

struct Renderer<'a> {
    e: &'a Event,
    tz: &'a TimeZone,
    /// The payload type's declarations; `None` describes by key names.
    declared: Option<Declared>,
    /// Keys a filled template showed, so they are not repeated.
    used: Vec<String>,
}

impl Renderer<'_> {
    /// `tpl` with its placeholders filled; `None` when a value outside `[...]` is missing.
    fn fill(&mut self, tpl: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = tpl;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']')?;
                if let Some(part) = self.fill_part(&r[..end]) {
                    out.push_str(&part);
                }
                rest = &r[end + 1..];
            } else {
                let end = rest.find('[').unwrap_or(rest.len());
                out.push_str(&self.fill_part(&rest[..end])?);
                rest = &rest[end..];
            }
        }
        Some(out)
    }

    /// `part` with every `{key}` replaced, or `None` if any value is missing.
    fn fill_part(&mut self, part: &str) -> Option<String> {
        let mut out = String::new();
        let mut keys = Vec::new();
        let mut rest = part;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = open + rest[open..].find('}')?;
            let key = &rest[open + 1..close];
            out.push_str(&self.value(key)?);
            keys.push(key.to_owned());
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        self.used.extend(keys);
        Some(out)
    }

    /// The text of the value named `key`: `target`, `ip`, or a context (else `after`) key.
    fn value(&self, key: &str) -> Option<String> {
        let e = self.e;
        match key {
            "target" => return e.target.as_ref().map(|t| t.display_name()),
            "ip" => return e.request.as_ref().and_then(|r| r.ip.clone()),
            _ => {}
        }
        let v = e
            .context
            .get(key)
            .or_else(|| e.after.as_ref().and_then(|a| a.get(key)))?;
        self.text(key, v, Side::Context)
    }

    /// For a number at `path`: `Some(currency)` when it is money, `None` when it is not.
    fn money_at(&self, path: &str, side: Side) -> Option<Option<&str>> {
        let Some(d) = self.declared else {
            return is_money(last_key(path)).then(|| self.untyped_currency());
        };
        let m = d.money.iter().find(|m| m.covers(path))?;
        Some(match m.currency() {
            Currency::Code(code) => Some(code),
            Currency::Field(at) => self.currency_at(at, side),
        })
    }

    /// The currency that goes with amounts in an event described by key names.
    fn untyped_currency(&self) -> Option<&str> {
        let e = self.e;
        e.context
            .get("currency")
            .or_else(|| e.after.as_ref().and_then(|a| a.get("currency")))
            .or_else(|| e.before.as_ref().and_then(|a| a.get("currency")))
            .and_then(Value::as_str)
    }

    /// The ISO 4217 code at `path`: on `side` first, then the payload, then the other side.
    fn currency_at(&self, path: &str, side: Side) -> Option<&str> {
        let e = self.e;
        let context = || changes::get_in(&e.context, path);
        let before = || e.before.as_ref().and_then(|v| changes::get(v, path));
        let after = || e.after.as_ref().and_then(|v| changes::get(v, path));
        match side {
            Side::Context => context().or_else(after).or_else(before),
            Side::New => after().or_else(context).or_else(before),
            Side::Old => before().or_else(context).or_else(after),
        }
        .and_then(Value::as_str)
    }

    fn text(&self, path: &str, v: &Value, side: Side) -> Option<String> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(if *b { "yes" } else { "no" }.into()),
            Value::Number(n) => Some(match (n.as_i64(), self.money_at(path, side)) {
                (Some(minor), Some(currency)) => money(minor, currency),
                _ => n.to_string(),
            }),
            Value::String(s) => Some(match s.parse::<Timestamp>() {
                Ok(t) => {
                    let t = t.to_zoned(self.tz.clone());
                    let year = zone::timestamp(self.e.occurred_at)
                        .to_zoned(self.tz.clone())
                        .year();
                    // The year only when it is not the event's own: short, never ambiguous.
                    let fmt = if t.year() == year {
                        "%a %-d %b %H:%M"
                    } else {
                        "%a %-d %b %Y %H:%M"
                    };
                    t.strftime(fmt).to_string()
                }
                Err(_) => s.clone(),
            }),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| self.text(path, i, side))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Value::Object(_) => Some(v.to_string()),
        }
    }

    /// `, changing start from A to B and price from €40.00 to €45.00` for the changes whose
    /// field the sentence did not show.
    fn changes(&self) -> String {
        let left: Vec<_> = self
            .e
            .changes
            .iter()
            .filter(|c| !self.used.contains(&c.path))
            .filter(|c| !self.declared.is_some_and(|d| d.states(&c.path)))
            .collect();
        let shown: Vec<String> = left
            .iter()
            .map(|c| {
                let show =
                    |v: &Option<Value>, side| v.as_ref().and_then(|v| self.text(&c.path, v, side));
                let path = if c.path.is_empty() {
                    "the value"
                } else {
                    &c.path
                };
                match (show(&c.old, Side::Old), show(&c.new, Side::New)) {
                    (Some(o), Some(n)) => format!("{path} from {o} to {n}"),
                    (None, Some(n)) => format!("{path} to {n}"),
                    (Some(o), None) => format!("{path} from {o} to nothing"),
                    (None, None) => path.to_owned(),
                }
            })
            .collect();
        let all_new = left.iter().all(|c| c.old.is_none() && c.new.is_some());
        let verb = if all_new { "setting" } else { "changing" };
        match shown.len() {
            0 => String::new(),
            n if n <= MAX_CHANGES_SHOWN => format!(", {verb} {}", join_and(&shown)),
            n => format!(
                ", {verb} {} and {} more fields",
                shown[..MAX_CHANGES_SHOWN - 1].join(", "),
                n - (MAX_CHANGES_SHOWN - 1)
            ),
        }
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The last key of a change path: `price` for `items[2].price`, `items` for `items[2]`.
fn last_key(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or_default()
}

/// Keys whose integer values are money in minor units, for events described by key names.
fn is_money(key: &str) -> bool {
    key == "amount"
        || key.ends_with("_amount")
        || key == "price"
        || key.ends_with("_price")
        || key == "total"
}

/// `minor` units of `currency` as text: `€45.00`, `-$3.50`, `45.00 CHF`, `¥4500`.
pub(crate) fn money(minor: i64, currency: Option<&str>) -> String {
    let code = currency.map(str::to_ascii_uppercase);
    let digits: u32 = match code.as_deref() {
        Some(
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
            | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF",
        ) => 0,
        Some("BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND") => 3,
        _ => 2,
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let number = if digits == 0 {
        abs.to_string()
    } else {
        let scale = 10u64.pow(digits);
        format!(
            "{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = digits as usize
        )
    };
    match code.as_deref() {
        Some("EUR") => format!("{sign}€{number}"),
        Some("USD") => format!("{sign}${number}"),
        Some("GBP") => format!("{sign}£{number}"),
        Some("JPY") => format!("{sign}¥{number}"),
        Some(c) => format!("{sign}{number} {c}"),
        None => format!("{sign}{number}"),
    }
}
