//! The append path: one transaction that locks and compares the head, inserts, moves the head.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{GenericClient, Statement};

use super::connect::{final_err, map_err, prepared, Conn, Fail};
use super::lifecycle::anchor_on;
use super::queue;
use super::read::{get, newest_involving_on, select_on};
use super::search::POSTGRES;
use super::PgStore;
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::sql::{EventKey, Param, Schema};
use crate::store::queue::{QueueId, Settled};
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, Append, AuditStore, Head, TargetKey};
use crate::{Error, Result};

/// The PostgreSQL element type of each of [`codec::COLUMNS`], in order: the events go in as
/// one array per column.
const COLUMN_TYPES: [&str; 27] = [
    "bigint", "bytea", "bigint", "bigint", "text", "text", "text", "text", "text", "text", "text",
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "bigint", "text",
    "bytea", "bytea", "bigint", "bytea", "bytea",
];

/// One statement that inserts a batch of events with every derived row and moves the head,
/// whatever the batch's size (every row set is an array, so one prepared statement serves
/// all): the append's round trips stay few however rich the events are. Placeholders: $1..$9
/// the derived rows, $10..$12 the new head, $13 the head seq expected, then one array per
/// event column and the search words (space-joined).
///
/// `Guard::Locked`: inside an append that holds the head row's lock ($13 unused, compared
/// when the lock was taken). `Guard::Compare`: a whole compare-and-append on its own, in
/// autocommit, so the commit (and its WAL flush) rides in the same round trip: it writes
/// only if it can lock the head row at once (`SKIP LOCKED`: a writer holding the lock is
/// never waited for), the head is still at $13 and no drafts are queued, and it moves the
/// head only then, so the head row's update count says whether it appended.
pub(super) fn insert_sql(guard: Guard, schema: &Schema) -> String {
    let n = codec::COLUMNS.len();
    let arrays: Vec<String> = COLUMN_TYPES
        .iter()
        .enumerate()
        .map(|(c, ty)| format!("${}::{ty}[]", 14 + c))
        .chain([format!("${}::text[]", 14 + n)])
        .collect();
    let names: Vec<String> = (0..n).map(|c| format!("c{c}")).collect();
    let head = schema.table("auditkit_head");
    let queue = schema.table("auditkit_queue");
    let (go, when) = match guard {
        Guard::Locked => (String::new(), ""),
        Guard::Compare => (
            format!(
                "go AS (SELECT 1 FROM {head} WHERE id = 1 AND seq = $13 \
                 AND NOT EXISTS (SELECT 1 FROM {queue}) FOR UPDATE SKIP LOCKED), "
            ),
            " WHERE EXISTS (SELECT 1 FROM go)",
        ),
    };
    format!(
        "WITH {go}ev AS (INSERT INTO {events} ({cols}, search_words) \
                SELECT {names}, string_to_array(w, ' ') \
                FROM unnest({arrays}) AS u({names}, w){when}), \
         tg AS (INSERT INTO {targets} (kind, id, seq) \
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]){when}), \
         ch AS (INSERT INTO {changes} (path, seq) \
                SELECT * FROM unnest($4::text[], $5::bigint[]){when}), \
         pv AS (INSERT INTO {personal} (seq, path, value, salt) \
                SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::bytea[]){when}) \
         UPDATE {head} SET seq = $10, hash = $11, frontier = $12 \
         WHERE id = 1 AND $13::bigint IS NOT NULL{}",
        match guard {
            Guard::Locked => "",
            Guard::Compare => " AND EXISTS (SELECT 1 FROM go)",
        },
        cols = codec::COLUMNS.join(", "),
        events = schema.table("auditkit_events"),
        targets = schema.table("auditkit_event_targets"),
        changes = schema.table("auditkit_event_changes"),
        personal = schema.table("auditkit_personal_values"),
        names = names.join(", "),
        arrays = arrays.join(", "),
    )
}

/// How [`insert_sql`] knows the head is the one the events follow.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Guard {
    /// The append holds the head row's lock.
    Locked,
    /// It compares and locks in the same statement, or writes nothing.
    Compare,
}

/// One event column as an array parameter.
pub(super) enum Column<'a> {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<std::borrow::Cow<'a, str>>>),
    Blob(Vec<Option<std::borrow::Cow<'a, [u8]>>>),
}

impl<'a> Column<'a> {
    fn of_type(ty: &str, n: usize) -> Self {
        match ty {
            "bigint" => Column::Int(Vec::with_capacity(n)),
            "bytea" => Column::Blob(Vec::with_capacity(n)),
            _ => Column::Text(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, v: codec::ColumnValue<'a>, name: &str) -> Result<()> {
        use codec::ColumnValue as V;
        match (self, v) {
            (Column::Int(c), V::Int(i)) => c.push(Some(i)),
            (Column::Int(c), V::Null) => c.push(None),
            (Column::Text(c), V::Text(t)) => c.push(Some(t)),
            (Column::Text(c), V::Null) => c.push(None),
            (Column::Blob(c), V::Blob(b)) => c.push(Some(b)),
            (Column::Blob(c), V::Null) => c.push(None),
            _ => {
                return Err(Error::corrupt(format!(
                    "the row codec gave column {name} a value of another type"
                )))
            }
        }
        Ok(())
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Int(c) => c,
            Column::Text(c) => c,
            Column::Blob(c) => c,
        }
    }
}

/// [`insert_sql`]'s parameters for one batch, in its order: one array per derived-row
/// column and per event column, and the head. Built once here from the batch and its index
/// rows, and bound by the `postgres` executor ([`insert_batch`]) or by sqlx's (`sqlx.rs`).
pub(super) struct InsertParams<'a> {
    pub(super) t_kind: Vec<&'a str>,
    pub(super) t_id: Vec<&'a str>,
    pub(super) t_seq: Vec<i64>,
    pub(super) c_path: Vec<&'a str>,
    pub(super) c_seq: Vec<i64>,
    pub(super) p_seq: Vec<i64>,
    pub(super) p_path: Vec<&'a str>,
    pub(super) p_value: Vec<&'a str>,
    pub(super) p_salt: Vec<&'a [u8]>,
    pub(super) head_seq: i64,
    pub(super) head_hash: Vec<u8>,
    pub(super) frontier: Vec<u8>,
    pub(super) expected: i64,
    pub(super) columns: Vec<Column<'a>>,
    pub(super) words: Vec<&'a str>,
}

/// The index rows of each event of `batch`.
pub(super) fn index_rows(batch: &[SealedEvent]) -> Result<Vec<IndexRows<'_>>> {
    batch.iter().map(|e| IndexRows::of(e, &POSTGRES)).collect()
}

impl<'a> InsertParams<'a> {
    /// The parameters for `batch` (with its `rows`) after head seq `expected`, moving the
    /// head to `new_head`.
    pub(super) fn new(
        batch: &'a [SealedEvent],
        rows: &'a [IndexRows<'a>],
        new_head: &Head,
        expected: u64,
    ) -> Result<Self> {
        let mut p = InsertParams {
            t_kind: Vec::new(),
            t_id: Vec::new(),
            t_seq: Vec::new(),
            c_path: Vec::new(),
            c_seq: Vec::new(),
            p_seq: Vec::new(),
            p_path: Vec::new(),
            p_value: Vec::new(),
            p_salt: Vec::new(),
            head_seq: new_head.seq as i64,
            head_hash: new_head.hash.to_vec(),
            frontier: merkle::to_bytes(&new_head.frontier),
            expected: expected as i64,
            columns: COLUMN_TYPES
                .iter()
                .map(|ty| Column::of_type(ty, batch.len()))
                .collect(),
            words: Vec::with_capacity(batch.len()),
        };
        for (e, r) in batch.iter().zip(rows) {
            for ((column, value), name) in p
                .columns
                .iter_mut()
                .zip(codec::encode_ref(e))
                .zip(codec::COLUMNS)
            {
                column.push(value, name)?;
            }
            p.words.push(&r.search);
            let seq = e.seq as i64;
            for (kind, id) in &r.involved {
                p.t_kind.push(kind);
                p.t_id.push(id);
                p.t_seq.push(seq);
            }
            for path in &r.change_paths {
                p.c_path.push(path);
                p.c_seq.push(seq);
            }
            for pv in &r.personal {
                p.p_seq.push(seq);
                p.p_path.push(pv.path.as_ref());
                p.p_value.push(pv.value);
                p.p_salt.push(pv.salt);
            }
        }
        Ok(p)
    }
}

/// Inserts `batch` and its index rows and sets the head to `new_head`; returns how many head
/// rows moved (0 only when a `Guard::Compare` found the head locked or moved, or drafts
/// queued). `Guard::Locked` runs in the open transaction; `Guard::Compare` is one statement
/// in autocommit.
fn insert_batch(
    statements: &mut HashMap<String, Statement>,
    tx: &mut impl GenericClient,
    schema: &Schema,
    batch: &[SealedEvent],
    new_head: &Head,
    expected: u64,
    guard: Guard,
) -> std::result::Result<u64, Fail> {
    let rows = index_rows(batch)?;
    let p = InsertParams::new(batch, &rows, new_head, expected)?;
    let mut ps: Vec<&(dyn ToSql + Sync)> = vec![
        &p.t_kind,
        &p.t_id,
        &p.t_seq,
        &p.c_path,
        &p.c_seq,
        &p.p_seq,
        &p.p_path,
        &p.p_value,
        &p.p_salt,
        &p.head_seq,
        &p.head_hash,
        &p.frontier,
        &p.expected,
    ];
    ps.extend(p.columns.iter().map(Column::as_sql));
    ps.push(&p.words);
    let stmt = prepared(statements, tx, &insert_sql(guard, schema))?;
    Ok(tx.execute(&stmt, &ps)?)
}

/// Whether `e` is a duplicate id or idempotency key, or a lost race: [`Error::Conflict`],
/// which the trail resolves by reading again.
fn is_conflict(e: &postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| {
        *d.code() == SqlState::UNIQUE_VIOLATION
            || *d.code() == SqlState::T_R_SERIALIZATION_FAILURE
            || *d.code() == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// [`AuditStore::append`]: compared and appended in a single autocommit statement (one
/// round trip, the commit's WAL flush included, never waiting for a writer that holds the
/// lock).
pub(super) fn compare_and_append(
    store: &PgStore,
    expected: u64,
    batch: &[SealedEvent],
    new_head: &Head,
) -> Result<()> {
    check_batch(expected, batch, new_head)?;
    if batch.is_empty() {
        return crate::store::append_through(store, expected, batch, new_head);
    }
    let conflict = Error::Conflict {
        expected,
        actual: expected,
    };
    let mut conn = store.checkout_primary()?;
    let Conn {
        client, statements, ..
    } = &mut conn;
    let out = insert_batch(
        statements,
        client,
        &store.tables,
        batch,
        new_head,
        expected,
        Guard::Compare,
    );
    let closed = conn.client.is_closed();
    store.checkin_primary(conn);
    match out {
        Ok(1) => Ok(()),
        // Moved, locked, or drafts queued: where the head is now, for the error.
        Ok(_) => match store.run(|c| {
            Ok(c.client
                .query_one("SELECT seq FROM auditkit_head WHERE id = 1", &[])?)
        }) {
            Ok(row) => Err(Error::Conflict {
                expected,
                actual: get::<i64>(&row, 0)? as u64,
            }),
            Err(_) => Err(conflict),
        },
        Err(Fail::Pg(e)) if is_conflict(&e) => Err(conflict),
        // A connection found dead (the server restarted since it was last used) may or may
        // not have carried the statement. Under the lock on a fresh connection, which waits
        // out a statement still running, the log shows which: the batch in place, the head
        // still where it was (then the batch goes in now), or another writer's events.
        Err(Fail::Pg(e)) if closed || e.is_closed() => {
            let mut tx = begin(store)?;
            let head = tx.head.clone();
            if head.seq == expected {
                tx.push(batch, new_head)?;
                return Box::new(tx).commit();
            }
            drop(tx);
            let found = store.read(batch[0].seq, batch.len())?;
            let ours = found.len() == batch.len()
                && found
                    .iter()
                    .zip(batch)
                    .all(|(a, b)| a.seq == b.seq && a.id == b.id);
            match ours {
                true => Ok(()),
                false => Err(Error::Conflict {
                    expected,
                    actual: head.seq,
                }),
            }
        }
        Err(f) => Err(final_err(f)),
    }
}

/// Inserts `batch` after head seq `at` under the lock, with `classify` saying what a failure
/// means to the caller.
fn push_on(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
    at: u64,
    batch: &[SealedEvent],
    new_head: &Head,
    classify: impl FnOnce(Fail) -> Error,
) -> Result<()> {
    check_batch(at, batch, new_head)?;
    if batch.is_empty() {
        return Ok(());
    }
    insert_batch(
        statements,
        client,
        schema,
        batch,
        new_head,
        at,
        Guard::Locked,
    )
    .map(drop)
    .map_err(classify)
}

/// The connection an append holds: its own from the pool, or a queued writer's
/// ([`super::queue`]), which it gives back to that writer.
pub(super) enum Held<'a> {
    Pooled(Box<Conn>),
    Lent(&'a mut Conn),
}

impl Held<'_> {
    fn conn(&mut self) -> &mut Conn {
        match self {
            Held::Pooled(c) => c,
            Held::Lent(c) => c,
        }
    }
}

/// An append on one pooled connection: a READ COMMITTED transaction that holds the head
/// row's lock (`FOR UPDATE`) from the head read to the commit, so writers on every app server
/// queue on the lock (or in the queue table) before they seal, never after, and no sealed
/// batch is thrown away.
pub(super) struct PgAppend<'a> {
    store: &'a PgStore,
    /// `None` once handed back.
    conn: Option<Held<'a>>,
    head: Head,
    /// Whether the queue table had drafts in it when the lock was taken.
    queue_waiting: bool,
    /// Outcomes to tell the queued writers at commit.
    settled: Vec<(QueueId, Settled)>,
    /// Ids [`Append::queued`] handed out.
    handed_out: Vec<QueueId>,
    /// Drafts taken from the queue with the lock, in the same round trip.
    taken: Option<queue::Taken>,
}

/// A transaction that writes one WAL record and commits synchronously: its commit returns once
/// the WAL is flushed past every commit before it (see [`PgAppend::commit`](Append::commit)).
pub(super) const FLUSH_SQL: &str =
    "BEGIN; SELECT pg_logical_emit_message(true, 'auditkit', 'flush'); COMMIT";

/// Opens the append's transaction. READ COMMITTED: after waiting for the row lock, `FOR
/// UPDATE` returns the row as the previous writer committed it. Asynchronous commit: the
/// head row's lock is released at commit, before the WAL flush, so the next writer seals
/// while this one's flush is still under way (see `commit`).
pub(super) const BEGIN_SQL: &str =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = off";

/// Takes the head row's lock on `client` (waiting for the writer holding it) and reads the
/// head, with whether drafts wait in the queue.
fn lock_head(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
) -> std::result::Result<(Head, bool), Fail> {
    let stmt = prepared(statements, client, &lock_head_sql(schema))?;
    let row = client.query_one(&stmt, &[])?;
    let head = codec::decode_head(get(&row, 0)?, get(&row, 1)?, get(&row, 2)?)?;
    Ok((head, get(&row, 3)?))
}

/// What [`lock_head`] runs: the head row `FOR UPDATE`, and whether drafts are queued.
pub(super) fn lock_head_sql(schema: &Schema) -> String {
    format!(
        "SELECT seq, hash, frontier, EXISTS (SELECT 1 FROM {}) FROM {} WHERE id = 1 FOR UPDATE",
        schema.table("auditkit_queue"),
        schema.table("auditkit_head")
    )
}

/// The stored event with `by` equal to `value` (a seq or an idempotency key), read on `client`
/// under the lock, a failure classified by `classify`.
fn event_on(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    schema: &Schema,
    (by, value): (EventKey, Param),
    classify: fn(Fail) -> Error,
) -> Result<Option<SealedEvent>> {
    let sql = POSTGRES.select_event_by(schema, by);
    Ok(select_on(statements, client, schema, &sql, &[value])
        .map_err(classify)?
        .pop())
}

/// Begins an append: takes the head row's lock (waiting for the writer holding it) and reads
/// the head as that writer committed it. A connection found dead before anything was written
/// is replaced, as for every other operation.
pub(super) fn begin(store: &PgStore) -> Result<PgAppend<'_>> {
    let mut attempts = 0;
    loop {
        let mut conn = store.checkout_primary()?;
        let locked = (|| -> std::result::Result<(Head, bool), Fail> {
            let Conn {
                client, statements, ..
            } = &mut conn;
            client.batch_execute(BEGIN_SQL)?;
            lock_head(statements, client, &store.tables)
        })();
        match locked {
            Ok((head, queue_waiting)) => {
                return Ok(PgAppend::new(
                    store,
                    Held::Pooled(Box::new(conn)),
                    head,
                    queue_waiting,
                ))
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

impl<'a> PgAppend<'a> {
    pub(super) fn new(store: &'a PgStore, conn: Held<'a>, head: Head, queue_waiting: bool) -> Self {
        PgAppend {
            store,
            conn: Some(conn),
            head,
            queue_waiting,
            settled: Vec::new(),
            handed_out: Vec::new(),
            taken: None,
        }
    }

    /// An append whose queued drafts were taken with its lock.
    pub(super) fn with_taken(mut self, taken: queue::Taken) -> Self {
        self.taken = Some(taken);
        self
    }

    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("an append holds its connection until it ends")
            .conn()
    }

    /// Ends the append: the pooled connection back to the pool, a lent one to its writer.
    fn release(&mut self, rollback: bool) {
        match self.conn.take() {
            Some(Held::Pooled(mut conn)) => {
                if rollback && !conn.client.is_closed() {
                    let _ = conn.client.batch_execute("ROLLBACK");
                }
                self.store.checkin_primary(*conn);
            }
            Some(Held::Lent(conn)) if rollback && !conn.client.is_closed() => {
                let _ = conn.client.batch_execute("ROLLBACK");
            }
            Some(Held::Lent(_)) | None => {}
        }
    }
}

impl Append for PgAppend<'_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        let (seq, store) = (self.head.seq as i64, self.store);
        let Conn {
            client, statements, ..
        } = self.conn();
        let by = (EventKey::Seq, Param::Int(seq));
        event_on(statements, client, &store.tables, by, final_err)
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        let store = self.store;
        let Conn {
            client, statements, ..
        } = self.conn();
        anchor_on(statements, client, &store.tables).map_err(final_err)
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        let store = self.store;
        let Conn {
            client, statements, ..
        } = self.conn();
        let by = (EventKey::IdempotencyKey, Param::Text(key.to_owned()));
        event_on(statements, client, &store.tables, by, final_err)
    }

    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        let store = self.store;
        let Conn {
            client, statements, ..
        } = self.conn();
        newest_involving_on(statements, client, &store.tables, targets)
            .map(Some)
            .map_err(final_err)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let (at, store) = (self.head.seq, self.store);
        let Conn {
            client, statements, ..
        } = self.conn();
        push_on(
            statements,
            client,
            &store.tables,
            at,
            batch,
            new_head,
            |f| {
                match f {
                    // A duplicate id or idempotency key: the trail re-reads and resolves it.
                    Fail::Pg(e) if is_conflict(&e) => Error::Conflict {
                        expected: at,
                        actual: at,
                    },
                    other => final_err(other),
                }
            },
        )?;
        self.head = new_head.clone();
        Ok(())
    }

    fn queued(&mut self) -> Result<Vec<(QueueId, SealedEvent)>> {
        let (drafts, refused) = match self.taken.take() {
            Some(taken) => taken,
            None if !self.queue_waiting || !self.handed_out.is_empty() => return Ok(Vec::new()),
            None => queue::take(self.conn()).map_err(final_err)?,
        };
        self.handed_out = drafts.iter().map(|(id, _)| *id).collect();
        self.handed_out.extend(refused.iter().map(|(id, _)| *id));
        self.settled.extend(refused);
        Ok(drafts)
    }

    fn settle(&mut self, outcomes: &[(QueueId, Settled)]) -> Result<()> {
        if let Some((id, _)) = outcomes
            .iter()
            .find(|(id, _)| !self.handed_out.contains(id))
        {
            return Err(Error::invalid(
                "settle",
                format!("queue id {} was not handed out by this append", id.0),
            ));
        }
        self.settled.extend_from_slice(outcomes);
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
    ///
    /// An append that settled queued drafts commits synchronously instead, in the same round
    /// trip as their removal from the queue and the notices to their writers: PostgreSQL
    /// delivers a notice only once its transaction is durable, so a queued writer that hears
    /// of its events can acknowledge them. Its own events are then durable too.
    fn commit(mut self: Box<Self>) -> Result<()> {
        let settled = !self.settled.is_empty();
        let sql = match settled {
            true => queue::settle_and_commit_sql(&self.store.log_id, &self.settled),
            false => "COMMIT".to_owned(),
        };
        // Past this point the server may have committed even if we see an error, so the
        // commit is never retried here: the trail reads back to find out. The flush goes in
        // a round trip of its own: until it returns, the commit is visible to other writers
        // but may not be durable, and tests/pg_durability.rs holds it there.
        let client = &mut self.conn().client;
        let out = client
            .batch_execute(&sql)
            .and_then(|()| match settled {
                true => Ok(()),
                false => client.batch_execute(FLUSH_SQL),
            })
            .map_err(map_err);
        self.release(false);
        out
    }
}

impl Drop for PgAppend<'_> {
    fn drop(&mut self) {
        self.release(true);
    }
}

/// An append inside the app's open transaction on its own connection
/// ([`crate::store::AppendWithin`]), in a savepoint of its own: every statement is
/// schema-qualified (the app's `search_path` is its own), any error rolls back to the
/// savepoint and leaves the app's transaction usable, and `commit` releases the savepoint,
/// leaving the app's transaction to commit or roll back.
pub(super) struct PgAppendWithin<'a, 'c> {
    store: &'a PgStore,
    tx: &'a mut postgres::Transaction<'c>,
    /// Statements prepared on the app's connection for this append.
    statements: HashMap<String, Statement>,
    head: Head,
    /// The savepoint is open: dropping rolls back to it.
    open: bool,
}

const SAVEPOINT_ROLLBACK: &str =
    "ROLLBACK TO SAVEPOINT auditkit_append; RELEASE SAVEPOINT auditkit_append";

/// What a failure inside the app's transaction means: a serialization failure or deadlock
/// (REPEATABLE READ, SERIALIZABLE) asks for the whole transaction to run again.
fn within_err(f: Fail) -> Error {
    match f {
        Fail::Pg(e)
            if e.as_db_error()
                .is_some_and(|d| RETRY_TRANSACTION_STATES.contains(&d.code().code())) =>
        {
            Error::retry_transaction(map_err(e).to_string())
        }
        other => final_err(other),
    }
}

/// The SQLSTATEs that ask for the app's whole transaction to run again, whichever driver
/// (here, or sqlx's in `within_sqlx.rs`) reports them: a serialization failure, a deadlock.
pub(super) const RETRY_TRANSACTION_STATES: [&str; 2] = ["40001", "40P01"];

/// Begins an append inside `tx`, in one round trip: the savepoint, the head row's lock, and
/// the log id beside it (the app's transaction must be on the store's log).
pub(super) fn begin_within<'a, 'c>(
    store: &'a PgStore,
    tx: &'a mut postgres::Transaction<'c>,
) -> Result<PgAppendWithin<'a, 'c>> {
    let sql = format!(
        "SAVEPOINT auditkit_append; \
         SELECT m.value, h.seq::text, encode(h.hash, 'hex'), encode(h.frontier, 'hex') \
         FROM {head} h JOIN {meta} m ON m.key = 'log_id' WHERE h.id = 1 FOR UPDATE OF h",
        head = store.tables.table("auditkit_head"),
        meta = store.tables.table("auditkit_meta"),
    );
    let locked = tx.simple_query(&sql);
    let mut append = PgAppendWithin {
        store,
        tx,
        statements: HashMap::new(),
        head: Head::default(),
        open: true,
    };
    let messages = match locked {
        Ok(m) => m,
        Err(e) => {
            // Before the savepoint was taken the app's transaction had already failed:
            // then there is nothing to roll back to, and nothing of ours in it.
            if append.tx.batch_execute(SAVEPOINT_ROLLBACK).is_err() {
                append.open = false;
                return Err(Error::invalid(
                    "transaction",
                    format!(
                        "a savepoint cannot be opened in it ({}); record in a transaction that is open and has not failed",
                        map_err(e)
                    ),
                ));
            }
            append.open = false;
            if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
                return Err(not_this_log(store, None));
            }
            return Err(within_err(Fail::Pg(e)));
        }
    };
    let row = messages.into_iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    });
    let Some(row) = row else {
        return Err(not_this_log(store, None));
    };
    if row.get(0) != Some(store.log_id.as_str()) {
        return Err(not_this_log(store, row.get(0)));
    }
    append.head = queue::head_from_text(row.get(1), row.get(2), row.get(3))?;
    Ok(append)
}

/// The refusal of a transaction whose database holds `log` (or no auditkit log) where the
/// store's schema should be.
fn not_this_log(store: &PgStore, log: Option<&str>) -> Error {
    Error::invalid(
        "transaction",
        format!(
            "its database holds {} in schema {:?}, the store's log is {}; record inside a transaction on the store's own database",
            log.map_or("no auditkit log".to_owned(), |l| format!("audit log {l}")),
            store.schema,
            store.log_id
        ),
    )
}

impl<'a, 'c> PgAppendWithin<'a, 'c> {
    fn parts(
        &mut self,
    ) -> (
        &mut HashMap<String, Statement>,
        &mut postgres::Transaction<'c>,
    ) {
        (&mut self.statements, &mut *self.tx)
    }
}

impl Append for PgAppendWithin<'_, '_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        let (seq, store) = (self.head.seq as i64, self.store);
        let (statements, tx) = self.parts();
        let by = (EventKey::Seq, Param::Int(seq));
        event_on(statements, tx, &store.tables, by, within_err)
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        let store = self.store;
        let (statements, tx) = self.parts();
        anchor_on(statements, tx, &store.tables).map_err(within_err)
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        let store = self.store;
        let (statements, tx) = self.parts();
        let by = (EventKey::IdempotencyKey, Param::Text(key.to_owned()));
        event_on(statements, tx, &store.tables, by, within_err)
    }

    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        let store = self.store;
        let (statements, tx) = self.parts();
        newest_involving_on(statements, tx, &store.tables, targets)
            .map(Some)
            .map_err(within_err)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let (at, store) = (self.head.seq, self.store);
        let (statements, tx) = self.parts();
        push_on(
            statements,
            tx,
            &store.tables,
            at,
            batch,
            new_head,
            within_err,
        )?;
        self.head = new_head.clone();
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        // Statements prepared on the app's connection are closed before the savepoint ends.
        self.statements.clear();
        self.open = false;
        self.tx
            .batch_execute("RELEASE SAVEPOINT auditkit_append")
            .map_err(map_err)
    }
}

impl Drop for PgAppendWithin<'_, '_> {
    fn drop(&mut self) {
        if self.open {
            self.statements.clear();
            let _ = self.tx.batch_execute(SAVEPOINT_ROLLBACK);
        }
    }
}
