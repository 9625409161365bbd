//! The viewer's filters, from a URL's query string to a [`Query`] held to what the viewer may
//! read.

use serde::Deserialize;
use time::{Date, Month};

use crate::query::{Cursor, Query};
use crate::{Error, Result};

/// Rows per page of the audit log.
pub(super) const PAGE_ROWS: usize = 50;

/// What the audit log page and its CSV and JSON twins are filtered by, as the form sends it.
/// Every field is text, checked here, so a hand-edited URL gets a clear refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    pub(super) from: String,
    #[serde(default)]
    pub(super) to: String,
    #[serde(default)]
    pub(super) actor: String,
    #[serde(default)]
    pub(super) action: String,
    #[serde(default)]
    pub(super) q: String,
    /// Only for a viewer of every tenant; a viewer of one tenant is held to it whatever
    /// this says.
    #[serde(default)]
    pub(super) tenant: String,
    #[serde(default)]
    pub(super) after: String,
}

impl Filters {
    /// The query these filters ask for, in `zone`'s calendar (cursor and page size
    /// included when `paged`).
    pub(super) fn query(&self, zone: &str, paged: bool) -> Result<Query> {
        let mut q = Query::new();
        let from = day("from", &self.from)?;
        let to = day("to", &self.to)?;
        if from.is_some() || to.is_some() {
            let first = from.unwrap_or_else(|| date(1970, Month::January, 1));
            let last = to.unwrap_or_else(|| date(9999, Month::December, 30));
            q = q.between_local_days(first, last, zone);
        }
        if let Some(a) = nonempty(&self.actor) {
            q = q.actor(a);
        }
        if let Some(a) = nonempty(&self.action) {
            q = q.action(a);
        }
        if let Some(words) = nonempty(&self.q) {
            q = q.search(words);
        }
        if let Some(t) = nonempty(&self.tenant) {
            q = q.tenant(t);
        }
        if paged {
            q = q.limit(PAGE_ROWS);
            if let Some(c) = nonempty(&self.after) {
                q = q.after(c.parse::<Cursor>()?);
            }
        }
        Ok(q)
    }

    /// These filters as a query string (without the cursor), for links and the download.
    pub(super) fn to_query_string(&self) -> String {
        let pairs = [
            ("from", &self.from),
            ("to", &self.to),
            ("actor", &self.actor),
            ("action", &self.action),
            ("q", &self.q),
            ("tenant", &self.tenant),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", percent(v.trim())))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

fn date(y: i32, m: Month, d: u8) -> Date {
    Date::from_calendar_date(y, m, d).unwrap_or(Date::MIN)
}

/// A `YYYY-MM-DD` day, as an `<input type="date">` sends it.
fn day(field: &str, text: &str) -> Result<Option<Date>> {
    let Some(text) = nonempty(text) else {
        return Ok(None);
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map(Some)
        .map_err(|_| Error::invalid(field, format!("{text:?} is not a day such as 2026-03-28")))
}

/// `s` percent-encoded for a URL's query string: everything but unreserved characters.
pub(super) fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_a_query_and_bad_ones_an_error() {
        let f = Filters {
            from: "2026-03-28".into(),
            action: "booking.*".into(),
            q: "haircut".into(),
            ..Filters::default()
        };
        assert!(f.query("Europe/Berlin", true).is_ok());
        let bad = Filters {
            from: "28/03/2026".into(),
            ..Filters::default()
        };
        let err = bad.query("UTC", true).unwrap_err();
        assert!(err.to_string().contains("from"), "{err}");
        let bad = Filters {
            after: "not-a-cursor".into(),
            ..Filters::default()
        };
        assert!(bad.query("UTC", true).is_err());
        assert_eq!(
            Filters {
                q: "a&b c".into(),
                after: "x".into(),
                ..Filters::default()
            }
            .to_query_string(),
            "q=a%26b%20c"
        );
    }
}
