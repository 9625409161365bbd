//! What a [`super::PgStore`] connects with: [`PgOptions`] and the defaults.

use std::fmt;
use std::time::Duration;

use postgres::Config;

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
///
/// # Reads from a streaming replica
///
/// [`PgOptions::read_url`] (or [`PgOptions::read_config`]) names a hot standby of the primary
/// (or a pooler in front of standbys). The store then opens a second pool there, of up to
/// [`PgOptions::max_connections`] connections, and sends it the reads an app serves:
/// [`AuditTrail::query`], [`AuditTrail::for_each`], [`AuditTrail::history`],
/// [`AuditTrail::count`], [`AuditTrail::summarize`], [`AuditTrail::get`], the exports
/// ([`AuditTrail::export_csv`], [`AuditTrail::export_jsonl`]), [`PgStore::explain_query`] and
/// [`PgStore::explain_summarize`]. What sealing depends on stays on the primary: appends, the
/// head, the newest event the next one links to, idempotency keys, checkpoints, purges and
/// erasure; and so does [`AuditTrail::verify`], which compares the events with the head and
/// would take a standby that is behind for a truncated log.
///
/// A standby applies the primary's commits a moment later (its lag). For a read that means:
/// - A query, count, summary, history or export sees the log as the standby has it: it may
///   miss the newest events, including the one `record` just returned, and
///   [`AuditTrail::get`] may return `None` for it. What it returns is never wrong, only
///   older. Where a caller must read its own write, read through a store without a read URL,
///   or make commits wait for the standby (`synchronous_commit = remote_apply` with the
///   standby in `synchronous_standby_names`).
/// - A cursor ([`crate::Page::next`]) is a position, not a snapshot: it stays valid on the
///   next call whichever standby (or the primary) answers it, and, as on the primary, events
///   that arrive meanwhile show up in a later page only if they sort after it. Separate calls
///   may disagree (a count taken before a page) by what arrived between them.
/// - Events purged, and personal values erased, on the primary stay readable on the standby
///   (and found by `search`) until it replays the purge or erasure.
/// - A standby may cancel a long read that conflicts with replay (`max_standby_streaming_delay`,
///   `hot_standby_feedback`); that comes back as [`Error::Busy`]. A standby that cannot be
///   reached fails reads with [`Error::Storage`] while recording goes on.
///
/// Each new read connection checks that the standby holds the same log as the primary (its
/// log id), so a read URL of another database fails instead of answering for it. While the
/// standby has not yet replayed the creation of the schema, reads fail with
/// [`Error::Storage`] saying so.
///
/// To verify a standby's copy, open a store with the standby's URL as its only URL and call
/// [`AuditTrail::verify_against`] with a checkpoint taken on the primary: head and events
/// then both come from the standby, and it passes once the standby has replayed that
/// checkpoint (before, it reports the log as truncated). Such a store only reads: recording
/// there fails with [`Error::Storage`], and it connects only to a standby whose schema is at
/// this version of auditkit (migrations run on the primary).
///
/// [`AuditTrail::query`]: crate::AuditTrail::query
/// [`AuditTrail::for_each`]: crate::AuditTrail::for_each
/// [`AuditTrail::history`]: crate::AuditTrail::history
/// [`AuditTrail::count`]: crate::AuditTrail::count
/// [`AuditTrail::summarize`]: crate::AuditTrail::summarize
/// [`AuditTrail::get`]: crate::AuditTrail::get
/// [`AuditTrail::export_csv`]: crate::AuditTrail::export_csv
/// [`AuditTrail::export_jsonl`]: crate::AuditTrail::export_jsonl
/// [`AuditTrail::verify`]: crate::AuditTrail::verify
/// [`AuditTrail::verify_against`]: crate::AuditTrail::verify_against
#[derive(Clone)]
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
    /// Where reads go, if not to the primary: see [`PgOptions::read_url`].
    read: Option<ReadServer>,
}

/// The read server as given: a URL is parsed when the store connects.
#[derive(Clone)]
pub(super) enum ReadServer {
    Url(String),
    Config(Box<Config>),
}

impl ReadServer {
    /// The connection settings, with [`PgStore::connect`]'s default connect timeout.
    pub(super) fn config(&self) -> Result<Config> {
        let mut config = match self {
            ReadServer::Url(url) => url.parse::<Config>().map_err(|e| {
                Error::invalid(
                    "read_url",
                    format!("{e}; expected postgres://user:password@host:port/database"),
                )
            })?,
            ReadServer::Config(c) => (**c).clone(),
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        Ok(config)
    }
}

impl fmt::Debug for ReadServer {
    // `Config`'s Debug leaves out the password; a URL would print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.config() {
            Ok(c) => c.fmt(f),
            Err(_) => f.write_str("<a malformed read URL>"),
        }
    }
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("schema", &self.schema)
            .field("lock_timeout", &self.lock_timeout)
            .field("max_connections", &self.max_connections)
            .field("read", &self.read)
            .finish()
    }
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: DEFAULT_SCHEMA.to_owned(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            read: None,
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

    /// Sends reads to the hot standby (or pooler in front of standbys) at `url`, in the
    /// primary's URL syntax, connected through the same TLS connector as the primary; appends,
    /// checkpoints and everything sealing reads stay on the primary. What a lagging standby
    /// means for each read is under [Reads from a streaming replica](PgOptions#reads-from-a-streaming-replica).
    ///
    /// [`PgStore::connect_with`] parses the URL before it connects (a malformed one is
    /// [`Error::Invalid`], field `read_url`) and opens one read connection: it fails with
    /// [`Error::Storage`] when the read server cannot be reached, and with [`Error::Invalid`]
    /// (field `read_url`) when it holds another log; a standby that has not yet replayed a
    /// schema the primary just created is accepted, and reads fail until it has.
    /// [`PgStore::from_client`] refuses a read server, having no way to connect to it.
    #[must_use]
    pub fn read_url(mut self, url: impl Into<String>) -> Self {
        self.read = Some(ReadServer::Url(url.into()));
        self
    }

    /// [`PgOptions::read_url`] with connection settings built in code.
    #[must_use]
    pub fn read_config(mut self, config: Config) -> Self {
        self.read = Some(ReadServer::Config(Box::new(config)));
        self
    }

    /// The read server, if reads do not go to the primary.
    pub(super) fn read_server(&self) -> Option<&ReadServer> {
        self.read.as_ref()
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
