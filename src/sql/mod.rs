//! What the SQL backends share: the query builder, the row codec and the index rows.
//!
//! Backends differ only in placeholders and in how they spell full-text search; both come in
//! through [`Dialect`]. Everything else (which column holds what, how a filter becomes a
//! predicate that an index serves) is written once here.

pub(crate) mod codec;
pub(crate) mod filter;
pub(crate) mod index_rows;
pub(crate) mod lifecycle;
pub(crate) mod summary;

/// A value bound to a statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Param::Null, |s| Param::Text(s.to_owned()))
    }
}

/// Where a statement finds auditkit's tables: by name alone (SQLite, and PostgreSQL sessions
/// whose `search_path` is the store's schema), or qualified by the store's schema (the app's
/// own PostgreSQL connection, in `record_in`, where auditkit's `search_path` is not set). The
/// statements both kinds of connection run are built with it, so they share one SQL text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Schema(String);

impl Schema {
    /// Tables by name alone.
    #[cfg(feature = "sqlite")]
    pub(crate) fn unqualified() -> Self {
        Schema(String::new())
    }

    /// Tables in the schema named by `quoted`, an SQL identifier already quoted.
    #[cfg(feature = "postgres")]
    pub(crate) fn qualified(quoted: &str) -> Self {
        Schema(format!("{quoted}."))
    }

    /// Table `name` (one of auditkit's, such as `auditkit_events`), qualified as needed.
    pub(crate) fn table(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

/// The columns one event is looked up by.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventKey {
    Seq,
    Id,
    IdempotencyKey,
}

impl Dialect {
    /// `SELECT` every codec column of the event whose `by` column equals the first parameter:
    /// the one statement every single-event lookup of both backends runs.
    pub(crate) fn select_event_by(&self, schema: &Schema, by: EventKey) -> String {
        let column = match by {
            EventKey::Seq => "seq",
            EventKey::Id => "id",
            EventKey::IdempotencyKey => "idempotency_key",
        };
        format!(
            "SELECT {} FROM {} e WHERE e.{column} = {}",
            codec::select_list(),
            schema.table("auditkit_events"),
            (self.placeholder)(1)
        )
    }
}

impl Dialect {
    /// What [`crate::AuditStore::derived_rows`] runs, for seqs between the first and second
    /// parameter: the involved targets `(seq, kind, id)`, then the change paths `(seq, path)`.
    pub(crate) fn derived_rows_sql(&self) -> [String; 2] {
        let (lo, hi) = ((self.placeholder)(1), (self.placeholder)(2));
        [
            format!(
                "SELECT seq, kind, id FROM auditkit_event_targets WHERE seq BETWEEN {lo} AND {hi}"
            ),
            format!("SELECT seq, path FROM auditkit_event_changes WHERE seq BETWEEN {lo} AND {hi}"),
        ]
    }
}

/// [`crate::AuditStore::newest_involving`] for one target: the newest event of tenant `$3`
/// (NULL: none) involving target `$1`:`$2`, walking the target index from its newest row
/// (both engines spell the null-safe comparison `IS NOT DISTINCT FROM`). `pos` gives the
/// n-th placeholder.
pub(crate) fn newest_involving_sql(schema: &Schema, pos: fn(usize) -> String) -> String {
    format!(
        "SELECT t.seq FROM {targets} t JOIN {events} e ON e.seq = t.seq \
         WHERE t.kind = {k} AND t.id = {i} AND e.tenant IS NOT DISTINCT FROM {n} \
         ORDER BY t.seq DESC LIMIT 1",
        targets = schema.table("auditkit_event_targets"),
        events = schema.table("auditkit_events"),
        k = pos(1),
        i = pos(2),
        n = pos(3),
    )
}

/// How one SQL backend spells what differs between engines.
pub(crate) struct Dialect {
    /// The `n`-th (1-based) parameter placeholder.
    pub(crate) placeholder: fn(usize) -> String,
    /// A predicate on `e.seq` that keeps events whose search text has every word bound to
    /// the given placeholder (the words are passed already in the engine's query syntax).
    pub(crate) search: fn(&str) -> String,
    /// Turns the lowercase words of a search into the bound search parameter.
    pub(crate) search_param: fn(&[String]) -> String,
    /// Turns an event's search text ([`crate::query::search_text`]) into what the engine
    /// indexes for it, so that [`Dialect::search`] finds exactly its words.
    pub(crate) search_body: fn(&str) -> String,
}
