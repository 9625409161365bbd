#![no_main]

// The body is shared with tests/fuzz_targets.rs, which runs it on stable over the corpus.
#[allow(dead_code)]
#[path = "../../tests/support/fuzz_bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::times(data));
