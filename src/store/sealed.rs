//! The form in which events travel to and from a store.
//!
//! A [`SealedEvent`] is what the hash chain covers, field for field: plain columns, JSON held as
//! the exact canonical text that was hashed, and personal values split out next to their
//! commitments so they can be erased without touching anything hashed. Stores persist it
//! verbatim; [`SealedEvent::decode`] turns it into the [`Event`] applications see.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::event::{
    hex32, Actor, ActorKind, Event, Outcome, RequestContext, Source, Target,
};
use crate::store::personal_path::{ActorField, PersonalPath, PersonalPathRef};
use crate::{model::changes, Error, Result};

/// The canonical encoding version this build seals with: 2, which adds the event's
/// [`SealedEvent::links`] to what the first hashed. Verify dispatches on each event's own
/// [`SealedEvent::encoding`], so logs sealed with the first still verify.
pub(crate) const ENCODING: u8 = 2;

/// The lowest level of the Merkle subtrees whose hashes events carry ([`SealedEvent::nodes`]):
/// subtrees of 16 leaves and up. Below it a proof re-hashes at most 16 events, which costs
/// less than the 32 bytes a stored node of every smaller subtree would add to each event.
pub(crate) const NODE_LEVEL: u32 = 4;

fn first_encoding() -> u8 {
    1
}

fn is_first_encoding(v: &u8) -> bool {
    *v == 1
}

/// An event as sealed into the chain and persisted by an [`crate::AuditStore`].
///
/// Stores keep every field exactly as given and give it back unchanged: the core recomputes
/// every hash from these fields on verify, so any loss or alteration shows up there.
///
/// The struct is `#[non_exhaustive]` so that later versions can add fields: build one with
/// [`SealedEvent::new`] and set the other fields. Its serde form is what custom stores and
/// archives keep, so it stays readable: every field that can be empty (the `Option`s and
/// `personal`) is `#[serde(default)]`, and so will be every field added later, so text
/// written today still decodes (`tests/golden.rs` holds some to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SealedEvent {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// Time-ordered id.
    pub id: Uuid,
    /// When it happened, UTC, microseconds.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// When it was sealed, UTC, microseconds.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// Tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Actor kind.
    pub actor_kind: ActorKind,
    /// Actor id.
    pub actor_id: String,
    /// Actor role.
    #[serde(default)]
    pub actor_role: Option<String>,
    /// Canonical JSON of the impersonating actor, personal fields removed.
    #[serde(default)]
    pub impersonator: Option<String>,
    /// Source name.
    pub source: String,
    /// Canonical JSON of the request context.
    #[serde(default)]
    pub request: Option<String>,
    /// Action name.
    pub action: String,
    /// `None` for success, the reason for a failure.
    #[serde(default)]
    pub failure: Option<String>,
    /// Target kind.
    #[serde(default)]
    pub target_kind: Option<String>,
    /// Target id.
    #[serde(default)]
    pub target_id: Option<String>,
    /// Canonical JSON array of related targets, labels removed; `None` when there are none.
    #[serde(default)]
    pub related: Option<String>,
    /// Canonical JSON of `before`, personal keys removed.
    #[serde(default)]
    pub before: Option<String>,
    /// Canonical JSON of `after`, personal keys removed.
    #[serde(default)]
    pub after: Option<String>,
    /// Canonical JSON object of `context`, personal keys removed; `None` when empty.
    #[serde(default)]
    pub context: Option<String>,
    /// Idempotency key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Typed payload schema version.
    #[serde(default)]
    pub payload_version: Option<u32>,
    /// Personal fields, sorted by the text of their path.
    #[serde(default)]
    pub personal: Vec<PersonalField>,
    /// Chain hash of the previous event.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// Chain hash of this event.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// The version of the canonical encoding this event's hashes were computed with
    /// ([`crate::integrity::canonical`]); verify recomputes with the same one. Left out of the
    /// serde form when it is the first version, so text written before the field existed reads
    /// the same.
    #[serde(default = "first_encoding", skip_serializing_if = "is_first_encoding")]
    pub encoding: u8,
    /// For each target the event involves ([`SealedEvent::involved`]: its target and related
    /// targets, sorted and deduplicated), the seq of the newest earlier event of the same
    /// tenant that involves it (0 when none): each target's events form a chain of their own,
    /// so that a set of them ([`crate::integrity::bundle`]) shows when one was left out.
    /// Hashed from encoding 2 on; empty in events of encoding 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<u64>,
    /// The hashes of the Merkle subtrees this event's leaf completes, of 16 leaves and more,
    /// smallest first: empty unless `seq` is a multiple of 16. Not hashed into the event:
    /// they are what proofs are made from without re-hashing the log, and verify recomputes
    /// each. Events sealed before they existed (encoding 1) carry none.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "hex32_list")]
    pub nodes: Vec<[u8; 32]>,
}

/// One personal field of an event: its commitment (hashed into the chain) and, until erased,
/// its value and salt (never hashed directly, stored apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalField {
    /// Where the value sits.
    pub path: PersonalPath,
    /// `SHA-256(0x04 ‖ path ‖ salt ‖ value)`.
    #[serde(with = "hex32")]
    pub commitment: [u8; 32],
    /// The value and its salt; `None` once erased.
    #[serde(default)]
    pub value: Option<PersonalValue>,
}

/// An erasable personal value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalValue {
    /// Canonical JSON text of the value.
    pub text: String,
    /// Random per-value salt.
    #[serde(with = "hex16")]
    pub salt: [u8; 16],
}

/// A [`SealedEvent`] lent by a store: every field borrowed from wherever the store keeps it,
/// so reading the whole log (as verification does) copies nothing into owned strings.
///
/// [`crate::AuditStore::read_each`] hands these out; [`SealedEvent::view`] makes one from an
/// owned event and [`SealedEventRef::to_owned`] goes back. It has the fields of
/// [`SealedEvent`], and is `#[non_exhaustive]` for the same reason: a store that lends its
/// own builds one with [`SealedEventRef::new`] and sets the other fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealedEventRef<'a> {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// Time-ordered id.
    pub id: Uuid,
    /// When it happened, UTC, microseconds.
    pub occurred_at: OffsetDateTime,
    /// When it was sealed, UTC, microseconds.
    pub recorded_at: OffsetDateTime,
    /// Tenant.
    pub tenant: Option<&'a str>,
    /// Actor kind.
    pub actor_kind: ActorKind,
    /// Actor id.
    pub actor_id: &'a str,
    /// Actor role.
    pub actor_role: Option<&'a str>,
    /// Canonical JSON of the impersonating actor, personal fields removed.
    pub impersonator: Option<&'a str>,
    /// Source name.
    pub source: &'a str,
    /// Canonical JSON of the request context.
    pub request: Option<&'a str>,
    /// Action name.
    pub action: &'a str,
    /// `None` for success, the reason for a failure.
    pub failure: Option<&'a str>,
    /// Target kind.
    pub target_kind: Option<&'a str>,
    /// Target id.
    pub target_id: Option<&'a str>,
    /// Canonical JSON array of related targets, labels removed; `None` when there are none.
    pub related: Option<&'a str>,
    /// Canonical JSON of `before`, personal keys removed.
    pub before: Option<&'a str>,
    /// Canonical JSON of `after`, personal keys removed.
    pub after: Option<&'a str>,
    /// Canonical JSON object of `context`, personal keys removed; `None` when empty.
    pub context: Option<&'a str>,
    /// Idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Typed payload schema version.
    pub payload_version: Option<u32>,
    /// Personal fields, sorted by the text of their path.
    pub personal: Vec<PersonalFieldRef<'a>>,
    /// Chain hash of the previous event.
    pub prev_hash: [u8; 32],
    /// Chain hash of this event.
    pub hash: [u8; 32],
    /// The canonical encoding version; see [`SealedEvent::encoding`].
    pub encoding: u8,
    /// Each involved target's previous event; see [`SealedEvent::links`].
    pub links: Vec<u64>,
    /// Stored subtree hashes; see [`SealedEvent::nodes`].
    pub nodes: Vec<[u8; 32]>,
}

/// A [`PersonalField`] lent by a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalFieldRef<'a> {
    /// Where the value sits; see [`PersonalField::path`].
    pub path: PersonalPathRef<'a>,
    /// The commitment hashed into the chain.
    pub commitment: [u8; 32],
    /// The value's canonical JSON text and its salt; `None` once erased.
    pub value: Option<(&'a str, [u8; 16])>,
}

impl SealedEvent {
    /// An unsealed event: `action` at position `seq` with id `id`, which happened and was
    /// recorded at `occurred_at`, by the system actor from source `system`, with nothing
    /// else (no tenant, target, payload or personal fields) and both hashes zero.
    ///
    /// Set the other fields, then the hashes
    /// ([`crate::integrity::verify::seal_hashes`] computes them).
    pub fn new(seq: u64, id: Uuid, occurred_at: OffsetDateTime, action: impl Into<String>) -> Self {
        let system = Actor::system();
        SealedEvent {
            seq,
            id,
            occurred_at,
            recorded_at: occurred_at,
            tenant: None,
            actor_kind: system.kind,
            actor_id: system.id,
            actor_role: None,
            impersonator: None,
            source: Source::System.as_str().into(),
            request: None,
            action: action.into(),
            failure: None,
            target_kind: None,
            target_id: None,
            related: None,
            before: None,
            after: None,
            context: None,
            idempotency_key: None,
            payload_version: None,
            personal: Vec::new(),
            prev_hash: [0; 32],
            hash: [0; 32],
            encoding: ENCODING,
            links: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// This event as a [`SealedEventRef`] borrowing its fields.
    pub fn view(&self) -> SealedEventRef<'_> {
        SealedEventRef {
            seq: self.seq,
            id: self.id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            tenant: self.tenant.as_deref(),
            actor_kind: self.actor_kind,
            actor_id: &self.actor_id,
            actor_role: self.actor_role.as_deref(),
            impersonator: self.impersonator.as_deref(),
            source: &self.source,
            request: self.request.as_deref(),
            action: &self.action,
            failure: self.failure.as_deref(),
            target_kind: self.target_kind.as_deref(),
            target_id: self.target_id.as_deref(),
            related: self.related.as_deref(),
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            context: self.context.as_deref(),
            idempotency_key: self.idempotency_key.as_deref(),
            payload_version: self.payload_version,
            personal: self
                .personal
                .iter()
                .map(|p| PersonalFieldRef {
                    path: PersonalPathRef::from(&p.path),
                    commitment: p.commitment,
                    value: p.value.as_ref().map(|v| (v.text.as_str(), v.salt)),
                })
                .collect(),
            prev_hash: self.prev_hash,
            hash: self.hash,
            encoding: self.encoding,
            links: self.links.clone(),
            nodes: self.nodes.clone(),
        }
    }
}

impl<'a> SealedEventRef<'a> {
    /// [`SealedEvent::new`], lent: `action` at `seq` with id `id`, at `occurred_at`, by the
    /// system actor from source `system`, with nothing else and both hashes zero.
    pub fn new(seq: u64, id: Uuid, occurred_at: OffsetDateTime, action: &'a str) -> Self {
        SealedEventRef {
            seq,
            id,
            occurred_at,
            recorded_at: occurred_at,
            tenant: None,
            actor_kind: ActorKind::System,
            actor_id: "system",
            actor_role: None,
            impersonator: None,
            source: "system",
            request: None,
            action,
            failure: None,
            target_kind: None,
            target_id: None,
            related: None,
            before: None,
            after: None,
            context: None,
            idempotency_key: None,
            payload_version: None,
            personal: Vec::new(),
            prev_hash: [0; 32],
            hash: [0; 32],
            encoding: ENCODING,
            links: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// The owned [`SealedEvent`] with the same fields.
    #[allow(clippy::wrong_self_convention)] // `ToOwned` needs `Borrow`, which cannot lend this.
    pub fn to_owned(&self) -> SealedEvent {
        let own = |s: Option<&str>| s.map(str::to_owned);
        SealedEvent {
            seq: self.seq,
            id: self.id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            tenant: own(self.tenant),
            actor_kind: self.actor_kind,
            actor_id: self.actor_id.to_owned(),
            actor_role: own(self.actor_role),
            impersonator: own(self.impersonator),
            source: self.source.to_owned(),
            request: own(self.request),
            action: self.action.to_owned(),
            failure: own(self.failure),
            target_kind: own(self.target_kind),
            target_id: own(self.target_id),
            related: own(self.related),
            before: own(self.before),
            after: own(self.after),
            context: own(self.context),
            idempotency_key: own(self.idempotency_key),
            payload_version: self.payload_version,
            personal: self
                .personal
                .iter()
                .map(|p| PersonalField {
                    path: p.path.to_path(),
                    commitment: p.commitment,
                    value: p.value.map(|(text, salt)| PersonalValue {
                        text: text.to_owned(),
                        salt,
                    }),
                })
                .collect(),
            prev_hash: self.prev_hash,
            hash: self.hash,
            encoding: self.encoding,
            links: self.links.clone(),
            nodes: self.nodes.clone(),
        }
    }
}

mod hex32_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(hex::encode).collect::<Vec<_>>().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}

mod hex16 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(h: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 16];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

pub(crate) fn corrupt(seq: u64, what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("event {seq}: {what}: {e}"))
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    seq: u64,
    what: impl std::fmt::Display,
    text: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(seq, what, e))
}

impl SealedEvent {
    /// The [`Event`] this sealed form stands for; erased personal fields are listed in
    /// `redacted` and left out.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when a JSON field cannot be read back or a personal path names a
    /// place the event does not have.
    pub fn decode(&self) -> Result<Event> {
        let seq = self.seq;
        let mut actor = Actor::new(self.actor_kind, self.actor_id.clone());
        actor.role = self.actor_role.clone();
        if let Some(imp) = &self.impersonator {
            actor.impersonator = Some(Box::new(parse(seq, "impersonator", imp)?));
        }
        let mut target = match (&self.target_kind, &self.target_id) {
            (Some(k), Some(i)) => Some(Target::new(k.clone(), i.clone())),
            (None, None) => None,
            _ => return Err(corrupt(seq, "target", "kind and id must both be present")),
        };
        let mut related: Vec<Target> = match &self.related {
            Some(r) => parse(seq, "related", r)?,
            None => Vec::new(),
        };
        let mut sides = self.parse_sides()?;
        let request: Option<RequestContext> = self
            .request
            .as_deref()
            .map(|t| parse(seq, "request", t))
            .transpose()?;

        let mut redacted = Vec::new();
        for p in &self.personal {
            let Some(pv) = &p.value else {
                redacted.push(p.path.to_string());
                continue;
            };
            let path = &p.path;
            let Some(value) = put_back(seq, &mut sides, path, parse(seq, path, &pv.text)?)? else {
                continue;
            };
            let text = || string(seq, path, &value);
            match path {
                PersonalPath::TargetLabel => {
                    target
                        .as_mut()
                        .ok_or_else(|| corrupt(seq, path, "no target"))?
                        .label = Some(text()?);
                }
                PersonalPath::RelatedLabel(i) => {
                    related
                        .get_mut(*i)
                        .ok_or_else(|| corrupt(seq, path, "no such related target"))?
                        .label = Some(text()?);
                }
                PersonalPath::ActorName
                | PersonalPath::ActorEmail
                | PersonalPath::ImpersonatorName(_)
                | PersonalPath::ImpersonatorEmail(_) => {
                    let (depth, field) = path.actor_field().expect("a path on an actor");
                    let mut a = &mut actor;
                    for _ in 0..depth {
                        a = a
                            .impersonator
                            .as_deref_mut()
                            .ok_or_else(|| corrupt(seq, path, "no impersonator"))?;
                    }
                    match field {
                        ActorField::Name => a.name = Some(text()?),
                        ActorField::Email => a.email = Some(text()?),
                    }
                }
                // Put back into `context`, `before` or `after` above.
                PersonalPath::Context(_) | PersonalPath::Before(_) | PersonalPath::After(_) => {}
            }
        }
        let (before, after, context) = sides;
        let changes = changes::diff(before.as_ref(), after.as_ref());
        Ok(Event {
            seq,
            id: self.id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            tenant: self.tenant.clone(),
            actor,
            source: Source::parse(&self.source),
            request,
            action: self.action.clone(),
            outcome: match &self.failure {
                None => Outcome::Success,
                Some(r) => Outcome::failure(r.clone()),
            },
            target,
            related,
            before,
            after,
            changes,
            context,
            idempotency_key: self.idempotency_key.clone(),
            payload_version: self.payload_version,
            redacted,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }

    /// The targets a store indexes for `involving(..)`: the target, then every related one.
    pub fn involved(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        if let (Some(k), Some(i)) = (&self.target_kind, &self.target_id) {
            out.push((k.clone(), i.clone()));
        }
        if let Some(r) = &self.related {
            let related: Vec<Target> = parse(self.seq, "related", r)?;
            out.extend(related.into_iter().map(|t| (t.kind, t.id)));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every change path and every path above it, for indexing `changed(..)`.
    pub fn change_paths(&self) -> Result<Vec<String>> {
        Ok(change_paths_of(&self.decode()?.changes))
    }

    /// The text a store indexes for `search(..)`; see [`crate::Query::search`].
    pub fn search_text(&self) -> Result<String> {
        Ok(crate::query::search_text(&self.decode()?))
    }

    /// `before`, `after` and `context` parsed, personal values not yet put back.
    pub(crate) fn parse_sides(&self) -> Result<Sides> {
        let seq = self.seq;
        let side = |name: &str, text: &Option<String>| -> Result<Option<Value>> {
            text.as_deref().map(|t| parse(seq, name, t)).transpose()
        };
        let context = match &self.context {
            Some(c) => parse(seq, "context", c)?,
            None => Map::new(),
        };
        Ok((
            side("before", &self.before)?,
            side("after", &self.after)?,
            context,
        ))
    }

    /// Whether the event is a failure.
    pub fn is_failure(&self) -> bool {
        self.failure.is_some()
    }
}

/// An event's `before`, `after` and `context`, parsed.
pub(crate) type Sides = (Option<Value>, Option<Value>, Map<String, Value>);

pub(crate) fn change_paths_of(changes: &[crate::Change]) -> Vec<String> {
    let mut out: Vec<String> = changes
        .iter()
        .flat_map(|c| changes::with_ancestors(&c.path))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Puts a personal value back where `path` says when that is under `context`, `before` or
/// `after`; otherwise hands `value` back for the caller's own fields.
pub(crate) fn put_back(
    seq: u64,
    sides: &mut Sides,
    path: &PersonalPath,
    value: Value,
) -> Result<Option<Value>> {
    let (before, after, context) = sides;
    match path {
        PersonalPath::Context(key) => {
            context.insert(key.clone(), value);
        }
        PersonalPath::Before(key) => insert_key(seq, before, key, value)?,
        PersonalPath::After(key) => insert_key(seq, after, key, value)?,
        _ => return Ok(Some(value)),
    }
    Ok(None)
}

/// A personal value that must be a string (a name, an email, a label).
pub(crate) fn string(seq: u64, path: &PersonalPath, value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| corrupt(seq, path, "expected a string"))
}

fn insert_key(seq: u64, side: &mut Option<Value>, key: &str, value: Value) -> Result<()> {
    match side.get_or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(m) => {
            m.insert(key.to_owned(), value);
            Ok(())
        }
        _ => Err(corrupt(
            seq,
            key,
            "personal key on a value that is not an object",
        )),
    }
}
