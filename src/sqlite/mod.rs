//! [`SqliteStore`]: the bundled SQLite backend (feature `sqlite`, on by default).
//!
//! - WAL journal, `synchronous=FULL` by default: an acknowledged event survives power loss.
//!   [`Synchronous::Normal`] is an explicit opt-in that may lose the newest commits on power
//!   loss (never on a process crash).
//! - Appends take the write lock up front (`BEGIN IMMEDIATE`) and compare the head, so several
//!   processes on one file keep one linear chain.
//! - Triggers refuse UPDATE and DELETE of events (outside a purge) and any INSERT that is not
//!   at head + 1; defensive mode is on. They stop accidents, not an attacker with the file:
//!   keep checkpoints outside the database for that.
//! - Every query filter runs on an index.

mod file;
mod lifecycle;
mod schema;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode, OpenFlags, ToSql, TransactionBehavior};
use uuid::Uuid;

pub use schema::SCHEMA_VERSION;

use crate::integrity::merkle;
use crate::query::summary::GroupBy;
use crate::query::Query;
use crate::sql::codec::{self, PersonalLookup, RowAccess};
use crate::sql::filter::{order_by, SqlBuilder};
use crate::sql::{Dialect, Param};
use crate::store::sealed::{SealedEvent, SealedEventRef};
use crate::store::{check_batch, AuditStore, Head, PersonalPath};
use crate::{Error, Result};

/// Default time a writer waits for another's lock before [`Error::Busy`]: 5 seconds.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How hard SQLite works to make each commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// Every commit is on disk before it is acknowledged (default): nothing acknowledged is
    /// lost, even on power loss.
    #[default]
    Full,
    /// Faster commits; in WAL mode the newest commits may be lost on power loss or an OS
    /// crash (not on an application crash). Opt in only if that is acceptable.
    Normal,
}

/// Options for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// How long to wait for another writer's lock (default [`DEFAULT_BUSY_TIMEOUT`]).
    pub busy_timeout: Duration,
    /// Durability of commits (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// Largest size of the database file, in pages (`PRAGMA max_page_count`; a page is 4 KiB
    /// by default). An append that would grow past it fails with [`Error::Storage`] and
    /// stores nothing. Default `None`: no cap beyond SQLite's own.
    pub max_page_count: Option<u32>,
    /// Open the database read-only (default `false`): reads, queries and verify work;
    /// recording fails with [`Error::Storage`]. The file must exist and have the current
    /// schema version.
    pub read_only: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            synchronous: Synchronous::Full,
            max_page_count: None,
            read_only: false,
        }
    }
}

impl SqliteOptions {
    /// Sets the busy timeout.
    #[must_use]
    pub fn busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// Sets the durability of commits.
    #[must_use]
    pub fn synchronous(mut self, s: Synchronous) -> Self {
        self.synchronous = s;
        self
    }

    /// Caps the database size at `pages` pages (see the field of the same name).
    #[must_use]
    pub fn max_page_count(mut self, pages: u32) -> Self {
        self.max_page_count = Some(pages);
        self
    }

    /// Opens the database read-only (see the field of the same name).
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}

/// An [`AuditStore`] in a SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    log_id: String,
    writer: Mutex<Connection>,
    /// Reader connections for file databases (reads proceed while a commit is syncing);
    /// `None` for an in-memory database, which has only the writer.
    readers: Option<Mutex<Vec<Connection>>>,
    path: Option<PathBuf>,
    options: SqliteOptions,
    /// Damage found when a read-only store was opened (see [`file::inspect`]), which verify
    /// reports; a read-write open refuses such a file instead.
    damage: Option<String>,
}

/// How [`map_err`] ends the message of a corruption SQLite itself found, so that the store can
/// add where it found it ([`SqliteStore::locate_damage`]).
const DAMAGED: &str = "the file is not an intact SQLite database";

pub(crate) fn map_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        let msg = msg.clone().unwrap_or_else(|| f.to_string());
        return match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::Busy(msg),
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                Error::Corrupt(format!("{msg}; {DAMAGED}"))
            }
            ErrorCode::DiskFull => Error::Storage(format!(
                "{msg}; the disk or the database's size limit is full, free space and retry"
            )),
            ErrorCode::ReadOnly => Error::Storage(format!(
                "{msg}; the database is read-only, open it with write access to record events"
            )),
            ErrorCode::CannotOpen => Error::Storage(format!(
                "{msg}; check that the directory exists and is writable"
            )),
            _ => Error::Storage(msg),
        };
    }
    Error::Storage(e.to_string())
}

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

impl ToSql for codec::ColumnValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            codec::ColumnValue::Null => ValueRef::Null,
            codec::ColumnValue::Int(i) => ValueRef::Integer(*i),
            codec::ColumnValue::Text(s) => ValueRef::Text(s.as_bytes()),
            codec::ColumnValue::Blob(b) => ValueRef::Blob(b),
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
    Error::Corrupt(format!("column {name}: {e}"))
}

const SQLITE: Dialect = Dialect {
    placeholder: |n| format!("?{n}"),
    search: |ph| format!("e.seq IN (SELECT rowid FROM event_search WHERE event_search MATCH {ph})"),
    search_param: |words| {
        words
            .iter()
            .map(|w| format!("\"{}\"", fts_token(w)))
            .collect::<Vec<_>>()
            .join(" ")
    },
};

/// The FTS5 token standing for one search word (see [`crate::query::words`]).
///
/// FTS5's unicode61 tokenizer does not split and fold text the way `Query::matches` does
/// (private-use characters and some marks are word characters to it, its case folding
/// predates Unicode's current tables), so a search could find other events in SQLite than
/// in memory. The store therefore splits words itself and hands FTS5 one ASCII token per
/// word, which unicode61 keeps whole and unchanged: `a` + the word when it is ASCII letters
/// and digits, else `u` + the hex of its UTF-8. The prefixes keep the two forms apart.
fn fts_token(word: &str) -> String {
    let mut out = String::with_capacity(word.len() * 2 + 1);
    push_fts_token(word, &mut out);
    out
}

/// Appends the [`fts_token`] of `word` to `out`.
fn push_fts_token(word: &str, out: &mut String) {
    if word.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.push('a');
        out.push_str(word);
    } else {
        out.push('u');
        out.push_str(&hex::encode(word));
    }
}

/// The indexed body of an event: its search words as FTS5 tokens.
pub(crate) fn search_body(e: &SealedEvent) -> Result<String> {
    Ok(search_tokens(&e.search_text()?))
}

/// The words of a search text as FTS5 tokens: [`crate::query::words`] then [`fts_token`],
/// in one pass that allocates only for words with non-ASCII characters (it runs for every
/// recorded event).
fn search_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.bytes().all(|b| b.is_ascii_alphanumeric()) {
            // ASCII letters and digits lowercase to themselves' ASCII lowercase.
            out.push('a');
            out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            push_fts_token(&word.to_lowercase(), &mut out);
        }
    }
    out
}

/// What every connection of a store gets, the writer and the readers alike.
fn configure_common(conn: &Connection, options: &SqliteOptions, damaged: bool) -> Result<()> {
    conn.busy_timeout(options.busy_timeout).map_err(map_err)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, !damaged)
        .map_err(map_err)?;
    if damaged {
        // A read-only look at a file cut short: SQLite refuses a file shorter than its
        // header's page count unless writable_schema is on (which defensive mode forbids). On
        // a read-only connection that writes nothing; it lets verify read what is left and
        // say where the damage is.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_WRITABLE_SCHEMA, true)
            .map_err(map_err)?;
    }
    // One plan per statement whatever its bound values: without it SQLite re-prepared a
    // cached query each time a parameter it had looked at while planning changed (a
    // booking's history paid that on every call).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The writer connection's settings.
fn configure(conn: &Connection, options: &SqliteOptions, damaged: bool) -> Result<()> {
    configure_common(conn, options, damaged)?;
    if options.read_only {
        // The journal mode and sync level are the writers' business; a read-only connection
        // cannot set them.
        return Ok(());
    }
    if let Some(pages) = options.max_page_count {
        conn.pragma_update(None, "max_page_count", pages)
            .map_err(map_err)?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(map_err)?;
    let sync = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(map_err)?;
    // Erased personal values and purged events must not linger in freed pages of the file.
    conn.pragma_update(None, "secure_delete", true)
        .map_err(map_err)?;
    // Statements that can abort halfway (purge, erasure) keep a statement journal; one event
    // touches a dozen index pages, past the 64 KiB at which SQLite spills that journal to a
    // temporary file. In memory it costs a copy instead of a write per page.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(map_err)?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the audit database at `path` with default options.
    ///
    /// Nothing is written to an existing file before its own bytes show it is an auditkit
    /// database of this or an older schema, whole: its header and WAL are read directly first
    /// (README, "Reliability").
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a file that is not an auditkit SQLite database, or one shorter
    /// than the pages its header says it holds (open it `read_only` to verify what is left),
    /// [`Error::SchemaTooNew`] for one written by a newer auditkit, [`Error::Busy`] when
    /// another process holds it locked past the timeout, [`Error::Storage`] when it cannot be
    /// opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the audit database at `path` with `options`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`]; with `read_only`, also [`Error::Storage`] when the file does
    /// not exist and [`Error::Corrupt`] when its schema needs a migration (open it once with
    /// write access). A `read_only` open accepts a file cut short, so that
    /// [`crate::AuditTrail::verify`] can report what is damaged.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let damage = file::inspect(&path)?;
        if let (Some(damage), false) = (&damage, options.read_only) {
            return Err(Error::Corrupt(format!(
                "{damage}; nothing was written to it. Open it with SqliteOptions::read_only and run verify to see what is left, and restore it from a backup"
            )));
        }
        let flags = if options.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(map_err)?;
        // Until the file proves to be auditkit's and intact, closing must not checkpoint: a
        // WAL SQLite could replay but that does not fit the main file (one put back from an
        // earlier copy) would otherwise be written into it on the way out of a refusal.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(map_err)?;
        configure(&conn, &options, damage.is_some())?;
        let log_id = if options.read_only {
            schema::inspect(&conn)
        } else {
            schema::prepare(&mut conn)
        }
        .map_err(|e| match &damage {
            Some(d) => Error::Corrupt(format!("{d}; {e}")),
            None => e,
        })?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
            .map_err(map_err)?;
        Ok(SqliteStore {
            log_id,
            writer: Mutex::new(conn),
            readers: Some(Mutex::new(Vec::new())),
            path: Some(path),
            options,
            damage,
        })
    }

    /// A fresh database in memory: gone when the store is dropped. For tests and examples.
    ///
    /// # Errors
    /// [`Error::Storage`] when SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory().map_err(map_err)?;
        let options = SqliteOptions::default();
        configure(&conn, &options, false)?;
        let log_id = schema::prepare(&mut conn)?;
        Ok(SqliteStore {
            log_id,
            writer: Mutex::new(conn),
            readers: None,
            path: None,
            options,
            damage: None,
        })
    }

    /// The database file, `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // rusqlite rolls back an open transaction when it is dropped during a panic, so the
        // connection behind a poisoned lock is clean.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a reader connection (the writer for in-memory databases).
    fn read_with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let Some(pool) = &self.readers else {
            return f(&self.writer());
        };
        let conn = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    self.path.as_ref().expect("file stores have a path"),
                    if self.options.read_only {
                        OpenFlags::SQLITE_OPEN_READ_ONLY
                    } else {
                        OpenFlags::SQLITE_OPEN_READ_WRITE
                    } | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(map_err)?;
                configure_common(&c, &self.options, self.damage.is_some())?;
                c.pragma_update(None, "query_only", true).map_err(map_err)?;
                c
            }
        };
        let out = f(&conn).map_err(|e| self.locate_damage(&conn, e));
        let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Adds to a corruption SQLite reported where in the file it is: SQLite's own
    /// `quick_check` (its first findings), with each b-tree named by its table or index.
    /// Other errors pass through.
    /// A file known to be cut short says so in every corruption it causes.
    fn locate_damage(&self, conn: &Connection, e: Error) -> Error {
        let Error::Corrupt(msg) = &e else { return e };
        if let Some(d) = &self.damage {
            return Error::Corrupt(format!("{msg}; {d}"));
        }
        if !msg.ends_with(DAMAGED) {
            return e;
        }
        let found: Vec<String> = conn
            .prepare("PRAGMA quick_check(3)")
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .unwrap_or_default();
        let name_of = |root: &str| -> Option<String> {
            conn.query_row(
                "SELECT type || ' ' || name FROM sqlite_schema WHERE rootpage = ?1",
                [root],
                |r| r.get(0),
            )
            .ok()
        };
        let found: Vec<String> = found
            .into_iter()
            .filter(|f| f != "ok")
            .map(
                |f| match f.strip_prefix("Tree ").and_then(|t| t.split_once(' ')) {
                    Some((root, rest)) => match name_of(root) {
                        Some(name) => format!("{name} (b-tree {root}) {rest}"),
                        None => f,
                    },
                    None => f,
                },
            )
            .collect();
        if found.is_empty() {
            return Error::Corrupt(format!(
                "{msg}; the file is damaged, restore it from a backup"
            ));
        }
        Error::Corrupt(format!(
            "{msg}; the file is damaged, SQLite finds: {}; restore it from a backup",
            found.join("; ")
        ))
    }

    /// Runs a query for events and fills in their personal values.
    fn select(conn: &Connection, sql: &str, params: &[Param]) -> Result<Vec<SealedEvent>> {
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
                    "SELECT seq, path, value, salt FROM personal_values WHERE seq >= ?1 AND seq <= ?2",
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
                .prepare_cached("SELECT seq, path, value, salt FROM personal_values WHERE seq = ?1")
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

/// The personal values of the event being lent by [`SqliteStore::read_each`], copied out of
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
                Error::Corrupt(format!(
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

/// `INSERT OR ROLLBACK INTO events (...) VALUES (?1, ...)`, built once. OR ROLLBACK (see
/// `schema::v2_rollback_guards`) spares each event a statement journal: a failed append is
/// rolled back whole anyway.
fn insert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let placeholders: Vec<String> = (1..=codec::COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect();
        format!(
            "INSERT OR ROLLBACK INTO events ({}) VALUES ({})",
            codec::COLUMNS.join(", "),
            placeholders.join(", ")
        )
    })
}

/// Inserts `e` and its side rows, except its full-text entry: that is returned, for
/// [`insert_search`] to add after the whole batch.
fn insert_event(tx: &rusqlite::Transaction<'_>, e: &SealedEvent) -> Result<String> {
    tx.prepare_cached(insert_sql())
        .map_err(map_err)?
        .execute(params_from_iter(codec::encode_ref(e)))
        .map_err(map_err)?;
    let seq = e.seq as i64;
    let mut personal = tx
        .prepare_cached(
            "INSERT INTO personal_values (seq, path, value, salt) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(map_err)?;
    for p in &e.personal {
        if let Some(v) = &p.value {
            personal
                .execute(rusqlite::params![
                    seq,
                    p.path.text(),
                    v.text,
                    v.salt.as_slice()
                ])
                .map_err(map_err)?;
        }
    }
    let index = e.index_entries()?;
    let mut targets = tx
        .prepare_cached("INSERT OR IGNORE INTO event_targets (kind, id, seq) VALUES (?1, ?2, ?3)")
        .map_err(map_err)?;
    for (kind, id) in &index.involved {
        targets
            .execute(rusqlite::params![kind, id, seq])
            .map_err(map_err)?;
    }
    let mut changes = tx
        .prepare_cached("INSERT OR IGNORE INTO event_changes (path, seq) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for path in &index.change_paths {
        changes
            .execute(rusqlite::params![path, seq])
            .map_err(map_err)?;
    }
    Ok(search_tokens(&index.search_text))
}

/// Adds the batch's full-text entries. They go in after every event row on purpose: FTS5
/// flushes its pending terms to a new on-disk segment at every savepoint once it has been
/// written in the transaction, and any statement with a statement journal opens one (the
/// event INSERTs had one until schema version 3; lifecycle statements still do); FTS rows
/// between events made every event a segment (and later merges), about half the cost of a
/// batch.
fn insert_search(
    tx: &rusqlite::Transaction<'_>,
    batch: &[SealedEvent],
    texts: &[String],
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("INSERT INTO event_search (rowid, body) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for (e, text) in batch.iter().zip(texts) {
        stmt.execute(rusqlite::params![e.seq as i64, text])
            .map_err(map_err)?;
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl AuditStore for SqliteStore {
    fn log_id(&self) -> Result<String> {
        Ok(self.log_id.clone())
    }

    fn head(&self) -> Result<Head> {
        self.read_with(|conn| {
            let (seq, hash, frontier): (i64, Vec<u8>, Vec<u8>) = conn
                .prepare_cached("SELECT seq, hash, frontier FROM auditkit_head WHERE id = 1")
                .map_err(map_err)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(map_err)?;
            codec::decode_head(seq, hash, frontier)
        })
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        check_batch(expected, batch, new_head)?;
        if self.options.read_only {
            return Err(Error::Storage(
                "the database was opened read-only (SqliteOptions::read_only); open it with write access to record events".into(),
            ));
        }
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let actual: i64 = tx
            .prepare_cached("SELECT seq FROM auditkit_head WHERE id = 1")
            .map_err(map_err)?
            .query_row([], |r| r.get(0))
            .map_err(map_err)?;
        let conflict = || Error::Conflict {
            expected,
            actual: actual as u64,
        };
        if actual as u64 != expected {
            return Err(conflict());
        }
        let mut texts = Vec::with_capacity(batch.len());
        for e in batch {
            match insert_event(&tx, e) {
                Ok(text) => texts.push(text),
                Err(err) => {
                    return Err(match err {
                        Error::Storage(_) => {
                            // Re-run the insert's first statement only to classify the failure.
                            let dup = tx
                                .query_row(
                                    "SELECT 1 FROM events WHERE id = ?1 OR idempotency_key = ?2",
                                    rusqlite::params![
                                        e.id.as_bytes().as_slice(),
                                        e.idempotency_key
                                    ],
                                    |_| Ok(()),
                                )
                                .is_ok();
                            if dup {
                                conflict()
                            } else {
                                err
                            }
                        }
                        other => other,
                    });
                }
            }
        }
        insert_search(&tx, batch, &texts)?;
        tx.prepare_cached(
            // OR ROLLBACK, as for events: no statement journal for the head.
            "UPDATE OR ROLLBACK auditkit_head SET seq = ?1, hash = ?2, frontier = ?3 WHERE id = 1",
        )
        .map_err(map_err)?
        .execute(rusqlite::params![
            new_head.seq as i64,
            new_head.hash.as_slice(),
            merkle::to_bytes(&new_head.frontier)
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                conflict()
            } else {
                map_err(e)
            }
        })?;
        tx.commit().map_err(map_err)
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let mut out = Vec::new();
        self.read_each(from, limit, &mut |e| out.push(e.to_owned()))?;
        Ok(out)
    }

    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        let sql = format!(
            "SELECT {} FROM events e WHERE e.seq >= ?1 ORDER BY e.seq LIMIT ?2",
            codec::select_list()
        );
        let from = from.min(i64::MAX as u64) as i64;
        self.read_with(|conn| {
            // Both cursors step inside one read transaction, so they see one snapshot.
            let mut events = conn.prepare_cached(&sql).map_err(map_err)?;
            let mut values = conn
                .prepare_cached(
                    "SELECT seq, path, value, salt FROM personal_values WHERE seq >= ?1 ORDER BY seq, path",
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

    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        let mut b = SqlBuilder::new(&SQLITE);
        let filter = b.where_clause(query);
        let lim = b.bind(Param::Int(limit as i64));
        let sql = format!(
            "SELECT {} FROM events e{filter}{} LIMIT {lim}",
            codec::select_list(),
            order_by(query)
        );
        self.read_with(|conn| Self::select(conn, &sql, &b.params))
    }

    fn count(&self, query: &Query) -> Result<u64> {
        let mut b = SqlBuilder::new(&SQLITE);
        let filter = b.where_clause(query);
        let sql = format!("SELECT COUNT(*) FROM events e{filter}");
        self.read_with(|conn| {
            let n: i64 = conn
                .prepare_cached(&sql)
                .map_err(map_err)?
                .query_row(params_from_iter(&b.params), |r| r.get(0))
                .map_err(map_err)?;
            Ok(n as u64)
        })
    }

    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        let sql = format!(
            "SELECT {} FROM events e WHERE e.id = ?1",
            codec::select_list()
        );
        self.read_with(|conn| {
            Ok(Self::select(conn, &sql, &[Param::Blob(id.as_bytes().to_vec())])?.pop())
        })
    }

    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        let sql = format!(
            "SELECT {} FROM events e WHERE e.idempotency_key = ?1",
            codec::select_list()
        );
        self.read_with(|conn| Ok(Self::select(conn, &sql, &[Param::Text(key.to_owned())])?.pop()))
    }

    fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        self.read_with(|conn| {
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

    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.read_with(lifecycle::anchor)
    }

    fn purge(&self, anchor: &Head) -> Result<()> {
        let mut conn = self.writer();
        lifecycle::purge(&mut conn, anchor)?;
        lifecycle::compact(&conn);
        Ok(())
    }

    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        let mut conn = self.writer();
        lifecycle::erase(&mut conn, fields)?;
        lifecycle::compact(&conn);
        Ok(())
    }

    fn check_storage(&self) -> Result<()> {
        match &self.damage {
            Some(d) => Err(Error::Corrupt(d.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
