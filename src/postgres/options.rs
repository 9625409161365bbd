//! What a [`super::PgStore`] connects with: [`PgOptions`] and the defaults.

use std::time::Duration;

#[cfg(doc)]
use super::PgStore;
use crate::{Error, Result};

/// The schema auditkit uses unless told otherwise: `auditkit`.
pub const DEFAULT_SCHEMA: &str = "auditkit";
/// Default time an append waits for another writer's lock on the head before
/// [`Error::Busy`]: 5 seconds.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default most connections one store opens at once: 16.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Options for [`PgStore::connect_with`] and [`PgStore::from_client`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgOptions {
    /// The PostgreSQL schema holding auditkit's tables (default [`DEFAULT_SCHEMA`]); created
    /// if missing. One schema holds one log.
    pub schema: String,
    /// How long an append waits for the head row's lock (default [`DEFAULT_LOCK_TIMEOUT`]).
    pub lock_timeout: Duration,
    /// The most connections the store opens at once (default [`DEFAULT_MAX_CONNECTIONS`]);
    /// further callers wait for one to come back.
    pub max_connections: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: DEFAULT_SCHEMA.to_owned(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl PgOptions {
    /// Sets the schema that holds auditkit's tables.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets how long an append waits for the head row's lock.
    #[must_use]
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.lock_timeout = t;
        self
    }

    /// Sets the most connections the store opens at once (at least 1).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

pub(super) fn validate_schema(schema: &str) -> Result<()> {
    if schema.is_empty() || schema.len() > 63 || schema.contains('\0') {
        return Err(Error::invalid(
            "schema",
            format!(
                "{schema:?} is not a usable PostgreSQL schema name: use 1 to 63 bytes without NUL"
            ),
        ));
    }
    Ok(())
}
