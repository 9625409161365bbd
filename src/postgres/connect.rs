//! Connections: opening a [`PgStore`], the pool, retries on a dead connection, errors mapped.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::{Client, Config, GenericClient, NoTls, Socket, Statement, Transaction};

use super::options::{validate_schema, PgOptions, DEFAULT_SCHEMA};
use super::{schema, PgStore};
use crate::{Error, Result};

pub(super) type ConnectFn = dyn Fn() -> std::result::Result<Client, postgres::Error> + Send + Sync;

/// One pooled connection and the statements prepared on it.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) statements: HashMap<String, Statement>,
}

pub(super) struct Pool {
    idle: Vec<Conn>,
    /// Connections in existence, idle or in use.
    live: usize,
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

/// The store's error for a failure that is not retried.
pub(super) fn final_err(f: Fail) -> Error {
    match f {
        Fail::Pg(e) => map_err(e),
        Fail::Final(e) => e,
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
        let connect: Box<ConnectFn> = Box::new(move || config.connect(tls.clone()));
        let client = connect()
            .map_err(|e| Error::storage(format!("cannot connect to PostgreSQL: {}", map_err(e))))?;
        Self::build(client, Some(connect), options)
    }

    /// Uses an already connected `client`, as the only connection: callers take turns on it,
    /// and the store cannot reconnect when the server drops it (every call then fails with
    /// [`Error::Storage`]; make a new store). Prefer [`PgStore::connect_with`] in servers.
    /// The store sets the session's `search_path` to its schema and its `lock_timeout`.
    ///
    /// # Errors
    /// As [`PgStore::connect_with_schema`].
    pub fn from_client(client: Client, options: PgOptions) -> Result<Self> {
        Self::build(client, None, options)
    }

    fn build(client: Client, connect: Option<Box<ConnectFn>>, options: PgOptions) -> Result<Self> {
        validate_schema(&options.schema)?;
        let mut conn = Conn {
            client,
            statements: HashMap::new(),
        };
        let log_id = schema::prepare(&mut conn.client, &options.schema)?;
        let store = PgStore {
            log_id,
            schema: options.schema.clone(),
            connect,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                live: 1,
            }),
            returned: Condvar::new(),
            options,
        };
        store.configure(&mut conn.client).map_err(map_err)?;
        store.checkin(conn);
        Ok(store)
    }

    /// Session settings every connection gets: auditkit's schema first on the search path
    /// (the shared SQL names tables unqualified) and the lock timeout.
    fn configure(&self, client: &mut Client) -> std::result::Result<(), postgres::Error> {
        client.batch_execute(&format!(
            "SET search_path TO {}; SET lock_timeout = {};",
            schema::quote_ident(&self.schema),
            self.options.lock_timeout.as_millis().max(1)
        ))
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        // The pool holds only whole connections; a panic elsewhere cannot leave it half-made.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one, or (at the limit) the next one given back.
    pub(super) fn checkout(&self) -> Result<Conn> {
        let mut pool = self.lock_pool();
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            match &self.connect {
                Some(connect) if pool.live < self.options.max_connections => {
                    pool.live += 1;
                    drop(pool);
                    let opened = connect().and_then(|mut client| {
                        self.configure(&mut client)?;
                        Ok(client)
                    });
                    return match opened {
                        Ok(client) => Ok(Conn {
                            client,
                            statements: HashMap::new(),
                        }),
                        Err(e) => {
                            self.lock_pool().live -= 1;
                            self.returned.notify_one();
                            Err(Error::storage(format!(
                                "cannot connect to PostgreSQL: {}",
                                map_err(e)
                            )))
                        }
                    };
                }
                None if pool.live == 0 => {
                    return Err(Error::storage(
                        "the PostgreSQL connection given to PgStore::from_client was closed; \
                         create the store with PgStore::connect_with so it can reconnect",
                    ))
                }
                _ => pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Gives a connection back; a closed one is dropped (a new one is opened when needed).
    pub(super) fn checkin(&self, conn: Conn) {
        let mut pool = self.lock_pool();
        if conn.client.is_closed() {
            pool.live -= 1;
        } else {
            pool.idle.push(conn);
        }
        drop(pool);
        self.returned.notify_one();
    }

    /// Whether an operation that found its connection dead after `attempts` retries may try
    /// another (the store can reconnect, and every pooled connection may have died at once).
    pub(super) fn may_reconnect(&self, attempts: usize) -> bool {
        self.connect.is_some() && attempts <= self.options.max_connections
    }

    /// Runs `op` on a pooled connection. A PostgreSQL error on a connection that turned out
    /// dead is retried on another (idle connections all die together when the server
    /// restarts); `op` must return [`Fail::Final`] for anything not safe to repeat.
    pub(super) fn run<T>(
        &self,
        mut op: impl FnMut(&mut Conn) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        let mut attempts = 0;
        loop {
            let mut conn = self.checkout()?;
            let out = op(&mut conn);
            let closed = conn.client.is_closed();
            self.checkin(conn);
            match out {
                Ok(v) => return Ok(v),
                Err(Fail::Pg(e)) if (closed || e.is_closed()) && self.may_reconnect(attempts) => {
                    attempts += 1;
                }
                Err(Fail::Pg(e)) => return Err(map_err(e)),
                Err(Fail::Final(e)) => return Err(e),
            }
        }
    }
}
