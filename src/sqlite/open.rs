//! Opening a [`SqliteStore`]: connection settings, the reader pool, SQLite errors mapped to ours.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::options::{SqliteOptions, Synchronous};
use super::{file, schema, SqliteStore};
use crate::{Error, Result};

/// How [`map_err`] ends the message of a corruption SQLite itself found, so that the store can
/// add where it found it ([`SqliteStore::locate_damage`]).
const DAMAGED: &str = "the file is not an intact SQLite database";

/// `SQLITE_BUSY_SNAPSHOT`.
const BUSY_SNAPSHOT: std::ffi::c_int = 517;

/// The store's error for a SQLite failure, keeping SQLite's as its source.
pub(crate) fn map_err(e: rusqlite::Error) -> Error {
    describe(&e).with_source(e)
}

fn describe(e: &rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, msg) = e {
        let msg = msg.clone().unwrap_or_else(|| f.to_string());
        return match f.code {
            // A transaction that read a snapshot another writer has since moved past can
            // never take the write lock: waiting does not help, running it again does.
            ErrorCode::DatabaseBusy if f.extended_code == BUSY_SNAPSHOT => {
                Error::retry_transaction(msg)
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::busy(msg),
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                Error::corrupt(format!("{msg}; {DAMAGED}"))
            }
            ErrorCode::DiskFull => Error::storage(format!(
                "{msg}; the disk or the database's size limit is full, free space and retry"
            )),
            ErrorCode::ReadOnly => Error::storage(format!(
                "{msg}; the database is read-only, open it with write access to record events"
            )),
            ErrorCode::CannotOpen => Error::storage(format!(
                "{msg}; check that the directory exists and is writable"
            )),
            _ => Error::storage(msg),
        };
    }
    Error::storage(e.to_string())
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
    super::search::register(conn)
}

/// The writer connection's settings that write to the file (the journal mode), once the
/// file is known to be one auditkit may write ([`schema::identify`]).
fn configure_writer(conn: &Connection, options: &SqliteOptions) -> Result<()> {
    if options.read_only {
        // The journal mode and sync level are the writers' business; a read-only connection
        // cannot set them.
        return Ok(());
    }
    if let Some(pages) = options.max_page_count {
        conn.pragma_update(None, "max_page_count", pages)
            .map_err(map_err)?;
    }
    // auditkit's one demand on a file it shares with the app: WAL, so that readers never
    // block the writer and a commit is one append to the log. It is a setting of the file.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(map_err)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(Error::storage(format!(
            "the database stays in journal mode {mode:?}; auditkit needs WAL (PRAGMA journal_mode = WAL): close the application's other connections to the file, or switch it to WAL, and open it again"
        )));
    }
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

    /// Opens the application's own SQLite database at `path` and keeps the audit log in it,
    /// beside the app's tables: creates auditkit's tables if they are not there yet (whether
    /// the app or auditkit created the file first), otherwise opens and migrates them as
    /// [`SqliteStore::open`] does. Then [`crate::AuditTrail::record_in`] records events
    /// inside the app's own transactions on that file, so its rows and their events commit
    /// together or not at all.
    ///
    /// In a shared file auditkit keeps to its own: every table, index and trigger it creates
    /// is named `auditkit_…`, and its identity and schema version are rows of `auditkit_meta`
    /// (the file's `application_id` and `user_version` stay the app's). It needs one setting
    /// of the file: WAL journal mode, which this switches on. Once adopted, a plain
    /// [`SqliteStore::open`] of the file works too; a file never adopted that holds other
    /// tables is refused by `open` and never written.
    ///
    /// # Errors
    /// As [`SqliteStore::open`]; [`Error::Storage`] when the file cannot be switched to WAL
    /// (another connection of the app holds it in another journal mode).
    pub fn adopt(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default().adopt(true))
    }

    /// Opens the audit database at `path` with `options`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`]; with `read_only`, also [`Error::Storage`] when the file does
    /// not exist and [`Error::SchemaTooOld`] when its schema needs a migration (open it once
    /// with write access). A `read_only` open accepts a file cut short, so that
    /// [`crate::AuditTrail::verify`] can report what is damaged.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let damage = file::inspect(&path)?;
        if let (Some(damage), false) = (&damage, options.read_only) {
            return Err(Error::corrupt(format!(
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
        configure_common(&conn, &options, damage.is_some())?;
        let with_damage = |e: Error| match &damage {
            Some(d) => Error::corrupt(format!("{d}; {e}")),
            None => e,
        };
        // Nothing is written (the journal mode is a write) to a file that holds another
        // application's tables unless the caller adopts it.
        if let schema::Found::Other { app_id } = schema::identify(&conn).map_err(with_damage)? {
            if !options.adopt {
                return Err(with_damage(schema::not_ours(app_id)));
            }
        }
        configure_writer(&conn, &options)?;
        let log_id = if options.read_only {
            schema::inspect(&conn)
        } else {
            schema::prepare(&mut conn, options.adopt)
        }
        .map_err(with_damage)?;
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
        configure_common(&conn, &options, false)?;
        configure_writer(&conn, &options)?;
        let log_id = schema::prepare(&mut conn, false)?;
        Ok(SqliteStore {
            log_id,
            writer: Mutex::new(conn),
            readers: None,
            path: None,
            options,
            damage: None,
        })
    }

    pub(super) fn writer(&self) -> MutexGuard<'_, Connection> {
        // rusqlite rolls back an open transaction when it is dropped during a panic, so the
        // connection behind a poisoned lock is clean.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a reader connection (the writer for in-memory databases).
    pub(super) fn read_with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
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
        let Error::Corrupt { message: msg, .. } = &e else {
            return e;
        };
        if let Some(d) = &self.damage {
            return Error::corrupt(format!("{msg}; {d}"));
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
            return Error::corrupt(format!(
                "{msg}; the file is damaged, restore it from a backup"
            ));
        }
        Error::corrupt(format!(
            "{msg}; the file is damaged, SQLite finds: {}; restore it from a backup",
            found.join("; ")
        ))
    }
}
