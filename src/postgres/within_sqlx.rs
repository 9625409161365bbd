//! The store side of `AuditTrail::record_in_sqlx` (feature `sqlx`): an append inside the
//! app's transaction on its own `sqlx::PgConnection`.
//!
//! The statements are the ones the `postgres` path runs ([`super::append`]: the head row's
//! lock, the event lookups, the batch insert; all schema-qualified), bound by sqlx's executor
//! instead; the row codec decodes sqlx's rows as it decodes `postgres`' ones. Integers and
//! bytes are bound as they are, so sqlx needs none of its type features.

use std::future::Future;
use std::pin::Pin;

/// A boxed future: each step is boxed, so that the futures `lock_within` and `push_within`
/// return are `Send` for every lifetime the trait asks for (rustc cannot prove it of sqlx's
/// executor futures nested unboxed, rust-lang/rust#102211).
type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Runs one simple statement (savepoint control) on `conn`.
fn run<'a>(conn: &'a mut PgConnection, sql: &'static str) -> Step<'a, ()> {
    // A query without arguments goes as a simple query: several statements in one.
    Box::pin(async move {
        sqlx::Executor::execute(conn, sql)
            .await
            .map(drop)
            .map_err(map_err)
    })
}

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::append::{
    index_rows, insert_sql, Column, Guard, InsertParams, RETRY_TRANSACTION_STATES,
};
use super::lifecycle::anchor_sql;
use super::read::personal_sql;
use super::search::POSTGRES;
use super::PgStore;
use crate::sql::codec::{self, PersonalLookup, RowAccess};
use crate::sql::EventKey;
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, AppendWithinAsync, Head, LockedWithin, TargetKey};
use crate::{Error, Result};

impl RowAccess for PgRow {
    fn int(&self, idx: usize) -> Result<Option<i64>> {
        self.try_get(idx).map_err(column_err)
    }
    fn text(&self, idx: usize) -> Result<Option<&str>> {
        self.try_get(idx).map_err(column_err)
    }
    fn blob(&self, idx: usize) -> Result<Option<&[u8]>> {
        self.try_get(idx).map_err(column_err)
    }
}

fn column_err(e: sqlx::Error) -> Error {
    Error::corrupt(format!("a row from PostgreSQL does not decode: {e}"))
}

/// The store's error for a sqlx failure inside the app's transaction: a serialization
/// failure or deadlock asks for the whole transaction to run again.
fn map_err(e: sqlx::Error) -> Error {
    let code = e
        .as_database_error()
        .and_then(|d| d.code().map(|c| c.into_owned()));
    match code.as_deref() {
        Some(c) if RETRY_TRANSACTION_STATES.contains(&c) => {
            Error::retry_transaction(format!("PostgreSQL: {e}"))
        }
        Some("42501") => Error::storage(format!(
            "PostgreSQL: {e}; the role lacks a privilege auditkit needs (see the GRANTs in the README)"
        )),
        _ => Error::storage(format!("PostgreSQL: {e}")),
    }
}

const SAVEPOINT: &str = "SAVEPOINT auditkit_append";
const RELEASE: &str = "RELEASE SAVEPOINT auditkit_append";
const ROLL_BACK: &str = "ROLLBACK TO SAVEPOINT auditkit_append; RELEASE SAVEPOINT auditkit_append";

impl PgStore {
    /// The events `sql` selects (with its one parameter `key`), personal values filled in.
    fn events_sqlx<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        by: EventKey,
        key: Key<'a>,
    ) -> Step<'a, Vec<SealedEvent>> {
        Box::pin(async move {
            let sql = POSTGRES.select_event_by(&self.tables, by);
            let query = sqlx::query(&sql);
            let query = match key {
                Key::Seq(seq) => query.bind(seq),
                Key::Text(k) => query.bind(k),
            };
            let rows = query.fetch_all(&mut *conn).await.map_err(map_err)?;
            let mut events = rows.iter().map(codec::decode).collect::<Result<Vec<_>>>()?;
            if let Some(lookup) = codec::personal_lookup(&events) {
                let sql = personal_sql(&self.tables, &lookup);
                let query = sqlx::query(&sql);
                let query = match lookup {
                    PersonalLookup::Range(lo, hi) => query.bind(lo as i64).bind(hi as i64),
                    PersonalLookup::Points(seqs) => {
                        query.bind(seqs.into_iter().map(|s| s as i64).collect::<Vec<_>>())
                    }
                };
                let rows = query.fetch_all(&mut *conn).await.map_err(map_err)?;
                let rows = rows
                    .iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0).map_err(column_err)?,
                            r.try_get(1).map_err(column_err)?,
                            r.try_get(2).map_err(column_err)?,
                            r.try_get(3).map_err(column_err)?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                codec::attach_personal(&mut events, rows)?;
            }
            Ok(events)
        })
    }

    /// [`AppendWithinAsync::lock_within`] once the savepoint is open.
    fn lock_sqlx<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        keys: &'a [String],
        targets: &'a [TargetKey<'a>],
    ) -> Step<'a, LockedWithin> {
        Box::pin(async move {
            let log: Option<String> = sqlx::query_scalar(&format!(
                "SELECT value FROM {} WHERE key = 'log_id'",
                self.tables.table("auditkit_meta")
            ))
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
            if log.as_deref() != Some(self.log_id.as_str()) {
                return Err(Error::invalid(
                "transaction",
                format!(
                    "its database holds {} in schema {:?}, the store's log is {}; record inside a transaction on the store's own database",
                    log.map_or("no auditkit log".to_owned(), |l| format!("audit log {l}")),
                    self.schema,
                    self.log_id
                ),
            ));
            }
            let row = sqlx::query(&super::append::lock_head_sql(&self.tables))
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
            let head = codec::decode_head(
                row.try_get(0).map_err(column_err)?,
                row.try_get(1).map_err(column_err)?,
                row.try_get(2).map_err(column_err)?,
            )?;
            let newest = self
                .events_sqlx(conn, EventKey::Seq, Key::Seq(head.seq as i64))
                .await?
                .pop();
            let row = sqlx::query(&anchor_sql(&self.tables))
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
            let purge_anchor = crate::sql::lifecycle::decode_anchor(
                row.try_get(0).map_err(column_err)?,
                row.try_get(1).map_err(column_err)?,
                row.try_get(2).map_err(column_err)?,
            )?;
            let mut keyed = Vec::with_capacity(keys.len());
            for key in keys {
                let found = self
                    .events_sqlx(conn, EventKey::IdempotencyKey, Key::Text(key))
                    .await?
                    .pop();
                keyed.push((key.clone(), found));
            }
            let involving = if targets.is_empty() {
                Vec::new()
            } else {
                let kinds: Vec<&str> = targets.iter().map(|t| t.kind).collect();
                let ids: Vec<&str> = targets.iter().map(|t| t.id).collect();
                let tenants: Vec<Option<&str>> = targets.iter().map(|t| t.tenant).collect();
                sqlx::query_scalar::<_, Option<i64>>(&super::read::newest_involving_sql(
                    &self.tables,
                ))
                .bind(kinds)
                .bind(ids)
                .bind(tenants)
                .fetch_all(&mut *conn)
                .await
                .map_err(map_err)?
                .into_iter()
                .map(|s| s.map_or(0, |s| s as u64))
                .collect()
            };
            Ok(LockedWithin::new(head, newest, purge_anchor, keyed).with_involving(involving))
        })
    }

    /// [`AppendWithinAsync::push_within`] before the savepoint ends.
    fn push_sqlx<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        batch: &'a [SealedEvent],
        new_head: &'a Head,
    ) -> Step<'a, ()> {
        Box::pin(async move {
            let Some(first) = batch.first() else {
                return Ok(());
            };
            check_batch(first.seq - 1, batch, new_head)?;
            let rows = index_rows(batch)?;
            let p = InsertParams::new(batch, &rows, new_head, first.seq - 1)?;
            let sql = insert_sql(Guard::Locked, &self.tables);
            let mut query = sqlx::query(&sql)
                .bind(&p.t_kind)
                .bind(&p.t_id)
                .bind(&p.t_seq)
                .bind(&p.c_path)
                .bind(&p.c_seq)
                .bind(&p.p_seq)
                .bind(&p.p_path)
                .bind(&p.p_value)
                .bind(&p.p_salt)
                .bind(p.head_seq)
                .bind(&p.head_hash)
                .bind(&p.frontier)
                .bind(p.expected);
            for column in &p.columns {
                query = match column {
                    Column::Int(v) => query.bind(v),
                    Column::Text(v) => {
                        query.bind(v.iter().map(|t| t.as_deref()).collect::<Vec<_>>())
                    }
                    Column::Blob(v) => {
                        query.bind(v.iter().map(|b| b.as_deref()).collect::<Vec<_>>())
                    }
                };
            }
            query
                .bind(&p.words)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            Ok(())
        })
    }
}

/// The one parameter of an event lookup.
enum Key<'a> {
    Seq(i64),
    Text(&'a str),
}

/// Rolls back to the append's savepoint after `out` failed, so that the app's transaction
/// goes on as it was.
async fn or_roll_back<T>(conn: &mut PgConnection, out: Result<T>) -> Result<T> {
    if out.is_err() {
        let _ = run(conn, ROLL_BACK).await;
    }
    out
}

impl AppendWithinAsync<PgConnection> for PgStore {
    async fn lock_within<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        keys: &'a [String],
        targets: &'a [TargetKey<'a>],
    ) -> Result<LockedWithin> {
        run(conn, SAVEPOINT).await.map_err(|e| {
            Error::invalid(
                "transaction",
                format!(
                    "a savepoint cannot be opened on the connection ({e}); record inside an open transaction that has not failed"
                ),
            )
        })?;
        let out = self.lock_sqlx(conn, keys, targets).await;
        or_roll_back(conn, out).await
    }

    async fn push_within<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        batch: &'a [SealedEvent],
        new_head: &'a Head,
    ) -> Result<()> {
        let mut out = self.push_sqlx(conn, batch, new_head).await;
        if out.is_ok() {
            out = run(conn, RELEASE).await;
        }
        or_roll_back(conn, out).await
    }

    async fn abandon_within<'a>(&'a self, conn: &'a mut PgConnection) -> Result<()> {
        run(conn, ROLL_BACK).await
    }
}
