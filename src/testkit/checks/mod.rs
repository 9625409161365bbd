//! The checks, one public function each, in one file per area; here, the helpers several
//! areas share. Every check takes a fresh, empty store.

mod append;
mod integrity;
mod lifecycle;
mod queries;
mod reads;

pub use append::{append_and_head, concurrent_writers, sealing_under_lock};
pub use integrity::verify;
pub use lifecycle::{erase, purge};
pub use queries::{count, local_days, paging, query_filters, query_order};
pub use reads::{get_and_idempotency, read_ranges, round_trip};

use super::corpus;
use super::{describe, ensure, expected, same_events, seqs, CheckResult, Ctx, Failure, Harness};
use crate::query::{Query, MAX_LIMIT};
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::NewEvent;

/// Records the shared corpus through the trail, in single records and batches.
fn record_corpus<S: AuditStore>(check: &'static str, h: &Harness<S>) -> CheckResult {
    let mut events = corpus::events().into_iter();
    for e in events.by_ref().take(5) {
        let action = e.action_name().to_owned();
        h.trail
            .record(e)
            .ctx(check, format!("recording a `{action}` event"))?;
    }
    let rest: Vec<NewEvent> = events.collect();
    for chunk in rest.chunks(6) {
        h.trail
            .record_batch(chunk.to_vec())
            .ctx(check, "recording a batch of the corpus")?;
    }
    Ok(())
}

/// What `read_each(from, limit)` lends, as owned events.
fn lent<S: AuditStore + ?Sized>(
    check: &'static str,
    store: &S,
    from: u64,
    limit: usize,
) -> std::result::Result<Vec<SealedEvent>, Failure> {
    let mut out = Vec::new();
    store
        .read_each(from, limit, &mut |e| out.push(e.to_owned()))
        .ctx(check, format!("read_each({from}, {limit})"))?;
    Ok(out)
}

fn read_all<S: AuditStore + ?Sized>(
    check: &'static str,
    store: &S,
) -> std::result::Result<Vec<SealedEvent>, Failure> {
    store.read(1, usize::MAX >> 1).ctx(check, "read(1, ..)")
}

/// Runs `query` with page size `limit` through the trail and checks it against the reference.
fn check_query<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    all: &[SealedEvent],
    name: &str,
    query: &Query,
) -> CheckResult {
    let want = expected(check, all, query)?;
    let page = h
        .trail
        .query(&query.clone().limit(MAX_LIMIT))
        .ctx(check, format!("query {name}"))?;
    let got = h
        .raw()
        .query(&query.clone().limit(MAX_LIMIT), MAX_LIMIT + 1)
        .ctx(check, format!("query {name}"))?;
    same_events(check, &format!("query {name}"), &want, &got)?;
    let page_seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    ensure!(
        check,
        page_seqs == seqs(&got) && page.next.is_none(),
        "query {name} through the trail returned seqs {page_seqs:?} (next {:?}), expected {:?} and no next page",
        page.next,
        seqs(&got)
    );
    Ok(())
}

/// Checks `count(query)` through the store against `want`, the reference answer for
/// `query`, and returns the count.
fn check_count<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    name: &str,
    query: &Query,
    want: &[&SealedEvent],
) -> std::result::Result<u64, Failure> {
    let n = h.raw().count(query).ctx(check, format!("count {name}"))?;
    ensure!(
        check,
        n == want.len() as u64,
        "count {name} is {n}, expected {}{}",
        want.len(),
        want.first()
            .map(|e| format!(" (the first match is event {})", describe(e)))
            .unwrap_or_default()
    );
    Ok(n)
}
