//! The append path: one transaction that locks and compares the head, inserts, moves the head.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{IsolationLevel, Statement};

use super::connect::{commit, prepared, Conn, Fail};
use super::read::{get, params};
use super::search::POSTGRES;
use super::PgStore;
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::sql::Param;
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, Head};
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
    tx: &mut postgres::Transaction<'_>,
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

pub(super) fn append(
    store: &PgStore,
    expected: u64,
    batch: &[SealedEvent],
    new_head: &Head,
) -> Result<()> {
    check_batch(expected, batch, new_head)?;
    if batch.is_empty() {
        let actual = super::read::head(store)?.seq;
        return match actual == expected {
            true => Ok(()),
            false => Err(Error::Conflict { expected, actual }),
        };
    }
    store.run(|conn| {
        let Conn { client, statements } = conn;
        // READ COMMITTED: after waiting for the head's row lock, FOR UPDATE returns the
        // row as the previous writer committed it, so the comparison below is current.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()?;
        let stmt = prepared(
            statements,
            &mut tx,
            "SELECT seq FROM auditkit_head WHERE id = 1 FOR UPDATE",
        )?;
        let actual: i64 = get(&tx.query_one(&stmt, &[])?, 0)?;
        let conflict = || Error::Conflict {
            expected,
            actual: actual as u64,
        };
        if actual as u64 != expected {
            return Err(conflict().into());
        }
        let classify = |f: Fail| match f {
            // A duplicate id or idempotency key: the trail re-reads and resolves it.
            Fail::Pg(e)
                if e.as_db_error().is_some_and(|d| {
                    *d.code() == SqlState::UNIQUE_VIOLATION
                        || *d.code() == SqlState::T_R_SERIALIZATION_FAILURE
                        || *d.code() == SqlState::T_R_DEADLOCK_DETECTED
                }) =>
            {
                Fail::Final(conflict())
            }
            other => other,
        };
        insert_batch(statements, &mut tx, batch, new_head).map_err(classify)?;
        // Past this point the server may have committed even if we see an error, so the
        // commit is never retried here: the trail reads back to find out.
        commit(tx)
    })
}
