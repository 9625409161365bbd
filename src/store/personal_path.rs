//! Where a personal value sits in an event: [`PersonalPath`], and [`PersonalPathRef`], the
//! form a store lends. The text grammar of paths lives here and nowhere else.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// Where a personal value sits in an event: the actor's name, a target's label, a personal key
/// of `context`, ...
///
/// Its text (`Display`, `FromStr` and serde use it) is what stores keep and what the chain
/// hashes, in the event's canonical bytes and in each value's commitment, so it never changes:
///
/// | path | text |
/// |------|------|
/// | `ActorName` | `actor.name` |
/// | `ActorEmail` | `actor.email` |
/// | `ImpersonatorName(1)` | `actor.impersonator.name` |
/// | `ImpersonatorName(2)` | `actor.impersonator.impersonator.name` (and so on) |
/// | `ImpersonatorEmail(n)` | `actor.impersonator.email`, ... |
/// | `TargetLabel` | `target.label` |
/// | `RelatedLabel(i)` | `related[i].label` |
/// | `Context(key)` | `context.<key>` |
/// | `Before(key)` | `before.<key>` |
/// | `After(key)` | `after.<key>` |
///
/// Parsing accepts exactly these texts (an index is written without leading zeros; a key may
/// be any string, dots included) and gives back the path that prints as the same text; any
/// other text is [`Error::Malformed`].
///
/// ```
/// use auditkit::store::PersonalPath;
///
/// let phone: PersonalPath = "context.phone".parse()?;
/// assert_eq!(phone, PersonalPath::Context("phone".into()));
/// assert_eq!(PersonalPath::RelatedLabel(0).to_string(), "related[0].label");
/// assert!("actor.id".parse::<PersonalPath>().is_err());
/// # Ok::<(), auditkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PersonalPath {
    /// The actor's name: `actor.name`.
    ActorName,
    /// The actor's email: `actor.email`.
    ActorEmail,
    /// The name of an impersonator, `depth` steps up from the actor: 1 is the one
    /// impersonating the actor (`actor.impersonator.name`), 2 the one impersonating that one
    /// (`actor.impersonator.impersonator.name`), ...
    ImpersonatorName(NonZeroUsize),
    /// The email of an impersonator, `depth` steps up from the actor (see
    /// [`PersonalPath::ImpersonatorName`]): `actor.impersonator.email`, ...
    ImpersonatorEmail(NonZeroUsize),
    /// The target's label: `target.label`.
    TargetLabel,
    /// The label of the related target at this index: `related[0].label`, ...
    RelatedLabel(usize),
    /// A personal key of `context`: `context.<key>`.
    Context(String),
    /// A personal key of `before`: `before.<key>`.
    Before(String),
    /// A personal key of `after`: `after.<key>`.
    After(String),
}

/// The personal fields of one actor in an impersonation chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActorField {
    Name,
    Email,
}

const CONTEXT: &str = "context.";
const BEFORE: &str = "before.";
const AFTER: &str = "after.";
const ACTOR: &str = "actor.";
const IMPERSONATOR: &str = "impersonator.";
const RELATED: (&str, &str) = ("related[", "].label");

/// Makes a path from the key of `context`, `before` or `after` it names.
type Keyed = fn(String) -> PersonalPath;

/// The keyed paths, by the prefix of their text.
const KEYED: [(&str, Keyed); 3] = [
    (CONTEXT, PersonalPath::Context),
    (BEFORE, PersonalPath::Before),
    (AFTER, PersonalPath::After),
];

impl PersonalPath {
    /// The name or email of the actor `depth` steps up the impersonation chain (0: the actor
    /// itself).
    pub(crate) fn of_actor(depth: usize, field: ActorField) -> Self {
        match (NonZeroUsize::new(depth), field) {
            (None, ActorField::Name) => PersonalPath::ActorName,
            (None, ActorField::Email) => PersonalPath::ActorEmail,
            (Some(d), ActorField::Name) => PersonalPath::ImpersonatorName(d),
            (Some(d), ActorField::Email) => PersonalPath::ImpersonatorEmail(d),
        }
    }

    /// For a path on an actor: how many steps up the impersonation chain (0: the actor
    /// itself), and which field.
    pub(crate) fn actor_field(&self) -> Option<(usize, ActorField)> {
        match self {
            PersonalPath::ActorName => Some((0, ActorField::Name)),
            PersonalPath::ActorEmail => Some((0, ActorField::Email)),
            PersonalPath::ImpersonatorName(d) => Some((d.get(), ActorField::Name)),
            PersonalPath::ImpersonatorEmail(d) => Some((d.get(), ActorField::Email)),
            _ => None,
        }
    }

    /// For a personal key of `context`, `before` or `after`: the key.
    pub(crate) fn payload_key(&self) -> Option<&str> {
        match self {
            PersonalPath::Context(k) | PersonalPath::Before(k) | PersonalPath::After(k) => Some(k),
            _ => None,
        }
    }

    /// The text, borrowed where it is a fixed one.
    pub(crate) fn text(&self) -> Cow<'static, str> {
        match self {
            PersonalPath::ActorName => Cow::Borrowed("actor.name"),
            PersonalPath::ActorEmail => Cow::Borrowed("actor.email"),
            PersonalPath::TargetLabel => Cow::Borrowed("target.label"),
            other => Cow::Owned(other.to_string()),
        }
    }
}

/// What a text names, its key (if any) still borrowed from it: the grammar, once.
enum Parsed<'a> {
    Path(PersonalPath),
    Keyed(Keyed, &'a str),
}

fn parse_text(s: &str) -> Option<Parsed<'_>> {
    for (prefix, make) in KEYED {
        if let Some(key) = s.strip_prefix(prefix) {
            return Some(Parsed::Keyed(make, key));
        }
    }
    if s == "target.label" {
        return Some(Parsed::Path(PersonalPath::TargetLabel));
    }
    if let Some(i) = s
        .strip_prefix(RELATED.0)
        .and_then(|r| r.strip_suffix(RELATED.1))
    {
        // Only the digits `Display` writes: no sign, no leading zero.
        let canonical = !i.is_empty()
            && i.bytes().all(|b| b.is_ascii_digit())
            && (i == "0" || !i.starts_with('0'));
        return canonical
            .then(|| i.parse().ok())
            .flatten()
            .map(|i| Parsed::Path(PersonalPath::RelatedLabel(i)));
    }
    let mut rest = s.strip_prefix(ACTOR)?;
    let mut depth = 0;
    while let Some(r) = rest.strip_prefix(IMPERSONATOR) {
        rest = r;
        depth += 1;
    }
    let field = match rest {
        "name" => ActorField::Name,
        "email" => ActorField::Email,
        _ => return None,
    };
    Some(Parsed::Path(PersonalPath::of_actor(depth, field)))
}

fn malformed(s: &str) -> Error {
    Error::malformed(
        "personal path",
        format!(
            "{s:?} is not one; paths are actor.name, actor.email, actor.impersonator.name (and \
             .email, nested as deep as the impersonation), target.label, related[<index>].label, \
             context.<key>, before.<key> and after.<key>"
        ),
    )
}

impl fmt::Display for PersonalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (depth, field) = match self {
            PersonalPath::ActorName => (0, "name"),
            PersonalPath::ActorEmail => (0, "email"),
            PersonalPath::ImpersonatorName(d) => (d.get(), "name"),
            PersonalPath::ImpersonatorEmail(d) => (d.get(), "email"),
            PersonalPath::TargetLabel => return f.write_str("target.label"),
            PersonalPath::RelatedLabel(i) => return write!(f, "{}{i}{}", RELATED.0, RELATED.1),
            PersonalPath::Context(k) => return write!(f, "{CONTEXT}{k}"),
            PersonalPath::Before(k) => return write!(f, "{BEFORE}{k}"),
            PersonalPath::After(k) => return write!(f, "{AFTER}{k}"),
        };
        f.write_str(ACTOR)?;
        for _ in 0..depth {
            f.write_str(IMPERSONATOR)?;
        }
        f.write_str(field)
    }
}

impl FromStr for PersonalPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match parse_text(s).ok_or_else(|| malformed(s))? {
            Parsed::Path(p) => Ok(p),
            Parsed::Keyed(make, key) => Ok(make(key.to_owned())),
        }
    }
}

impl Serialize for PersonalPath {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PersonalPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A [`PersonalPath`] as a store lends it in a [`crate::store::PersonalFieldRef`]: its text,
/// checked to be a path, borrowed from wherever the store keeps it.
///
/// Verification reads every path of the log through this form and hashes the text as it is,
/// so lending one costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonalPathRef<'a>(Cow<'a, str>);

impl<'a> PersonalPathRef<'a> {
    /// `text` as a path, borrowed.
    ///
    /// # Errors
    /// [`Error::Malformed`] when `text` is not the text of a [`PersonalPath`].
    pub fn parse(text: &'a str) -> Result<Self> {
        match parse_text(text) {
            Some(_) => Ok(PersonalPathRef(Cow::Borrowed(text))),
            None => Err(malformed(text)),
        }
    }

    /// The path's text, as stored and hashed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owned path.
    pub fn to_path(&self) -> PersonalPath {
        self.0
            .parse()
            .expect("a PersonalPathRef holds the text of a path, checked when it was made")
    }
}

impl From<&PersonalPath> for PersonalPathRef<'static> {
    fn from(path: &PersonalPath) -> Self {
        PersonalPathRef(path.text())
    }
}

impl fmt::Display for PersonalPathRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_form() -> Vec<PersonalPath> {
        let d = |n| NonZeroUsize::new(n).unwrap();
        vec![
            PersonalPath::ActorName,
            PersonalPath::ActorEmail,
            PersonalPath::ImpersonatorName(d(1)),
            PersonalPath::ImpersonatorEmail(d(1)),
            PersonalPath::ImpersonatorName(d(3)),
            PersonalPath::ImpersonatorEmail(d(2)),
            PersonalPath::TargetLabel,
            PersonalPath::RelatedLabel(0),
            PersonalPath::RelatedLabel(12),
            PersonalPath::Context("phone".into()),
            PersonalPath::Context("home.phone".into()),
            PersonalPath::Context(String::new()),
            PersonalPath::Before("phone".into()),
            PersonalPath::After("a b\t\u{e9}[0]".into()),
        ]
    }

    #[test]
    fn prints_the_texts_stores_hold() {
        let texts: Vec<String> = every_form().iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "actor.name",
                "actor.email",
                "actor.impersonator.name",
                "actor.impersonator.email",
                "actor.impersonator.impersonator.impersonator.name",
                "actor.impersonator.impersonator.email",
                "target.label",
                "related[0].label",
                "related[12].label",
                "context.phone",
                "context.home.phone",
                "context.",
                "before.phone",
                "after.a b\t\u{e9}[0]",
            ]
        );
    }

    #[test]
    fn parses_what_it_prints_and_nothing_else() {
        for p in every_form() {
            let text = p.to_string();
            assert_eq!(text.parse::<PersonalPath>().unwrap(), p, "{text}");
            assert_eq!(p.text(), text);
            let lent = PersonalPathRef::parse(&text).unwrap();
            assert_eq!((lent.as_str(), lent.to_path()), (text.as_str(), p.clone()));
            assert_eq!(PersonalPathRef::from(&p), lent);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, serde_json::to_string(&text).unwrap());
            assert_eq!(serde_json::from_str::<PersonalPath>(&json).unwrap(), p);
        }
        for bad in [
            "",
            "actor",
            "actor.",
            "actor.id",
            "actor.role",
            "actor.impersonator",
            "actor.impersonator.",
            "actor.impersonator.id",
            "actor.name.x",
            "Actor.name",
            "target.id",
            "target.label.",
            "related[].label",
            "related[01].label",
            "related[+1].label",
            "related[-1].label",
            "related[1]",
            "related[1].label.x",
            "related[99999999999999999999999].label",
            "context",
            "request.ip",
        ] {
            let e = bad.parse::<PersonalPath>().unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Malformed {
                        what: "personal path",
                        ..
                    }
                ),
                "{bad:?}: {e}"
            );
            assert!(PersonalPathRef::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_value::<PersonalPath>(bad.into()).is_err());
        }
    }
}
