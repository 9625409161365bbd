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
//!
//! This file holds the store and its [`AuditStore`] methods, each handing over to the file
//! for its part: `options` (what a store is opened with), `open` (connections and errors),
//! `append`, `read` (reads, queries, summaries), `search` (FTS5 tokens), `lifecycle` (purge
//! and erasure), `schema` and `file` (the file's bytes checked before opening).

mod append;
mod file;
mod lifecycle;
mod open;
mod options;
mod read;
mod schema;
mod search;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;
use uuid::Uuid;

pub use options::{SqliteOptions, Synchronous, DEFAULT_BUSY_TIMEOUT};
/// The `rusqlite` auditkit is built with: an app that opens its own connections with it
/// shares auditkit's SQLite library, and its transactions are what
/// [`crate::AuditTrail::record_in`] takes (README, "Recording inside your transaction").
pub use rusqlite;
pub use schema::SCHEMA_VERSION;

use crate::query::summary::GroupBy;
use crate::query::Query;
use crate::store::queue::Turn;
use crate::store::sealed::{SealedEvent, SealedEventRef};
use crate::store::{Append, AppendWithin, AuditStore, DerivedRows, Head, PersonalPath};
use crate::{Error, Result};

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

impl SqliteStore {
    /// The database file, `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

// Every method is pushed down to SQL or stated here: a provided fallback taken by accident would
// scan the whole log.
#[deny(clippy::missing_trait_methods)]
impl AuditStore for SqliteStore {
    fn log_id(&self) -> Result<String> {
        Ok(self.log_id.clone())
    }

    fn head(&self) -> Result<Head> {
        read::head(self)
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        crate::store::append_through(self, expected, batch, new_head)
    }

    fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
        Ok(Box::new(append::begin(self)?))
    }

    fn begin_or_queue(&self, _drafts: &[&SealedEvent]) -> Result<Turn<'_>> {
        // One file, one writer at a time: waiting for the lock is all there is.
        Ok(Turn::Append(self.begin_append()?))
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

    fn rebuild_derived(&self) -> Result<Option<u64>> {
        lifecycle::rebuild(&mut self.writer()).map(Some)
    }

    fn check_storage(&self) -> Result<()> {
        match &self.damage {
            Some(d) => Err(Error::corrupt(d.clone())),
            None => Ok(()),
        }
    }

    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>> {
        read::derived_rows(self, from, to).map(Some)
    }

    fn newest_involving(&self, targets: &[crate::store::TargetKey<'_>]) -> Result<Vec<u64>> {
        // On the writer: the trail asks just before it appends, and the writer's page cache
        // holds the pages its last commit wrote, which a reader connection would read again
        // (about half the cost of the lookups; issue 18's profile).
        read::newest_involving_on(&self.writer(), targets)
    }
}

// The app's transaction on its own connection to the store's file (`SqliteStore::adopt`).
impl<'t> AppendWithin<&'t rusqlite::Transaction<'_>> for SqliteStore {
    fn begin_append_within<'a>(
        &'a self,
        tx: &'t rusqlite::Transaction<'_>,
    ) -> Result<Box<dyn Append + 'a>>
    where
        't: 'a,
    {
        Ok(Box::new(append::begin_within(self, tx)?))
    }
}

impl<'t> AppendWithin<&'t rusqlite::Savepoint<'_>> for SqliteStore {
    fn begin_append_within<'a>(
        &'a self,
        tx: &'t rusqlite::Savepoint<'_>,
    ) -> Result<Box<dyn Append + 'a>>
    where
        't: 'a,
    {
        Ok(Box::new(append::begin_within(self, tx)?))
    }
}

#[cfg(test)]
mod tests;
