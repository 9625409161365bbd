//! Evidence bundles: one target's events (a booking, an order, a customer), with an inclusion
//! proof for each and one checkpoint, in a self-describing JSON file that anyone can check
//! with [`verify_bundle`] and no database.
//!
//! # What a bundle proves
//!
//! When [`verify_bundle`] accepts a bundle:
//! - **In the log, unaltered.** Each event, as stored (its fields and the commitments of its
//!   personal values), is a leaf of the checkpoint's Merkle tree at index `seq − 1`: nothing
//!   of it was changed since it was sealed, or the proof would not lead to the root.
//! - **Nothing left out between the first and the newest.** Every event carries, for each
//!   target it involves, the seq of the previous event of its tenant that involved it
//!   ([`crate::SealedEvent::links`]); those links are hashed with the event. The bundle's
//!   events must form that chain exactly, each one's link for the target naming the one
//!   before it, so an event involving the target (as target or as related target) between
//!   the first and the newest of the bundle cannot have been dropped. When the first
//!   event's link is 0, it is the target's first event in the log
//!   ([`BundleReport::from_first`]).
//! - **Personal values.** A value still present matches its commitment; an erased one (or
//!   one left out with [`EvidenceBundle::without_personal_values`]) shows as redacted, and
//!   the event still verifies.
//!
//! # What it does not prove
//! - **Nothing after its newest event.** Events recorded after it (or before the checkpoint
//!   but left out at the end) are not excluded: a newer bundle, or a newer checkpoint with a
//!   consistency proof, shows what came later.
//! - **Who made the checkpoint.** Check its signature against the key the business
//!   published ([`crate::integrity::sign`], feature `sign`), or compare it with a copy kept
//!   elsewhere (a witness, an email sent at the time). An unsigned bundle proves only that
//!   its events agree with its own checkpoint.
//! - **Events sealed before links existed** (canonical encoding 1) carry no links: a bundle
//!   starts at the target's first event sealed with links (the trail does that itself).
//!
//! # Format
//! JSON, `format` `"auditkit/evidence-bundle@v1"`:
//! `{"format", "target": {"tenant", "kind", "id"}, "checkpoint": "<the C2SP checkpoint text,
//! signatures included>", "events": [{"event": <SealedEvent>, "proof": ["<base64 hash>", ..]}]}`,
//! events in seq order, each `proof` the RFC 6962 audit path of leaf `seq − 1` in the
//! checkpoint's tree ([`super::proof`]).

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::proof::verify_inclusion;
use super::verify::check_event;
use super::Hash;
use crate::store::sealed::SealedEvent;
use crate::{Error, Result};

/// The `format` of bundles this version writes and reads.
pub const BUNDLE_FORMAT: &str = "auditkit/evidence-bundle@v1";

/// The target a bundle is about: its kind and id within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleTarget {
    /// The tenant of its events (`None`: events without a tenant).
    pub tenant: Option<String>,
    /// The target's kind (`booking`).
    pub kind: String,
    /// The target's id.
    pub id: String,
}

/// One event of a bundle, with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledEvent {
    /// The event as stored.
    pub event: SealedEvent,
    /// The audit path of leaf `event.seq − 1` in the bundle's checkpoint, base64.
    #[serde(with = "b64_hashes")]
    pub proof: Vec<Hash>,
}

/// An evidence bundle: see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EvidenceBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// What the bundle is about.
    pub target: BundleTarget,
    /// The checkpoint every proof leads to (as text in the JSON form).
    #[serde(with = "checkpoint_text")]
    pub checkpoint: Checkpoint,
    /// The target's events, oldest first.
    pub events: Vec<BundledEvent>,
}

impl EvidenceBundle {
    /// A bundle of `events` about `target`, proved against `checkpoint`.
    pub fn new(target: BundleTarget, checkpoint: Checkpoint, events: Vec<BundledEvent>) -> Self {
        EvidenceBundle {
            format: BUNDLE_FORMAT.to_owned(),
            target,
            checkpoint,
            events,
        }
    }

    /// The same bundle with every personal value left out (their commitments stay, so the
    /// events still verify, as redacted): for handing to someone who may not see the names
    /// and contacts it holds.
    pub fn without_personal_values(mut self) -> Self {
        for e in &mut self.events {
            for p in &mut e.event.personal {
                p.value = None;
            }
        }
        self
    }

    /// The JSON text of the bundle, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle always serializes")
    }

    /// Reads a bundle from its JSON text.
    ///
    /// # Errors
    /// [`Error::Invalid`] (`bundle`) for text that is not a bundle of a format this version
    /// reads.
    pub fn from_json(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Format {
            format: String,
        }
        let format: Format = serde_json::from_str(text)
            .map_err(|e| Error::invalid("bundle", format!("not an evidence bundle: {e}")))?;
        if format.format != BUNDLE_FORMAT {
            return Err(Error::invalid(
                "bundle",
                format!(
                    "its format is {:?}; this auditkit reads {BUNDLE_FORMAT:?}",
                    format.format
                ),
            ));
        }
        serde_json::from_str(text)
            .map_err(|e| Error::invalid("bundle", format!("not an evidence bundle: {e}")))
    }
}

/// What [`verify_bundle`] found a bundle to prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BundleReport {
    /// The target.
    pub target: BundleTarget,
    /// The log the checkpoint names.
    pub log_id: String,
    /// The checkpoint's size.
    pub checkpoint_size: u64,
    /// Events verified.
    pub events: u64,
    /// The first and newest event's seq (0 for an empty bundle).
    pub first_seq: u64,
    /// See `first_seq`.
    pub newest_seq: u64,
    /// The first event is the target's first in the log (its link is 0).
    pub from_first: bool,
    /// Events with personal values erased or left out.
    pub redacted: u64,
    /// The key whose signature on the checkpoint was checked ([`verify_signed_bundle`]);
    /// `None` when none was.
    pub signed_by: Option<String>,
}

impl fmt::Display for BundleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        write!(
            f,
            "ok: {} events about {}:{}{} are in log {} at checkpoint size {}, unaltered",
            self.events,
            t.kind,
            t.id,
            t.tenant
                .as_deref()
                .map_or(String::new(), |n| format!(" (tenant {n})")),
            self.log_id,
            self.checkpoint_size
        )?;
        if self.events > 0 {
            write!(
                f,
                "; none involving it between seq {} and {} is left out",
                self.first_seq, self.newest_seq
            )?;
            if self.from_first {
                write!(f, ", and seq {} is its first", self.first_seq)?;
            }
        }
        if self.redacted > 0 {
            write!(f, "; {} with personal values redacted", self.redacted)?;
        }
        match &self.signed_by {
            Some(key) => write!(f, "; the checkpoint is signed by {key}"),
            None => write!(f, "; the checkpoint's signature was not checked"),
        }
    }
}

fn refuse(problem: impl Into<String>) -> Error {
    Error::invalid("bundle", problem.into())
}

/// Checks `bundle` with nothing but its own content: see the [module documentation](self)
/// for what an accepted bundle proves and what it does not. The checkpoint's signatures are
/// not checked here: `verify_signed_bundle` (feature `sign`) checks them against the key the
/// business published first.
///
/// # Errors
/// [`Error::Invalid`] (`bundle`) naming the first problem: an event altered, a proof that
/// does not lead to the checkpoint, events out of order, of another target or tenant, or one
/// left out between two of them; [`Error::Unsupported`] for an event of an encoding this
/// version does not know.
pub fn verify_bundle(bundle: &EvidenceBundle) -> Result<BundleReport> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(refuse(format!(
            "the bundle's format is {:?}; this auditkit reads {BUNDLE_FORMAT:?}",
            bundle.format
        )));
    }
    let cp = &bundle.checkpoint;
    let Some(log_id) = cp.log_id() else {
        return Err(refuse(format!(
            "its checkpoint is of {:?}, not of an auditkit log",
            cp.origin
        )));
    };
    let target = &bundle.target;
    let key = (target.kind.as_str(), target.id.as_str());
    let mut report = BundleReport {
        target: target.clone(),
        log_id: log_id.to_owned(),
        checkpoint_size: cp.size,
        events: 0,
        first_seq: 0,
        newest_seq: 0,
        from_first: false,
        redacted: 0,
        signed_by: None,
    };
    let mut buf = Vec::new();
    let mut previous: Option<u64> = None;
    for b in &bundle.events {
        let e = &b.event;
        let seq = e.seq;
        if e.encoding < 2 {
            return Err(refuse(format!(
                "event {seq} was sealed before events carried links to their targets' previous events (encoding {}), so the bundle cannot show none was left out; bundle from a later event",
                e.encoding
            )));
        }
        if previous.is_some_and(|p| seq <= p) {
            return Err(refuse(format!(
                "event {seq} comes after event {}: a bundle's events are in seq order, each once",
                previous.unwrap_or_default()
            )));
        }
        if e.tenant != target.tenant {
            return Err(refuse(format!(
                "event {seq} is of tenant {:?}, the bundle is about tenant {:?}",
                e.tenant, target.tenant
            )));
        }
        let involved = e
            .involved()
            .map_err(|err| refuse(format!("event {seq} cannot be read: {err}")))?;
        let Some(at) = involved
            .iter()
            .position(|(k, i)| (k.as_str(), i.as_str()) == key)
        else {
            return Err(refuse(format!(
                "event {seq} does not involve {}:{}",
                target.kind, target.id
            )));
        };
        let Some(&link) = e.links.get(at).filter(|_| e.links.len() == involved.len()) else {
            return Err(refuse(format!(
                "event {seq} has {} links for {} targets",
                e.links.len(),
                involved.len()
            )));
        };
        match previous {
            None => report.from_first = link == 0,
            Some(p) if link != p => {
                return Err(refuse(format!(
                    "event {seq} follows event {link} about {}:{}, which the bundle leaves out (its previous event there is {p})",
                    target.kind, target.id
                )));
            }
            Some(_) => {}
        }
        let checked = check_event(log_id, &e.view(), &mut buf)?;
        if !checked.sealed || checked.bad_personal.is_some() {
            return Err(refuse(match checked.bad_personal {
                Some(path) => {
                    format!("event {seq}'s personal value {path} does not match its commitment")
                }
                None => format!("event {seq}'s fields do not match its hash: it was altered"),
            }));
        }
        let (leaf, redacted) = (checked.leaf, checked.erased);
        verify_inclusion(&leaf, seq - 1, cp.size, &b.proof, &cp.root).map_err(|err| {
            refuse(format!(
                "event {seq} is not in the checkpoint of size {}: {err}",
                cp.size
            ))
        })?;
        report.redacted += u64::from(redacted);
        report.events += 1;
        if report.first_seq == 0 {
            report.first_seq = seq;
        }
        report.newest_seq = seq;
        previous = Some(seq);
    }
    Ok(report)
}

/// [`verify_bundle`], once the checkpoint's signature by `verifier` (the key the business
/// published) checks out (feature `sign`): what an outsider runs.
///
/// # Errors
/// [`Error::Checkpoint`] for a missing or bad signature (nothing else is checked then); as
/// [`verify_bundle`] otherwise.
#[cfg(feature = "sign")]
pub fn verify_signed_bundle(
    bundle: &EvidenceBundle,
    verifier: &super::sign::NoteVerifier,
) -> Result<BundleReport> {
    bundle.checkpoint.verify_signature(verifier)?;
    let mut report = verify_bundle(bundle)?;
    report.signed_by = Some(verifier.name().to_owned());
    Ok(report)
}

mod b64_hashes {
    use super::{Hash, B64};
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|h| B64.encode(h))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| {
                B64.decode(t)
                    .ok()
                    .and_then(|b| Hash::try_from(b.as_slice()).ok())
                    .ok_or_else(|| serde::de::Error::custom(format!("{t:?} is not a base64 hash")))
            })
            .collect()
    }
}

mod checkpoint_text {
    use super::Checkpoint;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(c: &Checkpoint, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&c.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Checkpoint, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
