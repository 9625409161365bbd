//! [`GroupBy`] counts in SQL, shared by the SQL stores: `GROUP BY` on indexed columns, and
//! per local day with the zone's UTC offsets worked out in Rust.

use super::codec::RowAccess;
use super::filter::SqlBuilder;
use super::{Dialect, Param};
use crate::query::summary::{self, GroupBy};
use crate::query::Query;
use crate::{model::zone, Error, Result};

/// Runs `sql` with `params` and calls the callback on each result row.
pub(crate) type Exec<'a> =
    dyn FnMut(&str, &[Param], &mut dyn FnMut(&dyn RowAccess) -> Result<()>) -> Result<()> + 'a;

/// Constant-offset spans per statement: bounds the statement size for queries over decades.
const SPANS_PER_STATEMENT: usize = 48;

fn count(row: &dyn RowAccess, idx: usize) -> Result<u64> {
    let n = row.int(idx)?.unwrap_or(0);
    u64::try_from(n).map_err(|_| Error::corrupt(format!("a count of {n} rows")))
}

/// Counts of events matching `q` per key of `by` (unmerged, unsorted: the trail does that).
pub(crate) fn summarize(
    dialect: &Dialect,
    q: &Query,
    by: &GroupBy,
    exec: &mut Exec<'_>,
) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let column = match by {
        GroupBy::Action => "e.action",
        GroupBy::Actor => "e.actor_id",
        GroupBy::Day(_) => return per_day(dialect, q, by, exec),
    };
    let mut b = SqlBuilder::new(dialect);
    let filter = b.where_clause(q);
    let sql = format!("SELECT {column}, COUNT(*) FROM auditkit_events e{filter} GROUP BY {column}");
    exec(&sql, &b.params, &mut |row| {
        let key = row
            .text(0)?
            .ok_or_else(|| Error::corrupt(format!("{column} is NULL")))?
            .to_owned();
        out.push((key, count(row, 1)?));
        Ok(())
    })?;
    Ok(out)
}

/// Per local day: the zone's offset is constant between two transitions, so each such span
/// of `occurred_at` (an index range) is grouped by `(occurred_at + offset) / day`. The spans
/// cover only the matching events' time range, found first.
fn per_day(
    dialect: &Dialect,
    q: &Query,
    by: &GroupBy,
    exec: &mut Exec<'_>,
) -> Result<Vec<(String, u64)>> {
    let tz = summary::zone_of(by)?.unwrap_or(jiff::tz::TimeZone::UTC);
    let mut b = SqlBuilder::new(dialect);
    let filter = b.where_clause(q);
    let sql =
        format!("SELECT MIN(e.occurred_at), MAX(e.occurred_at) FROM auditkit_events e{filter}");
    let mut range = None;
    exec(&sql, &b.params, &mut |row| {
        if let (Some(lo), Some(hi)) = (row.int(0)?, row.int(1)?) {
            range = Some((lo, hi));
        }
        Ok(())
    })?;
    let Some((lo, hi)) = range else {
        return Ok(Vec::new());
    };
    let spans = zone::offset_spans(&tz, lo, hi + 1);
    let mut out = Vec::new();
    for chunk in spans.chunks(SPANS_PER_STATEMENT) {
        let mut b = SqlBuilder::new(dialect);
        let selects: Vec<String> = chunk
            .iter()
            .map(|&(start, end, offset)| {
                let filter = b.where_clause(q);
                let joiner = if filter.is_empty() { " WHERE" } else { " AND" };
                let s = b.bind(Param::Int(start));
                let t = b.bind(Param::Int(end));
                let o = b.bind(Param::Int(offset));
                // `+ day ... - 1` keeps the dividend positive (offsets are above -1 day), so
                // integer division floors in every engine.
                format!(
                    "SELECT (e.occurred_at + {o} + {day}) / {day} - 1, COUNT(*) FROM auditkit_events e\
                     {filter}{joiner} e.occurred_at >= {s} AND e.occurred_at < {t} GROUP BY 1",
                    day = zone::DAY_MICROS
                )
            })
            .collect();
        exec(&selects.join(" UNION ALL "), &b.params, &mut |row| {
            let day = row.int(0)?.ok_or_else(|| Error::corrupt("a NULL day"))?;
            out.push((zone::day_key(day), count(row, 1)?));
            Ok(())
        })?;
    }
    Ok(out)
}
