//! Field-level changes derived from `before` and `after`.
//!
//! Paths join object keys with `.` and array elements as `[i]`: `slot.start`, `items[2].price`.
//! A `.`, `[` or `\` inside a key is escaped with `\` so every path names exactly one place.
//! The whole value has the path `""`. Unchanged fields are omitted.

use serde_json::Value;

use crate::event::Change;

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
    fn scalars_at_the_root() {
        assert_eq!(diff(Some(&json!(1)), Some(&json!(1))), vec![]);
        let c = diff(Some(&json!(1)), Some(&json!(2)));
        assert_eq!(c[0].path, "");
        let c = diff(Some(&json!({"a": 1})), None);
        assert_eq!((c[0].path.as_str(), c[0].new.clone()), ("a", None));
    }
}
