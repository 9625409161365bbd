//! README's Rust code reads as code on GitHub and crates.io: no block hides lines from the
//! reader with rustdoc's `# ` prefix. The blocks are whole programs, compiled and run as they
//! are shown by the README doctest hook in `src/lib.rs` (`ReadmeDoctests`).

/// Each ```rust block of README.md (info string `rust` or `rust,...`): its first line number
/// and its lines.
fn rust_blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    let mut in_other = false;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (Some(_), Some(rest)) if rest.trim().is_empty() => blocks.extend(open.take()),
            (Some((_, lines)), _) => lines.push(line),
            (None, Some(_)) if in_other => in_other = false,
            (None, Some(info)) => {
                let lang = info.split([',', ' ']).next().unwrap_or("").trim();
                if lang == "rust" {
                    open = Some((i + 2, Vec::new()));
                } else {
                    in_other = true;
                }
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md ends inside a ```rust block");
    blocks
}

#[test]
fn readme_rust_blocks_hide_no_lines() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let blocks = rust_blocks(&readme);
    assert!(
        blocks.len() >= 5,
        "found only {} ```rust blocks in README.md",
        blocks.len()
    );
    let mut hidden = Vec::new();
    for (first, lines) in &blocks {
        for (j, line) in lines.iter().enumerate() {
            // What rustdoc hides: after leading whitespace, `# ` or a lone `#`.
            let t = line.trim_start();
            if t.starts_with("# ") || t == "#" {
                hidden.push(format!("README.md:{}: {line}", first + j));
            }
        }
    }
    assert!(
        hidden.is_empty(),
        "README's ```rust blocks hide lines from readers (rustdoc's `# ` prefix); write them \
         as whole programs instead:\n{}",
        hidden.join("\n")
    );
}

#[test]
fn the_block_finder_sees_through_other_fences() {
    let text = "```sh\n# a comment\n```\n```rust,no_run\nfn main() {}\n# x\n```\n```toml\n```\n";
    assert_eq!(rust_blocks(text), [(5, vec!["fn main() {}", "# x"])]);
}
