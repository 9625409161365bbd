//! How an [`crate::AuditTrail`] treats what it records: limits, redaction, personal fields.

use serde_json::Value;

/// Default limit on the canonical JSON of `before` + `after` + `context` together: 64 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The JSON keys masked by default, wherever they appear in `before`, `after` and `context`.
///
/// Keys match case-insensitively, ignoring `_`, `-` and spaces, so `cardNumber`,
/// `card_number` and `Card-Number` are all masked.
pub const DEFAULT_REDACT_KEYS: &[&str] = &[
    "password",
    "passcode",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "authorization",
    "card_number",
    "cvv",
    "cvc",
    "security_code",
];

/// What a masked value is replaced with.
pub const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone)]
pub(crate) struct TrailConfig {
    pub(crate) max_payload_bytes: usize,
    /// Normalized keys (see [`normalize`]).
    pub(crate) redact_keys: Vec<String>,
    /// Top-level keys of before/after/context stored as erasable personal values.
    pub(crate) personal_keys: Vec<String>,
}

impl Default for TrailConfig {
    fn default() -> Self {
        TrailConfig {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            redact_keys: DEFAULT_REDACT_KEYS.iter().map(|k| normalize(k)).collect(),
            personal_keys: Vec::new(),
        }
    }
}

pub(crate) fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    normalize_into(key, &mut out);
    out
}

/// Appends [`normalize`]`(key)` to `out`.
fn normalize_into(key: &str, out: &mut String) {
    out.extend(
        key.chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase),
    );
}

impl TrailConfig {
    /// Masks every configured key in `value`, at any depth.
    pub(crate) fn redact(&self, value: &mut Value) {
        if self.redact_keys.is_empty() {
            return;
        }
        let mut stack = vec![value];
        // One buffer for every key's normalized form: this runs on each key of each event.
        let mut key = String::new();
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(map) => {
                    for (k, child) in map.iter_mut() {
                        key.clear();
                        normalize_into(k, &mut key);
                        if self.redact_keys.contains(&key) {
                            *child = Value::String(REDACTED.to_owned());
                        } else {
                            stack.push(child);
                        }
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                _ => {}
            }
        }
    }
}
