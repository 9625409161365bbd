//! Purge and erasure for [`super::PgStore`]: the only paths that remove anything.

use std::collections::HashMap;

use postgres::{IsolationLevel, Statement, Transaction};

use super::connect::{commit, final_err, map_err, prepared, Conn, Fail};
use super::read::{fill_personal, get};
use super::search::POSTGRES;
use super::PgStore;
use crate::integrity::merkle;
use crate::sql::index_rows::IndexRows;
use crate::sql::{codec, lifecycle, EventKey, Schema};
use crate::store::sealed::SealedEvent;
use crate::store::{Head, PersonalPath};
use crate::Result;

/// The purge anchor's columns of the head row.
pub(super) fn anchor_sql(schema: &Schema) -> String {
    format!(
        "SELECT purged_seq, purged_hash, purged_frontier FROM {} WHERE id = 1",
        schema.table("auditkit_head")
    )
}

/// The purge anchor, read on `client` (a store's connection or the app's transaction).
pub(super) fn anchor_on(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl postgres::GenericClient,
    schema: &Schema,
) -> std::result::Result<Option<Head>, Fail> {
    let stmt = prepared(statements, client, &anchor_sql(schema))?;
    Ok(anchor_of(&client.query_one(&stmt, &[])?)?)
}

fn anchor_of(row: &postgres::Row) -> Result<Option<Head>> {
    lifecycle::decode_anchor(get(row, 0)?, get(row, 1)?, get(row, 2)?)
}

/// Starts the transaction every removal runs in, holding the head row's lock: appends and
/// other purges wait, so the anchor checked is the anchor written.
fn locked<'a>(
    client: &'a mut postgres::Client,
) -> std::result::Result<(Transaction<'a>, postgres::Row), postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()?;
    let row = tx.query_one(
        "SELECT seq, purged_seq, purged_hash, purged_frontier FROM auditkit_head WHERE id = 1 FOR UPDATE",
        &[],
    )?;
    Ok((tx, row))
}

impl PgStore {
    pub(super) fn lifecycle_anchor(&self) -> Result<Option<Head>> {
        self.run(|conn| self.anchor_on(conn))
    }

    /// The purge anchor as `conn` sees it (an append's, inside its transaction).
    pub(super) fn anchor_on(&self, conn: &mut Conn) -> std::result::Result<Option<Head>, Fail> {
        let Conn {
            client, statements, ..
        } = conn;
        anchor_on(statements, client, &self.tables)
    }

    /// Sets the anchor first, so the guard trigger lets exactly these deletes through, then
    /// deletes the events and everything derived from them, in one transaction.
    pub(super) fn lifecycle_purge(&self, new: &Head) -> Result<()> {
        self.run(|conn| {
            let (mut tx, row) = locked(&mut conn.client)?;
            let head_seq: i64 = get(&row, 0)?;
            let current = lifecycle::decode_anchor(get(&row, 1)?, get(&row, 2)?, get(&row, 3)?)?;
            if !lifecycle::check_anchor(current.as_ref(), head_seq as u64, new)? {
                // Nothing to remove: write nothing.
                return Ok(());
            }
            let seq = new.seq as i64;
            tx.execute(
                "UPDATE auditkit_head SET purged_seq = $1, purged_hash = $2, purged_frontier = $3 WHERE id = 1",
                &[&seq, &new.hash.to_vec(), &merkle::to_bytes(&new.frontier)],
            )?;
            for table in lifecycle::PURGED_TABLES {
                tx.execute(&format!("DELETE FROM {table} WHERE seq <= $1"), &[&seq])?;
            }
            commit(tx)
        })
    }

    /// Deletes the personal values and re-indexes the affected events (search words, change
    /// paths) without them.
    pub(super) fn lifecycle_erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        self.run(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            let (mut tx, _) = locked(client)?;
            // The guards let this transaction delete personal values and change paths
            // (schema V6); the setting ends with it.
            tx.execute("SELECT set_config('auditkit.erasing', 'on', true)", &[])?;
            let mut ops = PgEraser {
                tx,
                statements,
                load_sql: POSTGRES.select_event_by(&self.tables, EventKey::Seq),
                tables: &self.tables,
            };
            lifecycle::erase(&mut ops, &POSTGRES, fields)?;
            commit(ops.tx)
        })
    }
}

impl PgStore {
    /// Rebuilds every derived row from the events, holding the head row's lock, past the
    /// guards with the setting `auditkit.repairing` (schema V7; gone with the transaction);
    /// returns how many events were re-indexed.
    pub(super) fn lifecycle_rebuild(&self) -> Result<u64> {
        self.run(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            let (mut tx, row) = locked(client)?;
            tx.execute("SELECT set_config('auditkit.repairing', 'on', true)", &[])?;
            let after = get::<i64>(&row, 1)? as u64;
            let mut ops = PgRebuilder {
                tx,
                statements,
                tables: &self.tables,
            };
            let n = lifecycle::rebuild(&mut ops, &POSTGRES, after)?;
            commit(ops.tx)?;
            Ok(n)
        })
    }
}

/// An index rebuild's statements on an open PostgreSQL transaction.
struct PgRebuilder<'a, 'c> {
    tx: Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
    tables: &'a Schema,
}

impl lifecycle::Rebuilder for PgRebuilder<'_, '_> {
    fn clear(&mut self, after: u64) -> Result<()> {
        for table in ["auditkit_event_targets", "auditkit_event_changes"] {
            self.tx
                .execute(
                    &format!("DELETE FROM {table} WHERE seq > $1"),
                    &[&(after as i64)],
                )
                .map_err(map_err)?;
        }
        // Search words live in the event rows: `index` overwrites them.
        Ok(())
    }

    fn load(&mut self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let sql = codec::read_sql(&POSTGRES);
        let stmt = prepared(self.statements, &mut self.tx, &sql).map_err(map_err)?;
        let rows = self
            .tx
            .query(&stmt, &[&(from as i64), &(limit as i64)])
            .map_err(map_err)?;
        let mut events = rows.iter().map(codec::decode).collect::<Result<Vec<_>>>()?;
        fill_personal(self.statements, &mut self.tx, self.tables, &mut events)
            .map_err(final_err)?;
        Ok(events)
    }

    fn index(&mut self, events: &[(u64, IndexRows<'_>)]) -> Result<()> {
        let (mut t_kind, mut t_id, mut t_seq) = (Vec::new(), Vec::new(), Vec::new());
        let (mut c_path, mut c_seq) = (Vec::new(), Vec::new());
        let (mut w_seq, mut w_words) = (Vec::new(), Vec::new());
        for (seq, rows) in events {
            let seq = *seq as i64;
            for (kind, id) in &rows.involved {
                t_kind.push(kind.as_str());
                t_id.push(id.as_str());
                t_seq.push(seq);
            }
            for path in &rows.change_paths {
                c_path.push(path.as_str());
                c_seq.push(seq);
            }
            w_seq.push(seq);
            w_words.push(rows.search.as_str());
        }
        self.tx
            .execute(
                "INSERT INTO auditkit_event_targets (kind, id, seq) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
                &[&t_kind, &t_id, &t_seq],
            )
            .map_err(map_err)?;
        self.tx
            .execute(
                "INSERT INTO auditkit_event_changes (path, seq) \
                 SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
                &[&c_path, &c_seq],
            )
            .map_err(map_err)?;
        self.tx
            .execute(
                "UPDATE auditkit_events e SET search_words = string_to_array(w.words, ' ') \
                 FROM unnest($1::bigint[], $2::text[]) AS w(seq, words) WHERE e.seq = w.seq",
                &[&w_seq, &w_words],
            )
            .map_err(map_err)?;
        Ok(())
    }
}

/// Erasure's statements on an open PostgreSQL transaction.
struct PgEraser<'a, 'c> {
    tx: Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
    load_sql: String,
    tables: &'a Schema,
}

impl lifecycle::Eraser for PgEraser<'_, '_> {
    fn load(&mut self, seq: u64) -> Result<Option<SealedEvent>> {
        let stmt = prepared(self.statements, &mut self.tx, &self.load_sql).map_err(map_err)?;
        let rows = self.tx.query(&stmt, &[&(seq as i64)]).map_err(map_err)?;
        let mut events = rows.iter().map(codec::decode).collect::<Result<Vec<_>>>()?;
        fill_personal(self.statements, &mut self.tx, self.tables, &mut events)
            .map_err(final_err)?;
        Ok(events.pop())
    }

    fn delete_value(&mut self, seq: u64, path: &str) -> Result<bool> {
        let stmt = prepared(
            self.statements,
            &mut self.tx,
            "DELETE FROM auditkit_personal_values WHERE seq = $1 AND path = $2",
        )
        .map_err(map_err)?;
        let n = self
            .tx
            .execute(&stmt, &[&(seq as i64), &path])
            .map_err(map_err)?;
        Ok(n > 0)
    }

    fn reindex(&mut self, seq: u64, rows: &IndexRows<'_>, gone: &[String]) -> Result<()> {
        let seq = seq as i64;
        if !gone.is_empty() {
            self.tx
                .execute(
                    "DELETE FROM auditkit_event_changes WHERE path = ANY($1) AND seq = $2",
                    &[&gone, &seq],
                )
                .map_err(map_err)?;
        }
        self.tx
            .execute(
                "UPDATE auditkit_events SET search_words = string_to_array($1::text, ' ') WHERE seq = $2",
                &[&rows.search, &seq],
            )
            .map_err(map_err)?;
        Ok(())
    }
}
