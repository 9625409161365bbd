//! [`MemoryStore`]: the reference store, kept in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::store::sealed::SealedEvent;
use crate::store::{
    append_through, check_batch, check_purge, Append, AuditStore, Head, PersonalPath, TargetKey,
};
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
    /// The newest stored event of each (tenant, kind, id) the events involve.
    by_target: HashMap<(Option<String>, String, String), u64>,
}

impl Inner {
    fn at(&self, seq: u64) -> Option<&SealedEvent> {
        let i = self.events.partition_point(|e| e.seq < seq);
        self.events.get(i).filter(|e| e.seq == seq)
    }

    fn newest_involving(&self, targets: &[TargetKey<'_>]) -> Vec<u64> {
        targets
            .iter()
            .map(|t| {
                let key = (
                    t.tenant.map(str::to_owned),
                    t.kind.to_owned(),
                    t.id.to_owned(),
                );
                self.by_target.get(&key).copied().unwrap_or(0)
            })
            .collect()
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

/// An append holding the store's lock from the head read to the commit: the reference for
/// what a locking store does.
struct MemoryAppend<'a> {
    inner: MutexGuard<'a, Inner>,
    /// The head after the last push.
    head: Head,
    pending: Vec<SealedEvent>,
}

impl Append for MemoryAppend<'_> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn newest(&mut self) -> Result<Option<SealedEvent>> {
        Ok(self.inner.at(self.inner.head.seq).cloned())
    }

    fn purge_anchor(&mut self) -> Result<Option<Head>> {
        Ok(self.inner.anchor.clone())
    }

    fn find_by_key(&mut self, key: &str) -> Result<Option<SealedEvent>> {
        Ok(self
            .inner
            .by_key
            .get(key)
            .and_then(|&s| self.inner.at(s))
            .cloned())
    }

    fn newest_involving(&mut self, targets: &[TargetKey<'_>]) -> Result<Option<Vec<u64>>> {
        Ok(Some(self.inner.newest_involving(targets)))
    }

    fn push(&mut self, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        check_batch(self.head.seq, batch, new_head)?;
        let mut keys: std::collections::HashSet<&str> = self
            .pending
            .iter()
            .filter_map(|e| e.idempotency_key.as_deref())
            .collect();
        for e in batch {
            let dup_key = e
                .idempotency_key
                .as_deref()
                .is_some_and(|k| self.inner.by_key.contains_key(k) || !keys.insert(k));
            let dup_id =
                self.inner.by_id.contains_key(&e.id) || self.pending.iter().any(|p| p.id == e.id);
            if dup_key || dup_id {
                return Err(Error::Conflict {
                    expected: self.head.seq,
                    actual: self.head.seq,
                });
            }
        }
        self.pending.extend_from_slice(batch);
        self.head = new_head.clone();
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let MemoryAppend {
            mut inner,
            head,
            pending,
        } = *self;
        for e in pending {
            inner.by_id.insert(e.id, e.seq);
            if let Some(k) = &e.idempotency_key {
                inner.by_key.insert(k.clone(), e.seq);
            }
            // A store keeps what it is given; an event whose targets cannot be read is
            // stored all the same and indexes none (verify reports it).
            for (kind, id) in e.involved().unwrap_or_default() {
                inner.by_target.insert((e.tenant.clone(), kind, id), e.seq);
            }
            inner.events.push(e);
        }
        inner.head = head;
        Ok(())
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
        append_through(self, expected, batch, new_head)
    }

    fn begin_append(&self) -> Result<Box<dyn Append + '_>> {
        let inner = self.lock();
        let head = inner.head.clone();
        Ok(Box::new(MemoryAppend {
            inner,
            head,
            pending: Vec::new(),
        }))
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

    fn newest_involving(&self, targets: &[TargetKey<'_>]) -> Result<Vec<u64>> {
        Ok(self.lock().newest_involving(targets))
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
        // As an SQL store's target index loses the purged events' rows.
        inner.by_target.retain(|_, seq| *seq > anchor.seq);
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
