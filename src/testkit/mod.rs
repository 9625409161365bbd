//! The conformance suite for [`AuditStore`] implementations (feature `testkit`).
//!
//! A store you write is right when it passes every check of the suite. [`CHECKS`] lists
//! them, in the order they run, with the property each proves. Hand the suite a factory for
//! fresh, empty stores, from your crate's tests, in one of two ways:
//!
//! - [`testkit_tests!`](crate::testkit_tests) writes one `#[test]` per check, named after the
//!   check, so `cargo test` reports each property of your store by name
//!   (`my_store::paging ... ok`) and `cargo test my_store::paging` runs one;
//! - [`run`] runs every check in one test.
//!
//! ```
//! // In your crate's tests, with auditkit's `testkit` feature in [dev-dependencies]:
//! mod my_store {
//!     // One test per check: my_store::append_and_head, my_store::read_ranges, ...
//!     auditkit::testkit_tests!(auditkit::MemoryStore::new); // your store's factory here
//! }
//!
//! // Or the whole suite in one test:
//! // #[test] fn my_store_conforms() { auditkit::testkit::run(|| MyStore::new()) }
//! auditkit::testkit::run(auditkit::MemoryStore::new);
//! ```
//!
//! Each check runs on a fresh store from the factory, and a failed check **panics** naming
//! the property it broke and the event involved; [`run`] runs every check even after one
//! failed and lists every failure. The checks are also public one by one: each returns
//! `Err(`[`Failure`]`)` instead of panicking, so you can run a single one while fixing it
//! ([`run_check`] runs one by name), or skip one your store cannot support yet.
//!
//! The expected result of every query is computed with [`Query::matches`] over the very events
//! the store was handed, so a store that passes agrees with [`crate::MemoryStore`] and
//! [`crate::sqlite::SqliteStore`](crate) on every filter.

mod checks;
mod corpus;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use uuid::Uuid;

use crate::query::Query;
use crate::store::queue::{Queue, QueueId, Settled, Turn};
use crate::store::sealed::SealedEvent;
use crate::store::{Append, AuditStore, Head, PersonalPath};
use crate::{AuditTrail, Error, Result};

pub use checks::{
    append_and_head, concurrent_writers, count, erase, get_and_idempotency, local_days, paging,
    purge, query_filters, query_order, read_ranges, round_trip, sealing_under_lock, verify,
};

/// Declares the suite from its one list of checks, `name: "property"` in the order they run
/// (the leading `$` lets the macro it writes have metavariables of its own). From the list
/// come [`CHECKS`] with its docs table, the functions [`run`] and [`run_check`] call, and
/// the tests [`testkit_tests!`](crate::testkit_tests) writes. A check added here is run,
/// documented and tested everywhere; its function is a public item of this module.
macro_rules! suite {
    ($d:tt $($name:ident: $property:literal,)+) => {
        /// Every check of the suite, in the order [`run`] runs them, with the property each
        /// proves:
        ///
        /// | check | property |
        /// |-------|----------|
        $(#[doc = concat!("| [`", stringify!($name), "`] | ", $property, " |")])+
        ///
        /// Each check is a function of this module of the same name, whose docs state its
        /// property in full (the table names [`Error::Conflict`], [`Error::Invalid`],
        /// [`Error::Unsupported`], [`Query`], [`Query::matches`], [`AuditTrail::verify`],
        /// [`AuditTrail::purge_before`] and [`AuditTrail::erase_subject`]), and a test that
        /// [`testkit_tests!`](crate::testkit_tests) writes.
        pub const CHECKS: &[CheckInfo] = &[$(CheckInfo {
            name: stringify!($name),
            property: $property,
        },)+];

        /// The functions of [`CHECKS`], with their names, in the same order.
        fn check_fns<S: AuditStore>() -> Vec<(&'static str, Check<S>)> {
            vec![$((stringify!($name), $name::<S> as Check<S>),)+]
        }

        /// Writes one `#[test]` per check of the conformance suite ([`testkit::CHECKS`]),
        /// named after the check, for the stores a factory makes (feature `testkit`).
        ///
        /// `testkit_tests!(factory)` takes an expression for a factory of fresh, empty
        /// stores, anything [`testkit::run`] takes: a function path, a closure, or a block
        /// that evaluates to a closure owning what the stores need. It is evaluated once in
        /// each test, which runs its check on one store from it through
        /// [`testkit::run_check`] and panics naming the property broken and the event
        /// involved.
        ///
        /// Invoke it once per store, in a module of its own: the tests take the checks'
        /// names, so the module gives them their prefix (`cargo test my_store::` runs that
        /// store's, `cargo test my_store::paging` one) and keeps them apart from your items.
        ///
        #[doc = concat!("The tests, in order: ", stringify!($($name),+), ".")]
        ///
        /// ```
        /// // tests/conformance.rs, with auditkit's `testkit` feature in [dev-dependencies]:
        /// mod memory {
        ///     // memory::append_and_head, memory::read_ranges, ...
        ///     auditkit::testkit_tests!(auditkit::MemoryStore::new);
        /// }
        ///
        /// mod sqlite_file {
        ///     // A factory with setup: the closure owns the directory its stores live in.
        ///     auditkit::testkit_tests!({
        ///         let dir = tempfile::tempdir().unwrap();
        ///         let n = std::sync::atomic::AtomicUsize::new(0);
        ///         move || {
        ///             let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ///             let path = dir.path().join(format!("audit-{i}.db"));
        ///             auditkit::sqlite::SqliteStore::open(path).unwrap()
        ///         }
        ///     });
        /// }
        /// ```
        ///
        /// [`testkit::CHECKS`]: crate::testkit::CHECKS
        /// [`testkit::run`]: crate::testkit::run
        /// [`testkit::run_check`]: crate::testkit::run_check
        #[macro_export]
        macro_rules! testkit_tests {
            ($d factory:expr $d(,)?) => {
                $(
                    #[test]
                    fn $name() {
                        $d crate::testkit::run_check(stringify!($name), $d factory);
                    }
                )+
            };
        }
    };
}

suite! { $
    append_and_head: "appends move the head; a stale or future expected head is \
        `Error::Conflict` and writes nothing; a batch is stored whole or not at all; duplicate \
        ids and idempotency keys are conflicts",
    read_ranges: "`read(from, limit)` returns stored events in seq order from `from`, never \
        past the head, never inventing or skipping one",
    round_trip: "every field comes back exactly: unicode, large and nested JSON, floats and \
        big integers, microsecond times, optional fields absent and present, personal values \
        — through `read`, `get`, `find_by_key` and `query`",
    query_filters: "every `Query` filter, alone and combined, gives what `Query::matches` \
        gives",
    local_days: "`Query::between_local_days` and `on_local_day` keep exactly the events of \
        those local days, 23 and 25 hours long when clocks change, in Berlin and New York",
    query_order: "newest first and oldest first, ties on `occurred_at` broken by `seq`, and a \
        store-level `limit` keeps the first events",
    paging: "cursors visit every event exactly once, also while new events arrive between \
        pages",
    count: "`count` agrees with `Query::matches`, ignores the limit and applies the cursor",
    get_and_idempotency: "`get` by id, `find_by_key`, and recording an idempotency key twice \
        stores one event",
    verify: "`AuditTrail::verify` passes on the store and catches a lost or altered event \
        read through it, and derived rows hidden or added",
    concurrent_writers: "several trails appending at once keep one contiguous, verifiable \
        chain",
    sealing_under_lock: "while one `begin_append` is open a second one waits for it (and \
        starts from the head it committed) or loses with `Error::Conflict`: nothing is ever \
        committed against a stale head",
    purge: "`AuditTrail::purge_before` removes exactly the events before the cutoff from \
        every read, query and count, keeps the rest verifiable from the purge anchor, and bad \
        anchors are `Error::Invalid`; passes when the store's `purge` is \
        `Error::Unsupported` and nothing changed",
    erase: "`AuditTrail::erase_subject` removes exactly that person's personal values from \
        every read and from search, keeps every other field and person, and verify still \
        passes; passes when the store's `erase` is `Error::Unsupported` and nothing changed",
}

/// One check of the suite, as [`CHECKS`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckInfo {
    /// The check's name: its function in this module, its test from
    /// [`testkit_tests!`](crate::testkit_tests), the name [`run_check`] takes and
    /// [`Failure::check`] when it fails.
    pub name: &'static str,
    /// The property it proves, in one sentence (code in backticks), as the table of
    /// [`CHECKS`] shows it.
    pub property: &'static str,
}

/// One broken property: which check found it and what went wrong, naming the event involved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The check that failed, as named in this module (`query_filters`, ...).
    pub check: &'static str,
    /// What property broke, with what event, and what the store returned.
    pub message: String,
}

impl Failure {
    fn new(check: &'static str, message: impl Into<String>) -> Self {
        Failure {
            check,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

impl std::error::Error for Failure {}

/// The result of a check.
pub type CheckResult = std::result::Result<(), Failure>;

/// A check, as [`run`] lists them.
type Check<S> = fn(S) -> CheckResult;

/// Runs every check of the suite ([`CHECKS`], in its order), each on a fresh store from
/// `factory`.
///
/// # Panics
/// When any check fails (or the store panics), with one paragraph per failed check naming
/// the property broken and the event involved. Every check runs even after an earlier one
/// failed, so one run shows everything that is wrong.
pub fn run<S: AuditStore, F: Fn() -> S>(factory: F) {
    let checks = check_fns::<S>();
    let failures: Vec<Failure> = checks
        .iter()
        .filter_map(|&(name, check)| outcome(name, check, &factory))
        .collect();
    report::<S>(&failures, checks.len());
}

/// Runs one check of the suite, by its name in [`CHECKS`], on a store from `factory`: what
/// each test of [`testkit_tests!`](crate::testkit_tests) does.
///
/// ```
/// auditkit::testkit::run_check("paging", auditkit::MemoryStore::new);
/// ```
///
/// # Panics
/// When the check fails (or the store panics), naming the property broken and the event
/// involved, as [`run`] does; and when no check has that name.
pub fn run_check<S: AuditStore, F: Fn() -> S>(name: &str, factory: F) {
    let Some((name, check)) = check_fns::<S>().into_iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        panic!(
            "auditkit testkit: no check is named `{name}`; the checks are {}",
            names.join(", ")
        );
    };
    let failures: Vec<Failure> = outcome(name, check, &factory).into_iter().collect();
    report::<S>(&failures, 1);
}

/// Runs `check` on a store from `factory`: its failure, if any. A store that panics fails
/// this check only; the others still run. The factory is borrowed, so what it owns (a
/// temporary directory, say) outlives the check.
fn outcome<S: AuditStore, F: Fn() -> S>(
    name: &'static str,
    check: Check<S>,
    factory: &F,
) -> Option<Failure> {
    match catch_unwind(AssertUnwindSafe(|| check(factory()))) {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(panic) => Some(Failure::new(
            name,
            format!(
                "panicked (in the store or the check): {}",
                panic_text(&*panic)
            ),
        )),
    }
}

/// Panics listing `failures` (of `total` checks run), if there are any.
fn report<S>(failures: &[Failure], total: usize) {
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(|f| format!("- {f}")).collect();
        panic!(
            "auditkit testkit: {} of {} checks failed for {}:\n{}",
            failures.len(),
            total,
            std::any::type_name::<S>(),
            list.join("\n")
        );
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string panic payload)".into()
    }
}

// ---- shared machinery ----

/// Fails the check with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($check:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::testkit::Failure::new($check, format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure;

/// Turns a store error into a failure saying what the check was doing.
trait Ctx<T> {
    fn ctx(self, check: &'static str, doing: impl fmt::Display) -> std::result::Result<T, Failure>;
}

impl<T> Ctx<T> for Result<T> {
    fn ctx(self, check: &'static str, doing: impl fmt::Display) -> std::result::Result<T, Failure> {
        self.map_err(|e| Failure::new(check, format!("{doing} failed: {e}")))
    }
}

/// The store's own append, remembering what was pushed and adding it to the record once the
/// store committed it.
struct Recording<'a> {
    inner: Box<dyn Append + 'a>,
    pushed: Vec<SealedEvent>,
    appended: &'a Mutex<Vec<SealedEvent>>,
}

// Every method forwards, so the checks see the store's own append.
#[deny(clippy::missing_trait_methods)]
impl Append for Recording<'_> {
    fn head(&self) -> &Head {
        self.inner.head()
    }
    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        self.inner.newest()
    }
    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        self.inner.purge_anchor()
    }
    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        self.inner.find_by_key(key)
    }
    fn newest_involving(
        &mut self,
        targets: &[crate::store::TargetKey<'_>],
    ) -> Result<Option<Vec<u64>>> {
        self.inner.newest_involving(targets)
    }
    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        self.inner.push(batch, new_head)?;
        self.pushed.extend_from_slice(batch);
        Ok(())
    }
    fn queued(&mut self) -> Result<Vec<(QueueId, SealedEvent)>> {
        self.inner.queued()
    }
    fn settle(&mut self, outcomes: &[(QueueId, Settled)]) -> Result<()> {
        self.inner.settle(outcomes)
    }
    fn commit(self: Box<Self>) -> Result<()> {
        let Recording {
            inner,
            pushed,
            appended,
        } = *self;
        inner.commit()?;
        appended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(pushed);
        Ok(())
    }
}

/// The store's own queue, whose appends record what they push as [`Recording`] does.
struct RecordingQueue<'a> {
    inner: Box<dyn Queue + 'a>,
    appended: &'a Mutex<Vec<SealedEvent>>,
}

impl Queue for RecordingQueue<'_> {
    fn wait(&mut self, quiet: std::time::Duration) -> Result<Option<Vec<Settled>>> {
        self.inner.wait(quiet)
    }
    fn try_append(&mut self) -> Result<Option<Box<dyn Append + '_>>> {
        let appended = self.appended;
        Ok(self.inner.try_append()?.map(|inner| {
            Box::new(Recording {
                inner,
                pushed: Vec::new(),
                appended,
            }) as Box<dyn Append + '_>
        }))
    }
    fn ids(&self) -> &[QueueId] {
        self.inner.ids()
    }
}

/// The store under test, seen through a recorder that remembers exactly what was appended:
/// the ground truth every read is compared with.
struct Recorder<S> {
    inner: Arc<S>,
    appended: Mutex<Vec<SealedEvent>>,
    /// Every `(seq, path)` the trail asked the store to erase, and the store acknowledged.
    erased: Mutex<Vec<(u64, PersonalPath)>>,
}

// Every method forwards, so the checks see the store's own methods, never a fallback.
#[deny(clippy::missing_trait_methods)]
impl<S: AuditStore> AuditStore for Recorder<S> {
    fn log_id(&self) -> Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> Result<Head> {
        self.inner.head()
    }
    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        self.inner.append(expected, batch, new_head)?;
        let mut log = self.appended.lock().unwrap_or_else(|p| p.into_inner());
        log.extend_from_slice(batch);
        Ok(())
    }
    fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
        Ok(Box::new(Recording {
            inner: self.inner.begin_append()?,
            pushed: Vec::new(),
            appended: &self.appended,
        }))
    }
    fn begin_or_queue(&self, drafts: &[&SealedEvent]) -> Result<Turn<'_>> {
        // Queued drafts are recorded by the append that seals them, which pushes them.
        Ok(match self.inner.begin_or_queue(drafts)? {
            Turn::Append(inner) => Turn::Append(Box::new(Recording {
                inner,
                pushed: Vec::new(),
                appended: &self.appended,
            })),
            Turn::Queued(inner) => Turn::Queued(Box::new(RecordingQueue {
                inner,
                appended: &self.appended,
            })),
        })
    }
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        self.inner.read(from, limit)
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&crate::SealedEventRef<'_>),
    ) -> Result<()> {
        self.inner.read_each(from, limit, visit)
    }
    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        self.inner.query(query, limit)
    }
    fn count(&self, query: &Query) -> Result<u64> {
        self.inner.count(query)
    }
    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        self.inner.get(id)
    }
    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        self.inner.find_by_key(key)
    }
    fn summarize(&self, query: &Query, by: &crate::GroupBy) -> Result<Vec<(String, u64)>> {
        self.inner.summarize(query, by)
    }
    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.inner.purge_anchor()
    }
    fn purge(&self, anchor: &Head) -> Result<()> {
        self.inner.purge(anchor)
    }
    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        self.inner.erase(fields)?;
        let mut log = self.erased.lock().unwrap_or_else(|p| p.into_inner());
        log.extend_from_slice(fields);
        Ok(())
    }
    fn check_storage(&self) -> Result<()> {
        self.inner.check_storage()
    }

    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<crate::store::DerivedRows>> {
        self.inner.derived_rows(from, to)
    }
    fn newest_involving(&self, targets: &[crate::store::TargetKey<'_>]) -> Result<Vec<u64>> {
        self.inner.newest_involving(targets)
    }
    fn rebuild_derived(&self) -> Result<Option<u64>> {
        self.inner.rebuild_derived()
    }
}

/// A trail over the store under test plus raw access and the record of what was appended.
struct Harness<S> {
    trail: AuditTrail<Recorder<S>>,
}

impl<S: AuditStore> Harness<S> {
    fn new(store: S) -> Self {
        Self::with_trail(store, |b| b)
    }

    fn with_trail(
        store: S,
        configure: impl FnOnce(crate::TrailBuilder<Recorder<S>>) -> crate::TrailBuilder<Recorder<S>>,
    ) -> Self {
        let recorder = Recorder {
            inner: Arc::new(store),
            appended: Mutex::default(),
            erased: Mutex::default(),
        };
        Harness {
            trail: configure(AuditTrail::builder(recorder)).build(),
        }
    }

    /// The store under test, for contract checks through the raw trait.
    fn raw(&self) -> &S {
        &self.trail.store().inner
    }

    fn shared(&self) -> Arc<S> {
        Arc::clone(&self.trail.store().inner)
    }

    /// Every event the store acknowledged, in seq order.
    fn appended(&self) -> Vec<SealedEvent> {
        let mut v = self
            .trail
            .store()
            .appended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// Every event the store acknowledged, as it must read now: without the personal values
    /// the store acknowledged erasing.
    fn expected_now(&self) -> Vec<SealedEvent> {
        let erased = self
            .trail
            .store()
            .erased
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut v = self.appended();
        for e in &mut v {
            for p in &mut e.personal {
                if erased
                    .iter()
                    .any(|(s, path)| *s == e.seq && *path == p.path)
                {
                    p.value = None;
                }
            }
        }
        v
    }

    /// The `(seq, path)` pairs the store acknowledged erasing, in request order.
    fn erase_requests(&self) -> Vec<(u64, PersonalPath)> {
        self.trail
            .store()
            .erased
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A short description of an event for failure messages.
fn describe(e: &SealedEvent) -> String {
    let mut s = format!("seq {} `{}`", e.seq, e.action);
    if let Some(t) = &e.tenant {
        s.push_str(&format!(" tenant {t:?}"));
    }
    if let (Some(k), Some(i)) = (&e.target_kind, &e.target_id) {
        s.push_str(&format!(" target {k}/{i}"));
    }
    s
}

fn seqs(events: &[SealedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// The first field in which `got` differs from `want`, named, with both values.
fn field_diff(want: &SealedEvent, got: &SealedEvent) -> Option<String> {
    if want == got {
        return None;
    }
    let (Ok(Value::Object(w)), Ok(Value::Object(g))) =
        (serde_json::to_value(want), serde_json::to_value(got))
    else {
        return Some("the events differ (and cannot be serialized to say where)".into());
    };
    let mut keys: Vec<&String> = w.keys().chain(g.keys()).collect();
    keys.dedup();
    for k in keys {
        let (a, b) = (w.get(k), g.get(k));
        if a != b {
            return Some(format!(
                "field `{k}` was {} when appended but {} when read back",
                clip(a),
                clip(b)
            ));
        }
    }
    Some("the events differ".into())
}

fn clip(v: Option<&Value>) -> String {
    let s = match v {
        None => "absent".to_owned(),
        Some(v) => v.to_string(),
    };
    if s.len() > 160 {
        let mut end = 160;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s
    }
}

/// Checks that `got` are exactly the `want` events, in order, naming the first difference.
fn same_events(
    check: &'static str,
    what: &str,
    want: &[&SealedEvent],
    got: &[SealedEvent],
) -> CheckResult {
    let w: Vec<u64> = want.iter().map(|e| e.seq).collect();
    let g = seqs(got);
    if w != g {
        let missing: Vec<String> = want
            .iter()
            .filter(|e| !g.contains(&e.seq))
            .map(|e| describe(e))
            .collect();
        let extra: Vec<String> = got
            .iter()
            .filter(|e| !w.contains(&e.seq))
            .map(describe)
            .collect();
        let mut msg = format!("{what}: expected seqs {w:?}, the store returned {g:?}");
        if let Some(m) = missing.first() {
            msg.push_str(&format!("; missing event {m}"));
        }
        if let Some(x) = extra.first() {
            msg.push_str(&format!("; unexpected event {x}"));
        }
        if missing.is_empty() && extra.is_empty() {
            msg.push_str("; the right events in the wrong order");
        }
        return Err(Failure::new(check, msg));
    }
    for (w, g) in want.iter().zip(got) {
        if let Some(d) = field_diff(w, g) {
            return Err(Failure::new(
                check,
                format!("{what}: event {} came back altered: {d}", describe(w)),
            ));
        }
    }
    Ok(())
}

/// The events of `all` that `query` matches, in its order: the reference answer.
fn expected<'a>(
    check: &'static str,
    all: &'a [SealedEvent],
    query: &Query,
) -> std::result::Result<Vec<&'a SealedEvent>, Failure> {
    let mut out = Vec::new();
    for s in all {
        let e = s
            .decode()
            .map_err(|e| Failure::new(check, format!("decoding event {}: {e}", describe(s))))?;
        if query.matches(&e) {
            out.push((e.occurred_at, s));
        }
    }
    out.sort_by_key(|(t, s)| (*t, s.seq));
    if query.order() == crate::query::SortOrder::NewestFirst {
        out.reverse();
    }
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// Seals drafts by hand, for contract checks that append through the raw trait.
fn seal_batch(
    log_id: &str,
    head: &Head,
    drafts: Vec<crate::NewEvent>,
) -> Result<(Vec<SealedEvent>, Head)> {
    let config = crate::trail::config::TrailConfig::default();
    let mut next = head.clone();
    if next.seq == 0 {
        next.hash = crate::integrity::hashes::genesis(log_id);
    }
    let mut out = Vec::new();
    for d in drafts {
        let mut e = d.prepare(&config)?;
        e.id = Uuid::now_v7();
        e.recorded_at = crate::model::time_util::now();
        crate::integrity::chain::extend(log_id, &mut next, &mut e);
        out.push(e);
    }
    Ok((out, next))
}

/// Whether `e` is the conflict the contract asks for.
fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Conflict { .. })
}
