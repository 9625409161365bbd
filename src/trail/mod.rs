//! [`AuditTrail`]: validate → redact → stamp → seal → store, with group commit.
//!
//! Layer: the pipeline users call (prepare, group commit, reads, exports, retention,
//! erasure); uses every layer below it but no backend.

#[cfg(feature = "async")]
pub(crate) mod async_trail;
mod bundle;
pub(crate) mod config;
pub(crate) mod erasure;
pub(crate) mod export;
pub(crate) mod pages;
mod prepare;
mod prove;
pub(crate) mod retention;
#[cfg(feature = "sign")]
mod sign;

mod commit;
mod idempotency;
use commit::{State, Stored};
mod read;
pub(crate) mod scoped;
#[cfg(test)]
mod serde_tests;
pub(crate) mod verify;

use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::model::event::Event;
use crate::model::new_event::NewEvent;
use crate::store::sealed::SealedEvent;
#[cfg(feature = "sqlx")]
use crate::store::{append::Prefetched, AppendWithinAsync, TargetKey};
use crate::store::{AppendWithin, AuditStore};
use crate::trail::config::{normalize, TrailConfig};
use crate::{Error, Result};

/// The audit trail: records events into a store and reads, verifies and exports them.
///
/// `AuditTrail` is `Send + Sync` and cheap to clone (an `Arc` inside): share one per store.
/// It is synchronous; from async code call it inside `spawn_blocking`.
///
/// Concurrent [`record`](AuditTrail::record) calls are grouped into one store transaction
/// (group commit); each call still returns only after its own event is durable.
pub struct AuditTrail<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for AuditTrail<S> {
    fn clone(&self) -> Self {
        AuditTrail {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for AuditTrail<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<S> {
    store: S,
    config: TrailConfig,
    log_id: OnceLock<String>,
    state: Mutex<State>,
    done: Condvar,
    /// Signalled when a job is queued while a leader gathers its group.
    arrived: Condvar,
    /// The tip the last `record_in` sealed up to: used only when the head an append inside a
    /// transaction locks is exactly its head (the app committed), so a rollback leaves
    /// nothing behind that could be used.
    within_tip: Mutex<Option<commit::Tip>>,
}

/// Builds an [`AuditTrail`] with non-default settings.
#[derive(Debug)]
#[must_use]
pub struct TrailBuilder<S> {
    store: S,
    config: TrailConfig,
}

impl<S: AuditStore> TrailBuilder<S> {
    /// Largest canonical JSON of `before` + `after` + `context` together, in bytes
    /// (default [`crate::DEFAULT_MAX_PAYLOAD_BYTES`], 64 KiB).
    pub fn max_payload_bytes(mut self, n: usize) -> Self {
        self.config.max_payload_bytes = n;
        self
    }

    /// Replaces the keys masked before storage (default [`crate::DEFAULT_REDACT_KEYS`]).
    pub fn redact_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.config.redact_keys = keys.into_iter().map(|k| normalize(k.as_ref())).collect();
        self
    }

    /// Adds to the keys masked before storage.
    pub fn also_redact<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.config
            .redact_keys
            .extend(keys.into_iter().map(|k| normalize(k.as_ref())));
        self
    }

    /// Top-level keys of `before`, `after` and `context` that hold personal data (phone,
    /// email, address...): they are stored as erasable values with a salted commitment, like
    /// actor names and target labels. Applies to events recorded from now on (default: none).
    pub fn personal_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.config.personal_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The trail.
    pub fn build(self) -> AuditTrail<S> {
        AuditTrail {
            inner: Arc::new(Inner {
                store: self.store,
                config: self.config,
                log_id: OnceLock::new(),
                state: Mutex::default(),
                done: Condvar::new(),
                arrived: Condvar::new(),
                within_tip: Mutex::default(),
            }),
        }
    }
}

impl<S: AuditStore> AuditTrail<S> {
    /// A trail over `store` with default settings.
    pub fn new(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder for a trail over `store`.
    pub fn builder(store: S) -> TrailBuilder<S> {
        TrailBuilder {
            store,
            config: TrailConfig::default(),
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The log's id, as the store reports it.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn log_id(&self) -> Result<&str> {
        if let Some(id) = self.inner.log_id.get() {
            return Ok(id);
        }
        let id = self.inner.store.log_id()?;
        Ok(self.inner.log_id.get_or_init(|| id))
    }

    /// Records one event and returns it as stored.
    ///
    /// Returns once the event is durable. With an idempotency key already recorded, returns
    /// the event recorded first and stores nothing.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field for bad input (nothing is stored); [`Error::Busy`]
    /// when the database stays locked; storage errors. [`Error::OutcomeUnknown`] when the store
    /// failed in a way that leaves open whether the event was committed.
    pub fn record(&self, event: NewEvent) -> Result<Event> {
        let mut events = self.record_batch(vec![event])?;
        Ok(events.remove(0))
    }

    /// Records several events atomically: all are stored, contiguously and in order, or none.
    ///
    /// # Errors
    /// As [`AuditTrail::record`]; an invalid event fails the whole batch, naming its index.
    pub fn record_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (drafts, out) = self.prepare_batch(events)?;
        self.log_id()?;
        let stored = self.submit(drafts)?;
        fill(out, stored)
    }

    /// Records one event inside the application's own open transaction `tx`, so that the
    /// app's changes and their audit event commit together or not at all.
    ///
    /// For a [`crate::sqlite::SqliteStore`], `tx` is `&rusqlite::Transaction` (or
    /// `&Savepoint`) on a connection to the store's file: the app's own database, opened with
    /// [`crate::sqlite::SqliteStore::adopt`] (README, "Recording inside your transaction").
    /// The head is read and the event sealed inside `tx`, which holds the log's write lock
    /// from then until it ends. The returned event is real once the caller commits `tx`; a
    /// rollback leaves no event, no gap in `seq`, and nothing cached in the trail. Begin the
    /// transaction with `TransactionBehavior::Immediate`: a `DEFERRED` one that read before
    /// another writer appended cannot take the lock.
    ///
    /// Idempotency keys are honoured as by [`AuditTrail::record`] (looked up inside `tx`).
    /// Inside `tx`, record with `record_in` only: a plain [`AuditTrail::record`] on another
    /// connection waits for `tx`'s lock (and fails with [`Error::Busy`] after the timeout).
    ///
    /// # Errors
    /// [`Error::Invalid`] for bad input or a `tx` on another database;
    /// [`Error::RetryTransaction`] when `tx` must be rolled back and run again. Either way,
    /// and for any other error, `tx` is left open and as it was: nothing of the event in
    /// it, the app's own writes kept; the caller decides whether to commit.
    pub fn record_in<T>(&self, tx: T, event: NewEvent) -> Result<Event>
    where
        S: AppendWithin<T>,
    {
        let mut events = self.record_batch_in(tx, vec![event])?;
        Ok(events.remove(0))
    }

    /// Records several events inside the application's own open transaction `tx`,
    /// contiguously and in order: see [`AuditTrail::record_in`].
    ///
    /// # Errors
    /// As [`AuditTrail::record_in`]; an invalid event fails the whole batch, naming its index.
    pub fn record_batch_in<T>(&self, tx: T, events: Vec<NewEvent>) -> Result<Vec<Event>>
    where
        S: AppendWithin<T>,
    {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (drafts, out) = self.prepare_batch(events)?;
        let log_id = self.log_id()?.to_owned();
        let append = self.inner.store.begin_append_within(tx)?;
        let stored = self.append_within(&log_id, append, drafts)?;
        fill(out, stored)
    }

    /// Records one event inside the application's own transaction on an asynchronous
    /// connection: for an `AuditTrail<PgStore>`, `conn` is the app's `&mut sqlx::PgConnection`
    /// (what a `sqlx::Transaction<Postgres>` derefs to: `trail.record_in_sqlx(&mut *tx,
    /// event).await`). As [`AuditTrail::record_in`] otherwise: the event is sealed against the
    /// head locked inside the transaction and is real once the caller commits. The statements
    /// are the `postgres` path's, bound by sqlx; sealing runs between them without I/O.
    ///
    /// # Errors
    /// As [`AuditTrail::record_in`].
    #[cfg(feature = "sqlx")]
    pub async fn record_in_sqlx<C: ?Sized>(&self, conn: &mut C, event: NewEvent) -> Result<Event>
    where
        S: AppendWithinAsync<C>,
    {
        let mut events = self.record_batch_in_sqlx(conn, vec![event]).await?;
        Ok(events.remove(0))
    }

    /// Records several events inside the application's own transaction on an asynchronous
    /// connection, contiguously and in order: see [`AuditTrail::record_in_sqlx`].
    ///
    /// # Errors
    /// As [`AuditTrail::record_in`]; an invalid event fails the whole batch, naming its index.
    #[cfg(feature = "sqlx")]
    pub async fn record_batch_in_sqlx<C: ?Sized>(
        &self,
        conn: &mut C,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>>
    where
        S: AppendWithinAsync<C>,
    {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (drafts, out) = self.prepare_batch(events)?;
        let log_id = self.log_id()?.to_owned();
        let keys: Vec<String> = drafts
            .iter()
            .filter_map(|d| d.idempotency_key.clone())
            .collect();
        let wanted = commit::link_keys_of(&drafts)?;
        let targets: Vec<TargetKey<'_>> = wanted.iter().map(commit::target_key).collect();
        let store = &self.inner.store;
        let locked = store.lock_within(conn, &keys, &targets).await?;
        let mut pushed = None;
        let sealed = {
            let append = Box::new(Prefetched {
                locked,
                targets: &targets,
                pushed: &mut pushed,
            });
            self.append_within(&log_id, append, drafts)
        };
        match (sealed, pushed) {
            (Ok(stored), Some((batch, head))) => {
                store.push_within(conn, &batch, &head).await?;
                fill(out, stored)
            }
            (Ok(stored), None) => {
                store.abandon_within(conn).await?;
                fill(out, stored)
            }
            (Err(e), _) => {
                // The error says what went wrong; ending the append cannot change that.
                let _ = store.abandon_within(conn).await;
                Err(e)
            }
        }
    }

    /// Validates and prepares `events`: each one's draft, and the event it becomes once the
    /// store stamps its place.
    fn prepare_batch(&self, events: Vec<NewEvent>) -> Result<(Vec<SealedEvent>, Vec<Event>)> {
        let many = events.len() > 1;
        Ok(events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                e.prepare_with_event(&self.inner.config)
                    .map_err(|err| match err {
                        Error::Invalid { field, problem } if many => Error::Invalid {
                            field: format!("events[{i}].{field}"),
                            problem,
                        },
                        other => other,
                    })
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip())
    }
}

/// The prepared events `out` with what storing them gave.
fn fill(mut out: Vec<Event>, stored: Vec<Stored>) -> Result<Vec<Event>> {
    for (event, s) in out.iter_mut().zip(stored) {
        match s {
            // The event prepared with the draft is what decoding the stored one gives.
            Stored::Own(stamp) => {
                event.seq = stamp.seq;
                event.id = stamp.id;
                event.recorded_at = stamp.recorded_at;
                event.prev_hash = stamp.prev_hash;
                event.hash = stamp.hash;
            }
            Stored::Other(sealed) => *event = sealed.decode()?,
        }
    }
    Ok(out)
}
