//! Proof that the conformance suite can fail: stores with one planted bug each must be caught,
//! with a message that names the property broken.
//!
//! `testkit::run` panics listing every failed check; these tests catch that panic and read its
//! message. The per-check functions return `Err(Failure)` and are checked directly too.
#![cfg(feature = "testkit")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use auditkit::query::ActionPattern;
use auditkit::store::{check_batch, Append, PersonalPath};
use auditkit::{testkit, AuditStore, Error, Head, MemoryStore, Query, Result, SealedEvent, Target};
use uuid::Uuid;

/// What a [`Buggy`] store gets wrong.
#[derive(Clone, Copy)]
enum Bug {
    /// Reads lose the actor's role.
    DropField,
    /// Query results come back in seq order, whatever the query's order.
    Reorder,
    /// Queries ignore the actor-kind filter.
    IgnoreActorKind,
}

/// A correct [`MemoryStore`] behind one planted bug.
struct Buggy {
    inner: MemoryStore,
    bug: Bug,
}

impl Buggy {
    fn fix(&self, mut events: Vec<SealedEvent>) -> Vec<SealedEvent> {
        if let Bug::DropField = self.bug {
            for e in &mut events {
                e.actor_role = None;
            }
        }
        events
    }
}

/// `q` without its actor-kind filter, rebuilt through the public accessors: the kind of
/// query builder that forgets one predicate.
fn without_actor_kind(q: &Query) -> Query {
    let mut out = Query::new();
    if let Some(t) = q.tenant_filter() {
        out = out.tenant(t);
    }
    if let Some(f) = q.from_filter() {
        out = out.since(f);
    }
    if let Some(t) = q.to_filter() {
        out = out.until(t);
    }
    if let Some(a) = q.actor_filter() {
        out = out.actor(a);
    }
    if !q.action_filters().is_empty() {
        out = out.actions(q.action_filters().iter().map(|p| match p {
            ActionPattern::Exact(a) => a.clone(),
            ActionPattern::Prefix(p) => format!("{p}*"),
            _ => unreachable!("only exact and prefix patterns exist"),
        }));
    }
    if let Some((k, i)) = q.target_filter() {
        out = out.target(&Target::new(k, i));
    }
    if let Some(k) = q.target_kind_filter() {
        out = out.target_kind(k);
    }
    if let Some((k, i)) = q.involving_filter() {
        out = out.involving(&Target::new(k, i));
    }
    if let Some(s) = q.source_filter() {
        out = out.source(s.clone());
    }
    if let Some(o) = q.outcome_filter() {
        out = out.outcome(o);
    }
    if let Some(w) = q.search_words() {
        out = out.search(w.join(" "));
    }
    if let Some(c) = q.changed_filter() {
        out = out.changed(c);
    }
    if let Some(c) = q.cursor() {
        out = out.after(c);
    }
    if q.order() == auditkit::SortOrder::OldestFirst {
        out = out.oldest_first();
    }
    out
}

impl AuditStore for Buggy {
    fn log_id(&self) -> Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> Result<Head> {
        self.inner.head()
    }
    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        self.inner.append(expected, batch, new_head)
    }
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        Ok(self.fix(self.inner.read(from, limit)?))
    }
    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        let mut found = match self.bug {
            Bug::IgnoreActorKind => self.inner.query(&without_actor_kind(query), limit)?,
            _ => self.inner.query(query, limit)?,
        };
        if let Bug::Reorder = self.bug {
            found.sort_by_key(|e| e.seq);
        }
        Ok(self.fix(found))
    }
    fn count(&self, query: &Query) -> Result<u64> {
        self.inner.count(query)
    }
    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        Ok(self.inner.get(id)?.map(|e| self.fix(vec![e]).remove(0)))
    }
    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        Ok(self
            .inner
            .find_by_key(key)?
            .map(|e| self.fix(vec![e]).remove(0)))
    }
}

/// A hand-written store whose append is wrong; queries use the trait's fallbacks.
struct BadAppend {
    log_id: String,
    state: Mutex<(Vec<SealedEvent>, Head)>,
    /// Acknowledges every fifth event without storing it.
    lose_every_fifth: bool,
    /// Appends whatever the head, with no compare-and-append.
    skip_compare: bool,
}

impl BadAppend {
    fn new(lose_every_fifth: bool, skip_compare: bool) -> Self {
        BadAppend {
            log_id: Uuid::new_v4().to_string(),
            state: Mutex::default(),
            lose_every_fifth,
            skip_compare,
        }
    }
}

impl AuditStore for BadAppend {
    fn log_id(&self) -> Result<String> {
        Ok(self.log_id.clone())
    }
    fn head(&self) -> Result<Head> {
        Ok(self.state.lock().unwrap().1.clone())
    }
    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        if !self.skip_compare && st.1.seq != expected {
            return Err(Error::Conflict {
                expected,
                actual: st.1.seq,
            });
        }
        check_batch(expected, batch, new_head)?;
        for e in batch {
            if st.0.iter().any(|s| {
                s.id == e.id
                    || (s.idempotency_key.is_some() && s.idempotency_key == e.idempotency_key)
            }) {
                return Err(Error::Conflict {
                    expected,
                    actual: st.1.seq,
                });
            }
        }
        for e in batch {
            if !(self.lose_every_fifth && e.seq % 5 == 0) {
                st.0.push(e.clone());
            }
        }
        st.1 = new_head.clone();
        Ok(())
    }
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let st = self.state.lock().unwrap();
        Ok(st
            .0
            .iter()
            .filter(|e| e.seq >= from)
            .take(limit)
            .cloned()
            .collect())
    }
}

/// A store that hands out a stale head from `begin_append`: the head as it was when the
/// previous append began, and commits whatever it is given on top, without comparing.
struct StaleHead {
    inner: BadAppend,
    handed: Mutex<Option<Head>>,
}

/// [`StaleHead`]'s append: the stale head, the events kept until commit.
struct StaleAppend<'a> {
    store: &'a StaleHead,
    head: Head,
    pending: Vec<SealedEvent>,
}

impl Append for StaleAppend<'_> {
    fn head(&self) -> &Head {
        &self.head
    }
    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        Ok(self.store.inner.read(self.head.seq, 1)?.pop())
    }
    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        Ok(None)
    }
    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        self.store.inner.find_by_key(key)
    }
    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        self.pending.extend_from_slice(batch);
        self.head = new_head.clone();
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<()> {
        let mut st = self.store.inner.state.lock().unwrap();
        st.0.extend(self.pending);
        st.1 = self.head;
        Ok(())
    }
}

impl AuditStore for StaleHead {
    fn log_id(&self) -> Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> Result<Head> {
        self.inner.head()
    }
    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        self.inner.append(expected, batch, new_head)
    }
    fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
        let now = self.inner.head()?;
        let stale = self
            .handed
            .lock()
            .unwrap()
            .replace(now.clone())
            .unwrap_or(now);
        Ok(Box::new(StaleAppend {
            store: self,
            head: stale,
            pending: Vec::new(),
        }))
    }
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        self.inner.read(from, limit)
    }
}

/// What a [`BadLifecycle`] store gets wrong in purge or erase.
#[derive(Clone, Copy, PartialEq)]
enum LifecycleBug {
    /// Purge forgets the id index: `get` still finds purged events.
    PurgeLeavesIdIndex,
    /// Purge takes any anchor, above the head or below the current one, and does nothing.
    PurgeSkipsBounds,
    /// Erase removes every personal value of the event, not only the fields asked for.
    EraseWholeEvent,
    /// Erase leaves the search index as it was: search still finds erased names.
    EraseKeepsSearchIndex,
}

/// A correct [`MemoryStore`] behind one planted purge or erase bug.
struct BadLifecycle {
    inner: MemoryStore,
    /// A copy that gets every append and purge but no erasure: a stale search index.
    index: MemoryStore,
    /// Events purged from `inner`, still reachable by id.
    purged: Mutex<Vec<SealedEvent>>,
    /// Keeps `inner` and `index` in step under concurrent appends: without it a writer could
    /// land in `inner` and then lose the race on `index`, a bug this store is not meant to
    /// plant.
    appending: Mutex<()>,
    bug: LifecycleBug,
}

impl BadLifecycle {
    fn new(bug: LifecycleBug) -> Self {
        BadLifecycle {
            inner: MemoryStore::new(),
            index: MemoryStore::new(),
            purged: Mutex::default(),
            appending: Mutex::default(),
            bug,
        }
    }

    fn searches(&self, q: &Query) -> bool {
        self.bug == LifecycleBug::EraseKeepsSearchIndex && q.search_words().is_some()
    }
}

impl AuditStore for BadLifecycle {
    fn log_id(&self) -> Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> Result<Head> {
        self.inner.head()
    }
    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let _both = self.appending.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.append(expected, batch, new_head)?;
        self.index.append(expected, batch, new_head)
    }
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        self.inner.read(from, limit)
    }
    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        if self.searches(query) {
            return self.index.query(query, limit);
        }
        self.inner.query(query, limit)
    }
    fn count(&self, query: &Query) -> Result<u64> {
        if self.searches(query) {
            return self.index.count(query);
        }
        self.inner.count(query)
    }
    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        if let Some(e) = self.inner.get(id)? {
            return Ok(Some(e));
        }
        Ok(self
            .purged
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.id == id)
            .cloned())
    }
    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        self.inner.find_by_key(key)
    }
    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.inner.purge_anchor()
    }
    fn purge(&self, anchor: &Head) -> Result<()> {
        let current = self.inner.purge_anchor()?.map_or(0, |a| a.seq);
        if self.bug == LifecycleBug::PurgeSkipsBounds
            && (anchor.seq > self.inner.head()?.seq || anchor.seq < current)
        {
            return Ok(());
        }
        let gone = self.inner.read(1, anchor.seq as usize)?;
        self.inner.purge(anchor)?;
        self.index.purge(anchor)?;
        if self.bug == LifecycleBug::PurgeLeavesIdIndex {
            self.purged.lock().unwrap().extend(gone);
        }
        Ok(())
    }
    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        if self.bug == LifecycleBug::EraseWholeEvent {
            let mut all = Vec::new();
            for (seq, _) in fields {
                for e in self.inner.read(*seq, 1)?.iter().filter(|e| e.seq == *seq) {
                    all.extend(e.personal.iter().map(|p| (*seq, p.path.clone())));
                }
            }
            return self.inner.erase(&all);
        }
        self.inner.erase(fields)?;
        if self.bug != LifecycleBug::EraseKeepsSearchIndex {
            self.index.erase(fields)?;
        }
        Ok(())
    }
}

/// Runs the whole suite and returns its panic message; fails the test if the suite passed.
fn suite_failure<S: AuditStore>(factory: impl Fn() -> S) -> String {
    let outcome = catch_unwind(AssertUnwindSafe(|| testkit::run(factory)));
    let panic = outcome.expect_err("the testkit passed a store with a planted bug");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("the testkit panics with a message")
}

/// How the suite's report begins when exactly one of its checks failed.
fn one_of_all() -> String {
    format!("1 of {} checks failed", testkit::CHECKS.len())
}

fn assert_names(msg: &str, fragments: &[&str]) {
    for f in fragments {
        assert!(
            msg.contains(f),
            "expected {f:?} in the testkit's report:\n{msg}"
        );
    }
}

#[test]
fn a_correct_store_passes_the_hand_written_fallbacks() {
    // The same hand-written store without bugs passes: the failures below come from the bugs.
    testkit::run(|| BadAppend::new(false, false));
}

#[test]
fn a_dropped_field_is_caught() {
    let msg = suite_failure(|| Buggy {
        inner: MemoryStore::new(),
        bug: Bug::DropField,
    });
    assert_names(
        &msg,
        &["round_trip", "field `actor_role`", "\"staff\"", "null"],
    );
    let one = testkit::round_trip(Buggy {
        inner: MemoryStore::new(),
        bug: Bug::DropField,
    })
    .expect_err("round_trip catches a dropped field");
    assert_eq!(one.check, "round_trip");
    assert!(one.message.contains("`booking.rescheduled`"), "{one}");
}

#[test]
fn reordered_results_are_caught() {
    let msg = suite_failure(|| Buggy {
        inner: MemoryStore::new(),
        bug: Bug::Reorder,
    });
    assert_names(&msg, &["query_order", "query_filters", "paging"]);
    let one = testkit::query_order(Buggy {
        inner: MemoryStore::new(),
        bug: Bug::Reorder,
    })
    .expect_err("query_order catches reordered results");
    assert!(
        one.message.contains("expected seqs") && one.message.contains("the store returned"),
        "{one}"
    );
}

#[test]
fn an_ignored_filter_is_caught() {
    let msg = suite_failure(|| Buggy {
        inner: MemoryStore::new(),
        bug: Bug::IgnoreActorKind,
    });
    assert_names(
        &msg,
        &["query_filters", "actor_kind(customer)", "unexpected event"],
    );
    // Only the filter check fails: the others do not use the actor-kind filter.
    assert!(msg.contains(&one_of_all()), "{msg}");
}

#[test]
fn an_event_lost_on_append_is_caught() {
    let msg = suite_failure(|| BadAppend::new(true, false));
    assert_names(
        &msg,
        &[
            "append_and_head",
            "read_ranges",
            "missing event seq 5",
            "verify",
        ],
    );
    let one = testkit::verify(BadAppend::new(true, false)).expect_err("verify catches the loss");
    assert!(one.message.contains("event 5 missing"), "{one}");
}

#[test]
fn a_missing_compare_and_append_is_caught() {
    let msg = suite_failure(|| BadAppend::new(false, true));
    assert_names(
        &msg,
        &["append_and_head", "stale expected head", "Error::Conflict"],
    );
    // Through the provided optimistic append, the same store commits onto a stale head.
    let e = testkit::sealing_under_lock(BadAppend::new(false, true)).expect_err("caught");
    assert!(e.message.contains("stale head"), "{e}");
    testkit::sealing_under_lock(BadAppend::new(false, false)).expect("a correct store passes");
}

#[test]
fn an_append_that_hands_out_a_stale_head_is_caught() {
    let stale = || StaleHead {
        inner: BadAppend::new(false, false),
        handed: Mutex::default(),
    };
    let msg = suite_failure(stale);
    assert_names(&msg, &["sealing_under_lock", "concurrent_writers"]);
    let e = testkit::sealing_under_lock(stale()).expect_err("caught");
    assert!(e.message.contains("seq"), "{e}");
}

#[test]
fn purged_events_left_readable_are_caught() {
    let msg = suite_failure(|| BadLifecycle::new(LifecycleBug::PurgeLeavesIdIndex));
    assert_names(&msg, &[&one_of_all(), "- purge:", "purged event seq 1"]);
    let one = testkit::purge(BadLifecycle::new(LifecycleBug::PurgeLeavesIdIndex))
        .expect_err("purge catches a purged event still found by get");
    assert_eq!(one.check, "purge");
    assert!(
        one.message.contains("is still returned by get(")
            && one.message.contains("`booking.created`"),
        "{one}"
    );
}

#[test]
fn a_purge_that_skips_its_bounds_is_caught() {
    let msg = suite_failure(|| BadLifecycle::new(LifecycleBug::PurgeSkipsBounds));
    assert_names(
        &msg,
        &[
            &one_of_all(),
            "- purge:",
            "above the head",
            "Error::Invalid",
        ],
    );
}

#[test]
fn erasing_the_wrong_values_is_caught() {
    let msg = suite_failure(|| BadLifecycle::new(LifecycleBug::EraseWholeEvent));
    assert_names(&msg, &[&one_of_all(), "- erase:"]);
    let one = testkit::erase(BadLifecycle::new(LifecycleBug::EraseWholeEvent))
        .expect_err("erase catches values removed that were not asked for");
    assert_eq!(one.check, "erase");
    assert!(
        // Event 1 names customer c-1 only as related target: its actor is Sarah, who stays.
        one.message
            .contains("personal value `actor.name` of event seq 1 `booking.created`")
            && one
                .message
                .contains("was removed although erase was not asked to remove it"),
        "{one}"
    );
}

#[test]
fn erased_values_left_searchable_are_caught() {
    let msg = suite_failure(|| BadLifecycle::new(LifecycleBug::EraseKeepsSearchIndex));
    assert_names(
        &msg,
        &[
            &one_of_all(),
            "- erase:",
            "search(zoë) (the erased name) must find nothing",
            "the search index must forget erased values",
        ],
    );
}

#[test]
fn stores_without_purge_or_erase_pass_through_unsupported() {
    // BadAppend without bugs implements neither: both checks accept Unsupported.
    testkit::purge(BadAppend::new(false, false)).expect("purge accepts Unsupported");
    testkit::erase(BadAppend::new(false, false)).expect("erase accepts Unsupported");
}
