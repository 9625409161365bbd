//! The [`NewEvent`] builder and the validation it goes through before anything is stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::model::event::{Actor, Outcome, RequestContext, Source, Target};
use crate::{Error, Result};

/// Longest accepted action name, tenant, id, kind, role or idempotency key, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Deepest accepted nesting of `before`, `after` and `context` values.
pub const MAX_JSON_DEPTH: usize = 64;

/// An event to record: build it with the methods below and pass it to
/// [`crate::AuditTrail::record`].
///
/// Nothing is checked until it is recorded; then every problem is reported as
/// [`Error::Invalid`] naming the field, and nothing is stored.
///
/// `NewEvent` is `Serialize` and `Deserialize` (JSON fields as in [`crate::Event`], absent
/// ones take the defaults of [`NewEvent::new`]), so an app that must queue events before
/// recording them (an outbox, README "Recording inside your transaction") can store them
/// and record them later unchanged. Set [`NewEvent::occurred_at`] when queueing, so the
/// event says when it happened rather than when it was recorded, and an idempotency key, so
/// recording it again after a crash stores it once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[must_use = "a NewEvent does nothing until it is recorded"]
pub struct NewEvent {
    pub(crate) action: String,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) occurred_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<String>,
    // Unset until the caller or a scope's defaults say (`EventDefaults`); recording treats
    // unset as `Actor::system()` and `Source::System`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request: Option<RequestContext>,
    #[serde(default)]
    pub(crate) outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<Target>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) related: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub(crate) context: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) payload_version: Option<u32>,
    /// A problem a builder method found, reported when the event is recorded; queued with
    /// it, so a deserialized event fails the same way.
    #[serde(default, rename = "invalid", skip_serializing_if = "Option::is_none")]
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
            actor: None,
            source: None,
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

    pub(crate) fn fail(mut self, field: &str, problem: impl std::fmt::Display) -> Self {
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
        self.actor = Some(actor);
        self
    }

    /// Through which channel (default: [`Source::System`]).
    pub fn source(mut self, source: Source) -> Self {
        self.source = Some(source);
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

    /// When it happened, if earlier than now (default: the time of recording). Stored in UTC
    /// to the microsecond; recording fails with [`Error::Invalid`] (field `occurred_at`) when
    /// it lies outside 1970-01-01 … 9999-12-31 UTC, whatever its offset.
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
        match crate::model::json_depth::to_value(value) {
            Ok(v) => NewEvent {
                before: Some(v),
                ..self
            },
            Err(e) => self.fail("before", e),
        }
    }

    /// State after the change.
    pub fn after(self, value: impl Serialize) -> Self {
        match crate::model::json_depth::to_value(value) {
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
        match crate::model::json_depth::to_value(value) {
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
        match crate::model::json_depth::to_value(payload) {
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
    let ok =
        action.len() <= MAX_NAME_BYTES && action.split('.').count() >= 2 && action_segments(action);
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

/// True when every dot-separated segment of `s` is non-empty `[a-z0-9_]`: the shape of an
/// action name, or of the part of a `booking.*` query pattern before its `.*`.
pub(crate) fn action_segments(s: &str) -> bool {
    s.split('.').all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

pub(crate) fn validate_name(field: &str, value: &str) -> Result<()> {
    check(name_problem(value), || field.to_owned())
}

/// `Err` naming the field (built only then: validation runs on every event) for a problem.
fn check(problem: Option<String>, field: impl FnOnce() -> String) -> Result<()> {
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::Invalid {
            field: field(),
            problem,
        }),
    }
}

fn name_problem(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some("must not be empty".into());
    }
    if value.len() > MAX_NAME_BYTES {
        return Some(format!(
            "is {} bytes, at most {MAX_NAME_BYTES} are allowed",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Some(format!("{value:?} must not contain control characters"));
    }
    None
}

fn text_problem(value: &str) -> Option<String> {
    (value.len() > 4096).then(|| format!("is {} bytes, at most 4096 are allowed", value.len()))
}

pub(crate) fn validate_actor(field: &str, a: &Actor, depth: usize) -> Result<()> {
    if depth > 4 {
        return Err(Error::invalid(
            field,
            "impersonation is nested more than 4 levels deep",
        ));
    }
    check(name_problem(&a.id), || format!("{field}.id"))?;
    if let Some(r) = &a.role {
        check(name_problem(r), || format!("{field}.role"))?;
    }
    if let Some(n) = &a.name {
        check(text_problem(n), || format!("{field}.name"))?;
    }
    if let Some(e) = &a.email {
        check(text_problem(e), || format!("{field}.email"))?;
    }
    if let Some(imp) = &a.impersonator {
        validate_actor(&format!("{field}.impersonator"), imp, depth + 1)?;
    }
    Ok(())
}

pub(crate) fn validate_target(field: impl Fn() -> String, t: &Target) -> Result<()> {
    check(name_problem(&t.kind), || format!("{}.kind", field()))?;
    check(name_problem(&t.id), || format!("{}.id", field()))?;
    if let Some(l) = &t.label {
        check(text_problem(l), || format!("{}.label", field()))?;
    }
    Ok(())
}
