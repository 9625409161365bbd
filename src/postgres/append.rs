//! The append path: one transaction that locks and compares the head, inserts, moves the head.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{GenericClient, Statement};

use super::connect::{final_err, map_err, prepared, Conn, Fail};
use super::read::{get, params, select_on};
use super::search::POSTGRES;
use super::PgStore;
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::sql::{EventKey, Param};
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, Append, Head};
use crate::{Error, Result};

/// Rows per multi-row INSERT; keeps a statement well under PostgreSQL's 65,535 parameters.
const INSERT_CHUNK: usize = 256;

/// The multi-row INSERT of `n` events (the codec's columns plus the search words), with
/// placeholders from `$first`.
fn insert_events_sql(n: usize, first: usize) -> String {
    let per_row = codec::COLUMNS.len() + 1;
    let rows: Vec<String> = (0..n)
        .map(|r| {
            let at = first + r * per_row;
            let mut cols: Vec<String> = (0..per_row - 1).map(|c| format!("${}", at + c)).collect();
            cols.push(format!("string_to_array(${}::text, ' ')", at + per_row - 1));
            format!("({})", cols.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO events ({}, search_words) VALUES {}",
        codec::COLUMNS.join(", "),
        rows.join(", ")
    )
}

/// One statement that inserts the last `n` events with every derived row and moves the head:
/// the append's round trips stay few however rich the events are. Placeholders: $1..$9 the
/// derived rows as arrays, $10..$12 the new head, then the events.
fn insert_tail_sql(n: usize) -> String {
    format!(
        "WITH ev AS ({}), \
         tg AS (INSERT INTO event_targets (kind, id, seq) \
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])), \
         ch AS (INSERT INTO event_changes (path, seq) \
                SELECT * FROM unnest($4::text[], $5::bigint[])), \
         pv AS (INSERT INTO personal_values (seq, path, value, salt) \
                SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::bytea[])) \
         UPDATE auditkit_head SET seq = $10, hash = $11, frontier = $12 WHERE id = 1",
        insert_events_sql(n, 13)
    )
}

/// The event rows of `chunk` with their search words (from `rows`, one per event) as
/// parameters, in [`insert_events_sql`] order.
fn event_params(chunk: &[SealedEvent], rows: &[IndexRows<'_>]) -> Vec<Param> {
    let mut ps = Vec::with_capacity(chunk.len() * (codec::COLUMNS.len() + 1));
    for (e, r) in chunk.iter().zip(rows) {
        ps.extend(codec::encode(e));
        ps.push(Param::Text(r.search.clone()));
    }
    ps
}

/// Inserts `batch` and its index rows and sets the head to `new_head`, in the open
/// transaction.
fn insert_batch(
    statements: &mut HashMap<String, Statement>,
    tx: &mut impl GenericClient,
    batch: &[SealedEvent],
    new_head: &Head,
) -> std::result::Result<(), Fail> {
    let rows = batch
        .iter()
        .map(|e| IndexRows::of(e, &POSTGRES))
        .collect::<Result<Vec<_>>>()?;
    let (mut t_kind, mut t_id, mut t_seq) =
        (Vec::<&str>::new(), Vec::<&str>::new(), Vec::<i64>::new());
    let (mut c_path, mut c_seq) = (Vec::<&str>::new(), Vec::<i64>::new());
    let (mut p_seq, mut p_path, mut p_value, mut p_salt) = (
        Vec::<i64>::new(),
        Vec::<&str>::new(),
        Vec::<&str>::new(),
        Vec::<&[u8]>::new(),
    );
    for (e, r) in batch.iter().zip(&rows) {
        let seq = e.seq as i64;
        for (kind, id) in &r.involved {
            t_kind.push(kind);
            t_id.push(id);
            t_seq.push(seq);
        }
        for path in &r.change_paths {
            c_path.push(path);
            c_seq.push(seq);
        }
        for p in &r.personal {
            p_seq.push(seq);
            p_path.push(p.path.as_ref());
            p_value.push(p.value);
            p_salt.push(p.salt);
        }
    }
    // Batches longer than one statement can carry go in chunks; the last chunk rides with
    // the derived rows and the head.
    let tail_len = match batch.len() % INSERT_CHUNK {
        0 => INSERT_CHUNK.min(batch.len()),
        r => r,
    };
    let (body, tail) = batch.split_at(batch.len() - tail_len);
    let (body_rows, tail_rows) = rows.split_at(body.len());
    for (chunk, chunk_rows) in body
        .chunks(INSERT_CHUNK)
        .zip(body_rows.chunks(INSERT_CHUNK))
    {
        let ps = event_params(chunk, chunk_rows);
        let stmt = prepared(statements, tx, &insert_events_sql(chunk.len(), 1))?;
        tx.execute(&stmt, &params(&ps))?;
    }
    let events = event_params(tail, tail_rows);
    let (head_seq, head_hash, frontier) = (
        new_head.seq as i64,
        new_head.hash.to_vec(),
        merkle::to_bytes(&new_head.frontier),
    );
    let mut ps: Vec<&(dyn ToSql + Sync)> = vec![
        &t_kind, &t_id, &t_seq, &c_path, &c_seq, &p_seq, &p_path, &p_value, &p_salt, &head_seq,
        &head_hash, &frontier,
    ];
    ps.extend(params(&events));
    let stmt = prepared(statements, tx, &insert_tail_sql(tail.len()))?;
    tx.execute(&stmt, &ps)?;
    Ok(())
}

/// An append on one pooled connection: a READ COMMITTED transaction that holds the head
/// row's lock (`FOR UPDATE`) from the head read to the commit, so writers on every app server
/// queue on the lock before they seal, never after, and no sealed batch is thrown away.
pub(super) struct PgAppend<'a> {
    store: &'a PgStore,
    /// `None` once handed back to the pool.
    conn: Option<Conn>,
    head: Head,
}

/// A transaction that writes one WAL record and commits synchronously: its commit returns once
/// the WAL is flushed past every commit before it (see [`PgAppend::commit`](Append::commit)).
pub(super) const FLUSH_SQL: &str =
    "BEGIN; SELECT pg_logical_emit_message(true, 'auditkit', 'flush'); COMMIT";

const LOCK_HEAD_SQL: &str = "SELECT seq, hash, frontier FROM auditkit_head WHERE id = 1 FOR UPDATE";

/// Begins an append: takes the head row's lock (waiting for the writer holding it) and reads
/// the head as that writer committed it. A connection found dead before anything was written
/// is replaced, as for every other operation.
pub(super) fn begin(store: &PgStore) -> Result<PgAppend<'_>> {
    let mut attempts = 0;
    loop {
        let mut conn = store.checkout_primary()?;
        let locked = (|| -> std::result::Result<Head, Fail> {
            let Conn { client, statements } = &mut conn;
            // READ COMMITTED: after waiting for the row lock, FOR UPDATE returns the row as
            // the previous writer committed it.
            // The head row's lock is released at commit; with an asynchronous commit that is
            // before the WAL flush, so the next writer seals while this one's flush is still
            // under way (see `commit`).
            client.batch_execute(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = off",
            )?;
            let stmt = prepared(statements, client, LOCK_HEAD_SQL)?;
            let row = client.query_one(&stmt, &[])?;
            Ok(codec::decode_head(
                get(&row, 0)?,
                get(&row, 1)?,
                get(&row, 2)?,
            )?)
        })();
        match locked {
            Ok(head) => {
                return Ok(PgAppend {
                    store,
                    conn: Some(conn),
                    head,
                })
            }
            Err(f) => {
                let closed = conn.client.is_closed();
                if !closed {
                    let _ = conn.client.batch_execute("ROLLBACK");
                }
                store.checkin_primary(conn);
                match f {
                    Fail::Pg(e)
                        if (closed || e.is_closed()) && store.may_reconnect_primary(attempts) =>
                    {
                        attempts += 1;
                    }
                    Fail::Pg(e) => return Err(map_err(e)),
                    Fail::Final(e) => return Err(e),
                }
            }
        }
    }
}

impl PgAppend<'_> {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("an append holds its connection until it ends")
    }

    fn select(&mut self, sql: &str, ps: &[Param]) -> Result<Vec<SealedEvent>> {
        select_on(self.conn(), sql, ps).map_err(final_err)
    }
}

impl Append for PgAppend<'_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        let sql = POSTGRES.select_event_by(EventKey::Seq);
        let seq = Param::Int(self.head.seq as i64);
        Ok(self.select(&sql, &[seq])?.pop())
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        self.store.anchor_on(self.conn()).map_err(final_err)
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        let sql = POSTGRES.select_event_by(EventKey::IdempotencyKey);
        Ok(self.select(&sql, &[Param::Text(key.to_owned())])?.pop())
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        check_batch(self.head.seq, batch, new_head)?;
        if batch.is_empty() {
            return Ok(());
        }
        let at = self.head.seq;
        let Conn { client, statements } = self.conn();
        insert_batch(statements, client, batch, new_head).map_err(|f| match f {
            // A duplicate id or idempotency key: the trail re-reads and resolves it.
            Fail::Pg(e)
                if e.as_db_error().is_some_and(|d| {
                    *d.code() == SqlState::UNIQUE_VIOLATION
                        || *d.code() == SqlState::T_R_SERIALIZATION_FAILURE
                        || *d.code() == SqlState::T_R_DEADLOCK_DETECTED
                }) =>
            {
                Error::Conflict {
                    expected: at,
                    actual: at,
                }
            }
            other => final_err(other),
        })?;
        self.head = new_head.clone();
        Ok(())
    }

    /// Commits, releases the head row's lock, and only then waits for durability.
    ///
    /// Holding the lock across each commit's WAL flush would put every writer's flush in one
    /// line, one after the other (PostgreSQL could not group them). So the append commits
    /// asynchronously, which releases the lock at once, and then commits a tiny transaction
    /// of its own that writes one WAL record (a logical message, which any role may emit and
    /// nothing stores) under the session's `synchronous_commit`, on by default: it returns
    /// once the WAL is flushed up to that commit record, which lies after this append's, and
    /// the flushes of many writers are grouped. The WAL is flushed in order, so a crash can
    /// only lose a suffix of the chain, never an acknowledged event or one it links to.
    fn commit(mut self: Box<Self>) -> Result<()> {
        let mut conn = self.conn.take().expect("an append commits once");
        // Past this point the server may have committed even if we see an error, so the
        // commit is never retried here: the trail reads back to find out.
        let out = conn
            .client
            .batch_execute("COMMIT")
            .and_then(|()| conn.client.batch_execute(FLUSH_SQL))
            .map_err(map_err);
        self.store.checkin_primary(conn);
        out
    }
}

impl Drop for PgAppend<'_> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if !conn.client.is_closed() {
                let _ = conn.client.batch_execute("ROLLBACK");
            }
            self.store.checkin_primary(conn);
        }
    }
}
