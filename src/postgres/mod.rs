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
//!   [`crate::query::words`] finds, so it means what [`Query::matches`] means.
//! - Durability is the server's: a commit is acknowledged once PostgreSQL reports it, which
//!   with the default `synchronous_commit = on` means it is flushed to the WAL.
//! - Connections are pooled inside the store. One that the server dropped (a restart, a
//!   failover) is replaced on the next call; a call that fails before anything was sent is
//!   retried on a fresh connection, so callers see no error for an idle connection that died.
//!
//! TLS is the caller's choice: [`PgStore::connect`] uses no TLS (for a loopback or a private
//! network); [`PgStore::connect_with`] takes any `postgres` TLS connector.

mod lifecycle;
mod schema;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{
    Client, Config, GenericClient, IsolationLevel, NoTls, Socket, Statement, Transaction,
};
use uuid::Uuid;

pub use schema::SCHEMA_VERSION;

use crate::integrity::merkle;
use crate::query::Query;
use crate::sql::codec::{self, PersonalLookup, RowAccess};
use crate::sql::filter::{order_by, SqlBuilder};
use crate::sql::{Dialect, Param};
use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, AuditStore, Head, PersonalPath};
use crate::{Error, Result};

/// The schema auditkit uses unless told otherwise: `auditkit`.
pub const DEFAULT_SCHEMA: &str = "auditkit";
/// Default time an append waits for another writer's lock on the head before
/// [`Error::Busy`]: 5 seconds.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default most connections one store opens at once: 16.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// Rows per multi-row INSERT; keeps a statement well under PostgreSQL's 65,535 parameters.
const INSERT_CHUNK: usize = 256;

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

type ConnectFn = dyn Fn() -> std::result::Result<Client, postgres::Error> + Send + Sync;

/// One pooled connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct Pool {
    idle: Vec<Conn>,
    /// Connections in existence, idle or in use.
    live: usize,
}

/// An [`AuditStore`] in a PostgreSQL database.
pub struct PgStore {
    log_id: String,
    schema: String,
    connect: Option<Box<ConnectFn>>,
    pool: Mutex<Pool>,
    returned: Condvar,
    options: PgOptions,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("log_id", &self.log_id)
            .field("schema", &self.schema)
            .field("reconnects", &self.connect.is_some())
            .field("options", &self.options)
            .finish()
    }
}

/// How a failed operation went: a PostgreSQL error (retried on a fresh connection when the
/// old one died before anything could have been committed) or a final error.
enum Fail {
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

pub(crate) fn map_err(e: postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        if e.is_closed() {
            return Error::Storage(format!(
                "the connection to PostgreSQL closed ({e}); the store reconnects on the next call"
            ));
        }
        return Error::Storage(format!("PostgreSQL: {e}"));
    };
    let msg = db_message(db);
    let code = db.code();
    if *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        Error::Busy(msg)
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        Error::Storage(format!(
            "{msg}; the role lacks a privilege auditkit needs (see the GRANTs in the README)"
        ))
    } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN {
        Error::Corrupt(format!(
            "{msg}; auditkit's tables are missing or altered in this schema"
        ))
    } else {
        Error::Storage(msg)
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            // The builder binds every integer as i64; PostgreSQL may infer a narrower type
            // for a placeholder compared with an integer column.
            Param::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Param::Int(i) => i.to_sql(ty, out),
            Param::Text(s) => s.to_sql(ty, out),
            Param::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty)
            || <i32 as ToSql>::accepts(ty)
            || <String as ToSql>::accepts(ty)
            || <Vec<u8> as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a postgres::Row, idx: usize) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| Error::Corrupt(format!("column {}: {e}", row.columns()[idx].name())))
}

impl RowAccess for postgres::Row {
    fn int(&self, idx: usize) -> Result<Option<i64>> {
        get(self, idx)
    }
    fn text(&self, idx: usize) -> Result<Option<&str>> {
        get(self, idx)
    }
    fn blob(&self, idx: usize) -> Result<Option<&[u8]>> {
        get(self, idx)
    }
}

/// `words` as one text parameter; `string_to_array(.., ' ')` splits it back in SQL. Words are
/// runs of alphanumerics, so they never contain the space.
fn words_param(words: &[String]) -> String {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    w.sort_unstable();
    w.dedup();
    w.join(" ")
}

const POSTGRES: Dialect = Dialect {
    placeholder: |n| format!("${n}"),
    search: |ph| format!("e.search_words @> string_to_array({ph}::text, ' ')"),
    search_param: words_param,
};

/// A statement prepared once per connection.
fn prepared(
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

fn params(ps: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn validate_schema(schema: &str) -> Result<()> {
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
            .map_err(|e| Error::Storage(format!("cannot connect to PostgreSQL: {}", map_err(e))))?;
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

    /// The PostgreSQL schema holding this store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
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
    fn checkout(&self) -> Result<Conn> {
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
                            Err(Error::Storage(format!(
                                "cannot connect to PostgreSQL: {}",
                                map_err(e)
                            )))
                        }
                    };
                }
                None if pool.live == 0 => {
                    return Err(Error::Storage(
                        "the PostgreSQL connection given to PgStore::from_client was closed; \
                         create the store with PgStore::connect_with so it can reconnect"
                            .into(),
                    ))
                }
                _ => pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Gives a connection back; a closed one is dropped (a new one is opened when needed).
    fn checkin(&self, conn: Conn) {
        let mut pool = self.lock_pool();
        if conn.client.is_closed() {
            pool.live -= 1;
        } else {
            pool.idle.push(conn);
        }
        drop(pool);
        self.returned.notify_one();
    }

    /// Runs `op` on a pooled connection. A PostgreSQL error on a connection that turned out
    /// dead is retried on another (idle connections all die together when the server
    /// restarts); `op` must return [`Fail::Final`] for anything not safe to repeat.
    fn run<T>(&self, mut op: impl FnMut(&mut Conn) -> std::result::Result<T, Fail>) -> Result<T> {
        let mut attempts = 0;
        loop {
            let mut conn = self.checkout()?;
            let out = op(&mut conn);
            let closed = conn.client.is_closed();
            self.checkin(conn);
            match out {
                Ok(v) => return Ok(v),
                Err(Fail::Pg(e))
                    if (closed || e.is_closed())
                        && self.connect.is_some()
                        && attempts <= self.options.max_connections =>
                {
                    attempts += 1;
                }
                Err(Fail::Pg(e)) => return Err(map_err(e)),
                Err(Fail::Final(e)) => return Err(e),
            }
        }
    }

    /// The plan PostgreSQL chooses for `query` (as [`AuditStore::query`] runs it) when
    /// sequential scans are ruled out, as they would be on a large table: a way to check that
    /// every filter has an index (no `Seq Scan` in the plan).
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn explain_query(&self, query: &Query) -> Result<String> {
        let (sql, ps) = query_sql(query, 100);
        self.run(|conn| {
            let mut tx = conn.client.transaction()?;
            tx.batch_execute("SET LOCAL enable_seqscan = off")?;
            let rows = tx.query(&format!("EXPLAIN {sql}"), &params(&ps))?;
            rows.iter()
                .map(|r| get::<String>(r, 0))
                .collect::<Result<Vec<_>>>()
                .map(|lines| lines.join("\n"))
                .map_err(Fail::Final)
        })
    }

    /// Runs an event query and fills in personal values.
    fn select(&self, sql: &str, ps: &[Param]) -> Result<Vec<SealedEvent>> {
        self.run(|conn| {
            let Conn { client, statements } = conn;
            let stmt = prepared(statements, client, sql)?;
            let rows = client.query(&stmt, &params(ps))?;
            let mut events = rows.iter().map(codec::decode).collect::<Result<Vec<_>>>()?;
            fill_personal(statements, client, &mut events)?;
            Ok(events)
        })
    }
}

/// Puts each event's personal values (those not erased) next to their commitments.
fn fill_personal(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    events: &mut [SealedEvent],
) -> std::result::Result<(), Fail> {
    let rows = match codec::personal_lookup(events) {
        None => return Ok(()),
        Some(PersonalLookup::Range(lo, hi)) => {
            let stmt = prepared(
                statements,
                client,
                "SELECT seq, path, value, salt FROM personal_values WHERE seq BETWEEN $1 AND $2",
            )?;
            client.query(&stmt, &[&(lo as i64), &(hi as i64)])?
        }
        Some(PersonalLookup::Points(seqs)) => {
            let seqs: Vec<i64> = seqs.into_iter().map(|s| s as i64).collect();
            let stmt = prepared(
                statements,
                client,
                "SELECT seq, path, value, salt FROM personal_values WHERE seq = ANY($1)",
            )?;
            client.query(&stmt, &[&seqs])?
        }
    };
    let rows = rows
        .iter()
        .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?, get(r, 3)?)))
        .collect::<Result<Vec<_>>>()?;
    codec::attach_personal(events, rows)?;
    Ok(())
}

/// The SQL and parameters of [`AuditStore::query`].
fn query_sql(query: &Query, limit: usize) -> (String, Vec<Param>) {
    let mut b = SqlBuilder::new(&POSTGRES);
    let filter = b.where_clause(query);
    let lim = b.bind(Param::Int(limit.min(i64::MAX as usize) as i64));
    let sql = format!(
        "SELECT {} FROM events e{filter}{} LIMIT {lim}",
        codec::select_list(),
        order_by(query)
    );
    (sql, b.params)
}

/// The multi-row INSERT of `n` events (the codec's columns plus the search words), with
/// placeholders from `$first`.
fn insert_events_sql(n: usize, first: usize) -> String {
    let per_row = codec::COLUMNS.len() + 1;
    let rows: Vec<String> = (0..n)
        .map(|r| {
            let at = first + r * per_row;
            let mut cols: Vec<String> = (0..per_row - 1).map(|c| format!("${}", at + c)).collect();
            cols.push(format!("string_to_array(${}::text, ' ')", at + per_row - 1));
            format!("({})", cols.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO events ({}, search_words) VALUES {}",
        codec::COLUMNS.join(", "),
        rows.join(", ")
    )
}

/// One statement that inserts the last `n` events with every derived row and moves the head:
/// the append's round trips stay few however rich the events are. Placeholders: $1..$9 the
/// derived rows as arrays, $10..$12 the new head, then the events.
fn insert_tail_sql(n: usize) -> String {
    format!(
        "WITH ev AS ({}), \
         tg AS (INSERT INTO event_targets (kind, id, seq) \
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])), \
         ch AS (INSERT INTO event_changes (path, seq) \
                SELECT * FROM unnest($4::text[], $5::bigint[])), \
         pv AS (INSERT INTO personal_values (seq, path, value, salt) \
                SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::bytea[])) \
         UPDATE auditkit_head SET seq = $10, hash = $11, frontier = $12 WHERE id = 1",
        insert_events_sql(n, 13)
    )
}

/// The event rows of `chunk` as parameters, in [`insert_events_sql`] order.
fn event_params(chunk: &[SealedEvent]) -> Result<Vec<Param>> {
    let mut ps = Vec::with_capacity(chunk.len() * (codec::COLUMNS.len() + 1));
    for e in chunk {
        ps.extend(codec::encode(e));
        ps.push(Param::Text(words_param(&crate::query::words(
            &e.search_text()?,
        ))));
    }
    Ok(ps)
}

/// Inserts `batch` and its derived index rows and sets the head to `new_head`, in the open
/// transaction.
fn insert_batch(
    statements: &mut HashMap<String, Statement>,
    tx: &mut postgres::Transaction<'_>,
    batch: &[SealedEvent],
    new_head: &Head,
) -> std::result::Result<(), Fail> {
    let (mut t_kind, mut t_id, mut t_seq) = (
        Vec::<String>::new(),
        Vec::<String>::new(),
        Vec::<i64>::new(),
    );
    let (mut c_path, mut c_seq) = (Vec::<String>::new(), Vec::<i64>::new());
    let (mut p_seq, mut p_path, mut p_value, mut p_salt) = (
        Vec::<i64>::new(),
        Vec::<String>::new(),
        Vec::<String>::new(),
        Vec::<Vec<u8>>::new(),
    );
    for e in batch {
        let seq = e.seq as i64;
        for (kind, id) in e.involved()? {
            t_kind.push(kind);
            t_id.push(id);
            t_seq.push(seq);
        }
        for path in e.change_paths()? {
            c_path.push(path);
            c_seq.push(seq);
        }
        for p in &e.personal {
            if let Some(v) = &p.value {
                p_seq.push(seq);
                p_path.push(p.path.to_string());
                p_value.push(v.text.clone());
                p_salt.push(v.salt.to_vec());
            }
        }
    }
    // Batches longer than one statement can carry go in chunks; the last chunk rides with
    // the derived rows and the head.
    let tail_len = match batch.len() % INSERT_CHUNK {
        0 => INSERT_CHUNK.min(batch.len()),
        r => r,
    };
    let (body, tail) = batch.split_at(batch.len() - tail_len);
    for chunk in body.chunks(INSERT_CHUNK) {
        let ps = event_params(chunk)?;
        let stmt = prepared(statements, tx, &insert_events_sql(chunk.len(), 1))?;
        tx.execute(&stmt, &params(&ps))?;
    }
    let events = event_params(tail)?;
    let (head_seq, head_hash, frontier) = (
        new_head.seq as i64,
        new_head.hash.to_vec(),
        merkle::to_bytes(&new_head.frontier),
    );
    let mut ps: Vec<&(dyn ToSql + Sync)> = vec![
        &t_kind, &t_id, &t_seq, &c_path, &c_seq, &p_seq, &p_path, &p_value, &p_salt, &head_seq,
        &head_hash, &frontier,
    ];
    ps.extend(params(&events));
    let stmt = prepared(statements, tx, &insert_tail_sql(tail.len()))?;
    tx.execute(&stmt, &ps)?;
    Ok(())
}

/// Commits a write; an error past this point is final (the server may have committed, so the
/// caller reads back instead of retrying).
fn commit(tx: Transaction<'_>) -> std::result::Result<(), Fail> {
    tx.commit().map_err(|e| {
        if e.as_db_error().is_some() {
            Fail::Final(map_err(e))
        } else {
            Fail::Final(Error::OutcomeUnknown(format!(
                "the connection failed during COMMIT: {e}"
            )))
        }
    })
}

impl AuditStore for PgStore {
    fn log_id(&self) -> Result<String> {
        Ok(self.log_id.clone())
    }

    fn head(&self) -> Result<Head> {
        self.run(|conn| {
            let Conn { client, statements } = conn;
            let stmt = prepared(
                statements,
                client,
                "SELECT seq, hash, frontier FROM auditkit_head WHERE id = 1",
            )?;
            let row = client.query_one(&stmt, &[])?;
            let seq: i64 = get(&row, 0)?;
            let hash: Vec<u8> = get(&row, 1)?;
            let frontier: Vec<u8> = get(&row, 2)?;
            Ok(codec::decode_head(seq, hash, frontier)?)
        })
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        check_batch(expected, batch, new_head)?;
        if batch.is_empty() {
            let actual = self.head()?.seq;
            return match actual == expected {
                true => Ok(()),
                false => Err(Error::Conflict { expected, actual }),
            };
        }
        self.run(|conn| {
            let Conn { client, statements } = conn;
            // READ COMMITTED: after waiting for the head's row lock, FOR UPDATE returns the
            // row as the previous writer committed it, so the comparison below is current.
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()?;
            let stmt = prepared(
                statements,
                &mut tx,
                "SELECT seq FROM auditkit_head WHERE id = 1 FOR UPDATE",
            )?;
            let actual: i64 = get(&tx.query_one(&stmt, &[])?, 0)?;
            let conflict = || Error::Conflict {
                expected,
                actual: actual as u64,
            };
            if actual as u64 != expected {
                return Err(conflict().into());
            }
            let classify = |f: Fail| match f {
                // A duplicate id or idempotency key: the trail re-reads and resolves it.
                Fail::Pg(e)
                    if e.as_db_error().is_some_and(|d| {
                        *d.code() == SqlState::UNIQUE_VIOLATION
                            || *d.code() == SqlState::T_R_SERIALIZATION_FAILURE
                            || *d.code() == SqlState::T_R_DEADLOCK_DETECTED
                    }) =>
                {
                    Fail::Final(conflict())
                }
                other => other,
            };
            insert_batch(statements, &mut tx, batch, new_head).map_err(classify)?;
            // Past this point the server may have committed even if we see an error, so the
            // commit is never retried here: the trail reads back to find out.
            commit(tx)
        })
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let sql = format!(
            "SELECT {} FROM events e WHERE e.seq >= $1 ORDER BY e.seq LIMIT $2",
            codec::select_list()
        );
        self.select(
            &sql,
            &[
                Param::Int(from.min(i64::MAX as u64) as i64),
                Param::Int(limit.min(i64::MAX as usize) as i64),
            ],
        )
    }

    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        let (sql, ps) = query_sql(query, limit);
        self.select(&sql, &ps)
    }

    fn count(&self, query: &Query) -> Result<u64> {
        let mut b = SqlBuilder::new(&POSTGRES);
        let filter = b.where_clause(query);
        let sql = format!("SELECT COUNT(*) FROM events e{filter}");
        self.run(|conn| {
            let Conn { client, statements } = conn;
            let stmt = prepared(statements, client, &sql)?;
            let n: i64 = get(&client.query_one(&stmt, &params(&b.params))?, 0)?;
            Ok(n as u64)
        })
    }

    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        let sql = format!(
            "SELECT {} FROM events e WHERE e.id = $1",
            codec::select_list()
        );
        Ok(self
            .select(&sql, &[Param::Blob(id.as_bytes().to_vec())])?
            .pop())
    }

    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        let sql = format!(
            "SELECT {} FROM events e WHERE e.idempotency_key = $1",
            codec::select_list()
        );
        Ok(self.select(&sql, &[Param::Text(key.to_owned())])?.pop())
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
}
