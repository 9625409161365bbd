//! The append path: one `BEGIN IMMEDIATE` transaction for the events, their index rows, the head.

use rusqlite::types::{ToSqlOutput, ValueRef};
use std::sync::MutexGuard;

use rusqlite::{params_from_iter, Connection, ToSql};

use super::open::map_err;
use super::search::{self, SQLITE};
use super::{lifecycle, read, SqliteStore};
use crate::integrity::merkle;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, Append, Head, TargetKey};
use crate::{Error, Result};

impl ToSql for codec::ColumnValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            codec::ColumnValue::Null => ValueRef::Null,
            codec::ColumnValue::Int(i) => ValueRef::Integer(*i),
            codec::ColumnValue::Text(s) => ValueRef::Text(s.as_bytes()),
            codec::ColumnValue::Blob(b) => ValueRef::Blob(b.as_ref()),
        }))
    }
}

/// How an append's statements give way when SQLite refuses one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnRefusal {
    /// The whole transaction rolls back: the store's own appends, written `OR ROLLBACK` so
    /// that no statement needs a statement journal (see `schema::INDEXES_AND_TRIGGERS`).
    RollBack,
    /// Only the refused statement is undone: inside the app's transaction, where the
    /// append's savepoint then takes back the rest of it.
    Abort,
}

/// `INSERT [OR ROLLBACK] INTO auditkit_events (...) VALUES (?1, ...)`, built once for each.
fn insert_sql(on: OnRefusal) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let (cell, verb) = match on {
        OnRefusal::RollBack => (&SQL[0], "INSERT OR ROLLBACK"),
        OnRefusal::Abort => (&SQL[1], "INSERT"),
    };
    cell.get_or_init(|| {
        let placeholders: Vec<String> = (1..=codec::COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect();
        format!(
            "{verb} INTO auditkit_events ({}) VALUES ({})",
            codec::COLUMNS.join(", "),
            placeholders.join(", ")
        )
    })
}

/// Inserts `e`, following head seq `head`.
fn insert_event(tx: &Connection, e: &SealedEvent, on: OnRefusal, head: u64) -> Result<()> {
    let inserted = tx
        .prepare_cached(insert_sql(on))
        .map_err(map_err)?
        .execute(params_from_iter(codec::encode_ref(e)))
        .map_err(map_err);
    if let Err(err @ Error::Storage { .. }) = inserted {
        // Only to classify the failure: an id or key already stored is a conflict.
        let dup = tx
            .query_row(
                "SELECT 1 FROM auditkit_events WHERE id = ?1 OR idempotency_key = ?2",
                rusqlite::params![e.id.as_bytes().as_slice(), e.idempotency_key],
                |_| Ok(()),
            )
            .is_ok();
        return Err(if dup {
            Error::Conflict {
                expected: head,
                actual: head,
            }
        } else {
            err
        });
    }
    inserted.map(drop)
}

/// An `INSERT` of many rows into one table in a few statements: one statement per row costs
/// a cache lookup, a reset and a VDBE start each, and an event has eight or so derived rows.
/// Statements hold up to 16 rows, in power-of-two sizes, each text built once: few entries
/// in the statement cache.
struct RowsInsert {
    /// `INSERT ... INTO table (columns)`, without `VALUES`.
    head: &'static str,
    width: usize,
    /// The statement for `2^i` rows at `i`.
    sql: std::sync::OnceLock<Vec<String>>,
}

impl RowsInsert {
    const MAX_ROWS: usize = 16;

    const fn new(head: &'static str, width: usize) -> Self {
        RowsInsert {
            head,
            width,
            sql: std::sync::OnceLock::new(),
        }
    }

    /// Inserts the rows `values` holds, `width` values each, in order.
    fn run(&self, conn: &Connection, values: &[&dyn ToSql]) -> Result<()> {
        let sql = self.sql.get_or_init(|| {
            let row = format!("({})", vec!["?"; self.width].join(", "));
            (0..=Self::MAX_ROWS.trailing_zeros())
                .map(|i| {
                    format!(
                        "{} VALUES {}",
                        self.head,
                        vec![row.as_str(); 1 << i].join(", ")
                    )
                })
                .collect()
        });
        let mut rest = values;
        while !rest.is_empty() {
            let n = (rest.len() / self.width).min(Self::MAX_ROWS);
            let n = 1usize << (usize::BITS - 1 - n.leading_zeros());
            let (chunk, tail) = rest.split_at(n * self.width);
            let mut stmt = conn
                .prepare_cached(&sql[n.trailing_zeros() as usize])
                .map_err(map_err)?;
            for (i, value) in chunk.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, value).map_err(map_err)?;
            }
            stmt.raw_execute().map_err(map_err)?;
            rest = tail;
        }
        Ok(())
    }
}

/// The personal-value rows of a batch, refused as `on` says (a multi-row statement that
/// aborts keeps a statement journal; `OR ROLLBACK` needs none).
fn insert_personal(tx: &Connection, events: &[(u64, IndexRows<'_>)], on: OnRefusal) -> Result<()> {
    static ROLL_BACK: RowsInsert = RowsInsert::new(
        "INSERT OR ROLLBACK INTO auditkit_personal_values (seq, path, value, salt)",
        4,
    );
    static ABORT: RowsInsert = RowsInsert::new(
        "INSERT INTO auditkit_personal_values (seq, path, value, salt)",
        4,
    );
    let mut values: Vec<&dyn ToSql> = Vec::new();
    for (seq, rows) in events {
        for p in &rows.personal {
            values.extend([seq as &dyn ToSql, &p.path, &p.value, p.salt]);
        }
    }
    match on {
        OnRefusal::RollBack => ROLL_BACK.run(tx, &values),
        OnRefusal::Abort => ABORT.run(tx, &values),
    }
}

/// The target and change-path rows of a batch of events (the rows an index rebuild rewrites).
pub(super) fn insert_derived(tx: &Connection, events: &[(u64, IndexRows<'_>)]) -> Result<()> {
    static TARGETS: RowsInsert = RowsInsert::new(
        "INSERT OR IGNORE INTO auditkit_event_targets (kind, id, seq)",
        3,
    );
    static CHANGES: RowsInsert = RowsInsert::new(
        "INSERT OR IGNORE INTO auditkit_event_changes (path, seq)",
        2,
    );
    let mut values: Vec<&dyn ToSql> = Vec::new();
    for (seq, rows) in events {
        for (kind, id) in &rows.involved {
            values.extend([kind as &dyn ToSql, id, seq]);
        }
    }
    TARGETS.run(tx, &values)?;
    values.clear();
    for (seq, rows) in events {
        for path in &rows.change_paths {
            values.extend([path as &dyn ToSql, seq]);
        }
    }
    CHANGES.run(tx, &values)
}

/// Writes `batch` after `head` and moves the head to `new_head`, refusing as `on` says.
fn push_on(
    conn: &Connection,
    head: &Head,
    batch: &[SealedEvent],
    new_head: &Head,
    on: OnRefusal,
) -> Result<()> {
    check_batch(head.seq, batch, new_head)?;
    let mut rows = Vec::with_capacity(batch.len());
    for e in batch {
        insert_event(conn, e, on, head.seq)?;
        rows.push((e.seq, IndexRows::of(e, &SQLITE)?));
    }
    insert_personal(conn, &rows, on)?;
    insert_derived(conn, &rows)?;
    search::add(
        conn,
        head.seq,
        new_head.seq,
        rows.iter().map(|(seq, r)| (*seq, r.search.as_str())),
    )?;
    conn.prepare_cached(match on {
        // OR ROLLBACK, as for events: no statement journal for the head.
        OnRefusal::RollBack => {
            "UPDATE OR ROLLBACK auditkit_head SET seq = ?1, hash = ?2, frontier = ?3 WHERE id = 1"
        }
        OnRefusal::Abort => {
            "UPDATE auditkit_head SET seq = ?1, hash = ?2, frontier = ?3 WHERE id = 1"
        }
    })
    .map_err(map_err)?
    .execute(rusqlite::params![
        new_head.seq as i64,
        new_head.hash.as_slice(),
        merkle::to_bytes(&new_head.frontier)
    ])
    .map_err(map_err)?;
    Ok(())
}

/// An append on the writer connection: `BEGIN IMMEDIATE` takes SQLite's write lock (waiting
/// up to the busy timeout for another process's), which it holds until `commit` or drop.
pub(super) struct SqliteAppend<'a> {
    conn: MutexGuard<'a, Connection>,
    head: Head,
    /// The transaction is open: dropping rolls it back.
    open: bool,
}

/// Begins an append under the write lock; the head is read inside the transaction.
pub(super) fn begin(store: &SqliteStore) -> Result<SqliteAppend<'_>> {
    if store.options.read_only {
        return Err(Error::storage(
            "the database was opened read-only (SqliteOptions::read_only); open it with write access to record events",
        ));
    }
    let conn = store.writer();
    conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
    let mut append = SqliteAppend {
        conn,
        head: Head::default(),
        open: true,
    };
    append.head = read::head_on(&append.conn)?;
    Ok(append)
}

impl Append for SqliteAppend<'_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        read::at_seq_on(&self.conn, self.head.seq)
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        lifecycle::anchor(&self.conn)
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        read::key_on(&self.conn, key)
    }

    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        read::newest_involving_on(&self.conn, targets).map(Some)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        push_on(&self.conn, &self.head, batch, new_head, OnRefusal::RollBack)?;
        self.head = new_head.clone();
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT").map_err(map_err)
    }
}

impl Drop for SqliteAppend<'_> {
    fn drop(&mut self) {
        // A refused statement may already have rolled the transaction back (the guards raise
        // ROLLBACK); then this finds none to roll back, which is fine.
        if self.open || !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// An append inside the app's open transaction on its own connection to the store's file
/// ([`crate::store::AppendWithin`]), in a savepoint of its own: a refusal takes back the
/// append's writes and nothing else, and `commit` releases the savepoint, leaving the app's
/// transaction to commit or roll back.
pub(super) struct SqliteAppendWithin<'a> {
    conn: &'a Connection,
    head: Head,
    /// The savepoint is open: dropping rolls back to it.
    open: bool,
}

/// Begins an append inside the transaction open on `conn`, after checking that it is on the
/// store's file.
pub(super) fn begin_within<'a>(
    store: &'a SqliteStore,
    conn: &'a Connection,
) -> Result<SqliteAppendWithin<'a>> {
    if store.options.read_only {
        return Err(Error::storage(
            "the store was opened read-only (SqliteOptions::read_only); open it with write access to record events",
        ));
    }
    if conn.is_autocommit() {
        return Err(Error::invalid(
            "transaction",
            "the connection has no open transaction (it was committed or rolled back, maybe by a refused statement); begin a new one",
        ));
    }
    let theirs = super::schema::log_id(conn).map_err(|_| {
        Error::invalid(
            "transaction",
            "its database holds no auditkit log; record inside a transaction on the file the store was opened on (SqliteStore::adopt for the app's own database)",
        )
    })?;
    if theirs != store.log_id {
        return Err(Error::invalid(
            "transaction",
            format!(
                "its database holds audit log {theirs}, the store's is {}; record inside a transaction on the store's own file",
                store.log_id
            ),
        ));
    }
    conn.execute_batch("SAVEPOINT auditkit_append")
        .map_err(map_err)?;
    let mut append = SqliteAppendWithin {
        conn,
        head: Head::default(),
        open: true,
    };
    append.head = read::head_on(conn)?;
    Ok(append)
}

impl Append for SqliteAppendWithin<'_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        read::at_seq_on(self.conn, self.head.seq)
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        lifecycle::anchor(self.conn)
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        read::key_on(self.conn, key)
    }

    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        read::newest_involving_on(self.conn, targets).map(Some)
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        push_on(self.conn, &self.head, batch, new_head, OnRefusal::Abort)?;
        self.head = new_head.clone();
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.conn
            .execute_batch("RELEASE auditkit_append")
            .map_err(map_err)
    }
}

impl Drop for SqliteAppendWithin<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let _ = self
                .conn
                .execute_batch("ROLLBACK TO auditkit_append; RELEASE auditkit_append");
        }
    }
}
