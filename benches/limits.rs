//! `cargo bench --bench limits`: auditkit against hand-written rusqlite code doing the same
//! work on the same rows, with the same durability settings and the same schema, in one run.
//!
//! Prints a table of figures and ratios (auditkit / raw) against the targets of the
//! benchmark issue, and writes a JSON summary to `target/bench-limits.json`.
//!
//! Environment (all optional):
//! - `AUDITKIT_BENCH_EVENTS`: events in the large log for queries, verify, export and size
//!   (default 1,000,000).
//! - `AUDITKIT_BENCH_DURABLE`: events per fsync-bound run (one per commit; default 2,000).
//! - `AUDITKIT_BENCH_QUERIES`: random queries per kind (default 1,000).
//! - `AUDITKIT_BENCH_DIR`: where the databases go (default `target/bench-limits`).
//!
//! The raw side is rusqlite with the schema copied from an empty auditkit database (tables,
//! indexes, the full-text index; not auditkit's guard triggers), fed the exact rows auditkit
//! stored, so a ratio shows auditkit's own overhead. Peak memory is measured in a child
//! process (this binary re-run with `AUDITKIT_BENCH_CHILD`) that runs only the measured
//! operation and reads `VmHWM` from `/proc/self/status`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditkit::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use auditkit::{
    Actor, AuditStore, AuditTrail, NewEvent, Outcome, Query, RequestContext, SealedEvent, Source,
    Target,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, TransactionBehavior};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const TENANTS: u64 = 50;
const ACTORS: u64 = 500;
const CUSTOMERS_PER_TENANT: u64 = 400;
const EVENTS_PER_BOOKING: u64 = 8;
const BATCH: usize = 1_000;
const THREADS: usize = 8;
const DAY: i64 = 86_400;
/// 2025-01-01T00:00:00Z: the generated log spans one year from here.
const BASE: i64 = 1_735_689_600;
const SPAN: i64 = 365 * DAY;

// ---------------------------------------------------------------------------------------
// Realistic booking events, generated deterministically from their index.

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic random stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIRST: [&str; 24] = [
    "Maria", "Sam", "Olivia", "Noah", "Emma", "Liam", "Ava", "Lucas", "Mia", "Ethan", "Sofia",
    "Mateo", "Chloe", "Leon", "Hannah", "Jonas", "Elena", "Felix", "Zoe", "Omar", "Ines", "Yusuf",
    "Nora", "Ravi",
];
const SURNAMES: [&str; 40] = [
    "lopez", "smith", "novak", "garcia", "muller", "rossi", "dubois", "kowalski", "jensen",
    "silva", "tanaka", "okafor", "nguyen", "haddad", "petrov", "larsen", "moreau", "fischer",
    "conti", "walsh", "ibrahim", "kim", "singh", "costa", "berg", "weber", "ramos", "quinn",
    "hughes", "varga", "sato", "mendes", "adler", "brandt", "keller", "lind", "marin", "nolan",
    "ortiz", "price",
];
const SERVICES: [(&str, i64); 8] = [
    ("Haircut", 4500),
    ("Colour", 9000),
    ("Massage", 7000),
    ("Physio session", 6500),
    ("Dental check-up", 8000),
    ("Manicure", 3000),
    ("Boiler service", 12000),
    ("Consultation", 5000),
];
const BOOKING_ACTIONS: [&str; 6] = [
    "booking.created",
    "booking.rescheduled",
    "booking.confirmed",
    "booking.checked_in",
    "booking.completed",
    "booking.cancelled",
];
const ORDER_ACTIONS: [&str; 4] = [
    "order.created",
    "order.paid",
    "order.refunded",
    "payment.failed",
];
const AUTH_ACTIONS: [&str; 4] = [
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "auth.password_changed",
];

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn customer_name(tenant: u64, c: u64) -> (String, &'static str) {
    let k = mix(tenant * 100_000 + c);
    let first = FIRST[(k % 24) as usize];
    let last = SURNAMES[((k >> 8) % 40) as usize];
    (format!("{first} {}", cap(last)), last)
}

fn actor_of(a: u64) -> Actor {
    let k = mix(a ^ 0xAC70);
    let role = ["staff", "manager", "owner", "front_desk"][(k % 4) as usize];
    Actor::user(format!("u-{a}"))
        .name(format!(
            "{} {}",
            FIRST[((k >> 4) % 24) as usize],
            cap(SURNAMES[((k >> 12) % 40) as usize])
        ))
        .role(role)
        .email(format!("staff{a}@example.com"))
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
}

fn rfc3339(secs: i64) -> String {
    at(secs)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The `i`-th event of a log of `n`: times spread over one year in order, with jitter.
fn event(i: u64, n: u64) -> NewEvent {
    let mut r = Rng(mix(i ^ 0x5EED));
    let when = BASE + (i as i128 * SPAN as i128 / n.max(1) as i128) as i64 - r.below(3_600) as i64;
    let booking = (i / EVENTS_PER_BOOKING).saturating_sub(r.below(64));
    let tenant = mix(booking) % TENANTS;
    // 10 staff accounts per tenant.
    let actor_n = tenant + TENANTS * r.below(ACTORS / TENANTS);
    let customer = mix(booking ^ 0xC057) % CUSTOMERS_PER_TENANT;
    let (cname, _) = customer_name(tenant, customer);
    let (service, price) = SERVICES[(mix(booking ^ 0x5E) % 8) as usize];
    let tenant_s = format!("tenant-{tenant:02}");
    let customer_t = Target::new("customer", format!("c-{tenant}-{customer}")).label(&cname);
    let request = RequestContext::new()
        .ip(format!(
            "10.{}.{}.{}",
            r.below(256),
            r.below(256),
            r.below(256)
        ))
        .user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15")
        .request_id(format!("req-{:016x}", r.next()));
    let roll = r.below(100);
    let e = if roll < 60 {
        let action = BOOKING_ACTIONS[r.below(6) as usize];
        let slot = BASE + (booking as i64 % 400) * DAY + 9 * 3_600;
        let moved = slot + (1 + r.below(14) as i64) * DAY;
        let mut e = NewEvent::new(action)
            .target(
                Target::new("booking", format!("b-{booking}"))
                    .label(format!("{service} for {cname}")),
            )
            .related(customer_t)
            .context("service", service)
            .context("staff", format!("s-{}", r.below(12)))
            .context("location", "Main Street 12, Springfield")
            .context("channel", ["web", "phone", "walk_in"][r.below(3) as usize]);
        e = match action {
            "booking.rescheduled" => e
                .before(json!({"slot": {"start": rfc3339(slot), "end": rfc3339(slot + 3_600)}, "staff": "s-1"}))
                .after(json!({"slot": {"start": rfc3339(moved), "end": rfc3339(moved + 3_600)}, "staff": "s-2"}))
                .context("reason", "customer asked to move it"),
            "booking.cancelled" => e
                .before(json!({"status": "confirmed"}))
                .after(json!({"status": "cancelled"}))
                .context("reason", "customer is ill"),
            "booking.created" => e.after(json!({
                "status": "pending",
                "slot": {"start": rfc3339(slot), "end": rfc3339(slot + 3_600)},
                "price": {"amount": price, "currency": "EUR"}
            })),
            _ => e
                .before(json!({"status": "pending"}))
                .after(json!({"status": action.trim_start_matches("booking.")})),
        };
        e.actor(actor_of(actor_n)).source(Source::Web)
    } else if roll < 85 {
        let action = ORDER_ACTIONS[r.below(4) as usize];
        let order = format!("o-{booking}");
        let e = NewEvent::new(action)
            .target(Target::new("order", order).label(format!("{service} for {cname}")))
            .related(customer_t)
            .related(Target::new("booking", format!("b-{booking}")))
            .context("amount", price)
            .context("currency", "EUR")
            .context("method", ["card", "cash", "voucher"][r.below(3) as usize])
            .context("service", service)
            .before(json!({"status": "open", "paid": 0}))
            .after(json!({"status": "paid", "paid": price, "lines": [{"sku": service, "qty": 1}]}));
        let e = if action == "payment.failed" {
            e.outcome(Outcome::failure("card declined"))
        } else {
            e
        };
        e.actor(actor_of(actor_n)).source(Source::Api)
    } else {
        let action = AUTH_ACTIONS[r.below(4) as usize];
        let actor = actor_of(actor_n);
        let e = NewEvent::new(action)
            .target(Target::new("user", actor.id.clone()))
            .context("method", "password")
            .context("mfa", r.below(2) == 0)
            .context("device", "MacBook Pro, Safari 17")
            .context("location", "Springfield, US");
        let e = if action == "auth.login_failed" {
            e.outcome(Outcome::failure("wrong password"))
        } else {
            e
        };
        e.actor(actor).source(Source::Web)
    };
    e.tenant(tenant_s).occurred_at(at(when)).request(request)
}

fn events(range: std::ops::Range<u64>, n: u64) -> Vec<NewEvent> {
    range.map(|i| event(i, n)).collect()
}

// ---------------------------------------------------------------------------------------
// The raw side: the same rows, written and read by hand.

/// Everything one event puts in the database, ready to bind.
struct RawEvent {
    cols: Vec<SqlValue>,
    personal: Vec<(String, String, Vec<u8>)>,
    targets: Vec<(String, String)>,
    changes: Vec<String>,
    search: String,
}

const COLUMNS: &str = "seq, id, occurred_at, recorded_at, tenant, actor_kind, actor_id, \
    actor_role, impersonator, source, request, action, failure, target_kind, target_id, related, \
    before, after, context, idempotency_key, payload_version, personal, prev_hash, hash";

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

fn text(v: &Option<String>) -> SqlValue {
    v.clone().map_or(SqlValue::Null, SqlValue::Text)
}

/// The columns auditkit stores for `e`, computed outside any timed section.
fn raw_event(e: &SealedEvent) -> RawEvent {
    let personal_col = (!e.personal.is_empty()).then(|| {
        e.personal
            .iter()
            .map(|p| format!("{}\t{}", p.path, hex::encode(p.commitment)))
            .collect::<Vec<_>>()
            .join("\n")
    });
    RawEvent {
        cols: vec![
            SqlValue::Integer(e.seq as i64),
            SqlValue::Blob(e.id.as_bytes().to_vec()),
            SqlValue::Integer(micros(e.occurred_at)),
            SqlValue::Integer(micros(e.recorded_at)),
            text(&e.tenant),
            SqlValue::Text(e.actor_kind.as_str().to_owned()),
            SqlValue::Text(e.actor_id.clone()),
            text(&e.actor_role),
            text(&e.impersonator),
            SqlValue::Text(e.source.clone()),
            text(&e.request),
            SqlValue::Text(e.action.clone()),
            text(&e.failure),
            text(&e.target_kind),
            text(&e.target_id),
            text(&e.related),
            text(&e.before),
            text(&e.after),
            text(&e.context),
            text(&e.idempotency_key),
            e.payload_version
                .map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
            text(&personal_col),
            SqlValue::Blob(e.prev_hash.to_vec()),
            SqlValue::Blob(e.hash.to_vec()),
        ],
        personal: e
            .personal
            .iter()
            .filter_map(|p| {
                p.value
                    .as_ref()
                    .map(|v| (p.path.to_string(), v.text.clone(), v.salt.to_vec()))
            })
            .collect(),
        targets: e.involved().expect("involved"),
        changes: e.change_paths().expect("change paths"),
        search: e.search_text().expect("search text"),
    }
}

/// Reads `count` stored events from seq `from` of an auditkit store as raw rows.
fn raw_rows(store: &SqliteStore, from: u64, count: usize) -> Vec<RawEvent> {
    let mut out = Vec::with_capacity(count);
    let mut next = from;
    while out.len() < count {
        let chunk = store
            .read(next, (count - out.len()).min(BATCH))
            .expect("read");
        if chunk.is_empty() {
            break;
        }
        next = chunk.last().map(|e| e.seq + 1).unwrap_or(next);
        out.extend(chunk.iter().map(raw_event));
    }
    out
}

/// The DDL of auditkit's tables and indexes (not its guard triggers), read from an empty
/// auditkit database so the raw side can never drift from the real schema.
fn auditkit_schema(dir: &Path) -> Vec<String> {
    let path = dir.join("schema-probe.db");
    remove_db(&path);
    drop(SqliteStore::open(&path).expect("open probe"));
    let conn = Connection::open(&path).expect("open probe");
    let mut stmt = conn
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index') \
             AND name NOT LIKE 'auditkit_%' AND name NOT LIKE 'event_search_%' ORDER BY rowid",
        )
        .expect("prepare");
    let ddl: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    drop(stmt);
    drop(conn);
    remove_db(&path);
    ddl
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn open_raw(path: &Path, schema: &[String], sync: &str) -> Connection {
    remove_db(path);
    let conn = Connection::open(path).expect("open raw");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", sync).expect("sync");
    for ddl in schema {
        conn.execute_batch(ddl).expect("schema");
    }
    conn
}

fn raw_insert(tx: &Connection, e: &RawEvent) {
    tx.prepare_cached(&format!(
        "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
    ))
    .expect("prepare")
    .execute(params_from_iter(&e.cols))
    .expect("insert event");
    let seq = &e.cols[0];
    let mut p = tx
        .prepare_cached(
            "INSERT INTO personal_values (seq, path, value, salt) VALUES (?1, ?2, ?3, ?4)",
        )
        .expect("prepare");
    for (path, value, salt) in &e.personal {
        p.execute(params![seq, path, value, salt])
            .expect("personal");
    }
    let mut t = tx
        .prepare_cached("INSERT INTO event_targets (kind, id, seq) VALUES (?1, ?2, ?3)")
        .expect("prepare");
    for (k, id) in &e.targets {
        t.execute(params![k, id, seq]).expect("target");
    }
    let mut c = tx
        .prepare_cached("INSERT INTO event_changes (path, seq) VALUES (?1, ?2)")
        .expect("prepare");
    for path in &e.changes {
        c.execute(params![path, seq]).expect("change");
    }
    tx.prepare_cached("INSERT INTO event_search (rowid, body) VALUES (?1, ?2)")
        .expect("prepare")
        .execute(params![seq, e.search])
        .expect("search");
}

/// Inserts `rows` committing every `per_commit` rows; returns the time taken.
fn raw_commit_every(conn: &mut Connection, rows: &[RawEvent], per_commit: usize) -> Duration {
    let t = Instant::now();
    for group in rows.chunks(per_commit) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        for e in group {
            raw_insert(&tx, e);
        }
        tx.commit().expect("commit");
    }
    t.elapsed()
}

// ---------------------------------------------------------------------------------------
// Measurements and the report.

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

struct Row {
    name: String,
    unit: &'static str,
    auditkit: f64,
    raw: Option<f64>,
    /// (how the ratio is read, bound): `>=` for throughputs, `<=` for times and sizes.
    target: Option<(&'static str, f64)>,
    /// Ratio over something other than `raw` (the 8-thread speed-up).
    ratio_override: Option<f64>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.ratio_override
            .or_else(|| self.raw.map(|r| self.auditkit / r))
    }
    fn met(&self) -> Option<bool> {
        let (op, bound) = self.target?;
        let r = self.ratio()?;
        Some(if op == ">=" { r >= bound } else { r <= bound })
    }
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        name: impl Into<String>,
        unit: &'static str,
        auditkit: f64,
        raw: Option<f64>,
        target: Option<(&'static str, f64)>,
    ) {
        let row = Row {
            name: name.into(),
            unit,
            auditkit,
            raw,
            target,
            ratio_override: None,
        };
        eprintln!("  {}", fmt_row(&row));
        self.rows.push(row);
    }

    fn add_ratio(&mut self, name: &str, unit: &'static str, value: f64, base: f64, bound: f64) {
        let row = Row {
            name: name.into(),
            unit,
            auditkit: value,
            raw: Some(base),
            target: Some((">=", bound)),
            ratio_override: None,
        };
        eprintln!("  {}", fmt_row(&row));
        self.rows.push(row);
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_row(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        r.unit,
        num(r.auditkit),
        r.raw.map(num).unwrap_or_else(|| "—".into()),
        r.ratio()
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "—".into()),
        r.target
            .map(|(op, b)| format!("{op} {b}"))
            .unwrap_or_else(|| "—".into()),
        match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        }
    )
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn env_u64(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn open_store(path: &Path, sync: Synchronous) -> SqliteStore {
    SqliteStore::open_with(path, SqliteOptions::default().synchronous(sync)).expect("open store")
}

fn main() {
    if let Ok(job) = env::var("AUDITKIT_BENCH_CHILD") {
        child(&job);
        return;
    }
    let n = env_u64("AUDITKIT_BENCH_EVENTS", 1_000_000).max(BATCH as u64);
    let durable_n = env_u64("AUDITKIT_BENCH_DURABLE", 2_000).max(THREADS as u64) as usize;
    let queries = env_u64("AUDITKIT_BENCH_QUERIES", 1_000).max(10) as usize;
    let target_dir = PathBuf::from(
        env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned()),
    );
    let dir = env::var("AUDITKIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target_dir.join("bench-limits"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let schema = auditkit_schema(&dir);
    let load_start = loadavg();
    let mut rep = Report::default();
    eprintln!(
        "auditkit limits: N = {n}, durable runs of {durable_n}, {queries} queries per kind, in {}",
        dir.display()
    );

    // For profiling one part: AUDITKIT_BENCH_ONLY=durable,build,queries,streaming,large
    // (`build` only builds the large log; `queries` and `streaming` reuse one built earlier with
    // the same N; `large` builds, queries, verifies, exports and sizes it).
    let only = env::var("AUDITKIT_BENCH_ONLY").unwrap_or_default();
    let named = |part: &str| only.split(',').any(|p| p.trim() == part);
    let run = |part: &str| only.is_empty() || named(part);
    if run("durable") {
        durable(&dir, &schema, durable_n, &mut rep);
    }
    if run("build") && !run("large") {
        build_large(&dir, &schema, n, &mut rep);
    }
    if named("queries") {
        // Reuses the large log of an earlier run with the same N.
        let (ak_path, raw_path) = (dir.join("large.db"), dir.join("raw-large.db"));
        query_latencies(&ak_path, &raw_path, n, queries, &mut rep);
    }
    if named("streaming") {
        let (ak_path, raw_path) = (dir.join("large.db"), dir.join("raw-large.db"));
        streaming(&ak_path, &raw_path, n, &mut rep);
    }
    if run("large") {
        let (ak_path, raw_path) = build_large(&dir, &schema, n, &mut rep);
        settle(&[&ak_path, &raw_path]);
        queries_in_child(&ak_path, n, queries, &mut rep);
        streaming(&ak_path, &raw_path, n, &mut rep);
        sizes(&ak_path, &raw_path, n, &mut rep);
    }

    rep.notes.push(format!(
        "load average (1, 5, 15 min) at the start: {load_start}; at the end: {}",
        loadavg()
    ));
    let mut table = String::new();
    writeln!(
        table,
        "| measurement | unit | auditkit | raw | ratio | target | met |\n|---|---|---:|---:|---:|---|---|"
    )
    .unwrap();
    for r in &rep.rows {
        writeln!(table, "{}", fmt_row(r)).unwrap();
    }
    println!("\n{table}");
    for note in &rep.notes {
        println!("- {note}");
    }
    let summary = json!({
        "events": n,
        "durable_events": durable_n,
        "queries_per_kind": queries,
        "rows": rep.rows.iter().map(|r| json!({
            "name": r.name,
            "unit": r.unit,
            "auditkit": r.auditkit,
            "raw": r.raw,
            "ratio": r.ratio(),
            "target": r.target.map(|(op, b)| format!("{op} {b}")),
            "met": r.met(),
        })).collect::<Vec<_>>(),
        "notes": rep.notes,
    });
    let out = target_dir.join("bench-limits.json");
    std::fs::write(&out, serde_json::to_string_pretty(&summary).unwrap()).expect("write json");
    println!("\nJSON summary: {}", out.display());
}

/// Lets the files just built settle before they are queried: folds each WAL into its database
/// and waits for the kernel to write back dirty pages. Queries right after a 3 GB build
/// otherwise met its writeback, which showed up in the p99s of whichever side it hit.
fn settle(paths: &[&Path]) {
    for path in paths {
        let conn = Connection::open(path).expect("open");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
    }
    let _ = Command::new("sync").status();
}

/// Rounds the fsync-bound runs are split into, auditkit and raw alternating, so that a
/// change in the disk's speed during the run (other work on the machine) hits both sides.
const ROUNDS: usize = 4;

/// Records `evs` from `THREADS` threads at once, each event with its own `record` call.
fn record_threaded(trail: &AuditTrail<SqliteStore>, evs: Vec<NewEvent>) -> Duration {
    let per = evs.len().div_ceil(THREADS);
    let mut evs = evs.into_iter();
    let start = Arc::new(std::sync::Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let mine: Vec<NewEvent> = evs.by_ref().take(per).collect();
            let trail = trail.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for e in mine {
                    // `record` returns only once its event is committed (FULL: on disk).
                    trail.record(e).expect("record");
                }
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    for h in handles {
        h.join().expect("thread");
    }
    t.elapsed()
}

/// `record`, one event per call, against raw one-row insert-and-commit (FULL and NORMAL), and
/// from 8 threads at once (group commit) against raw inserts committed 8 rows at a time.
fn durable(dir: &Path, schema: &[String], m: usize, rep: &mut Report) {
    eprintln!("record, one event per commit and from {THREADS} threads ({m} events each)...");
    struct Side {
        trail: AuditTrail<SqliteStore>,
        raw: Connection,
        per_commit: usize,
        threads: bool,
        ak: Duration,
        rw: Duration,
    }
    let mut sides: Vec<(String, Side)> = [
        ("FULL", Synchronous::Full, 1, false),
        ("NORMAL", Synchronous::Normal, 1, false),
        ("threads", Synchronous::Full, THREADS, true),
    ]
    .into_iter()
    .map(|(name, sync, per_commit, threads)| {
        let path = dir.join(format!("durable-{name}.db"));
        remove_db(&path);
        let raw_sync = if sync == Synchronous::Full {
            "FULL"
        } else {
            "NORMAL"
        };
        let side = Side {
            trail: AuditTrail::new(open_store(&path, sync)),
            raw: open_raw(
                &dir.join(format!("raw-durable-{name}.db")),
                schema,
                raw_sync,
            ),
            per_commit,
            threads,
            ak: Duration::ZERO,
            rw: Duration::ZERO,
        };
        (name.to_owned(), side)
    })
    .collect();
    let per_round = (m / ROUNDS).max(THREADS);
    for round in 0..ROUNDS {
        let range = (round * per_round) as u64..((round + 1) * per_round) as u64;
        for (_, side) in &mut sides {
            let evs = events(range.clone(), (per_round * ROUNDS) as u64);
            side.ak += if side.threads {
                record_threaded(&side.trail, evs)
            } else {
                let t = Instant::now();
                for e in evs {
                    side.trail.record(e).expect("record");
                }
                t.elapsed()
            };
            let rows = raw_rows(side.trail.store(), range.start + 1, per_round);
            side.rw += raw_commit_every(&mut side.raw, &rows, side.per_commit);
        }
    }
    let total = per_round * ROUNDS;
    for (name, side) in &sides {
        let (ak, rw) = (per_sec(total, side.ak), per_sec(total, side.rw));
        if side.threads {
            rep.add(
                format!(
                    "record, {THREADS} threads (group commit) vs raw {THREADS} rows/commit, FULL"
                ),
                "events/s",
                ak,
                Some(rw),
                Some((">=", 0.8)),
            );
            let one = per_sec(total, sides[0].1.ak);
            rep.add_ratio(
                &format!("record, {THREADS} threads vs 1 thread (speed-up), FULL"),
                "events/s",
                ak,
                one,
                4.0,
            );
            rep.notes.push(format!(
                "for scale: raw {THREADS} rows/commit is {:.2}× raw 1 row/commit on this disk",
                rw / per_sec(total, sides[0].1.rw)
            ));
        } else {
            rep.add(
                format!("record, 1 event/commit, synchronous={name}"),
                "events/s",
                ak,
                Some(rw),
                Some((">=", 0.8)),
            );
        }
    }
}

/// Builds the large log with `record_batch` of 1,000, and the raw copy with batched inserts
/// of the same rows, both synchronous=FULL; returns both paths.
fn build_large(dir: &Path, schema: &[String], n: u64, rep: &mut Report) -> (PathBuf, PathBuf) {
    eprintln!("record_batch of {BATCH}, building {n} events...");
    let ak_path = dir.join("large.db");
    let raw_path = dir.join("raw-large.db");
    remove_db(&ak_path);
    let trail = AuditTrail::new(open_store(&ak_path, Synchronous::Full));
    let mut raw = open_raw(&raw_path, schema, "FULL");
    let (mut ak_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    let (mut ak_last, mut raw_last) = (Duration::ZERO, Duration::ZERO);
    let mut i = 0;
    let report_every = (n / 10).max(BATCH as u64);
    while i < n {
        let end = (i + BATCH as u64).min(n);
        let evs = events(i..end, n);
        let t = Instant::now();
        trail.record_batch(evs).expect("record_batch");
        let d = t.elapsed();
        ak_time += d;
        ak_last = d;
        let rows = raw_rows(trail.store(), i + 1, (end - i) as usize);
        let d = raw_commit_every(&mut raw, &rows, BATCH);
        raw_time += d;
        raw_last = d;
        i = end;
        if i % report_every == 0 {
            eprintln!(
                "  {i}: auditkit {:.0} ev/s, raw {:.0} ev/s so far",
                per_sec(i as usize, ak_time),
                per_sec(i as usize, raw_time)
            );
        }
    }
    rep.add(
        format!("record_batch of {BATCH}, average over 0..{n} events, FULL"),
        "events/s",
        per_sec(n as usize, ak_time),
        Some(per_sec(n as usize, raw_time)),
        Some((">=", 0.7)),
    );
    rep.add(
        format!("record_batch of {BATCH}, last batch at {n} events, FULL"),
        "events/s",
        per_sec(BATCH, ak_last),
        Some(per_sec(BATCH, raw_last)),
        Some((">=", 0.7)),
    );
    let mut hist = raw
        .prepare("SELECT AVG(COALESCE(length(before),0) + COALESCE(length(after),0) + COALESCE(length(context),0) + COALESCE(length(request),0) + COALESCE(length(related),0)) FROM events")
        .expect("prepare");
    let json_bytes: f64 = hist.query_row([], |r| r.get(0)).expect("avg");
    let personal: f64 = raw
        .query_row(
            "SELECT CAST(SUM(length(value)) AS REAL) / ?1 FROM personal_values",
            [n as i64],
            |r| r.get(0),
        )
        .expect("avg personal");
    rep.notes.push(format!(
        "generated events carry on average {:.0} bytes of JSON (before, after, context, request, related) plus {:.0} bytes of personal values (names, labels, email)",
        json_bytes, personal
    ));
    (ak_path, raw_path)
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e3
}

/// Reads rows (every column, and personal values) as hand-written code would: owned values.
fn raw_select(conn: &Connection, sql: &str, p: &[SqlValue]) -> usize {
    let mut stmt = conn.prepare_cached(sql).expect("prepare");
    let mut rows = stmt.query(params_from_iter(p)).expect("query");
    let mut out: Vec<Vec<SqlValue>> = Vec::new();
    while let Some(r) = rows.next().expect("row") {
        let cols = r.as_ref().column_count();
        out.push(
            (0..cols)
                .map(|i| r.get::<_, SqlValue>(i).expect("col"))
                .collect(),
        );
    }
    out.len()
}

/// The select list for the raw side: the event's columns plus its personal values, joined.
fn raw_page(inner: &str, order: &str) -> String {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {cols}, p.path, p.value, p.salt FROM ({inner}) e \
         LEFT JOIN personal_values p ON p.seq = e.seq {order}"
    )
}

const DESC: &str = "ORDER BY e.occurred_at DESC, e.seq DESC";

fn query_latencies(ak_path: &Path, raw_path: &Path, n: u64, queries: usize, rep: &mut Report) {
    eprintln!("queries at {n} events, {queries} each...");
    let trail = AuditTrail::new(open_store(ak_path, Synchronous::Full));
    let raw = Connection::open(raw_path).expect("open raw");
    let bookings = (n / EVENTS_PER_BOOKING).max(1);
    let end = BASE + SPAN;
    let mut rng = Rng(42);
    type AkFn<'a> = Box<dyn Fn(&mut Rng) -> usize + 'a>;
    type RawFn<'a> = Box<dyn Fn(&mut Rng) -> usize + 'a>;
    let window = |rng: &mut Rng, days: i64| {
        let from = BASE + rng.below((SPAN - days * DAY) as u64) as i64;
        (from, from + days * DAY)
    };
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = end;
    let kinds: Vec<(&str, AkFn<'_>, RawFn<'_>)> = vec![
        (
            "history(booking)",
            Box::new(|rng: &mut Rng| {
                let b = rng.below(bookings);
                trail
                    .history(&Target::new("booking", format!("b-{b}")))
                    .expect("history")
                    .len()
            }),
            Box::new(|rng: &mut Rng| {
                let b = rng.below(bookings);
                raw_select(
                    &raw,
                    &raw_page(
                        &format!("SELECT {cols} FROM events e WHERE e.target_kind = ?1 AND e.target_id = ?2"),
                        DESC,
                    ),
                    &[SqlValue::Text("booking".into()), SqlValue::Text(format!("b-{b}"))],
                )
            }),
        ),
        (
            "tenant + actor + 30-day window, page of 50",
            Box::new(|rng: &mut Rng| {
                let a = rng.below(ACTORS);
                let (f, t) = window(rng, 30);
                trail
                    .query(
                        &Query::new()
                            .tenant(format!("tenant-{:02}", a % TENANTS))
                            .actor(format!("u-{a}"))
                            .between(at(f), at(t))
                            .limit(50),
                    )
                    .expect("query")
                    .events
                    .len()
            }),
            Box::new(|rng: &mut Rng| {
                let a = rng.below(ACTORS);
                let (f, t) = window(rng, 30);
                raw_select(
                    &raw,
                    &raw_page(
                        &format!("SELECT {cols} FROM events e INDEXED BY events_actor WHERE e.actor_id = ?2 AND e.tenant = ?1 AND e.occurred_at >= ?3 AND e.occurred_at < ?4 {DESC} LIMIT 51"),
                        DESC,
                    ),
                    &[
                        SqlValue::Text(format!("tenant-{:02}", a % TENANTS)),
                        SqlValue::Text(format!("u-{a}")),
                        SqlValue::Integer(f * 1_000_000),
                        SqlValue::Integer(t * 1_000_000),
                    ],
                )
            }),
        ),
        (
            "tenant + booking.* + 7-day window, page of 50",
            Box::new(|rng: &mut Rng| {
                let tn = rng.below(TENANTS);
                let (f, t) = window(rng, 7);
                trail
                    .query(
                        &Query::new()
                            .tenant(format!("tenant-{tn:02}"))
                            .action("booking.*")
                            .between(at(f), at(t))
                            .limit(50),
                    )
                    .expect("query")
                    .events
                    .len()
            }),
            Box::new(|rng: &mut Rng| {
                let tn = rng.below(TENANTS);
                let (f, t) = window(rng, 7);
                raw_select(
                    &raw,
                    &raw_page(
                        &format!("SELECT {cols} FROM events e INDEXED BY events_tenant WHERE e.tenant = ?1 AND e.action >= 'booking.' AND e.action < 'booking/' AND e.occurred_at >= ?2 AND e.occurred_at < ?3 {DESC} LIMIT 51"),
                        DESC,
                    ),
                    &[
                        SqlValue::Text(format!("tenant-{tn:02}")),
                        SqlValue::Integer(f * 1_000_000),
                        SqlValue::Integer(t * 1_000_000),
                    ],
                )
            }),
        ),
        (
            "involving(customer), page of 50",
            Box::new(|rng: &mut Rng| {
                let (tn, c) = (rng.below(TENANTS), rng.below(CUSTOMERS_PER_TENANT));
                trail
                    .query(
                        &Query::new()
                            .involving(&Target::new("customer", format!("c-{tn}-{c}")))
                            .limit(50),
                    )
                    .expect("query")
                    .events
                    .len()
            }),
            Box::new(|rng: &mut Rng| {
                let (tn, c) = (rng.below(TENANTS), rng.below(CUSTOMERS_PER_TENANT));
                raw_select(
                    &raw,
                    &raw_page(
                        &format!("SELECT {cols} FROM event_targets t JOIN events e ON e.seq = t.seq WHERE t.kind = ?1 AND t.id = ?2 {DESC} LIMIT 51"),
                        DESC,
                    ),
                    &[SqlValue::Text("customer".into()), SqlValue::Text(format!("c-{tn}-{c}"))],
                )
            }),
        ),
        (
            "count(tenant + 30-day window)",
            Box::new(|rng: &mut Rng| {
                let tn = rng.below(TENANTS);
                let (f, t) = window(rng, 30);
                trail
                    .count(
                        &Query::new()
                            .tenant(format!("tenant-{tn:02}"))
                            .between(at(f), at(t)),
                    )
                    .expect("count") as usize
            }),
            Box::new(|rng: &mut Rng| {
                let tn = rng.below(TENANTS);
                let (f, t) = window(rng, 30);
                raw.prepare_cached("SELECT COUNT(*) FROM events INDEXED BY events_tenant WHERE tenant = ?1 AND occurred_at >= ?2 AND occurred_at < ?3")
                    .expect("prepare")
                    .query_row(params![format!("tenant-{tn:02}"), f * 1_000_000, t * 1_000_000], |r| r.get::<_, i64>(0))
                    .expect("count") as usize
            }),
        ),
        (
            "tenant + keyword search (a customer surname), page of 50",
            Box::new(|rng: &mut Rng| {
                let tn = rng.below(TENANTS);
                let word = SURNAMES[rng.below(40) as usize];
                trail
                    .query(
                        &Query::new()
                            .tenant(format!("tenant-{tn:02}"))
                            .search(word)
                            .limit(50),
                    )
                    .expect("search")
                    .events
                    .len()
            }),
            Box::new(|rng: &mut Rng| {
                let tn = rng.below(TENANTS);
                let word = SURNAMES[rng.below(40) as usize];
                raw_select(
                    &raw,
                    &raw_page(
                        &format!("SELECT {cols} FROM events e WHERE e.seq IN (SELECT rowid FROM event_search WHERE event_search MATCH ?2) AND e.tenant = ?1 {DESC} LIMIT 51"),
                        DESC,
                    ),
                    &[SqlValue::Text(format!("tenant-{tn:02}")), SqlValue::Text(format!("\"{word}\""))],
                )
            }),
        ),
    ];
    for (name, ak, rw) in &kinds {
        let seed = rng.next();
        // Warm both sides (page cache, statement caches) on queries not measured.
        for i in 0..(queries / 10).max(5) as u64 {
            ak(&mut Rng(seed ^ 0xFFFF ^ i));
            rw(&mut Rng(seed ^ 0xFFFF ^ i));
        }
        let mut ak_t = Vec::with_capacity(queries);
        let mut raw_t = Vec::with_capacity(queries);
        let (mut ak_rows, mut raw_rows) = (0usize, 0usize);
        // Interleaved, with the same parameters, each side first every other time, so both
        // see the same machine and cache state.
        for i in 0..queries as u64 {
            for side in [i % 2, 1 - i % 2] {
                let t = Instant::now();
                if side == 0 {
                    ak_rows += ak(&mut Rng(seed ^ i));
                    ak_t.push(t.elapsed());
                } else {
                    raw_rows += rw(&mut Rng(seed ^ i));
                    raw_t.push(t.elapsed());
                }
            }
        }
        rep.notes.push(format!(
            "{name}: auditkit returned {:.1} events per query on average, raw {:.1} rows (one per event and personal value)",
            ak_rows as f64 / queries as f64,
            raw_rows as f64 / queries as f64
        ));
        for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
            rep.add(
                format!("{name}, {label}"),
                "ms",
                percentile(&mut ak_t, p),
                Some(percentile(&mut raw_t, p)),
                Some(("<=", 1.5)),
            );
        }
    }
}

/// [`query_latencies`] in a fresh process, as when only the queries are run: after the
/// build, this process's heap (a million generated events, freed but not returned) made
/// auditkit's allocations, and so its p99s, slower than in any application that had not
/// just generated a million events; raw code allocates less and hardly noticed.
fn queries_in_child(ak_path: &Path, n: u64, queries: usize, rep: &mut Report) {
    let exe = env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env("AUDITKIT_BENCH_CHILD", "queries")
        .env("AUDITKIT_BENCH_DB", ak_path)
        .env("AUDITKIT_BENCH_EVENTS", n.to_string())
        .env("AUDITKIT_BENCH_QUERIES", queries.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child queries failed: {stdout}");
    for line in stdout.lines() {
        if let Some(row) = line.strip_prefix("ROW ") {
            let f: Vec<&str> = row.split('\t').collect();
            rep.rows.push(Row {
                name: f[0].to_owned(),
                unit: "ms",
                auditkit: f[1].parse().expect("auditkit"),
                raw: Some(f[2].parse().expect("raw")),
                target: Some(("<=", 1.5)),
                ratio_override: None,
            });
        } else if let Some(note) = line.strip_prefix("NOTE ") {
            rep.notes.push(note.to_owned());
        }
    }
}

/// Runs `job` in a child process; returns (seconds, count, peak RSS in MiB).
fn run_child(job: &str, db: &Path) -> (f64, u64, f64) {
    let exe = env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env("AUDITKIT_BENCH_CHILD", job)
        .env("AUDITKIT_BENCH_DB", db)
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {job} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("child result");
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[0].parse().expect("secs"),
        f[1].parse().expect("count"),
        f[2].parse::<f64>().expect("kib") / 1024.0,
    )
}

/// The machine's load: other work running during the benchmark shows up in its figures.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The child side: runs one operation and prints `RESULT secs count peak_kib`.
fn child(job: &str) {
    let db = PathBuf::from(env::var("AUDITKIT_BENCH_DB").expect("AUDITKIT_BENCH_DB"));
    let t = Instant::now();
    let count = match job {
        "verify-auditkit" => {
            let trail = AuditTrail::new(open_store(&db, Synchronous::Full));
            let r = trail.verify().expect("verify");
            assert!(r.is_ok(), "{r}");
            r.checked
        }
        "export-auditkit" => {
            let trail = AuditTrail::new(open_store(&db, Synchronous::Full));
            trail
                .export_jsonl(&Query::new().oldest_first(), std::io::sink())
                .expect("export")
        }
        // A debugging aid: the plans of `;`-separated statements, after an optional ANALYZE.
        "plan" => {
            let conn = Connection::open(&db).expect("open");
            // As auditkit's connections.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .expect("qpsg");
            if env::var("AUDITKIT_BENCH_ANALYZE").is_ok() {
                conn.execute_batch("ANALYZE").expect("analyze");
            }
            let sql = env::var("AUDITKIT_BENCH_SQL").expect("AUDITKIT_BENCH_SQL");
            for q in sql.split(';').filter(|q| !q.trim().is_empty()) {
                println!("== {}", q.trim());
                let mut stmt = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {q}"))
                    .expect("prepare");
                // Parameters, if any, are bound to NULL: the plan still shows the index.
                let nulls = vec![SqlValue::Null; stmt.parameter_count()];
                let mut rows = stmt.query(params_from_iter(&nulls)).expect("plan");
                while let Some(r) = rows.next().expect("row") {
                    println!("  {}", r.get::<_, String>(3).expect("detail"));
                }
                drop(rows);
                let mut stmt = conn.prepare(q).expect("prepare");
                let t = Instant::now();
                let mut n = 0;
                for _ in 0..10 {
                    let mut rows = stmt.query(params_from_iter(&nulls)).expect("query");
                    while rows.next().expect("row").is_some() {
                        n += 1;
                    }
                }
                println!(
                    "  {} rows, {:.3} ms per run",
                    n / 10,
                    t.elapsed().as_secs_f64() * 100.0
                );
            }
            return;
        }
        "queries" => {
            let n = env_u64("AUDITKIT_BENCH_EVENTS", 1_000_000);
            let queries = env_u64("AUDITKIT_BENCH_QUERIES", 1_000) as usize;
            let raw_path = db.with_file_name("raw-large.db");
            let mut rep = Report::default();
            query_latencies(&db, &raw_path, n, queries, &mut rep);
            for r in &rep.rows {
                println!(
                    "ROW {}\t{}\t{}",
                    r.name,
                    r.auditkit,
                    r.raw.unwrap_or(f64::NAN)
                );
            }
            for note in &rep.notes {
                println!("NOTE {note}");
            }
            return;
        }
        "verify-raw" => raw_verify(&db),
        "export-raw" => raw_export(&db),
        other => panic!("unknown child job {other}"),
    };
    println!(
        "RESULT {} {count} {}",
        t.elapsed().as_secs_f64(),
        vm_hwm_kib()
    );
}

/// The floor for verify: read every event row and its personal values in seq order, and
/// SHA-256 the columns (chained) and each personal value.
fn raw_verify(db: &Path) -> u64 {
    let conn = Connection::open(db).expect("open");
    let mut ev = conn
        .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY seq"))
        .expect("prepare");
    let mut pv = conn
        .prepare("SELECT seq, path, value, salt FROM personal_values ORDER BY seq, path")
        .expect("prepare");
    let mut prow = pv.query([]).expect("query");
    let mut cur = prow.next().expect("row");
    let mut rows = ev.query([]).expect("query");
    let mut chain = [0u8; 32];
    let mut n = 0;
    while let Some(r) = rows.next().expect("row") {
        let seq: i64 = r.get(0).expect("seq");
        let mut h = Sha256::new();
        h.update(chain);
        for i in 0..24 {
            match r.get_ref(i).expect("col") {
                rusqlite::types::ValueRef::Integer(v) => h.update(v.to_le_bytes()),
                rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
                _ => h.update([0]),
            }
        }
        chain = h.finalize().into();
        while let Some(p) = cur {
            if p.get::<_, i64>(0).expect("seq") != seq {
                break;
            }
            let mut h = Sha256::new();
            h.update(p.get_ref(1).expect("path").as_bytes().expect("text"));
            h.update(p.get_ref(3).expect("salt").as_bytes().expect("blob"));
            h.update(p.get_ref(2).expect("value").as_bytes().expect("text"));
            std::hint::black_box(h.finalize());
            cur = prow.next().expect("row");
        }
        n += 1;
    }
    std::hint::black_box(chain);
    n
}

/// The floor for export_jsonl: read every event with its personal values and write one JSON
/// object per line (stored JSON embedded as parsed values, like auditkit does).
fn raw_export(db: &Path) -> u64 {
    use std::io::Write;
    let conn = Connection::open(db).expect("open");
    let mut ev = conn
        .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY seq"))
        .expect("prepare");
    let mut pv = conn
        .prepare("SELECT seq, path, value FROM personal_values ORDER BY seq, path")
        .expect("prepare");
    let mut prow = pv.query([]).expect("query");
    let mut cur = prow.next().expect("row");
    let mut w = std::io::BufWriter::new(std::io::sink());
    let names: Vec<&str> = COLUMNS.split(", ").collect();
    let mut rows = ev.query([]).expect("query");
    let mut n = 0;
    while let Some(r) = rows.next().expect("row") {
        let seq: i64 = r.get(0).expect("seq");
        let mut obj = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = match r.get_ref(i).expect("col") {
                rusqlite::types::ValueRef::Integer(v) => json!(v),
                rusqlite::types::ValueRef::Text(b) => {
                    let s = std::str::from_utf8(b).expect("utf8");
                    if matches!(
                        *name,
                        "before" | "after" | "context" | "request" | "related" | "impersonator"
                    ) {
                        serde_json::from_str(s).expect("json")
                    } else {
                        Value::String(s.to_owned())
                    }
                }
                rusqlite::types::ValueRef::Blob(b) => Value::String(hex::encode(b)),
                _ => Value::Null,
            };
            obj.insert((*name).to_owned(), v);
        }
        while let Some(p) = cur {
            if p.get::<_, i64>(0).expect("seq") != seq {
                break;
            }
            let path: String = p.get(1).expect("path");
            let value: String = p.get(2).expect("value");
            obj.insert(path, serde_json::from_str(&value).expect("json"));
            cur = prow.next().expect("row");
        }
        serde_json::to_writer(&mut w, &obj).expect("write");
        w.write_all(b"\n").expect("write");
        n += 1;
    }
    w.flush().expect("flush");
    n
}

fn streaming(ak_path: &Path, raw_path: &Path, n: u64, rep: &mut Report) {
    for (what, ak_job, raw_job) in [
        ("verify", "verify-auditkit", "verify-raw"),
        ("export_jsonl", "export-auditkit", "export-raw"),
    ] {
        eprintln!("{what} over {n} events (child processes)...");
        let (ak_s, ak_n, ak_mib) = run_child(ak_job, ak_path);
        let (raw_s, raw_n, raw_mib) = run_child(raw_job, raw_path);
        assert_eq!(ak_n, n, "{ak_job} saw {ak_n} events");
        assert_eq!(raw_n, n, "{raw_job} saw {raw_n} events");
        rep.add(
            format!("{what} over {n} events"),
            "events/s",
            n as f64 / ak_s,
            Some(n as f64 / raw_s),
            Some((">=", 0.7)),
        );
        rep.add(
            format!("{what}, peak RSS of the process (raw: its floor)"),
            "MiB",
            ak_mib,
            Some(raw_mib),
            None,
        );
        let row = rep.rows.last_mut().expect("row");
        // The target is absolute: under 64 MiB.
        row.ratio_override = Some(ak_mib / 64.0);
        row.target = Some(("<=", 1.0));
        rep.notes.push(format!(
            "{what} peak RSS: auditkit {ak_mib:.1} MiB, raw {raw_mib:.1} MiB; the ratio column shows auditkit / 64 MiB"
        ));
    }
}

fn file_bytes(path: &Path) -> u64 {
    let conn = Connection::open(path).expect("open");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    std::fs::metadata(path).expect("metadata").len()
}

fn sizes(ak_path: &Path, raw_path: &Path, n: u64, rep: &mut Report) {
    let ak = file_bytes(ak_path) as f64 / n as f64;
    let raw = file_bytes(raw_path) as f64 / n as f64;
    let conn = Connection::open(raw_path).expect("open");
    let payload: f64 = conn
        .query_row(
            "SELECT AVG(8 + length(id) + 16 + COALESCE(length(tenant),0) + length(actor_kind) \
             + length(actor_id) + COALESCE(length(actor_role),0) + COALESCE(length(impersonator),0) \
             + length(source) + COALESCE(length(request),0) + length(action) \
             + COALESCE(length(failure),0) + COALESCE(length(target_kind),0) \
             + COALESCE(length(target_id),0) + COALESCE(length(related),0) \
             + COALESCE(length(before),0) + COALESCE(length(after),0) \
             + COALESCE(length(context),0) + COALESCE(length(idempotency_key),0) \
             + COALESCE(length(personal),0) + 64) FROM events",
            [],
            |r| r.get(0),
        )
        .expect("payload");
    rep.add(
        "bytes on disk per event (raw: same schema and indexes)",
        "bytes",
        ak,
        Some(raw),
        Some(("<=", 1.5)),
    );
    rep.notes.push(format!(
        "the events row itself (sum of its column lengths, no indexes) is {payload:.0} bytes on average; auditkit's file holds {:.2}× that",
        ak / payload
    ));
}
