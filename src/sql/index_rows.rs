//! The rows an SQL store derives from each event, for both backends: targets, change paths, search words, personal values.
//!
//! Appends, erasure and migrations all index through [`IndexRows::of`], so every path that
//! writes an index row writes what the others would, and what [`crate::Query::matches`] reads.

use super::Dialect;
use crate::model::changes;
use crate::model::event::Target;
use crate::store::sealed::{change_paths_of, corrupt, parse, put_back, string, SealedEvent};
use crate::store::PersonalPath;
use crate::Result;

/// What a store indexes for one event besides its columns.
///
/// It agrees with [`SealedEvent::involved`], [`SealedEvent::change_paths`] and
/// [`SealedEvent::search_text`], but parses only what the index needs (related targets,
/// before, after, context and the personal values that go back into them), once, instead of
/// decoding the whole event three times; it refuses what [`SealedEvent::decode`] would refuse
/// among those parts.
#[derive(Debug)]
pub(crate) struct IndexRows<'e> {
    /// The target and related targets, sorted and deduplicated (`auditkit_event_targets`).
    pub(crate) involved: Vec<(String, String)>,
    /// Change paths with their ancestors, sorted and deduplicated (`auditkit_event_changes`).
    pub(crate) change_paths: Vec<String>,
    /// The search text as the dialect indexes it ([`Dialect::search_body`]).
    pub(crate) search: String,
    /// The personal values not erased, in the event's order (`auditkit_personal_values`).
    pub(crate) personal: Vec<PersonalRow<'e>>,
}

/// One row of `auditkit_personal_values`, borrowed from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PersonalRow<'e> {
    /// Where the value sits, as stored; see [`crate::PersonalField::path`].
    pub(crate) path: std::borrow::Cow<'static, str>,
    /// The value's canonical JSON text.
    pub(crate) value: &'e str,
    /// Its salt.
    pub(crate) salt: &'e [u8; 16],
}

impl<'e> IndexRows<'e> {
    /// The index rows of `e`, its search text in `dialect`'s form.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] when a part the index reads cannot be decoded.
    pub(crate) fn of(e: &'e SealedEvent, dialect: &Dialect) -> Result<Self> {
        let seq = e.seq;
        let mut involved = Vec::new();
        match (&e.target_kind, &e.target_id) {
            (Some(k), Some(i)) => involved.push((k.clone(), i.clone())),
            (None, None) => {}
            _ => return Err(corrupt(seq, "target", "kind and id must both be present")),
        }
        let mut related_count = 0;
        if let Some(r) = &e.related {
            let related: Vec<Target> = parse(seq, "related", r)?;
            related_count = related.len();
            involved.extend(related.into_iter().map(|t| (t.kind, t.id)));
        }
        involved.sort();
        involved.dedup();

        let mut sides = e.parse_sides()?;
        let mut actor_name = None;
        let mut target_label = None;
        let mut personal = Vec::with_capacity(e.personal.len());
        for p in &e.personal {
            let Some(pv) = &p.value else {
                continue;
            };
            personal.push(PersonalRow {
                path: p.path.text(),
                value: &pv.text,
                salt: &pv.salt,
            });
            let path = &p.path;
            let Some(value) = put_back(seq, &mut sides, path, parse(seq, path, &pv.text)?)? else {
                continue;
            };
            let text = || string(seq, path, &value);
            match path {
                PersonalPath::TargetLabel => {
                    if e.target_kind.is_none() {
                        return Err(corrupt(seq, path, "no target"));
                    }
                    target_label = Some(text()?);
                }
                PersonalPath::ActorName => actor_name = Some(text()?),
                PersonalPath::RelatedLabel(i) if *i >= related_count => {
                    return Err(corrupt(seq, path, "no such related target"));
                }
                // Placed by `decode`, not read by the index.
                _ => {}
            }
        }
        let (before, after, context) = sides;
        let changes = changes::diff(before.as_ref(), after.as_ref());
        let text = crate::query::search_text_of(
            &e.action,
            actor_name.as_deref(),
            target_label.as_deref(),
            &context,
        );
        Ok(IndexRows {
            involved,
            change_paths: change_paths_of(&changes),
            search: (dialect.search_body)(&text),
            personal,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::event::{Actor, Outcome, Source};
    use crate::trail::config::TrailConfig;
    use crate::{Error, NewEvent};

    /// A dialect that indexes the search text as it is, to compare it with `search_text`.
    const PLAIN: Dialect = Dialect {
        placeholder: |n| format!("${n}"),
        search: |_| String::new(),
        search_param: |_| String::new(),
        search_body: |text| text.to_owned(),
    };

    /// Sealed events in the corners where a one-pass index could part from decoding: personal
    /// values under context, before and after (on objects, taking a whole side, next to a side
    /// that is not an object), numbers that read back in another form, impersonators, related
    /// labels, a source named like a built-in one.
    fn corners() -> Vec<SealedEvent> {
        let config = TrailConfig {
            personal_keys: vec!["email".into(), "notes".into()],
            ..TrailConfig::default()
        };
        let admin = Actor::user("admin-2")
            .name("Zoë Admin")
            .email("z@example.com")
            .impersonated_by(Actor::user("root").name("Root").email("r@example.com"));
        [
            NewEvent::new("client.updated")
                .source(Source::Other("api".into()))
                .actor(Actor::user("u-3").name("Ann_B").impersonated_by(admin))
                .target(Target::new("client", "c-7").label("Bea Ström"))
                .related(Target::new("booking", "b-2").label("Cut & colour"))
                .related(Target::new("booking", "b-1"))
                .related(Target::new("client", "c-7").label("Bea again"))
                .before(json!({"email": "old@example.com", "tier": 2.50, "tags": ["a", 1e21]}))
                .after(json!({"email": "new@example.com", "tier": 3, "notes": {"x": [-0.0]}}))
                .context("email", "ctx@example.com")
                .context("notes", json!(["late", 12.0, {"why": "bus"}]))
                .context("token", "s3cret")
                .context("room", 101)
                .outcome(Outcome::failure("not allowed")),
            NewEvent::new("client.noted")
                .actor(Actor::user("u-4").email("only@example.com"))
                .before(json!([1, 2]))
                .after(json!({"notes": "whole"})),
            NewEvent::new("client.noted").after(json!("notes")),
            NewEvent::new("auth.login"),
        ]
        .into_iter()
        .map(|e| e.prepare(&config).unwrap())
        .collect()
    }

    fn check(e: &SealedEvent) {
        let rows = IndexRows::of(e, &PLAIN).unwrap();
        assert_eq!(rows.involved, e.involved().unwrap(), "{e:?}");
        assert_eq!(rows.change_paths, e.change_paths().unwrap(), "{e:?}");
        assert_eq!(rows.search, e.search_text().unwrap(), "{e:?}");
        let present: Vec<(String, &str, &[u8; 16])> = e
            .personal
            .iter()
            .filter_map(|p| {
                p.value
                    .as_ref()
                    .map(|v| (p.path.to_string(), v.text.as_str(), &v.salt))
            })
            .collect();
        let got: Vec<_> = rows
            .personal
            .iter()
            .map(|r| (r.path.to_string(), r.value, r.salt))
            .collect();
        assert_eq!(got, present, "{e:?}");
    }

    #[test]
    fn index_rows_are_what_decoding_gives() {
        let events = corners();
        assert!(events[0].personal.len() >= 8, "{:?}", events[0].personal);
        for mut e in events {
            check(&e);
            // Erased values leave the index as they leave the decoded event.
            for step in [2, 1] {
                for p in e.personal.iter_mut().step_by(step) {
                    p.value = None;
                }
                check(&e);
            }
        }
    }

    #[test]
    fn what_decoding_refuses_the_index_refuses() {
        let e = corners().swap_remove(0);
        // A typed path cannot be unknown; one that points past the related targets can be.
        let mut unknown = e.clone();
        unknown.personal[0].path = crate::store::PersonalPath::RelatedLabel(99);
        let mut no_target = e.clone();
        (no_target.target_kind, no_target.target_id) = (None, None);
        let mut half_target = e.clone();
        half_target.target_id = None;
        let mut no_related = e.clone();
        no_related.related = None;
        let mut bad_context = e;
        bad_context.context = Some("{".into());
        for bad in [unknown, no_target, half_target, no_related, bad_context] {
            assert!(
                matches!(bad.decode(), Err(Error::Corrupt { .. })),
                "{bad:?}"
            );
            let err = IndexRows::of(&bad, &PLAIN).expect_err("refused");
            assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        }
    }
}
