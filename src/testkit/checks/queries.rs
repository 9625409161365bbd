//! Queries: every filter, result order, keyset paging with cursors, and counting.

use super::{check_count, check_query, record_corpus};
use crate::query::{Cursor, Query};
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::testkit::corpus::{self, at};
use crate::testkit::{describe, ensure, expected, same_events, CheckResult, Ctx, Failure, Harness};
use crate::NewEvent;

/// Every query filter, alone and combined, newest and oldest first.
///
/// Property: for each filter of [`Query`] (tenant; between, since, until on `occurred_at`
/// with inclusive start and exclusive end; actor; actor kind; exact actions, `prefix.*`
/// patterns and action lists; exact target; target kind; involving a target or related
/// target; source; outcome and failures; whole-word, case-insensitive search; changed paths
/// and their parents) and combinations of them, the store returns exactly the events
/// [`Query::matches`] accepts, in the query's order, each exactly as appended.
///
/// # Errors
/// A [`Failure`] naming the query and the first missing, unexpected or altered event.
pub fn query_filters<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "query_filters";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    for (name, q) in corpus::queries() {
        check_query(C, &h, &all, &format!("{name} newest first"), &q)?;
        check_query(
            C,
            &h,
            &all,
            &format!("{name} oldest first"),
            &q.oldest_first(),
        )?;
    }
    Ok(())
}

/// Local calendar days in a business's time zone, across daylight-saving changes.
///
/// Property: [`Query::between_local_days`] and [`Query::on_local_day`] select exactly the
/// events that occurred from local midnight of the first day to local midnight after the last
/// (the day clocks spring forward is 23 hours long, the day they fall back 25, in
/// Europe/Berlin and America/New_York alike), the microsecond before each boundary left out
/// and the first one of it kept, through `query` and `count`, in both orders. The expected
/// events are computed from UTC instants written out here, not from [`Query::matches`].
///
/// # Errors
/// A [`Failure`] naming the day, the zone and the first missing or unexpected event.
pub fn local_days<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "local_days";
    use time::macros::{date, datetime};
    let us = time::Duration::microseconds(1);
    // (zone, first day, last day, its first instant and the first instant after it, in UTC)
    let days = [
        (
            "Europe/Berlin",
            date!(2026 - 03 - 28),
            date!(2026 - 03 - 29),
            datetime!(2026-03-27 23:00 UTC),
            datetime!(2026-03-29 22:00 UTC),
        ),
        (
            "Europe/Berlin",
            date!(2026 - 03 - 29),
            date!(2026 - 03 - 29),
            datetime!(2026-03-28 23:00 UTC),
            datetime!(2026-03-29 22:00 UTC),
        ),
        (
            "Europe/Berlin",
            date!(2026 - 10 - 25),
            date!(2026 - 10 - 25),
            datetime!(2026-10-24 22:00 UTC),
            datetime!(2026-10-25 23:00 UTC),
        ),
        (
            "America/New_York",
            date!(2026 - 03 - 08),
            date!(2026 - 03 - 08),
            datetime!(2026-03-08 05:00 UTC),
            datetime!(2026-03-09 04:00 UTC),
        ),
        (
            "America/New_York",
            date!(2026 - 11 - 01),
            date!(2026 - 11 - 01),
            datetime!(2026-11-01 04:00 UTC),
            datetime!(2026-11-02 05:00 UTC),
        ),
    ];
    let mut times = Vec::new();
    for (_, _, _, start, end) in days {
        times.extend([start - us, start, end - us, end]);
    }
    // Both passes through the hour that repeats when clocks fall back (02:30 in Berlin,
    // 01:30 in New York), and the hour that never happens when they spring forward.
    times.extend([
        datetime!(2026-10-25 00:30 UTC),
        datetime!(2026-10-25 01:30 UTC),
        datetime!(2026-11-01 05:30 UTC),
        datetime!(2026-11-01 06:30 UTC),
        datetime!(2026-03-29 01:00 UTC),
        datetime!(2026-03-08 07:00 UTC),
    ]);
    let h = Harness::new(store);
    let batch: Vec<NewEvent> = times
        .iter()
        .map(|&t| NewEvent::new("booking.created").occurred_at(t))
        .collect();
    h.trail
        .record_batch(batch)
        .ctx(C, "recording events around local midnights")?;
    let all = h.appended();
    for (zone, from, to, start, end) in days {
        let name = format!("between_local_days({from}, {to}, {zone:?})");
        let q = if from == to {
            Query::new().on_local_day(from, zone)
        } else {
            Query::new().between_local_days(from, to, zone)
        };
        for q in [q.clone(), q.oldest_first()] {
            let mut want: Vec<&SealedEvent> = all
                .iter()
                .filter(|e| start <= e.occurred_at && e.occurred_at < end)
                .collect();
            want.sort_by_key(|e| (e.occurred_at, e.seq));
            if q.order() == crate::query::SortOrder::NewestFirst {
                want.reverse();
            }
            let reference = expected(C, &all, &q)?;
            ensure!(
                C,
                seqs_of(&reference) == seqs_of(&want),
                "{name}: Query::matches accepts seqs {:?}, the days hold {:?}",
                seqs_of(&reference),
                seqs_of(&want)
            );
            check_query(C, &h, &all, &name, &q)?;
            check_count(C, &h, &name, &q, &want)?;
        }
    }
    Ok(())
}

fn seqs_of(events: &[&SealedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Result order and the store-level limit.
///
/// Property: newest first is descending `occurred_at` with ties broken by descending `seq`
/// (oldest first the reverse), independent of recording order; `query(q, n)` returns the first
/// `n` events of that order.
///
/// # Errors
/// A [`Failure`] naming the query, the position and the events out of place.
pub fn query_order<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "query_order";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    for q in [Query::new(), Query::new().oldest_first()] {
        let order = format!("{:?}", q.order());
        let want = expected(C, &all, &q)?;
        for limit in [1, 2, 3, 7, want.len(), want.len() + 5] {
            let got = h
                .raw()
                .query(&q, limit)
                .ctx(C, format!("query({order}, {limit})"))?;
            let want: Vec<&SealedEvent> = want.iter().copied().take(limit).collect();
            same_events(
                C,
                &format!("query in order {order} with limit {limit}"),
                &want,
                &got,
            )?;
        }
    }
    Ok(())
}

/// Walks `query` page by page, appending `during` new events after each page.
fn walk<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    name: &str,
    query: &Query,
    during: &mut dyn FnMut(usize) -> Vec<NewEvent>,
) -> std::result::Result<Vec<u64>, Failure> {
    let mut visited: Vec<u64> = Vec::new();
    let mut q = query.clone();
    for page_no in 0.. {
        let all = h.appended();
        let want = expected(check, &all, &q)?;
        let page = h
            .trail
            .query(&q)
            .ctx(check, format!("{name}: page {page_no}"))?;
        let limit = q.page_size();
        let want_page: Vec<u64> = want.iter().take(limit).map(|e| e.seq).collect();
        let got: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        ensure!(
            check,
            got == want_page,
            "{name}: page {page_no} returned seqs {got:?}, expected {want_page:?}{}",
            want.iter()
                .find(|e| !got.contains(&e.seq) && want_page.contains(&e.seq))
                .map(|e| format!(" (missing event {})", describe(e)))
                .unwrap_or_default()
        );
        for s in &got {
            ensure!(
                check,
                !visited.contains(s),
                "{name}: event seq {s} was returned twice, again on page {page_no}"
            );
        }
        visited.extend(&got);
        let more = want.len() > limit;
        ensure!(
            check,
            page.next.is_some() == more,
            "{name}: page {page_no} has next {:?} while {} events remain after it",
            page.next,
            want.len().saturating_sub(limit)
        );
        let Some(next) = page.next else { break };
        // Cursors travel through browsers as text.
        let text = next.to_string();
        let back: Cursor = text.parse().map_err(|e| {
            Failure::new(
                check,
                format!("{name}: cursor {text:?} does not parse: {e}"),
            )
        })?;
        q = query.clone().after(back);
        let new = during(page_no);
        if !new.is_empty() {
            h.trail
                .record_batch(new)
                .ctx(check, format!("{name}: appending between pages"))?;
        }
        ensure!(check, page_no < 1_000, "{name}: paging does not end");
    }
    Ok(visited)
}

/// Keyset paging with cursors.
///
/// Property: walking a query with `limit(n)` and `after(page.next)` (the cursor passed
/// through its text form) returns each page as [`Query::matches`] says, visits every matching
/// event exactly once and in order, and ends with `next == None`; this holds while new events
/// (some occurring later than everything, some in the middle of the timeline) are appended
/// between pages.
///
/// # Errors
/// A [`Failure`] naming the query, the page and the event missed or repeated.
pub fn paging<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "paging";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let queries = [
        ("no filter", Query::new()),
        ("tenant(clinic-1)", Query::new().tenant("clinic-1")),
        ("action(booking.*)", Query::new().action("booking.*")),
    ];
    for (name, q) in queries {
        for (order, q) in [
            ("newest first", q.clone()),
            ("oldest first", q.oldest_first()),
        ] {
            for limit in [1, 3, 4] {
                let label = format!("paging {name} {order} limit({limit})");
                let q = q.clone().limit(limit);
                let before = h.appended();
                let want: Vec<u64> = expected(C, &before, &q)?.iter().map(|e| e.seq).collect();
                let got = walk(C, &h, &label, &q, &mut |_| Vec::new())?;
                ensure!(
                    C,
                    got == want,
                    "{label}: visited seqs {got:?}, expected every match once: {want:?}"
                );
            }
        }
    }
    // New events arrive between pages: the originals are still each visited exactly once.
    for (order, q) in [
        ("newest first", Query::new().tenant("clinic-1")),
        (
            "oldest first",
            Query::new().tenant("clinic-1").oldest_first(),
        ),
    ] {
        let label = format!("paging tenant(clinic-1) {order} while appending");
        let q = q.limit(3);
        let before = h.appended();
        let originals: Vec<u64> = expected(C, &before, &q)?.iter().map(|e| e.seq).collect();
        let mut arrivals = |page: usize| {
            let minute = 45 + page as i64;
            vec![
                NewEvent::new("booking.created")
                    .tenant("clinic-1")
                    .context("page", page)
                    .occurred_at(at(10_000 + page as i64, 0)),
                NewEvent::new("booking.created")
                    .tenant("clinic-1")
                    .context("page", page)
                    .occurred_at(at(minute, 0)),
            ]
        };
        let got = walk(C, &h, &label, &q, &mut arrivals)?;
        for s in &originals {
            ensure!(
                C,
                got.contains(s),
                "{label}: event seq {s}, present before paging began, was never visited"
            );
        }
    }
    Ok(())
}

/// Counting.
///
/// Property: `count(q)` equals the number of events [`Query::matches`] accepts, for every
/// query of [`query_filters`]; it ignores the query's limit and applies its cursor.
///
/// # Errors
/// A [`Failure`] naming the query and both numbers.
pub fn count<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "count";
    let h = Harness::new(store);
    record_corpus(C, &h)?;
    let all = h.appended();
    for (name, q) in corpus::queries() {
        let want = expected(C, &all, &q)?;
        let n = check_count(C, &h, &name, &q, &want)?;
        let n1 = h
            .trail
            .count(&q.clone().limit(1))
            .ctx(C, format!("count {name} limit(1)"))?;
        ensure!(
            C,
            n1 == n,
            "count {name} with limit(1) is {n1}, expected {n}: count ignores the limit"
        );
        if want.len() >= 2 {
            let decoded = want[1].decode().ctx(C, "decode")?;
            let after = q.clone().after(Cursor::after_event(&decoded));
            let n2 = h
                .raw()
                .count(&after)
                .ctx(C, format!("count {name} after(..)"))?;
            let w2 = expected(C, &all, &after)?.len() as u64;
            ensure!(
                C,
                n2 == w2,
                "count {name} after the cursor of event {} is {n2}, expected {w2}: count applies the cursor",
                describe(want[1])
            );
        }
    }
    Ok(())
}
