//! `verify` reads the next chunk of the log while it hashes the current one: faults past the
//! first chunk must still be found exactly where they are, and a fault must stop the reading.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use auditkit::memory::MemoryStore;
use auditkit::{Actor, AuditStore, AuditTrail, FaultKind, Head, NewEvent, Result, SealedEvent};

/// Wraps a store; once `hide` is set, reads leave out that seq (as if it were deleted);
/// `reads` counts read calls; a non-zero `page` caps how many events one read returns.
struct Holey {
    inner: MemoryStore,
    hide: AtomicU64,
    reads: AtomicUsize,
    page: AtomicUsize,
}

impl AuditStore for Holey {
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
        self.reads.fetch_add(1, Ordering::SeqCst);
        let hide = self.hide.load(Ordering::SeqCst);
        let mut out = self.inner.read(from, limit + 1)?;
        out.retain(|e| e.seq != hide);
        out.truncate(limit);
        let page = self.page.load(Ordering::SeqCst);
        if page > 0 {
            out.truncate(page);
        }
        Ok(out)
    }
}

fn trail_with(events: u64) -> Result<AuditTrail<Holey>> {
    let trail = AuditTrail::new(Holey {
        inner: MemoryStore::new(),
        hide: AtomicU64::new(0),
        reads: AtomicUsize::new(0),
        page: AtomicUsize::new(0),
    });
    let batch: Vec<NewEvent> = (0..events)
        .map(|i| {
            NewEvent::new("booking.created")
                .tenant("clinic-1")
                .actor(Actor::user(format!("u-{}", i % 7)))
                .context("n", i)
        })
        .collect();
    trail.record_batch(batch)?;
    Ok(trail)
}

#[test]
fn an_intact_log_of_several_chunks_verifies() -> Result<()> {
    let trail = trail_with(3_500)?;
    let report = trail.verify()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checked, 3_500);
    assert_eq!(report.verified_through, 3_500);
    Ok(())
}

#[test]
fn a_gap_past_the_first_chunk_is_found_where_it_is() -> Result<()> {
    let trail = trail_with(3_500)?;
    trail.store().hide.store(2_345, Ordering::SeqCst);
    let report = trail.verify()?;
    let fault = report.fault.as_ref().expect("the gap is a fault");
    assert_eq!(fault.seq, 2_345, "{report}");
    assert!(matches!(fault.kind, FaultKind::Missing), "{report}");
    assert_eq!(report.verified_through, 2_344, "{report}");
    Ok(())
}

#[test]
fn a_fault_in_the_first_chunk_stops_reading_ahead() -> Result<()> {
    let trail = trail_with(8_000)?;
    trail.store().hide.store(10, Ordering::SeqCst);
    trail.store().reads.store(0, Ordering::SeqCst);
    let report = trail.verify()?;
    assert_eq!(report.fault.as_ref().map(|f| f.seq), Some(10), "{report}");
    // The chunk being checked, and per reader at most one waiting and one being read.
    let reads = trail.store().reads.load(Ordering::SeqCst);
    assert!(
        reads <= 5,
        "{reads} chunks were read after a fault in the first"
    );
    Ok(())
}

#[test]
fn a_store_that_returns_short_pages_still_verifies_whole() -> Result<()> {
    let trail = trail_with(3_500)?;
    trail.store().page.store(300, Ordering::SeqCst);
    let report = trail.verify()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checked, 3_500);
    trail.store().hide.store(2_345, Ordering::SeqCst);
    let report = trail.verify()?;
    assert_eq!(
        report.fault.as_ref().map(|f| f.seq),
        Some(2_345),
        "{report}"
    );
    Ok(())
}
