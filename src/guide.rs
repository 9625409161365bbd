//! Guide: writing your own storage backend.
//!
//! auditkit ships [`crate::MemoryStore`] and `SqliteStore`; anything else (your application's
//! database, an object store, a file format your auditors like) plugs in by implementing
//! [`AuditStore`]. The trail does everything that needs judgement (validation, redaction,
//! sealing, hashing, verification); a store only keeps what it is given and gives it back.
//!
//! # The contract
//!
//! The full text is on [`AuditStore`]; in short:
//!
//! 1. **One log per store**, named by [`AuditStore::log_id`], fixed when the store is created
//!    and persisted with it (it seeds the genesis hash: a store that forgets it cannot verify).
//! 2. **Compare-and-append.** [`AuditStore::append`] stores a batch, and sets the head to the
//!    one given, only if the head is still at `expected`; otherwise it writes nothing and
//!    returns [`Error::Conflict`](crate::Error::Conflict) with the actual head. The check and
//!    the write must be one atomic step (a lock, a transaction, a conditional write), or two
//!    writers fork the chain. An id or idempotency key already stored is a conflict too. A
//!    batch is stored whole or not at all, together with its head.
//! 3. **Faithful.** Every field of a [`SealedEvent`] comes back exactly: strings byte for
//!    byte (the JSON fields are canonical text: store the text, do not parse and re-encode it),
//!    times to the microsecond, hashes and the head's Merkle frontier verbatim. Nothing is
//!    updated or deleted, except personal values removed by erasure.
//! 4. **Dumb.** No hashing, no validation, no JSON understanding needed: the core does that,
//!    and re-checks everything on [`AuditTrail::verify`](crate::AuditTrail::verify).
//! 5. **Ordered reads.** [`AuditStore::read`] returns events with `seq >= from` in ascending
//!    seq order and never fills or hides a gap. Queries return events in
//!    `(occurred_at, seq)` order, descending for newest first.
//!
//! # What you write, and what you get for free
//!
//! Four methods are required: `log_id`, `head`, `append` and `read`. The others have
//! provided implementations that are slow but correct: [`AuditStore::query`] and
//! [`AuditStore::count`] scan with `read` and filter with [`Query::matches`], the reference
//! semantics; `get` and `find_by_key` scan for the id or key. Override them when you can do
//! better: a map for `get`, or SQL built from the [`Query`] accessors (`tenant_filter`,
//! `action_filters`, `search_words`, `cursor`, ...) so every filter runs on an index, as
//! `SqliteStore` does. [`AuditStore::read_each`] is what `verify` reads the whole log
//! through: its provided version copies each event out of `read`; a store whose rows can
//! lend their fields can hand out [`SealedEventRef`](crate::store::SealedEventRef)s instead
//! and save an allocation per field. [`crate::store::check_batch`] checks a batch's seqs for
//! you. Everything a store uses is in [`crate::store`].
//!
//! A whole store, in memory:
//!
//! ```
//! use std::sync::Mutex;
//! use auditkit::store::{check_batch, AuditStore, Head, SealedEvent};
//! use auditkit::{Error, Result};
//!
//! struct VecStore {
//!     log_id: String,
//!     state: Mutex<(Vec<SealedEvent>, Head)>,
//! }
//!
//! impl AuditStore for VecStore {
//!     fn log_id(&self) -> Result<String> {
//!         Ok(self.log_id.clone())
//!     }
//!     fn head(&self) -> Result<Head> {
//!         Ok(self.state.lock().unwrap().1.clone())
//!     }
//!     fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
//!         let mut st = self.state.lock().unwrap(); // the lock makes check + write atomic
//!         let actual = st.1.seq;
//!         if actual != expected {
//!             return Err(Error::Conflict { expected, actual });
//!         }
//!         check_batch(expected, batch, new_head)?;
//!         for e in batch {
//!             let same_key = |s: &SealedEvent| {
//!                 e.idempotency_key.is_some() && s.idempotency_key == e.idempotency_key
//!             };
//!             if st.0.iter().any(|s| s.id == e.id || same_key(s)) {
//!                 return Err(Error::Conflict { expected, actual });
//!             }
//!         }
//!         st.0.extend_from_slice(batch);
//!         st.1 = new_head.clone();
//!         Ok(())
//!     }
//!     fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
//!         let st = self.state.lock().unwrap();
//!         Ok(st.0.iter().filter(|e| e.seq >= from).take(limit).cloned().collect())
//!     }
//! }
//!
//! let new_store = || VecStore {
//!     log_id: uuid::Uuid::new_v4().to_string(),
//!     state: Mutex::default(),
//! };
//! # #[cfg(feature = "testkit")]
//! auditkit::testkit::run(new_store);
//! ```
//!
//! `examples/custom_store.rs` is a fuller one to copy: an append-only JSON-lines file that is
//! reopened across runs, commits through an atomically replaced head file, and drops a torn
//! append on open.
//!
//! # Proving it: the testkit
//!
//! Enable the `testkit` feature in your dev-dependencies and hand a factory for fresh, empty
//! stores to `auditkit::testkit_tests!`, which writes one test per check named after it, or
//! to `auditkit::testkit::run`, which runs every check in one test:
//!
//! ```toml
//! [dev-dependencies]
//! auditkit = { version = "0.1", features = ["testkit"] }
//! ```
//!
//! ```text
//! mod my_store {
//!     // my_store::append_and_head, my_store::read_ranges, ...
//!     auditkit::testkit_tests!(|| MyStore::connect_to_a_fresh_schema());
//! }
//!
//! #[test]
//! fn my_store_conforms() {
//!     auditkit::testkit::run(|| MyStore::connect_to_a_fresh_schema());
//! }
//! ```
//!
//! It appends, conflicts, reads, round-trips every field (unicode, large and nested JSON,
//! floats, big integers, microsecond times, personal values), runs every query filter in both
//! orders against [`Query::matches`], pages with cursors while events arrive, counts, looks up
//! by id and idempotency key, verifies the chain (and checks that verify notices a lost or
//! altered event), races four writers, and purges and erases: after
//! [`crate::AuditTrail::purge_before`] and [`crate::AuditTrail::erase_subject`] exactly the purged
//! events and the erased person's values must be gone from every read, query and search, with
//! the rest intact and verifiable. [`AuditStore::purge`] and [`AuditStore::erase`] are optional:
//! a store that keeps their default ([`crate::Error::Unsupported`]) passes those two checks as
//! long as the refusal changed nothing. A failing check panics naming the property your store
//! broke and the event involved (`run` lists every one); `auditkit::testkit::CHECKS` lists
//! the checks, and each is also a public function returning a `Result`, to run one at a time
//! while fixing it.

#[allow(unused_imports)] // for the intra-doc links above
use crate::{AuditStore, Query, SealedEvent};
