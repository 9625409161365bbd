//! The fuzz targets' bodies on stable: over the kept corpus in `fuzz/corpus/<target>/` and
//! over proptest-generated inputs (random bytes, and mutations of valid inputs).
//! `cargo +nightly fuzz run <target>` in `fuzz/` runs the same bodies under libFuzzer.

#[path = "support/fuzz_bodies.rs"]
mod bodies;

use std::path::Path;

use proptest::prelude::*;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{target}: the corpus is too small");
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read seed"))
        .collect()
}

fn run_corpus(target: &str, body: fn(&[u8])) {
    for seed in corpus(target) {
        body(&seed);
    }
}

#[test]
fn cursor_corpus() {
    run_corpus("cursor", bodies::cursor);
}

#[test]
fn checkpoint_corpus() {
    run_corpus("checkpoint", bodies::checkpoint);
}

#[test]
fn sealed_decode_corpus() {
    run_corpus("sealed_decode", bodies::sealed_decode);
}

#[test]
fn event_json_corpus() {
    run_corpus("event_json", bodies::event_json);
}

#[test]
fn open_database_corpus() {
    run_corpus("open_database", bodies::open_database);
}

#[test]
fn times_corpus() {
    run_corpus("times", bodies::times);
}

/// Flips, deletes and inserts bytes of `seed` at the given positions.
fn mutate(seed: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(at, op, byte) in edits {
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let i = at % out.len();
        match op % 3 {
            0 => out[i] ^= byte.max(1),
            1 => {
                out.remove(i);
            }
            _ => out.insert(i, byte),
        }
    }
    out
}

fn valid_database() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/open_database/valid.db");
    std::fs::read(path).expect("the valid database seed")
}

fn seed_of(target: &str, pick: usize) -> Vec<u8> {
    let seeds = corpus(target);
    seeds[pick % seeds.len()].clone()
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cursor_random_text(s in "(c1\\.)?[0-9a-fA-F.+-]{0,40}") {
        bodies::cursor(s.as_bytes());
    }

    #[test]
    fn cursor_mutated(pick in any::<usize>(), e in edits()) {
        bodies::cursor(&mutate(&seed_of("cursor", pick), &e));
    }

    #[test]
    fn checkpoint_mutated(pick in any::<usize>(), e in edits()) {
        bodies::checkpoint(&mutate(&seed_of("checkpoint", pick), &e));
    }

    #[test]
    fn checkpoint_random_lines(lines in prop::collection::vec("[ -~\u{2014}\r]{0,50}", 0..7)) {
        bodies::checkpoint(lines.join("\n").as_bytes());
    }

    #[test]
    fn sealed_decode_mutated(pick in any::<usize>(), e in edits()) {
        bodies::sealed_decode(&mutate(&seed_of("sealed_decode", pick), &e));
    }

    #[test]
    fn event_json_mutated(pick in any::<usize>(), e in edits()) {
        bodies::event_json(&mutate(&seed_of("event_json", pick), &e));
    }

    #[test]
    fn random_bytes_everywhere(data in prop::collection::vec(any::<u8>(), 0..512)) {
        bodies::cursor(&data);
        bodies::checkpoint(&data);
        bodies::sealed_decode(&data);
        bodies::event_json(&data);
    }
}

proptest! {
    // Each case opens a file database twice: fewer cases keep the suite quick.
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn open_database_mutated(e in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..24)) {
        // Only flips (no length change) so most pages stay where SQLite looks for them and
        // the damage reaches auditkit's own decoding, not just SQLite's header checks.
        let flips: Vec<_> = e.into_iter().map(|(at, _, b)| (at, 0, b)).collect();
        bodies::open_database(&mutate(&valid_database(), &flips));
    }

    #[test]
    fn open_database_random_bytes(data in prop::collection::vec(any::<u8>(), 0..4096)) {
        bodies::open_database(&data);
    }

    // Each case records on two stores: as many cases as the database targets.
    #[test]
    fn times_random_bytes(data in prop::collection::vec(any::<u8>(), 0..40)) {
        bodies::times(&data);
    }

    #[test]
    fn times_mutated(pick in any::<usize>(), e in edits()) {
        bodies::times(&mutate(&seed_of("times", pick), &e));
    }
}
