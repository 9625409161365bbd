//! auditkit's Merkle proofs, checked by Go's `golang.org/x/mod/sumdb/tlog` (`tools/tlogcheck`):
//! every tree size from 1 to 300 at every index, and sampled sizes and indices up to 100,000
//! including every power of two and ± 1; each also with a wrong leaf, index, size and root,
//! which must fail. With feature `sign`, also auditkit's signed checkpoints, checked by Go's
//! `golang.org/x/mod/sumdb/note` (`note.Open`, and the text parsed as a C2SP checkpoint), with
//! altered ones that must fail for the reason each names.
//!
//! Needs `go` and the tlog sources (Debian's `golang-go` and `golang-golang-x-mod-dev`, built
//! in GOPATH mode: no module proxy is reachable). `.ci/go.sh` installs them on CI, which sets
//! `AUDITKIT_REQUIRE_GO=1` so that this test fails rather than skips without them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use auditkit::integrity::hashes;
use auditkit::integrity::proof::{consistency_path, inclusion_path, MemoryTree};
use auditkit::integrity::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

const GOPATH: &str = "/usr/share/gocode";

/// The checker built into the target directory, or `None` (after saying why) without Go.
/// Built once: the tests of this file run in parallel and share it.
fn checker() -> Option<&'static Path> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(exe) => Some(exe),
        Err(why) => {
            assert!(
                std::env::var_os("AUDITKIT_REQUIRE_GO").is_none(),
                "AUDITKIT_REQUIRE_GO is set but {why}"
            );
            println!("SKIPPED: {why}");
            None
        }
    }
}

/// Builds the checker, or says why it cannot (and the test skips); panics if the build fails.
fn build() -> Result<PathBuf, String> {
    if Command::new("go").arg("version").output().is_err() {
        return Err("`go` is not installed (Debian: golang-go)".into());
    }
    for package in ["tlog", "note"] {
        if !PathBuf::from(GOPATH)
            .join("src/golang.org/x/mod/sumdb")
            .join(package)
            .is_dir()
        {
            return Err(format!(
                "the sumdb/{package} sources are not under {GOPATH} (Debian: golang-golang-x-mod-dev)"
            ));
        }
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = target.join("tlogcheck");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&exe)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/tlogcheck/main.go"
        ))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOCACHE", target.join("gocache"))
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build of tools/tlogcheck failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(exe)
}

/// Feeds `cases` (one a line) to the checker and returns what it said, once it checked them
/// all as expected.
fn run(exe: &Path, cases: &str) -> String {
    let expected = cases.lines().count();
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlogcheck");
    // Stopping at a wrong case, the checker closes its stdin early: say what it said first.
    let written = child.stdin.take().unwrap().write_all(cases.as_bytes());
    let result = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "Go disagrees: {said}{}",
        String::from_utf8_lossy(&result.stderr)
    );
    written.expect("write the cases to tlogcheck");
    assert_eq!(said.trim(), format!("tlogcheck: {expected} cases checked"));
    said.trim().to_owned()
}

fn b64(h: &Hash) -> String {
    B64.encode(h)
}

/// One case line: `case` is `I` or `C`, with a `!` before it when it must fail.
fn line(
    out: &mut String,
    case: &str,
    (a, b): (u64, u64),
    (h1, h2): (&Hash, &Hash),
    proof: &[Hash],
) {
    let _ = write!(out, "{case} {a} {b} {} {}", b64(h1), b64(h2));
    for p in proof {
        let _ = write!(out, " {}", b64(p));
    }
    out.push('\n');
}

/// The cases for one tree: inclusion of `indices`, consistency from `olds`, each right and
/// each with a wrong leaf, index, size and root.
fn cases(
    out: &mut String,
    tree: &mut MemoryTree,
    roots: &[Hash],
    leaves: &[Hash],
    size: u64,
    indices: &[u64],
    olds: &[u64],
) {
    let root = roots[size as usize];
    let wrong = hashes::leaf(b"not in the log");
    for &i in indices.iter().filter(|&&i| i < size) {
        let proof = inclusion_path(tree, i, size).unwrap();
        let leaf = leaves[i as usize];
        line(out, "I", (size, i), (&root, &leaf), &proof);
        line(out, "!I", (size, i), (&root, &wrong), &proof);
        line(out, "!I", (size, i), (&wrong, &leaf), &proof);
        if size > 1 {
            line(out, "!I", (size, (i + 1) % size), (&root, &leaf), &proof);
        }
        if (size as usize) + 1 < roots.len() {
            let next = roots[size as usize + 1];
            line(out, "!I", (size + 1, i), (&next, &leaf), &proof);
        }
    }
    for &old in olds.iter().filter(|&&o| o >= 1 && o <= size) {
        let proof = consistency_path(tree, old, size).unwrap();
        let old_root = roots[old as usize];
        line(out, "C", (old, size), (&old_root, &root), &proof);
        if old < size {
            line(out, "!C", (old, size), (&wrong, &root), &proof);
            line(out, "!C", (old, size), (&old_root, &wrong), &proof);
            let bigger = roots[old as usize + 1];
            line(out, "!C", (old + 1, size), (&bigger, &root), &proof);
        }
    }
}

#[test]
fn go_tlog_accepts_auditkit_proofs_and_refuses_wrong_ones() {
    let Some(exe) = checker() else {
        return;
    };
    const SMALL: u64 = 300;
    const LARGE: u64 = 100_000;
    let leaves: Vec<Hash> = (0..=LARGE)
        .map(|i| hashes::leaf(&i.to_be_bytes()))
        .collect();
    // The root of every prefix, from the frontier as the stores keep it.
    let mut roots = vec![auditkit::integrity::merkle::root(&[])];
    let mut frontier = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        auditkit::integrity::merkle::push(&mut frontier, i as u64, *l);
        roots.push(auditkit::integrity::merkle::root(&frontier));
    }
    let mut out = String::new();
    let mut small = MemoryTree::new(&leaves[..SMALL as usize + 1]);
    for size in 1..=SMALL {
        let all: Vec<u64> = (0..size).collect();
        cases(&mut out, &mut small, &roots, &leaves, size, &all, &all);
    }
    let mut large = MemoryTree::new(&leaves);
    let mut sizes: Vec<u64> = (1..=16)
        .flat_map(|k| [(1u64 << k) - 1, 1 << k, (1 << k) + 1])
        .collect();
    sizes.extend([SMALL + 1, 12_345, 65_535, 77_777, 99_999, LARGE]);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for &size in sizes.iter().filter(|&&s| s <= LARGE) {
        let mut picks: Vec<u64> = vec![0, 1, size / 2, size.saturating_sub(2), size - 1];
        picks.extend((1..=16).flat_map(|k| [(1u64 << k) - 1, 1 << k, (1 << k) + 1]));
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            picks.push(x % size);
        }
        picks.sort_unstable();
        picks.dedup();
        cases(&mut out, &mut large, &roots, &leaves, size, &picks, &picks);
    }
    println!("{}", run(exe, &out));
}

/// auditkit's signed checkpoints, checked by Go's `sumdb/note`; every case also by auditkit's
/// own verifier, which must agree (or be, where marked, the more lenient reader).
#[cfg(feature = "sign")]
mod notes {
    use super::*;
    use auditkit::integrity::sign::{NoteSigner, NoteVerifier};
    use auditkit::{AuditTrail, Checkpoint, MemoryStore, NewEvent};

    /// What a note must verify as: by key `vkey`, a checkpoint of `size` events with `root`.
    #[derive(Clone)]
    struct Want {
        vkey: String,
        size: u64,
        root: Hash,
    }

    impl Want {
        /// The same, by key `vkey`.
        fn key(&self, vkey: impl Into<String>) -> Want {
            Want {
                vkey: vkey.into(),
                ..self.clone()
            }
        }
    }

    /// Whether auditkit's own reader accepts `note` as `want`.
    fn auditkit_accepts(want: &Want, note: &[u8]) -> bool {
        let (Ok(v), Ok(Ok(cp))) = (
            NoteVerifier::from_key_string(&want.vkey),
            std::str::from_utf8(note).map(str::parse::<Checkpoint>),
        ) else {
            return false;
        };
        cp.verify_signature(&v).is_ok() && cp.size == want.size && cp.root == want.root
    }

    /// The `N` lines for the checker.
    #[derive(Default)]
    struct Cases(String);

    impl Cases {
        /// A case Go must accept (`go_refuses` none) or refuse for the reason named (see
        /// tools/tlogcheck), and auditkit must accept or not as said.
        fn add(&mut self, go_refuses: Option<&str>, auditkit: bool, want: &Want, note: &[u8]) {
            assert_eq!(
                auditkit_accepts(want, note),
                auditkit,
                "auditkit's verdict on {:?}",
                String::from_utf8_lossy(note)
            );
            let _ = write!(
                self.0,
                "{}N {} {} {} {}",
                if go_refuses.is_some() { "!" } else { "" },
                want.vkey,
                want.size,
                b64(&want.root),
                B64.encode(note)
            );
            if let Some(reason) = go_refuses {
                let _ = write!(self.0, " {reason}");
            }
            self.0.push('\n');
        }

        /// A note Go and auditkit must both accept.
        fn ok(&mut self, want: &Want, note: impl AsRef<[u8]>) {
            self.add(None, true, want, note.as_ref());
        }

        /// A note Go must refuse for `reason`, and auditkit too.
        fn fails(&mut self, reason: &str, want: &Want, note: impl AsRef<[u8]>) {
            self.add(Some(reason), false, want, note.as_ref());
        }

        /// A note Go refuses for `reason` but auditkit's more lenient parser accepts.
        fn only_go_fails(&mut self, reason: &str, want: &Want, note: impl AsRef<[u8]>) {
            self.add(Some(reason), true, want, note.as_ref());
        }
    }

    /// `note` with its last line (the last signature) replaced by `f` of it.
    fn last_line(note: &str, f: impl FnOnce(&str) -> String) -> String {
        let (head, last) = note.trim_end_matches('\n').rsplit_once('\n').unwrap();
        format!("{head}\n{}\n", f(last))
    }

    /// The signature line `line` with its key ID (the first four signature bytes) set to `id`.
    fn with_key_id(line: &str, id: u32) -> String {
        let (head, sig) = line.rsplit_once(' ').unwrap();
        let mut bytes = B64.decode(sig).unwrap();
        bytes[..4].copy_from_slice(&id.to_be_bytes());
        format!("{head} {}", B64.encode(bytes))
    }

    /// Why Go refuses the signature line `line` (of `name`) cut after `len` bytes: with no
    /// key name, no signature, or one that is not base64 of at least 5 bytes the note is
    /// malformed; otherwise the key ID is intact and the short signature does not verify.
    fn truncated_reason(line: &str, name: &str, len: usize) -> &'static str {
        let prefix = format!("\u{2014} {name} ");
        match line.get(..len).and_then(|l| l.strip_prefix(&prefix)) {
            Some(b64) if b64.len() >= 8 && b64.len() % 4 == 0 => "invalid",
            _ => "malformed",
        }
    }

    #[test]
    fn go_note_accepts_auditkit_signed_checkpoints_and_refuses_altered_ones() {
        let Some(exe) = checker() else {
            return;
        };
        let clinic = NoteSigner::from_seed("audit.example.com/clinic-42", [9; 32]).unwrap();
        let witness = NoteSigner::from_seed("witness.example.org/w1", [5; 32]).unwrap();
        // A non-ASCII name: the key ID hashes its UTF-8 bytes.
        let zurich = NoteSigner::from_seed("audit.example.ch/z\u{fc}rich", [77; 32]).unwrap();
        // The clinic's name, another key.
        let impostor = NoteSigner::from_seed(clinic.name(), [10; 32]).unwrap();
        assert_ne!(impostor.key_id(), clinic.key_id());
        let signers = [&clinic, &witness, &zurich];
        let vkey = clinic.verifier().to_key_string();

        let trail = AuditTrail::new(MemoryStore::new());
        let mut cases = Cases::default();
        let mut recorded = 0u64;
        for size in [1u64, 2, 3, 7, 8, 64, 100] {
            while recorded < size {
                trail
                    .record(NewEvent::new("booking.created").context("n", recorded))
                    .unwrap();
                recorded += 1;
            }
            let plain = trail.checkpoint().unwrap();
            assert_eq!(plain.size, size);
            let want = Want {
                vkey: vkey.clone(),
                size,
                root: plain.root,
            };

            // Each key's signature, alone, beside the others', and repeated.
            for s in signers {
                let w = want.key(s.verifier().to_key_string());
                let signed = trail.signed_checkpoint(s).unwrap();
                assert_eq!(signed.root, plain.root);
                let text = signed.to_string();
                cases.ok(&w, &text);
                let line = signed.signatures[0].clone();
                cases.ok(&w, format!("{text}{line}\n"));
            }
            let all = zurich
                .sign(&witness.sign(&clinic.sign(&plain).unwrap()).unwrap())
                .unwrap();
            for s in signers {
                cases.ok(&want.key(s.verifier().to_key_string()), all.to_string());
            }
            // An extension line of another party's: kept, and signed with the rest.
            let mut extended = plain.clone();
            extended.extensions.push("example.org/ext 42".into());
            cases.ok(&want, clinic.sign(&extended).unwrap().to_string());

            let signed = clinic.sign(&plain).unwrap();
            let text = signed.to_string();
            let body = plain.body();
            assert!(text.starts_with(&body) && body.is_ascii());

            // Every byte of the body but its last newline, changed: the signature fails.
            for i in 0..body.len() - 1 {
                let mut bytes = text.clone().into_bytes();
                bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
                cases.fails("invalid", &want, &bytes);
            }
            // Signed by another key under the same name: unknown to the verifier...
            let by_impostor = impostor.sign(&plain).unwrap().to_string();
            cases.fails("unverified", &want, &by_impostor);
            // ... and claiming the right key's ID: a signature that does not verify.
            let claimed = last_line(&by_impostor, |l| with_key_id(l, clinic.key_id()));
            cases.fails("invalid", &want, &claimed);
            // The right signature under another name: unknown.
            let renamed = last_line(&text, |l| l.replacen("clinic-42", "clinic-43", 1));
            cases.fails("unverified", &want, &renamed);
            // The signature line cut short at every byte (a cut inside the em dash leaves
            // text that is not UTF-8: malformed too).
            let line = &signed.signatures[0];
            for len in 0..line.len() {
                let mut cut = format!("{body}\n").into_bytes();
                cut.extend_from_slice(&line.as_bytes()[..len]);
                cut.push(b'\n');
                cases.fails(truncated_reason(line, clinic.name(), len), &want, &cut);
            }
            // Unsigned: no signature block at all.
            cases.fails("malformed", &want, plain.to_string());
            // A garbled line after the good one.
            cases.fails("malformed", &want, format!("{text}\u{2014} x AAAA\n"));

            // Wrong verifier keys: another name's, the same name's other key, the right key with
            // a wrong ID, cut short, or without its key.
            cases.fails(
                "unverified",
                &want.key(witness.verifier().to_key_string()),
                &text,
            );
            cases.fails(
                "unverified",
                &want.key(impostor.verifier().to_key_string()),
                &text,
            );
            let (name_id, key) = vkey.rsplit_once('+').unwrap();
            let (name, id) = name_id.rsplit_once('+').unwrap();
            let other_id = format!("{name}+{:08x}+{key}", clinic.key_id() ^ 1);
            cases.fails("vkey", &want.key(other_id), &text);
            cases.fails(
                "vkey",
                &want.key(format!("{name}+{id}+{}", &key[..40])),
                &text,
            );
            cases.fails("vkey", &want.key(name_id), &text);

            // A good note, but not of this size or root: the checker's own body check.
            let bigger = Want {
                size: size + 1,
                ..want.clone()
            };
            cases.fails("body", &bigger, &text);
            let elsewhere = Want {
                root: hashes::leaf(b"not this log"),
                ..want.clone()
            };
            cases.fails("body", &elsewhere, &text);

            // What auditkit's parser forgives and Go's does not: no final newline, CRLF.
            cases.only_go_fails("malformed", &want, text.trim_end_matches('\n'));
            cases.only_go_fails("malformed", &want, text.replace('\n', "\r\n"));
        }
        println!("{}", run(exe, &cases.0));
    }
}
