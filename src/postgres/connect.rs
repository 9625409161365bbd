//! Connections: opening a [`PgStore`], its pools (the primary's and the read server's),
//! retries on a dead connection, errors mapped.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::{Client, Config, GenericClient, NoTls, Socket, Statement, Transaction};

use super::options::{validate_schema, PgOptions, DEFAULT_SCHEMA};
use super::{schema, PgStore};
use crate::sql::Schema;
use crate::{Error, Result};

pub(super) type ConnectFn = dyn Fn() -> std::result::Result<Client, postgres::Error> + Send + Sync;

/// One pooled connection and the statements prepared on it.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) statements: HashMap<String, Statement>,
    /// When it was last given back to the pool.
    returned_at: std::time::Instant,
}

impl Conn {
    /// How long it sat in the pool before this checkout.
    pub(super) fn idle_for(&self) -> Duration {
        self.returned_at.elapsed()
    }
}

pub(super) struct Pool {
    idle: Vec<Conn>,
    /// Connections in existence, idle or in use.
    live: usize,
}

/// One side's pool: the primary's, or the read server's ([`PgOptions::read_url`]).
pub(super) struct Side {
    connect: Option<Box<ConnectFn>>,
    pool: Mutex<Pool>,
    returned: Condvar,
    /// The read server's: its sessions are read-only and each is checked to hold the log.
    reads: bool,
}

impl Side {
    fn new(connect: Option<Box<ConnectFn>>, live: usize, reads: bool) -> Side {
        Side {
            connect,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                live,
            }),
            returned: Condvar::new(),
            reads,
        }
    }

    /// Whether the store can open further connections here (not a `from_client` store).
    pub(super) fn reconnects(&self) -> bool {
        self.connect.is_some()
    }

    fn name(&self) -> &'static str {
        if self.reads {
            "the read server (PgOptions::read_url)"
        } else {
            "PostgreSQL"
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        // The pool holds only whole connections; a panic elsewhere cannot leave it half-made.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a new connection was not taken into a pool.
enum Refused {
    /// The read server has no auditkit schema yet: a standby that has not replayed its
    /// creation. [`PgStore::connect_with`] lets this be; a read fails with it.
    NotYet(Error),
    Other(Error),
}

/// The store's error for a failure that is not retried.
pub(super) fn final_err(f: Fail) -> Error {
    match f {
        Fail::Pg(e) => map_err(e),
        Fail::Final(e) => e,
    }
}

impl From<Refused> for Error {
    fn from(r: Refused) -> Error {
        match r {
            Refused::NotYet(e) | Refused::Other(e) => e,
        }
    }
}

/// How a failed operation went: a PostgreSQL error (retried on a fresh connection when the
/// old one died before anything could have been committed) or a final error.
pub(super) enum Fail {
    Pg(postgres::Error),
    Final(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Final(e)
    }
}

fn db_message(db: &postgres::error::DbError) -> String {
    let mut msg = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    msg
}

/// The store's error for a PostgreSQL failure, keeping the driver's as its source.
pub(crate) fn map_err(e: postgres::Error) -> Error {
    describe(&e).with_source(e)
}

fn describe(e: &postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        if e.is_closed() {
            return Error::storage(format!(
                "the connection to PostgreSQL closed ({e}); the store reconnects on the next call"
            ));
        }
        return Error::storage(format!("PostgreSQL: {e}"));
    };
    let msg = db_message(db);
    let code = db.code();
    if *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        Error::busy(msg)
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        Error::storage(format!(
            "{msg}; the role lacks a privilege auditkit needs (see the GRANTs in the README)"
        ))
    } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        Error::storage(format!(
            "{msg}; this server only reads (a hot standby?): recording, purging and erasing \
             need the primary"
        ))
    } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN {
        Error::corrupt(format!(
            "{msg}; auditkit's tables are missing or altered in this schema"
        ))
    } else {
        Error::storage(msg)
    }
}

/// A statement prepared once per connection.
pub(super) fn prepared(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    sql: &str,
) -> std::result::Result<Statement, postgres::Error> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    // Queries built from filters vary; a bounded cache keeps a long-lived connection small.
    if statements.len() >= 256 {
        statements.clear();
    }
    let s = client.prepare(sql)?;
    statements.insert(sql.to_owned(), s.clone());
    Ok(s)
}

/// Commits a write; an error past this point is final (the server may have committed, so the
/// caller reads back instead of retrying).
pub(super) fn commit(tx: Transaction<'_>) -> std::result::Result<(), Fail> {
    tx.commit().map_err(|e| {
        if e.as_db_error().is_some() {
            Fail::Final(map_err(e))
        } else {
            Fail::Final(Error::outcome_unknown(format!(
                "the connection failed during COMMIT: {e}"
            )))
        }
    })
}

impl PgStore {
    /// Connects without TLS to the database at `url` (`postgres://user:pass@host:port/db` or
    /// `host=... user=...`) and uses the schema [`DEFAULT_SCHEMA`], creating or migrating it.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed URL; [`Error::Storage`] when the server cannot be
    /// reached or refuses the role; [`Error::SchemaTooNew`] for a schema written by a newer
    /// auditkit; [`Error::Corrupt`] when the schema holds tables auditkit did not create.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with_schema(url, DEFAULT_SCHEMA)
    }

    /// Like [`PgStore::connect`], with auditkit's tables in `schema` (one log per schema).
    ///
    /// # Errors
    /// As [`PgStore::connect`]; [`Error::Invalid`] for an unusable schema name.
    pub fn connect_with_schema(url: &str, schema: &str) -> Result<Self> {
        let mut config: Config = url.parse().map_err(|e| {
            Error::invalid(
                "url",
                format!("{e}; expected postgres://user:password@host:port/database"),
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        Self::connect_with(config, NoTls, PgOptions::default().schema(schema))
    }

    /// Connects with `config` through the TLS connector `tls` (such as `postgres-native-tls`
    /// or `postgres-openssl`, or [`NoTls`]). The store keeps both to open further connections
    /// and to reconnect after the server dropped one.
    ///
    /// # Errors
    /// As [`PgStore::connect_with_schema`].
    pub fn connect_with<T>(config: Config, tls: T, options: PgOptions) -> Result<Self>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        // The read server's settings first: a malformed read URL fails before any connection.
        let replica = match options.read_server() {
            Some(read) => {
                let read = read.config()?;
                let tls = tls.clone();
                Some(Box::new(move || read.connect(tls.clone())) as Box<ConnectFn>)
            }
            None => None,
        };
        let connect: Box<ConnectFn> = Box::new(move || config.connect(tls.clone()));
        let client = connect()
            .map_err(|e| Error::storage(format!("cannot connect to PostgreSQL: {}", map_err(e))))?;
        Self::build(client, Some(connect), replica, options)
    }

    /// Uses an already connected `client`, as the only connection: callers take turns on it,
    /// and the store cannot reconnect when the server drops it (every call then fails with
    /// [`Error::Storage`]; make a new store). Prefer [`PgStore::connect_with`] in servers.
    /// The store sets the session's `search_path` to its schema and its `lock_timeout`.
    ///
    /// # Errors
    /// As [`PgStore::connect_with_schema`]; [`Error::Invalid`] (field `read_url`) when
    /// `options` name a read server, which this store would have no way to connect to.
    pub fn from_client(client: Client, options: PgOptions) -> Result<Self> {
        if options.read_server().is_some() {
            return Err(Error::invalid(
                "read_url",
                "PgStore::from_client cannot connect to a read server; use PgStore::connect_with",
            ));
        }
        Self::build(client, None, None, options)
    }

    fn build(
        client: Client,
        connect: Option<Box<ConnectFn>>,
        replica: Option<Box<ConnectFn>>,
        options: PgOptions,
    ) -> Result<Self> {
        validate_schema(&options.schema)?;
        let mut conn = Conn {
            client,
            statements: HashMap::new(),
            returned_at: std::time::Instant::now(),
        };
        let log_id = schema::prepare(&mut conn.client, &options.schema)?;
        let store = PgStore {
            log_id,
            schema: options.schema.clone(),
            tables: Schema::qualified(&schema::quote_ident(&options.schema)),
            primary: Side::new(connect, 1, false),
            replica: replica.map(|c| Side::new(Some(c), 0, true)),
            options,
        };
        store
            .configure(&mut conn.client, &store.primary)
            .map_err(map_err)?;
        store.checkin(&store.primary, conn);
        if let Some(side) = &store.replica {
            // One read connection now, so an unreachable read server, or one holding another
            // log, fails here. A standby that has not yet replayed a schema the primary just
            // created is let be: reads fail until it has.
            match store.checkout(side) {
                Ok(conn) => store.checkin(side, conn),
                Err(Refused::NotYet(_)) => {}
                Err(Refused::Other(e)) => return Err(e),
            }
        }
        Ok(store)
    }

    /// Session settings every connection gets: auditkit's schema first on the search path
    /// (the shared SQL names tables unqualified) and the lock timeout; on the read server,
    /// read-only transactions as well, so nothing meant for the primary can land there.
    fn configure(
        &self,
        client: &mut Client,
        side: &Side,
    ) -> std::result::Result<(), postgres::Error> {
        client.batch_execute(&format!(
            "SET search_path TO {}; SET lock_timeout = {};{}",
            schema::quote_ident(&self.schema),
            self.options.lock_timeout.as_millis().max(1),
            if side.reads {
                " SET default_transaction_read_only = on;"
            } else {
                ""
            }
        ))
    }

    /// Takes a new connection into `side`'s pool: configured and, on the read server,
    /// checked to hold this store's log.
    fn admit(&self, side: &Side, mut client: Client) -> std::result::Result<Conn, Refused> {
        let cannot = |e| {
            Refused::Other(Error::storage(format!(
                "cannot connect to {}: {}",
                side.name(),
                map_err(e)
            )))
        };
        self.configure(&mut client, side).map_err(cannot)?;
        if side.reads {
            let row = client.query_opt("SELECT value FROM auditkit_meta WHERE key = 'log_id'", &[]);
            let found: Option<String> = match row {
                Ok(row) => row.map(|r| r.try_get(0)).transpose().map_err(cannot)?,
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                    return Err(Refused::NotYet(Error::storage(format!(
                        "the read server (PgOptions::read_url) has no auditkit tables in schema {:?} yet: \
                         a standby that has not replayed their creation (retry shortly), or a read URL \
                         of another database",
                        self.schema
                    ))))
                }
                Err(e) => return Err(cannot(e)),
            };
            if found.as_deref() != Some(self.log_id.as_str()) {
                return Err(Refused::Other(Error::invalid(
                    "read_url",
                    format!(
                        "the read server holds log {}, the primary log {:?} (schema {:?}): name a standby of the primary",
                        found.map_or_else(|| "<none>".to_owned(), |f| format!("{f:?}")),
                        self.log_id,
                        self.schema
                    ),
                )));
            }
        }
        Ok(Conn {
            client,
            statements: HashMap::new(),
            returned_at: std::time::Instant::now(),
        })
    }

    /// An idle connection, a new one, or (at the limit) the next one given back.
    fn checkout(&self, side: &Side) -> std::result::Result<Conn, Refused> {
        let mut pool = side.lock();
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            match &side.connect {
                Some(connect) if pool.live < self.options.max_connections => {
                    pool.live += 1;
                    drop(pool);
                    let opened = match connect() {
                        Ok(client) => self.admit(side, client),
                        Err(e) => Err(Refused::Other(Error::storage(format!(
                            "cannot connect to {}: {}",
                            side.name(),
                            map_err(e)
                        )))),
                    };
                    if opened.is_err() {
                        side.lock().live -= 1;
                        side.returned.notify_one();
                    }
                    return opened;
                }
                None if pool.live == 0 => {
                    return Err(Refused::Other(Error::storage(
                        "the PostgreSQL connection given to PgStore::from_client was closed; \
                         create the store with PgStore::connect_with so it can reconnect",
                    )))
                }
                _ => pool = side.returned.wait(pool).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// A connection to the primary, for an append that holds it across several calls.
    pub(super) fn checkout_primary(&self) -> Result<Conn> {
        Ok(self.checkout(&self.primary)?)
    }

    /// Gives back a connection from [`PgStore::checkout_primary`].
    pub(super) fn checkin_primary(&self, conn: Conn) {
        self.checkin(&self.primary, conn);
    }

    /// Whether an operation that found its connection dead after `attempts` retries may try
    /// another of `side` (it can reconnect, and every pooled connection may have died at once).
    pub(super) fn may_reconnect(&self, side: &Side, attempts: usize) -> bool {
        side.connect.is_some() && attempts <= self.options.max_connections
    }

    /// [`PgStore::may_reconnect`] on the primary.
    pub(super) fn may_reconnect_primary(&self, attempts: usize) -> bool {
        self.may_reconnect(&self.primary, attempts)
    }

    /// Gives a connection back; a closed one is dropped (a new one is opened when needed).
    fn checkin(&self, side: &Side, mut conn: Conn) {
        conn.returned_at = std::time::Instant::now();
        let mut pool = side.lock();
        if conn.client.is_closed() {
            pool.live -= 1;
        } else {
            pool.idle.push(conn);
        }
        drop(pool);
        side.returned.notify_one();
    }

    /// Runs `op` on a connection to the primary: see [`PgStore::run_on`].
    pub(super) fn run<T>(
        &self,
        op: impl FnMut(&mut Conn) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        self.run_on(&self.primary, op)
    }

    /// Runs `op` where reads go: the read server if there is one, else the primary. Only for
    /// what may see the log a little behind (see [`PgOptions`]); never for what sealing reads.
    pub(super) fn run_read<T>(
        &self,
        op: impl FnMut(&mut Conn) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        self.run_on(self.replica.as_ref().unwrap_or(&self.primary), op)
    }

    /// Runs `op` on a pooled connection of `side`. A PostgreSQL error on a connection that
    /// turned out dead is retried on another (idle connections all die together when the
    /// server restarts); `op` must return [`Fail::Final`] for anything not safe to repeat.
    fn run_on<T>(
        &self,
        side: &Side,
        mut op: impl FnMut(&mut Conn) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        let mut attempts = 0;
        loop {
            let mut conn = self.checkout(side)?;
            let out = op(&mut conn);
            let closed = conn.client.is_closed();
            self.checkin(side, conn);
            match out {
                Ok(v) => return Ok(v),
                Err(Fail::Pg(e))
                    if (closed || e.is_closed()) && self.may_reconnect(side, attempts) =>
                {
                    attempts += 1;
                }
                Err(Fail::Pg(e)) => return Err(map_err(e)),
                Err(Fail::Final(e)) => return Err(e),
            }
        }
    }
}
