//! Erasure (the GDPR right to be forgotten): removing one person's personal values
//! everywhere, without breaking the chain.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::event::{Actor, ActorKind, Event, Target};
use crate::model::new_event::NewEvent;
use crate::store::personal_path::{ActorField, PersonalPath};
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::trail::AuditTrail;
use crate::{Result, Source};

/// The action of the event that records an erasure. It names the subject by kind and id only
/// (actors in `context.actors`, targets as related targets) with the counts in its context;
/// it holds no personal value.
pub const ERASURE_ACTION: &str = "audit.subject_erased";

/// Events read per round trip while erasing; each chunk's values are removed atomically.
const CHUNK: usize = 1_000;

/// The person whose personal values [`AuditTrail::erase_subject`] removes.
///
/// A person can appear as an actor (a customer booking online, a staff user) and as a target
/// or related target (the customer a booking belongs to); how an actor id relates to a target
/// id is the application's business, so a subject lists every identity it has:
///
/// ```
/// use auditkit::{ActorKind, Subject, Target};
///
/// // Customer c-9, who also signs in as actor customer c-9.
/// let alex = Subject::customer("c-9");
/// // A staff user who also appears as target ("user", "u-17").
/// let sam = Subject::new()
///     .actor(ActorKind::User, "u-17")
///     .target(&Target::new("user", "u-17"));
/// # let _ = (alex, sam);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Subject {
    actors: Vec<(ActorKind, String)>,
    targets: Vec<(String, String)>,
}

impl Subject {
    /// A subject with no identity yet: add some with [`Subject::actor`] and [`Subject::target`].
    pub fn new() -> Self {
        Subject::default()
    }

    /// A customer: actor [`ActorKind::Customer`] `id` and target `("customer", id)`.
    pub fn customer(id: impl Into<String>) -> Self {
        let id = id.into();
        Subject::new()
            .actor(ActorKind::Customer, id.clone())
            .target(&Target::new("customer", id))
    }

    /// Adds an identity as actor (also matched as an impersonator).
    pub fn actor(mut self, kind: ActorKind, id: impl Into<String>) -> Self {
        self.actors.push((kind, id.into()));
        self
    }

    /// Adds an identity as target or related target (its label is ignored).
    pub fn target(mut self, target: &Target) -> Self {
        self.targets.push((target.kind.clone(), target.id.clone()));
        self
    }

    fn is_actor(&self, kind: ActorKind, id: &str) -> bool {
        self.actors.iter().any(|(k, i)| *k == kind && i == id)
    }

    fn is_target(&self, kind: &str, id: &str) -> bool {
        self.targets.iter().any(|(k, i)| k == kind && i == id)
    }

    /// The personal paths of `e` to erase for this subject (values still present only).
    fn paths(&self, e: &SealedEvent) -> Result<Vec<PersonalPath>> {
        let mut paths = Vec::new();
        let mut involved = false;
        let mut of_actor = |depth| {
            involved = true;
            paths.push(PersonalPath::of_actor(depth, ActorField::Name));
            paths.push(PersonalPath::of_actor(depth, ActorField::Email));
        };
        if self.is_actor(e.actor_kind, &e.actor_id) {
            of_actor(0);
        }
        if let Some(imp) = &e.impersonator {
            let imp: Actor = serde_json::from_str(imp).map_err(|err| {
                crate::Error::corrupt(format!("event {}: impersonator: {err}", e.seq))
            })?;
            let mut depth = 1;
            let mut cur = Some(&imp);
            while let Some(a) = cur {
                if self.is_actor(a.kind, &a.id) {
                    of_actor(depth);
                }
                cur = a.impersonator.as_deref();
                depth += 1;
            }
        }
        if let (Some(k), Some(i)) = (&e.target_kind, &e.target_id) {
            if self.is_target(k, i) {
                involved = true;
                paths.push(PersonalPath::TargetLabel);
            }
        }
        if let Some(r) = &e.related {
            let related: Vec<Value> = serde_json::from_str(r)
                .map_err(|err| crate::Error::corrupt(format!("event {}: related: {err}", e.seq)))?;
            for (i, t) in related.iter().enumerate() {
                let kind = t.get("kind").and_then(Value::as_str).unwrap_or_default();
                let id = t.get("id").and_then(Value::as_str).unwrap_or_default();
                if self.is_target(kind, id) {
                    involved = true;
                    paths.push(PersonalPath::RelatedLabel(i));
                }
            }
        }
        if involved {
            paths.extend(
                e.personal
                    .iter()
                    .filter(|p| p.path.payload_key().is_some())
                    .map(|p| p.path.clone()),
            );
        }
        paths.retain(|path| {
            e.personal
                .iter()
                .any(|p| &p.path == path && p.value.is_some())
        });
        paths.sort_by_cached_key(PersonalPath::text);
        paths.dedup();
        Ok(paths)
    }
}

/// What [`AuditTrail::erase_subject`] did.
///
/// Serializes with its event as [`Event`] does; it deserializes back to an equal report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErasureReport {
    /// Events that had personal values of the subject removed.
    pub events: u64,
    /// Personal values removed.
    pub values: u64,
    /// The [`ERASURE_ACTION`] event recorded for the erasure.
    pub event: Event,
}

impl<S: AuditStore> AuditTrail<S> {
    /// Removes `subject`'s personal values from every stored event, and records the erasure
    /// as an [`ERASURE_ACTION`] event (which holds no personal value).
    ///
    /// Removed: the actor's name and email where the actor (or an impersonator) is the
    /// subject; the label where the target or a related target is the subject; and, in every
    /// event involving the subject in any of those roles, the `before`/`after`/`context` keys
    /// that were configured as personal ([`crate::TrailBuilder::personal_keys`]) when the event
    /// was recorded. Only the values and their salts go; the commitments stay, so
    /// [`AuditTrail::verify`] still passes and counts the events as redacted. Every other field
    /// stays, and queries on it still work; `search` no longer finds the erased words.
    ///
    /// Not reached: archives already written by [`AuditTrail::purge_before_to`], backups and
    /// copies of the database, and values under keys that were not marked personal when
    /// recorded (those are hashed into the chain and cannot be removed without breaking it).
    ///
    /// The scan covers the whole log; values are removed one chunk of events at a time, so
    /// after a failure part of them may be gone: run it again to finish.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a subject with no identity; [`crate::Error::Unsupported`]
    /// when the store cannot erase; storage errors.
    pub fn erase_subject(&self, subject: &Subject) -> Result<ErasureReport> {
        if subject.actors.is_empty() && subject.targets.is_empty() {
            return Err(crate::Error::invalid(
                "subject",
                "names no actor and no target; add one with Subject::actor or Subject::target",
            ));
        }
        let store = self.store();
        let mut from = 0;
        let (mut events, mut values) = (0u64, 0u64);
        loop {
            let chunk = store.read(from, CHUNK)?;
            let Some(last) = chunk.last() else { break };
            from = last.seq + 1;
            let mut fields = Vec::new();
            for e in &chunk {
                let paths = subject.paths(e)?;
                if !paths.is_empty() {
                    events += 1;
                    values += paths.len() as u64;
                    fields.extend(paths.into_iter().map(|p| (e.seq, p)));
                }
            }
            if !fields.is_empty() {
                store.erase(&fields)?;
            }
        }
        let actors: Vec<Value> = subject
            .actors
            .iter()
            .map(|(k, i)| serde_json::json!({"kind": k, "id": i}))
            .collect();
        let mut record = NewEvent::new(ERASURE_ACTION)
            .source(Source::System)
            .context("events", events)
            .context("values", values);
        if !actors.is_empty() {
            record = record.context("actors", actors);
        }
        for (k, i) in &subject.targets {
            record = record.related(Target::new(k.clone(), i.clone()));
        }
        let event = self.record(record)?;
        Ok(ErasureReport {
            events,
            values,
            event,
        })
    }
}
