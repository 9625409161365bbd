//! The SQLite schema, its version, and forward migrations.

use rusqlite::{Connection, TransactionBehavior};

use super::open::map_err;
use super::search::SQLITE;
use crate::sql::index_rows::IndexRows;
use crate::{Error, Result};

/// `PRAGMA application_id` of an auditkit database ("AUDT").
pub(crate) const APPLICATION_ID: i64 = 0x4155_4454;
/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 4;

/// The tables of schema version 1, which a fresh database gets before the migrations run.
const V1: &str = r#"
CREATE TABLE auditkit_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One row: the chain head and the purge anchor.
CREATE TABLE auditkit_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    hash            BLOB NOT NULL,
    frontier        BLOB NOT NULL,
    purged_seq      INTEGER NOT NULL DEFAULT 0,
    purged_hash     BLOB,
    purged_frontier BLOB
);
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    id              BLOB NOT NULL,
    occurred_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    tenant          TEXT,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    actor_role      TEXT,
    impersonator    TEXT,
    source          TEXT NOT NULL,
    request         TEXT,
    action          TEXT NOT NULL,
    failure         TEXT,
    target_kind     TEXT,
    target_id       TEXT,
    related         TEXT,
    before          TEXT,
    after           TEXT,
    context         TEXT,
    idempotency_key TEXT,
    payload_version INTEGER,
    personal        TEXT,
    prev_hash       BLOB NOT NULL,
    hash            BLOB NOT NULL
);
-- Every index ends in occurred_at (and the implicit rowid, seq) so that a filter plus the
-- timeline order is one index range, newest first.
CREATE UNIQUE INDEX events_id ON events(id);
CREATE UNIQUE INDEX events_key ON events(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_time ON events(occurred_at);
CREATE INDEX events_tenant ON events(tenant, occurred_at);
CREATE INDEX events_actor ON events(actor_id, occurred_at);
CREATE INDEX events_actor_kind ON events(actor_kind, occurred_at);
CREATE INDEX events_action ON events(action, occurred_at);
CREATE INDEX events_target ON events(target_kind, target_id, occurred_at);
CREATE INDEX events_source ON events(source, occurred_at);
CREATE INDEX events_failures ON events(occurred_at) WHERE failure IS NOT NULL;

-- Derived indexes, rebuilt from the events themselves; not part of what is hashed.
CREATE TABLE event_targets (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (kind, id, seq)
) WITHOUT ROWID;
CREATE TABLE event_changes (
    path TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (path, seq)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE event_search USING fts5(
    body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);

-- Erasable personal values, kept apart so erasure never touches an event row.
CREATE TABLE personal_values (
    seq   INTEGER NOT NULL,
    path  TEXT NOT NULL,
    value TEXT NOT NULL,
    salt  BLOB NOT NULL,
    PRIMARY KEY (seq, path)
) WITHOUT ROWID;

-- Guards against accidents (a stray UPDATE, a cleanup script); outside checkpoints are what
-- stop a determined attacker with the file.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'auditkit: events are append-only and cannot be updated');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'auditkit: events cannot be deleted except by a purge');
END;
-- INSERT OR REPLACE would delete silently without recursive_triggers: refuse any insert that
-- is not exactly the next seq.
CREATE TRIGGER events_insert_at_head BEFORE INSERT ON events
WHEN NEW.seq IS NOT COALESCE(
    (SELECT MAX(seq) FROM events),
    (SELECT purged_seq FROM auditkit_head WHERE id = 1),
    0) + 1
BEGIN
    SELECT RAISE(ABORT, 'auditkit: events are appended at head + 1 only');
END;
CREATE TRIGGER head_forward_only BEFORE UPDATE ON auditkit_head
WHEN NEW.seq < OLD.seq OR NEW.purged_seq < OLD.purged_seq
BEGIN
    SELECT RAISE(ABORT, 'auditkit: the head only moves forward');
END;
CREATE TRIGGER head_no_delete BEFORE DELETE ON auditkit_head
BEGIN
    SELECT RAISE(ABORT, 'auditkit: the head cannot be deleted');
END;
CREATE TRIGGER personal_no_update BEFORE UPDATE ON personal_values
BEGIN
    SELECT RAISE(ABORT, 'auditkit: personal values can be erased, never changed');
END;
"#;

/// A forward migration, run inside the opening transaction.
type Migration = fn(&Connection) -> Result<()>;

/// Migrations from version `i + 1` to `i + 2` (index 0 takes version 1 to 2). A fresh database
/// is created at version 1 and migrated like any other, so every step runs on every database.
const MIGRATIONS: &[Migration] = &[v1_search_tokens, v2_rollback_guards, v3_encoding];

/// Version 2: the search index holds the store's own word tokens (see `search.rs`) instead
/// of text for FTS5 to split, so SQLite and `Query::matches` find the same words.
fn v1_search_tokens(conn: &Connection) -> Result<()> {
    // Decoding events needs every column the codec reads.
    v3_encoding(conn)?;
    conn.execute(
        "INSERT INTO event_search (event_search) VALUES ('delete-all')",
        [],
    )
    .map_err(map_err)?;
    let sql = format!(
        "SELECT {} FROM events e WHERE e.seq >= ?1 ORDER BY e.seq LIMIT 1000",
        crate::sql::codec::select_list()
    );
    let mut from = 0i64;
    loop {
        let chunk = super::SqliteStore::select(conn, &sql, &[crate::sql::Param::Int(from)])?;
        let Some(last) = chunk.last() else {
            return Ok(());
        };
        from = last.seq as i64 + 1;
        for e in &chunk {
            conn.prepare_cached("INSERT INTO event_search (rowid, body) VALUES (?1, ?2)")
                .map_err(map_err)?
                .execute(rusqlite::params![
                    e.seq as i64,
                    IndexRows::of(e, &SQLITE)?.search
                ])
                .map_err(map_err)?;
        }
    }
}

/// Version 3: the guards on appends raise ROLLBACK instead of ABORT.
///
/// An ABORT in a trigger (like any ABORT constraint) obliges SQLite to give every INSERT into
/// `events` and every UPDATE of the head a statement journal, so that it can undo that one
/// statement: a copy of each page it touches (a dozen per event) and, for the full-text
/// index, a flush of its pending terms at each statement. With ROLLBACK, and the store's
/// own appends written `INSERT OR ROLLBACK` / `UPDATE OR ROLLBACK`, a refused write undoes
/// the whole transaction instead, which needs no statement journal. The refusals are the
/// same; an append is all-or-nothing either way.
fn v2_rollback_guards(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DROP TRIGGER events_insert_at_head;
         DROP TRIGGER head_forward_only;",
    )
    .map_err(map_err)?;
    conn.execute_batch(ROLLBACK_GUARDS).map_err(map_err)
}

/// Version 4: each event records the canonical encoding version its hashes were computed
/// with (`SealedEvent::encoding`), so verify recomputes with the right one after a later
/// encoding is added. Every event before it used the first, which the default says; SQLite
/// adds the column without rewriting a row.
///
/// Earlier steps that decode events (version 2's) run it first, since the codec reads every
/// column; so it adds the column only when it is missing.
fn v3_encoding(conn: &Connection) -> Result<()> {
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'encoding'",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if has {
        return Ok(());
    }
    conn.execute_batch("ALTER TABLE events ADD COLUMN encoding INTEGER NOT NULL DEFAULT 1;")
        .map_err(map_err)
}

/// The append guards of version 3 (see [`v2_rollback_guards`]).
const ROLLBACK_GUARDS: &str = r#"
-- INSERT OR REPLACE would delete silently without recursive_triggers: refuse any insert that
-- is not exactly the next seq.
CREATE TRIGGER events_insert_at_head BEFORE INSERT ON events
WHEN NEW.seq IS NOT COALESCE(
    (SELECT MAX(seq) FROM events),
    (SELECT purged_seq FROM auditkit_head WHERE id = 1),
    0) + 1
BEGIN
    SELECT RAISE(ROLLBACK, 'auditkit: events are appended at head + 1 only');
END;
CREATE TRIGGER head_forward_only BEFORE UPDATE ON auditkit_head
WHEN NEW.seq < OLD.seq OR NEW.purged_seq < OLD.purged_seq
BEGIN
    SELECT RAISE(ROLLBACK, 'auditkit: the head only moves forward');
END;
"#;

/// The schema version of a database whose header holds `application_id` `app_id` and
/// `user_version` `version`, if it is an auditkit database this build can open; the file's
/// bytes ([`super::file::inspect`]) and the opened database ([`prepare`]) are judged alike.
///
/// # Errors
/// [`Error::Corrupt`] for another application's database or no valid version,
/// [`Error::SchemaTooNew`] for a newer schema.
pub(super) fn check_identity(app_id: i64, version: i64) -> Result<u32> {
    if app_id != APPLICATION_ID {
        return Err(Error::corrupt(format!(
            "this SQLite database was not created by auditkit (application_id {app_id:#x}); open an auditkit database or a new file"
        )));
    }
    let version = u32::try_from(version)
        .map_err(|_| Error::corrupt(format!("schema version {version} is not valid")))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        return Err(Error::corrupt(
            "the auditkit database has no schema version",
        ));
    }
    Ok(version)
}

/// Creates the schema in an empty database, or checks and migrates an existing one; returns
/// the log id.
pub(crate) fn prepare(conn: &mut Connection) -> Result<String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let mut app_id: i64 = tx
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(map_err)?;
    let mut version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    let objects: i64 = tx
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(map_err)?;
    if app_id == 0 && version == 0 && objects == 0 {
        tx.execute_batch(V1).map_err(map_err)?;
        let log_id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO auditkit_meta (key, value) VALUES ('log_id', ?1)",
            [&log_id],
        )
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO auditkit_head (id, seq, hash, frontier) VALUES (1, 0, zeroblob(32), x'')",
            [],
        )
        .map_err(map_err)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(map_err)?;
        tx.pragma_update(None, "user_version", 1).map_err(map_err)?;
        (app_id, version) = (APPLICATION_ID, 1);
    }
    {
        let version = check_identity(app_id, version)?;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize - 1) {
            step(&tx)?;
            tx.pragma_update(None, "user_version", i as u32 + 2)
                .map_err(map_err)?;
        }
    }
    let log_id: String = tx
        .query_row(
            "SELECT value FROM auditkit_meta WHERE key = 'log_id'",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    tx.commit().map_err(map_err)?;
    Ok(log_id)
}

/// Checks an existing database without writing to it (for read-only opens); returns the log id.
pub(crate) fn inspect(conn: &Connection) -> Result<String> {
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(map_err)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    if app_id != APPLICATION_ID {
        return Err(Error::corrupt(format!(
            "this SQLite database was not created by auditkit (application_id {app_id:#x}); open an auditkit database"
        )));
    }
    if version > i64::from(SCHEMA_VERSION) {
        return Err(Error::SchemaTooNew {
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: SCHEMA_VERSION,
        });
    }
    if version != i64::from(SCHEMA_VERSION) {
        return Err(Error::corrupt(format!(
            "schema version {version} needs a migration to {SCHEMA_VERSION}; open the database once with write access"
        )));
    }
    conn.query_row(
        "SELECT value FROM auditkit_meta WHERE key = 'log_id'",
        [],
        |r| r.get(0),
    )
    .map_err(map_err)
}
