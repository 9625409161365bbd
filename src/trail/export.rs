//! Streaming exports: CSV for spreadsheets, JSON Lines for machines.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use jiff::tz::TimeZone;

use crate::integrity::canonical;
use crate::model::event::{Event, Outcome, Target};
use crate::model::zone;
use crate::query::Query;
use crate::store::AuditStore;
use crate::trail::AuditTrail;
use crate::{Error, Result};

/// Declares [`CsvColumn`] from one list, `Variant = "header name": "doc"`, so the header
/// names, [`CsvColumn::ALL`] and parsing can never disagree.
macro_rules! csv_columns {
    ($($variant:ident = $name:literal: $doc:literal,)+) => {
        /// A column of a CSV export, for [`CsvOptions::columns`].
        ///
        /// Its text form ([`CsvColumn::name`], `Display`, `FromStr`) is the header name, such
        /// as `occurred_at_local`, so a column list can come from a URL or a config file:
        ///
        /// ```
        /// # use auditkit::CsvColumn;
        /// let columns: Vec<CsvColumn> = "seq,occurred_at_local,action"
        ///     .split(',')
        ///     .map(str::parse)
        ///     .collect::<auditkit::Result<_>>()?;
        /// assert_eq!(columns[1], CsvColumn::OccurredAtLocal);
        /// assert!("occured_at".parse::<CsvColumn>().unwrap_err().is_invalid());
        /// # Ok::<(), auditkit::Error>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum CsvColumn {
            $(#[doc = concat!("`", $name, "`: ", $doc)] $variant,)+
        }

        impl CsvColumn {
            /// Every column, in the order of this list (the pinned [`CSV_COLUMNS`] first).
            pub const ALL: &'static [CsvColumn] = &[$(CsvColumn::$variant,)+];

            /// The column's header name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(CsvColumn::$variant => $name,)+
                }
            }
        }
    };
}

csv_columns! {
    Seq = "seq": "position in the chain.",
    OccurredAt = "occurred_at": "when it happened, RFC 3339 in UTC.",
    RecordedAt = "recorded_at": "when it was recorded, RFC 3339 in UTC.",
    Tenant = "tenant": "the business, clinic or organization.",
    ActorKind = "actor_kind": "`user`, `customer`, `system`, `service` or `anonymous`.",
    ActorId = "actor_id": "the actor's id.",
    ActorName = "actor_name": "the actor's name.",
    ActorRole = "actor_role": "the actor's role.",
    Source = "source": "where the action came from (`web`, `api`, ...).",
    Action = "action": "the dotted action name.",
    Outcome = "outcome": "`success`, or `failure: ` and the reason.",
    TargetKind = "target_kind": "the target's kind.",
    TargetId = "target_id": "the target's id.",
    TargetLabel = "target_label": "the target's label.",
    Changes = "changes": "the changes, as canonical JSON.",
    Context = "context": "the context, as canonical JSON.",
    Hash = "hash": "the event's chain hash, in hex.",
    OccurredAtLocal = "occurred_at_local": "`occurred_at` in the export's zone with its offset, \
        as `2026-03-28 10:00:00 +01:00` (needs [`CsvOptions::zone`]).",
    RecordedAtLocal = "recorded_at_local": "`recorded_at` in the export's zone, as \
        `occurred_at_local` (needs [`CsvOptions::zone`]).",
    ClientIp = "client_ip": "the request's client IP ([`crate::RequestContext::ip`]).",
    UserAgent = "user_agent": "the request's user agent.",
    RequestId = "request_id": "the request or correlation id.",
    Related = "related": "the related targets as `kind:id`, separated by `; `.",
    RelatedLabels = "related_labels": "the related targets' labels, in the order of `related`, \
        separated by `; ` (empty for a target without one).",
    Id = "id": "the event's id (a UUID).",
    ActorEmail = "actor_email": "the actor's email address.",
}

impl CsvColumn {
    /// The columns of [`AuditTrail::export_csv`], in order, as [`CSV_COLUMNS`] names them.
    pub const DEFAULT: [CsvColumn; 17] = [
        CsvColumn::Seq,
        CsvColumn::OccurredAt,
        CsvColumn::RecordedAt,
        CsvColumn::Tenant,
        CsvColumn::ActorKind,
        CsvColumn::ActorId,
        CsvColumn::ActorName,
        CsvColumn::ActorRole,
        CsvColumn::Source,
        CsvColumn::Action,
        CsvColumn::Outcome,
        CsvColumn::TargetKind,
        CsvColumn::TargetId,
        CsvColumn::TargetLabel,
        CsvColumn::Changes,
        CsvColumn::Context,
        CsvColumn::Hash,
    ];

    /// The columns [`CsvOptions::zone`] adds.
    const LOCAL: [CsvColumn; 2] = [CsvColumn::OccurredAtLocal, CsvColumn::RecordedAtLocal];
    /// The columns [`CsvOptions::request_context`] adds.
    const REQUEST: [CsvColumn; 3] = [
        CsvColumn::ClientIp,
        CsvColumn::UserAgent,
        CsvColumn::RequestId,
    ];
    /// The columns [`CsvOptions::related_targets`] adds.
    const RELATED: [CsvColumn; 2] = [CsvColumn::Related, CsvColumn::RelatedLabels];
}

impl fmt::Display for CsvColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CsvColumn {
    type Err = Error;

    /// The column with this header name (exactly, as [`CsvColumn::name`] gives it).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `column` and listing the known names.
    fn from_str(s: &str) -> Result<Self> {
        CsvColumn::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = CsvColumn::ALL.iter().map(|c| c.name()).collect();
                Error::invalid(
                    "column",
                    format!("{s:?} is not a CSV column; use one of {}", known.join(", ")),
                )
            })
    }
}

/// The CSV header of [`AuditTrail::export_csv`], in order (pinned: scripts read it).
pub const CSV_COLUMNS: [&str; 17] = {
    let mut names = [""; 17];
    let mut i = 0;
    while i < names.len() {
        names[i] = CsvColumn::DEFAULT[i].name();
        i += 1;
    }
    names
};

/// How [`AuditTrail::export_csv_with`] writes CSV: which columns, and the time zone of the
/// local-time columns. Built by value; the default is exactly [`AuditTrail::export_csv`].
///
/// Without [`CsvOptions::columns`], the export has the pinned columns ([`CSV_COLUMNS`]) in
/// their places, followed by the ones the options add, in this order: the local times
/// ([`CsvOptions::zone`]), the request context ([`CsvOptions::request_context`]), the related
/// targets ([`CsvOptions::related_targets`]). Appending keeps every pinned column at its
/// position, so a reader of the plain export reads the longer one unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct CsvOptions {
    zone: Option<String>,
    request_context: bool,
    related_targets: bool,
    columns: Option<Vec<CsvColumn>>,
}

impl CsvOptions {
    /// The plain export: the pinned columns, times in UTC.
    pub fn new() -> Self {
        Self::default()
    }

    /// The IANA time zone (such as `"Europe/Berlin"`) of the local-time columns
    /// `occurred_at_local` and `recorded_at_local`, which it adds after the pinned columns
    /// (the UTC columns stay). Local times carry their offset, so the hour that repeats when
    /// clocks fall back reads unambiguously. An unknown zone is [`Error::Invalid`] when the
    /// export runs.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// Adds the request context columns `client_ip`, `user_agent` and `request_id` (empty for
    /// events recorded without one). Default: off.
    pub fn request_context(mut self, on: bool) -> Self {
        self.request_context = on;
        self
    }

    /// Adds the columns `related` (the related targets as `kind:id`, separated by `; `) and
    /// `related_labels` (their labels, in the same order). Default: off.
    pub fn related_targets(mut self, on: bool) -> Self {
        self.related_targets = on;
        self
    }

    /// Exactly these columns, in this order, instead of the pinned set and what the other
    /// options add (the local-time columns still need [`CsvOptions::zone`]).
    ///
    /// When the export runs, an empty list, a column listed twice, a local-time column
    /// without a zone, or `columns` together with [`CsvOptions::request_context`] or
    /// [`CsvOptions::related_targets`] (list their columns here instead) is
    /// [`Error::Invalid`].
    pub fn columns<I: IntoIterator<Item = CsvColumn>>(mut self, columns: I) -> Self {
        self.columns = Some(columns.into_iter().collect());
        self
    }

    /// The columns an export with these options writes, in order.
    ///
    /// # Errors
    /// [`Error::Invalid`] for the combinations [`CsvOptions::columns`] lists.
    pub fn header(&self) -> Result<Vec<CsvColumn>> {
        let columns = match &self.columns {
            None => {
                let mut columns = CsvColumn::DEFAULT.to_vec();
                if self.zone.is_some() {
                    columns.extend(CsvColumn::LOCAL);
                }
                if self.request_context {
                    columns.extend(CsvColumn::REQUEST);
                }
                if self.related_targets {
                    columns.extend(CsvColumn::RELATED);
                }
                columns
            }
            Some(columns) => {
                if self.request_context || self.related_targets {
                    return Err(Error::invalid(
                        "columns",
                        "`columns` chooses every column, so `request_context` and \
                         `related_targets` have nothing to add; list their columns in \
                         `columns` instead",
                    ));
                }
                if columns.is_empty() {
                    return Err(Error::invalid(
                        "columns",
                        "the list is empty; name at least one column",
                    ));
                }
                for (i, c) in columns.iter().enumerate() {
                    if columns[..i].contains(c) {
                        return Err(Error::invalid(
                            "columns",
                            format!("`{c}` is listed twice; name each column once"),
                        ));
                    }
                }
                columns.clone()
            }
        };
        if self.zone.is_none() {
            if let Some(c) = columns.iter().find(|c| CsvColumn::LOCAL.contains(c)) {
                return Err(Error::invalid(
                    "columns",
                    format!("`{c}` needs a time zone; add `.zone(\"Europe/Berlin\")` or the zone of the business"),
                ));
            }
        }
        Ok(columns)
    }
}

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

/// The columns of an export and what they need, checked once before the first row.
struct Layout {
    columns: Vec<CsvColumn>,
    zone: Option<TimeZone>,
}

impl Layout {
    fn new(options: &CsvOptions) -> Result<Self> {
        Ok(Layout {
            columns: options.header()?,
            zone: options.zone.as_deref().map(zone::get).transpose()?,
        })
    }

    /// The cells of `e`, each neutralised.
    fn row(&self, e: &Event) -> Result<Vec<String>> {
        self.columns
            .iter()
            .map(|&c| Ok(neutralize(&self.cell(c, e)?).into_owned()))
            .collect()
    }

    fn cell(&self, column: CsvColumn, e: &Event) -> Result<String> {
        let target = e.target.as_ref();
        let request = e.request.as_ref();
        let text = |s: Option<&String>| s.cloned().unwrap_or_default();
        let local = |t| match &self.zone {
            Some(tz) => zone::local_text(tz, t),
            // `Layout::new` refuses local columns without a zone.
            None => rfc3339(t),
        };
        let joined =
            |part: fn(&Target) -> String| e.related.iter().map(part).collect::<Vec<_>>().join("; ");
        Ok(match column {
            CsvColumn::Seq => e.seq.to_string(),
            CsvColumn::OccurredAt => rfc3339(e.occurred_at),
            CsvColumn::RecordedAt => rfc3339(e.recorded_at),
            CsvColumn::Tenant => text(e.tenant.as_ref()),
            CsvColumn::ActorKind => e.actor.kind.to_string(),
            CsvColumn::ActorId => e.actor.id.clone(),
            CsvColumn::ActorName => text(e.actor.name.as_ref()),
            CsvColumn::ActorRole => text(e.actor.role.as_ref()),
            CsvColumn::Source => e.source.to_string(),
            CsvColumn::Action => e.action.clone(),
            CsvColumn::Outcome => match &e.outcome {
                Outcome::Success => "success".to_owned(),
                Outcome::Failure { reason } => format!("failure: {reason}"),
            },
            CsvColumn::TargetKind => text(target.map(|t| &t.kind)),
            CsvColumn::TargetId => text(target.map(|t| &t.id)),
            CsvColumn::TargetLabel => text(target.and_then(|t| t.label.as_ref())),
            CsvColumn::Changes => {
                let changes = serde_json::to_value(&e.changes)
                    .map_err(|err| Error::storage(err.to_string()))?;
                canonical::json(&changes)
            }
            CsvColumn::Context => canonical::json(&serde_json::Value::Object(e.context.clone())),
            CsvColumn::Hash => e.hash_hex(),
            CsvColumn::OccurredAtLocal => local(e.occurred_at),
            CsvColumn::RecordedAtLocal => local(e.recorded_at),
            CsvColumn::ClientIp => text(request.and_then(|r| r.ip.as_ref())),
            CsvColumn::UserAgent => text(request.and_then(|r| r.user_agent.as_ref())),
            CsvColumn::RequestId => text(request.and_then(|r| r.request_id.as_ref())),
            CsvColumn::Related => joined(|t| format!("{}:{}", t.kind, t.id)),
            CsvColumn::RelatedLabels => joined(|t| t.label.clone().unwrap_or_default()),
            CsvColumn::Id => e.id.to_string(),
            CsvColumn::ActorEmail => text(e.actor.email.as_ref()),
        })
    }
}

impl<S: AuditStore> AuditTrail<S> {
    /// Writes every event matching `query` as CSV (header first, columns [`CSV_COLUMNS`]),
    /// streaming: the query's limit is ignored and memory stays bounded. Cells that a
    /// spreadsheet would run as formulas are neutralised with a leading `'`. For local times,
    /// request context, related targets or other columns, see
    /// [`AuditTrail::export_csv_with`].
    ///
    /// Returns the number of events written.
    ///
    /// # Errors
    /// As [`AuditTrail::query`], or [`Error::Io`] when writing fails.
    pub fn export_csv<W: Write>(&self, query: &Query, out: W) -> Result<u64> {
        self.export_csv_with(query, &CsvOptions::new(), out)
    }

    /// Writes every event matching `query` as CSV with the columns `options` choose:
    /// [`AuditTrail::export_csv`] with local-time, request-context or related-target columns,
    /// or a column set of your own. Streaming, formula-safe and limit-free like
    /// `export_csv`; with default options the output is the same, byte for byte.
    ///
    /// ```
    /// # use auditkit::{memory::MemoryStore, AuditTrail, CsvColumn, CsvOptions, NewEvent, Query};
    /// # use auditkit::RequestContext;
    /// # use time::macros::datetime;
    /// # fn main() -> auditkit::Result<()> {
    /// let trail = AuditTrail::new(MemoryStore::new());
    /// trail.record(
    ///     NewEvent::new("booking.created")
    ///         .request(RequestContext::new().ip("203.0.113.9").user_agent("=HYPERLINK(..)"))
    ///         .occurred_at(datetime!(2026-03-28 09:00 UTC)),
    /// )?;
    /// let options = CsvOptions::new().zone("Europe/Berlin").columns([
    ///     CsvColumn::OccurredAtLocal,
    ///     CsvColumn::Action,
    ///     CsvColumn::ClientIp,
    ///     CsvColumn::UserAgent,
    /// ]);
    /// let mut out = Vec::new();
    /// trail.export_csv_with(&Query::new(), &options, &mut out)?;
    /// assert_eq!(
    ///     String::from_utf8(out).unwrap(),
    ///     "occurred_at_local,action,client_ip,user_agent\n\
    ///      2026-03-28 10:00:00 +01:00,booking.created,203.0.113.9,'=HYPERLINK(..)\n"
    /// );
    /// # Ok(()) }
    /// ```
    ///
    /// Returns the number of events written.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown zone or a column list [`CsvOptions::header`] refuses,
    /// before anything is written; otherwise as [`AuditTrail::export_csv`].
    pub fn export_csv_with<W: Write>(
        &self,
        query: &Query,
        options: &CsvOptions,
        out: W,
    ) -> Result<u64> {
        let layout = Layout::new(options)?;
        // A bad query, like bad options, writes nothing, not a lone header.
        query.validate()?;
        let mut w = csv::Writer::from_writer(out);
        let csv_err = |e: csv::Error| match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::from(io),
            other => Error::storage(format!("csv: {other:?}")),
        };
        w.write_record(layout.columns.iter().map(|c| c.name()))
            .map_err(csv_err)?;
        let mut n = 0;
        let rows = |page: Vec<crate::SealedEvent>| -> Result<Vec<Vec<String>>> {
            page.iter().map(|s| layout.row(&s.decode()?)).collect()
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
