//! Streaming exports: CSV for spreadsheets, JSON Lines for machines.

use std::io::Write;

use crate::integrity::canonical;
use crate::model::event::{Event, Outcome};
use crate::query::Query;
use crate::store::AuditStore;
use crate::trail::AuditTrail;
use crate::{Error, Result};

/// The CSV header, in order.
pub const CSV_COLUMNS: [&str; 17] = [
    "seq",
    "occurred_at",
    "recorded_at",
    "tenant",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_role",
    "source",
    "action",
    "outcome",
    "target_kind",
    "target_id",
    "target_label",
    "changes",
    "context",
    "hash",
];

/// Makes a cell safe to open in a spreadsheet: text starting with `=`, `+`, `-`, `@`, tab or
/// carriage return would run as a formula, so it gets a leading `'`.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn csv_row(e: &Event) -> Result<Vec<String>> {
    let changes =
        serde_json::to_value(&e.changes).map_err(|err| Error::storage(err.to_string()))?;
    let target = e.target.as_ref();
    let cells = vec![
        e.seq.to_string(),
        rfc3339(e.occurred_at),
        rfc3339(e.recorded_at),
        e.tenant.clone().unwrap_or_default(),
        e.actor.kind.to_string(),
        e.actor.id.clone(),
        e.actor.name.clone().unwrap_or_default(),
        e.actor.role.clone().unwrap_or_default(),
        e.source.to_string(),
        e.action.clone(),
        match &e.outcome {
            Outcome::Success => "success".to_owned(),
            Outcome::Failure { reason } => format!("failure: {reason}"),
        },
        target.map(|t| t.kind.clone()).unwrap_or_default(),
        target.map(|t| t.id.clone()).unwrap_or_default(),
        target.and_then(|t| t.label.clone()).unwrap_or_default(),
        canonical::json(&changes),
        canonical::json(&serde_json::Value::Object(e.context.clone())),
        e.hash_hex(),
    ];
    Ok(cells
        .into_iter()
        .map(|c| neutralize(&c).into_owned())
        .collect())
}

impl<S: AuditStore> AuditTrail<S> {
    /// Writes every event matching `query` as CSV (header first, columns [`CSV_COLUMNS`]),
    /// streaming: the query's limit is ignored and memory stays bounded. Cells that a
    /// spreadsheet would run as formulas are neutralised with a leading `'`.
    ///
    /// Returns the number of events written.
    ///
    /// # Errors
    /// As [`AuditTrail::query`], or [`Error::Io`] when writing fails.
    pub fn export_csv<W: Write>(&self, query: &Query, out: W) -> Result<u64> {
        let mut w = csv::Writer::from_writer(out);
        let csv_err = |e: csv::Error| match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::from(io),
            other => Error::storage(format!("csv: {other:?}")),
        };
        w.write_record(CSV_COLUMNS).map_err(csv_err)?;
        let mut n = 0;
        let rows = |page: Vec<crate::SealedEvent>| -> Result<Vec<Vec<String>>> {
            page.iter().map(|s| csv_row(&s.decode()?)).collect()
        };
        crate::trail::pages::for_each_page(self.store(), query, rows, |rows| {
            for row in rows {
                n += 1;
                w.write_record(row).map_err(csv_err)?;
            }
            Ok(())
        })?;
        w.flush()?;
        Ok(n)
    }

    /// Writes every event matching `query` as JSON Lines (one [`Event`] per line, as its serde
    /// form), streaming. Returns the number of events written.
    ///
    /// # Errors
    /// As [`AuditTrail::query`], or [`Error::Io`] when writing fails.
    pub fn export_jsonl<W: Write>(&self, query: &Query, out: W) -> Result<u64> {
        let mut w = std::io::BufWriter::new(out);
        let mut n = 0;
        // Each page is decoded and serialised on the worker that read it.
        let lines = |page: Vec<crate::SealedEvent>| -> Result<(u64, Vec<u8>)> {
            let mut buf = Vec::with_capacity(page.len() * 1024);
            for s in &page {
                serde_json::to_writer(&mut buf, &s.decode()?)
                    .map_err(|err| Error::storage(err.to_string()))?;
                buf.push(b'\n');
            }
            Ok((page.len() as u64, buf))
        };
        crate::trail::pages::for_each_page(self.store(), query, lines, |(count, bytes)| {
            n += count;
            Ok(w.write_all(&bytes)?)
        })?;
        w.flush()?;
        Ok(n)
    }
}
