//! What a [`super::SqliteStore`] is opened with: [`SqliteOptions`] and [`Synchronous`].

use std::time::Duration;

#[cfg(doc)]
use super::SqliteStore;
#[cfg(doc)]
use crate::Error;

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
    /// Keep the log in a database that holds the application's own tables (default `false`:
    /// such a file is refused). See [`SqliteStore::adopt`].
    pub adopt: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            synchronous: Synchronous::Full,
            max_page_count: None,
            read_only: false,
            adopt: false,
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

    /// Adopts the application's own database (see the field of the same name).
    #[must_use]
    pub fn adopt(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }

    /// Opens the database read-only (see the field of the same name).
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}
