//! Archives of purged events: JSON Lines that verify on their own.
//!
//! [`crate::AuditTrail::purge_before_to`] writes the events it purges as one archive:
//!
//! ```text
//! {"header":{"format":"auditkit-archive","version":1,"log_id":"…","anchor_seq":0,"anchor_hash":"…","anchor_frontier":[]}}
//! {"event":{"seq":1,"id":"…", … ,"personal":[…],"prev_hash":"…","hash":"…"}}
//! …
//! {"end":{"events":1042,"checkpoint":"auditkit/…\n1042\n…\n"}}
//! ```
//!
//! The header names the log and the point the archive starts from (the previous purge anchor,
//! or the genesis); each event line is a [`SealedEvent`] with its personal values as they were
//! when archived; the end line carries the log's [`Checkpoint`] at the archive's last event.
//! [`verify_archive`] recomputes every hash from the lines alone. On its own that proves the
//! archive is internally consistent; to prove it is the log's own history, compare its
//! checkpoint with one kept outside ([`verify_archive_against`]) or with the log's
//! `audit.purged` record ([`crate::AuditTrail::verify_archive`]).

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::verify::{Fault, FaultKind, VerifyReport, Walker};
use super::Hash;
use crate::store::sealed::SealedEvent;
use crate::store::Head;
use crate::{Error, Result};

/// The `format` field of an archive header.
pub const ARCHIVE_FORMAT: &str = "auditkit-archive";
/// The archive format version this build writes and reads.
pub const ARCHIVE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Header(Header),
    Event(Box<SealedEvent>),
    End(End),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    log_id: String,
    anchor_seq: u64,
    anchor_hash: Option<String>,
    anchor_frontier: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct End {
    events: u64,
    checkpoint: String,
}

/// What [`verify_archive`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveReport {
    /// The log the archive came from.
    pub log_id: String,
    /// The first seq in the archive (the one after its anchor).
    pub from_seq: u64,
    /// The last seq in the archive (`from_seq - 1` when it holds no events).
    pub through_seq: u64,
    /// The log's checkpoint at `through_seq`, recomputed from the events.
    pub checkpoint: Checkpoint,
    /// The verification result; `report.fault` is set for a damaged or altered archive.
    pub report: VerifyReport,
}

impl ArchiveReport {
    /// True when the archive verified.
    pub fn is_ok(&self) -> bool {
        self.report.is_ok()
    }
}

/// Writes an archive line by line (memory stays bounded by one event).
pub(crate) struct ArchiveWriter<W: Write> {
    out: W,
    events: u64,
}

fn line_err(e: serde_json::Error) -> Error {
    Error::from(std::io::Error::other(e))
}

impl<W: Write> ArchiveWriter<W> {
    /// Writes the header: log `log_id`, starting after `anchor` (the genesis when `None`).
    pub(crate) fn new(mut out: W, log_id: &str, anchor: Option<&Head>) -> Result<Self> {
        let header = Line::Header(Header {
            format: ARCHIVE_FORMAT.into(),
            version: ARCHIVE_VERSION,
            log_id: log_id.into(),
            anchor_seq: anchor.map_or(0, |a| a.seq),
            anchor_hash: anchor.map(|a| hex::encode(a.hash)),
            anchor_frontier: anchor
                .map_or(Vec::new(), |a| a.frontier.iter().map(hex::encode).collect()),
        });
        serde_json::to_writer(&mut out, &header).map_err(line_err)?;
        out.write_all(b"\n")?;
        Ok(ArchiveWriter { out, events: 0 })
    }

    pub(crate) fn event(&mut self, e: &SealedEvent) -> Result<()> {
        serde_json::to_writer(&mut self.out, &Line::Event(Box::new(e.clone())))
            .map_err(line_err)?;
        self.out.write_all(b"\n")?;
        self.events += 1;
        Ok(())
    }

    /// Writes the end line with `checkpoint` and flushes.
    pub(crate) fn finish(mut self, checkpoint: &Checkpoint) -> Result<W> {
        let end = Line::End(End {
            events: self.events,
            checkpoint: checkpoint.to_string(),
        });
        serde_json::to_writer(&mut self.out, &end).map_err(line_err)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn hash_hex(s: &str, what: &str) -> Result<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|e| Error::malformed("archive", format!("{what}: {e}")))?;
    Ok(out)
}

/// Verifies an archive written by [`crate::AuditTrail::purge_before_to`] from its lines alone,
/// in bounded memory.
///
/// # Errors
/// [`Error::Malformed`] when a line is not part of an auditkit archive (no header, unknown
/// version, bad JSON, text after the end line); [`Error::Io`] when reading fails. An archive
/// that parses but was altered, cut short or reordered is `Ok` with `report.fault` set.
pub fn verify_archive(reader: impl BufRead) -> Result<ArchiveReport> {
    walk(reader, None)
}

/// [`verify_archive`], and also checks the archive against `checkpoint`, a checkpoint of the
/// log kept outside it, whose size lies within the archive: the events up to it must match
/// its root and chain head (else `report.fault` is [`FaultKind::CheckpointMismatch`]). A
/// checkpoint beyond the archive's last event reports [`FaultKind::Truncated`]: check it
/// against the live log (or the next archive) instead.
///
/// # Errors
/// As [`verify_archive`]; [`Error::Checkpoint`] when the checkpoint is for another log or
/// older than the archive's first event.
pub fn verify_archive_against(
    reader: impl BufRead,
    checkpoint: &Checkpoint,
) -> Result<ArchiveReport> {
    walk(reader, Some(checkpoint))
}

fn walk(reader: impl BufRead, checkpoint: Option<&Checkpoint>) -> Result<ArchiveReport> {
    let mut lines = reader.lines();
    let first = lines
        .next()
        .transpose()?
        .ok_or_else(|| Error::malformed("archive", "it is empty; the header line is missing"))?;
    let header = match serde_json::from_str::<Line>(&first) {
        Ok(Line::Header(h)) => h,
        _ => {
            return Err(Error::malformed(
                "archive",
                "the first line is not an auditkit archive header",
            ))
        }
    };
    if header.format != ARCHIVE_FORMAT || header.version != ARCHIVE_VERSION {
        return Err(Error::malformed(
            "archive",
            format!(
                "format {:?} version {} is not {ARCHIVE_FORMAT:?} version {ARCHIVE_VERSION}; a newer auditkit may read it",
                header.format, header.version
            ),
        ));
    }
    let anchor = match &header.anchor_hash {
        Some(h) if header.anchor_seq > 0 => Some(Head::new(
            header.anchor_seq,
            hash_hex(h, "anchor_hash")?,
            header
                .anchor_frontier
                .iter()
                .map(|f| hash_hex(f, "anchor_frontier"))
                .collect::<Result<_>>()?,
        )),
        None if header.anchor_seq == 0 => None,
        _ => {
            return Err(Error::malformed(
                "archive",
                "the header's anchor_seq and anchor_hash disagree",
            ))
        }
    };
    let log_id = header.log_id.clone();
    let origin = format!("{}{log_id}", super::checkpoint::ORIGIN_PREFIX);
    if let Some(cp) = checkpoint {
        if cp.origin != origin {
            return Err(Error::checkpoint(format!(
                "it is for log {:?}, the archive is of {origin:?}",
                cp.origin
            )));
        }
    }
    let mut w = Walker::new(&log_id, anchor.as_ref(), checkpoint, 0)?;
    let mut end = None;
    for (n, line) in lines.enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|e| Error::malformed("archive", format!("line {}: {e}", n + 2)))?;
        if end.is_some() {
            return Err(Error::malformed(
                "archive",
                format!("line {} follows the end line", n + 2),
            ));
        }
        match parsed {
            Line::Header(_) => {
                return Err(Error::malformed(
                    "archive",
                    format!("line {} is a second header", n + 2),
                ))
            }
            Line::Event(e) => {
                w.step_event(&e.view())?;
            }
            Line::End(e) => end = Some(e),
        }
    }
    let (size, root, chain_head) = w.state();
    w.report.head_seq = size;
    w.finish_checkpoint();
    let computed = Checkpoint::new(&log_id, size, root, chain_head);
    let mut report = w.report;
    if report.fault.is_none() {
        report.fault = match end {
            None => Some(Fault {
                seq: size + 1,
                kind: FaultKind::Truncated,
                detail: "the archive ends without its end line: it was cut short".into(),
            }),
            Some(end) => {
                let stated: Checkpoint = end.checkpoint.parse()?;
                if end.events != size - header.anchor_seq || stated.size != size {
                    Some(Fault {
                        seq: size + 1,
                        kind: FaultKind::Truncated,
                        detail: format!(
                            "the end line states {} events through seq {}, the archive holds {} through {size}",
                            end.events,
                            stated.size,
                            size - header.anchor_seq
                        ),
                    })
                } else if stated.origin != computed.origin
                    || stated.root != computed.root
                    || stated.chain_head != computed.chain_head
                {
                    Some(Fault {
                        seq: size.max(1),
                        kind: FaultKind::CheckpointMismatch,
                        detail: "the end line's checkpoint does not match the archived events"
                            .into(),
                    })
                } else {
                    None
                }
            }
        };
    }
    Ok(ArchiveReport {
        log_id,
        from_seq: header.anchor_seq + 1,
        through_seq: size,
        checkpoint: computed,
        report,
    })
}
