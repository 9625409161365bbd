//! Reads: events by seq lent from rows, queries, counts and summaries in SQL, personal values.
//!
//! With a read server ([`super::PgOptions::read_url`]) queries, counts, summaries and `get`
//! run there. The head, `read` (the newest event sealing links to, an append's read-back,
//! purge and erasure scans), `find_by_key` (idempotency while sealing) and `read_each`
//! (verify's walk, compared with the head) stay on the primary: a standby behind it would
//! make sealing wrong and a verify see a log shorter than its head.

use std::collections::HashMap;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{GenericClient, Statement};
use uuid::Uuid;

use super::connect::{prepared, Conn, Fail};
use super::search::POSTGRES;
use super::PgStore;
use crate::query::summary::GroupBy;
use crate::query::Query;
use crate::sql::codec::{self, PersonalLookup, RowAccess};
use crate::sql::filter::{order_by, SqlBuilder};
use crate::sql::{summary, EventKey, Param, Schema};
use crate::store::sealed::{SealedEvent, SealedEventRef};
#[cfg(doc)]
use crate::store::AuditStore;
use crate::store::{DerivedRows, Head, SearchEntry};
use crate::{Error, Result};

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            // The builder binds every integer as i64; PostgreSQL may infer a narrower type
            // for a placeholder compared with an integer column.
            Param::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Param::Int(i) => i.to_sql(ty, out),
            Param::Text(s) => s.to_sql(ty, out),
            Param::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty)
            || <i32 as ToSql>::accepts(ty)
            || <String as ToSql>::accepts(ty)
            || <Vec<u8> as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

pub(super) fn get<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    idx: usize,
) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| Error::corrupt(format!("column {}: {e}", row.columns()[idx].name())))
}

impl RowAccess for postgres::Row {
    fn int(&self, idx: usize) -> Result<Option<i64>> {
        get(self, idx)
    }
    fn text(&self, idx: usize) -> Result<Option<&str>> {
        get(self, idx)
    }
    fn blob(&self, idx: usize) -> Result<Option<&[u8]>> {
        get(self, idx)
    }
}

pub(super) fn params(ps: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl PgStore {
    /// The plan PostgreSQL chooses for `query` (as [`AuditStore::query`] runs it) when
    /// sequential scans are ruled out, as they would be on a large table: a way to check that
    /// every filter has an index (no `Seq Scan` in the plan).
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn explain_query(&self, query: &Query) -> Result<String> {
        let (sql, ps) = query_sql(query, 100);
        self.explain(&sql, &ps)
    }

    /// The plans PostgreSQL chooses for the statements [`AuditStore::summarize`] runs for
    /// `query` and `by`, one after another, with sequential scans ruled out as in
    /// [`PgStore::explain_query`]: a way to check that a summary runs on indexes. The
    /// statements are run as well, since those of [`GroupBy::Day`] depend on what the first
    /// one finds.
    ///
    /// # Errors
    /// When the server cannot be reached; [`Error::Invalid`] as [`AuditStore::summarize`].
    pub fn explain_summarize(&self, query: &Query, by: &GroupBy) -> Result<String> {
        let mut plans = Vec::new();
        summary::summarize(&POSTGRES, query, by, &mut |sql, ps, each| {
            plans.push(self.explain(sql, ps)?);
            each_row(self, sql, ps, each)
        })?;
        Ok(plans.join("\n\n"))
    }

    /// The plan of `sql` with sequential scans ruled out, where the query would run (the
    /// read server if there is one).
    fn explain(&self, sql: &str, ps: &[Param]) -> Result<String> {
        self.run_read(|conn| {
            let mut tx = conn.client.transaction()?;
            tx.batch_execute("SET LOCAL enable_seqscan = off")?;
            let rows = tx.query(&format!("EXPLAIN {sql}"), &params(ps))?;
            rows.iter()
                .map(|r| get::<String>(r, 0))
                .collect::<Result<Vec<_>>>()
                .map(|lines| lines.join("\n"))
                .map_err(Fail::Final)
        })
    }

    /// Runs an event query and fills in personal values, on the read server (if there is
    /// one) when `on_reads`, else on the primary.
    pub(super) fn select(
        &self,
        on_reads: bool,
        sql: &str,
        ps: &[Param],
    ) -> Result<Vec<SealedEvent>> {
        let op = |conn: &mut Conn| {
            let Conn {
                client, statements, ..
            } = conn;
            select_on(statements, client, &self.tables, sql, ps)
        };
        if on_reads {
            self.run_read(op)
        } else {
            self.run(op)
        }
    }
}

/// [`PgStore::select`] on one client (an append's, inside its transaction), with the
/// personal values from `schema`'s table.
pub(super) fn select_on(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
    sql: &str,
    ps: &[Param],
) -> std::result::Result<Vec<SealedEvent>, Fail> {
    let stmt = prepared(statements, client, sql)?;
    let rows = client.query(&stmt, &params(ps))?;
    let mut events = rows.iter().map(codec::decode).collect::<Result<Vec<_>>>()?;
    fill_personal(statements, client, schema, &mut events)?;
    Ok(events)
}

/// [`crate::AuditStore::newest_involving`] for the targets whose kinds, ids and tenants are
/// the array parameters `$1`, `$2` and `$3`, in one statement: each answered by the shared
/// single-target query with the key's columns for its parameters.
pub(super) fn newest_involving_sql(schema: &Schema) -> String {
    let one = crate::sql::newest_involving_sql(schema, |n| {
        ["k.kind", "k.id", "k.tenant"][n - 1].to_owned()
    });
    format!(
        "SELECT ({one}) FROM unnest($1::text[], $2::text[], $3::text[]) \
         WITH ORDINALITY AS k(kind, id, tenant, n) ORDER BY k.n"
    )
}

/// [`crate::AuditStore::newest_involving`] on `client`, in one statement.
pub(super) fn newest_involving_on(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
    targets: &[crate::store::TargetKey<'_>],
) -> std::result::Result<Vec<u64>, Fail> {
    let sql = newest_involving_sql(schema);
    let kinds: Vec<&str> = targets.iter().map(|t| t.kind).collect();
    let ids: Vec<&str> = targets.iter().map(|t| t.id).collect();
    let tenants: Vec<Option<&str>> = targets.iter().map(|t| t.tenant).collect();
    let stmt = prepared(statements, client, &sql)?;
    client
        .query(&stmt, &[&kinds, &ids, &tenants])?
        .iter()
        .map(|r| Ok(get::<Option<i64>>(r, 0)?.map_or(0, |s| s as u64)))
        .collect::<Result<Vec<_>>>()
        .map_err(Fail::from)
}

/// Puts each event's personal values (those not erased) next to their commitments.
pub(super) fn fill_personal(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
    events: &mut [SealedEvent],
) -> std::result::Result<(), Fail> {
    let rows = personal_rows(statements, client, schema, codec::personal_lookup(events))?;
    let rows = rows
        .iter()
        .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?, get(r, 3)?)))
        .collect::<Result<Vec<_>>>()?;
    codec::attach_personal(events, rows)?;
    Ok(())
}

/// The `auditkit_personal_values` rows `(seq, path, value, salt)` that `lookup` asks for.
fn personal_rows(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
    lookup: Option<PersonalLookup>,
) -> std::result::Result<Vec<postgres::Row>, Fail> {
    let Some(lookup) = lookup else {
        return Ok(Vec::new());
    };
    let stmt = prepared(statements, client, &personal_sql(schema, &lookup))?;
    Ok(match lookup {
        PersonalLookup::Range(lo, hi) => client.query(&stmt, &[&(lo as i64), &(hi as i64)])?,
        PersonalLookup::Points(seqs) => {
            let seqs: Vec<i64> = seqs.into_iter().map(|s| s as i64).collect();
            client.query(&stmt, &[&seqs])?
        }
    })
}

/// What [`personal_rows`] runs for `lookup`: `$1`, `$2` the range, or `$1` the seqs.
pub(super) fn personal_sql(schema: &Schema, lookup: &PersonalLookup) -> String {
    let table = schema.table("auditkit_personal_values");
    match lookup {
        PersonalLookup::Range(..) => {
            format!("SELECT seq, path, value, salt FROM {table} WHERE seq BETWEEN $1 AND $2")
        }
        PersonalLookup::Points(_) => {
            format!("SELECT seq, path, value, salt FROM {table} WHERE seq = ANY($1)")
        }
    }
}

/// The SQL and parameters of [`AuditStore::query`].
fn query_sql(query: &Query, limit: usize) -> (String, Vec<Param>) {
    let mut b = SqlBuilder::new(&POSTGRES);
    let filter = b.where_clause(query);
    let lim = b.bind(Param::Int(limit.min(i64::MAX as usize) as i64));
    let sql = format!(
        "SELECT {} FROM auditkit_events e{filter}{} LIMIT {lim}",
        codec::select_list(),
        order_by(query)
    );
    (sql, b.params)
}

pub(super) fn head(store: &PgStore) -> Result<Head> {
    store.run(|conn| {
        let Conn {
            client, statements, ..
        } = conn;
        let stmt = prepared(
            statements,
            client,
            "SELECT seq, hash, frontier, pg_is_in_recovery() FROM auditkit_head WHERE id = 1",
        )?;
        let row = client.query_one(&stmt, &[])?;
        let seq: i64 = get(&row, 0)?;
        let hash: Vec<u8> = get(&row, 1)?;
        let frontier: Vec<u8> = get(&row, 2)?;
        let standby: bool = get(&row, 3)?;
        // Appends commit asynchronously and wait for their own flush; a head read for a
        // checkpoint or a verify must not run ahead of what is durable, so on the primary it
        // waits for the WAL past what it read before it answers (a standby only holds what
        // it replayed).
        if !standby {
            client.batch_execute(super::append::FLUSH_SQL)?;
        }
        Ok(codec::decode_head(seq, hash, frontier)?)
    })
}

pub(super) fn read(store: &PgStore, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
    codec::read_owned(|visit| read_each(store, from, limit, visit))
}

/// Lends each event straight from the result rows, personal values from theirs.
pub(super) fn read_each(
    store: &PgStore,
    from: u64,
    limit: usize,
    visit: &mut dyn FnMut(&SealedEventRef<'_>),
) -> Result<()> {
    let sql = codec::read_sql(&POSTGRES);
    let ps = [
        Param::Int(from.min(i64::MAX as u64) as i64),
        Param::Int(limit.min(i64::MAX as usize) as i64),
    ];
    store.run(|conn| {
        let Conn {
            client, statements, ..
        } = conn;
        let stmt = prepared(statements, client, &sql)?;
        let rows = client.query(&stmt, &params(&ps))?;
        let mut events = rows
            .iter()
            .map(codec::decode_ref)
            .collect::<Result<Vec<_>>>()?;
        let values = personal_rows(
            statements,
            client,
            &store.tables,
            codec::personal_lookup(&events),
        )?;
        let values = values
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?, get(r, 3)?)))
            .collect::<Result<Vec<_>>>()?;
        codec::attach_personal_ref(&mut events, values)?;
        // Nothing fails past this point, so `run` never repeats a visit.
        for e in &events {
            visit(e);
        }
        Ok(())
    })
}

pub(super) fn query(store: &PgStore, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
    let (sql, ps) = query_sql(query, limit);
    store.select(true, &sql, &ps)
}

pub(super) fn count(store: &PgStore, query: &Query) -> Result<u64> {
    let mut b = SqlBuilder::new(&POSTGRES);
    let filter = b.where_clause(query);
    let sql = format!("SELECT COUNT(*) FROM auditkit_events e{filter}");
    store.run_read(|conn| {
        let Conn {
            client, statements, ..
        } = conn;
        let stmt = prepared(statements, client, &sql)?;
        let n: i64 = get(&client.query_one(&stmt, &params(&b.params))?, 0)?;
        Ok(n as u64)
    })
}

pub(super) fn by_id(store: &PgStore, id: Uuid) -> Result<Option<SealedEvent>> {
    let sql = POSTGRES.select_event_by(&store.tables, EventKey::Id);
    Ok(store
        .select(true, &sql, &[Param::Blob(id.as_bytes().to_vec())])?
        .pop())
}

/// On the primary: sealing asks it, and a standby behind would let a key be recorded twice.
pub(super) fn find_by_key(store: &PgStore, key: &str) -> Result<Option<SealedEvent>> {
    let sql = POSTGRES.select_event_by(&store.tables, EventKey::IdempotencyKey);
    Ok(store
        .select(false, &sql, &[Param::Text(key.to_owned())])?
        .pop())
}

pub(super) fn summarize(
    store: &PgStore,
    query: &Query,
    by: &GroupBy,
) -> Result<Vec<(String, u64)>> {
    summary::summarize(&POSTGRES, query, by, &mut |sql, ps, each| {
        each_row(store, sql, ps, each)
    })
}

/// Runs `sql` with `ps` and hands each result row to `each` (how [`summary::summarize`] runs
/// its statements here).
fn each_row(
    store: &PgStore,
    sql: &str,
    ps: &[Param],
    each: &mut dyn FnMut(&dyn RowAccess) -> Result<()>,
) -> Result<()> {
    let rows = store.run_read(|conn| {
        let Conn {
            client, statements, ..
        } = conn;
        let stmt = prepared(statements, client, sql)?;
        Ok(client.query(&stmt, &params(ps))?)
    })?;
    for row in &rows {
        each(row)?;
    }
    Ok(())
}

/// [`AuditStore::newest_involving`](crate::AuditStore::newest_involving), on the primary
/// (sealing asks it).
pub(super) fn newest_involving(
    store: &PgStore,
    targets: &[crate::store::TargetKey<'_>],
) -> Result<Vec<u64>> {
    store.run(|conn| {
        let Conn {
            client, statements, ..
        } = conn;
        newest_involving_on(statements, client, &store.tables, targets)
    })
}

/// [`AuditStore::derived_rows`](crate::AuditStore::derived_rows), on the primary (what verify
/// checks is what sealing wrote).
pub(super) fn derived_rows(store: &PgStore, from: u64, to: u64) -> Result<DerivedRows> {
    let [targets, changes] = POSTGRES.derived_rows_sql();
    let range = (from as i64, to as i64);
    store.run(|conn| {
        let Conn {
            client, statements, ..
        } = conn;
        let stmt = prepared(statements, client, &targets)?;
        let involved = client
            .query(&stmt, &[&range.0, &range.1])?
            .iter()
            .map(|r| Ok((get::<i64>(r, 0)? as u64, get(r, 1)?, get(r, 2)?)))
            .collect::<Result<Vec<_>>>()?;
        let stmt = prepared(statements, client, &changes)?;
        let change_paths = client
            .query(&stmt, &[&range.0, &range.1])?
            .iter()
            .map(|r| Ok((get::<i64>(r, 0)? as u64, get(r, 1)?)))
            .collect::<Result<Vec<_>>>()?;
        // The search words live in the event's row (guarded to lose words only by erasure).
        let words = format!(
            "SELECT seq, search_words FROM {} WHERE seq BETWEEN $1 AND $2",
            store.tables.table("auditkit_events")
        );
        let stmt = prepared(statements, client, &words)?;
        let search = client
            .query(&stmt, &[&range.0, &range.1])?
            .iter()
            .map(|r| Ok((get::<i64>(r, 0)? as u64, SearchEntry::Words(get(r, 1)?))))
            .collect::<Result<Vec<_>>>()?;
        Ok(DerivedRows::new(involved, change_paths).with_search(search))
    })
}
