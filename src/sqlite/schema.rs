//! The SQLite schema, its version, and forward migrations.
//!
//! A file may be the application's own database too ([`crate::sqlite::SqliteStore::adopt`]),
//! so auditkit keeps to its own names and rows in it: every table, index and trigger is
//! prefixed `auditkit_`, and the log's identity and schema version are rows of
//! `auditkit_meta`, never the file's `application_id` or `user_version` (the app or its
//! migration tool may use those). Files of schema versions 1–4 kept both in the header
//! (`application_id` "AUDT") and unprefixed names; opening one migrates it forward and gives
//! the header fields back.

use rusqlite::{Connection, TransactionBehavior};

use super::open::map_err;
use super::search::SQLITE;
use crate::sql::index_rows::IndexRows;
use crate::{Error, Result};

/// `PRAGMA application_id` of an auditkit database of schema versions 1–4 ("AUDT").
pub(crate) const LEGACY_APPLICATION_ID: i64 = 0x4155_4454;
/// The newest schema version that kept its version in `user_version`.
const LAST_LEGACY_VERSION: u32 = 4;
/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 8;

/// Schema version 5's tables, which a fresh database (or one adopted from the app) gets before
/// the migrations from version 5 run.
const TABLES: &str = r#"
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
CREATE TABLE auditkit_events (
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
    hash            BLOB NOT NULL,
    encoding        INTEGER NOT NULL DEFAULT 1
);
-- Derived indexes, rebuilt from the events themselves; not part of what is hashed.
CREATE TABLE auditkit_event_targets (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (kind, id, seq)
) WITHOUT ROWID;
CREATE TABLE auditkit_event_changes (
    path TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (path, seq)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE auditkit_event_search USING fts5(
    body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);
-- Erasable personal values, kept apart so erasure never touches an event row.
CREATE TABLE auditkit_personal_values (
    seq   INTEGER NOT NULL,
    path  TEXT NOT NULL,
    value TEXT NOT NULL,
    salt  BLOB NOT NULL,
    PRIMARY KEY (seq, path)
) WITHOUT ROWID;
"#;

/// Schema version 5's indexes and guard triggers.
///
/// The guards on appends raise ROLLBACK rather than ABORT: an ABORT in a trigger (like any
/// ABORT constraint) obliges SQLite to give every INSERT into `auditkit_events` and every
/// UPDATE of the head a statement journal, so that it can undo that one statement: a copy of
/// each page it touches (a dozen per event) and, for the full-text index, a flush of its
/// pending terms at each statement. With ROLLBACK, and the store's own appends written
/// `INSERT OR ROLLBACK` / `UPDATE OR ROLLBACK`, a refused write undoes the whole transaction
/// instead, which needs no statement journal. An append inside the app's transaction
/// (`record_in`) cannot trip them: it seals against the head it read in that transaction,
/// which SQLite lets it write only while that head is still the newest.
const INDEXES_AND_TRIGGERS: &str = r#"
-- Every index ends in occurred_at (and the implicit rowid, seq) so that a filter plus the
-- timeline order is one index range, newest first.
CREATE UNIQUE INDEX auditkit_events_id ON auditkit_events(id);
CREATE UNIQUE INDEX auditkit_events_key ON auditkit_events(idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX auditkit_events_time ON auditkit_events(occurred_at);
CREATE INDEX auditkit_events_tenant ON auditkit_events(tenant, occurred_at);
CREATE INDEX auditkit_events_actor ON auditkit_events(actor_id, occurred_at);
CREATE INDEX auditkit_events_actor_kind ON auditkit_events(actor_kind, occurred_at);
CREATE INDEX auditkit_events_action ON auditkit_events(action, occurred_at);
CREATE INDEX auditkit_events_target ON auditkit_events(target_kind, target_id, occurred_at);
CREATE INDEX auditkit_events_source ON auditkit_events(source, occurred_at);
CREATE INDEX auditkit_events_failures ON auditkit_events(occurred_at) WHERE failure IS NOT NULL;

-- Guards against accidents (a stray UPDATE, a cleanup script, the app writing the wrong
-- table of a shared file); outside checkpoints are what stop a determined attacker.
CREATE TRIGGER auditkit_events_no_update BEFORE UPDATE ON auditkit_events
BEGIN
    SELECT RAISE(ABORT, 'auditkit: events are append-only and cannot be updated');
END;
CREATE TRIGGER auditkit_events_no_delete BEFORE DELETE ON auditkit_events
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'auditkit: events cannot be deleted except by a purge');
END;
-- INSERT OR REPLACE would delete silently without recursive_triggers: refuse any insert that
-- is not exactly the next seq.
CREATE TRIGGER auditkit_events_insert_at_head BEFORE INSERT ON auditkit_events
WHEN NEW.seq IS NOT COALESCE(
    (SELECT MAX(seq) FROM auditkit_events),
    (SELECT purged_seq FROM auditkit_head WHERE id = 1),
    0) + 1
BEGIN
    SELECT RAISE(ROLLBACK, 'auditkit: events are appended at head + 1 only');
END;
CREATE TRIGGER auditkit_head_forward_only BEFORE UPDATE ON auditkit_head
WHEN NEW.seq < OLD.seq OR NEW.purged_seq < OLD.purged_seq
BEGIN
    SELECT RAISE(ROLLBACK, 'auditkit: the head only moves forward');
END;
CREATE TRIGGER auditkit_head_no_delete BEFORE DELETE ON auditkit_head
BEGIN
    SELECT RAISE(ABORT, 'auditkit: the head cannot be deleted');
END;
CREATE TRIGGER auditkit_personal_no_update BEFORE UPDATE ON auditkit_personal_values
BEGIN
    SELECT RAISE(ABORT, 'auditkit: personal values can be erased, never changed');
END;
"#;

/// A forward migration, run inside the opening transaction.
type Migration = fn(&Connection) -> Result<()>;

/// Migrations from version `5 + i` to `6 + i` (version 5 is the first kept in
/// `auditkit_meta`; see [`from_legacy`] for the versions before it). A fresh database is
/// created at version 5 and migrated like any other, so every step runs on every database.
const MIGRATIONS: &[Migration] = &[v5_derived_guards, v6_proofs_and_rebuilds, v7_search_pending];

/// Version 8: the newest events' search tokens wait in `auditkit_search_pending` and move to
/// the full-text table in batches (`search.rs` says why). Every event of an older file is in
/// the full-text table already, so the table starts empty.
fn v7_search_pending(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE auditkit_search_pending (
             seq  INTEGER PRIMARY KEY,
             body TEXT NOT NULL
         );",
    )
    .map_err(map_err)
}

/// Version 7: each event's links to the previous event of each target it involves
/// (`SealedEvent::links`, varints) and the Merkle subtree hashes it completes
/// (`SealedEvent::nodes`); events sealed before keep both NULL. And the head's `erasing`
/// names the sanctioned operation under way: 1 an erasure (personal values and change
/// paths may go), 2 an index rebuild (target rows and change paths may go, to be written
/// again from the events; personal values may not). And the target and change-path rows are
/// indexed by seq, for verify.
fn v6_proofs_and_rebuilds(conn: &Connection) -> Result<()> {
    v6_proof_columns(conn)?;
    conn.execute_batch(
        r#"
-- Verify reads the derived rows of a range of events; their keys start with the target or
-- the path, so without these it would scan the whole table for every range.
CREATE INDEX auditkit_event_targets_seq ON auditkit_event_targets(seq);
CREATE INDEX auditkit_event_changes_seq ON auditkit_event_changes(seq);
DROP TRIGGER auditkit_targets_no_delete;
CREATE TRIGGER auditkit_targets_no_delete BEFORE DELETE ON auditkit_event_targets
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
    AND (SELECT erasing FROM auditkit_head WHERE id = 1) <> 2
BEGIN
    SELECT RAISE(ABORT, 'auditkit: derived rows cannot be deleted except by a purge or an index rebuild');
END;
DROP TRIGGER auditkit_personal_no_delete;
CREATE TRIGGER auditkit_personal_no_delete BEFORE DELETE ON auditkit_personal_values
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
    AND (SELECT erasing FROM auditkit_head WHERE id = 1) <> 1
BEGIN
    SELECT RAISE(ABORT, 'auditkit: personal values cannot be deleted except by a purge or an erasure');
END;
"#,
    )
    .map_err(map_err)
}

/// The columns of version 7, added where missing (the steps that decode events need them).
fn v6_proof_columns(conn: &Connection) -> Result<()> {
    add_event_column(conn, "links", "BLOB")?;
    add_event_column(conn, "nodes", "BLOB")
}

/// Version 6: guards on the derived rows a query answers from (the targets an event
/// involves, its change paths, its personal values): never updated, and deleted only by a
/// purge (rows at or below the purge anchor) or an erasure, which marks its transaction by
/// setting the head row's `erasing` (back to 0 before it commits). The full-text table
/// cannot carry triggers; verify is what guards it.
fn v5_derived_guards(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        r#"
ALTER TABLE auditkit_head ADD COLUMN erasing INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER auditkit_targets_no_update BEFORE UPDATE ON auditkit_event_targets
BEGIN
    SELECT RAISE(ABORT, 'auditkit: derived rows are rebuilt from the events, never changed');
END;
CREATE TRIGGER auditkit_targets_no_delete BEFORE DELETE ON auditkit_event_targets
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'auditkit: derived rows cannot be deleted except by a purge');
END;
CREATE TRIGGER auditkit_changes_no_update BEFORE UPDATE ON auditkit_event_changes
BEGIN
    SELECT RAISE(ABORT, 'auditkit: derived rows are rebuilt from the events, never changed');
END;
CREATE TRIGGER auditkit_changes_no_delete BEFORE DELETE ON auditkit_event_changes
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
    AND (SELECT erasing FROM auditkit_head WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'auditkit: derived rows cannot be deleted except by a purge or an erasure');
END;
CREATE TRIGGER auditkit_personal_no_delete BEFORE DELETE ON auditkit_personal_values
WHEN OLD.seq > (SELECT purged_seq FROM auditkit_head WHERE id = 1)
    AND (SELECT erasing FROM auditkit_head WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'auditkit: personal values cannot be deleted except by a purge or an erasure');
END;
"#,
    )
    .map_err(map_err)
}

/// Takes a file of schema version `version` (1–4, auditkit's file alone) to version 5: the
/// `auditkit_` prefix on every table, index and trigger, and the header's `application_id`
/// and `user_version` given back (the version moves to `auditkit_meta`, written by the
/// caller). The content steps of versions 2 and 4 run on the renamed tables; version 3's
/// ROLLBACK guards are among the triggers created here.
fn from_legacy(conn: &Connection, version: u32) -> Result<()> {
    // Tables first: ALTER TABLE rewrites the triggers that name them, and every step below
    // is written against the new names. FTS5 renames its shadow tables with its own.
    conn.execute_batch(
        "ALTER TABLE events RENAME TO auditkit_events;
         ALTER TABLE event_targets RENAME TO auditkit_event_targets;
         ALTER TABLE event_changes RENAME TO auditkit_event_changes;
         ALTER TABLE event_search RENAME TO auditkit_event_search;
         ALTER TABLE personal_values RENAME TO auditkit_personal_values;",
    )
    .map_err(map_err)?;
    if version < 2 {
        v1_search_tokens(conn)?;
    }
    v3_encoding(conn)?;
    conn.execute_batch(
        "DROP INDEX events_id; DROP INDEX events_key; DROP INDEX events_time;
         DROP INDEX events_tenant; DROP INDEX events_actor; DROP INDEX events_actor_kind;
         DROP INDEX events_action; DROP INDEX events_target; DROP INDEX events_source;
         DROP INDEX events_failures;
         DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;
         DROP TRIGGER events_insert_at_head; DROP TRIGGER head_forward_only;
         DROP TRIGGER head_no_delete; DROP TRIGGER personal_no_update;",
    )
    .map_err(map_err)?;
    conn.execute_batch(INDEXES_AND_TRIGGERS).map_err(map_err)?;
    conn.pragma_update(None, "application_id", 0)
        .map_err(map_err)?;
    conn.pragma_update(None, "user_version", 0).map_err(map_err)
}

/// Version 2: the search index holds the store's own word tokens (see `search.rs`) instead
/// of text for FTS5 to split, so SQLite and `Query::matches` find the same words.
fn v1_search_tokens(conn: &Connection) -> Result<()> {
    // Decoding events needs every column the codec reads.
    v3_encoding(conn)?;
    v6_proof_columns(conn)?;
    conn.execute(
        "INSERT INTO auditkit_event_search (auditkit_event_search) VALUES ('delete-all')",
        [],
    )
    .map_err(map_err)?;
    let sql = format!(
        "SELECT {} FROM auditkit_events e WHERE e.seq >= ?1 ORDER BY e.seq LIMIT 1000",
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
            conn.prepare_cached("INSERT INTO auditkit_event_search (rowid, body) VALUES (?1, ?2)")
                .map_err(map_err)?
                .execute(rusqlite::params![
                    e.seq as i64,
                    IndexRows::of(e, &SQLITE)?.search
                ])
                .map_err(map_err)?;
        }
    }
}

/// Version 4: each event records the canonical encoding version its hashes were computed
/// with (`SealedEvent::encoding`), so verify recomputes with the right one after a later
/// encoding is added. Every event before it used the first, which the default says; SQLite
/// adds the column without rewriting a row. Version 2's step decodes events, so it runs this
/// first; hence it adds the column only when it is missing.
fn v3_encoding(conn: &Connection) -> Result<()> {
    add_event_column(conn, "encoding", "INTEGER NOT NULL DEFAULT 1")
}

/// Adds column `name` to the events table unless it is there: the steps that decode events
/// run on older layouts, and need every column the codec reads.
fn add_event_column(conn: &Connection, name: &str, decl: &str) -> Result<()> {
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('auditkit_events') WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if has {
        return Ok(());
    }
    conn.execute_batch(&format!(
        "ALTER TABLE auditkit_events ADD COLUMN {name} {decl};"
    ))
    .map_err(map_err)
}

/// What a database holds, as far as auditkit is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// No schema at all: a new file.
    Empty,
    /// Another application's tables and no auditkit log.
    Other { app_id: i64 },
    /// An auditkit log of schema versions 1–4 (the version from `user_version`).
    Legacy(u32),
    /// An auditkit log of this schema version or an older one of version 5 on.
    Ours(u32),
}

/// The refusal for a database that holds no auditkit log.
pub(super) fn not_ours(app_id: i64) -> Error {
    Error::corrupt(format!(
        "this SQLite database was not created by auditkit (application_id {app_id:#x}, and no auditkit_meta table); \
         to keep the audit log in your application's own database open it with SqliteStore::adopt, otherwise open an auditkit database or a new file"
    ))
}

/// What `conn`'s database holds, read without writing anything.
///
/// # Errors
/// [`Error::SchemaTooNew`] for a newer schema, [`Error::Corrupt`] for an auditkit log
/// without a valid version.
pub(super) fn identify(conn: &Connection) -> Result<Found> {
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(map_err)?;
    let user_version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    let (objects, has_meta): (i64, bool) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(type = 'table' AND name = 'auditkit_meta'), 0) > 0 \
             FROM main.sqlite_schema",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(map_err)?;
    let version: Option<String> = if has_meta {
        conn.query_row(
            "SELECT value FROM main.auditkit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(map_err(e)),
        })?
    } else {
        None
    };
    if let Some(v) = version {
        let v: u32 = v
            .parse()
            .ok()
            .filter(|v| *v > LAST_LEGACY_VERSION)
            .ok_or_else(|| Error::corrupt(format!("auditkit schema version {v:?} is not valid")))?;
        if v > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        return Ok(Found::Ours(v));
    }
    if app_id == LEGACY_APPLICATION_ID {
        return check_legacy(user_version).map(Found::Legacy);
    }
    if has_meta {
        return Err(Error::corrupt(
            "the database has an auditkit_meta table without a schema version",
        ));
    }
    Ok(if objects == 0 {
        Found::Empty
    } else {
        Found::Other { app_id }
    })
}

/// The schema version of a file of schema versions 1–4 (whose header holds the legacy
/// `application_id`) with `user_version` `version`; the file's bytes
/// ([`super::file::inspect`]) and the opened database ([`identify`]) are judged alike.
///
/// # Errors
/// [`Error::SchemaTooNew`] for a version past the legacy ones, [`Error::Corrupt`] for no
/// valid version.
pub(super) fn check_legacy(version: i64) -> Result<u32> {
    let version = u32::try_from(version)
        .map_err(|_| Error::corrupt(format!("schema version {version} is not valid")))?;
    if version > LAST_LEGACY_VERSION {
        // Versions from 5 on live in auditkit_meta; a header saying more is a newer format.
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

/// Creates the schema in a database that holds none, or checks and migrates an existing
/// one; returns the log id. `adopt`: the database may hold the app's own tables, and
/// auditkit's are created beside them.
pub(crate) fn prepare(conn: &mut Connection, adopt: bool) -> Result<String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let version = match identify(&tx)? {
        Found::Other { app_id } if !adopt => return Err(not_ours(app_id)),
        Found::Empty | Found::Other { .. } => {
            tx.execute_batch(TABLES).map_err(map_err)?;
            tx.execute_batch(INDEXES_AND_TRIGGERS).map_err(map_err)?;
            tx.execute(
                "INSERT INTO auditkit_meta (key, value) VALUES ('log_id', ?1), ('schema_version', ?2)",
                rusqlite::params![
                    uuid::Uuid::now_v7().to_string(),
                    (LAST_LEGACY_VERSION + 1).to_string()
                ],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO auditkit_head (id, seq, hash, frontier) VALUES (1, 0, zeroblob(32), x'')",
                [],
            )
            .map_err(map_err)?;
            LAST_LEGACY_VERSION + 1
        }
        Found::Legacy(v) => {
            from_legacy(&tx, v)?;
            tx.execute(
                "INSERT INTO auditkit_meta (key, value) VALUES ('schema_version', ?1)",
                [(LAST_LEGACY_VERSION + 1).to_string()],
            )
            .map_err(map_err)?;
            LAST_LEGACY_VERSION + 1
        }
        Found::Ours(v) => v,
    };
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip((version - LAST_LEGACY_VERSION - 1) as usize)
    {
        step(&tx)?;
        tx.execute(
            "UPDATE auditkit_meta SET value = ?1 WHERE key = 'schema_version'",
            [(i as u32 + LAST_LEGACY_VERSION + 2).to_string()],
        )
        .map_err(map_err)?;
    }
    let log_id = log_id(&tx)?;
    tx.commit().map_err(map_err)?;
    Ok(log_id)
}

/// The log id in `conn`'s `auditkit_meta`.
pub(super) fn log_id(conn: &Connection) -> Result<String> {
    conn.query_row(
        "SELECT value FROM auditkit_meta WHERE key = 'log_id'",
        [],
        |r| r.get(0),
    )
    .map_err(map_err)
}

/// Checks an existing database without writing to it (for read-only opens); returns the log id.
pub(crate) fn inspect(conn: &Connection) -> Result<String> {
    match identify(conn)? {
        Found::Ours(SCHEMA_VERSION) => log_id(conn),
        Found::Empty => Err(Error::corrupt(
            "the database holds no auditkit log yet; open it once with write access to create one",
        )),
        Found::Other { app_id } => Err(not_ours(app_id)),
        Found::Legacy(v) | Found::Ours(v) => Err(Error::SchemaTooOld {
            found: v,
            current: SCHEMA_VERSION,
        }),
    }
}
