//! Proofs made from a store (`AuditTrail::prove`, `prove_consistency`): the same hashes as the
//! reference tree over the events' leaves at every size and index, verified with no store,
//! after a purge, and refused when the stored subtree hashes were altered. Also each event's
//! links to the previous event of each target it involves.

use auditkit::integrity::proof::{consistency_path, inclusion_path, MemoryTree};
use auditkit::integrity::verify::seal_hashes;
use auditkit::integrity::Hash;
use auditkit::sqlite::SqliteStore;
use auditkit::{
    Actor, AuditStore, AuditTrail, Checkpoint, FaultKind, MemoryStore, NewEvent, Target,
};

fn event(i: u64) -> NewEvent {
    // Bookings b-0..b-4 for customers c-0..c-2, so targets repeat at varying distances.
    NewEvent::new("booking.updated")
        .tenant(if i % 7 == 3 { "salon-2" } else { "salon-1" })
        .actor(Actor::user("s-1"))
        .target(Target::new("booking", format!("b-{}", i % 5)))
        .related(Target::new("customer", format!("c-{}", i % 3)))
        .context("n", i)
}

/// Records `n` events one at a time, keeping the checkpoint after each.
fn fill<S: AuditStore>(trail: &AuditTrail<S>, n: u64) -> Vec<Checkpoint> {
    (1..=n)
        .map(|i| {
            trail.record(event(i)).unwrap();
            trail.checkpoint().unwrap()
        })
        .collect()
}

fn leaves<S: AuditStore>(store: &S, log_id: &str) -> Vec<Hash> {
    store
        .read(1, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| seal_hashes(log_id, e).0)
        .collect()
}

/// Every inclusion proof at every checkpoint size, and every consistency proof between two
/// sizes, equals the reference tree's and verifies.
fn every_proof_matches_the_reference<S: AuditStore>(trail: AuditTrail<S>, n: u64) {
    let cps = fill(&trail, n);
    let log_id = trail.log_id().unwrap().to_owned();
    let leaves = leaves(trail.store(), &log_id);
    let mut reference = MemoryTree::new(&leaves);
    for cp in &cps {
        for seq in 1..=cp.size {
            let proof = trail.prove(seq, cp).unwrap();
            assert_eq!(
                proof.hashes,
                inclusion_path(&mut reference, seq - 1, cp.size).unwrap(),
                "inclusion of {seq} in {}",
                cp.size
            );
            proof.verify(&leaves[seq as usize - 1]).unwrap();
            // Through its text form, as an outsider gets it.
            let text = proof.to_string();
            let back: auditkit::integrity::proof::InclusionProof = text.parse().unwrap();
            back.verify(&leaves[seq as usize - 1]).unwrap();
            assert!(back.verify(&leaves[(seq as usize) % leaves.len()]).is_err() || n == 1);
        }
        for old in cps.iter().filter(|o| o.size <= cp.size) {
            let proof = trail.prove_consistency(old, cp).unwrap();
            assert_eq!(
                proof.hashes,
                consistency_path(&mut reference, old.size, cp.size).unwrap(),
                "consistency {} -> {}",
                old.size,
                cp.size
            );
            proof.verify(old, cp).unwrap();
        }
    }
    assert!(trail.prove(0, &cps[0]).unwrap_err().is_invalid());
    assert!(trail.prove(2, &cps[0]).unwrap_err().is_invalid());
    assert!(trail.prove_consistency(&cps[1], &cps[0]).is_err());
}

#[test]
fn memory_store_proofs_match_the_reference_tree() {
    every_proof_matches_the_reference(AuditTrail::new(MemoryStore::new()), 70);
}

#[test]
fn sqlite_proofs_match_the_reference_tree() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    every_proof_matches_the_reference(AuditTrail::new(store), 70);
}

#[test]
fn events_carry_the_subtree_hashes_they_complete() {
    let trail = AuditTrail::new(MemoryStore::new());
    fill(&trail, 64);
    let log_id = trail.log_id().unwrap().to_owned();
    let events = trail.store().read(1, 100).unwrap();
    let leaves = leaves(trail.store(), &log_id);
    let mut reference = MemoryTree::new(&leaves);
    use auditkit::integrity::proof::Subtrees;
    for e in &events {
        let levels = e.seq.trailing_zeros();
        let want: Vec<Hash> = (4..=levels)
            .map(|l| reference.subtree(l as u8, (e.seq >> l) - 1).unwrap())
            .collect();
        assert_eq!(e.nodes, want, "event {}", e.seq);
    }
}

#[test]
fn proofs_after_a_purge_use_the_anchor_and_refuse_purged_events() {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    fill(&trail, 37);
    let cutoff = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let cps = fill(&trail, 40);
    let report = trail.purge_before(cutoff).unwrap();
    assert_eq!(report.through_seq, 37);
    let newest = trail.checkpoint().unwrap();
    let log_id = trail.log_id().unwrap().to_owned();
    let kept = trail.store().read(1, usize::MAX).unwrap();
    for e in &kept {
        for cp in cps.iter().chain([&newest]).filter(|c| c.size >= e.seq) {
            let leaf = seal_hashes(&log_id, e).0;
            trail.prove(e.seq, cp).unwrap().verify(&leaf).unwrap();
        }
    }
    let err = trail.prove(5, &newest).unwrap_err();
    assert!(err.to_string().contains("purged"), "{err}");
    // Consistency from a checkpoint after the anchor still works; from inside it, no.
    let mid = cps.iter().find(|c| c.size == 50).unwrap();
    trail
        .prove_consistency(mid, &newest)
        .unwrap()
        .verify(mid, &newest)
        .unwrap();
}

#[test]
fn altered_subtree_hashes_are_refused_by_prove_and_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let cps = fill(&trail, 40);
    let cp = cps.last().unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("DROP TRIGGER auditkit_events_no_update")
        .unwrap();
    raw.execute(
        "UPDATE auditkit_events SET nodes = zeroblob(64) WHERE seq = 32",
        [],
    )
    .unwrap();
    drop(raw);
    let err = trail.prove(40, cp).unwrap_err();
    assert!(err.to_string().contains("do not lead"), "{err}");
    let report = trail.verify().unwrap();
    let fault = report.fault.unwrap();
    assert_eq!(
        (fault.seq, fault.kind),
        (32, FaultKind::Modified),
        "{fault}"
    );
    assert!(fault.detail.contains("subtree"), "{fault}");
}

#[test]
fn each_event_links_to_the_previous_event_of_each_target_in_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = AuditTrail::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    let memory = AuditTrail::new(MemoryStore::new());
    for trail_events in [
        {
            fill(&sqlite, 30);
            sqlite.store().read(1, 100).unwrap()
        },
        {
            fill(&memory, 30);
            memory.store().read(1, 100).unwrap()
        },
    ] {
        let mut last: std::collections::HashMap<(Option<String>, String, String), u64> =
            Default::default();
        for e in &trail_events {
            let involved = e.involved().unwrap();
            assert_eq!(e.links.len(), involved.len(), "event {}", e.seq);
            for ((kind, id), link) in involved.into_iter().zip(&e.links) {
                let key = (e.tenant.clone(), kind, id);
                assert_eq!(
                    *link,
                    last.get(&key).copied().unwrap_or(0),
                    "event {} {key:?}",
                    e.seq
                );
                last.insert(key, e.seq);
            }
        }
    }
    // A batch links within itself.
    let batch = sqlite.record_batch(vec![event(100), event(105)]).unwrap();
    let stored = sqlite.store().read(batch[1].seq, 1).unwrap();
    assert_eq!(stored[0].links[0], batch[0].seq);
}

#[test]
fn verify_since_checks_only_what_came_after_a_trusted_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    let cps = fill(&trail, 45);
    let trusted = &cps[29];
    let report = trail.verify_since(trusted).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        (report.checked, report.trusted_through),
        (15, 30),
        "{report}"
    );
    assert!(report.to_string().contains("trusted"), "{report}");
    // Every size works, the head's included.
    for cp in &cps {
        let r = trail.verify_since(cp).unwrap();
        assert!(r.is_ok() && r.checked == 45 - cp.size, "{} {r}", cp.size);
    }
    // A derived row of a newer event is checked; one of an older event is not (a full
    // verify finds it), as the docs say.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP TRIGGER auditkit_targets_no_delete;
         DELETE FROM auditkit_event_targets WHERE seq = 40 AND kind = 'customer';",
    )
    .unwrap();
    let fault = trail.verify_since(trusted).unwrap().fault.unwrap();
    assert_eq!((fault.seq, fault.kind), (40, FaultKind::DerivedRow));
    raw.execute(
        "INSERT INTO auditkit_event_targets VALUES ('customer', 'c-1', 40)",
        [],
    )
    .unwrap();
    raw.execute(
        "DELETE FROM auditkit_event_targets WHERE seq = 10 AND kind = 'customer'",
        [],
    )
    .unwrap();
    assert!(trail.verify_since(trusted).unwrap().is_ok());
    let fault = trail.verify().unwrap().fault.unwrap();
    assert_eq!((fault.seq, fault.kind), (10, FaultKind::DerivedRow));
    // A log that no longer extends the checkpoint is refused.
    raw.execute_batch("DROP TRIGGER auditkit_events_no_update")
        .unwrap();
    raw.execute(
        "UPDATE auditkit_events SET action = 'booking.deleted' WHERE seq = 30",
        [],
    )
    .unwrap();
    let err = trail.verify_since(trusted).unwrap_err();
    assert!(err.to_string().contains("verify_against"), "{err}");
    // Another log's checkpoint is refused.
    let other = AuditTrail::new(MemoryStore::new());
    other.record(event(1)).unwrap();
    assert!(trail.verify_since(&other.checkpoint().unwrap()).is_err());
}
