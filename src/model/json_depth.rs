//! Turning caller values into JSON without letting a hostile nesting depth overflow the stack.
//!
//! `serde_json::to_value` recurses once per nesting level inside the value's own `Serialize`
//! impl, so a value nested 10,000 levels deep (built in code; the JSON parser stops at 128)
//! aborts the process before any depth check could run. A first pass serializes into a sink
//! that counts brackets and fails past the limit, which unwinds the recursion early.

use std::io;

use serde::Serialize;
use serde_json::Value;

use crate::model::new_event::MAX_JSON_DEPTH;

/// Counts the nesting of the JSON text written to it and fails once it exceeds the limit.
struct DepthSink {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl io::Write for DepthSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > MAX_JSON_DEPTH {
                        return Err(io::Error::other(TOO_DEEP));
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const TOO_DEEP: &str = "too deep";

/// `value` as JSON, or a message (for [`crate::Error::Invalid`]) saying why it cannot be.
pub(crate) fn to_value<T: Serialize>(value: T) -> Result<Value, String> {
    let mut sink = DepthSink {
        depth: 0,
        in_string: false,
        escaped: false,
    };
    if let Err(e) = serde_json::to_writer(&mut sink, &value) {
        if e.is_io() {
            return Err(format!(
                "is nested more than {MAX_JSON_DEPTH} levels deep, at most {MAX_JSON_DEPTH} are allowed"
            ));
        }
        // Other failures (a map with non-string keys, a failing Serialize impl) are reported
        // by to_value below with its own message.
    }
    serde_json::to_value(value).map_err(|e| format!("cannot be serialized to JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> Value {
        let mut v = Value::Null;
        for _ in 0..n {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn refuses_deep_values_without_recursing_through_them() {
        assert!(to_value(nested(MAX_JSON_DEPTH)).is_ok());
        let e = to_value(nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert!(e.contains("nested more than 64"), "{e}");
        let e = to_value(nested(10_000)).unwrap_err();
        assert!(e.contains("nested"), "{e}");
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let s = "[{\"\\".repeat(1_000);
        assert_eq!(to_value(&s).unwrap(), Value::String(s));
    }
}
