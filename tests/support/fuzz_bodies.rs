//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (cargo fuzz, nightly)
//! and `tests/fuzz_targets.rs` (stable, over the kept corpus and proptest inputs).
//!
//! Each takes arbitrary bytes. Bad input must come back as an `auditkit::Error`; a panic, an
//! abort or a failed assertion here is a bug in auditkit.

use std::str::FromStr;

use auditkit::sqlite::{SqliteOptions, SqliteStore};
use auditkit::{
    AuditStore, AuditTrail, Checkpoint, Cursor, Event, Head, MemoryStore, NewEvent, Query,
    SealedEvent,
};

/// Cursor text: parses or is `Malformed`; what parses prints back to the same text's value.
pub fn cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Cursor::from_str(text) {
        Ok(c) => {
            let again: Cursor = c.to_string().parse().expect("a printed cursor parses");
            assert_eq!(again, c, "cursor round trip of {text:?}");
            // A parsed cursor is usable in a query.
            let trail = AuditTrail::new(MemoryStore::new());
            trail
                .query(&Query::new().after(c))
                .expect("a query after any valid cursor runs");
        }
        Err(e) => assert!(
            matches!(e, auditkit::Error::Malformed { what: "cursor", .. }),
            "{e}"
        ),
    }
}

/// Checkpoint notes: parse or `Malformed`; parse → print → parse is stable.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Checkpoint::from_str(text) {
        Ok(cp) => {
            let printed = cp.to_string();
            let again: Checkpoint = printed.parse().expect("a printed checkpoint parses");
            assert_eq!(again, cp, "checkpoint round trip of {text:?}");
            assert_eq!(again.to_string(), printed);
            // A foreign checkpoint is refused, never a panic.
            let trail = AuditTrail::new(MemoryStore::new());
            let _ = trail.verify_against(&cp);
        }
        Err(e) => assert!(
            matches!(e, auditkit::Error::Malformed { .. }),
            "checkpoint errors are Malformed: {e}"
        ),
    }
}

/// A sealed event as a store might hand it back (JSON): decoding, indexing, hashing and
/// verifying it never panic, in memory and in SQLite.
pub fn sealed_decode(data: &[u8]) {
    let Ok(mut sealed) = serde_json::from_slice::<SealedEvent>(data) else {
        return;
    };
    if let Ok(event) = sealed.decode() {
        let json = serde_json::to_string(&event).expect("an Event serializes");
        let _: Event = serde_json::from_str(&json).expect("a serialized Event parses");
    }
    let _ = sealed.involved();
    let _ = sealed.change_paths();
    let _ = sealed.search_text();
    let _ = auditkit::integrity::verify::seal_hashes("fuzz-log", &sealed);
    sealed.seq = 1;
    let head = Head::new(1, sealed.hash, vec![sealed.hash]);
    let memory = MemoryStore::new();
    let sqlite = SqliteStore::open_in_memory().expect("in-memory SQLite");
    // Either store may refuse the event (the SQLite one indexes its JSON); both must answer.
    let _ = memory.append(0, std::slice::from_ref(&sealed), &head);
    let _ = sqlite.append(0, std::slice::from_ref(&sealed), &head);
    // An event that was not sealed by this log cannot verify; what matters is an answer.
    let reports = [
        AuditTrail::new(memory).verify(),
        AuditTrail::new(sqlite).verify(),
    ];
    for r in reports.into_iter().flatten() {
        assert!(r.checked <= 1, "one event stored, {} checked", r.checked);
    }
}

/// Event JSON (as exports and APIs carry it): parses or not; what parses can be recorded
/// again, or is refused as `Invalid` with nothing stored.
pub fn event_json(data: &[u8]) {
    let Ok(e) = serde_json::from_slice::<Event>(data) else {
        return;
    };
    let _ = serde_json::to_string(&e).expect("an Event serializes");
    let _ = e.describe_fallback();
    let mut n = NewEvent::new(e.action.clone())
        .actor(e.actor.clone())
        .source(e.source.clone())
        .outcome(e.outcome.clone())
        .occurred_at(e.occurred_at);
    if let Some(t) = &e.tenant {
        n = n.tenant(t.clone());
    }
    if let Some(r) = &e.request {
        n = n.request(r.clone());
    }
    if let Some(t) = &e.target {
        n = n.target(t.clone());
    }
    for r in &e.related {
        n = n.related(r.clone());
    }
    if let Some(b) = &e.before {
        n = n.before(b);
    }
    if let Some(a) = &e.after {
        n = n.after(a);
    }
    for (k, v) in &e.context {
        n = n.context(k.clone(), v);
    }
    if let Some(k) = &e.idempotency_key {
        n = n.idempotency_key(k.clone());
    }
    let trail = AuditTrail::new(MemoryStore::new());
    match trail.record(n) {
        Ok(recorded) => {
            let back = trail
                .get(recorded.id)
                .expect("get")
                .expect("recorded is stored");
            assert_eq!(back, recorded, "read back equals what record returned");
            assert!(trail.verify().expect("verify").is_ok());
        }
        Err(err) => {
            assert!(err.is_invalid(), "bad input is Invalid, got {err}");
            assert_eq!(
                trail.count(&Query::new()).expect("count"),
                0,
                "nothing stored"
            );
        }
    }
}

/// Arbitrary bytes as a database file: opening, reading, verifying and recording answer with
/// `Ok` or an `Error`, never a panic.
pub fn open_database(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fuzz.db");
    std::fs::write(&path, data).expect("write");
    for options in [
        SqliteOptions::default().read_only(true),
        SqliteOptions::default(),
    ] {
        let writable = !options.read_only;
        let Ok(store) = SqliteStore::open_with(&path, options) else {
            continue;
        };
        let _ = store.head();
        let _ = store.read(1, 10);
        let trail = AuditTrail::new(store);
        let _ = trail.query(&Query::new().search("haircut"));
        let _ = trail.count(&Query::new().tenant("clinic-42"));
        let _ = trail.verify();
        let _ = trail.checkpoint();
        if writable {
            let _ = trail.record(NewEvent::new("fuzz.opened"));
        }
    }
}

/// What `Event` can say about itself without the vocabulary: used only to exercise the
/// accessors on parsed input.
trait DescribeFallback {
    fn describe_fallback(&self) -> String;
}

impl DescribeFallback for Event {
    fn describe_fallback(&self) -> String {
        format!(
            "{} {} {} {:?}",
            self.actor.display_name(),
            self.action,
            self.hash_hex(),
            self.context_value("reason")
        )
    }
}
