//! Walking the chain: recompute every hash, in bounded memory, and name the first bad entry.

use std::fmt;

use super::checkpoint::Checkpoint;
use super::{canonical, hashes, merkle, Hash};
use crate::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::Result;

/// Events read per round trip while verifying; memory stays bounded by this.
const CHUNK: usize = 1_000;

/// What kind of damage verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// An event's fields no longer match its hash (or a personal value its commitment).
    Modified,
    /// A `seq` is missing: an event was deleted from the middle.
    Missing,
    /// An event is intact but does not link to the one before it: it was inserted, or the
    /// one before it was replaced.
    Inserted,
    /// Events come back out of order or duplicated.
    Reordered,
    /// The log ends before the head it recorded, or before a checkpoint's size: the newest
    /// events were cut off.
    Truncated,
    /// The log at a checkpoint's size has another root or chain head than the checkpoint.
    CheckpointMismatch,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Modified => "modified",
            FaultKind::Missing => "missing",
            FaultKind::Inserted => "inserted",
            FaultKind::Reordered => "reordered",
            FaultKind::Truncated => "truncated",
            FaultKind::CheckpointMismatch => "checkpoint mismatch",
        })
    }
}

/// The first bad entry verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// Where: the seq of the first bad (or first missing) entry.
    pub seq: u64,
    /// What kind of damage.
    pub kind: FaultKind,
    /// A sentence about what did not match.
    pub detail: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {} {}: {}", self.seq, self.kind, self.detail)
    }
}

/// The result of [`crate::AuditTrail::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Events whose hashes were recomputed.
    pub checked: u64,
    /// The highest seq up to which everything verified (0 when nothing did).
    pub verified_through: u64,
    /// The head the store recorded.
    pub head_seq: u64,
    /// Events with erased personal values (counted, never a fault).
    pub redacted: u64,
    /// The checkpoint size that was compared, if any.
    pub checkpoint_size: Option<u64>,
    /// The first fault, `None` when the log is intact.
    pub fault: Option<Fault>,
}

impl VerifyReport {
    /// True when no fault was found.
    pub fn is_ok(&self) -> bool {
        self.fault.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fault {
            None => write!(
                f,
                "ok: {} events verified through seq {}",
                self.checked, self.verified_through
            )?,
            Some(fault) => write!(
                f,
                "TAMPERED: {fault} (verified through seq {})",
                self.verified_through
            )?,
        }
        if self.redacted > 0 {
            write!(f, ", {} with erased personal values", self.redacted)?;
        }
        if let Some(s) = self.checkpoint_size {
            write!(f, ", checked against a checkpoint of size {s}")?;
        }
        Ok(())
    }
}

/// Recomputes the leaf and chain hash of a sealed event, returning `(leaf, hash)`.
pub fn seal_hashes(log_id: &str, e: &SealedEvent) -> (Hash, Hash) {
    let leaf = hashes::leaf(&canonical::event_bytes(log_id, e));
    (leaf, hashes::chain(&e.prev_hash, &leaf))
}

/// Calls `walk` with a source of consecutive chunks of the log from seq `from`, read ahead on
/// two other threads while `walk` hashes: reading and decoding rows costs three times as much
/// as hashing them, so spreading it shortens a verify of a large log. At most five chunks are
/// in memory at once.
fn read_ahead<S: AuditStore + ?Sized, T>(
    store: &S,
    from: u64,
    walk: impl FnOnce(&mut dyn FnMut() -> Result<Vec<SealedEvent>>) -> T,
) -> T {
    // Two readers take alternate chunks at fixed offsets. While the log is intact a full
    // chunk holds exactly seqs `start .. start + CHUNK`, which is where a sequential reader
    // would start the next one; the first gap or disorder stops the walk inside the damaged
    // chunk, before any chunk read past it is looked at.
    const READERS: u64 = 2;
    std::thread::scope(|s| {
        let receivers: Vec<_> = (0..READERS)
            .map(|r| {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                s.spawn(move || {
                    let mut k = r;
                    loop {
                        let chunk = store.read(from + k * CHUNK as u64, CHUNK);
                        let full = chunk.as_ref().is_ok_and(|c| c.len() == CHUNK);
                        // The walk stopped (a fault) once the receiver is gone.
                        if tx.send(chunk).is_err() || !full {
                            return;
                        }
                        k += READERS;
                    }
                });
                rx
            })
            .collect();
        let mut k = 0;
        // A store may return fewer than asked before the end of the log; after such a chunk
        // the fixed offsets no longer line up, so the rest is read in order, here.
        let mut sequential: Option<u64> = None;
        let mut next = || -> Result<Vec<SealedEvent>> {
            if let Some(from) = sequential {
                let chunk = store.read(from, CHUNK)?;
                if let Some(e) = chunk.last() {
                    sequential = Some(e.seq + 1);
                }
                return Ok(chunk);
            }
            let rx = &receivers[(k % READERS) as usize];
            k += 1;
            let chunk = rx.recv().unwrap_or_else(|_| Ok(Vec::new()))?;
            if chunk.len() < CHUNK {
                sequential = chunk.last().map(|e| e.seq + 1);
            }
            Ok(chunk)
        };
        walk(&mut next)
    })
}

/// Verifies `store`'s whole chain, and against `checkpoint` when given.
pub(crate) fn run<S: AuditStore + ?Sized>(
    store: &S,
    log_id: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<VerifyReport> {
    let head = store.head()?;
    let mut report = VerifyReport {
        checked: 0,
        verified_through: 0,
        head_seq: head.seq,
        redacted: 0,
        checkpoint_size: checkpoint.map(|c| c.size),
        fault: None,
    };
    let mut prev = hashes::genesis(log_id);
    let mut prev_event: Option<(time::OffsetDateTime, uuid::Uuid)> = None;
    let mut frontier: Vec<Hash> = Vec::new();
    let mut expected = 1u64;
    let fault = |seq, kind, detail: String| Some(Fault { seq, kind, detail });

    let check_cp = |size: u64, frontier: &[Hash], chain: &Hash| -> Option<Fault> {
        let cp = checkpoint?;
        if cp.size != size {
            return None;
        }
        if merkle::root(frontier) != cp.root || *chain != cp.chain_head {
            return fault(
                size.max(1),
                FaultKind::CheckpointMismatch,
                format!("the log's first {size} events do not match the checkpoint's root and chain head"),
            );
        }
        None
    };
    if let Some(f) = check_cp(0, &frontier, &prev) {
        report.fault = Some(f);
        return Ok(report);
    }

    read_ahead(store, expected, |next_chunk| -> Result<()> {
        'walk: loop {
            let chunk = next_chunk()?;
            if chunk.is_empty() {
                break;
            }
            for e in &chunk {
                if e.seq > expected {
                    report.fault = fault(
                        expected,
                        FaultKind::Missing,
                        format!("the next stored event is {}", e.seq),
                    );
                    break 'walk;
                }
                if e.seq < expected {
                    report.fault = fault(
                        e.seq,
                        FaultKind::Reordered,
                        format!("seq {} came back where {expected} was due", e.seq),
                    );
                    break 'walk;
                }
                let (leaf, hash) = seal_hashes(log_id, e);
                if hash != e.hash {
                    report.fault = fault(
                        e.seq,
                        FaultKind::Modified,
                        "its fields do not match its hash".into(),
                    );
                    break 'walk;
                }
                if e.prev_hash != prev {
                    let backwards =
                        prev_event.is_some_and(|(t, id)| e.recorded_at < t || e.id < id);
                    report.fault = if backwards {
                        fault(
                            e.seq,
                            FaultKind::Reordered,
                            "it was recorded before the event it follows".into(),
                        )
                    } else {
                        fault(
                            e.seq,
                            FaultKind::Inserted,
                            "it does not link to the event before it".into(),
                        )
                    };
                    break 'walk;
                }
                let mut erased = false;
                for p in &e.personal {
                    match &p.value {
                        None => erased = true,
                        Some(v) => {
                            if hashes::commitment(&p.path, &v.salt, &v.text) != p.commitment {
                                report.fault = fault(
                                    e.seq,
                                    FaultKind::Modified,
                                    format!(
                                        "personal value {} does not match its commitment",
                                        p.path
                                    ),
                                );
                                break 'walk;
                            }
                        }
                    }
                }
                if erased {
                    report.redacted += 1;
                }
                merkle::push(&mut frontier, e.seq - 1, leaf);
                prev = e.hash;
                prev_event = Some((e.recorded_at, e.id));
                report.checked += 1;
                report.verified_through = e.seq;
                expected += 1;
                if let Some(f) = check_cp(e.seq, &frontier, &prev) {
                    report.fault = Some(f);
                    break 'walk;
                }
            }
        }
        Ok(())
    })?;

    if report.fault.is_some() {
        return Ok(report);
    }
    let last = expected - 1;
    if let Some(cp) = checkpoint {
        if last < cp.size {
            report.fault = fault(
                last + 1,
                FaultKind::Truncated,
                format!(
                    "the log ends at {last} but the checkpoint covers {} events",
                    cp.size
                ),
            );
            return Ok(report);
        }
    }
    if head.seq > last {
        report.fault = fault(
            last + 1,
            FaultKind::Truncated,
            format!("the log ends at {last} but its head records {}", head.seq),
        );
    } else if head.seq < last {
        report.fault = fault(
            head.seq + 1,
            FaultKind::Inserted,
            format!("events run to {last} past the recorded head {}", head.seq),
        );
    } else if last > 0 && (head.hash != prev || head.frontier != frontier) {
        report.fault = fault(
            last,
            FaultKind::Modified,
            "the recorded head does not match the chain".into(),
        );
    }
    Ok(report)
}
