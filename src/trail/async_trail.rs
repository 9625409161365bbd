//! [`AsyncAuditTrail`]: the trail for async apps. One writer thread feeds group commit from a
//! bounded queue; a fixed pool of reader threads runs reads and exports. No call holds an OS
//! thread while it waits, and no store call (a synchronous `postgres` client included) ever
//! runs on a runtime thread.

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::export::CsvOptions;
use super::{fill, scoped, AuditTrail};
use crate::integrity::{Checkpoint, VerifyReport};
use crate::model::defaults::EventDefaults;
use crate::model::event::{Event, Target};
use crate::model::new_event::NewEvent;
use crate::query::summary::GroupBy;
use crate::query::{Page, Query};
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::{Error, Result};

/// Default capacity of the write queue, in calls (see [`AsyncTrailBuilder::queue_capacity`]).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// Default number of reader threads (see [`AsyncTrailBuilder::read_threads`]).
pub const DEFAULT_READ_THREADS: usize = 2;

/// Default number of export threads (see [`AsyncTrailBuilder::export_threads`]).
pub const DEFAULT_EXPORT_THREADS: usize = 2;

/// How long an export waits for its stream's reader to take the next chunk before it gives
/// up: a client that stops reading must not hold an export thread for ever.
const EXPORT_STALL: Duration = Duration::from_secs(30);

/// Events the writer hands to one group commit at most: enough to cover a burst of callers
/// in one sync, few enough that one transaction stays short.
const MAX_GROUP_EVENTS: usize = 4096;

/// Bytes an export gathers before it hands a chunk to the stream.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks an export runs ahead of its reader (so a slow client holds at most this many).
const CHUNKS_AHEAD: usize = 4;

/// What the writer thread takes: a caller's prepared events and where to send the answer.
struct WriteJob {
    drafts: Vec<SealedEvent>,
    out: Vec<Event>,
    reply: oneshot::Sender<Result<Vec<Event>>>,
}

/// What a reader thread runs.
type ReadJob = Box<dyn FnOnce() + Send>;

/// The async face of an [`AuditTrail`] (feature `async`), for tokio apps such as axum
/// services.
///
/// - **Writes** ([`record`](Self::record), [`record_batch`](Self::record_batch)) are
///   validated on the calling task (an invalid event fails at once), then queued for one
///   writer thread, which hands everything queued to one group commit and answers each
///   caller when its events are durable. The queue holds
///   [`queue_capacity`](AsyncTrailBuilder::queue_capacity) calls (default
///   [`DEFAULT_QUEUE_CAPACITY`]); when it is full, `record` waits (asynchronously, holding no
///   thread) for room, in arrival order. That is the backpressure: a flood of requests slows
///   to the store's commit rate instead of growing memory or threads.
/// - **Reads** (queries, counts, summaries, history, verify, checkpoints, and any closure
///   through [`run_blocking`](Self::run_blocking)) run on a fixed pool of
///   [`read_threads`](AsyncTrailBuilder::read_threads) threads (default
///   [`DEFAULT_READ_THREADS`]), fed from a bounded queue the same way.
/// - **Exports** stream from a pool of their own
///   ([`export_threads`](AsyncTrailBuilder::export_threads), default
///   [`DEFAULT_EXPORT_THREADS`]), so slow downloads never hold up queries. An export whose
///   stream is not read for 30 seconds stops, and so does one whose stream is dropped.
/// - **Threads**: exactly 1 writer, the reader threads and the export threads, started by
///   [`build`](AsyncTrailBuilder::build), whatever the number of callers; none of tokio's
///   blocking pool. They stop when the last clone of the trail is dropped and their queues
///   are empty.
///
/// A `record` future dropped after its events were queued does not withdraw them: they are
/// recorded all the same (as with a thread that stops waiting), and an idempotency key makes
/// a retry safe.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> auditkit::Result<()> {
/// use auditkit::{AsyncAuditTrail, AuditTrail, MemoryStore, NewEvent, Query};
///
/// let trail = AsyncAuditTrail::new(AuditTrail::new(MemoryStore::new()))?;
/// trail.record(NewEvent::new("booking.created").tenant("clinic-42")).await?;
/// let page = trail.query(&Query::new().tenant("clinic-42")).await?;
/// assert_eq!(page.events.len(), 1);
/// # Ok(()) }
/// ```
pub struct AsyncAuditTrail<S> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    trail: AuditTrail<S>,
    writes: mpsc::Sender<WriteJob>,
    reads: Pool,
    exports: Pool,
}

impl<S> Clone for AsyncAuditTrail<S> {
    fn clone(&self) -> Self {
        AsyncAuditTrail {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> std::fmt::Debug for AsyncAuditTrail<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncAuditTrail")
            .field("trail", &self.shared.trail)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AsyncAuditTrail`] with non-default queue and pool sizes.
#[derive(Debug)]
#[must_use]
pub struct AsyncTrailBuilder<S> {
    trail: AuditTrail<S>,
    queue_capacity: usize,
    read_threads: usize,
    export_threads: usize,
}

impl<S: AuditStore + 'static> AsyncTrailBuilder<S> {
    /// Calls the write queue holds before `record` waits for room (at least 1; default
    /// [`DEFAULT_QUEUE_CAPACITY`]). The same bound applies to the read queue.
    pub fn queue_capacity(mut self, calls: usize) -> Self {
        self.queue_capacity = calls.max(1);
        self
    }

    /// Reader threads (at least 1; default [`DEFAULT_READ_THREADS`]).
    pub fn read_threads(mut self, threads: usize) -> Self {
        self.read_threads = threads.max(1);
        self
    }

    /// Export threads (at least 1; default [`DEFAULT_EXPORT_THREADS`]): how many exports
    /// stream at once; more wait their turn. An export holds one for as long as its stream
    /// is read.
    pub fn export_threads(mut self, threads: usize) -> Self {
        self.export_threads = threads.max(1);
        self
    }

    /// Starts the writer, reader and export threads.
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system refuses a thread.
    pub fn build(self) -> Result<AsyncAuditTrail<S>> {
        let (writes, write_rx) = mpsc::channel(self.queue_capacity);
        let trail = self.trail;
        let writer = trail.clone();
        std::thread::Builder::new()
            .name("auditkit-writer".into())
            .spawn(move || write_loop(&writer, write_rx))?;
        let reads = Pool::start("auditkit-reader", self.read_threads, self.queue_capacity)?;
        let exports = Pool::start("auditkit-export", self.export_threads, self.queue_capacity)?;
        Ok(AsyncAuditTrail {
            shared: Arc::new(Shared {
                trail,
                writes,
                reads,
                exports,
            }),
        })
    }
}

/// A fixed set of threads running jobs from one bounded queue.
struct Pool {
    jobs: mpsc::Sender<ReadJob>,
}

impl Pool {
    fn start(name: &str, threads: usize, capacity: usize) -> Result<Pool> {
        let (jobs, rx) = mpsc::channel::<ReadJob>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || read_loop(&rx))?;
        }
        Ok(Pool { jobs })
    }

    /// Queues `job`, waiting (asynchronously) for room.
    async fn run(&self, job: ReadJob) -> Result<()> {
        self.jobs.send(job).await.map_err(|_| reader_gone())
    }
}

/// The writer thread: everything queued since the last commit goes into the next one.
fn write_loop<S: AuditStore>(trail: &AuditTrail<S>, mut rx: mpsc::Receiver<WriteJob>) {
    while let Some(first) = rx.blocking_recv() {
        let mut events = first.drafts.len();
        let mut jobs = vec![first];
        while events < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(job) => {
                    events += job.drafts.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // A panic below the trail (a store's bug) must not end the writer: the group's
        // callers get an answer (their senders drop: an unknown outcome, since the commit may
        // have happened) and the next callers a working queue.
        let _ = catch_unwind(AssertUnwindSafe(|| commit_jobs(trail, jobs)));
    }
}

/// One group commit of `jobs`, each caller answered with its own events.
fn commit_jobs<S: AuditStore>(trail: &AuditTrail<S>, jobs: Vec<WriteJob>) {
    let mut replies = Vec::with_capacity(jobs.len());
    let mut batches = Vec::with_capacity(jobs.len());
    for job in jobs {
        batches.push(job.drafts);
        replies.push((job.out, job.reply));
    }
    let results = match trail.log_id() {
        Ok(_) => trail.submit_all(batches),
        Err(e) => std::iter::repeat_with(|| Err(e.clone()))
            .take(replies.len())
            .collect(),
    };
    for ((out, reply), result) in replies.into_iter().zip(results) {
        // A caller that stopped waiting has nobody to tell.
        let _ = reply.send(result.and_then(|stored| fill(out, stored)));
    }
}

/// A reader thread: runs read jobs until the trail is dropped.
fn read_loop(rx: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        // The lock is held only while waiting for a job, not while running it.
        let job = {
            let mut rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.blocking_recv()
        };
        let Some(job) = job else { return };
        // A panicking job drops its reply (its caller gets an error); the thread lives on.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

fn writer_gone() -> Error {
    Error::OutcomeUnknown {
        message: "the async trail's writer stopped before answering (a panic in the store)".into(),
    }
}

fn reader_gone() -> Error {
    Error::Storage {
        message: "the async trail's reader stopped before answering (a panic in the store); retry the read".into(),
        source: None,
    }
}

impl<S: AuditStore + 'static> AsyncAuditTrail<S> {
    /// An async trail over `trail` with the default queue capacity and reader threads.
    ///
    /// # Errors
    /// As [`AsyncTrailBuilder::build`].
    pub fn new(trail: AuditTrail<S>) -> Result<Self> {
        Self::builder(trail).build()
    }

    /// A builder for an async trail over `trail`.
    pub fn builder(trail: AuditTrail<S>) -> AsyncTrailBuilder<S> {
        AsyncTrailBuilder {
            trail,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            read_threads: DEFAULT_READ_THREADS,
            export_threads: DEFAULT_EXPORT_THREADS,
        }
    }

    /// The synchronous trail underneath (for code that already runs on a blocking thread).
    pub fn trail(&self) -> &AuditTrail<S> {
        &self.shared.trail
    }

    /// A handle recording with `defaults` wherever an event leaves them unset, its reads held
    /// to the defaults' tenant: see [`AsyncScopedTrail`].
    pub fn scoped(&self, defaults: EventDefaults) -> AsyncScopedTrail<S> {
        AsyncScopedTrail {
            trail: self.clone(),
            defaults: Arc::new(defaults),
        }
    }

    /// Records one event and returns it as stored, once it is durable: see
    /// [`AuditTrail::record`].
    ///
    /// # Errors
    /// As [`AuditTrail::record`]; [`Error::OutcomeUnknown`] if the writer stopped.
    pub async fn record(&self, event: NewEvent) -> Result<Event> {
        let mut events = self.record_batch(vec![event]).await?;
        Ok(events.remove(0))
    }

    /// Records several events atomically: see [`AuditTrail::record_batch`].
    ///
    /// # Errors
    /// As [`AsyncAuditTrail::record`]; an invalid event fails the whole batch, naming its
    /// index.
    pub async fn record_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (drafts, out) = self.shared.trail.prepare_batch(events)?;
        let (reply, answer) = oneshot::channel();
        let job = WriteJob { drafts, out, reply };
        self.shared
            .writes
            .send(job)
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Runs `f` on a reader thread with the synchronous trail and returns what it returns:
    /// for anything this type does not wrap (proofs, bundles, purges, erasure).
    ///
    /// # Errors
    /// What `f` returns; [`Error::Storage`] if the reader stopped (`f` panicked).
    pub async fn run_blocking<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&AuditTrail<S>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let trail = self.shared.trail.clone();
        let job: ReadJob = Box::new(move || {
            let _ = reply.send(f(&trail));
        });
        self.shared.reads.run(job).await?;
        answer.await.map_err(|_| reader_gone())?
    }

    /// One page of `query`: see [`AuditTrail::query`].
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub async fn query(&self, query: &Query) -> Result<Page> {
        let q = query.clone();
        self.run_blocking(move |t| t.query(&q)).await
    }

    /// How many events match `query`: see [`AuditTrail::count`].
    ///
    /// # Errors
    /// As [`AuditTrail::count`].
    pub async fn count(&self, query: &Query) -> Result<u64> {
        let q = query.clone();
        self.run_blocking(move |t| t.count(&q)).await
    }

    /// Counts per action, actor or day: see [`AuditTrail::summarize`].
    ///
    /// # Errors
    /// As [`AuditTrail::summarize`].
    pub async fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        let (q, by) = (query.clone(), by.clone());
        self.run_blocking(move |t| t.summarize(&q, &by)).await
    }

    /// Every event whose target is exactly `target`, newest first, across tenants: see
    /// [`AuditTrail::history`] (and [`AsyncScopedTrail::history`] for one tenant's).
    ///
    /// # Errors
    /// As [`AuditTrail::history`].
    pub async fn history(&self, target: &Target) -> Result<Vec<Event>> {
        let target = target.clone();
        self.run_blocking(move |t| t.history(&target)).await
    }

    /// The event with this id: see [`AuditTrail::get`].
    ///
    /// # Errors
    /// As [`AuditTrail::get`].
    pub async fn get(&self, id: uuid::Uuid) -> Result<Option<Event>> {
        self.run_blocking(move |t| t.get(id)).await
    }

    /// Verifies the whole log: see [`AuditTrail::verify`].
    ///
    /// # Errors
    /// As [`AuditTrail::verify`].
    pub async fn verify(&self) -> Result<VerifyReport> {
        self.run_blocking(AuditTrail::verify).await
    }

    /// Verifies the log against a checkpoint kept outside it: see
    /// [`AuditTrail::verify_against`].
    ///
    /// # Errors
    /// As [`AuditTrail::verify_against`].
    pub async fn verify_against(&self, checkpoint: &Checkpoint) -> Result<VerifyReport> {
        let cp = checkpoint.clone();
        self.run_blocking(move |t| t.verify_against(&cp)).await
    }

    /// A checkpoint of the log as it stands: see [`AuditTrail::checkpoint`].
    ///
    /// # Errors
    /// As [`AuditTrail::checkpoint`].
    pub async fn checkpoint(&self) -> Result<Checkpoint> {
        self.run_blocking(AuditTrail::checkpoint).await
    }

    /// The events matching `query` as CSV (see [`AuditTrail::export_csv`]), streamed in
    /// chunks of about 64 KiB while a reader thread writes them: hand the stream to an HTTP
    /// response body (`axum::body::Body::from_stream`). Dropping the stream stops the
    /// export.
    ///
    /// # Errors
    /// [`Error::Storage`] if no reader could take the export; the export's own errors come
    /// as the stream's last item.
    pub async fn export_csv(&self, query: &Query) -> Result<ExportStream> {
        let q = query.clone();
        self.export(move |t, out| t.export_csv(&q, out)).await
    }

    /// The events matching `query` as CSV with `options` (local-time, request-context and
    /// related-target columns, a chosen column set: see [`AuditTrail::export_csv_with`]),
    /// streamed as [`AsyncAuditTrail::export_csv`] streams.
    ///
    /// # Errors
    /// As [`AsyncAuditTrail::export_csv`]; bad options come as the stream's only item.
    pub async fn export_csv_with(
        &self,
        query: &Query,
        options: &CsvOptions,
    ) -> Result<ExportStream> {
        let (q, options) = (query.clone(), options.clone());
        self.export(move |t, out| t.export_csv_with(&q, &options, out))
            .await
    }

    /// The events matching `query` as JSON lines (see [`AuditTrail::export_jsonl`]),
    /// streamed as [`AsyncAuditTrail::export_csv`] streams CSV.
    ///
    /// # Errors
    /// As [`AsyncAuditTrail::export_csv`].
    pub async fn export_jsonl(&self, query: &Query) -> Result<ExportStream> {
        let q = query.clone();
        self.export(move |t, out| t.export_jsonl(&q, out)).await
    }

    async fn export<F>(&self, write: F) -> Result<ExportStream>
    where
        F: FnOnce(&AuditTrail<S>, &mut Chunks) -> Result<u64> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        let trail = self.shared.trail.clone();
        let job: ReadJob = Box::new(move || {
            let mut chunks = Chunks {
                tx,
                buf: Vec::with_capacity(CHUNK_BYTES),
            };
            let result = write(&trail, &mut chunks);
            if chunks.tx.is_closed() {
                return;
            }
            match result.and_then(|_| chunks.send().map_err(Error::from)) {
                Ok(()) => {}
                Err(e) => {
                    let _ = chunks.tx.blocking_send(Err(e));
                }
            }
        });
        self.shared.exports.run(job).await?;
        Ok(ExportStream { rx })
    }

    /// Records one event inside the app's own sqlx transaction: see
    /// [`AuditTrail::record_in_sqlx`]. Runs on the calling task (its I/O is sqlx's, async);
    /// the writer thread is not involved.
    ///
    /// # Errors
    /// As [`AuditTrail::record_in_sqlx`].
    #[cfg(feature = "sqlx")]
    pub async fn record_in_sqlx<C: ?Sized>(&self, conn: &mut C, event: NewEvent) -> Result<Event>
    where
        S: crate::store::AppendWithinAsync<C>,
    {
        self.shared.trail.record_in_sqlx(conn, event).await
    }
}

/// An export's bytes as a [`futures_core::Stream`] of chunks (`Result<Bytes, Error>`), made
/// by [`AsyncAuditTrail::export_csv`] and [`AsyncAuditTrail::export_jsonl`].
#[derive(Debug)]
pub struct ExportStream {
    rx: mpsc::Receiver<Result<Bytes>>,
}

impl futures_core::Stream for ExportStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl ExportStream {
    /// Every remaining chunk, joined: for tests and small exports.
    ///
    /// # Errors
    /// The export's error, if it failed.
    pub async fn collect_bytes(mut self) -> Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.rx.recv().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }
}

/// The `Write` an export runs into on its reader thread: full chunks go to the stream.
struct Chunks {
    tx: mpsc::Sender<Result<Bytes>>,
    buf: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut chunk = Ok(Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        )));
        let since = Instant::now();
        loop {
            chunk = match self.tx.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(chunk)) if since.elapsed() < EXPORT_STALL => {
                    // Polled rather than awaited: this runs on a plain thread, and a wait
                    // without a deadline is what a stalled client would turn into a hang.
                    std::thread::sleep(Duration::from_millis(5));
                    chunk
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the export's stream was not read for 30 seconds",
                    ))
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the export's stream was dropped",
                    ))
                }
            };
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks go out when full or at the end: a flush from the CSV writer is no reason to
        // send a small one.
        Ok(())
    }
}

/// An [`AsyncAuditTrail`] handle whose events get [`EventDefaults`] wherever they leave them
/// unset, its reads held to the defaults' tenant: the async twin of
/// [`crate::ScopedTrail`], made with [`AsyncAuditTrail::scoped`]. Cheap to clone and
/// `Send + 'static`: move a clone into `tokio::spawn` to record from a background task with
/// the request's tenant, actor and request id (see [`EventDefaults`] for jobs that outlive
/// the process's memory of the request).
pub struct AsyncScopedTrail<S> {
    trail: AsyncAuditTrail<S>,
    defaults: Arc<EventDefaults>,
}

impl<S> Clone for AsyncScopedTrail<S> {
    fn clone(&self) -> Self {
        AsyncScopedTrail {
            trail: self.trail.clone(),
            defaults: Arc::clone(&self.defaults),
        }
    }
}

impl<S> std::fmt::Debug for AsyncScopedTrail<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncScopedTrail")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl<S: AuditStore + 'static> AsyncScopedTrail<S> {
    /// The defaults its events get.
    pub fn defaults(&self) -> &EventDefaults {
        &self.defaults
    }

    /// The whole async trail, without defaults or a tenant limit.
    pub fn trail(&self) -> &AsyncAuditTrail<S> {
        &self.trail
    }

    /// The same trail with other defaults (see [`crate::ScopedTrail::with`]).
    #[must_use]
    pub fn with(&self, change: impl FnOnce(EventDefaults) -> EventDefaults) -> Self {
        AsyncScopedTrail {
            trail: self.trail.clone(),
            defaults: Arc::new(change((*self.defaults).clone())),
        }
    }

    /// Records `event` with the defaults filled in: see [`AsyncAuditTrail::record`].
    ///
    /// # Errors
    /// As [`AsyncAuditTrail::record`].
    pub async fn record(&self, event: NewEvent) -> Result<Event> {
        self.trail.record(self.defaults.apply(event)).await
    }

    /// Records `events` atomically, each with the defaults filled in.
    ///
    /// # Errors
    /// As [`AsyncAuditTrail::record_batch`].
    pub async fn record_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        let events = events.into_iter().map(|e| self.defaults.apply(e)).collect();
        self.trail.record_batch(events).await
    }

    /// One page of `query`, held to the scope's tenant (see [`crate::ScopedTrail::query`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] (field `query.tenant`) for a query naming another tenant; as
    /// [`AuditTrail::query`].
    pub async fn query(&self, query: &Query) -> Result<Page> {
        let q = scoped::within_tenant(self.defaults.tenant.as_deref(), query)?;
        self.trail.query(&q).await
    }

    /// How many events match `query`, held to the scope's tenant.
    ///
    /// # Errors
    /// As [`AsyncScopedTrail::query`].
    pub async fn count(&self, query: &Query) -> Result<u64> {
        let q = scoped::within_tenant(self.defaults.tenant.as_deref(), query)?;
        self.trail.count(&q).await
    }

    /// Every event of the scope's tenant whose target is exactly `target`, newest first.
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub async fn history(&self, target: &Target) -> Result<Vec<Event>> {
        let q = scoped::history_query(self.defaults.tenant.as_deref(), target);
        self.trail.run_blocking(move |t| t.all(&q)).await
    }

    /// The matching events of the scope's tenant as streamed CSV (see
    /// [`AsyncAuditTrail::export_csv`]).
    ///
    /// # Errors
    /// As [`AsyncScopedTrail::query`] and [`AsyncAuditTrail::export_csv`].
    pub async fn export_csv(&self, query: &Query) -> Result<ExportStream> {
        let q = scoped::within_tenant(self.defaults.tenant.as_deref(), query)?;
        self.trail.export_csv(&q).await
    }

    /// The matching events of the scope's tenant as streamed CSV with `options` (see
    /// [`AsyncAuditTrail::export_csv_with`]).
    ///
    /// # Errors
    /// As [`AsyncScopedTrail::export_csv`].
    pub async fn export_csv_with(
        &self,
        query: &Query,
        options: &CsvOptions,
    ) -> Result<ExportStream> {
        let q = scoped::within_tenant(self.defaults.tenant.as_deref(), query)?;
        self.trail.export_csv_with(&q, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, MemoryStore};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn records_reads_and_streams_an_export() {
        runtime().block_on(async {
            let trail = AsyncAuditTrail::builder(AuditTrail::new(MemoryStore::new()))
                .queue_capacity(4)
                .read_threads(1)
                .build()
                .unwrap();
            // Spawned, so all 50 wait at once and share group commits.
            let calls: Vec<_> = (0..50)
                .map(|i| {
                    let t = trail.clone();
                    tokio::spawn(async move {
                        t.record(NewEvent::new("booking.created").context("i", i))
                            .await
                    })
                })
                .collect();
            let mut seqs: Vec<u64> = Vec::new();
            for (i, c) in calls.into_iter().enumerate() {
                let e = c.await.unwrap().unwrap();
                assert_eq!(e.context.get("i"), Some(&serde_json::json!(i)));
                seqs.push(e.seq);
            }
            seqs.sort_unstable();
            assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
            assert_eq!(trail.count(&Query::new()).await.unwrap(), 50);
            let csv = trail
                .export_csv(&Query::new())
                .await
                .unwrap()
                .collect_bytes()
                .await
                .unwrap();
            assert_eq!(csv.iter().filter(|b| **b == b'\n').count(), 51);
            assert!(trail.verify().await.unwrap().is_ok());
        });
    }

    #[test]
    fn an_invalid_event_fails_at_once_and_a_scope_fills_its_defaults() {
        runtime().block_on(async {
            let trail = AsyncAuditTrail::new(AuditTrail::new(MemoryStore::new())).unwrap();
            let err = trail
                .record(NewEvent::new("Not An Action"))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{err}");
            let scope = trail.scoped(
                EventDefaults::new()
                    .tenant("clinic-42")
                    .actor(Actor::user("u-17")),
            );
            let background = scope.clone();
            let e =
                tokio::spawn(
                    async move { background.record(NewEvent::new("booking.created")).await },
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (e.tenant.as_deref(), e.actor.id.as_str()),
                (Some("clinic-42"), "u-17")
            );
            assert_eq!(scope.count(&Query::new()).await.unwrap(), 1);
            assert!(scope.query(&Query::new().tenant("x")).await.is_err());
        });
    }

    #[test]
    fn an_unread_export_holds_up_no_query_and_a_dropped_one_stops() {
        runtime().block_on(async {
            let trail = AsyncAuditTrail::builder(AuditTrail::new(MemoryStore::new()))
                .read_threads(1)
                .export_threads(1)
                .build()
                .unwrap();
            // Far more CSV than the chunks an export may run ahead of its reader.
            let events = (0..3_000)
                .map(|i| NewEvent::new("booking.created").context("note", "x".repeat(200 + i % 7)))
                .collect();
            trail.record_batch(events).await.unwrap();
            let stalled = trail.export_csv(&Query::new()).await.unwrap();
            let patience = std::time::Duration::from_secs(10);
            let count = tokio::time::timeout(patience, trail.count(&Query::new())).await;
            assert_eq!(
                count.expect("a query waited for an unread export").unwrap(),
                3_000
            );
            // The one export thread is free again once the stalled stream is dropped.
            drop(stalled);
            let next = tokio::time::timeout(patience, async {
                trail.export_csv(&Query::new()).await?.collect_bytes().await
            })
            .await
            .expect("a dropped export kept its thread")
            .unwrap();
            assert_eq!(next.iter().filter(|b| **b == b'\n').count(), 3_001);
        });
    }

    #[test]
    fn a_panicking_read_leaves_the_pool_working() {
        runtime().block_on(async {
            let trail = AsyncAuditTrail::builder(AuditTrail::new(MemoryStore::new()))
                .read_threads(1)
                .build()
                .unwrap();
            let err = trail
                .run_blocking(|_| -> Result<()> { panic!("a store's bug") })
                .await
                .unwrap_err();
            assert!(err.to_string().contains("reader stopped"), "{err}");
            assert_eq!(trail.count(&Query::new()).await.unwrap(), 0);
        });
    }
}
