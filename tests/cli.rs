//! The `auditkit` binary end to end, on real files: each test runs the built binary and
//! compares what it prints with a golden file under `tests/cli/` (`UPDATE_GOLDEN=1` rewrites
//! them). The events have fixed `occurred_at`; what still changes from run to run (temporary
//! paths, `recorded_at`, ids, hashes, the log id, file sizes) is replaced by placeholders.
#![cfg(feature = "cli")]

#[path = "pg_support/mod.rs"]
mod pg_support;
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditTrail, NewEvent, Outcome, Query, Target};
use rusqlite::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_auditkit");

/// The quickstart's database, as `cargo run --example quickstart` records it (it deletes its
/// own file when done, so it is recorded again here), in a fresh directory.
fn quickstart_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let trail = AuditTrail::new(SqliteStore::open(&path).unwrap());
    quickstart::record(&trail).unwrap();
    drop(trail);
    (dir, path)
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, "")
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the auditkit binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Replaces what differs between runs: the directory, then 64-hex-digit hashes, base64
/// hashes, UUIDs and the microsecond timestamps of `recorded_at`-like fields.
fn normalise(text: &str, dir: &Path) -> String {
    let mut t = text.replace(s(dir), "DIR");
    t = replace_runs(&t, |c| c.is_ascii_hexdigit(), 64, "HASH");
    t = replace_uuids(&t);
    t
}

/// Each maximal run of `len` or more characters matching `class` becomes `with`.
fn replace_runs(text: &str, class: impl Fn(char) -> bool, len: usize, with: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if class(c) {
            run.push(c);
            continue;
        }
        if run.chars().count() >= len {
            out.push_str(with);
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

fn replace_uuids(text: &str) -> String {
    let bytes: Vec<char> = text.chars().collect();
    let shape = [8, 4, 4, 4, 12];
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < bytes.len() {
        let mut j = i;
        for (n, len) in shape.iter().enumerate() {
            for _ in 0..*len {
                if j >= bytes.len() || !bytes[j].is_ascii_hexdigit() {
                    out.push(bytes[i]);
                    i += 1;
                    continue 'outer;
                }
                j += 1;
            }
            if n < 4 {
                if j >= bytes.len() || bytes[j] != '-' {
                    out.push(bytes[i]);
                    i += 1;
                    continue 'outer;
                }
                j += 1;
            }
        }
        out.push_str("UUID");
        i = j;
    }
    out
}

/// Compares `actual` with `tests/cli/<name>`, or writes it there with `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual,
        want,
        "output differs from {} (UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// An attacker with the file: every guard trigger dropped (as tests/tamper.rs does).
fn attacker(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!triggers.is_empty());
    for t in triggers {
        conn.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
    }
    conn
}

/// A copy of the database with one byte of event 3's context changed.
fn tampered_copy(dir: &Path, db: &Path) -> PathBuf {
    let copy = dir.join("tampered.db");
    std::fs::copy(db, &copy).unwrap();
    let conn = attacker(&copy);
    let changed = conn
        .execute(
            "UPDATE auditkit_events SET context = replace(context, 'called', 'callee') WHERE seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    copy
}

// ---- the done-when line ----

#[test]
fn verify_on_the_quickstart_database_is_ok_and_on_a_tampered_copy_names_the_seq() {
    let (dir, db) = quickstart_db();
    let ok = run(&["verify", s(&db)]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("ok: 5 events verified through seq 5"));
    golden("verify_ok.txt", &normalise(&stdout(&ok), dir.path()));

    let copy = tampered_copy(dir.path(), &db);
    let bad = run(&["verify", s(&copy)]);
    assert_eq!(code(&bad), 1, "{}", stderr(&bad));
    let text = stdout(&bad);
    assert!(text.contains("event 3 modified"), "{text}");
    assert!(text.contains("What to do:"), "{text}");
    golden("verify_tampered.txt", &normalise(&text, dir.path()));
}

// ---- reading ----

#[test]
fn query_prints_a_table() {
    let (dir, db) = quickstart_db();
    let o = run(&[
        "query",
        s(&db),
        "--tenant",
        "salon-42",
        "--action",
        "booking.*",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    golden("query_table.txt", &normalise(&stdout(&o), dir.path()));
}

#[test]
fn query_json_is_one_event_per_line() {
    let (dir, db) = quickstart_db();
    let o = run(&[
        "query",
        s(&db),
        "--from-day",
        "2026-01-08",
        "--to-day",
        "2026-01-12",
        "--zone",
        "Europe/Berlin",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let events: Vec<auditkit::Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [4, 3],
        "{text}"
    );
    // recorded_at is the one time the events do not fix.
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["recorded_at"] = "RECORDED_AT".into();
        lines.push(serde_json::to_string(&v).unwrap());
    }
    golden(
        "query_json.txt",
        &normalise(&(lines.join("\n") + "\n"), dir.path()),
    );
}

#[test]
fn history_and_customer_follow_related_targets() {
    let (dir, db) = quickstart_db();
    let history = run(&["history", s(&db), "booking:b-123", "--oldest-first"]);
    assert_eq!(code(&history), 0, "{}", stderr(&history));
    golden("history.txt", &normalise(&stdout(&history), dir.path()));
    let customer = run(&["customer", s(&db), "c-9", "--outcome", "success", "--json"]);
    assert_eq!(code(&customer), 0, "{}", stderr(&customer));
    assert_eq!(stdout(&customer).lines().count(), 5);
}

#[test]
fn stats_counts_per_action_and_per_day() {
    let (dir, db) = quickstart_db();
    let o = run(&["stats", s(&db), "--zone", "Europe/Berlin"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    // The file's size depends on SQLite's page use, not on the events alone.
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("size:") {
                "size:     SIZE".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    golden("stats.txt", &normalise(&(text + "\n"), dir.path()));
}

#[test]
fn export_csv_is_what_the_library_exports() {
    let (dir, db) = quickstart_db();
    let o = run(&["export", s(&db), "--format", "csv", "--tenant", "salon-42"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    let mut want = Vec::new();
    trail
        .export_csv(&Query::new().tenant("salon-42"), &mut want)
        .unwrap();
    assert_eq!(text, String::from_utf8(want).unwrap());
    // recorded_at (third column) is stamped at record; the hash column is replaced too.
    let mut rows = Vec::new();
    for line in text.lines() {
        let mut cells: Vec<&str> = line.splitn(4, ',').collect();
        if cells.len() == 4 && cells[0] != "seq" {
            cells[2] = "RECORDED_AT";
        }
        rows.push(cells.join(","));
    }
    golden(
        "export.csv",
        &normalise(&(rows.join("\n") + "\n"), dir.path()),
    );

    let out = dir.path().join("out.jsonl");
    let o = run(&["export", s(&db), "--format", "jsonl", "--out", s(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 5);
}

#[test]
fn export_with_a_zone_adds_local_columns() {
    let (_dir, db) = quickstart_db();
    let o = run(&[
        "export",
        s(&db),
        "--format",
        "csv",
        "--zone",
        "Europe/Berlin",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let header = stdout(&o).lines().next().unwrap().to_owned();
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    let mut want = Vec::new();
    trail
        .export_csv_with(
            &Query::new(),
            &auditkit::CsvOptions::new().zone("Europe/Berlin"),
            &mut want,
        )
        .unwrap();
    assert_eq!(stdout(&o), String::from_utf8(want).unwrap());
    assert!(header.contains("local"), "{header}");
}

#[test]
fn tail_shows_the_newest_and_follow_prints_new_events() {
    let (_dir, db) = quickstart_db();
    let o = run(&["tail", s(&db), "-n", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("#4 ") && lines[1].starts_with("#5 "),
        "{lines:?}"
    );

    // -n 1 first prints the newest booking event: then the follower has read the head, and
    // what is recorded next is new to it.
    let mut child = Command::new(BIN)
        .args(["tail", s(&db), "-n", "1", "--follow", "--interval", "50"])
        .args(["--action", "booking.*"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(std::time::Duration::from_secs(60));
    let first = next();
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    trail
        .record(NewEvent::new("payment.captured").actor(Actor::system()))
        .unwrap();
    trail
        .record(
            NewEvent::new("booking.created")
                .actor(Actor::customer("c-1"))
                .target(Target::new("booking", "b-9")),
        )
        .unwrap();
    let second = next();
    child.kill().unwrap();
    child.wait().unwrap();
    let first = first.expect("tail --follow printed the newest event");
    assert!(first.starts_with("#4 "), "{first}");
    let second = second.expect("tail --follow printed the new event");
    assert!(
        second.starts_with("#7 ") && second.contains("booking.created"),
        "{second}"
    );
}

#[test]
fn recorded_control_characters_reach_the_terminal_escaped() {
    let (_dir, db) = quickstart_db();
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    // Clears the screen, sets the window title, and a C1 CSI; then a line that fakes a row.
    let evil = "Sam\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}1m\n  9  forged row";
    trail
        .record(
            NewEvent::new("booking.created")
                .tenant("salon-42")
                .actor(Actor::customer("c-1").name(evil))
                .target(Target::new("booking", "b-9").label(evil))
                .outcome(Outcome::failure(evil))
                .context("note", evil),
        )
        .unwrap();
    drop(trail);
    for args in [
        vec!["query", s(&db)],
        vec!["history", s(&db), "booking:b-9"],
        vec!["tail", s(&db), "-n", "1"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a raw control character: {text:?}"
        );
        assert!(text.contains("Sam\\u{1b}[2J"), "{args:?}: {text}");
        assert!(text.contains("\\n  9  forged row"), "{args:?}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("  9  forged")),
            "{text}"
        );
    }
    // JSON Lines keep the text exactly, escaped by JSON itself.
    let o = run(&["tail", s(&db), "-n", "1", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    let e: auditkit::Event = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(e.target.unwrap().label.as_deref(), Some(evil));
}

#[test]
fn tail_checks_its_options_before_opening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    // Past the page limit: the operator's mistake (2), found before the missing file (3).
    let o = run(&["tail", s(&missing), "-n", "5000"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("limit"), "{}", stderr(&o));
    // With no newest events to show, the filters are still checked.
    let o = run(&["tail", s(&missing), "-n", "0", "--action", "Booking"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!missing.exists());
}

// ---- refusals and exit codes ----

#[test]
fn a_file_of_the_first_schema_is_refused_unchanged_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schema_v1.db");
    std::fs::copy(&fixture, &db).unwrap();
    for args in [
        vec!["verify", s(&db)],
        vec!["query", s(&db)],
        vec!["stats", s(&db)],
        vec!["purge", s(&db), "--before", "2030-01-01", "--yes"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
        golden("old_schema.stderr", &normalise(&stderr(&o), dir.path()));
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        std::fs::read(&fixture).unwrap(),
        "a read command changed the file"
    );
    // SQLite may create an empty write-ahead log beside a WAL file it only reads.
    let wal = std::fs::metadata(format!("{}-wal", s(&db))).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "a read command wrote to the write-ahead log");

    // `migrate` asks; "n" keeps the file as it was, --yes migrates it.
    let o = run_with_stdin(&["migrate", s(&db)], "n\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        std::fs::read(&fixture).unwrap()
    );
    let o = run(&["migrate", s(&db), "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("verify: ok"), "{}", stdout(&o));
    let o = run(&[
        "verify",
        s(&db),
        "--against",
        s(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schema_v1.checkpoint")),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    let (dir, db) = quickstart_db();
    let cases: [&[&str]; 6] = [
        &["query"],
        &["no-such-command"],
        &["query", s(&db), "--outcome", "maybe"],
        &["history", s(&db), "b-123"],
        &["query", s(&db), "--zone", "Europe/Nowhere"],
        &[
            "query",
            s(&db),
            "--from-day",
            "2026-02-01",
            "--to-day",
            "2026-01-01",
        ],
    ];
    let mut all = String::new();
    for args in cases {
        let o = run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{err}");
        all += &format!("$ auditkit {}\n{err}", args[..1].join(" "));
    }
    golden("usage.stderr", &normalise(&all, dir.path()));
}

#[test]
fn a_store_that_cannot_be_opened_exits_3_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database, it is a shopping list").unwrap();
    for args in [
        vec!["verify".to_owned(), s(&junk).to_owned()],
        vec![
            "query".to_owned(),
            s(&dir.path().join("missing.db")).to_owned(),
        ],
    ] {
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("auditkit: "), "{err}");
    }
    assert!(!dir.path().join("missing.db").exists());
}

#[test]
fn every_command_has_help_with_examples() {
    let top = run(&["--help"]);
    assert_eq!(code(&top), 0);
    let commands = [
        "verify",
        "verify-bundle",
        "checkpoint",
        "prove",
        "bundle",
        "query",
        "history",
        "customer",
        "tail",
        "export",
        "stats",
        "migrate",
        "purge",
        "erase",
    ];
    for c in commands {
        assert!(stdout(&top).contains(c), "{c} missing from --help");
        let o = run(&[c, "--help"]);
        assert_eq!(code(&o), 0, "{c}");
        assert!(stdout(&o).contains("Example"), "{c} --help has no example");
    }
}

// ---- changing the store ----

#[test]
fn purge_asks_and_n_does_nothing() {
    let (dir, db) = quickstart_db();
    let before = std::fs::read(&db).unwrap();
    let o = run_with_stdin(&["purge", s(&db), "--before", "2100-01-01"], "n\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    golden("purge_no.txt", &normalise(&stdout(&o), dir.path()));
    assert!(stderr(&o).contains("[y/N]"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file changed");
    // No answer at all (stdin closed) is no as well.
    let o = run(&["purge", s(&db), "--before", "2100-01-01"]);
    assert_eq!(code(&o), 0);
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    assert_eq!(trail.count(&Query::new()).unwrap(), 5);
}

#[test]
fn purge_with_yes_purges_and_the_rest_verifies() {
    let (dir, db) = quickstart_db();
    let archive = dir.path().join("archive.jsonl");
    let o = run(&[
        "purge",
        s(&db),
        "--before",
        "2100-01-01",
        "--archive",
        s(&archive),
        "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("purged 4 events (seq 1 to 4)"),
        "{}",
        stdout(&o)
    );
    assert!(archive.exists());
    let o = run(&["verify", s(&db)]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("events 1..=4 purged"), "{}", stdout(&o));
}

#[test]
fn purge_never_overwrites_an_archive() {
    let (dir, db) = quickstart_db();
    let archive = dir.path().join("2024.jsonl");
    std::fs::write(&archive, "the only copy of last year's events\n").unwrap();
    let o = run(&[
        "purge",
        s(&db),
        "--before",
        "2100-01-01",
        "--archive",
        s(&archive),
        "--yes",
    ]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("exists already"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&archive).unwrap(),
        "the only copy of last year's events\n"
    );
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    assert_eq!(trail.count(&Query::new()).unwrap(), 5, "events were purged");
}

#[test]
fn erase_says_it_spans_every_tenant_and_counts_them() {
    let (_dir, db) = quickstart_db();
    let help = run(&["erase", "--help"]);
    assert!(
        stdout(&help).contains("in every tenant"),
        "{}",
        stdout(&help)
    );
    let trail = AuditTrail::new(SqliteStore::open(&db).unwrap());
    // Another salon's customer with the same id: another person, erased all the same.
    trail
        .record(
            NewEvent::new("booking.created")
                .tenant("salon-7")
                .actor(Actor::customer("c-9").name("Kim Roe"))
                .target(Target::new("booking", "b-700")),
        )
        .unwrap();
    drop(trail);
    let o = run_with_stdin(&["erase", s(&db), "--subject", "customer:c-9"], "n\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("appears in events of 2 tenants"), "{text}");
    assert!(text.contains("  salon-42: 5 events\n"), "{text}");
    assert!(text.contains("  salon-7: 1 event\n"), "{text}");
    assert!(stderr(&o).contains("in every tenant?"), "{}", stderr(&o));
}

#[test]
fn erase_shows_counts_asks_and_erases_with_yes() {
    let (dir, db) = quickstart_db();
    let o = run_with_stdin(&["erase", s(&db), "--subject", "customer:c-9"], "no\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    golden("erase_no.txt", &normalise(&stdout(&o), dir.path()));
    let o = run(&["erase", s(&db), "--subject", "customer:c-9", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("recorded as event 6"), "{}", stdout(&o));
    let o = run(&["verify", s(&db)]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("with erased personal values"),
        "{}",
        stdout(&o)
    );
}

// ---- checkpoints, proofs, bundles ----

#[test]
fn checkpoint_then_verify_against_catches_the_newest_event_cut_off() {
    let (dir, db) = quickstart_db();
    let cp = dir.path().join("checkpoint.txt");
    let o = run(&["checkpoint", s(&db), "--out", s(&cp)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["verify", s(&db), "--against", s(&cp)]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("checked against a checkpoint of size 5"));

    let o = run(&["prove", s(&db), "3", "--checkpoint", s(&cp)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let proof: auditkit::integrity::proof::InclusionProof = stdout(&o).parse().unwrap();
    let _ = proof;

    // Cut off the newest event and its head, as an attacker with the file would.
    let conn = attacker(&db);
    conn.execute_batch("DELETE FROM auditkit_events WHERE seq = 5")
        .unwrap();
    drop(conn);
    let o = run(&["verify", s(&db), "--against", s(&cp)]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_signed_bundle_verifies_alone_and_an_edited_one_is_refused() {
    let (dir, db) = quickstart_db();
    let signer =
        auditkit::integrity::sign::NoteSigner::from_seed("audit.salon-42.example", [9; 32])
            .unwrap();
    let key = dir.path().join("salon.key");
    std::fs::write(&key, signer.to_key_string() + "\n").unwrap();
    let public = signer.verifier().to_key_string();

    let signed = dir.path().join("signed.txt");
    let o = run(&["checkpoint", s(&db), "--key", s(&key), "--out", s(&signed)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(std::fs::read_to_string(&signed)
        .unwrap()
        .contains("audit.salon-42.example"));

    let bundle = dir.path().join("b-123.json");
    let o = run(&[
        "bundle",
        s(&db),
        "--target",
        "booking:b-123",
        "--tenant",
        "salon-42",
        "--checkpoint",
        s(&signed),
        "--out",
        s(&bundle),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["verify-bundle", s(&bundle), "--key", &public]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    let text = std::fs::read_to_string(&bundle).unwrap();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, text.replacen("feeling unwell", "feeling great", 1)).unwrap();
    let o = run(&["verify-bundle", s(&edited), "--key", &public]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("REFUSED"), "{}", stdout(&o));
}

// ---- PostgreSQL ----

#[test]
fn postgres_read_commands_write_nothing_and_migrate_asks() {
    let Some(url) = pg_support::url() else {
        return;
    };
    let schema = pg_support::fresh_schema("cli");
    let schema_exists = || -> bool {
        pg_support::raw_client(&url)
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .unwrap()
            .get(0)
    };
    // A read-only session cannot create the schema, so a read command refuses with exit 3.
    let o = run(&["verify", &url, "--pg-schema", &schema]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("auditkit migrate"), "{}", stderr(&o));
    assert!(!schema_exists(), "a read command created the schema");

    let o = run_with_stdin(&["migrate", &url, "--pg-schema", &schema], "n\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!schema_exists(), "migrate answered no created the schema");
    let o = run(&["migrate", &url, "--pg-schema", &schema, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(schema_exists());

    let trail =
        AuditTrail::new(auditkit::postgres::PgStore::connect_with_schema(&url, &schema).unwrap());
    quickstart::record(&trail).unwrap();
    let o = run(&["verify", &url, "--pg-schema", &schema]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("ok: 5 events verified through seq 5"));
    let o = run(&[
        "query",
        &url,
        "--pg-schema",
        &schema,
        "--action",
        "booking.*",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 4);
    let o = run(&["stats", &url, "--pg-schema", &schema]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("events:   5 stored"), "{}", stdout(&o));
}
