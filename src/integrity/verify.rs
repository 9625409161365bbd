//! Walking the chain: recompute every hash, in bounded memory, and name the first bad entry.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::purge::{PurgeRecord, PURGE_ACTION};
use super::{canonical, hashes, merkle, Hash};
use crate::store::derived::{first_difference, Expected, Link};
use crate::store::sealed::SealedEventRef;
use crate::store::{DerivedRows, Head};
use crate::{Error, Result};

/// Events read per round trip while verifying; memory stays bounded by this.
const CHUNK: usize = 1_000;

/// What kind of damage verification found.
///
/// In JSON a snake_case string: `"modified"`, `"checkpoint_mismatch"`, `"derived_row"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// A row a store derived from an event and answers queries from (a target it involves,
    /// a change path) is missing, extra or altered, so a query would hide the event or show
    /// it where it does not belong. The events themselves verified.
    DerivedRow,
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
            FaultKind::DerivedRow => "derived row",
        })
    }
}

/// The first bad entry verification found.
///
/// In JSON: `{"seq": 7, "kind": "modified", "detail": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
///
/// Serializes with every field (`fault` is `null` when the log is intact), so a health
/// endpoint can return it as it is; it deserializes back to an equal report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Events `1..=purged_through` were purged (0 when none were): verification started from
    /// the purge anchor after them.
    pub purged_through: u64,
    /// Events `1..=trusted_through` were taken as verified, from the checkpoint given to
    /// [`crate::AuditTrail::verify_since`] (0 for a full verify): neither they nor their
    /// derived rows were checked.
    pub trusted_through: u64,
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
        if self.purged_through > 0 {
            write!(f, ", events 1..={} purged", self.purged_through)?;
        }
        if self.trusted_through > 0 {
            write!(
                f,
                ", events up to {} trusted from a checkpoint",
                self.trusted_through
            )?;
        }
        Ok(())
    }
}

pub use super::chain::seal_hashes;

/// What the walk needs to know of one event, worked out from that event alone: all the
/// hashing except the Merkle tree's, so that it can run on the threads that read the log.
pub(crate) struct Checked {
    seq: u64,
    id: uuid::Uuid,
    recorded_at: time::OffsetDateTime,
    pub(crate) leaf: Hash,
    prev_hash: Hash,
    hash: Hash,
    /// The stored hash is the chain hash of the stored fields.
    pub(crate) sealed: bool,
    /// The first personal value that does not match its commitment.
    pub(crate) bad_personal: Option<String>,
    /// Some personal value was erased.
    pub(crate) erased: bool,
    /// For an `audit.purged` event, the seq it records purging through.
    purged_through: Option<u64>,
    /// The stored subtree hashes ([`crate::SealedEvent::nodes`]).
    nodes: Vec<Hash>,
    /// The event must carry its subtree hashes: it was sealed after they existed.
    nodes_required: bool,
    /// Links stored with an encoding that does not hash them.
    unhashed_links: bool,
}

/// Checks `e` on its own; `buf` is scratch space for its canonical bytes.
///
/// # Errors
/// [`crate::Error::Unsupported`] for an event sealed with an encoding this build does not know.
pub(crate) fn check_event(
    log_id: &str,
    e: &SealedEventRef<'_>,
    buf: &mut Vec<u8>,
) -> Result<Checked> {
    canonical::check_encoding(e.seq, e.encoding)?;
    canonical::event_bytes_into(log_id, e, buf);
    let leaf = hashes::leaf(buf);
    let mut erased = false;
    let mut bad_personal = None;
    for p in &e.personal {
        match p.value {
            None => erased = true,
            Some((text, salt)) => {
                if bad_personal.is_none()
                    && hashes::commitment(p.path.as_str(), &salt, text) != p.commitment
                {
                    bad_personal = Some(p.path.to_string());
                }
            }
        }
    }
    let purged_through = (e.action == PURGE_ACTION)
        .then(|| {
            e.context
                .and_then(|c| PurgeRecord::from_context_json(c).ok())
        })
        .flatten()
        .map(|r| r.through_seq);
    Ok(Checked {
        seq: e.seq,
        id: e.id,
        recorded_at: e.recorded_at,
        leaf,
        prev_hash: e.prev_hash,
        hash: e.hash,
        sealed: hashes::chain(&e.prev_hash, &leaf) == e.hash,
        bad_personal,
        erased,
        purged_through,
        nodes: e.nodes.clone(),
        nodes_required: e.encoding >= 2,
        unhashed_links: e.encoding < 2 && !e.links.is_empty(),
    })
}

/// The state of a walk along the chain: what the next event must link to, the Merkle
/// frontier so far, and the report being built. Shared by store and archive verification.
pub(crate) struct Walker<'a> {
    log_id: &'a str,
    checkpoint: Option<&'a Checkpoint>,
    prev: Hash,
    prev_event: Option<(time::OffsetDateTime, uuid::Uuid)>,
    frontier: Vec<Hash>,
    /// The seq due next.
    pub(crate) expected: u64,
    /// The purge anchor's seq the walk must find an `audit.purged` record for (0: none).
    purge_to_find: u64,
    pub(crate) report: VerifyReport,
    /// Scratch space for [`Walker::step_event`].
    buf: Vec<u8>,
}

pub(crate) fn fault(seq: u64, kind: FaultKind, detail: String) -> Option<Fault> {
    Some(Fault { seq, kind, detail })
}

impl<'a> Walker<'a> {
    /// A walk starting after `start` (a purge anchor; the genesis when `None`).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when `checkpoint` covers fewer events than `start`: those are gone
    /// and cannot be checked here.
    pub(crate) fn new(
        log_id: &'a str,
        start: Option<&Head>,
        checkpoint: Option<&'a Checkpoint>,
        head_seq: u64,
    ) -> Result<Self> {
        let (seq, prev, frontier) = match start {
            Some(a) if a.seq > 0 => (a.seq, a.hash, a.frontier.clone()),
            _ => (0, hashes::genesis(log_id), Vec::new()),
        };
        if let Some(cp) = checkpoint {
            if cp.size < seq {
                return Err(Error::checkpoint(format!(
                    "it covers {} events, but events 1..={seq} were purged from this log, so they cannot be checked here; verify them with the archive written by the purge (integrity::archive::verify_archive_against) and check this log against a newer checkpoint",
                    cp.size
                )));
            }
        }
        let mut w = Walker {
            log_id,
            checkpoint,
            prev,
            prev_event: None,
            frontier,
            expected: seq + 1,
            purge_to_find: 0,
            report: VerifyReport {
                checked: 0,
                verified_through: seq,
                head_seq,
                redacted: 0,
                checkpoint_size: checkpoint.map(|c| c.size),
                purged_through: seq,
                trusted_through: 0,
                fault: None,
            },
            buf: Vec::new(),
        };
        if !merkle::fits(&w.frontier, seq) {
            w.report.fault = fault(
                seq + 1,
                FaultKind::Modified,
                format!("the purge anchor at seq {seq} has a damaged Merkle frontier"),
            );
        } else {
            w.check_cp(seq);
        }
        Ok(w)
    }

    /// Requires an `audit.purged` event recording the purge through the start anchor.
    pub(crate) fn require_purge_record(&mut self) {
        self.purge_to_find = self.expected - 1;
    }

    /// The Merkle frontier after the events walked so far.
    pub(crate) fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// The size, Merkle root and chain head after the events walked so far.
    pub(crate) fn state(&self) -> (u64, Hash, Hash) {
        (self.expected - 1, merkle::root(&self.frontier), self.prev)
    }

    fn check_cp(&mut self, size: u64) {
        let Some(cp) = self.checkpoint else { return };
        if cp.size == size
            && (merkle::root(&self.frontier) != cp.root || self.prev != cp.chain_head)
        {
            self.report.fault = fault(
                size.max(1),
                FaultKind::CheckpointMismatch,
                format!(
                    "the log's first {size} events do not match the checkpoint's root and chain head"
                ),
            );
        }
    }

    /// Checks the next event; false once a fault is set.
    ///
    /// # Errors
    /// As [`check_event`].
    pub(crate) fn step_event(&mut self, e: &SealedEventRef<'_>) -> Result<bool> {
        let checked = check_event(self.log_id, e, &mut self.buf)?;
        Ok(self.step(&checked))
    }

    /// Takes the next event, checked by [`check_event`]; false once a fault is set.
    pub(crate) fn step(&mut self, e: &Checked) -> bool {
        if self.report.fault.is_some() {
            return false;
        }
        let expected = self.expected;
        if e.seq > expected {
            self.report.fault = fault(
                expected,
                FaultKind::Missing,
                format!("the next stored event is {}", e.seq),
            );
            return false;
        }
        if e.seq < expected {
            self.report.fault = fault(
                e.seq,
                FaultKind::Reordered,
                format!("seq {} came back where {expected} was due", e.seq),
            );
            return false;
        }
        if !e.sealed || e.unhashed_links {
            self.report.fault = fault(
                e.seq,
                FaultKind::Modified,
                if e.sealed {
                    "it carries target links its encoding does not hash".into()
                } else {
                    "its fields do not match its hash".into()
                },
            );
            return false;
        }
        if e.prev_hash != self.prev {
            let backwards = self
                .prev_event
                .is_some_and(|(t, id)| e.recorded_at < t || e.id < id);
            self.report.fault = if backwards {
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
            return false;
        }
        if let Some(path) = &e.bad_personal {
            self.report.fault = fault(
                e.seq,
                FaultKind::Modified,
                format!("personal value {path} does not match its commitment"),
            );
            return false;
        }
        if e.erased {
            self.report.redacted += 1;
        }
        if self.purge_to_find > 0 && e.purged_through == Some(self.purge_to_find) {
            self.purge_to_find = 0;
        }
        let nodes = merkle::stored_nodes(&mut self.frontier, e.seq, e.leaf);
        if nodes != e.nodes && (e.nodes_required || !e.nodes.is_empty()) {
            self.report.fault = fault(
                e.seq,
                FaultKind::Modified,
                format!(
                    "its stored Merkle subtree hashes are not those of the events before it ({} stored, {} due)",
                    e.nodes.len(),
                    nodes.len()
                ),
            );
            return false;
        }
        self.prev = e.hash;
        self.prev_event = Some((e.recorded_at, e.id));
        self.report.checked += 1;
        self.report.verified_through = e.seq;
        self.expected += 1;
        self.check_cp(e.seq);
        self.report.fault.is_none()
    }

    /// Ends the walk: checks the checkpoint was reached and the purge was recorded.
    pub(crate) fn finish_checkpoint(&mut self) {
        if self.report.fault.is_some() {
            return;
        }
        let last = self.expected - 1;
        if let Some(cp) = self.checkpoint {
            if last < cp.size {
                self.report.fault = fault(
                    last + 1,
                    FaultKind::Truncated,
                    format!(
                        "the log ends at {last} but the checkpoint covers {} events",
                        cp.size
                    ),
                );
                return;
            }
        }
        if self.purge_to_find > 0 {
            self.report.fault = fault(
                self.purge_to_find,
                FaultKind::Missing,
                format!(
                    "events 1..={} are gone but no {} event records their purge",
                    self.purge_to_find, PURGE_ACTION
                ),
            );
        }
    }
}

/// What verification reads: a log's head, its purge anchor and its events in seq order.
///
/// Integrity knows nothing of stores or trails; the trail implements this for every
/// [`crate::AuditStore`], so verification takes the log as plain sealed data.
pub(crate) trait EventSource: Sync {
    /// The recorded head.
    ///
    /// # Errors
    /// When the log cannot be read.
    fn head(&self) -> Result<Head>;
    /// The purge anchor verification starts from, if the log's oldest events were purged.
    ///
    /// # Errors
    /// When the log cannot be read.
    fn purge_anchor(&self) -> Result<Option<Head>>;
    /// Lends up to `limit` events from seq `from` on, in seq order, to `visit`.
    ///
    /// # Errors
    /// When the log cannot be read.
    fn read_each(
        &self,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(&SealedEventRef<'_>),
    ) -> Result<()>;
    /// Damage the storage knows of that no event shows; checked after the events verify.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] naming the damage.
    fn check_storage(&self) -> Result<()>;
    /// The rows derived from events `from..=to` that queries answer from
    /// ([`crate::AuditStore::derived_rows`]), to compare with what the events give; `None`
    /// when there are none to check.
    ///
    /// # Errors
    /// When the log cannot be read.
    fn derived_rows(&self, from: u64, to: u64) -> Result<Option<DerivedRows>>;
}

/// A chunk of events read and checked on a reader thread.
pub(crate) struct Chunk {
    events: Vec<Checked>,
    /// The first event whose derived rows differ from what it gives, and how.
    derived: Option<(u64, String)>,
    /// Each event's links, by key digest (checked with derived rows).
    links: Vec<(u64, Vec<Link>)>,
}

/// Reads up to [`CHUNK`] events from seq `from` and checks each with [`check_event`]; with
/// `derived`, also compares their derived rows with what they give.
fn read_checked<S: EventSource + ?Sized>(
    store: &S,
    log_id: &str,
    from: u64,
    derived: bool,
    buf: &mut Vec<u8>,
) -> Result<Chunk> {
    let mut out = Vec::with_capacity(CHUNK);
    let mut expected = Vec::new();
    let mut refused = None;
    store.read_each(from, CHUNK, &mut |e| {
        if refused.is_none() {
            let mut checked = || -> Result<()> {
                out.push(check_event(log_id, e, buf)?);
                if derived {
                    expected.push(Expected::of(&e.to_owned())?);
                }
                Ok(())
            };
            if let Err(err) = checked() {
                refused = Some(err);
            }
        }
    })?;
    if let Some(err) = refused {
        return Err(err);
    }
    // Read after the events, so every row of an event read is there (a store writes an
    // event and its rows in one commit).
    let derived = match (derived, out.first(), out.last()) {
        (true, Some(first), Some(last)) => store
            .derived_rows(first.seq, last.seq)?
            .and_then(|have| first_difference(&expected, have)),
        _ => None,
    };
    Ok(Chunk {
        events: out,
        derived,
        links: expected.into_iter().map(|e| (e.seq, e.links)).collect(),
    })
}

/// Calls `walk` with a source of consecutive chunks of the log from seq `from`, read and
/// checked on two other threads while `walk` links them: reading rows and hashing each event
/// is nearly all of a verify's work, and each event can be checked on its own, so two
/// threads make a verify of a large log nearly twice as fast. At most five chunks are in
/// memory at once.
fn read_ahead<S: EventSource + ?Sized, T>(
    store: &S,
    log_id: &str,
    from: u64,
    derived: bool,
    walk: impl FnOnce(&mut dyn FnMut() -> Result<Chunk>) -> T,
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
                    let mut buf = Vec::new();
                    let mut k = r;
                    loop {
                        let chunk =
                            read_checked(store, log_id, from + k * CHUNK as u64, derived, &mut buf);
                        let full = chunk.as_ref().is_ok_and(|c| c.events.len() == CHUNK);
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
        let mut buf = Vec::new();
        let mut next = || -> Result<Chunk> {
            if let Some(from) = sequential {
                let chunk = read_checked(store, log_id, from, derived, &mut buf)?;
                if let Some(e) = chunk.events.last() {
                    sequential = Some(e.seq + 1);
                }
                return Ok(chunk);
            }
            let rx = &receivers[(k % READERS) as usize];
            k += 1;
            let chunk = rx.recv().unwrap_or_else(|_| {
                Ok(Chunk {
                    events: Vec::new(),
                    derived: None,
                    links: Vec::new(),
                })
            })?;
            if chunk.events.len() < CHUNK {
                sequential = chunk.events.last().map(|e| e.seq + 1);
            }
            Ok(chunk)
        };
        walk(&mut next)
    })
}

/// Checks event `seq`'s links (`keys`: each target's key digest and link) against the
/// newest event of each target seen so far in a walk that started at `start`, and records
/// the event as each target's newest; the problem, if any.
fn check_links(
    newest: &mut HashMap<[u8; 16], u64>,
    seq: u64,
    start: u64,
    keys: &[Link],
) -> Option<String> {
    for (key, link) in keys {
        let ok = match newest.get(key) {
            Some(prev) => link == prev,
            None => *link < start,
        };
        if !ok {
            return Some(match newest.get(key) {
                Some(prev) => format!(
                    "it links one of its targets to event {link}, but that target's previous event is {prev}"
                ),
                None => format!(
                    "it links one of its targets to event {link}, which does not involve it"
                ),
            });
        }
    }
    for (key, _) in keys {
        newest.insert(*key, seq);
    }
    None
}

/// What a walk checks besides the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The chain alone.
    Chain,
    /// The chain and the derived rows of every event it checks.
    Everything,
}

/// Verifies `store`'s whole chain (from its purge anchor), and against `checkpoint` when given;
/// with [`Scope::Everything`], each event's derived rows too.
///
/// # Errors
/// When the log cannot be read, or its storage is damaged where no event shows it.
pub(crate) fn run<S: EventSource + ?Sized>(
    store: &S,
    log_id: &str,
    checkpoint: Option<&Checkpoint>,
    scope: Scope,
) -> Result<VerifyReport> {
    let head = store.head()?;
    let anchor = store.purge_anchor()?;
    let mut w = Walker::new(log_id, anchor.as_ref(), checkpoint, head.seq)?;
    if anchor.as_ref().is_some_and(|a| a.seq > 0) {
        w.require_purge_record();
    }
    walk(store, log_id, w, head, scope)
}

/// Verifies `store`'s events after `start`, a head taken as verified (a trusted checkpoint's
/// size, chain head and Merkle frontier), with `scope`: what [`run`] does from there on.
///
/// # Errors
/// As [`run`].
pub(crate) fn run_from<S: EventSource + ?Sized>(
    store: &S,
    log_id: &str,
    start: Head,
    scope: Scope,
) -> Result<VerifyReport> {
    let head = store.head()?;
    let mut w = Walker::new(log_id, Some(&start), None, head.seq)?;
    w.report.purged_through = store.purge_anchor()?.map_or(0, |a| a.seq);
    w.report.trusted_through = start.seq;
    walk(store, log_id, w, head, scope)
}

/// The walk of [`run`] and [`run_from`], once `w` is where it starts.
fn walk<S: EventSource + ?Sized>(
    store: &S,
    log_id: &str,
    mut w: Walker<'_>,
    head: Head,
    scope: Scope,
) -> Result<VerifyReport> {
    // The walk covers the log as of the head read above: other processes may append while it
    // runs, so events past that head are judged against a fresh head at the end.
    let mut beyond = None;
    let start = w.expected;
    // A store that keeps no derived rows has nothing more to check.
    let derived = scope == Scope::Everything && store.derived_rows(0, 0)?.is_some();
    // The newest event seen of each target (by key digest), for its next event's link: an
    // event must link to exactly that one, or, for the first seen, to one before the walk.
    let mut newest: HashMap<[u8; 16], u64> = HashMap::new();
    read_ahead(store, log_id, start, derived, |next_chunk| -> Result<()> {
        'walk: while w.report.fault.is_none() {
            let chunk = next_chunk()?;
            if chunk.events.is_empty() {
                break;
            }
            let mut links = chunk.links.iter().peekable();
            for e in &chunk.events {
                if w.expected > head.seq {
                    beyond = Some(e.seq);
                    break 'walk;
                }
                if !w.step(e) {
                    break 'walk;
                }
                if let Some((_, keys)) = links.next_if(|(seq, _)| *seq == e.seq) {
                    if let Some(detail) = check_links(&mut newest, e.seq, start, keys) {
                        w.report.fault = fault(e.seq, FaultKind::Modified, detail);
                        w.report.verified_through = e.seq - 1;
                        break 'walk;
                    }
                }
                if let Some((seq, detail)) = chunk.derived.as_ref().filter(|d| d.0 == e.seq) {
                    w.report.fault = fault(*seq, FaultKind::DerivedRow, detail.clone());
                    w.report.verified_through = seq - 1;
                    break 'walk;
                }
            }
        }
        Ok(())
    })?;
    w.finish_checkpoint();
    let mut report = w.report;
    if report.fault.is_some() {
        return Ok(report);
    }
    let last = report.verified_through;
    // Events past the head read at the start are fine if a fresh head now covers them.
    let past_head = match beyond {
        Some(seq) => Some((seq, store.head()?.seq)).filter(|&(seq, now)| now < seq),
        None => None,
    };
    if head.seq > last {
        report.fault = fault(
            last + 1,
            FaultKind::Truncated,
            format!("the log ends at {last} but its head records {}", head.seq),
        );
    } else if let Some((seq, now)) = past_head {
        report.fault = fault(
            now + 1,
            FaultKind::Inserted,
            format!("events run to {seq} past the recorded head {now}"),
        );
    } else if last > 0 && (head.hash != w.prev || head.frontier != w.frontier) {
        report.fault = fault(
            last,
            FaultKind::Modified,
            "the recorded head does not match the chain".into(),
        );
    } else {
        // The events check out; damage elsewhere in the storage must not pass for intact.
        store.check_storage()?;
    }
    Ok(report)
}
