//! Reads: events by seq lent from rows, queries and summaries in SQL, personal values joined in.

use std::ops::Range;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, ToSql};
use uuid::Uuid;

use super::open::map_err;
use super::search::SQLITE;
use super::SqliteStore;
use crate::query::summary::GroupBy;
use crate::query::Query;
use crate::sql::codec::{self, PersonalLookup, RowAccess};
use crate::sql::filter::{order_by, SqlBuilder};
use crate::sql::{EventKey, Param, Schema};
use crate::store::sealed::{SealedEvent, SealedEventRef};
use crate::store::{DerivedRows, Head};
use crate::{Error, Result};

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(*i),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl RowAccess for rusqlite::Row<'_> {
    fn int(&self, idx: usize) -> Result<Option<i64>> {
        self.get(idx).map_err(map_err)
    }
    fn text(&self, idx: usize) -> Result<Option<&str>> {
        self.get_ref(idx)
            .map_err(map_err)?
            .as_str_or_null()
            .map_err(|e| column_type(self, idx, e))
    }
    fn blob(&self, idx: usize) -> Result<Option<&[u8]>> {
        self.get_ref(idx)
            .map_err(map_err)?
            .as_blob_or_null()
            .map_err(|e| column_type(self, idx, e))
    }
}

fn column_type(row: &rusqlite::Row<'_>, idx: usize, e: rusqlite::types::FromSqlError) -> Error {
    let name = row.as_ref().column_name(idx).unwrap_or("?");
    Error::corrupt(format!("column {name}: {e}"))
}

impl SqliteStore {
    /// Runs a query for events and fills in their personal values.
    pub(super) fn select(
        conn: &Connection,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<SealedEvent>> {
        let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
        let mut rows = stmt.query(params_from_iter(params)).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            out.push(codec::decode(row)?);
        }
        fill_personal(conn, &mut out)?;
        Ok(out)
    }
}

/// Puts each event's personal values (those not erased) next to their commitments.
fn fill_personal(conn: &Connection, events: &mut [SealedEvent]) -> Result<()> {
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, String, String, Vec<u8>)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let mut rows = Vec::new();
    match codec::personal_lookup(events) {
        None => return Ok(()),
        Some(PersonalLookup::Range(lo, hi)) => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, path, value, salt FROM auditkit_personal_values WHERE seq >= ?1 AND seq <= ?2",
                )
                .map_err(map_err)?;
            for r in stmt
                .query_map([lo as i64, hi as i64], row)
                .map_err(map_err)?
            {
                rows.push(r.map_err(map_err)?);
            }
        }
        Some(PersonalLookup::Points(seqs)) => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, path, value, salt FROM auditkit_personal_values WHERE seq = ?1",
                )
                .map_err(map_err)?;
            for seq in seqs {
                for r in stmt.query_map([seq as i64], row).map_err(map_err)? {
                    rows.push(r.map_err(map_err)?);
                }
            }
        }
    }
    codec::attach_personal(events, rows)
}

/// The personal values of the event being lent by [`read_each`], copied out of
/// the values cursor (which steps past them) into buffers reused from event to event.
#[derive(Default)]
struct HeldValues {
    /// Paths and texts, back to back.
    text: String,
    spans: Vec<HeldValue>,
    /// The cursor has no more rows.
    done: bool,
}

/// One held personal value: where its path and text sit in [`HeldValues::text`].
struct HeldValue {
    seq: i64,
    path: Range<usize>,
    text: Range<usize>,
    salt: [u8; 16],
}

impl HeldValues {
    /// Holds every value of event `seq`, reading the cursor (ordered by seq) until it passes
    /// `seq`: of what was held, only values already read for later events are kept.
    fn load(&mut self, cursor: &mut rusqlite::Rows<'_>, seq: i64) -> Result<()> {
        match self.spans.iter().position(|v| v.seq >= seq) {
            Some(0) => {}
            Some(i) => {
                let cut = self.spans[i].path.start;
                self.text.drain(..cut);
                self.spans.drain(..i);
                for v in &mut self.spans {
                    v.path = v.path.start - cut..v.path.end - cut;
                    v.text = v.text.start - cut..v.text.end - cut;
                }
            }
            None => {
                self.text.clear();
                self.spans.clear();
            }
        }
        while !self.done && !matches!(self.spans.last(), Some(v) if v.seq > seq) {
            let Some(r) = cursor.next().map_err(map_err)? else {
                self.done = true;
                break;
            };
            let at: i64 = r.get(0).map_err(map_err)?;
            let path = r.text(1)?.unwrap_or_default();
            let value = r.text(2)?.unwrap_or_default();
            let salt = r.blob(3)?.unwrap_or_default();
            let salt: [u8; 16] = salt.try_into().map_err(|_| {
                Error::corrupt(format!(
                    "personal value {path} of event {at}: salt is not 16 bytes"
                ))
            })?;
            let p = self.text.len()..self.text.len() + path.len();
            self.text.push_str(path);
            let t = self.text.len()..self.text.len() + value.len();
            self.text.push_str(value);
            self.spans.push(HeldValue {
                seq: at,
                path: p,
                text: t,
                salt,
            });
        }
        Ok(())
    }

    /// Lends the held values of `e` to its personal fields, by path.
    fn attach<'a>(&'a self, e: &mut SealedEventRef<'a>) {
        for v in &self.spans {
            if v.seq != e.seq as i64 {
                continue;
            }
            let path = &self.text[v.path.clone()];
            if let Some(f) = e.personal.iter_mut().find(|f| f.path.as_str() == path) {
                f.value = Some((&self.text[v.text.clone()], v.salt));
            }
        }
    }
}

pub(super) fn head(store: &SqliteStore) -> Result<Head> {
    store.read_with(head_on)
}

/// The head as `conn` sees it (inside an append: the locked head).
pub(super) fn head_on(conn: &Connection) -> Result<Head> {
    let (seq, hash, frontier): (i64, Vec<u8>, Vec<u8>) = conn
        .prepare_cached("SELECT seq, hash, frontier FROM auditkit_head WHERE id = 1")
        .map_err(map_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(map_err)?;
    codec::decode_head(seq, hash, frontier)
}

/// The event at `seq` as `conn` sees it.
pub(super) fn at_seq_on(conn: &Connection, seq: u64) -> Result<Option<SealedEvent>> {
    let sql = SQLITE.select_event_by(&Schema::unqualified(), EventKey::Seq);
    Ok(SqliteStore::select(conn, &sql, &[Param::Int(seq as i64)])?.pop())
}

/// The event recorded with idempotency key `key` as `conn` sees it.
pub(super) fn key_on(conn: &Connection, key: &str) -> Result<Option<SealedEvent>> {
    let sql = SQLITE.select_event_by(&Schema::unqualified(), EventKey::IdempotencyKey);
    Ok(SqliteStore::select(conn, &sql, &[Param::Text(key.to_owned())])?.pop())
}

/// [`crate::AuditStore::newest_involving`] as `conn` sees it.
pub(super) fn newest_involving_on(
    conn: &Connection,
    targets: &[crate::store::TargetKey<'_>],
) -> Result<Vec<u64>> {
    // Built once: it runs on every append (the statement cache keys on the text).
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        crate::sql::newest_involving_sql(&Schema::unqualified(), SQLITE.placeholder)
    });
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    targets
        .iter()
        .map(|t| {
            let seq: Option<i64> = stmt
                .query_row(rusqlite::params![t.kind, t.id, t.tenant], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            Ok(seq.map_or(0, |s| s as u64))
        })
        .collect()
}

pub(super) fn read(store: &SqliteStore, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
    codec::read_owned(|visit| read_each(store, from, limit, visit))
}

pub(super) fn read_each(
    store: &SqliteStore,
    from: u64,
    limit: usize,
    visit: &mut dyn FnMut(&SealedEventRef<'_>),
) -> Result<()> {
    let sql = codec::read_sql(&SQLITE);
    let from = from.min(i64::MAX as u64) as i64;
    store.read_with(|conn| {
        // Both cursors step inside one read transaction, so they see one snapshot.
        let mut events = conn.prepare_cached(&sql).map_err(map_err)?;
        let mut values = conn
            .prepare_cached(
                "SELECT seq, path, value, salt FROM auditkit_personal_values WHERE seq >= ?1 ORDER BY seq, path",
            )
            .map_err(map_err)?;
        let mut rows = events
            .query(rusqlite::params![from, limit as i64])
            .map_err(map_err)?;
        let mut value_rows = values.query([from]).map_err(map_err)?;
        let mut held = HeldValues::default();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut e = codec::decode_ref(row)?;
            if !e.personal.is_empty() {
                held.load(&mut value_rows, e.seq as i64)?;
                held.attach(&mut e);
            }
            visit(&e);
        }
        Ok(())
    })
}

pub(super) fn query(store: &SqliteStore, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
    let mut b = SqlBuilder::new(&SQLITE);
    let filter = b.where_clause(query);
    let lim = b.bind(Param::Int(limit as i64));
    let sql = format!(
        "SELECT {} FROM auditkit_events e{filter}{} LIMIT {lim}",
        codec::select_list(),
        order_by(query)
    );
    store.read_with(|conn| SqliteStore::select(conn, &sql, &b.params))
}

pub(super) fn count(store: &SqliteStore, query: &Query) -> Result<u64> {
    let mut b = SqlBuilder::new(&SQLITE);
    let filter = b.where_clause(query);
    let sql = format!("SELECT COUNT(*) FROM auditkit_events e{filter}");
    store.read_with(|conn| {
        let n: i64 = conn
            .prepare_cached(&sql)
            .map_err(map_err)?
            .query_row(params_from_iter(&b.params), |r| r.get(0))
            .map_err(map_err)?;
        Ok(n as u64)
    })
}

pub(super) fn by_id(store: &SqliteStore, id: Uuid) -> Result<Option<SealedEvent>> {
    let sql = SQLITE.select_event_by(&Schema::unqualified(), EventKey::Id);
    store.read_with(|conn| {
        Ok(SqliteStore::select(conn, &sql, &[Param::Blob(id.as_bytes().to_vec())])?.pop())
    })
}

pub(super) fn find_by_key(store: &SqliteStore, key: &str) -> Result<Option<SealedEvent>> {
    store.read_with(|conn| key_on(conn, key))
}

pub(super) fn summarize(
    store: &SqliteStore,
    query: &Query,
    by: &GroupBy,
) -> Result<Vec<(String, u64)>> {
    store.read_with(|conn| {
        crate::sql::summary::summarize(&SQLITE, query, by, &mut |sql, params, each| {
            let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
            let mut rows = stmt.query(params_from_iter(params)).map_err(map_err)?;
            while let Some(row) = rows.next().map_err(map_err)? {
                each(row)?;
            }
            Ok(())
        })
    })
}

/// [`AuditStore::derived_rows`](crate::AuditStore::derived_rows) on a reader connection.
pub(super) fn derived_rows(store: &SqliteStore, from: u64, to: u64) -> Result<DerivedRows> {
    let [targets, changes] = SQLITE.derived_rows_sql();
    let range = rusqlite::params![from as i64, to as i64];
    store.read_with(|conn| {
        let involved = conn
            .prepare_cached(&targets)
            .map_err(map_err)?
            .query_map(range, |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .map_err(map_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(map_err)?;
        let change_paths = conn
            .prepare_cached(&changes)
            .map_err(map_err)?
            .query_map(range, |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .map_err(map_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(map_err)?;
        let search = super::search::entries(conn, from, to)?;
        Ok(DerivedRows::new(involved, change_paths).with_search(search))
    })
}
