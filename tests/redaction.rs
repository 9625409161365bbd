//! Redaction before storage: masked values never reach the store.
#![cfg(feature = "sqlite")]

use auditkit::sqlite::SqliteStore;
use auditkit::{AuditStore, AuditTrail, MemoryStore, NewEvent, Query, REDACTED};
use serde_json::json;

/// Every byte of the database and its WAL.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut out = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(&wal) {
        out.extend(w);
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn payment() -> NewEvent {
    NewEvent::new("payment.captured")
        .before(json!({"card": {"cardNumber": "4111111111111111", "CVV": "737"}}))
        .after(json!({"methods": [{"card_number": "5500005555555559", "expiry": "12/30"}]}))
        .context(
            "login",
            json!({"Password": "hunter2-secret", "user": "sarah"}),
        )
        .context("api_key", "sk_live_abcdef123456")
        .context("pin", "4321")
        .context("amount", 4500)
}

const SECRETS: [&str; 5] = [
    "4111111111111111",
    "737\"",
    "5500005555555559",
    "hunter2-secret",
    "sk_live_abcdef123456",
];

#[test]
fn default_keys_are_masked_at_any_depth_before_the_file_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let e = trail.record(payment()).unwrap();
    assert_eq!(e.before.as_ref().unwrap()["card"]["cardNumber"], REDACTED);
    assert_eq!(e.before.as_ref().unwrap()["card"]["CVV"], REDACTED);
    assert_eq!(
        e.after.as_ref().unwrap()["methods"][0]["card_number"],
        REDACTED
    );
    assert_eq!(e.after.as_ref().unwrap()["methods"][0]["expiry"], "12/30");
    assert_eq!(e.context["login"]["Password"], REDACTED);
    assert_eq!(e.context["login"]["user"], "sarah");
    assert_eq!(e.context["api_key"], REDACTED);
    // Not in the default list.
    assert_eq!(e.context["pin"], "4321");
    assert_eq!(e.context["amount"], 4500);
    // The redacted event is what was sealed: it verifies.
    assert!(trail.verify().unwrap().is_ok());

    // Nothing of the secrets anywhere in the database file or its WAL.
    let bytes = file_bytes(&path);
    assert!(contains(&bytes, "12/30"), "the file holds the event");
    for secret in SECRETS {
        assert!(!contains(&bytes, secret), "{secret} reached the file");
    }
    // Nor in what the store gives back, row by row.
    let rows = trail.store().read(1, 10).unwrap();
    let text = serde_json::to_string(&rows).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} reached the store");
    }
    // And a search cannot find them.
    assert_eq!(trail.count(&Query::new().search("hunter2")).unwrap(), 0);
}

#[test]
fn the_key_list_is_configurable() {
    let trail = AuditTrail::builder(MemoryStore::new())
        .also_redact(["pin"])
        .build();
    let e = trail.record(payment()).unwrap();
    assert_eq!(e.context["pin"], REDACTED);
    assert_eq!(e.context["api_key"], REDACTED);
    let stored = serde_json::to_string(&trail.store().read(1, 1).unwrap()).unwrap();
    assert!(!stored.contains("4321"), "{stored}");

    // Replacing the list drops the defaults.
    let trail = AuditTrail::builder(MemoryStore::new())
        .redact_keys(["expiry"])
        .build();
    let e = trail.record(payment()).unwrap();
    assert_eq!(e.after.as_ref().unwrap()["methods"][0]["expiry"], REDACTED);
    assert_eq!(e.context["api_key"], "sk_live_abcdef123456");

    // An empty list masks nothing.
    let trail = AuditTrail::builder(MemoryStore::new())
        .redact_keys(Vec::<String>::new())
        .build();
    let e = trail.record(payment()).unwrap();
    assert_eq!(e.context["login"]["Password"], "hunter2-secret");
}

#[test]
fn a_masked_key_is_masked_whole_even_when_its_value_is_an_object() {
    let trail = AuditTrail::new(MemoryStore::new());
    let e = trail
        .record(
            NewEvent::new("integration.connected")
                .after(json!({"token": {"value": "tok_123", "scope": "all"}})),
        )
        .unwrap();
    assert_eq!(e.after.unwrap()["token"], REDACTED);
    let stored = serde_json::to_string(&trail.store().read(1, 1).unwrap()).unwrap();
    assert!(!stored.contains("tok_123"), "{stored}");
}
