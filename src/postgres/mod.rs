//! [`PgStore`]: the PostgreSQL backend (feature `postgres`), for apps whose app servers share
//! one database.
//!
//! - Everything lives in one PostgreSQL schema (default [`DEFAULT_SCHEMA`]), so the trail can
//!   sit in the app's own database next to its tables; the schema is versioned and migrated
//!   forward on connect, under an advisory lock so app servers starting together agree.
//! - Appends lock the single head row (`SELECT ... FOR UPDATE`), compare its seq, insert and
//!   move the head in one transaction: any number of app servers keep one contiguous chain.
//! - Triggers refuse UPDATE (but erasure's, which only drops search words), DELETE (outside
//!   a purge) and TRUNCATE of events and any INSERT that is not at head + 1; the README lists
//!   the GRANTs that narrow the app's role further.
//!   They stop accidents, not a superuser: keep checkpoints outside the database for that.
//! - Every query filter runs on an index; `search` uses a GIN index over the exact words
//!   [`crate::query::words`] finds, so it means what [`Query::matches`] means. `summarize`
//!   counts with `GROUP BY` on the same indexes, as `SqliteStore` does.
//! - Durability is the server's: a commit is acknowledged once PostgreSQL reports it, which
//!   with the default `synchronous_commit = on` means it is flushed to the WAL.
//! - Connections are pooled inside the store. One that the server dropped (a restart, a
//!   failover) is replaced on the next call; a call that fails before anything was sent is
//!   retried on a fresh connection, so callers see no error for an idle connection that died.
//! - Reads can go to a hot standby ([`PgOptions::read_url`], a second pool): queries, counts,
//!   summaries, `get`, history and exports. The head, appends, idempotency keys, what sealing
//!   reads, checkpoints, purge, erasure and verify stay on the primary. [`PgOptions`] says
//!   what a lagging standby means for a read.
//!
//! TLS is the caller's choice: [`PgStore::connect`] uses no TLS (for a loopback or a private
//! network); [`PgStore::connect_with`] takes any `postgres` TLS connector.
//!
//! This file holds the store and its [`AuditStore`] methods, each handing over to the file
//! for its part: `options` (what a store connects with), `connect` (connections, the pool,
//! errors), `append`, `read` (reads, queries and summaries), `search` (the word arrays), `lifecycle`
//! (purge and erasure) and `schema`.

mod append;
mod connect;
mod lifecycle;
mod options;
mod queue;
mod read;
mod schema;
mod search;
#[cfg(feature = "sqlx")]
mod within_sqlx;

use std::fmt;

use uuid::Uuid;

/// The `postgres` crate auditkit is built with: an app's `postgres::Transaction` from it is
/// what [`crate::AuditTrail::record_in`] takes.
pub use ::postgres;
/// The `sqlx` auditkit is built with (feature `sqlx`): an app's `sqlx::PgConnection` from it
/// is what [`crate::AuditTrail::record_in_sqlx`] takes.
#[cfg(feature = "sqlx")]
pub use ::sqlx;
pub use options::{PgOptions, DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_SCHEMA};
pub use schema::SCHEMA_VERSION;

use crate::query::summary::GroupBy;
use crate::query::Query;
use crate::sql::Schema;
use crate::store::sealed::{SealedEvent, SealedEventRef};
use crate::store::{Append, AppendWithin, AuditStore, DerivedRows, Head, PersonalPath};
use crate::Result;
use connect::Side;

/// An [`AuditStore`] in a PostgreSQL database.
pub struct PgStore {
    log_id: String,
    schema: String,
    /// The schema, qualifying the statements that the app's own connections run too
    /// (`record_in`), so those are one SQL text on both.
    tables: Schema,
    /// Appends, the head, and everything sealing reads.
    primary: Side,
    /// Where reads go when [`PgOptions::read_url`] names a standby.
    replica: Option<Side>,
    options: PgOptions,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("log_id", &self.log_id)
            .field("schema", &self.schema)
            .field("reconnects", &self.primary.reconnects())
            .field("read_server", &self.replica.is_some())
            .field("options", &self.options)
            .finish()
    }
}

impl PgStore {
    /// The PostgreSQL schema holding this store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

// Every method is pushed down to SQL or stated here: a provided fallback taken by accident would
// scan the whole log.
#[deny(clippy::missing_trait_methods)]
impl AuditStore for PgStore {
    fn log_id(&self) -> Result<String> {
        Ok(self.log_id.clone())
    }

    fn head(&self) -> Result<Head> {
        read::head(self)
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        append::compare_and_append(self, expected, batch, new_head)
    }

    fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
        Ok(Box::new(append::begin(self)?))
    }

    fn begin_or_queue(&self, drafts: &[&SealedEvent]) -> Result<crate::store::queue::Turn<'_>> {
        queue::begin_or_queue(self, drafts)
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        read::read(self, from, limit)
    }

    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        read::read_each(self, from, limit, visit)
    }

    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        read::query(self, query, limit)
    }

    fn count(&self, query: &Query) -> Result<u64> {
        read::count(self, query)
    }

    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        read::by_id(self, id)
    }

    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        read::find_by_key(self, key)
    }

    fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        read::summarize(self, query, by)
    }

    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.lifecycle_anchor()
    }

    fn purge(&self, anchor: &Head) -> Result<()> {
        self.lifecycle_purge(anchor)
    }

    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        self.lifecycle_erase(fields)
    }

    fn rebuild_derived(&self) -> Result<Option<u64>> {
        self.lifecycle_rebuild().map(Some)
    }

    fn check_storage(&self) -> Result<()> {
        // The server keeps its own files whole (WAL, page checksums when enabled) and reports
        // damage as an error of the statement that meets it: this store knows of no other.
        Ok(())
    }

    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>> {
        read::derived_rows(self, from, to).map(Some)
    }

    fn newest_involving(&self, targets: &[crate::store::TargetKey<'_>]) -> Result<Vec<u64>> {
        read::newest_involving(self, targets)
    }
}

/// The app's open transaction on its own connection to the store's database (`postgres`
/// crate): `trail.record_in(&mut tx, event)`.
impl<'t> AppendWithin<&'t mut postgres::Transaction<'_>> for PgStore {
    fn begin_append_within<'a>(
        &'a self,
        tx: &'t mut postgres::Transaction<'_>,
    ) -> Result<Box<dyn Append + 'a>>
    where
        't: 'a,
    {
        Ok(Box::new(append::begin_within(self, tx)?))
    }
}
