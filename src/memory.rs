//! [`MemoryStore`]: the reference store, kept in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::sealed::SealedEvent;
use crate::store::{check_batch, AuditStore, Head};
use crate::{Error, Result};

/// An [`AuditStore`] in memory: the reference implementation and the oracle in tests.
///
/// Nothing survives the process. Queries use the provided scan-and-filter methods of
/// [`AuditStore`], which makes this store the executable definition of query semantics.
#[derive(Debug)]
pub struct MemoryStore {
    log_id: String,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    events: Vec<SealedEvent>,
    head: Head,
    by_id: HashMap<Uuid, usize>,
    by_key: HashMap<String, usize>,
}

impl MemoryStore {
    /// An empty store with a fresh random log id.
    pub fn new() -> Self {
        MemoryStore {
            log_id: Uuid::new_v4().to_string(),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied append (appends build
        // everything before pushing), so the data behind a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditStore for MemoryStore {
    fn log_id(&self) -> Result<String> {
        Ok(self.log_id.clone())
    }

    fn head(&self) -> Result<Head> {
        Ok(self.lock().head.clone())
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let mut inner = self.lock();
        if inner.head.seq != expected {
            return Err(Error::Conflict {
                expected,
                actual: inner.head.seq,
            });
        }
        check_batch(expected, batch, new_head)?;
        let mut keys = std::collections::HashSet::new();
        for e in batch {
            let dup_key = e
                .idempotency_key
                .as_ref()
                .is_some_and(|k| inner.by_key.contains_key(k) || !keys.insert(k));
            if dup_key || inner.by_id.contains_key(&e.id) {
                return Err(Error::Conflict {
                    expected,
                    actual: inner.head.seq,
                });
            }
        }
        for e in batch {
            let idx = inner.events.len();
            inner.by_id.insert(e.id, idx);
            if let Some(k) = &e.idempotency_key {
                inner.by_key.insert(k.clone(), idx);
            }
            inner.events.push(e.clone());
        }
        inner.head = new_head.clone();
        Ok(())
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let inner = self.lock();
        let start = inner.events.partition_point(|e| e.seq < from);
        Ok(inner.events[start..].iter().take(limit).cloned().collect())
    }

    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        let inner = self.lock();
        Ok(inner.by_id.get(&id).map(|&i| inner.events[i].clone()))
    }

    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        let inner = self.lock();
        Ok(inner.by_key.get(key).map(|&i| inner.events[i].clone()))
    }
}
