//! Canonical encodings.
//!
//! JSON is canonicalised once, when an event is recorded (RFC 8785 style: object keys sorted by
//! their UTF-16 code units, no insignificant whitespace, minimal string escapes, numbers in one
//! form). Integers that fit `i64`/`u64` are written exactly; other numbers use the ECMAScript
//! shortest round-trip form. Stores keep that exact text and verification hashes the text it
//! reads back, so no float or key-order round trip can make an intact event look tampered.
//!
//! The event encoding is versioned and length-prefixed: every field is written in a fixed order,
//! strings as a big-endian `u32` length and UTF-8 bytes, options as a `0`/`1` tag before the
//! value. Changing it is a format change: bump [`EVENT_ENCODING_VERSION`] and keep the old one.

use serde_json::Value;

use crate::store::sealed::{SealedEvent, SealedEventRef};

/// Version byte that starts the canonical encoding of an event.
pub const EVENT_ENCODING_VERSION: u8 = crate::store::sealed::ENCODING;

/// Refuses an event sealed with an encoding this build does not know (a newer auditkit's):
/// recomputing its hashes with another would report tampering that did not happen.
///
/// # Errors
/// [`crate::Error::Unsupported`] naming the event and the version.
pub fn check_encoding(seq: u64, encoding: u8) -> crate::Result<()> {
    if (1..=EVENT_ENCODING_VERSION).contains(&encoding) {
        return Ok(());
    }
    Err(crate::Error::unsupported(format!(
        "event {seq} was sealed with canonical encoding {encoding}, this auditkit knows encodings 1 to {EVENT_ENCODING_VERSION}; verify it with a newer auditkit"
    )))
}

/// The canonical JSON text of `value`.
pub fn json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

/// The canonical JSON text of the string `s` (what [`json`] gives for `Value::String(s)`).
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str(s, &mut out);
    out
}

/// The canonical JSON text of the object `map` without the entries whose key `skip` accepts
/// (what [`json`] gives for a copy of `map` with those entries removed).
pub(crate) fn json_object_without(
    map: &serde_json::Map<String, Value>,
    skip: impl Fn(&str) -> bool,
) -> String {
    let mut out = String::new();
    write_object(map.iter().filter(|(k, _)| !skip(k)), &mut out);
    out
}

/// Replaces every non-integer number in `value` by what parsing its canonical text gives
/// back (`100.0` becomes the integer `100`, `-0.0` becomes `0`), so that `value` equals what
/// is read back from its canonical JSON. The canonical text itself does not change.
pub(crate) fn normalize_numbers(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if n.as_u64().is_none() && n.as_i64().is_none() => {
                let mut text = String::new();
                write_number(n, &mut text);
                if let Ok(back) = serde_json::from_str::<serde_json::Number>(&text) {
                    *n = back;
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    use std::fmt::Write as _;
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else {
        // serde_json never holds a non-finite float.
        let f = n.as_f64().unwrap_or(0.0);
        if f == 0.0 {
            out.push('0');
        } else {
            out.push_str(ryu_js::Buffer::new().format_finite(f));
        }
    }
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map.iter(), out),
    }
}

/// Writes the entries as an object, keys sorted by their UTF-16 code units.
fn write_object<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = entries.collect();
    // UTF-8 byte order is code point order, which differs from UTF-16 order only between
    // characters from U+E000 up (lead bytes 0xEE and above); keys without them already come
    // in canonical order once sorted by bytes, which is cheap (and a no-op for the sorted
    // map serde_json keeps by default).
    if entries.iter().all(|(k, _)| k.bytes().all(|b| b < 0xEE)) {
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    } else {
        entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(k, out);
        out.push(':');
        write_json(v, out);
    }
    out.push('}');
}

fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Copies the runs between characters that need escaping in one go; only `"`, `\` and
    // control characters below U+0020 are escaped, all ASCII, so byte positions are
    // character boundaries.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            b if b < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Nesting depth of `value`: a scalar is 0, `[]` and `{}` are 1.
pub fn depth(value: &Value) -> usize {
    // Iterative so that a hostile, very deep value cannot overflow the stack.
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(map) => {
                max = max.max(d + 1);
                stack.extend(map.values().map(|i| (i, d + 1)));
            }
            _ => {}
        }
    }
    max
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
}

/// The canonical bytes of a sealed event in log `log_id`: what its leaf hash covers.
///
/// Personal fields enter only through their commitments, so erasing a value never changes
/// these bytes.
pub fn event_bytes(log_id: &str, e: &SealedEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    event_bytes_into(log_id, &e.view(), &mut out);
    out
}

/// [`event_bytes`] of a borrowed event, written into `out` (cleared first), so that a walk
/// over the whole log reuses one buffer.
pub fn event_bytes_into(log_id: &str, e: &SealedEventRef<'_>, out: &mut Vec<u8>) {
    out.clear();
    let mut w = Writer(out);
    // The event's own version byte: an event claiming one this build does not know is
    // refused by `check_encoding` before anyone trusts these bytes.
    w.u8(e.encoding);
    w.str(log_id);
    w.u64(e.seq);
    w.0.extend_from_slice(e.id.as_bytes());
    w.i64(crate::model::time_util::to_micros(e.occurred_at));
    w.i64(crate::model::time_util::to_micros(e.recorded_at));
    w.opt_str(e.tenant);
    w.str(e.actor_kind.as_str());
    w.str(e.actor_id);
    w.opt_str(e.actor_role);
    w.opt_str(e.impersonator);
    w.str(e.source);
    w.opt_str(e.request);
    w.str(e.action);
    w.opt_str(e.failure);
    w.opt_str(e.target_kind);
    w.opt_str(e.target_id);
    w.opt_str(e.related);
    w.opt_str(e.before);
    w.opt_str(e.after);
    w.opt_str(e.context);
    w.opt_str(e.idempotency_key);
    match e.payload_version {
        None => w.u8(0),
        Some(v) => {
            w.u8(1);
            w.u32(v);
        }
    }
    w.u32(e.personal.len() as u32);
    for p in &e.personal {
        w.str(p.path.as_str());
        w.0.extend_from_slice(&p.commitment);
    }
    // Encoding 2: each involved target's previous event. Encoding 1 has no links (verify
    // refuses an encoding-1 event that carries some, since nothing here would cover them).
    if e.encoding >= 2 {
        w.u32(e.links.len() as u32);
        for l in &e.links {
            w.u64(*l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_utf16_and_escapes_minimally() {
        let v = json!({"b": 1, "a": [true, null, "x\n\u{1}\"é"], "\u{e000}": 0, "\u{1f600}": 0});
        assert_eq!(
            json(&v),
            "{\"a\":[true,null,\"x\\n\\u0001\\\"é\"],\"b\":1,\"\u{1f600}\":0,\"\u{e000}\":0}"
        );
    }

    #[test]
    fn numbers_have_one_form_and_integers_stay_exact() {
        let v = json!([u64::MAX, i64::MIN, 1.5, 1e21, 1e-7, 0.1, -0.0, 100.0]);
        assert_eq!(
            json(&v),
            "[18446744073709551615,-9223372036854775808,1.5,1e+21,1e-7,0.1,0,100]"
        );
    }

    #[test]
    fn canonical_text_is_a_fixed_point() {
        let v: Value =
            serde_json::from_str(r#"{"z":1.0,"a":{"y":[1e300,2.50]},"m":"\u00e9"}"#).unwrap();
        let once = json(&v);
        let twice = json(&serde_json::from_str(&once).unwrap());
        assert_eq!(once, twice);
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [[1]]})), 3);
    }
}
