//! [`Query`] to a SQL `WHERE` and `ORDER BY`, one predicate per filter, each served by an index.

use super::{Dialect, Param};
use crate::query::{ActionPattern, OutcomeFilter, Query, SortOrder};

/// Builds SQL text and its parameters together so placeholders always line up.
pub(crate) struct SqlBuilder<'d> {
    dialect: &'d Dialect,
    pub(crate) params: Vec<Param>,
}

impl<'d> SqlBuilder<'d> {
    pub(crate) fn new(dialect: &'d Dialect) -> Self {
        SqlBuilder {
            dialect,
            params: Vec::new(),
        }
    }

    /// Binds `p` and returns its placeholder.
    pub(crate) fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        (self.dialect.placeholder)(self.params.len())
    }

    /// The `WHERE ...` clause (or an empty string) for `q`'s filters and cursor, on the
    /// events table aliased `e`.
    pub(crate) fn where_clause(&mut self, q: &Query) -> String {
        let mut preds: Vec<String> = Vec::new();
        let text = |s: &str| Param::Text(s.to_owned());
        if let Some(t) = q.tenant_filter() {
            preds.push(format!("e.tenant = {}", self.bind(text(t))));
        }
        let (from, to) = q.micros_range();
        if let Some(f) = from {
            preds.push(format!("e.occurred_at >= {}", self.bind(Param::Int(f))));
        }
        if let Some(t) = to {
            preds.push(format!("e.occurred_at < {}", self.bind(Param::Int(t))));
        }
        if let Some(c) = q.cursor() {
            let op = match q.order() {
                SortOrder::NewestFirst => "<",
                SortOrder::OldestFirst => ">",
            };
            let t = self.bind(Param::Int(c.occurred_at_micros()));
            let s = self.bind(Param::Int(c.seq() as i64));
            preds.push(format!("(e.occurred_at, e.seq) {op} ({t}, {s})"));
        }
        if let Some(a) = q.actor_filter() {
            preds.push(format!("e.actor_id = {}", self.bind(text(a))));
        }
        if let Some(k) = q.actor_kind_filter() {
            preds.push(format!("e.actor_kind = {}", self.bind(text(k.as_str()))));
        }
        let actions = q.action_filters();
        if !actions.is_empty()
            && !actions
                .iter()
                .any(|a| matches!(a, ActionPattern::Prefix(p) if p.is_empty()))
        {
            let alts: Vec<String> = actions
                .iter()
                .map(|a| match a {
                    ActionPattern::Exact(x) => format!("e.action = {}", self.bind(text(x))),
                    // `booking.` ≤ action < `booking/`: a range the action index serves
                    // (`/` follows `.` in every collation), with no LIKE escaping to get wrong.
                    ActionPattern::Prefix(p) => {
                        let upper = format!("{}/", &p[..p.len() - 1]);
                        let lo = self.bind(text(p));
                        let hi = self.bind(Param::Text(upper));
                        format!("(e.action >= {lo} AND e.action < {hi})")
                    }
                })
                .collect();
            preds.push(format!("({})", alts.join(" OR ")));
        }
        if let Some((k, i)) = q.target_filter() {
            let k = self.bind(text(k));
            let i = self.bind(text(i));
            preds.push(format!("e.target_kind = {k} AND e.target_id = {i}"));
        }
        if let Some(k) = q.target_kind_filter() {
            preds.push(format!("e.target_kind = {}", self.bind(text(k))));
        }
        if let Some((k, i)) = q.involving_filter() {
            let k = self.bind(text(k));
            let i = self.bind(text(i));
            preds.push(format!(
                "e.seq IN (SELECT t.seq FROM auditkit_event_targets t WHERE t.kind = {k} AND t.id = {i})"
            ));
        }
        if let Some(s) = q.source_filter() {
            preds.push(format!("e.source = {}", self.bind(text(s.as_str()))));
        }
        match q.outcome_filter() {
            Some(OutcomeFilter::Success) => preds.push("e.failure IS NULL".into()),
            Some(OutcomeFilter::Failure) => preds.push("e.failure IS NOT NULL".into()),
            _ => {}
        }
        if let Some(p) = q.changed_filter() {
            preds.push(format!(
                "e.seq IN (SELECT c.seq FROM auditkit_event_changes c WHERE c.path = {})",
                self.bind(text(p))
            ));
        }
        if let Some(words) = q.search_words() {
            let param = (self.dialect.search_param)(&words);
            let ph = self.bind(Param::Text(param));
            preds.push((self.dialect.search)(&ph));
        }
        if preds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", preds.join(" AND "))
        }
    }
}

/// The `ORDER BY` for `q`.
pub(crate) fn order_by(q: &Query) -> &'static str {
    match q.order() {
        SortOrder::NewestFirst => " ORDER BY e.occurred_at DESC, e.seq DESC",
        SortOrder::OldestFirst => " ORDER BY e.occurred_at ASC, e.seq ASC",
    }
}
