//! Opening the store an operator names: read-only for every command that only reads, with
//! write access (which migrates) only for `migrate`, `purge` and `erase`.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use auditkit::postgres::{PgOptions, PgStore, DEFAULT_SCHEMA};
use auditkit::sqlite::{SqliteOptions, SqliteStore};
use auditkit::{AuditStore, AuditTrail};

use crate::args::StoreArg;
use crate::fail::{Fail, Result};
use crate::progress::Counted;

/// The trail every command works on: either backend, behind the counting wrapper that
/// progress bars read.
pub(crate) type Trail = AuditTrail<Counted>;

/// Where the store is.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl Location {
    pub(crate) fn parse(arg: &StoreArg) -> Self {
        let store = &arg.store;
        if store.starts_with("postgres://") || store.starts_with("postgresql://") {
            Location::Postgres {
                url: store.to_owned(),
                schema: arg.pg_schema.clone(),
            }
        } else {
            Location::Sqlite(PathBuf::from(store))
        }
    }

    /// How messages name the store: the path, or the URL without its password.
    pub(crate) fn name(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres { url, .. } => redact_password(url),
        }
    }
}

/// An opened store.
pub(crate) struct Opened {
    pub(crate) trail: Trail,
    pub(crate) location: Location,
    /// Events read from the store so far (for progress bars).
    pub(crate) read: Arc<AtomicU64>,
}

/// Opens `store` so that nothing can be written: a SQLite file with
/// `SqliteOptions::read_only`, PostgreSQL in sessions whose transactions are read-only.
///
/// # Errors
/// Exit 3 when the store cannot be opened, or needs a migration first (the message says to
/// run `auditkit migrate`).
pub(crate) fn read_only(store: &StoreArg) -> Result<Opened> {
    let location = Location::parse(store);
    try_read_only(&location)?.map_err(|e| refusal(&location, e))
}

/// [`read_only`], keeping the library's error when the store refused to open (for
/// `migrate`, which asks what the refusal was).
///
/// # Errors
/// Exit 3 for a SQLite file that does not exist, 2 for a malformed URL.
pub(crate) fn try_read_only(location: &Location) -> Result<auditkit::Result<Opened>> {
    let opened: auditkit::Result<Box<dyn AuditStore>> = match location {
        Location::Sqlite(path) => {
            if !path.exists() {
                return Err(Fail::store(format!(
                    "{}: no such file (read commands never create one)",
                    path.display()
                )));
            }
            SqliteStore::open_with(path, SqliteOptions::default().read_only(true))
                .map(|s| Box::new(s) as Box<dyn AuditStore>)
        }
        Location::Postgres { url, schema } => {
            connect_pg(url, schema, true)?.map(|s| Box::new(s) as _)
        }
    };
    Ok(opened.map(|inner| wrap(inner, location.clone())))
}

/// Opens `store` with write access, migrating an older schema. Never creates a SQLite file.
///
/// # Errors
/// Exit 3 when the store cannot be opened.
pub(crate) fn writable(location: &Location) -> Result<Opened> {
    let opened: auditkit::Result<Box<dyn AuditStore>> = match location {
        Location::Sqlite(path) => {
            if !path.exists() {
                return Err(Fail::store(format!("{}: no such file", path.display())));
            }
            SqliteStore::open(path).map(|s| Box::new(s) as _)
        }
        Location::Postgres { url, schema } => {
            connect_pg(url, schema, false)?.map(|s| Box::new(s) as _)
        }
    };
    let inner = opened.map_err(|e| Fail::store(format!("{}: {e}", location.name())))?;
    Ok(wrap(inner, location.clone()))
}

fn wrap(inner: Box<dyn AuditStore>, location: Location) -> Opened {
    let read = Arc::new(AtomicU64::new(0));
    Opened {
        trail: AuditTrail::new(Counted::new(inner, Arc::clone(&read))),
        location,
        read,
    }
}

/// Why a read-only open failed, with what to do. A store that needs a migration is the one
/// refusal an operator fixes with this tool.
pub(crate) fn refusal(location: &Location, e: auditkit::Error) -> Fail {
    let name = location.name();
    match &e {
        auditkit::Error::SchemaTooOld { found, current } => Fail::store(format!(
            "{name} has schema version {found}, this auditkit reads version {current}; read \
             commands never migrate a store: back it up and run `auditkit migrate {name}`"
        )),
        _ if needs_pg_migration(&e) => {
            let schema = match location {
                Location::Postgres { schema, .. } if schema != DEFAULT_SCHEMA => {
                    format!(" --pg-schema {schema}")
                }
                _ => String::new(),
            };
            Fail::store(format!(
                "{name}: auditkit's schema is missing or older than this auditkit's, and \
                 read commands never create or migrate it: run `auditkit migrate {name}{schema}`"
            ))
        }
        _ => Fail::store(format!("{name}: {e}")),
    }
}

/// True when PostgreSQL refused a write of the schema setup in a read-only session.
pub(crate) fn needs_pg_migration(e: &auditkit::Error) -> bool {
    type Shared = Arc<dyn std::error::Error + Send + Sync + 'static>;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // auditkit keeps a backend's error behind an `Arc`, which is what `source` lends.
        let inner = s
            .downcast_ref::<Shared>()
            .map_or(s, |a| &**a as &(dyn std::error::Error + 'static));
        if let Some(pg) = inner.downcast_ref::<postgres::Error>() {
            return pg.code() == Some(&postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION);
        }
        source = inner.source();
    }
    false
}

/// PostgreSQL without TLS. auditkit's `PgStore` has no read-only mode of its own (its
/// `read_url` only moves reads to a standby; connecting still creates or migrates the
/// schema on the primary), so a read-only open asks the server for read-only transactions
/// in every session: the setup then cannot write, and neither can anything after it.
fn connect_pg(url: &str, schema: &str, read_only: bool) -> Result<auditkit::Result<PgStore>> {
    let mut config: postgres::Config = url.parse().map_err(|e| {
        Fail::usage(format!(
            "{}: {e}; expected postgres://user:password@host:port/database",
            redact_password(url)
        ))
    })?;
    if read_only {
        let flag = "-c default_transaction_read_only=on";
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {flag}"),
            _ => flag.to_owned(),
        };
        config.options(&options);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(PgStore::connect_with(
        config,
        postgres::NoTls,
        PgOptions::default().schema(schema),
    ))
}

/// `postgres://user:secret@host/db?password=secret` as
/// `postgres://user:***@host/db?password=***`.
///
/// Passwords are often pasted unencoded, so `/`, `@`, `:` or `?` may appear in one: the
/// user info is everything up to the last `@` before the query; with no `@` there, up to the
/// last `@` at all if what precedes it could hold a password (this may hide more than the
/// password, never less).
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_params(url);
    };
    let query_at = rest.find('?').unwrap_or(rest.len());
    let at = rest[..query_at]
        .rfind('@')
        .or_else(|| rest.rfind('@').filter(|&at| rest[..at].contains(':')));
    let (userinfo, host_and_more) = match at {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let userinfo = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, _)) => format!("{user}:***@"),
            None => format!("{u}@"),
        },
        None => String::new(),
    };
    format!("{scheme}://{userinfo}{}", redact_params(host_and_more))
}

/// `text` with the value of every `password=` (or `sslpassword=`) parameter hidden. A
/// parameter's name is what follows the `?` or `&` before its `=`.
fn redact_params(text: &str) -> String {
    text.split('&')
        .map(|part| match part.split_once('=') {
            Some((key, _)) if is_secret_param(key.rsplit('?').next().unwrap_or(key)) => {
                format!("{key}=***")
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The connection parameters whose values are secrets (libpq's names).
fn is_secret_param(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact_password("postgres://audit:s3cret@db:5432/app"),
            "postgres://audit:***@db:5432/app"
        );
        assert_eq!(redact_password("postgres://db/app"), "postgres://db/app");
        assert_eq!(
            redact_password("postgres://audit@db/app"),
            "postgres://audit@db/app"
        );
    }

    #[test]
    fn a_password_with_a_slash_or_an_at_sign_is_redacted_whole() {
        assert_eq!(
            redact_password("postgres://audit:ab/cd+ef==@db:5432/app"),
            "postgres://audit:***@db:5432/app"
        );
        assert_eq!(
            redact_password("postgresql://audit:p@ss/w:rd@db/app?sslmode=disable"),
            "postgresql://audit:***@db/app?sslmode=disable"
        );
        // A `?` in the password: more may be hidden than the password, never less.
        let r = redact_password("postgres://audit:wh?at@db/app");
        assert!(!r.contains("wh?at") && !r.contains("at@"), "{r}");
    }

    #[test]
    fn password_parameters_are_redacted() {
        assert_eq!(
            redact_password("postgres://db/app?user=audit&password=s3/cret&sslmode=require"),
            "postgres://db/app?user=audit&password=***&sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://audit:one@db/app?PASSWORD=two&sslpassword=three"),
            "postgres://audit:***@db/app?PASSWORD=***&sslpassword=***"
        );
        // An `@` in another parameter is not mistaken for the user info...
        assert_eq!(
            redact_password("postgres://db/app?application_name=ops@host&password=x"),
            "postgres://db/app?application_name=ops@host&password=***"
        );
        // ...and where it might be, the password is hidden all the same.
        let r = redact_password("postgres://db:5432/app?application_name=ops@host&password=x");
        assert!(!r.contains("=x"), "{r}");
    }
}
