//! auditkit's Merkle proofs, checked by Go's `golang.org/x/mod/sumdb/tlog` (`tools/tlogcheck`):
//! every tree size from 1 to 300 at every index, and sampled sizes and indices up to 100,000
//! including every power of two and ± 1; each also with a wrong leaf, index, size and root,
//! which must fail.
//!
//! Needs `go` and the tlog sources (Debian's `golang-go` and `golang-golang-x-mod-dev`, built
//! in GOPATH mode: no module proxy is reachable). `.ci/go.sh` installs them on CI, which sets
//! `AUDITKIT_REQUIRE_GO=1` so that this test fails rather than skips without them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use auditkit::integrity::hashes;
use auditkit::integrity::proof::{consistency_path, inclusion_path, MemoryTree};
use auditkit::integrity::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

const GOPATH: &str = "/usr/share/gocode";

/// The checker built into the target directory, or `None` (after saying why) without Go.
fn checker() -> Option<PathBuf> {
    let skip = |why: String| {
        assert!(
            std::env::var_os("AUDITKIT_REQUIRE_GO").is_none(),
            "AUDITKIT_REQUIRE_GO is set but {why}"
        );
        println!("SKIPPED: {why}");
        None
    };
    if Command::new("go").arg("version").output().is_err() {
        return skip("`go` is not installed (Debian: golang-go)".into());
    }
    if !PathBuf::from(GOPATH)
        .join("src/golang.org/x/mod/sumdb/tlog")
        .is_dir()
    {
        return skip(format!(
            "the tlog sources are not under {GOPATH} (Debian: golang-golang-x-mod-dev)"
        ));
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
    Some(exe)
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
    let expected = out.lines().count();
    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tlogcheck");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(out.as_bytes())
        .unwrap();
    let result = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "Go's tlog disagrees: {said}");
    assert_eq!(said.trim(), format!("tlogcheck: {expected} cases checked"));
    println!("{}", said.trim());
}
