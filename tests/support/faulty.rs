//! A store wrapper that injects faults into the N-th append, for fault-injection tests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use auditkit::query::Query;
use auditkit::{AuditStore, Error, Head, Result, SealedEvent, SealedEventRef};
use uuid::Uuid;

/// What goes wrong on the chosen append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The append fails before anything is written.
    FailBefore,
    /// The store reports busy (nothing written).
    Busy,
    /// The append commits, then the error surfaces (a connection lost during COMMIT).
    FailAfterCommit,
    /// As `FailAfterCommit`, and the read-back that follows fails too.
    FailAfterCommitUnreadable,
    /// The append fails before writing, and the read-back that follows fails too.
    FailBeforeUnreadable,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::FailBefore,
        Fault::Busy,
        Fault::FailAfterCommit,
        Fault::FailAfterCommitUnreadable,
        Fault::FailBeforeUnreadable,
    ];

    /// Whether the faulty append still stores the batch.
    pub fn commits(self) -> bool {
        matches!(
            self,
            Fault::FailAfterCommit | Fault::FailAfterCommitUnreadable
        )
    }
}

/// Wraps `inner` and injects `fault` into the `fail_at`-th call of `append` (1-based).
#[derive(Debug)]
pub struct FaultyStore<S> {
    pub inner: S,
    fault: Fault,
    fail_at: u64,
    appends: AtomicU64,
    fail_next_read: AtomicBool,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S, fault: Fault, fail_at: u64) -> Self {
        FaultyStore {
            inner,
            fault,
            fail_at,
            appends: AtomicU64::new(0),
            fail_next_read: AtomicBool::new(false),
        }
    }

    fn read_fault(&self) -> Result<()> {
        if self.fail_next_read.swap(false, Ordering::SeqCst) {
            return Err(Error::storage("injected: the read-back failed"));
        }
        Ok(())
    }
}

impl<S: AuditStore> AuditStore for FaultyStore<S> {
    fn log_id(&self) -> Result<String> {
        self.inner.log_id()
    }

    fn head(&self) -> Result<Head> {
        self.inner.head()
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.fail_at {
            return self.inner.append(expected, batch, new_head);
        }
        let lost = || Error::storage("injected: the connection was lost during commit");
        match self.fault {
            Fault::FailBefore => Err(Error::storage("injected: disk I/O error")),
            Fault::Busy => Err(Error::busy("injected: database is locked")),
            Fault::FailAfterCommit => {
                self.inner.append(expected, batch, new_head)?;
                Err(lost())
            }
            Fault::FailAfterCommitUnreadable => {
                self.inner.append(expected, batch, new_head)?;
                self.fail_next_read.store(true, Ordering::SeqCst);
                Err(lost())
            }
            Fault::FailBeforeUnreadable => {
                self.fail_next_read.store(true, Ordering::SeqCst);
                Err(lost())
            }
        }
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        self.read_fault()?;
        self.inner.read(from, limit)
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        self.read_fault()?;
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
}

/// Wraps `inner` and reports a head one event behind the real one, as a store would after
/// someone inserted an event without moving the head.
#[derive(Debug)]
pub struct LaggingHead<S>(pub S);

impl<S: AuditStore> AuditStore for LaggingHead<S> {
    fn log_id(&self) -> Result<String> {
        self.0.log_id()
    }

    fn head(&self) -> Result<Head> {
        let real = self.0.head()?;
        if real.seq == 0 {
            return Ok(real);
        }
        let before = self.0.read(real.seq - 1, 1)?;
        let hash = before.first().map(|e| e.hash).unwrap_or_default();
        Ok(Head::new(real.seq - 1, hash, Vec::new()))
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        self.0.append(expected, batch, new_head)
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        self.0.read(from, limit)
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        self.0.read_each(from, limit, visit)
    }
}

/// Wraps `inner` and, against the store contract, keeps only the first event of a batch of
/// several before failing: the trail must not call that a success or a clean failure.
#[derive(Debug)]
pub struct PartialBatch<S>(pub S);

impl<S: AuditStore> AuditStore for PartialBatch<S> {
    fn log_id(&self) -> Result<String> {
        self.0.log_id()
    }

    fn head(&self) -> Result<Head> {
        self.0.head()
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        if batch.len() < 2 {
            return self.0.append(expected, batch, new_head);
        }
        let head = Head::new(expected + 1, batch[0].hash, Vec::new());
        self.0.append(expected, &batch[..1], &head)?;
        Err(Error::storage("injected: the rest of the batch was lost"))
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        self.0.read(from, limit)
    }
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()> {
        self.0.read_each(from, limit, visit)
    }
}
