//! The PostgreSQL schema, its version, and forward migrations.

use postgres::{GenericClient, Transaction};

use super::connect::map_err;
use crate::{Error, Result};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 7;

/// The tables auditkit creates in its schema (version 1's names, renamed by version 5, and
/// the current ones); creating the schema refuses to run over any of them that something else
/// already put there.
const TABLES: [&str; 11] = [
    "auditkit_meta",
    "auditkit_head",
    "auditkit_queue",
    "events",
    "event_targets",
    "event_changes",
    "personal_values",
    "auditkit_events",
    "auditkit_event_targets",
    "auditkit_event_changes",
    "auditkit_personal_values",
];

/// Schema version 1, with `{s}` standing for the quoted schema name.
///
/// Text columns that filters compare use the "C" collation: the `action` prefix filter is a
/// byte range (`booking.` ≤ action < `booking/`), which a linguistic collation (one that
/// ignores punctuation) would get wrong, and equality on bytes is what `Query::matches` means.
const V1: &str = r#"
CREATE TABLE {s}.auditkit_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
-- One row: the chain head and the purge anchor.
CREATE TABLE {s}.auditkit_head (
    id              integer PRIMARY KEY CHECK (id = 1),
    seq             bigint NOT NULL,
    hash            bytea NOT NULL,
    frontier        bytea NOT NULL,
    purged_seq      bigint NOT NULL DEFAULT 0,
    purged_hash     bytea,
    purged_frontier bytea
);
CREATE TABLE {s}.events (
    seq             bigint PRIMARY KEY,
    id              bytea NOT NULL,
    occurred_at     bigint NOT NULL,
    recorded_at     bigint NOT NULL,
    tenant          text COLLATE "C",
    actor_kind      text COLLATE "C" NOT NULL,
    actor_id        text COLLATE "C" NOT NULL,
    actor_role      text,
    impersonator    text,
    source          text COLLATE "C" NOT NULL,
    request         text,
    action          text COLLATE "C" NOT NULL,
    failure         text,
    target_kind     text COLLATE "C",
    target_id       text COLLATE "C",
    related         text,
    before          text,
    after           text,
    context         text,
    idempotency_key text COLLATE "C",
    payload_version bigint,
    personal        text,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    -- query::words of the search text, deduplicated: `search` is exact whole-word containment
    -- (PostgreSQL's own text-search parsers split words differently, e.g. at `_` or in URLs).
    search_words    text[] NOT NULL
);
-- Every index ends in (occurred_at, seq) so that a filter plus the timeline order and the
-- keyset cursor is one index range, newest first.
CREATE UNIQUE INDEX events_id ON {s}.events (id);
CREATE UNIQUE INDEX events_key ON {s}.events (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_time ON {s}.events (occurred_at, seq);
CREATE INDEX events_tenant ON {s}.events (tenant, occurred_at, seq);
CREATE INDEX events_actor ON {s}.events (actor_id, occurred_at, seq);
CREATE INDEX events_actor_kind ON {s}.events (actor_kind, occurred_at, seq);
CREATE INDEX events_action ON {s}.events (action, occurred_at, seq);
CREATE INDEX events_target ON {s}.events (target_kind, target_id, occurred_at, seq);
CREATE INDEX events_source ON {s}.events (source, occurred_at, seq);
CREATE INDEX events_failures ON {s}.events (occurred_at, seq) WHERE failure IS NOT NULL;
CREATE INDEX events_search ON {s}.events USING gin (search_words);

-- Derived indexes, rebuilt from the events themselves; not part of what is hashed.
CREATE TABLE {s}.event_targets (
    kind text COLLATE "C" NOT NULL,
    id   text COLLATE "C" NOT NULL,
    seq  bigint NOT NULL,
    PRIMARY KEY (kind, id, seq)
);
CREATE TABLE {s}.event_changes (
    path text COLLATE "C" NOT NULL,
    seq  bigint NOT NULL,
    PRIMARY KEY (path, seq)
);

-- Erasable personal values, kept apart so erasure never touches an event row.
CREATE TABLE {s}.personal_values (
    seq   bigint NOT NULL,
    path  text NOT NULL,
    value text NOT NULL,
    salt  bytea NOT NULL,
    PRIMARY KEY (seq, path)
);

-- Guards against accidents (a stray UPDATE, a cleanup script); outside checkpoints are what
-- stop a determined attacker, and GRANTs (see README) keep the app's role to INSERT/SELECT.
CREATE FUNCTION {s}.auditkit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Rows earlier in the same multi-row INSERT are visible here, so a batch passes row
        -- by row.
        IF NEW.seq IS DISTINCT FROM COALESCE(
            (SELECT max(seq) FROM {s}.events),
            (SELECT purged_seq FROM {s}.auditkit_head WHERE id = 1),
            0) + 1 THEN
            RAISE EXCEPTION 'auditkit: events are appended at head + 1 only (seq % refused)', NEW.seq
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'auditkit: events are append-only and cannot be updated'
            USING ERRCODE = 'integrity_constraint_violation';
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.seq > (SELECT purged_seq FROM {s}.auditkit_head WHERE id = 1) THEN
            RAISE EXCEPTION 'auditkit: events cannot be deleted except by a purge'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'auditkit: % of events is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$guard$;
CREATE TRIGGER events_guard BEFORE INSERT OR UPDATE OR DELETE ON {s}.events
    FOR EACH ROW EXECUTE FUNCTION {s}.auditkit_events_guard();
-- TRUNCATE fires no row triggers: refuse it outright.
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.auditkit_events_guard();

CREATE FUNCTION {s}.auditkit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.seq < OLD.seq OR NEW.purged_seq < OLD.purged_seq THEN
            RAISE EXCEPTION 'auditkit: the head only moves forward'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'auditkit: the head cannot be removed (%)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$guard$;
CREATE TRIGGER head_guard BEFORE UPDATE OR DELETE ON {s}.auditkit_head
    FOR EACH ROW EXECUTE FUNCTION {s}.auditkit_head_guard();
CREATE TRIGGER head_no_truncate BEFORE TRUNCATE ON {s}.auditkit_head
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.auditkit_head_guard();

CREATE FUNCTION {s}.auditkit_personal_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
    RAISE EXCEPTION 'auditkit: personal values can be erased, never changed'
        USING ERRCODE = 'integrity_constraint_violation';
END
$guard$;
CREATE TRIGGER personal_no_update BEFORE UPDATE ON {s}.personal_values
    FOR EACH ROW EXECUTE FUNCTION {s}.auditkit_personal_guard();
"#;

/// Version 2: erasure re-indexes search words, which live in the event row. The guard lets an
/// UPDATE through only when it changes nothing but `search_words` and only drops words; every
/// column the chain hashes stays as written.
const V2: &str = r#"
CREATE OR REPLACE FUNCTION {s}.auditkit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Rows earlier in the same multi-row INSERT are visible here, so a batch passes row
        -- by row.
        IF NEW.seq IS DISTINCT FROM COALESCE(
            (SELECT max(seq) FROM {s}.events),
            (SELECT purged_seq FROM {s}.auditkit_head WHERE id = 1),
            0) + 1 THEN
            RAISE EXCEPTION 'auditkit: events are appended at head + 1 only (seq % refused)', NEW.seq
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF (to_jsonb(NEW) - 'search_words') IS DISTINCT FROM (to_jsonb(OLD) - 'search_words')
            OR NOT (NEW.search_words <@ OLD.search_words) THEN
            RAISE EXCEPTION 'auditkit: events are append-only and cannot be updated'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.seq > (SELECT purged_seq FROM {s}.auditkit_head WHERE id = 1) THEN
            RAISE EXCEPTION 'auditkit: events cannot be deleted except by a purge'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'auditkit: % of events is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$guard$;
"#;

/// Version 3: each event records the canonical encoding version its hashes were computed
/// with (`SealedEvent::encoding`); every earlier event used the first, which the default says
/// (PostgreSQL adds a column with a constant default without rewriting the table).
const V3: &str =
    "ALTER TABLE {s}.events ADD COLUMN IF NOT EXISTS encoding bigint NOT NULL DEFAULT 1;";

/// Version 4: the append queue (`postgres/queue.rs`): drafts of writers that found the head
/// locked, as their serde JSON, for the writer holding the lock to seal.
const V4: &str = "CREATE TABLE IF NOT EXISTS {s}.auditkit_queue (
    id    bigserial PRIMARY KEY,
    draft text NOT NULL
);";

/// Version 5: the `auditkit_` prefix on every table, index and trigger, as in SQLite (one
/// layout, one SQL text for both; an app's own connection may also run it, schema-qualified).
const V5_RENAMES: &str = "
ALTER TABLE {s}.events RENAME TO auditkit_events;
ALTER TABLE {s}.event_targets RENAME TO auditkit_event_targets;
ALTER TABLE {s}.event_changes RENAME TO auditkit_event_changes;
ALTER TABLE {s}.personal_values RENAME TO auditkit_personal_values;
ALTER INDEX {s}.events_pkey RENAME TO auditkit_events_pkey;
ALTER INDEX {s}.event_targets_pkey RENAME TO auditkit_event_targets_pkey;
ALTER INDEX {s}.event_changes_pkey RENAME TO auditkit_event_changes_pkey;
ALTER INDEX {s}.personal_values_pkey RENAME TO auditkit_personal_values_pkey;
ALTER INDEX {s}.events_id RENAME TO auditkit_events_id;
ALTER INDEX {s}.events_key RENAME TO auditkit_events_key;
ALTER INDEX {s}.events_time RENAME TO auditkit_events_time;
ALTER INDEX {s}.events_tenant RENAME TO auditkit_events_tenant;
ALTER INDEX {s}.events_actor RENAME TO auditkit_events_actor;
ALTER INDEX {s}.events_actor_kind RENAME TO auditkit_events_actor_kind;
ALTER INDEX {s}.events_action RENAME TO auditkit_events_action;
ALTER INDEX {s}.events_target RENAME TO auditkit_events_target;
ALTER INDEX {s}.events_source RENAME TO auditkit_events_source;
ALTER INDEX {s}.events_failures RENAME TO auditkit_events_failures;
ALTER INDEX {s}.events_search RENAME TO auditkit_events_search;
ALTER TRIGGER events_guard ON {s}.auditkit_events RENAME TO auditkit_events_guard;
ALTER TRIGGER events_no_truncate ON {s}.auditkit_events RENAME TO auditkit_events_no_truncate;
ALTER TRIGGER head_guard ON {s}.auditkit_head RENAME TO auditkit_head_guard;
ALTER TRIGGER head_no_truncate ON {s}.auditkit_head RENAME TO auditkit_head_no_truncate;
ALTER TRIGGER personal_no_update ON {s}.auditkit_personal_values RENAME TO auditkit_personal_no_update;
";

/// Version 5 whole: the renames, and version 2's events guard naming the renamed table (a
/// PL/pgSQL body is text, which a rename does not rewrite).
fn v5() -> String {
    format!(
        "{V5_RENAMES}{}",
        V2.replace("{s}.events", "{s}.auditkit_events")
    )
}

/// Version 6: guards on the derived rows a query answers from, as in SQLite: the targets an
/// event involves, its change paths and its personal values are never updated, and deleted
/// only by a purge (rows at or below the purge anchor) or an erasure, which marks its
/// transaction with the setting `auditkit.erasing` (`set_config(.., true)`: gone at its end).
const V6_GUARD: &str = r#"
CREATE OR REPLACE FUNCTION {s}.auditkit_derived_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.seq <= (SELECT purged_seq FROM {s}.auditkit_head WHERE id = 1)
            OR (TG_TABLE_NAME <> 'auditkit_event_targets'
                AND current_setting('auditkit.erasing', true) = 'on') THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'auditkit: % of % is not allowed: derived rows change only by a purge or an erasure', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$guard$;
"#;

/// Migrations from version `i + 1` to `i + 2` (index 0 takes version 1 to 2), with `{s}` for
/// the quoted schema name. A new schema is created as version 1 and then runs them all.
const MIGRATIONS: &[fn() -> String] = &[|| V2.into(), || V3.into(), || V4.into(), v5, v6, v7];

/// Version 7, as in SQLite: each event's links to the previous event of each target it
/// involves (`SealedEvent::links`, varints) and the Merkle subtree hashes it completes
/// (`SealedEvent::nodes`), NULL in events sealed before; and the guards let an index
/// rebuild through, marked by the setting `auditkit.repairing`: it may delete target rows
/// and change paths and set search words (adding some back), never personal values; and the
/// target and change-path rows are indexed by seq, for verify.
fn v7() -> String {
    // COALESCE: unset, the setting is NULL, and NOT (.. OR NULL) would let any UPDATE by.
    const REPAIRING: &str = "COALESCE(current_setting('auditkit.repairing', true), '') = 'on'";
    let events_guard = V2.replace("{s}.events", "{s}.auditkit_events").replace(
        "OR NOT (NEW.search_words <@ OLD.search_words)",
        &format!("OR NOT (NEW.search_words <@ OLD.search_words OR {REPAIRING})"),
    );
    let derived_guard = V6_GUARD.replace(
        "AND current_setting('auditkit.erasing', true) = 'on') THEN",
        &format!(
            "AND current_setting('auditkit.erasing', true) = 'on')\n            OR (TG_TABLE_NAME <> 'auditkit_personal_values' AND {REPAIRING}) THEN"
        ),
    );
    // Verify reads the derived rows of a range of events: by seq, not by a full scan.
    format!(
        "ALTER TABLE {{s}}.auditkit_events ADD COLUMN IF NOT EXISTS links bytea, ADD COLUMN IF NOT EXISTS nodes bytea;\n\
         CREATE INDEX IF NOT EXISTS auditkit_event_targets_seq ON {{s}}.auditkit_event_targets (seq);\n\
         CREATE INDEX IF NOT EXISTS auditkit_event_changes_seq ON {{s}}.auditkit_event_changes (seq);\n\
         {events_guard}{derived_guard}"
    )
}

/// Version 6 whole: the guard function, and on each derived table a row trigger for what it
/// guards and a statement trigger refusing `TRUNCATE` (dropped first, so a migration run
/// again finds them gone).
fn v6() -> String {
    let mut sql = V6_GUARD.to_owned();
    for (table, row_trigger, ops) in [
        (
            "auditkit_event_targets",
            "auditkit_targets_guard",
            "UPDATE OR DELETE",
        ),
        (
            "auditkit_event_changes",
            "auditkit_changes_guard",
            "UPDATE OR DELETE",
        ),
        (
            "auditkit_personal_values",
            "auditkit_personal_no_delete",
            "DELETE",
        ),
    ] {
        for (trigger, when, each) in [
            (row_trigger, ops, "ROW"),
            ("auditkit_derived_no_truncate", "TRUNCATE", "STATEMENT"),
        ] {
            sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS {trigger} ON {{s}}.{table};\n\
                 CREATE TRIGGER {trigger} BEFORE {when} ON {{s}}.{table}\n    \
                 FOR EACH {each} EXECUTE FUNCTION {{s}}.auditkit_derived_guard();\n"
            ));
        }
    }
    sql
}

/// `name` quoted as an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn meta(tx: &mut Transaction<'_>, s: &str, key: &str) -> Result<Option<String>> {
    let row = tx
        .query_opt(
            &format!("SELECT value FROM {s}.auditkit_meta WHERE key = $1"),
            &[&key],
        )
        .map_err(map_err)?;
    Ok(row.map(|r| r.get(0)))
}

/// Creates the schema's tables when they are missing, or checks and migrates existing ones;
/// returns the log id. Safe to run from many app servers at once: an advisory lock per schema
/// serializes them.
pub(crate) fn prepare(client: &mut impl GenericClient, schema: &str) -> Result<String> {
    let s = quote_ident(schema);
    let mut tx = client.transaction().map_err(map_err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('auditkit schema ' || $1::text))",
        &[&schema],
    )
    .map_err(map_err)?;
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass($1::text) IS NOT NULL",
            &[&format!("{s}.auditkit_meta")],
        )
        .map_err(map_err)?
        .get(0);
    if !exists {
        let names: Vec<String> = TABLES.iter().map(|t| format!("{s}.{t}")).collect();
        let taken: Vec<String> = tx
            .query(
                "SELECT n FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NOT NULL",
                &[&names],
            )
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !taken.is_empty() {
            return Err(Error::corrupt(format!(
                "schema {schema:?} already holds {} not created by auditkit; give auditkit a schema of its own (PgOptions::schema)",
                taken.join(", ")
            )));
        }
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s};"))
            .map_err(map_err)?;
        tx.batch_execute(&V1.replace("{s}", &s)).map_err(map_err)?;
        for step in MIGRATIONS {
            tx.batch_execute(&step().replace("{s}", &s))
                .map_err(map_err)?;
        }
        let log_id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            &format!(
                "INSERT INTO {s}.auditkit_meta (key, value) VALUES ('log_id', $1), ('schema_version', $2)"
            ),
            &[&log_id, &SCHEMA_VERSION.to_string()],
        )
        .map_err(map_err)?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.auditkit_head (id, seq, hash, frontier) VALUES (1, 0, $1, $2)"
            ),
            &[&vec![0u8; 32], &Vec::<u8>::new()],
        )
        .map_err(map_err)?;
    } else {
        let version = meta(&mut tx, &s, "schema_version")?.ok_or_else(|| {
            Error::corrupt(format!(
                "schema {schema:?} has an auditkit_meta table without a schema_version"
            ))
        })?;
        let version: u32 = version.parse().map_err(|_| {
            Error::corrupt(format!(
                "schema {schema:?}: schema_version {version:?} is not a number"
            ))
        })?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            return Err(Error::corrupt(format!(
                "schema {schema:?} has schema_version 0"
            )));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize - 1) {
            tx.batch_execute(&step().replace("{s}", &s))
                .map_err(map_err)?;
            tx.execute(
                &format!("UPDATE {s}.auditkit_meta SET value = $1 WHERE key = 'schema_version'"),
                &[&(i as u32 + 2).to_string()],
            )
            .map_err(map_err)?;
        }
    }
    let log_id = meta(&mut tx, &s, "log_id")?.ok_or_else(|| {
        Error::corrupt(format!(
            "schema {schema:?} has an auditkit_meta table without a log_id"
        ))
    })?;
    tx.commit().map_err(map_err)?;
    Ok(log_id)
}

#[cfg(test)]
mod tests {
    /// Version 7 rewrites two guards by replacing a line of each: both lines must be found.
    #[test]
    fn version_7_lets_rebuilds_through_both_guards() {
        let sql = super::v7();
        assert_eq!(sql.matches("auditkit.repairing").count(), 2, "{sql}");
    }
}
