//! Preparing an event: validating a [`NewEvent`], redacting secrets, committing personal
//! values and splitting it into the unsealed form the group commit seals.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::integrity::{canonical, hashes};
use crate::model::event::{Actor, Event, Outcome, Source, Target};
use crate::model::new_event::{
    validate_action, validate_actor, validate_name, validate_target, NewEvent, MAX_JSON_DEPTH,
};
use crate::model::{changes, time_util};
use crate::store::personal_path::{ActorField, PersonalPath};
use crate::store::sealed::{PersonalField, PersonalValue, SealedEvent};
use crate::trail::config::TrailConfig;
use crate::{Error, Result};

impl NewEvent {
    /// Validates, redacts and splits the event into an unsealed [`SealedEvent`] (seq, id,
    /// recorded_at and hashes are stamped later, when it is sealed).
    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn prepare(self, config: &TrailConfig) -> Result<SealedEvent> {
        self.prepare_with_event(config).map(|(sealed, _)| sealed)
    }

    /// [`NewEvent::prepare`], plus the [`Event`] the sealed form decodes to once the fields
    /// sealing stamps (seq, id, recorded_at, hashes) are filled in: recording returns it
    /// without parsing back the JSON it has just written.
    pub(crate) fn prepare_with_event(
        mut self,
        config: &TrailConfig,
    ) -> Result<(SealedEvent, Event)> {
        if let Some((field, problem)) = self.error {
            return Err(Error::Invalid { field, problem });
        }
        let actor = self.actor.take().unwrap_or_else(Actor::system);
        let source_given = self.source.take().unwrap_or_default();
        validate_action(&self.action)?;
        if let Some(t) = &self.tenant {
            validate_name("tenant", t)?;
        }
        validate_actor("actor", &actor, 0)?;
        if let Source::Other(s) = &source_given {
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
        // A draft's `recorded_at` is when it was prepared (sealing stamps the real one); its
        // `occurred_at` is the same unless the caller gave one (`idempotency::differs`).
        let prepared_at = time_util::now();
        let occurred_at = match self.occurred_at {
            Some(t) => time_util::recorded("occurred_at", t)?,
            None => prepared_at,
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
        let mut personal: Vec<(PersonalPath, String)> = Vec::new();
        personal_of_actor(0, &actor, &mut personal);
        if let Some(l) = self.target.as_ref().and_then(|t| t.label.as_deref()) {
            personal.push((PersonalPath::TargetLabel, canonical::json_str(l)));
        }
        for (i, t) in self.related.iter().enumerate() {
            if let Some(l) = &t.label {
                personal.push((PersonalPath::RelatedLabel(i), canonical::json_str(l)));
            }
        }
        let is_personal = |k: &str| config.personal_keys.iter().any(|p| p == k);
        // The canonical text of one side without its personal keys, whose values go to
        // `personal` instead.
        type Side = fn(String) -> PersonalPath;
        let split_map = |side: Side, map: &Map<String, Value>, personal: &mut Vec<_>| {
            for (k, val) in map.iter().filter(|(k, _)| is_personal(k)) {
                personal.push((side(k.clone()), canonical::json(val)));
            }
            canonical::json_object_without(map, is_personal)
        };
        let mut split_json = |side: Side, v: &Value| match v {
            Value::Object(map) => split_map(side, map, &mut personal),
            v => canonical::json(v),
        };
        let before_json = before.as_ref().map(|v| split_json(PersonalPath::Before, v));
        let after_json = after.as_ref().map(|v| split_json(PersonalPath::After, v));
        let context_json = split_map(PersonalPath::Context, &context, &mut personal);
        let context_json = context
            .keys()
            .any(|k| !is_personal(k))
            .then_some(context_json);
        // Sorted by the paths' text, which the commitments hash too.
        let mut personal: Vec<(_, PersonalPath, String)> = personal
            .into_iter()
            .map(|(path, text)| (path.text(), path, text))
            .collect();
        personal.sort_by(|a, b| a.0.cmp(&b.0));
        let personal: Vec<PersonalField> = personal
            .into_iter()
            .map(|(path_text, path, text)| {
                let salt = *Uuid::new_v4().as_bytes();
                PersonalField {
                    commitment: hashes::commitment(&path_text, &salt, &text),
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
                .filter(|p| p.path.payload_key().is_some())
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

        let impersonator = actor.impersonator.as_deref().map(|a| {
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
        let source = source_given.as_str().to_owned();
        let failure = match &self.outcome {
            Outcome::Success => None,
            Outcome::Failure { reason } => Some(reason.clone()),
        };
        let sealed = SealedEvent {
            seq: 0,
            id: Uuid::nil(),
            occurred_at,
            recorded_at: prepared_at,
            tenant: self.tenant.clone(),
            actor_kind: actor.kind,
            actor_id: actor.id.clone(),
            actor_role: actor.role.clone(),
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
            encoding: crate::store::sealed::ENCODING,
            links: Vec::new(),
            nodes: Vec::new(),
        };
        // What `SealedEvent::decode` gives for `sealed` (tests hold the two equal): the values
        // as given, redacted and number-normalized, personal parts in place.
        let changes = changes::diff(before.as_ref(), after.as_ref());
        let event = Event {
            seq: 0,
            id: Uuid::nil(),
            occurred_at,
            recorded_at: prepared_at,
            tenant: self.tenant,
            actor,
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

/// Collects the personal values of `actor`, `depth` steps up the impersonation chain, and of
/// its impersonators, as (path, canonical text).
fn personal_of_actor(depth: usize, actor: &Actor, out: &mut Vec<(PersonalPath, String)>) {
    if let Some(n) = &actor.name {
        out.push((
            PersonalPath::of_actor(depth, ActorField::Name),
            canonical::json_str(n),
        ));
    }
    if let Some(e) = &actor.email {
        out.push((
            PersonalPath::of_actor(depth, ActorField::Email),
            canonical::json_str(e),
        ));
    }
    if let Some(imp) = actor.impersonator.as_deref() {
        personal_of_actor(depth + 1, imp, out);
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
