//! The [`NewEvent`] builder and the validation it goes through before anything is stored.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::TrailConfig;
use crate::event::{Actor, Outcome, RequestContext, Source, Target};
use crate::integrity::{canonical, hashes};
use crate::sealed::{PersonalField, PersonalValue, SealedEvent};
use crate::{time_util, Error, Result};

/// Longest accepted action name, tenant, id, kind, role or idempotency key, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Deepest accepted nesting of `before`, `after` and `context` values.
pub const MAX_JSON_DEPTH: usize = 64;

/// An event to record: build it with the methods below and pass it to
/// [`crate::AuditTrail::record`].
///
/// Nothing is checked until it is recorded; then every problem is reported as
/// [`Error::Invalid`] naming the field, and nothing is stored.
#[derive(Debug, Clone)]
#[must_use = "a NewEvent does nothing until it is recorded"]
pub struct NewEvent {
    pub(crate) action: String,
    pub(crate) occurred_at: Option<OffsetDateTime>,
    pub(crate) tenant: Option<String>,
    pub(crate) actor: Actor,
    pub(crate) source: Source,
    pub(crate) request: Option<RequestContext>,
    pub(crate) outcome: Outcome,
    pub(crate) target: Option<Target>,
    pub(crate) related: Vec<Target>,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
    pub(crate) context: Map<String, Value>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) payload_version: Option<u32>,
    pub(crate) error: Option<(String, String)>,
}

impl NewEvent {
    /// An event with a dotted action name such as `booking.rescheduled`.
    ///
    /// Defaults: actor [`Actor::system()`], source [`Source::System`], outcome success,
    /// `occurred_at` the time of recording, no tenant, target, before/after or context.
    pub fn new(action: impl Into<String>) -> Self {
        NewEvent {
            action: action.into(),
            occurred_at: None,
            tenant: None,
            actor: Actor::system(),
            source: Source::System,
            request: None,
            outcome: Outcome::Success,
            target: None,
            related: Vec::new(),
            before: None,
            after: None,
            context: Map::new(),
            idempotency_key: None,
            payload_version: None,
            error: None,
        }
    }

    fn fail(mut self, field: &str, problem: impl std::fmt::Display) -> Self {
        if self.error.is_none() {
            self.error = Some((field.to_owned(), problem.to_string()));
        }
        self
    }

    /// The tenant: business, clinic or organization.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Who did it (default: [`Actor::system()`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// Through which channel (default: [`Source::System`]).
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Request details: IP, user agent, request id.
    pub fn request(mut self, request: RequestContext) -> Self {
        self.request = Some(request);
        self
    }

    /// Success (default) or failure.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// When it happened, if earlier than now (default: the time of recording).
    pub fn occurred_at(mut self, t: OffsetDateTime) -> Self {
        self.occurred_at = Some(t);
        self
    }

    /// The thing acted upon.
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Another thing the event touches (can be called several times).
    pub fn related(mut self, target: Target) -> Self {
        self.related.push(target);
        self
    }

    /// State before the change; `changes` are derived from it and [`NewEvent::after`].
    pub fn before(self, value: impl Serialize) -> Self {
        match crate::json_depth::to_value(value) {
            Ok(v) => NewEvent {
                before: Some(v),
                ..self
            },
            Err(e) => self.fail("before", e),
        }
    }

    /// State after the change.
    pub fn after(self, value: impl Serialize) -> Self {
        match crate::json_depth::to_value(value) {
            Ok(v) => NewEvent {
                after: Some(v),
                ..self
            },
            Err(e) => self.fail("after", e),
        }
    }

    /// Adds `key: value` to the context (reason, amount, currency, channel, ...).
    pub fn context(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        match crate::json_depth::to_value(value) {
            Ok(v) => {
                self.context.insert(key, v);
                self
            }
            Err(e) => self.fail(&format!("context.{key}"), e),
        }
    }

    /// A key that makes recording idempotent: recording another event with the same key (a
    /// retried request or webhook) returns the first event instead of storing a duplicate.
    /// Keys are unique across the whole log.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Builds an event from a typed payload: the action is `P::ACTION`, the payload's fields
    /// become the context, and `P::VERSION` is recorded so [`crate::Event::payload`] can read
    /// it back.
    pub fn typed<P: crate::AuditPayload>(payload: &P) -> Self {
        let mut e = NewEvent::new(P::ACTION);
        e.payload_version = Some(P::VERSION);
        match crate::json_depth::to_value(payload) {
            Ok(Value::Object(map)) => {
                e.context = map;
                e
            }
            Ok(other) => e.fail(
                "payload",
                format!("must serialize to a JSON object, got {}", kind_of(&other)),
            ),
            Err(e2) => e.fail("payload", e2),
        }
    }

    /// The action name.
    pub fn action_name(&self) -> &str {
        &self.action
    }

    /// The idempotency key, if set.
    pub fn key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// Validates, redacts and splits the event into an unsealed [`SealedEvent`] (seq, id,
    /// recorded_at and hashes are stamped later, when it is sealed).
    pub(crate) fn prepare(self, config: &TrailConfig) -> Result<SealedEvent> {
        if let Some((field, problem)) = self.error {
            return Err(Error::Invalid { field, problem });
        }
        validate_action(&self.action)?;
        if let Some(t) = &self.tenant {
            validate_name("tenant", t)?;
        }
        validate_actor("actor", &self.actor, 0)?;
        if let Source::Other(s) = &self.source {
            validate_name("source", s)?;
        }
        if let Some(t) = &self.target {
            validate_target("target", t)?;
        }
        for (i, t) in self.related.iter().enumerate() {
            validate_target(&format!("related[{i}]"), t)?;
        }
        if let Some(k) = &self.idempotency_key {
            validate_name("idempotency_key", k)?;
        }
        if let Outcome::Failure { reason } = &self.outcome {
            if reason.len() > 4096 {
                return Err(Error::invalid(
                    "outcome.reason",
                    format!("is {} bytes, at most 4096 are allowed", reason.len()),
                ));
            }
        }
        let occurred_at = match self.occurred_at {
            Some(t) => time_util::normalize("occurred_at", t)?,
            None => time_util::now(),
        };

        let mut before = self.before;
        let mut after = self.after;
        let mut context = Value::Object(self.context);
        for (name, v) in [
            ("before", before.as_ref()),
            ("after", after.as_ref()),
            ("context", Some(&context)),
        ] {
            if let Some(v) = v {
                let d = canonical::depth(v);
                if d > MAX_JSON_DEPTH {
                    return Err(Error::invalid(
                        name,
                        format!("is nested {d} levels deep, at most {MAX_JSON_DEPTH} are allowed"),
                    ));
                }
            }
        }
        for v in [before.as_mut(), after.as_mut(), Some(&mut context)]
            .into_iter()
            .flatten()
        {
            config.redact(v);
        }

        let mut personal = Vec::new();
        let mut commit = |path: String, value: &Value| {
            let text = canonical::json(value);
            let salt = *Uuid::new_v4().as_bytes();
            personal.push(PersonalField {
                commitment: hashes::commitment(&path, &salt, &text),
                path,
                value: Some(PersonalValue { text, salt }),
            });
        };

        let mut actor = self.actor;
        split_actor("actor", &mut actor, &mut commit);
        let (target_kind, target_id) = match self.target {
            Some(t) => {
                if let Some(l) = &t.label {
                    commit("target.label".into(), &Value::String(l.clone()));
                }
                (Some(t.kind), Some(t.id))
            }
            None => (None, None),
        };
        let mut related = self.related;
        for (i, t) in related.iter_mut().enumerate() {
            if let Some(l) = t.label.take() {
                commit(format!("related[{i}].label"), &Value::String(l));
            }
        }
        let mut split_json = |side: &str, v: &mut Value| {
            if let Value::Object(map) = v {
                for key in &config.personal_keys {
                    if let Some(val) = map.remove(key) {
                        commit(format!("{side}.{key}"), &val);
                    }
                }
            }
        };
        if let Some(v) = before.as_mut() {
            split_json("before", v);
        }
        if let Some(v) = after.as_mut() {
            split_json("after", v);
        }
        split_json("context", &mut context);
        personal.sort_by(|a, b| a.path.cmp(&b.path));

        let before = before.as_ref().map(canonical::json);
        let after = after.as_ref().map(canonical::json);
        let context = match &context {
            Value::Object(m) if m.is_empty() => None,
            v => Some(canonical::json(v)),
        };
        let payload_bytes = before.as_ref().map_or(0, String::len)
            + after.as_ref().map_or(0, String::len)
            + context.as_ref().map_or(0, String::len)
            + personal
                .iter()
                .filter(|p| {
                    ["before.", "after.", "context."]
                        .iter()
                        .any(|side| p.path.starts_with(side))
                })
                .map(|p| p.value.as_ref().map_or(0, |v| v.text.len()))
                .sum::<usize>();
        if payload_bytes > config.max_payload_bytes {
            return Err(Error::invalid(
                "payload",
                format!(
                    "before + after + context take {payload_bytes} bytes of canonical JSON, at most {} are allowed; store large documents elsewhere and record a reference",
                    config.max_payload_bytes
                ),
            ));
        }

        let impersonator = actor
            .impersonator
            .as_deref()
            .map(|a| canonical::json(&serde_json::to_value(a).expect("an Actor serializes")));
        let request = self.request.as_ref().map(|r| {
            canonical::json(&serde_json::to_value(r).expect("a RequestContext serializes"))
        });
        let related = if related.is_empty() {
            None
        } else {
            Some(canonical::json(
                &serde_json::to_value(&related).expect("targets serialize"),
            ))
        };
        Ok(SealedEvent {
            seq: 0,
            id: Uuid::nil(),
            occurred_at,
            recorded_at: occurred_at,
            tenant: self.tenant,
            actor_kind: actor.kind,
            actor_id: actor.id,
            actor_role: actor.role,
            impersonator,
            source: self.source.as_str().to_owned(),
            request,
            action: self.action,
            failure: match self.outcome {
                Outcome::Success => None,
                Outcome::Failure { reason } => Some(reason),
            },
            target_kind,
            target_id,
            related,
            before,
            after,
            context,
            idempotency_key: self.idempotency_key,
            payload_version: self.payload_version,
            personal,
            prev_hash: [0; 32],
            hash: [0; 32],
        })
    }
}

fn split_actor(path: &str, actor: &mut Actor, commit: &mut impl FnMut(String, &Value)) {
    if let Some(n) = actor.name.take() {
        commit(format!("{path}.name"), &Value::String(n));
    }
    if let Some(e) = actor.email.take() {
        commit(format!("{path}.email"), &Value::String(e));
    }
    if let Some(imp) = actor.impersonator.as_deref_mut() {
        split_actor(&format!("{path}.impersonator"), imp, commit);
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks an action name: at least two dot-separated segments of `[a-z0-9_]`.
pub(crate) fn validate_action(action: &str) -> Result<()> {
    let ok = action.len() <= MAX_NAME_BYTES
        && action.split('.').count() >= 2
        && action.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "action",
            format!(
                "{action:?} must be at least two dot-separated segments of lowercase letters, digits and `_` (like `booking.rescheduled`), at most {MAX_NAME_BYTES} bytes"
            ),
        ))
    }
}

pub(crate) fn validate_name(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes, at most {MAX_NAME_BYTES} are allowed",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{value:?} must not contain control characters"),
        ));
    }
    Ok(())
}

fn validate_text(field: &str, value: &str) -> Result<()> {
    if value.len() > 4096 {
        return Err(Error::invalid(
            field,
            format!("is {} bytes, at most 4096 are allowed", value.len()),
        ));
    }
    Ok(())
}

fn validate_actor(field: &str, a: &Actor, depth: usize) -> Result<()> {
    if depth > 4 {
        return Err(Error::invalid(
            field,
            "impersonation is nested more than 4 levels deep",
        ));
    }
    validate_name(&format!("{field}.id"), &a.id)?;
    if let Some(r) = &a.role {
        validate_name(&format!("{field}.role"), r)?;
    }
    if let Some(n) = &a.name {
        validate_text(&format!("{field}.name"), n)?;
    }
    if let Some(e) = &a.email {
        validate_text(&format!("{field}.email"), e)?;
    }
    if let Some(imp) = &a.impersonator {
        validate_actor(&format!("{field}.impersonator"), imp, depth + 1)?;
    }
    Ok(())
}

fn validate_target(field: &str, t: &Target) -> Result<()> {
    validate_name(&format!("{field}.kind"), &t.kind)?;
    validate_name(&format!("{field}.id"), &t.id)?;
    if let Some(l) = &t.label {
        validate_text(&format!("{field}.label"), l)?;
    }
    Ok(())
}
