//! Runs the core examples and checks what they print.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::process::Command;

/// `cargo test` builds the examples next to the test binaries: `target/<profile>/examples/`.
fn run_example(name: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let dir: PathBuf = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples");
    let out = Command::new(dir.join(name))
        .output()
        .unwrap_or_else(|e| panic!("example {name} was not built in {}: {e}", dir.display()));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn quickstart_prints_the_timeline_newest_first_and_verifies() {
    let out = run_example("quickstart");
    let timeline: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect();
    let expected = [
        "#5 2026-01-13T10:00:00Z Sarah (staff) refunded €45.00",
        "#4 2026-01-12T20:05:00Z Alex Doe (customer) cancelled Haircut with Sam: feeling unwell",
        "#3 2026-01-08T09:12:00Z Sarah (staff) rescheduled Haircut with Sam (customer called to move it), changing start from Sat 10 Jan 14:00 to Thu 15 Jan 09:00",
        "#2 2026-01-05T18:30:02Z System confirmed Haircut with Sam",
        "#1 2026-01-05T18:30:00Z Alex Doe (customer) created Haircut with Sam",
    ];
    assert_eq!(timeline.len(), expected.len(), "{out}");
    for (line, want) in timeline.iter().zip(expected) {
        assert!(
            line.trim_start().starts_with(want),
            "{line:?} should start with {want:?}"
        );
    }
    assert!(
        out.contains("verify: ok: 5 events verified through seq 5"),
        "{out}"
    );
    let checkpoint = out
        .split("checkpoint (keep it outside the database):\n")
        .nth(1)
        .unwrap();
    // The checkpoint ends at the blank line before the note on where the database is kept.
    let (checkpoint, kept) = checkpoint.split_once("\n\n").unwrap();
    let checkpoint = format!("{checkpoint}\n");
    assert!(
        kept.contains("cargo run --features cli --bin auditkit -- verify"),
        "{out}"
    );
    let cp: auditkit::Checkpoint = checkpoint.parse().unwrap();
    assert_eq!(cp.size, 5);
}

#[test]
fn booking_lifecycle_prints_each_screen() {
    let out = run_example("booking_lifecycle");
    assert!(out.contains("== History of booking b-c-1-1\n#5"), "{out}");
    assert!(
        out.contains("slot.start: \"2026-03-05T09:00:00Z\" -> \"2026-03-06T09:00:00Z\""),
        "{out}"
    );
    let maria = out
        .split("== Everything involving customer Maria Rossi\n")
        .nth(1)
        .unwrap()
        .split("==")
        .next()
        .unwrap();
    assert_eq!(maria.lines().count(), 6, "{maria}");
    assert!(maria.starts_with("#16"), "{maria}");
    assert!(out.contains("FAILED (card declined)"), "{out}");
    assert!(out.contains("page 4: seq [15]"), "{out}");
    assert!(out.contains("bookings created: 6"), "{out}");
    assert_eq!(
        out.matches(",booking.rescheduled,success,").count(),
        3,
        "{out}"
    );
    assert!(
        out.contains(
            "ok: 16 events verified through seq 16, checked against a checkpoint of size 16"
        ),
        "{out}"
    );
}
