//! The [`NewEvent`] builder and the validation it goes through before anything is stored.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::integrity::{canonical, hashes};
use crate::model::event::{Actor, Event, Outcome, RequestContext, Source, Target};
use crate::store::sealed::{PersonalField, PersonalValue, SealedEvent};
use crate::trail::config::TrailConfig;
use crate::{model::changes, model::time_util, Error, Result};

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

    /// Validates, redacts and splits the event into an unsealed [`SealedEvent`] (seq, id,
    /// recorded_at and hashes are stamped later, when it is sealed).
    #[cfg(feature = "testkit")]
    pub(crate) fn prepare(self, config: &TrailConfig) -> Result<SealedEvent> {
        self.prepare_with_event(config).map(|(sealed, _)| sealed)
    }

    /// [`NewEvent::prepare`], plus the [`Event`] the sealed form decodes to once the fields
    /// sealing stamps (seq, id, recorded_at, hashes) are filled in: recording returns it
    /// without parsing back the JSON it has just written.
    pub(crate) fn prepare_with_event(self, config: &TrailConfig) -> Result<(SealedEvent, Event)> {
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
            validate_target(|| "target".into(), t)?;
        }
        for (i, t) in self.related.iter().enumerate() {
            validate_target(|| format!("related[{i}]"), t)?;
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
            Some(t) => time_util::recorded("occurred_at", t)?,
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
            // The returned event holds these values, and must equal what reading the
            // canonical text back gives.
            canonical::normalize_numbers(v);
        }
        let Value::Object(context) = context else {
            unreachable!("context is built as an object")
        };

        // Personal values as (path, canonical text); salts and commitments come below.
        let mut personal: Vec<(String, String)> = Vec::new();
        personal_of_actor("actor", &self.actor, &mut personal);
        if let Some(l) = self.target.as_ref().and_then(|t| t.label.as_deref()) {
            personal.push(("target.label".into(), canonical::json_str(l)));
        }
        for (i, t) in self.related.iter().enumerate() {
            if let Some(l) = &t.label {
                personal.push((format!("related[{i}].label"), canonical::json_str(l)));
            }
        }
        let is_personal = |k: &str| config.personal_keys.iter().any(|p| p == k);
        // The canonical text of one side without its personal keys, whose values go to
        // `personal` instead.
        let split_map = |side: &str, map: &Map<String, Value>, personal: &mut Vec<_>| {
            for (k, val) in map.iter().filter(|(k, _)| is_personal(k)) {
                personal.push((format!("{side}.{k}"), canonical::json(val)));
            }
            canonical::json_object_without(map, is_personal)
        };
        let mut split_json = |side: &str, v: &Value| match v {
            Value::Object(map) => split_map(side, map, &mut personal),
            v => canonical::json(v),
        };
        let before_json = before.as_ref().map(|v| split_json("before", v));
        let after_json = after.as_ref().map(|v| split_json("after", v));
        let context_json = split_map("context", &context, &mut personal);
        let context_json = context
            .keys()
            .any(|k| !is_personal(k))
            .then_some(context_json);
        personal.sort_by(|a, b| a.0.cmp(&b.0));
        let personal: Vec<PersonalField> = personal
            .into_iter()
            .map(|(path, text)| {
                let salt = *Uuid::new_v4().as_bytes();
                PersonalField {
                    commitment: hashes::commitment(&path, &salt, &text),
                    path,
                    value: Some(PersonalValue { text, salt }),
                }
            })
            .collect();

        let payload_bytes = before_json.as_ref().map_or(0, String::len)
            + after_json.as_ref().map_or(0, String::len)
            + context_json.as_ref().map_or(0, String::len)
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

        let impersonator = self.actor.impersonator.as_deref().map(|a| {
            let mut a = a.clone();
            strip_personal(&mut a);
            canonical::json(&serde_json::to_value(&a).expect("an Actor serializes"))
        });
        let request = self.request.as_ref().map(|r| {
            canonical::json(&serde_json::to_value(r).expect("a RequestContext serializes"))
        });
        let related = if self.related.is_empty() {
            None
        } else {
            let unlabelled: Vec<Target> = self
                .related
                .iter()
                .map(|t| Target {
                    label: None,
                    ..t.clone()
                })
                .collect();
            Some(canonical::json(
                &serde_json::to_value(&unlabelled).expect("targets serialize"),
            ))
        };
        let source = self.source.as_str().to_owned();
        let failure = match &self.outcome {
            Outcome::Success => None,
            Outcome::Failure { reason } => Some(reason.clone()),
        };
        let sealed = SealedEvent {
            seq: 0,
            id: Uuid::nil(),
            occurred_at,
            recorded_at: occurred_at,
            tenant: self.tenant.clone(),
            actor_kind: self.actor.kind,
            actor_id: self.actor.id.clone(),
            actor_role: self.actor.role.clone(),
            impersonator,
            source: source.clone(),
            request,
            action: self.action.clone(),
            failure,
            target_kind: self.target.as_ref().map(|t| t.kind.clone()),
            target_id: self.target.as_ref().map(|t| t.id.clone()),
            related,
            before: before_json,
            after: after_json,
            context: context_json,
            idempotency_key: self.idempotency_key.clone(),
            payload_version: self.payload_version,
            personal,
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        // What `SealedEvent::decode` gives for `sealed` (tests hold the two equal): the values
        // as given, redacted and number-normalized, personal parts in place.
        let changes = changes::diff(before.as_ref(), after.as_ref());
        let event = Event {
            seq: 0,
            id: Uuid::nil(),
            occurred_at,
            recorded_at: occurred_at,
            tenant: self.tenant,
            actor: self.actor,
            source: Source::parse(&source),
            request: self.request,
            action: self.action,
            outcome: self.outcome,
            target: self.target,
            related: self.related,
            before,
            after,
            changes,
            context,
            idempotency_key: self.idempotency_key,
            payload_version: self.payload_version,
            redacted: Vec::new(),
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        Ok((sealed, event))
    }
}

/// Collects the personal values of `actor` and its impersonators, as (path, canonical text).
fn personal_of_actor(path: &str, actor: &Actor, out: &mut Vec<(String, String)>) {
    if let Some(n) = &actor.name {
        out.push((format!("{path}.name"), canonical::json_str(n)));
    }
    if let Some(e) = &actor.email {
        out.push((format!("{path}.email"), canonical::json_str(e)));
    }
    if let Some(imp) = actor.impersonator.as_deref() {
        personal_of_actor(&format!("{path}.impersonator"), imp, out);
    }
}

/// Removes the personal fields of `actor` and its impersonators.
fn strip_personal(actor: &mut Actor) {
    actor.name = None;
    actor.email = None;
    if let Some(imp) = actor.impersonator.as_deref_mut() {
        strip_personal(imp);
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

fn validate_actor(field: &str, a: &Actor, depth: usize) -> Result<()> {
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

fn validate_target(field: impl Fn() -> String, t: &Target) -> Result<()> {
    check(name_problem(&t.kind), || format!("{}.kind", field()))?;
    check(name_problem(&t.id), || format!("{}.id", field()))?;
    if let Some(l) = &t.label {
        check(text_problem(l), || format!("{}.label", field()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::trail::config::TrailConfig;

    /// The event prepared with a draft is what decoding the draft gives, in the corners where
    /// the two could part: numbers that read back in another form, personal keys taking a
    /// whole side or sitting on a non-object, a source named like a built-in one,
    /// impersonators and related labels.
    #[test]
    fn the_prepared_event_is_what_decoding_gives() {
        let config = TrailConfig {
            personal_keys: vec!["phone".into(), "phone".into(), "n".into()],
            ..TrailConfig::default()
        };
        let boss = Actor::user("u-9").name("Boss").email("b@example.com");
        let events = [
            NewEvent::new("booking.updated")
                .source(Source::Other("web".into()))
                .actor(
                    Actor::user("u-1")
                        .name("Ann \"A\"\n")
                        .role("staff")
                        .impersonated_by(boss),
                )
                .target(Target::new("booking", "b-1").label("Zoë"))
                .related(Target::new("customer", "c-1").label("Zoë B"))
                .related(Target::new("order", "o-1"))
                .before(json!({"n": 100.0, "m": -0.0, "x": [1e21, 0.1, 2.5e-8], "\u{e000}": 1, "\u{1f600}": 2}))
                .after(json!([1.0, {"n": 3}]))
                .context("phone", "+1 555")
                .context("amount", 12.0)
                .context("password", "hunter2")
                .context("n", json!({"deep": ["x", 1.5]}))
                .outcome(Outcome::failure("declined")),
            NewEvent::new("auth.login").context("phone", "+1 555"),
            NewEvent::new("auth.login")
                .before(json!("plain"))
                .after(json!({"phone": null, "n": {"deep": 1.50}})),
        ];
        for e in events {
            let (sealed, event) = e.prepare_with_event(&config).unwrap();
            assert_eq!(sealed.decode().unwrap(), event);
        }
    }
}
