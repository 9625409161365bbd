//! # auditkit
//!
//! An embeddable, tamper-evident audit trail for booking apps (salons, clinics, field
//! services, scheduling tools): who did what, to which booking, order or customer, when, from
//! where, with the old and new values — recorded in microseconds, found again in
//! milliseconds, and provably unaltered.
//!
//! ```
//! # fn main() -> auditkit::Result<()> {
//! use auditkit::{Actor, AuditTrail, NewEvent, Query, Source, Target};
//! use auditkit::sqlite::SqliteStore;
//! use serde_json::json;
//!
//! let trail = AuditTrail::new(SqliteStore::open_in_memory()?);
//! trail.record(
//!     NewEvent::new("booking.rescheduled")
//!         .tenant("clinic-42")
//!         .actor(Actor::user("u-17").name("Sarah").role("staff"))
//!         .source(Source::Web)
//!         .target(Target::new("booking", "b-123").label("Haircut with Sam"))
//!         .before(json!({"start": "2026-01-10T14:00:00Z"}))
//!         .after(json!({"start": "2026-01-15T09:00:00Z"}))
//!         .context("reason", "customer asked"),
//! )?;
//! let page = trail.query(&Query::new().tenant("clinic-42").action("booking.*"))?;
//! assert_eq!(page.events[0].changes[0].path, "start");
//! assert!(trail.verify()?.is_ok());
//! # Ok(()) }
//! ```
//!
//! ## Layers
//!
//! [`AuditTrail`] validates, redacts, stamps and seals each [`NewEvent`] into a hash chain and
//! hands it to an [`AuditStore`], which persists it faithfully. Integrity (canonical encoding,
//! hashing, verification, checkpoints) lives only in [`integrity`]; stores never hash.
//!
//! The source has a folder per layer, lowest first; each uses only the ones above it in this
//! table (`tests/layers.rs` checks it):
//!
//! | folder | what it holds | where to look for |
//! |--------|---------------|-------------------|
//! | `model/` | events, the [`NewEvent`] builder and its rules, [`changes`], payloads, times | a new event field, an input rule |
//! | `query/` | [`Query`], [`Cursor`], [`Page`], [`GroupBy`], [`Query::matches`] | a new filter (then `sql/filter.rs`) |
//! | `store/` | the [`AuditStore`] contract and the sealed form ([`store::SealedEvent`], [`store::Head`], [`store::PersonalPath`]) | a new backend |
//! | `integrity/` | canonical bytes, hashes, the chain step, Merkle, checkpoints, archives, verify, signatures: sealed data in, verdicts out | sealing (`integrity/chain.rs`), what verify checks |
//! | `vocab/` | booking-domain payloads and their descriptions | a new action and its sentence |
//! | `trail/` | [`AuditTrail`]: preparing, group commit, reads, verify, exports, retention, erasure | the write pipeline (`trail/prepare.rs`, `trail/commit.rs`) |
//! | `sql/`, `memory/`, `sqlite/`, `postgres/` | the backends, and what the SQL ones share (SQL builder, row codec, index rows) | a storage bug |
//! | `testkit/` | the conformance suite (feature `testkit`) | a property every store must have |
//! | `axum/`, `web/` | on top of the trail: the tower layer and `Audit` extractor (feature `axum`), the embeddable viewer (feature `web`) | request context, a viewer page |
//!
//! The operator binary (`src/bin/auditkit/`, feature `cli`) uses only the public API.
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `sqlite`  | yes     | [`sqlite::SqliteStore`], the bundled SQLite backend |
//! | `postgres` | no     | `postgres::PgStore`, one trail shared by app servers on one PostgreSQL database |
//! | `testkit` | no      | `auditkit::testkit`, the conformance suite for your own [`AuditStore`] |
//! | `sign`    | no      | Ed25519-signed checkpoints (C2SP signed notes): `auditkit::integrity::sign` |
//! | `sqlx`    | no      | `AuditTrail::record_in_sqlx`: record inside an app's sqlx PostgreSQL transaction (implies `postgres`) |
//! | `async`   | no      | `AsyncAuditTrail`: a bounded writer thread feeding group commit and a fixed pool of reader threads for tokio apps; exports as a `Stream` of bytes |
//! | `axum`    | no      | `auditkit::axum`: a tower layer building each request's context (trusted client IP, user agent, request id), tenant and actor resolvers, and the `Audit` extractor (implies `async`) |
//! | `web`     | no      | `auditkit::web::Viewer`: an embeddable axum `Router` with a target's timeline and the filtered audit log (CSV download, verify status, JSON), each request scoped by your resolver (implies `axum`) |
//! | `cli`     | no      | the `auditkit` operator binary (`cargo install auditkit --features cli`): verify, checkpoint, prove, bundle, query, tail, export, stats, migrate, purge and erase a SQLite file or a PostgreSQL database from a shell (implies `sqlite`, `postgres` and `sign`) |
//!
//! Time zones ([`Event::describe_in`], [`GroupBy::Day`]) come from the tz database that
//! [jiff](https://docs.rs/jiff) compiles into the binary. It is always on, not a feature:
//! readable timelines and per-day reports are core, and their results must not depend on
//! whether (or which) `/usr/share/zoneinfo` the host has.
//!
//! ## Guarantees
//!
//! - Every acknowledged event is durable: under the default SQLite settings
//!   (`synchronous=FULL`), [`AuditTrail::record`] returns only after the commit is on disk.
//! - Bad input is an [`Error`] naming the field; it never panics and never stores part of an
//!   event.
//! - [`AuditTrail::verify`] recomputes every hash and reports the first bad entry. Any change
//!   to events up to a [`Checkpoint`] kept outside the database is detected by
//!   [`AuditTrail::verify_against`]. Without one, the chain catches every edit that did not
//!   recompute all later hashes, but it cannot see the newest events cut off together with the
//!   recorded head.
//! - Personal values can be erased ([`AuditTrail::erase_subject`]) and the oldest events
//!   purged ([`AuditTrail::purge_before`]) without breaking verification: erased entries are
//!   counted as redacted, purged ones are replaced by a purge anchor and an `audit.purged`
//!   record.
//!
//! ## MSRV
//!
//! Rust 1.89, the highest `rust-version` any locked dependency declares (`.ci/msrv.sh` checks
//! it on every CI run). Raising it is a minor-version change, noted in the changelog.

// Audit data must never be corrupted by memory errors: no unsafe anywhere.
#![forbid(unsafe_code)]
// Everything public is documented: the API is the product.
#![deny(missing_docs)]
// Public items are reachable from the crate root, nothing leaks by accident.
#![warn(unreachable_pub, missing_debug_implementations)]

// The layers, lowest first: each module uses only those declared before it (`error` is
// crate-wide; `guide` is documentation). `tests/layers.rs` fails on a reference to a later
// one. The blank lines keep rustfmt from sorting the list.
mod error;

mod model;

pub mod query;

pub mod store;

pub mod integrity;

pub mod vocab;

mod trail;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub mod memory;

#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "axum")]
pub mod axum;

#[cfg(feature = "web")]
pub mod web;

#[cfg(feature = "testkit")]
pub mod testkit;

pub mod guide;

pub use error::{Error, Result};
pub use integrity::{Checkpoint, Fault, FaultKind, VerifyReport};
pub use memory::MemoryStore;
pub use model::changes;
pub use model::event::{Actor, ActorKind, Change, Event, Outcome, RequestContext, Source, Target};
pub use model::new_event::{NewEvent, MAX_JSON_DEPTH, MAX_NAME_BYTES};
pub use model::payload::{AuditPayload, Currency, Money};
pub use query::{Cursor, OutcomeFilter, Page, Query, SortOrder};
pub use store::AuditStore;
// The implementor types' home is `store` (below `AuditStore` there); re-exported here as before.
pub use model::defaults::EventDefaults;
pub use store::{
    Head, PersonalField, PersonalFieldRef, PersonalValue, SealedEvent, SealedEventRef,
};
#[cfg(feature = "async")]
pub use trail::async_trail::{
    AsyncAuditTrail, AsyncScopedTrail, AsyncTrailBuilder, ExportStream, DEFAULT_EXPORT_THREADS,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_READ_THREADS,
};
pub use trail::config::{DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_REDACT_KEYS, REDACTED};
pub use trail::erasure::{ErasureReport, Subject, ERASURE_ACTION};
pub use trail::export::{neutralize, CsvColumn, CsvOptions, CSV_COLUMNS};
pub use trail::retention::{PurgeReport, PURGE_ACTION};
pub use trail::scoped::ScopedTrail;
pub use trail::verify::INDEX_REBUILD_ACTION;
pub use trail::{AuditTrail, TrailBuilder};

pub use query::summary::GroupBy;
pub use vocab::describe::Description;

// README's examples are compiled and run as doctests, so the first thing users copy works.
// They are whole programs as users copy them (no hidden `# ` lines, which tests/readme.rs
// enforces), so no block can switch itself off when a feature it uses is missing: the blocks
// use `sqlite`, `testkit`, `postgres` (compiled, `no_run`), `sqlx`, `async` and `axum`, and run when all are on,
// as in `cargo test --all-features`, README's test command and CI's.
#[cfg(all(
    doctest,
    feature = "sqlite",
    feature = "testkit",
    feature = "postgres",
    feature = "sqlx",
    feature = "async",
    feature = "axum",
    feature = "web"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
