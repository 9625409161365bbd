//! Progress of long reads (verify, export): a bar on a terminal, a plain line now and then
//! otherwise.
//!
//! The trail's verify and exports take no progress callback, so the store is wrapped
//! instead: [`Counted`] forwards every call and counts the events the trail reads through it.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use auditkit::store::queue::Turn;
use auditkit::store::{Append, DerivedRows, PersonalPath, TargetKey};
use auditkit::{AuditStore, GroupBy, Head, Query, Result, SealedEvent, SealedEventRef};
use uuid::Uuid;

/// A store that counts the events read from it.
pub(crate) struct Counted {
    inner: Box<dyn AuditStore>,
    read: Arc<AtomicU64>,
}

impl Counted {
    pub(crate) fn new(inner: Box<dyn AuditStore>, read: Arc<AtomicU64>) -> Self {
        Counted { inner, read }
    }

    fn add(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }
}

// Every method forwards: a provided fallback would replace the backend's own (SQL) one.
#[deny(clippy::missing_trait_methods)]
impl AuditStore for Counted {
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
        self.inner.begin_append()
    }
    fn begin_or_queue(&self, drafts: &[&SealedEvent]) -> Result<Turn<'_>> {
        self.inner.begin_or_queue(drafts)
    }
    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let events = self.inner.read(from, limit)?;
        self.add(events.len());
        Ok(events)
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        let mut n = 0;
        let result = self.inner.read_each(from, limit, &mut |e| {
            n += 1;
            visit(e);
        });
        self.add(n);
        result
    }
    fn query(&self, query: &Query, limit: usize) -> Result<Vec<SealedEvent>> {
        let events = self.inner.query(query, limit)?;
        self.add(events.len());
        Ok(events)
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
    fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        self.inner.summarize(query, by)
    }
    fn purge_anchor(&self) -> Result<Option<Head>> {
        self.inner.purge_anchor()
    }
    fn purge(&self, anchor: &Head) -> Result<()> {
        self.inner.purge(anchor)
    }
    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        self.inner.erase(fields)
    }
    fn check_storage(&self) -> Result<()> {
        self.inner.check_storage()
    }
    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>> {
        self.inner.derived_rows(from, to)
    }
    fn newest_involving(&self, targets: &[TargetKey<'_>]) -> Result<Vec<u64>> {
        self.inner.newest_involving(targets)
    }
    fn rebuild_derived(&self) -> Result<Option<u64>> {
        self.inner.rebuild_derived()
    }
}

/// How often a non-terminal stderr gets a progress line: rare enough that a log file or a
/// cron mail stays short, and that a small store prints none.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A progress display running on its own thread until [`Progress::finish`].
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Shows `what` (`verify`) reading `total` events, as `read` counts them.
    pub(crate) fn start(what: &'static str, total: u64, read: Arc<AtomicU64>) -> Self {
        read.store(0, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        let terminal = std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let at = || read.load(Ordering::Relaxed).min(total);
            if terminal {
                let bar = indicatif::ProgressBar::new(total);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:40}] {pos}/{len} events ({eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(what);
                while !done.load(Ordering::Relaxed) {
                    bar.set_position(at());
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            } else {
                let mut last = Instant::now();
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if last.elapsed() >= PLAIN_EVERY {
                        eprintln!("auditkit: {what}: {} of {total} events read", at());
                        last = Instant::now();
                    }
                }
            }
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and clears the display.
    pub(crate) fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    // An early return (an error) must clear the bar too, before the error line prints.
    fn drop(&mut self) {
        self.end();
    }
}
