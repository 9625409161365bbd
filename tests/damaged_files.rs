//! Damaged database files (issue 13): a small auditkit database, closed (so its WAL is
//! checkpointed and removed), opened as copies damaged every way a file gets damaged.
//!
//! What must hold, whatever the damage:
//! - a refused open is `Error::Corrupt` and the main file and its `-wal` are byte for byte as
//!   they were (opening never writes to a file before it is known to be auditkit's);
//! - nothing is ever appended onto damage: when the newest event is damaged, `record` (or the
//!   open before it) is refused;
//! - a read-only open of a damaged file lets `verify` say where the damage is: a fault naming
//!   the seq, or `Error::Corrupt` saying the file is damaged; never a clean report for a
//!   truncated file, never a panic;
//! - legitimate leftovers (an empty `-wal` or `-shm`, a WAL that still holds the pages a crash
//!   during a checkpoint did not copy) open, record and verify as usual.
#![cfg(feature = "sqlite")]

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use auditkit::integrity::verify::seal_hashes;
use auditkit::sqlite::{SqliteOptions, SqliteStore};
use auditkit::{
    Actor, AuditStore, AuditTrail, Error, NewEvent, Query, RequestContext, Source, Target,
};
use serde_json::json;
use time::macros::datetime;
use time::Duration;

/// Events in the base database.
const EVENTS: u64 = 36;
/// The seq of the event whose context holds [`MIDDLE_MARKER`]; the newest holds [`TAIL_MARKER`].
const MIDDLE: u64 = 17;
/// Mixed case, so the search index (which keeps lowercased tokens) does not hold these bytes.
const MIDDLE_MARKER: &str = "Qz7MiddleMarker41Kx";
const TAIL_MARKER: &str = "Wv3TailMarker88Jp";

/// Most failures a loop over many damaged copies collects before it stops (each can cost an
/// append on an unfixed build).
const MAX_FAILURES: usize = 8;

fn event(i: u64) -> NewEvent {
    let action = [
        "booking.created",
        "booking.rescheduled",
        "payment.failed",
        "client.updated",
    ][(i % 4) as usize];
    let mut e = NewEvent::new(action)
        .tenant("clinic-42")
        .actor(
            Actor::user(format!("u-{}", i % 5))
                .name("Sarah Example")
                .email("sarah@example.com")
                .role("staff"),
        )
        .source(Source::Web)
        .request(
            RequestContext::new()
                .ip("203.0.113.7")
                .request_id(format!("req-{i}")),
        )
        .target(Target::new("booking", format!("b-{i}")).label("Haircut with Sam"))
        .related(Target::new("customer", format!("c-{i}")).label("Zoë Ñúñez"))
        .before(json!({"start": "2026-01-10T14:00:00Z", "price": 4500}))
        .after(json!({"start": "2026-01-15T09:00:00Z", "price": 4500 + i}))
        .context("reason", "customer asked")
        .context("phone", format!("+49 170 {i:07}"))
        .occurred_at(datetime!(2026-01-01 8:00 UTC) + Duration::hours(i as i64));
    if i == MIDDLE {
        e = e.context("note", MIDDLE_MARKER);
    }
    if i == EVENTS {
        e = e.context("note", TAIL_MARKER);
    }
    e
}

fn trail(store: SqliteStore) -> AuditTrail<SqliteStore> {
    AuditTrail::builder(store).personal_keys(["phone"]).build()
}

fn probe() -> NewEvent {
    NewEvent::new("booking.cancelled")
        .tenant("clinic-42")
        .actor(Actor::user("u-9").name("Tom Probe"))
        .target(Target::new("booking", "b-probe"))
}

/// The base database, closed, as bytes.
struct Base {
    bytes: Vec<u8>,
    page: usize,
    /// Where each marker sits in `bytes`.
    middle_at: usize,
    tail_at: usize,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.db");
        let t = trail(SqliteStore::open(&path).unwrap());
        for i in 1..=EVENTS {
            assert_eq!(t.record(event(i)).unwrap().seq, i);
        }
        assert!(t.verify().unwrap().is_ok());
        drop(t);
        assert!(
            !side(&path, "-wal").exists(),
            "closing the last connection checkpoints and removes the WAL"
        );
        let bytes = std::fs::read(&path).unwrap();
        let page = page_size(&bytes);
        assert_eq!(bytes.len() % page, 0);
        assert_eq!(
            header_pages(&bytes) * page,
            bytes.len(),
            "the header's page count"
        );
        assert!(
            bytes.len() / page >= 4,
            "a few pages: {}",
            bytes.len() / page
        );
        Base {
            middle_at: find_once(&bytes, MIDDLE_MARKER),
            tail_at: find_once(&bytes, TAIL_MARKER),
            page,
            bytes,
        }
    })
}

fn find_once(bytes: &[u8], marker: &str) -> usize {
    let m = marker.as_bytes();
    let hits: Vec<usize> = bytes
        .windows(m.len())
        .enumerate()
        .filter(|(_, w)| *w == m)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{marker} occurs once in the file: {hits:?}");
    hits[0]
}

fn page_size(bytes: &[u8]) -> usize {
    match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65_536,
        n => usize::from(n),
    }
}

fn header_pages(bytes: &[u8]) -> usize {
    u32::from_be_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]) as usize
}

/// `path` with `suffix` appended (`-wal`, `-shm`).
fn side(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

fn read_if_exists(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// The main file and its `-wal` as they are now.
#[derive(PartialEq)]
struct Files {
    main: Option<Vec<u8>>,
    wal: Option<Vec<u8>>,
}

impl Files {
    fn of(path: &Path) -> Self {
        Files {
            main: read_if_exists(path),
            wal: read_if_exists(&side(path, "-wal")),
        }
    }

    /// What differs from `before`, if anything.
    fn changes_since(&self, before: &Files) -> Option<String> {
        let describe = |what: &str, a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| -> Option<String> {
            match (a, b) {
                (Some(a), Some(b)) if a == b => None,
                (Some(a), Some(b)) if a.len() != b.len() => {
                    Some(format!("{what}: {} bytes became {}", a.len(), b.len()))
                }
                (Some(a), Some(b)) => {
                    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).take(8).collect();
                    Some(format!("{what}: bytes at {diff:?} changed"))
                }
                (None, None) => None,
                // A read-only connection to a WAL-mode database creates an empty -wal (and
                // -shm) and leaves it: to SQLite that is the same as no WAL.
                (None, Some(b)) if b.is_empty() && what == "-wal" => None,
                (None, Some(b)) => Some(format!("{what}: created ({} bytes)", b.len())),
                (Some(_), None) => Some(format!("{what}: deleted")),
            }
        };
        let parts: Vec<String> = [
            describe("main file", &before.main, &self.main),
            describe("-wal", &before.wal, &self.wal),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

fn read_only() -> SqliteOptions {
    SqliteOptions::default().read_only(true)
}

fn write_copy(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(side(&path, s));
    }
    path
}

/// Opens `path` read-write expecting a refusal: `Error::Corrupt`, nothing written.
fn assert_refused_untouched(path: &Path, options: SqliteOptions, what: &str) -> String {
    let before = Files::of(path);
    let err = match SqliteStore::open_with(path, options) {
        Ok(_) => panic!("{what}: opened"),
        Err(e) => e,
    };
    assert!(
        matches!(err, Error::Corrupt { .. }),
        "{what}: expected Error::Corrupt, got {err}"
    );
    if let Some(change) = Files::of(path).changes_since(&before) {
        panic!("{what}: refused ({err}) but written to: {change}");
    }
    err.to_string()
}

// ---- another application's database ----

/// A foreign SQLite database in WAL mode, copied (main file and live `-wal`) while its
/// connection is open; `checkpointed` puts its schema in the main file first, else the schema
/// is only in the WAL.
fn foreign_wal_copy(dir: &Path, name: &str, checkpointed: bool) -> PathBuf {
    let live = dir.join(format!("{name}-live.db"));
    let conn = rusqlite::Connection::open(&live).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT);")
        .unwrap();
    if checkpointed {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    for i in 0..200 {
        conn.execute(
            "INSERT INTO customers (name, phone) VALUES (?1, ?2)",
            rusqlite::params![format!("Customer {i}"), format!("+1 555 {i:04}")],
        )
        .unwrap();
    }
    let copy = dir.join(format!("{name}.db"));
    std::fs::copy(&live, &copy).unwrap();
    std::fs::copy(side(&live, "-wal"), side(&copy, "-wal")).unwrap();
    assert!(
        std::fs::metadata(side(&copy, "-wal")).unwrap().len() > 0,
        "{name}: the WAL holds the rows"
    );
    drop(conn);
    copy
}

#[test]
fn another_applications_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();

    let journal = dir.path().join("rollback.db");
    {
        let conn = rusqlite::Connection::open(&journal).unwrap();
        conn.execute_batch(
            "CREATE TABLE bookings (id INTEGER PRIMARY KEY, customer TEXT);
             INSERT INTO bookings (customer) VALUES ('Alex'), ('Bea');",
        )
        .unwrap();
    }
    let header = std::fs::read(&journal).unwrap()[18..20].to_vec();
    assert_eq!(header, [1, 1], "a rollback-journal database");
    let msg = assert_refused_untouched(&journal, SqliteOptions::default(), "rollback journal");
    assert!(msg.contains("not created by auditkit"), "{msg}");
    assert_refused_untouched(&journal, read_only(), "rollback journal, read-only");
    assert_eq!(
        &std::fs::read(&journal).unwrap()[18..20],
        [1, 1],
        "the file was not switched to WAL mode"
    );
    assert!(!side(&journal, "-wal").exists());

    for (name, checkpointed) in [("wal-checkpointed", true), ("wal-only", false)] {
        let copy = foreign_wal_copy(dir.path(), name, checkpointed);
        assert_refused_untouched(&copy, SqliteOptions::default(), name);
        assert_refused_untouched(&copy, read_only(), &format!("{name}, read-only"));
        // Still another application's database, rows and all.
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200, "{name}");
    }
}

// ---- truncation ----

#[test]
fn every_truncation_is_refused_and_left_as_it_was() {
    let base = base();
    let full = &base.bytes;
    let dir = tempfile::tempdir().unwrap();
    let path = write_copy(dir.path(), "cut.db", full);
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    let lengths = (100..full.len())
        .rev()
        .chain([99, 64, 32, 17, 16, 15, 8, 1]);
    let mut failures = Vec::new();
    let mut now = Vec::with_capacity(full.len());
    let mut checked = 0;
    for len in lengths {
        // One file cut shorter step by step; rewritten only when an open changed it.
        file.set_len(len as u64).unwrap();
        checked += 1;
        match SqliteStore::open(&path) {
            Err(Error::Corrupt { message: msg, .. }) => {
                if len >= 100 {
                    let m = msg.to_lowercase();
                    if !(m.contains("shorter") || m.contains("damaged") || m.contains("truncated"))
                    {
                        failures.push(format!(
                            "{len} bytes: refused, but the message does not say the file is shorter or damaged: {msg}"
                        ));
                    }
                }
            }
            Err(other) => {
                failures.push(format!("{len} bytes: expected Error::Corrupt, got {other}"))
            }
            Ok(store) => {
                // A main file shorter than its header's page count, with no WAL to cover the
                // gap, is damaged: opening it at all is the failure. See what record does.
                let t = trail(store);
                let record = match t.record(probe()) {
                    Ok(e) => format!("record appended seq {}", e.seq),
                    Err(e) => format!("record refused: {e}"),
                };
                let verify = match t.verify() {
                    Ok(r) => r.to_string(),
                    Err(e) => format!("error: {e}"),
                };
                failures.push(format!(
                    "{len} of {} bytes: opened read-write; {record}; verify: {verify}",
                    full.len()
                ));
            }
        }
        // Byte for byte (a file's modification time moves in clock ticks, too coarse to tell
        // a write right after the cut).
        now.clear();
        File::open(&path).unwrap().read_to_end(&mut now).unwrap();
        let wal = std::fs::metadata(side(&path, "-wal")).map_or(0, |m| m.len());
        if now[..] != full[..len] || wal > 0 {
            failures.push(format!(
                "{len} bytes: the open wrote to the file ({} bytes now, a -wal of {wal} bytes)",
                now.len(),
            ));
            std::fs::write(&path, &full[..len]).unwrap();
        }
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(side(&path, s));
        }
        if failures.len() >= MAX_FAILURES {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "after {checked} truncations, {} failures (stopped at {MAX_FAILURES}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_main_file_shorter_than_its_header_says_is_refused() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let n = base.bytes.len();
    for cut in [base.page, 2 * base.page, n / 2 / base.page * base.page] {
        let path = write_copy(
            dir.path(),
            &format!("short-{cut}.db"),
            &base.bytes[..n - cut],
        );
        let msg = assert_refused_untouched(
            &path,
            SqliteOptions::default(),
            &format!("{cut} bytes short"),
        );
        let m = msg.to_lowercase();
        assert!(
            m.contains("shorter") || m.contains("damaged") || m.contains("truncated"),
            "{cut} bytes short: {msg}"
        );
    }
}

// ---- flipped bytes ----

/// What a read-only open says about the newest event: `Some(reason)` when it is damaged (its
/// row or values do not hash to the recorded head, verify faults at the head, or it cannot
/// be read), `None` when it is intact.
fn newest_damage(path: &Path) -> Option<String> {
    let store = match SqliteStore::open_with(path, read_only()) {
        Ok(s) => s,
        Err(e) => return Some(format!("read-only open: {e}")),
    };
    let log_id = match store.log_id() {
        Ok(id) => id,
        Err(e) => return Some(format!("log id: {e}")),
    };
    let head = match store.head() {
        Ok(h) => h,
        Err(e) => return Some(format!("head: {e}")),
    };
    let newest = match store.read(head.seq, 1) {
        Ok(v) => v,
        Err(e) => return Some(format!("reading seq {}: {e}", head.seq)),
    };
    let Some(e) = newest.first().filter(|e| e.seq == head.seq) else {
        return Some(format!("seq {} is not there", head.seq));
    };
    if let Err(err) = e.decode() {
        return Some(format!("decoding seq {}: {err}", head.seq));
    }
    let (_, hash) = seal_hashes(&log_id, e);
    if hash != e.hash || e.hash != head.hash {
        return Some(format!("seq {} does not hash to the head", head.seq));
    }
    let trail = AuditTrail::new(store);
    match trail.verify() {
        Ok(r) => match r.fault {
            Some(f) if f.seq == head.seq => Some(format!("verify: {f}")),
            _ => None,
        },
        // Damage elsewhere, or not found where: the newest event itself read fine above.
        Err(_) => None,
    }
}

/// The seq of the newest event, read without auditkit (`None` when SQLite cannot read it).
fn raw_head(path: &Path) -> Option<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row("SELECT MAX(seq) FROM auditkit_events", [], |r| r.get(0))
        .ok()
}

/// Opens a damaged copy read-write and tries to record; returns what went wrong, if anything.
/// `newest_damaged` says whether the read-only look found the newest event damaged.
fn open_and_record(path: &Path, damage: &[u8], newest_damaged: Option<&str>) -> Option<String> {
    let before = Files::of(path);
    let store = match SqliteStore::open(path) {
        Err(Error::Corrupt { message: msg, .. }) => {
            return Files::of(path)
                .changes_since(&before)
                .map(|c| format!("open refused ({msg}) but wrote: {c}"));
        }
        Err(other) => return Some(format!("open: expected Ok or Error::Corrupt, got {other}")),
        Ok(s) => s,
    };
    let t = trail(store);
    match t.record(probe()) {
        Ok(e) => {
            if let Some(why) = newest_damaged {
                return Some(format!(
                    "recorded seq {} onto a damaged newest event ({why})",
                    e.seq
                ));
            }
            None
        }
        Err(_) => {
            drop(t);
            // Refused: nothing was appended.
            match raw_head(path) {
                Some(seq) if seq as u64 > EVENTS => Some(format!(
                    "record failed, yet the events now end at seq {seq}"
                )),
                Some(_) => None,
                None if std::fs::read(path).unwrap() != damage => {
                    Some("record failed, and the file changed".to_string())
                }
                None => None,
            }
        }
    }
}

#[test]
fn a_flipped_byte_in_the_last_page_is_never_appended_onto() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let last = base.bytes.len() - base.page;
    let positions: Vec<usize> = (0..16).chain((16..base.page).step_by(37)).collect();
    let mut failures = Vec::new();
    let (mut not_appended, mut newest_damaged) = (0, 0);
    for &pos in &positions {
        let mut damaged = base.bytes.clone();
        damaged[last + pos] ^= 0xff;
        let path = write_copy(dir.path(), "flipped.db", &damaged);
        let what = format!("byte {pos} of the last page (offset {})", last + pos);
        let damage = newest_damage(&path);
        if let Some(change) = Files::of(&path).changes_since(&Files {
            main: Some(damaged.clone()),
            wal: None,
        }) {
            failures.push(format!("{what}: the read-only look wrote: {change}"));
            std::fs::write(&path, &damaged).unwrap();
        }
        newest_damaged += usize::from(damage.is_some());
        if let Some(f) = open_and_record(&path, &damaged, damage.as_deref()) {
            failures.push(format!("{what}: {f}"));
        }
        not_appended += usize::from(!matches!(raw_head(&path), Some(s) if s as u64 > EVENTS));
        if failures.len() >= MAX_FAILURES {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} flips failed (newest damaged in {newest_damaged}, nothing appended in {not_appended}):\n{}",
        failures.len(),
        positions.len(),
        failures.join("\n")
    );
}

#[test]
fn a_flipped_byte_in_an_event_is_named_by_verify() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    for (at, seq, name) in [
        (base.middle_at, MIDDLE, "middle"),
        (base.tail_at, EVENTS, "newest"),
    ] {
        let mut damaged = base.bytes.clone();
        // 'M' / 'T' -> 'L' / 'U': still a letter, so the row's JSON still parses and only the
        // hash can tell.
        damaged[at + 3] ^= 0x01;
        let path = write_copy(dir.path(), &format!("{name}.db"), &damaged);

        let store = SqliteStore::open_with(&path, read_only())
            .unwrap_or_else(|e| panic!("{name}: a damaged file opens read-only: {e}"));
        let report = AuditTrail::new(store)
            .verify()
            .unwrap_or_else(|e| panic!("{name}: verify: {e}"));
        let fault = report
            .fault
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: verify found nothing: {report}"));
        assert_eq!(fault.seq, seq, "{name}: {report}");
        let copied = Files {
            main: Some(damaged.clone()),
            wal: None,
        };
        if let Some(c) = Files::of(&path).changes_since(&copied) {
            panic!("{name}: verifying read-only wrote to the file: {c}");
        }

        if seq == EVENTS {
            // The newest event is damaged: the open, or at the latest the next record, is
            // refused as Corrupt and points to verify; nothing is appended.
            let before = Files::of(&path);
            let err = match SqliteStore::open(&path) {
                Err(e) => {
                    if let Some(c) = Files::of(&path).changes_since(&before) {
                        panic!("{name}: open refused ({e}) but wrote: {c}");
                    }
                    e
                }
                Ok(store) => {
                    let t = trail(store);
                    let err = t
                        .record(probe())
                        .map(|e| e.seq)
                        .expect_err("recorded onto a damaged newest event");
                    drop(t);
                    assert_eq!(
                        raw_head(&path),
                        Some(EVENTS as i64),
                        "{name}: nothing appended"
                    );
                    err
                }
            };
            assert!(
                matches!(err, Error::Corrupt { .. }),
                "{name}: expected Error::Corrupt, got {err}"
            );
            assert!(
                err.to_string().contains("verify"),
                "{name}: the error says to run verify: {err}"
            );
        } else if let Some(f) = open_and_record(&path, &damaged, None) {
            // Damage further back: the tail is intact, appending may go on or be refused.
            panic!("{name}: {f}");
        }
    }
}

// ---- leftovers that are not damage ----

/// Opens `path` read-write, records and verifies: a legitimate leftover is not damage.
/// `events` is how many the log holds before.
fn opens_and_goes_on(path: &Path, events: u64, what: &str) {
    let t = trail(SqliteStore::open(path).unwrap_or_else(|e| panic!("{what}: open: {e}")));
    assert_eq!(t.count(&Query::new()).unwrap(), events, "{what}");
    let e = t
        .record(probe())
        .unwrap_or_else(|e| panic!("{what}: record: {e}"));
    assert_eq!(e.seq, events + 1, "{what}");
    let report = t.verify().unwrap();
    assert!(report.is_ok(), "{what}: {report}");
    assert_eq!(report.checked, events + 1, "{what}");
}

#[test]
fn empty_wal_and_shm_files_are_not_damage() {
    // SQLite reads a zero-length -wal as an empty WAL and rebuilds a zero-length -shm from
    // the WAL: both are what a crash right after creating them leaves.
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    for (name, sides) in [
        ("empty-wal", &["-wal"][..]),
        ("empty-shm", &["-shm"][..]),
        ("empty-both", &["-wal", "-shm"][..]),
    ] {
        let path = write_copy(dir.path(), &format!("{name}.db"), &base.bytes);
        for s in sides {
            File::create(side(&path, s)).unwrap();
        }
        opens_and_goes_on(&path, EVENTS, name);
    }
}

/// A live database with `in_wal` events in its WAL only (nothing checkpointed yet), and a
/// copy of that WAL and of its `-shm`; then the log moves on by `after` events and is closed
/// (checkpointed, the WAL removed).
struct Generations {
    path: PathBuf,
    old_wal: Vec<u8>,
    old_shm: Vec<u8>,
}

fn generations(dir: &Path, name: &str, in_wal: u64, after: u64) -> Generations {
    let base = base();
    let path = write_copy(dir, name, &base.bytes);
    let t = trail(SqliteStore::open(&path).unwrap());
    for i in 1..=in_wal {
        t.record(probe().context("n", i)).unwrap();
    }
    let old_wal = std::fs::read(side(&path, "-wal")).unwrap();
    let old_shm = std::fs::read(side(&path, "-shm")).unwrap();
    for i in 1..=after {
        t.record(probe().context("m", i)).unwrap();
    }
    drop(t);
    assert!(!side(&path, "-wal").exists());
    Generations {
        path,
        old_wal,
        old_shm,
    }
}

/// SQLite's own verdict on a main file with its `-wal`: `PRAGMA integrity_check` on a
/// read-only connection to a copy of both (recovery rebuilds the copy's `-shm` only).
fn sqlite_finds_it_intact(path: &Path) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("verdict.db");
    std::fs::copy(path, &copy).unwrap();
    if side(path, "-wal").exists() {
        std::fs::copy(side(path, "-wal"), side(&copy, "-wal")).unwrap();
    }
    let conn =
        rusqlite::Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .is_ok_and(|s| s == "ok")
}

#[test]
fn a_stale_wal_is_what_sqlite_makes_of_it() {
    // A WAL from an earlier generation of the same database, put back next to the newer main
    // file. Nothing in a WAL ties it to one state of the main file (WAL mode does not bump
    // the header's change counter), so SQLite's recovery replays its frames: whole pages as
    // they were when it was copied, and the database size of its last commit.
    // - When those are all the pages the later events touched (one more small event), the
    //   database reads as it was then: a consistent, verifiable, shorter log, the later
    //   events gone together with the head that recorded them. Nothing inside the file can
    //   tell that from a log that simply has fewer events (a checkpoint kept outside can), so
    //   it opens and goes on from there, as SQLite does.
    // - When the later events also changed pages the old WAL does not hold (thirty events
    //   split leaves, move the pending search rows into the full-text table and grow the
    //   file), the replay leaves pages of two generations side
    //   by side and SQLite reports "database disk image is malformed": damage, which must be
    //   refused as Corrupt with the main file and the -wal left as they were. (SQLite
    //   checkpoints a WAL into the main file when a read-write connection closes.)
    // Which case a copy is in is decided by SQLite itself (`PRAGMA integrity_check`).
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut seen = [false; 2];
    for (name, with_shm, after) in [
        ("stale-wal", false, 30),
        ("stale-wal-and-shm", true, 30),
        ("stale-wal-one-event-behind", false, 1),
    ] {
        let g = generations(dir.path(), &format!("{name}.db"), 4, after);
        std::fs::write(side(&g.path, "-wal"), &g.old_wal).unwrap();
        if with_shm {
            std::fs::write(side(&g.path, "-shm"), &g.old_shm).unwrap();
        }
        let intact = sqlite_finds_it_intact(&g.path);
        seen[usize::from(intact)] = true;
        let before = Files::of(&g.path);
        match (intact, SqliteStore::open(&g.path)) {
            (true, Ok(store)) => {
                let t = trail(store);
                let n = t.count(&Query::new()).unwrap();
                if n != EVENTS + 4 {
                    failures.push(format!(
                        "{name}: SQLite replays the old WAL, yet the log holds {n} events"
                    ));
                    continue;
                }
                match t.record(probe()) {
                    Ok(e) => {
                        let report = t.verify().unwrap();
                        if e.seq != n + 1 || !report.is_ok() {
                            failures.push(format!(
                                "{name}: recorded seq {} after {n} events; verify: {report}",
                                e.seq
                            ));
                        }
                    }
                    Err(e) => failures.push(format!("{name}: SQLite finds it intact; record: {e}")),
                }
            }
            (true, Err(e)) => failures.push(format!("{name}: SQLite finds it intact; open: {e}")),
            (false, Ok(_)) => {
                failures.push(format!("{name}: SQLite finds it malformed, yet it opened"))
            }
            (false, Err(Error::Corrupt { message: msg, .. })) => {
                if let Some(c) = Files::of(&g.path).changes_since(&before) {
                    failures.push(format!("{name}: refused ({msg}) but wrote: {c}"));
                }
            }
            (false, Err(e)) => failures.push(format!("{name}: expected Error::Corrupt, got {e}")),
        }
    }
    assert_eq!(seen, [true, true], "both outcomes are exercised");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_crash_during_a_checkpoint_opens() {
    // A checkpoint copies pages from the WAL into the main file and only then resets the WAL.
    // Killed in between, the main file may already carry the new header (with the larger page
    // count) but not yet all the pages past its old end; the WAL still holds every one of
    // them. That is a legitimate crash leftover: SQLite replays the WAL, nothing is missing.
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let path = write_copy(dir.path(), "live.db", &base.bytes);
    let t = trail(SqliteStore::open(&path).unwrap());
    // Enough events to grow the file by some pages, far fewer than the 1,000 WAL frames at
    // which SQLite checkpoints by itself: every new page lives only in the WAL.
    let added = 25;
    for i in 1..=added {
        t.record(event(EVENTS + i).context("extra", "x".repeat(1500)))
            .unwrap();
    }
    assert!(
        std::fs::read(&path).unwrap() == base.bytes,
        "nothing was checkpointed yet"
    );
    let wal = std::fs::read(side(&path, "-wal")).unwrap();
    // The main file as a complete checkpoint leaves it (the WAL is not reset by PASSIVE).
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0);
    let checkpointed = std::fs::read(&path).unwrap();
    drop(conn);
    drop(t);
    assert!(
        checkpointed.len() > base.bytes.len() + base.page,
        "the file grew: {} -> {}",
        base.bytes.len(),
        checkpointed.len()
    );
    assert_eq!(header_pages(&checkpointed) * base.page, checkpointed.len());

    for cut_at in [base.bytes.len(), base.bytes.len() + base.page + 100] {
        let crashed = write_copy(
            dir.path(),
            &format!("crashed-{cut_at}.db"),
            &checkpointed[..cut_at],
        );
        std::fs::write(side(&crashed, "-wal"), &wal).unwrap();
        opens_and_goes_on(
            &crashed,
            EVENTS + added,
            &format!("main file cut at {cut_at}, WAL intact"),
        );
    }

    // Cut further, into pages the WAL does not hold (they were not written since the last
    // checkpoint, so only the main file had them): damage, refused with nothing written.
    let in_wal = wal_pages(&wal, base.page);
    let old_pages = base.bytes.len() / base.page;
    let missing = (2..=old_pages)
        .rev()
        .find(|p| !in_wal.contains(p))
        .expect("a page the later events did not touch");
    let cut_at = (missing - 1) * base.page;
    let crashed = write_copy(dir.path(), "crashed-too-short.db", &checkpointed[..cut_at]);
    std::fs::write(side(&crashed, "-wal"), &wal).unwrap();
    let msg = assert_refused_untouched(
        &crashed,
        SqliteOptions::default(),
        &format!("main file cut at {cut_at}, page {missing} in neither file"),
    );
    let m = msg.to_lowercase();
    assert!(
        m.contains("shorter") || m.contains("damaged") || m.contains("truncated"),
        "page {missing} missing: {msg}"
    );
}

/// The page numbers a WAL holds frames for (32-byte header, then frames of a 24-byte header,
/// whose first 4 bytes are the page number, and a page).
fn wal_pages(wal: &[u8], page: usize) -> std::collections::BTreeSet<usize> {
    wal.get(32..)
        .unwrap_or_default()
        .chunks_exact(24 + page)
        .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize)
        .collect()
}

// ---- read-only opens report the damage ----

#[test]
fn read_only_opens_let_verify_report_the_damage() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let n = base.bytes.len();
    let mut copies: Vec<(String, Vec<u8>)> = [1, 100, base.page, base.page + 1, 3 * base.page]
        .into_iter()
        .map(|cut| {
            (
                format!("truncated by {cut} bytes"),
                base.bytes[..n - cut].to_vec(),
            )
        })
        .collect();
    for (at, name) in [(base.middle_at, "middle"), (base.tail_at, "newest")] {
        let mut b = base.bytes.clone();
        b[at + 3] ^= 0x01;
        copies.push((format!("a flipped byte in the {name} event"), b));
    }
    let mut failures = Vec::new();
    for (i, (what, bytes)) in copies.iter().enumerate() {
        let path = write_copy(dir.path(), &format!("ro-{i}.db"), bytes);
        let store = match SqliteStore::open_with(&path, read_only()) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!(
                    "{what}: a damaged file must open read-only for verify: {e}"
                ));
                continue;
            }
        };
        match AuditTrail::new(store).verify() {
            Ok(r) => match &r.fault {
                Some(f) if f.seq > 0 => {}
                _ => failures.push(format!("{what}: verify reports no fault: {r}")),
            },
            Err(Error::Corrupt { message: msg, .. }) => {
                if !msg.contains("damaged") {
                    failures.push(format!(
                        "{what}: the error does not say the file is damaged: {msg}"
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "{what}: expected a fault or Error::Corrupt, got {e}"
            )),
        }
        let before = Files {
            main: Some(bytes.clone()),
            wal: None,
        };
        if let Some(c) = Files::of(&path).changes_since(&before) {
            failures.push(format!("{what}: the read-only open wrote to the file: {c}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
