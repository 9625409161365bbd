//! Retention and erasure scenarios written for any store, shared by `tests/retention.rs`,
//! `tests/erasure.rs` and `tests/pg_lifecycle.rs` (each binary uses a part).
#![allow(dead_code)]

/// Purges and archives (see `tests/retention.rs`).
pub mod retention {
    use std::io::Cursor as IoCursor;
    use std::thread::sleep;
    use std::time::Duration;

    use auditkit::integrity::archive::{verify_archive, verify_archive_against};
    use auditkit::{
        Actor, AuditStore, AuditTrail, Error, FaultKind, MemoryStore, NewEvent, Query, Target,
        PURGE_ACTION,
    };
    use time::OffsetDateTime;

    pub fn booking(i: u32) -> NewEvent {
        NewEvent::new("booking.created")
            .tenant("salon-1")
            .actor(Actor::customer(format!("c-{i}")).name(format!("Customer {i}")))
            .target(Target::new("booking", format!("b-{i}")).label(format!("Haircut {i}")))
            .context("n", i)
    }

    /// Records 5 old events, takes the cutoff, records 5 new ones; returns the cutoff and the
    /// checkpoint at size 5.
    pub fn fill<S: AuditStore>(trail: &AuditTrail<S>) -> (OffsetDateTime, auditkit::Checkpoint) {
        for i in 1..=5 {
            trail.record(booking(i)).unwrap();
        }
        let cp5 = trail.checkpoint().unwrap();
        sleep(Duration::from_millis(3));
        let cutoff = OffsetDateTime::now_utc();
        sleep(Duration::from_millis(3));
        for i in 6..=10 {
            trail.record(booking(i)).unwrap();
        }
        (cutoff, cp5)
    }

    pub fn purge_keeps_the_rest_verifiable<S: AuditStore>(trail: AuditTrail<S>) {
        let (cutoff, cp5) = fill(&trail);
        let cp10 = trail.checkpoint().unwrap();
        let report = trail.purge_before(cutoff).unwrap();
        assert_eq!(
            (report.purged, report.from_seq, report.through_seq),
            (5, 1, 5)
        );
        assert_eq!(report.checkpoint, cp5);
        let event = report.event.expect("the purge is recorded");
        assert_eq!(event.action, PURGE_ACTION);
        assert_eq!(event.seq, 11);
        assert_eq!(event.context["through_seq"], 5);
        assert_eq!(event.context["events"], 5);

        let v = trail.verify().unwrap();
        assert!(v.is_ok(), "{v}");
        assert_eq!(
            (v.checked, v.purged_through, v.verified_through),
            (6, 5, 11)
        );
        assert!(v.to_string().contains("1..=5 purged"), "{v}");
        let v = trail.verify_against(&cp10).unwrap();
        assert!(v.is_ok(), "{v}");
        // At the anchor itself, the anchor's own hashes are compared.
        let v = trail.verify_against(&cp5).unwrap();
        assert!(v.is_ok(), "{v}");

        let page = trail.query(&Query::new().limit(100)).unwrap();
        assert_eq!(page.events.len(), 6);
        assert!(page.events.iter().all(|e| e.seq > 5));
        assert_eq!(trail.count(&Query::new().tenant("salon-1")).unwrap(), 5);
        assert!(trail
            .history(&Target::new("booking", "b-2"))
            .unwrap()
            .is_empty());

        // The log goes on, and purges again.
        trail.record(booking(11)).unwrap();
        let v = trail.verify().unwrap();
        assert!(v.is_ok(), "{v}");
        let again = trail
            .purge_before(OffsetDateTime::now_utc() + time::Duration::seconds(1))
            .unwrap();
        // Everything but the head event (the second purge record links to it).
        assert_eq!((again.from_seq, again.through_seq), (6, 11));
        let v = trail.verify().unwrap();
        assert!(v.is_ok(), "{v}");
        assert_eq!(v.purged_through, 11);
        // Nothing left to purge: nothing recorded.
        let none = trail.purge_before(OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(none.purged, 0);
        assert!(none.event.is_none());
    }

    pub fn archive_verifies_on_its_own<S: AuditStore>(trail: AuditTrail<S>) {
        let (cutoff, cp5) = fill(&trail);
        let mut archive = Vec::new();
        let report = trail.purge_before_to(cutoff, &mut archive).unwrap();
        assert_eq!(report.event.as_ref().unwrap().context["archived"], true);
        let text = String::from_utf8(archive.clone()).unwrap();
        assert_eq!(text.lines().count(), 7, "{text}");
        // Personal values travel with the archive.
        assert!(text.contains("Customer 3"), "{text}");

        let found = verify_archive(IoCursor::new(&archive)).unwrap();
        assert!(found.is_ok(), "{:?}", found.report);
        assert_eq!((found.from_seq, found.through_seq), (1, 5));
        assert_eq!(found.checkpoint, cp5);
        assert_eq!(found.report.checked, 5);
        let against = verify_archive_against(IoCursor::new(&archive), &cp5).unwrap();
        assert!(against.is_ok(), "{:?}", against.report);
        let vouched = trail.verify_archive(IoCursor::new(&archive)).unwrap();
        assert!(vouched.is_ok(), "{:?}", vouched.report);

        // A second purge's archive starts from the first one's anchor.
        trail.record(booking(20)).unwrap();
        let mut second = Vec::new();
        let r2 = trail
            .purge_before_to(
                OffsetDateTime::now_utc() + time::Duration::seconds(1),
                &mut second,
            )
            .unwrap();
        let found = trail.verify_archive(IoCursor::new(&second)).unwrap();
        assert!(found.is_ok(), "{:?}", found.report);
        assert_eq!((found.from_seq, found.through_seq), (6, r2.through_seq));
        assert!(trail.verify().unwrap().is_ok());

        // Tampering with the first archive.
        let lines: Vec<&str> = text.lines().collect();
        let edited = text.replacen(r#"\"n\":3"#, r#"\"n\":4"#, 1);
        assert_ne!(edited, text);
        let r = verify_archive(IoCursor::new(edited)).unwrap();
        assert_eq!(r.report.fault.as_ref().unwrap().kind, FaultKind::Modified);
        assert_eq!(r.report.fault.as_ref().unwrap().seq, 3);
        let cut = lines[..6].join("\n");
        let r = verify_archive(IoCursor::new(cut)).unwrap();
        assert_eq!(r.report.fault.unwrap().kind, FaultKind::Truncated);
        let gap = [&lines[..2], &lines[3..]].concat().join("\n");
        let r = verify_archive(IoCursor::new(gap)).unwrap();
        assert_eq!(r.report.fault.unwrap().kind, FaultKind::Missing);
        let edited_name = text.replacen("Customer 3", "Customer X", 1);
        let r = verify_archive(IoCursor::new(edited_name)).unwrap();
        assert_eq!(r.report.fault.unwrap().kind, FaultKind::Modified);
        // An archive of another log.
        let other = AuditTrail::new(MemoryStore::new());
        let e = other.verify_archive(IoCursor::new(&archive)).unwrap_err();
        assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
        // Not an archive at all.
        for bad in ["", "{}", "not json", "{\"event\":{}}"] {
            let e = verify_archive(IoCursor::new(bad)).unwrap_err();
            assert!(matches!(e, Error::Malformed { .. }), "{bad:?}: {e}");
        }
    }
}

/// Erasure of one person (see `tests/erasure.rs`).
pub mod erasure {
    use auditkit::{
        Actor, ActorKind, AuditStore, AuditTrail, Error, NewEvent, Query, Subject, Target,
        ERASURE_ACTION,
    };
    use serde_json::json;

    fn alex() -> Target {
        Target::new("customer", "c-9").label("Alex Doe")
    }

    /// Events involving customer c-9 (Alex Doe) in every role, and others that do not.
    pub fn fill<S: AuditStore>(store: S) -> AuditTrail<S> {
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

    pub fn erasure_removes_one_person<S: AuditStore>(trail: AuditTrail<S>) {
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
}
