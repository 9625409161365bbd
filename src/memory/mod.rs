//! [`MemoryStore`]: the reference store, kept in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::store::sealed::SealedEvent;
use crate::store::{check_batch, check_purge, AuditStore, Head, PersonalPath};
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
    anchor: Option<Head>,
    /// Seq of each event by id and by idempotency key.
    by_id: HashMap<Uuid, u64>,
    by_key: HashMap<String, u64>,
}

impl Inner {
    fn at(&self, seq: u64) -> Option<&SealedEvent> {
        let i = self.events.partition_point(|e| e.seq < seq);
        self.events.get(i).filter(|e| e.seq == seq)
    }
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

// No `#[deny(clippy::missing_trait_methods)]` here, unlike the SQL stores and the forwarding
// impls: `read_each`, `query`, `count`, `summarize` and `check_storage` are left to the provided
// methods on purpose, because this store is the reference that runs them (the trait's
// scan-and-filter fallbacks are what the SQL stores are compared with).
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
            inner.by_id.insert(e.id, e.seq);
            if let Some(k) = &e.idempotency_key {
                inner.by_key.insert(k.clone(), e.seq);
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
        Ok(inner.by_id.get(&id).and_then(|&s| inner.at(s)).cloned())
    }

    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        let inner = self.lock();
        Ok(inner.by_key.get(key).and_then(|&s| inner.at(s)).cloned())
    }

    fn purge_anchor(&self) -> Result<Option<Head>> {
        Ok(self.lock().anchor.clone())
    }

    fn purge(&self, anchor: &Head) -> Result<()> {
        let mut inner = self.lock();
        check_purge(inner.anchor.as_ref(), &inner.head, anchor)?;
        let cut = inner.events.partition_point(|e| e.seq <= anchor.seq);
        let gone: Vec<SealedEvent> = inner.events.drain(..cut).collect();
        for e in &gone {
            inner.by_id.remove(&e.id);
            if let Some(k) = &e.idempotency_key {
                inner.by_key.remove(k);
            }
        }
        inner.anchor = (anchor.seq > 0).then(|| anchor.clone());
        Ok(())
    }

    fn erase(&self, fields: &[(u64, PersonalPath)]) -> Result<()> {
        let mut inner = self.lock();
        for (seq, path) in fields {
            let i = inner.events.partition_point(|e| e.seq < *seq);
            if let Some(e) = inner.events.get_mut(i).filter(|e| e.seq == *seq) {
                for p in e.personal.iter_mut().filter(|p| &p.path == path) {
                    p.value = None;
                }
            }
        }
        Ok(())
    }
}
