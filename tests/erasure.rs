//! Erasure: one person's personal values removed everywhere; the chain still verifies.
#![cfg(feature = "sqlite")]

use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, ActorKind, AuditStore, AuditTrail, Error, MemoryStore, NewEvent, Query, Subject, Target,
    ERASURE_ACTION,
};
use serde_json::json;

fn alex() -> Target {
    Target::new("customer", "c-9").label("Alex Doe")
}

/// Events involving customer c-9 (Alex Doe) in every role, and others that do not.
fn fill<S: AuditStore>(store: S) -> AuditTrail<S> {
    let trail = AuditTrail::builder(store)
        .personal_keys(["phone", "email"])
        .build();
    // Alex books online: actor and related.
    trail
        .record(
            NewEvent::new("booking.created")
                .tenant("salon-1")
                .actor(
                    Actor::customer("c-9")
                        .name("Alex Doe")
                        .email("alex@example.com"),
                )
                .target(Target::new("booking", "b-1").label("Haircut for Alex Doe"))
                .related(alex())
                .after(json!({"phone": "555-0199", "service": "Haircut"}))
                .context("email", "alex@example.com")
                .context("channel", "web"),
        )
        .unwrap();
    // Staff edits Alex's profile: Alex is the target.
    trail
        .record(
            NewEvent::new("client.updated")
                .tenant("salon-1")
                .actor(Actor::user("u-1").name("Sarah Staff"))
                .target(alex())
                .before(json!({"phone": "555-0199"}))
                .after(json!({"phone": "555-0100"})),
        )
        .unwrap();
    // Support agent u-2 acts on behalf of Alex: Alex is the actor, u-2 the impersonator.
    trail
        .record(
            NewEvent::new("booking.cancelled")
                .tenant("salon-1")
                .actor(
                    Actor::customer("c-9")
                        .name("Alex Doe")
                        .impersonated_by(Actor::user("u-2").name("Support Sam")),
                )
                .target(Target::new("booking", "b-1"))
                .context("reason", "called in"),
        )
        .unwrap();
    // Someone else entirely.
    trail
        .record(
            NewEvent::new("booking.created")
                .tenant("salon-1")
                .actor(Actor::customer("c-10").name("Bea Smith"))
                .target(Target::new("booking", "b-2").label("Colour for Bea Smith"))
                .related(Target::new("customer", "c-10").label("Bea Smith"))
                .after(json!({"phone": "555-0777"})),
        )
        .unwrap();
    trail
}

fn erasure_removes_one_person<S: AuditStore>(trail: AuditTrail<S>) {
    let searchable = |w: &str| trail.count(&Query::new().search(w)).unwrap();
    assert_eq!(searchable("Alex"), 3);
    let before = trail.verify().unwrap();
    assert!(before.is_ok() && before.redacted == 0, "{before}");

    let report = trail.erase_subject(&Subject::customer("c-9")).unwrap();
    assert_eq!(report.events, 3);
    // e1: actor.name, actor.email, related[0].label, after.phone, context.email;
    // e2: target.label, before.phone, after.phone; e3: actor.name.
    assert_eq!(report.values, 9);
    assert_eq!(report.event.action, ERASURE_ACTION);
    assert_eq!(report.event.context["events"], 3);
    assert_eq!(report.event.related, vec![Target::new("customer", "c-9")]);
    let text = serde_json::to_string(&report.event).unwrap();
    assert!(!text.contains("Alex"), "{text}");

    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.redacted, 3);

    let e1 = trail
        .query(
            &Query::new()
                .target(&Target::new("booking", "b-1"))
                .oldest_first(),
        )
        .unwrap()
        .events;
    assert_eq!(e1.len(), 2);
    let created = &e1[0];
    assert_eq!(created.actor.name, None);
    assert_eq!(created.actor.email, None);
    assert_eq!(created.related[0].label, None);
    assert_eq!(created.after, Some(json!({"service": "Haircut"})));
    assert_eq!(created.context.get("email"), None);
    assert_eq!(created.context["channel"], "web");
    // The booking's own label is not Alex's personal value: it stays (see README).
    assert_eq!(
        created.target.as_ref().unwrap().label.as_deref(),
        Some("Haircut for Alex Doe")
    );
    assert_eq!(
        created.redacted,
        [
            "actor.email",
            "actor.name",
            "after.phone",
            "context.email",
            "related[0].label"
        ]
    );
    let cancelled = &e1[1];
    assert_eq!(cancelled.actor.name, None);
    let imp = cancelled.actor.impersonator.as_ref().unwrap();
    assert_eq!(imp.name.as_deref(), Some("Support Sam"));

    // Other people and other fields are untouched; queries still work.
    let bea = trail
        .query(&Query::new().actor("c-10"))
        .unwrap()
        .events
        .remove(0);
    assert_eq!(bea.actor.name.as_deref(), Some("Bea Smith"));
    assert_eq!(bea.after, Some(json!({"phone": "555-0777"})));
    assert!(bea.redacted.is_empty());
    let involving = Query::new().involving(&Target::new("customer", "c-9"));
    // booking.created, client.updated, and the erasure record.
    assert_eq!(trail.count(&involving).unwrap(), 3);
    assert_eq!(trail.count(&Query::new().actor("c-9")).unwrap(), 2);
    assert_eq!(trail.count(&Query::new().changed("phone")).unwrap(), 1);
    assert_eq!(
        searchable("Alex"),
        1,
        "only the booking label still says Alex"
    );
    assert_eq!(searchable("Doe"), 1);
    assert_eq!(searchable("Bea"), 1);
    assert_eq!(searchable("Haircut"), 1);

    // The impersonator is a subject of their own.
    let sam = Subject::new().actor(ActorKind::User, "u-2");
    let r = trail.erase_subject(&sam).unwrap();
    assert_eq!((r.events, r.values), (1, 1));
    let cancelled = trail
        .query(&Query::new().action("booking.cancelled"))
        .unwrap()
        .events
        .remove(0);
    assert_eq!(cancelled.actor.impersonator.unwrap().name, None);
    assert_eq!(
        cancelled.redacted,
        ["actor.impersonator.name", "actor.name"]
    );

    // Erasing again finds nothing left, and is still recorded.
    let again = trail.erase_subject(&Subject::customer("c-9")).unwrap();
    assert_eq!((again.events, again.values), (0, 0));
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.redacted, 3);

    let e = trail.erase_subject(&Subject::new()).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
}

#[test]
fn erasure_removes_one_person_in_memory() {
    erasure_removes_one_person(fill(MemoryStore::new()));
}

#[test]
fn erasure_removes_one_person_in_sqlite() {
    erasure_removes_one_person(fill(SqliteStore::open_in_memory().unwrap()));
}

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

#[test]
fn erased_values_leave_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = fill(SqliteStore::open(&path).unwrap());
    assert!(contains(&file_bytes(&path), "555-0199"));
    assert!(contains(&file_bytes(&path), "alex@example.com"));
    let before = trail.checkpoint().unwrap();
    trail.erase_subject(&Subject::customer("c-9")).unwrap();
    // Erasure changes nothing hashed: a checkpoint taken before it still holds.
    let v = trail.verify_against(&before).unwrap();
    assert!(v.is_ok(), "{v}");
    let bytes = file_bytes(&path);
    for gone in ["555-0199", "555-0100", "alex@example.com"] {
        assert!(!contains(&bytes, gone), "{gone} is still in the file");
    }
    assert!(contains(&bytes, "555-0777"), "other people's values stay");
    drop(trail);
    // And after reopening, the log still verifies.
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.redacted, 3);
}

#[test]
fn erasure_of_purged_events_is_not_needed() {
    // Erasure and retention together: a purge removes the values with the events, and the
    // anchor keeps the rest verifiable with erased entries.
    let trail = fill(MemoryStore::new());
    trail.erase_subject(&Subject::customer("c-9")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let cutoff = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(2));
    trail.record(NewEvent::new("booking.created")).unwrap();
    let r = trail.purge_before(cutoff).unwrap();
    assert_eq!(r.through_seq, 5);
    let v = trail.verify().unwrap();
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.redacted, 0);
}
