//! Field-level changes derived from `before` and `after`.
//!
//! Paths join object keys with `.` and array elements as `[i]`: `slot.start`, `items[2].price`.
//! A `.`, `[` or `\` inside a key is escaped with `\` so every path names exactly one place.
//! The whole value has the path `""`. Unchanged fields are omitted.

use serde_json::{Map, Value};

use crate::model::event::Change;

/// The changes that turn `before` into `after`, in path order within each object.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), before, after, &mut out);
    out
}

fn walk(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (None, None) => {}
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(join_key(&path, k), b.get(k), a.get(k), out);
            }
        }
        // An empty object added below the root has no fields to list: record it whole, or
        // `after` could not be rebuilt from `before` and the changes.
        (None, Some(Value::Object(a))) if a.is_empty() && !path.is_empty() => out.push(Change {
            path,
            old: None,
            new: Some(Value::Object(a.clone())),
        }),
        // A missing root on one side compares like an empty object, so a creation lists the
        // fields it set rather than one change holding the whole value.
        (None, Some(Value::Object(a))) => {
            for (k, v) in a {
                walk(join_key(&path, k), None, Some(v), out);
            }
        }
        (Some(Value::Object(b)), None) if path.is_empty() => {
            for (k, v) in b {
                walk(join_key(&path, k), Some(v), None, out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) => {
            for i in 0..b.len().max(a.len()) {
                walk(format!("{path}[{i}]"), b.get(i), a.get(i), out);
            }
        }
        (b, a) => {
            if b != a {
                out.push(Change {
                    path,
                    old: b.cloned(),
                    new: a.cloned(),
                });
            }
        }
    }
}

/// `path.key`, with `key` escaped.
pub fn join_key(path: &str, key: &str) -> String {
    let mut out = String::with_capacity(path.len() + key.len() + 1);
    out.push_str(path);
    if !path.is_empty() {
        out.push('.');
    }
    for c in key.chars() {
        if matches!(c, '.' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `path` and every path above it: `a.b[2]` gives `a`, `a.b`, `a.b[2]`.
///
/// Stores index these so that `changed("slot")` finds changes at and below `slot` by exact match.
pub fn with_ancestors(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut escaped = false;
    for (i, c) in path.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '.' | '[' if i > 0 => out.push(&path[..i]),
            _ => {}
        }
    }
    out.push(path);
    out
}

/// The value at change path `path` (as [`diff`] writes them) inside `value`, if there is one.
pub(crate) fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    follow(value, &steps(path)?)
}

/// [`get`] inside an object held as a map (an event's context), without wrapping it in a
/// `Value`.
pub(crate) fn get_in<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match steps(path)?.split_first()? {
        (Step::Key(k), rest) => follow(map.get(k)?, rest),
        (Step::Index(_), _) => None,
    }
}

fn follow<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match (step, v) {
        (Step::Key(k), Value::Object(m)) => m.get(k),
        (Step::Index(i), Value::Array(a)) => a.get(*i),
        _ => None,
    })
}

/// One step of a change path.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a path written by [`diff`]; `None` for a path it cannot have written.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    if path.is_empty() {
        return Some(out);
    }
    let mut chars = path.chars().peekable();
    // A path starts with a key unless the whole value is an array.
    let mut key = if chars.peek() == Some(&'[') {
        None
    } else {
        Some(String::new())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => key.as_mut()?.push(chars.next()?),
            '.' => {
                if let Some(k) = key.take() {
                    out.push(Step::Key(k));
                }
                key = Some(String::new());
            }
            '[' => {
                if let Some(k) = key.take() {
                    out.push(Step::Key(k));
                }
                let mut digits = String::new();
                loop {
                    match chars.next()? {
                        ']' => break,
                        d => digits.push(d),
                    }
                }
                out.push(Step::Index(digits.parse().ok()?));
            }
            c => key.as_mut()?.push(c),
        }
    }
    if let Some(k) = key {
        out.push(Step::Key(k));
    }
    Some(out)
}

/// Rebuilds `after` from `before` and the changes [`diff`] derived from them, the inverse of
/// [`diff`]: `apply(before, &diff(before, after))` is `after`.
///
/// As in [`diff`], a missing root compares like an empty object, so where `after` is `None`
/// or `{}` the result may be the other of the two. The top-level empty key shares the path
/// `""` with the whole value; a change there replaces the whole value.
///
/// Returns `None` when the result has no value, or when a change's path cannot be followed
/// (changes that [`diff`] did not derive from `before`).
pub fn apply(before: Option<&Value>, changes: &[Change]) -> Option<Value> {
    let mut root = before.cloned();
    for c in changes {
        let steps = steps(&c.path)?;
        let Some((last, parents)) = steps.split_last() else {
            root = c.new.clone();
            continue;
        };
        let mut at = root.get_or_insert_with(|| Value::Object(Default::default()));
        for (i, step) in parents.iter().enumerate() {
            // A missing container on the way is one that `after` adds: create its kind.
            let fresh = || match steps[i + 1] {
                Step::Key(_) => Value::Object(Default::default()),
                Step::Index(_) => Value::Array(Vec::new()),
            };
            at = match (step, at) {
                (Step::Key(k), Value::Object(m)) => m.entry(k.clone()).or_insert_with(fresh),
                (Step::Index(n), Value::Array(items)) => {
                    if *n == items.len() {
                        items.push(fresh());
                    }
                    items.get_mut(*n)?
                }
                _ => return None,
            };
        }
        match (last, at, &c.new) {
            (Step::Key(k), Value::Object(m), Some(v)) => {
                m.insert(k.clone(), v.clone());
            }
            (Step::Key(k), Value::Object(m), None) => {
                m.remove(k);
            }
            (Step::Index(n), Value::Array(items), Some(v)) => {
                if *n < items.len() {
                    items[*n] = v.clone();
                } else if *n == items.len() {
                    items.push(v.clone());
                } else {
                    return None;
                }
            }
            // Elements are only ever removed from the end of an array.
            (Step::Index(n), Value::Array(items), None) => items.truncate(*n),
            _ => return None,
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_and_arrays_become_paths() {
        let before =
            json!({"slot": {"start": "10:00", "end": "11:00"}, "items": [1, 2], "same": 1});
        let after = json!({"slot": {"start": "12:00", "end": "11:00"}, "items": [1, 3, 4], "same": 1, "new": true});
        let changes = diff(Some(&before), Some(&after));
        let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["items[1]", "items[2]", "new", "slot.start"]);
        assert_eq!(changes[0].old, Some(json!(2)));
        assert_eq!(changes[1].old, None);
        assert_eq!(changes[3].new, Some(json!("12:00")));
    }

    #[test]
    fn keys_with_dots_are_escaped() {
        let changes = diff(None, Some(&json!({"a.b": {"c[0]": 1}})));
        assert_eq!(changes[0].path, "a\\.b.c\\[0]");
        assert_eq!(with_ancestors(&changes[0].path), ["a\\.b", "a\\.b.c\\[0]"]);
        assert_eq!(
            with_ancestors("x.y[2].z"),
            ["x", "x.y", "x.y[2]", "x.y[2].z"]
        );
    }

    #[test]
    fn apply_rebuilds_after() {
        let before =
            json!({"slot": {"start": "10:00"}, "items": [1, 2, 3], "gone": {"x": 1}, "a.b": 1});
        let after = json!({"slot": {"start": "12:00", "end": "13:00"}, "items": [1, {"k": [true]}], "new": {}, "a.b": 2, "arr": []});
        let changes = diff(Some(&before), Some(&after));
        assert!(changes
            .iter()
            .any(|c| c.path == "new" && c.new == Some(json!({}))));
        assert_eq!(apply(Some(&before), &changes), Some(after.clone()));
        assert_eq!(apply(None, &diff(None, Some(&after))), Some(after.clone()));
        assert_eq!(
            apply(Some(&json!(1)), &diff(Some(&json!(1)), Some(&json!([2])))),
            Some(json!([2]))
        );
        assert_eq!(
            apply(Some(&after), &diff(Some(&after), None)),
            Some(json!({}))
        );
        assert_eq!(
            steps("a\\.b[2].c\\[d"),
            Some(vec![
                Step::Key("a.b".into()),
                Step::Index(2),
                Step::Key("c[d".into())
            ])
        );
        assert_eq!(steps("[0][1]"), Some(vec![Step::Index(0), Step::Index(1)]));
    }

    #[test]
    fn apply_rejects_changes_that_do_not_fit() {
        let c = |path: &str| Change {
            path: path.into(),
            old: None,
            new: Some(json!(1)),
        };
        assert_eq!(apply(Some(&json!({"a": 1})), &[c("a.b")]), None);
        assert_eq!(apply(Some(&json!({"a": []})), &[c("a[3]")]), None);
        assert_eq!(apply(None, &[c("a[x]")]), None);
        assert_eq!(apply(None, &[c("a[1")]), None);
    }

    #[test]
    fn scalars_at_the_root() {
        assert_eq!(diff(Some(&json!(1)), Some(&json!(1))), vec![]);
        let c = diff(Some(&json!(1)), Some(&json!(2)));
        assert_eq!(c[0].path, "");
        let c = diff(Some(&json!({"a": 1})), None);
        assert_eq!((c[0].path.as_str(), c[0].new.clone()), ("a", None));
    }
}
