//! Evidence bundles: one booking's (or one customer's) events with their proofs, checked with
//! no database; refused with an interior event dropped, a byte changed, proofs swapped, or an
//! event of another tenant or target slipped in.

use auditkit::integrity::bundle::{verify_bundle, EvidenceBundle};
use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, Checkpoint, NewEvent, Target};
use serde_json::json;

fn booking_event(action: &str, tenant: &str, booking: &str, customer: &str, n: u32) -> NewEvent {
    NewEvent::new(action)
        .tenant(tenant)
        .actor(Actor::user("s-1").name("Sarah"))
        .target(Target::new("booking", booking))
        .related(Target::new("customer", customer))
        .before(json!({"start": format!("10:{n:02}")}))
        .after(json!({"start": format!("11:{n:02}")}))
}

/// A log where booking b-1 of salon-1 has 5 events among others: b-2 (same customer), b-1
/// of salon-2 (same id, another tenant), and events of nobody in particular.
fn log() -> (tempfile::TempDir, AuditTrail<SqliteStore>, Checkpoint) {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    for n in 0..5 {
        trail
            .record(booking_event(
                "booking.rescheduled",
                "salon-1",
                "b-1",
                "c-1",
                n,
            ))
            .unwrap();
        trail
            .record(booking_event(
                "booking.rescheduled",
                "salon-1",
                "b-2",
                "c-1",
                n,
            ))
            .unwrap();
        trail
            .record(booking_event(
                "booking.rescheduled",
                "salon-2",
                "b-1",
                "c-9",
                n,
            ))
            .unwrap();
        trail.record(NewEvent::new("auth.login")).unwrap();
    }
    let cp = trail.checkpoint().unwrap();
    (dir, trail, cp)
}

fn b1() -> Target {
    Target::new("booking", "b-1")
}

#[test]
fn a_bookings_bundle_verifies_with_no_database_and_says_what_it_proves() {
    let (_dir, trail, cp) = log();
    let bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    let seqs: Vec<u64> = bundle.events.iter().map(|e| e.event.seq).collect();
    assert_eq!(seqs, [1, 5, 9, 13, 17]);
    let text = bundle.to_json();
    drop(trail);
    let report = verify_bundle(&EvidenceBundle::from_json(&text).unwrap()).unwrap();
    assert_eq!(
        (report.events, report.first_seq, report.newest_seq),
        (5, 1, 17)
    );
    assert!(report.from_first);
    assert_eq!(report.checkpoint_size, 20);
    let said = report.to_string();
    assert!(
        said.contains("booking:b-1") && said.contains("left out"),
        "{said}"
    );
}

#[test]
fn a_customers_bundle_spans_their_bookings() {
    let (_dir, trail, cp) = log();
    let bundle = trail
        .bundle(&Target::new("customer", "c-1"), Some("salon-1"), &cp)
        .unwrap();
    assert_eq!(bundle.events.len(), 10);
    verify_bundle(&bundle).unwrap();
}

#[test]
fn events_after_the_checkpoint_stay_out_and_an_unknown_target_is_refused() {
    let (_dir, trail, cp) = log();
    trail
        .record(booking_event(
            "booking.cancelled",
            "salon-1",
            "b-1",
            "c-1",
            9,
        ))
        .unwrap();
    let bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    assert_eq!(bundle.events.last().unwrap().event.seq, 17);
    let newer = trail.checkpoint().unwrap();
    let bundle = trail.bundle(&b1(), Some("salon-1"), &newer).unwrap();
    assert_eq!(bundle.events.last().unwrap().event.seq, 21);
    verify_bundle(&bundle).unwrap();
    let err = trail
        .bundle(&Target::new("booking", "nope"), Some("salon-1"), &cp)
        .unwrap_err();
    assert!(err.is_invalid(), "{err}");
}

#[test]
fn a_bundle_with_an_interior_event_dropped_is_refused() {
    let (_dir, trail, cp) = log();
    let mut bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    bundle.events.remove(2);
    let err = verify_bundle(&bundle).unwrap_err().to_string();
    assert!(err.contains("leaves out"), "{err}");
    // Dropping the newest is what a bundle cannot show (its docs say so).
    let mut bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    bundle.events.pop();
    assert_eq!(verify_bundle(&bundle).unwrap().newest_seq, 13);
    // Dropping the first is seen as not starting at the target's first event.
    let mut bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    bundle.events.remove(0);
    assert!(!verify_bundle(&bundle).unwrap().from_first);
}

#[test]
fn a_bundle_with_a_byte_changed_is_refused() {
    let (_dir, trail, cp) = log();
    let bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    let text = bundle.to_json();
    // Every change to an event's fields, hashes or proofs is refused (or no longer parses).
    let changes = [
        ("11:02", "11:03"),
        ("booking.rescheduled", "booking.rescheduleX"),
        ("\"salon-1\"", "\"salon-3\""),
    ];
    for (from, to) in changes {
        let altered = text.replacen(from, to, 1);
        assert_ne!(altered, text);
        let parsed = EvidenceBundle::from_json(&altered).unwrap();
        assert!(verify_bundle(&parsed).is_err(), "{from} -> {to}");
    }
    // A proof hash altered.
    let mut b = bundle.clone();
    b.events[1].proof[0][0] ^= 1;
    assert!(verify_bundle(&b).is_err());
    // A link altered (the hash covers it).
    let mut b = bundle.clone();
    b.events[2].event.links[0] = 1;
    assert!(verify_bundle(&b).is_err());
}

#[test]
fn a_bundle_with_proofs_swapped_is_refused() {
    let (_dir, trail, cp) = log();
    let mut bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    let (a, b) = (
        bundle.events[1].proof.clone(),
        bundle.events[3].proof.clone(),
    );
    bundle.events[1].proof = b;
    bundle.events[3].proof = a;
    let err = verify_bundle(&bundle).unwrap_err().to_string();
    assert!(err.contains("not in the checkpoint"), "{err}");
}

#[test]
fn events_of_another_tenant_or_target_are_refused() {
    let (_dir, trail, cp) = log();
    let mut bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    let other = trail.bundle(&b1(), Some("salon-2"), &cp).unwrap();
    bundle.events.insert(1, other.events[0].clone());
    assert!(verify_bundle(&bundle).is_err());
    let mut bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    bundle.target.id = "b-2".into();
    assert!(verify_bundle(&bundle).is_err());
}

#[test]
fn personal_values_left_out_or_erased_verify_as_redacted() {
    let (_dir, trail, cp) = log();
    let bundle = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    assert_eq!(verify_bundle(&bundle).unwrap().redacted, 0);
    let text = bundle.clone().without_personal_values().to_json();
    assert!(!text.contains("Sarah"));
    let report = verify_bundle(&EvidenceBundle::from_json(&text).unwrap()).unwrap();
    assert_eq!(report.redacted, 5);
    // A value changed in the bundle no longer matches its commitment.
    let altered = bundle.to_json().replacen("Sarah", "Sally", 1);
    assert!(verify_bundle(&EvidenceBundle::from_json(&altered).unwrap()).is_err());
}

#[test]
fn a_bundle_of_another_format_is_refused_with_what_to_do() {
    let err = EvidenceBundle::from_json(r#"{"format": "auditkit/evidence-bundle@v9"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("v1"), "{err}");
    assert!(EvidenceBundle::from_json("not json").is_err());
}

#[cfg(feature = "sign")]
#[test]
fn a_signed_bundle_verifies_with_the_published_key_only() {
    use auditkit::integrity::bundle::verify_signed_bundle;
    use auditkit::integrity::sign::NoteSigner;
    let (_dir, trail, _) = log();
    let salon = NoteSigner::from_seed("audit.salon-1.example", [3; 32]).unwrap();
    let bundle = trail.signed_bundle(&b1(), Some("salon-1"), &salon).unwrap();
    let report = verify_signed_bundle(&bundle, &salon.verifier()).unwrap();
    assert_eq!(report.signed_by.as_deref(), Some("audit.salon-1.example"));
    assert!(verify_bundle(&bundle).unwrap().signed_by.is_none());
    let impostor = NoteSigner::from_seed("audit.salon-1.example", [4; 32]).unwrap();
    assert!(verify_signed_bundle(&bundle, &impostor.verifier()).is_err());
    // Re-signed by the impostor, the bundle no longer verifies with the salon's key.
    let mut forged = bundle.clone();
    forged.checkpoint = impostor.sign(&trail.checkpoint().unwrap()).unwrap();
    assert!(verify_signed_bundle(&forged, &salon.verifier()).is_err());
}

/// A bundle made after Sarah's name was erased still verifies, with the events as redacted;
/// one made before verifies as it was.
#[test]
fn personal_values_erased_after_the_events_verify_as_redacted() {
    use auditkit::{ActorKind, Subject};
    let (_dir, trail, cp) = log();
    let before = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    trail
        .erase_subject(&Subject::new().actor(ActorKind::User, "s-1"))
        .unwrap();
    let after = trail.bundle(&b1(), Some("salon-1"), &cp).unwrap();
    assert!(!after.to_json().contains("Sarah"));
    assert_eq!(verify_bundle(&after).unwrap().redacted, 5);
    assert_eq!(verify_bundle(&before).unwrap().redacted, 0);
}
