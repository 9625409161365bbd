//! The layering rule, checked: a module uses only its own layer and the layers below it.
//!
//! Every `.rs` file under `src/` (but the binaries in `src/bin/`, which only use the public
//! API) belongs to the layer of its top-level module
//! (`src/model/new_event.rs` is in `model`, `src/error.rs` in `error`); `src/lib.rs` only
//! declares and re-exports, so it is not checked for references, but its module list is checked
//! against [`LAYERS`] (the same modules, declared lowest first: each after every layer it may
//! use) and its `use` items say which layer each crate-root name comes from (`crate::AuditTrail`
//! is the trail, `crate::Error` is error).
//!
//! The references found, in code only (comments, doc comments and the contents of string and
//! char literals are blanked first, so doc links and messages never count):
//! - `crate::x::…` paths anywhere, `use` or inline, including `use crate::{x, y::z, …}`
//!   groups with nested braces (each entry is its own reference), and `$crate::…`;
//! - `super::` chains, resolved against the module the text is in: the file's module path
//!   (a `mod.rs` is its folder) plus the inline `mod name { … }` blocks around it, so
//!   `super::super::trail` in `src/integrity/verify.rs` is `crate::trail`.
//!
//! `#[cfg(test)]` code (an inline `#[cfg(test)] mod tests { … }`, or a file declared
//! `#[cfg(test)] mod tests;` such as `src/sqlite/tests.rs`) is not checked: it is in no build
//! a user gets, and a lower layer's unit test may well drive it with data the layers above
//! produce (a recorded trail, a prepared event). The rule is about what the library depends
//! on.
//!
//! Every problem is reported at once, as `src/path.rs:LINE: <layer> uses <layer> (path)`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every module `src/lib.rs` may declare, lowest layer first, with the layers it may use besides
/// itself and `error`. This table is the authority: `src/lib.rs` must declare exactly these
/// modules, and each one after every layer it may use (lowest first, as its comment says).
const LAYERS: &[(&str, &[&str])] = &[
    // Crate-wide: every layer may use it, and it uses none.
    ("error", &[]),
    // The core, a strict ladder: each uses the rungs below it.
    ("model", &[]),
    ("query", &["model"]),
    ("store", &["model", "query"]),
    ("integrity", &["model", "query", "store"]),
    ("vocab", &["model", "query", "store", "integrity"]),
    // The pipeline uses everything but the backends.
    ("trail", &["model", "query", "store", "integrity", "vocab"]),
    // The backends, siblings on top of the core: they use store, integrity and (the SQL ones)
    // sql, never the trail, which is handed a store instead of reaching for one.
    ("sql", BACKEND),
    ("memory", BACKEND),
    ("sqlite", SQL_BACKEND),
    ("postgres", SQL_BACKEND),
    // The web integration sits on the pipeline, handed a trail like the app is.
    (
        "axum",
        &["model", "query", "store", "integrity", "vocab", "trail"],
    ),
    // The viewer, on the axum integration (its errors answer as the layer's do).
    (
        "web",
        &[
            "model",
            "query",
            "store",
            "integrity",
            "vocab",
            "trail",
            "axum",
        ],
    ),
    // The conformance suite drives a trail over a store: it may use everything.
    (
        "testkit",
        &[
            "model",
            "query",
            "store",
            "integrity",
            "vocab",
            "trail",
            "sql",
            "memory",
            "sqlite",
            "postgres",
        ],
    ),
    // Documentation: it may name anything (its imports exist for doc links), and no code may
    // use it (doc links to it are comments, which are not read).
    (
        "guide",
        &[
            "model",
            "query",
            "store",
            "integrity",
            "vocab",
            "trail",
            "sql",
            "memory",
            "sqlite",
            "postgres",
            "testkit",
        ],
    ),
];

/// What a backend may use.
const BACKEND: &[&str] = &["model", "query", "store", "integrity"];
/// What a backend on the shared SQL layer may use.
const SQL_BACKEND: &[&str] = &["model", "query", "store", "integrity", "sql"];

/// The layers every layer may use.
const CRATE_WIDE: &[&str] = &["error"];

/// Checks the layering of a crate's sources, given as `(path, text)` pairs with paths like
/// `src/model/event.rs` (one of them `src/lib.rs`). Returns every problem found, one line each,
/// in path and line order; empty means the layering holds.
fn check(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let table: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();

    let Some((_, lib)) = files.iter().find(|(path, _)| path == "src/lib.rs") else {
        return vec!["src/lib.rs: missing; it declares the layers".to_string()];
    };
    let lib = read_lib(lib);

    // lib.rs declares exactly the table's modules, each after every layer it may use.
    for (name, line) in &lib.modules {
        if !table.contains_key(name.as_str()) {
            problems.push(format!(
                "src/lib.rs:{line}: declares module `{name}`, which the layer table in \
                 tests/layers.rs does not know: add it there, with what it may use"
            ));
        }
    }
    for (name, _) in LAYERS {
        if !lib.modules.iter().any(|(m, _)| m == name) {
            problems.push(format!(
                "src/lib.rs: declares no module `{name}`, which the layer table in \
                 tests/layers.rs names: remove it there"
            ));
        }
    }
    for (i, (name, line)) in lib.modules.iter().enumerate() {
        let Some(uses) = table.get(name.as_str()) else {
            continue;
        };
        let later: Vec<&str> = lib.modules[i + 1..]
            .iter()
            .map(|(m, _)| m.as_str())
            .filter(|m| uses.contains(m) || CRATE_WIDE.contains(m))
            .collect();
        if !later.is_empty() {
            problems.push(format!(
                "src/lib.rs:{line}: declares `{name}` before {}, which it may use: declare \
                 the layers lowest first",
                later.join(", ")
            ));
        }
    }

    let mut files: Vec<&(String, String)> = files.iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let tests = test_files(&files);
    for (path, text) in files {
        if path == "src/lib.rs" || tests.contains(path) {
            continue;
        }
        let Some(module) = module_path(path) else {
            problems.push(format!("{path}: not a `.rs` file under src/"));
            continue;
        };
        let layer = module[0].clone();
        let Some(may_use) = table.get(layer.as_str()) else {
            problems.push(format!(
                "{path}: is in `{layer}`, which the layer table in tests/layers.rs does not know"
            ));
            continue;
        };
        for r in references(&module, text) {
            let used = match r.target {
                Target::Layer(used) => used,
                Target::Root => continue,
                Target::Problem(why) => {
                    problems.push(format!("{path}:{}: {why} ({})", r.line, r.text));
                    continue;
                }
                Target::RootName(name) => match lib.names.get(&name) {
                    Some(used) => used.clone(),
                    None if lib.modules.iter().any(|(m, _)| *m == name) => name,
                    None => {
                        problems.push(format!(
                            "{path}:{}: {layer} uses `{name}`, which src/lib.rs neither \
                             declares nor imports ({})",
                            r.line, r.text
                        ));
                        continue;
                    }
                },
            };
            let allowed = used == layer
                || CRATE_WIDE.contains(&used.as_str())
                || may_use.contains(&used.as_str());
            if !allowed {
                problems.push(format!(
                    "{path}:{}: {layer} uses {used} ({})",
                    r.line, r.text
                ));
            }
        }
    }
    problems
}

/// What `src/lib.rs` declares: its modules in order (with their lines), and for each name its
/// `use` items bring into the crate root, the module it comes from.
struct Lib {
    modules: Vec<(String, usize)>,
    names: BTreeMap<String, String>,
}

fn read_lib(text: &str) -> Lib {
    let toks = tokens(&blank_non_code(text));
    let mut modules = Vec::new();
    let mut imports = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.saturating_sub(1),
            Tok::Ident(kw) if depth == 0 && kw == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct(';' | '{'))) = (
                    toks.get(i + 1).map(|t| &t.tok),
                    toks.get(i + 2).map(|t| &t.tok),
                ) {
                    modules.push((name.clone(), toks[i].line));
                }
            }
            Tok::Ident(kw) if depth == 0 && kw == "use" => {
                let mut pos = i + 1;
                parse_tree(&toks, &mut pos, &[], &mut imports);
            }
            _ => {}
        }
        i += 1;
    }
    let mut names = BTreeMap::new();
    for (path, alias, _) in imports {
        let path: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .skip_while(|s| *s == "crate" || *s == "self")
            .collect();
        let (Some(first), Some(name)) =
            (path.first(), alias.or(path.last().map(|s| s.to_string())))
        else {
            continue;
        };
        if modules.iter().any(|(m, _)| m == first) {
            names.insert(name, first.to_string());
        }
    }
    Lib { modules, names }
}

/// The module path of a file under `src/`: `src/model/event.rs` is `model::event`,
/// `src/model/mod.rs` is `model`.
fn module_path(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut parts: Vec<String> = rest.split('/').map(str::to_string).collect();
    if parts.len() > 1 && parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    Some(parts)
}

/// One reference from a file to a module, and where it points.
struct Reference {
    line: usize,
    /// The path as resolved, e.g. `crate::trail::config` or `super::super::trail`.
    text: String,
    target: Target,
}

enum Target {
    /// A path into a layer's module (`crate::trail::…`, or a `super::` chain inside a layer).
    Layer(String),
    /// A name at the crate root (`crate::AuditTrail`, `crate::model`): lib.rs says which layer.
    RootName(String),
    /// The crate root itself (`crate::{self}`): no layer.
    Root,
    /// A path that cannot be resolved (reported as it is).
    Problem(String),
}

/// Every `crate::`, `$crate::` and `super::` reference in the code of a file whose module path is
/// `module`.
fn references(module: &[String], text: &str) -> Vec<Reference> {
    let toks = tokens(&blank_non_code(text));
    let mut out = Vec::new();
    // The inline modules around the current token: (name, brace depth inside it, whether it
    // is `#[cfg(test)]`).
    let mut inline: Vec<(String, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    for i in 0..toks.len() {
        let prev = i.checked_sub(1).map(|p| &toks[p].tok);
        match &toks[i].tok {
            Tok::Punct('{') => {
                depth += 1;
                if let (Some(Tok::Ident(name)), Some(Tok::Ident(kw))) =
                    (prev, i.checked_sub(2).map(|p| &toks[p].tok))
                {
                    if kw == "mod" {
                        let test = i >= 9 && is_cfg_test(&toks[i - 9..i - 2]);
                        inline.push((name.clone(), depth, test));
                    }
                }
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d, _)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            // Test-only code is not checked (see the module docs).
            Tok::Ident(_) if inline.iter().any(|(_, _, test)| *test) => {}
            Tok::Ident(kw)
                if kw == "crate"
                    && prev != Some(&Tok::PathSep)
                    && toks.get(i + 1).map(|t| &t.tok) == Some(&Tok::PathSep) =>
            {
                let mut pos = i + 2;
                let mut paths = Vec::new();
                parse_tree(&toks, &mut pos, &[], &mut paths);
                // `$crate::…` in a macro is `crate::…`.
                let dollar = if prev == Some(&Tok::Punct('$')) {
                    "$"
                } else {
                    ""
                };
                for (path, _, line) in paths {
                    let text = format!("{dollar}crate::{}", path.join("::"));
                    out.push(Reference {
                        line,
                        text,
                        target: root_target(&path),
                    });
                }
            }
            Tok::Ident(kw)
                if kw == "super"
                    && prev != Some(&Tok::PathSep)
                    && toks.get(i + 1).map(|t| &t.tok) == Some(&Tok::PathSep) =>
            {
                // Count the chain: `super::super::…`; a chain may also end at a `super`
                // (`pub(in super::super)`).
                let mut ups = 0;
                let mut pos = i;
                while toks.get(pos).map(|t| &t.tok) == Some(&Tok::Ident("super".into())) {
                    ups += 1;
                    pos += 1;
                    if toks.get(pos).map(|t| &t.tok) == Some(&Tok::PathSep) {
                        pos += 1;
                    } else {
                        break;
                    }
                }
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(name, _, _)| name.clone()));
                let chain = "super::".repeat(ups);
                if ups > here.len() {
                    out.push(Reference {
                        line: toks[i].line,
                        text: chain.trim_end_matches("::").to_string(),
                        target: Target::Problem("`super` above the crate root".into()),
                    });
                    continue;
                }
                let base = &here[..here.len() - ups];
                let mut paths = Vec::new();
                parse_tree(&toks, &mut pos, &[], &mut paths);
                for (path, _, line) in paths {
                    let text = format!("{chain}{}", path.join("::"));
                    let target = match base.first() {
                        Some(layer) => Target::Layer(layer.clone()),
                        None => root_target(&path),
                    };
                    out.push(Reference { line, text, target });
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `toks` are exactly `#[cfg(test)]`.
fn is_cfg_test(toks: &[Token]) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() == want.len() && toks.iter().zip(&want).all(|(t, w)| t.tok == *w)
}

/// The files declared `#[cfg(test)] mod name;`, by their path under src/ (`name.rs` next to a
/// `mod.rs` or `lib.rs`, else in the declaring file's own folder).
fn test_files(files: &[&(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let toks = tokens(&blank_non_code(text));
        for w in toks.windows(10) {
            if let (Tok::Ident(kw), Tok::Ident(name), Tok::Punct(';')) =
                (&w[7].tok, &w[8].tok, &w[9].tok)
            {
                if kw == "mod" && is_cfg_test(&w[..7]) {
                    let dir = match path.rsplit_once('/') {
                        Some((dir, file)) if file == "mod.rs" || file == "lib.rs" => {
                            dir.to_string()
                        }
                        _ => path.trim_end_matches(".rs").to_string(),
                    };
                    out.push(format!("{dir}/{name}.rs"));
                }
            }
        }
    }
    out
}

/// Where a path that starts at the crate root points.
fn root_target(path: &[String]) -> Target {
    match path.first().map(String::as_str) {
        Some("self") => Target::Root,
        Some("*") => Target::Problem("a glob import of the crate root hides what it uses".into()),
        Some(name) => Target::RootName(name.to_string()),
        None => Target::Problem("an empty path".into()),
    }
}

/// Parses a use tree (`a::b::C`, `a::{b, c::{d, e}}`, `a::*`, `a as b`) starting at `pos`,
/// appending each leaf as (full path below `prefix`, its `as` name if any, the line of its first
/// segment). Inline paths are trees without braces; parsing stops at the first token that
/// cannot continue a path (`<`, `(`, `;`, …). `self` leaves name their parent.
fn parse_tree(
    toks: &[Token],
    pos: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>, usize)>,
) {
    let mut path = prefix.to_vec();
    let mut line = None;
    while let Some(t) = toks.get(*pos) {
        match &t.tok {
            Tok::Punct('{') => {
                *pos += 1;
                loop {
                    match toks.get(*pos).map(|t| &t.tok) {
                        None => return,
                        Some(Tok::Punct('}')) => {
                            *pos += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *pos += 1,
                        Some(_) => {
                            let before = *pos;
                            parse_tree(toks, pos, &path, out);
                            if *pos == before {
                                // Not a tree: skip the token rather than loop forever.
                                *pos += 1;
                            }
                        }
                    }
                }
            }
            Tok::Punct('*') => {
                *pos += 1;
                path.push("*".into());
                out.push((path, None, t.line));
                return;
            }
            Tok::Ident(seg) => {
                line.get_or_insert(t.line);
                *pos += 1;
                if seg != "self" || path.is_empty() {
                    path.push(seg.clone());
                }
                if toks.get(*pos).map(|t| &t.tok) == Some(&Tok::PathSep) {
                    *pos += 1;
                    continue;
                }
                let mut alias = None;
                if toks.get(*pos).map(|t| &t.tok) == Some(&Tok::Ident("as".into())) {
                    if let Some(Tok::Ident(name)) = toks.get(*pos + 1).map(|t| &t.tok) {
                        alias = Some(name.clone());
                        *pos += 2;
                    }
                }
                out.push((path, alias, line.unwrap_or(t.line)));
                return;
            }
            _ => break,
        }
    }
    if path.len() > prefix.len() {
        out.push((path, None, line.unwrap_or(0)));
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

struct Token {
    tok: Tok,
    line: usize,
}

/// Splits code (already blanked by [`blank_non_code`]) into identifiers, `::` and single
/// punctuation characters, each with its line (from 1). Numbers are dropped.
fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                line,
            });
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The text with comments (line, doc and nested block comments) and string, byte string, raw
/// string and char literals replaced by spaces, newlines kept, so lines still count right and
/// only code is left. Lifetimes and labels (`'a`) are kept.
fn blank_non_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(chars.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if matches!(c, 'r' | 'b' | 'c') && (i == 0 || !ident(chars[i - 1])) {
            // A raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`)? Anything else is an
            // identifier, taken whole so its last letter is never read as a prefix.
            let mut j = i;
            if matches!(chars[j], 'b' | 'c') && chars.get(j + 1) == Some(&'r') {
                j += 1;
            }
            let mut end = None;
            if chars[j] == 'r' {
                let hashes = chars[j + 1..].iter().take_while(|&&c| c == '#').count();
                let open = j + 1 + hashes;
                if chars.get(open) == Some(&'"') {
                    let close = format!("\"{}", "#".repeat(hashes));
                    let body: String = chars[open + 1..].iter().collect();
                    end = Some(body.find(&close).map_or(chars.len(), |p| {
                        open + 1 + body[..p].chars().count() + close.chars().count()
                    }));
                }
            }
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => {
                    while i < chars.len() && ident(chars[i]) {
                        i += 1;
                    }
                }
            }
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' {
            // A char literal (`'x'`, `'\''`, `'\u{1F600}'`), or a lifetime or label (`'a`).
            if next == Some('\\') {
                let end = chars[i + 3..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map_or(chars.len(), |p| i + 3 + p + 1);
                blank(&mut out, i, end);
                i = end;
            } else if chars.get(i + 2) == Some(&'\'') {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else if ident(c) {
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Every `.rs` file under `dir`, as (path relative to the crate with `/`, text).
fn read_sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        // `src/bin/` holds binaries: crates of their own on top of the library's public API,
        // whose `crate::` means the binary, so they are in no layer.
        if path.is_dir()
            && path
                .strip_prefix(root)
                .is_ok_and(|p| p == Path::new("src/bin"))
        {
            continue;
        }
        if path.is_dir() {
            read_sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under the crate");
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            out.push((rel.join("/"), text));
        }
    }
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    read_sources(root, &root.join("src"), &mut files);
    assert!(
        files.iter().any(|(p, _)| p == "src/lib.rs") && files.len() > 10,
        "found {} files under src/",
        files.len()
    );
    let problems = check(&files);
    assert!(
        problems.is_empty(),
        "{} layering problem(s); a layer uses only itself, the layers below it and `error`, \
         and src/lib.rs declares them lowest first (the table is in tests/layers.rs):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Names a layer's code may not mention at all, even where the layer order would allow it:
/// integrity is pure (sealed data in, verdicts out), so it reads logs through its own
/// `EventSource` and never names the store contract or the trail.
const FORBIDDEN_NAMES: &[(&str, &[&str])] = &[("integrity", &["AuditStore", "AuditTrail"])];

/// Every code (not comment or doc) mention of a [`FORBIDDEN_NAMES`] name in its layer.
fn forbidden_names(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files {
        let Some(module) = module_path(path) else {
            continue;
        };
        let Some(layer) = module.first() else {
            continue;
        };
        for (l, names) in FORBIDDEN_NAMES {
            if layer != l {
                continue;
            }
            for t in tokens(&blank_non_code(text)) {
                if let Tok::Ident(id) = &t.tok {
                    if names.contains(&id.as_str()) {
                        problems.push(format!("{path}:{}: {layer} names `{id}`", t.line));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn integrity_never_names_the_store_contract_or_the_trail() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    read_sources(root, &root.join("src"), &mut files);
    let problems = forbidden_names(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // And the rule can fail: a planted mention is reported, a doc link is not.
    let planted = vec![(
        "src/integrity/verify.rs".to_string(),
        "/// Reads a [`crate::AuditStore`].\nfn run<S: crate::AuditStore>(s: &S) {}\n".to_string(),
    )];
    assert_eq!(
        forbidden_names(&planted),
        vec!["src/integrity/verify.rs:2: integrity names `AuditStore`".to_string()]
    );
}

/// The checker fails on planted upward references and passes the allowed ones.
#[test]
fn the_checker_reports_planted_upward_references() {
    let lib = r#"//! The crate. [`trail`] is documented here.
mod error;
mod model;
pub mod query;
pub mod store;
pub mod integrity;
pub mod vocab;
mod trail;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
pub mod memory;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "web")]
pub mod web;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod guide;

pub use error::{Error, Result};
pub use model::event::{Actor, Event};
pub use store::{AuditStore, Head};
pub use store::sealed::{
    PersonalField, SealedEvent,
};
pub use trail::retention::{PurgeReport, PURGE_ACTION};
pub use trail::{AuditTrail, TrailBuilder as Builder};
"#;
    let files: Vec<(String, String)> = [
        ("src/lib.rs", lib),
        // Planted: a `use` of the trail from the model.
        (
            "src/model/new_event.rs",
            "use crate::model::event::Event;\n\
             use super::changes;\n\
             use crate::trail::AuditTrail;\n\
             use crate::{Error, Result};\n",
        ),
        // Planted: a group with one allowed and one upward entry, nested braces.
        (
            "src/store/mod.rs",
            "use crate::{query, model::{event::Event, changes}, trail::config};\n\
             use crate::store::sealed::SealedEvent;\n",
        ),
        // Planted: a `super::super` chain to the trail, and a crate-root re-export of it.
        (
            "src/integrity/verify.rs",
            "use super::{canonical, hashes};\n\
             use super::super::trail::retention;\n\
             use crate::store::AuditStore;\n\
             pub fn verify(t: &crate::AuditTrail<M>) -> crate::Result<()> { Ok(()) }\n\
             pub fn seal(e: &crate::SealedEvent, p: &crate::PersonalField) {}\n",
        ),
        // Inline modules: `super` counts them; a chain out of the file reaches the root.
        (
            "src/model/event.rs",
            "pub(crate) fn f() {}\n\
             mod inner {\n    \
                 use super::*;\n    \
                 use super::super::changes;\n    \
                 use super::super::super::trail::AuditTrail;\n    \
                 mod deeper { pub(in super::super) fn g() {} }\n\
             }\n\
             #[cfg(test)]\n\
             mod tests { use crate::trail::AuditTrail; use super::super::super::vocab; }\n\
             use super::super::vocab;\n",
        ),
        // A file declared `#[cfg(test)] mod tests;` is test-only code, not checked.
        ("src/sqlite/mod.rs", "#[cfg(test)]\nmod tests;\nmod read;\n"),
        ("src/sqlite/tests.rs", "use crate::AuditTrail;\n"),
        // Not code: comments, doc links, strings, raw strings, char literals.
        (
            "src/query/mod.rs",
            "//! Uses [`crate::trail`] and [`crate::AuditTrail`] in docs only.\n\
             /// See [`AuditTrail`](crate::AuditTrail) and [`super::super::trail`].\n\
             // use crate::trail::AuditTrail;\n\
             /* crate::trail::config\n   /* nested */ crate::AuditTrail */\n\
             pub fn name() -> &'static str { \"crate::trail::AuditTrail\" }\n\
             const RAW: &str = r#\"crate::trail \"quoted\" super::super::trail\"#;\n\
             const Q: char = '\"'; use crate::model::event::Event; // crate::trail\n\
             const E: char = '\\''; const S: &[u8] = b\"crate::trail\";\n\
             fn lt<'a>(x: &'a str) -> &'a str { x } // crate::AuditTrail\n\
             use crate::trail::Late;\n",
        ),
        // Backends: siblings; the SQL ones use sql; none uses the trail or vocab.
        (
            "src/sqlite/lifecycle.rs",
            "use super::{map_err, SqliteStore};\n\
             use crate::sql::codec;\n\
             use crate::integrity::Hash;\n\
             use crate::{trail::AuditTrail, vocab::describe};\n\
             use crate::memory::MemoryStore;\n",
        ),
        (
            "src/memory/mod.rs",
            "use crate::store::AuditStore;\nuse crate::sql::filter;\n",
        ),
        // Everything may be used by the testkit; code may not use the guide.
        (
            "src/testkit/checks.rs",
            "use crate::{\n    trail::AuditTrail,\n    sqlite::SqliteStore,\n    memory,\n};\n\
             macro_rules! m { () => { $crate::trail::AuditTrail::new() } }\n\
             use crate::guide;\n",
        ),
        // `error` is below everything, and unknown root names are reported.
        (
            "src/error.rs",
            "use crate::model::event::Target;\nuse crate::Nowhere;\n",
        ),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();

    let expected = [
        "src/error.rs:1: error uses model (crate::model::event::Target)",
        "src/error.rs:2: error uses `Nowhere`, which src/lib.rs neither declares nor imports \
         (crate::Nowhere)",
        "src/integrity/verify.rs:2: integrity uses trail (super::super::trail::retention)",
        "src/integrity/verify.rs:4: integrity uses trail (crate::AuditTrail)",
        "src/memory/mod.rs:2: memory uses sql (crate::sql::filter)",
        "src/model/event.rs:5: model uses trail (super::super::super::trail::AuditTrail)",
        "src/model/event.rs:10: model uses vocab (super::super::vocab)",
        "src/model/new_event.rs:3: model uses trail (crate::trail::AuditTrail)",
        "src/query/mod.rs:11: query uses trail (crate::trail::Late)",
        "src/sqlite/lifecycle.rs:4: sqlite uses trail (crate::trail::AuditTrail)",
        "src/sqlite/lifecycle.rs:4: sqlite uses vocab (crate::vocab::describe)",
        "src/sqlite/lifecycle.rs:5: sqlite uses memory (crate::memory::MemoryStore)",
        "src/store/mod.rs:1: store uses trail (crate::trail::config)",
        "src/testkit/checks.rs:7: testkit uses guide (crate::guide)",
    ];
    assert_eq!(check(&files), expected, "planted references");

    // lib.rs: an unknown module, a layer declared before one it uses, a table entry missing.
    let bad_lib = lib
        .replace(
            "mod model;\npub mod query;\n",
            "pub mod query;\nmod model;\n",
        )
        .replace("pub mod guide;\n", "pub mod extras;\n");
    let files = [("src/lib.rs".to_string(), bad_lib)];
    assert_eq!(
        check(&files),
        [
            "src/lib.rs:22: declares module `extras`, which the layer table in tests/layers.rs \
             does not know: add it there, with what it may use",
            "src/lib.rs: declares no module `guide`, which the layer table in tests/layers.rs \
             names: remove it there",
            "src/lib.rs:3: declares `query` before model, which it may use: declare the layers \
             lowest first",
        ],
        "lib.rs checks"
    );
}
