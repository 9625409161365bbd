//! The reads part: `verify` and `export_jsonl` over one log of `AUDITKIT_PG_BENCH_EVENTS`
//! events, each against a raw read of the same rows with one `postgres::Client`.
//!
//! The log is recorded through a trail in a fresh schema (`record_batch` of 1,000), then
//! `VACUUM (ANALYZE)`d so that neither side pays for setting hint bits on the first read. Each
//! round runs, in this order: auditkit `verify`, raw verify, auditkit `export_jsonl`, raw
//! export; the table shows the median of the rounds for each side and the ratio of the
//! medians.
//!
//! - **raw verify** (as `raw_verify` in `benches/limits/streaming.rs`): in one transaction,
//!   two portals (`SELECT <the 25 event columns> FROM auditkit_events ORDER BY seq` and `SELECT seq,
//!   path, value, salt FROM auditkit_personal_values ORDER BY seq, path`), fetched 1,000 rows at a time
//!   and merged by seq. Each event row is SHA-256ed (the previous row's hash, then each
//!   column's bytes as they came off the wire, length-prefixed), chained; each personal value
//!   is SHA-256ed (path, salt, value).
//! - **raw export** (as `raw_export` there): the same two portals; each row becomes one JSON
//!   object (integers as numbers, text as strings, the stored JSON columns parsed, bytes as
//!   hex), its personal values added by path, written as one line to a buffered sink.
//! - **auditkit**: `AuditTrail::verify()` (the report must be clean and have checked every
//!   event) and `AuditTrail::export_jsonl(&Query::new(), std::io::sink())`, on a trail with
//!   `PgStore`'s default options.

use std::io::Write;
use std::time::{Duration, Instant};

use auditkit::postgres::PgStore;
use auditkit::{AuditTrail, Query};
use postgres::types::{FromSql, Type};
use postgres::{Client, Portal, Row, Transaction};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{env_or, event, median, num, pg_support};

/// Events per `record_batch` while the log is built.
const BATCH: u64 = 1_000;

/// Rows per fetch from a raw portal.
const PAGE: i32 = 1_000;

/// The events columns auditkit's `read_each` and queries select, in the same order.
const COLUMNS: &str = "seq, id, occurred_at, recorded_at, tenant, actor_kind, actor_id, \
    actor_role, impersonator, source, request, action, failure, target_kind, target_id, related, \
    before, after, context, idempotency_key, payload_version, personal, prev_hash, hash, encoding";

/// The text columns that hold JSON, embedded parsed in an export line (as auditkit does).
const JSON_COLUMNS: [&str; 6] = [
    "before",
    "after",
    "context",
    "request",
    "related",
    "impersonator",
];

/// A column's bytes as they came off the wire (binary format), or `None` for NULL.
struct Wire<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Wire<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Wire(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Wire(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn wire(r: &Row, i: usize) -> Option<&[u8]> {
    r.get::<_, Wire<'_>>(i).0
}

/// A portal read [`PAGE`] rows at a time.
struct Cursor {
    portal: Portal,
    rows: std::vec::IntoIter<Row>,
    done: bool,
}

impl Cursor {
    fn open(tx: &mut Transaction<'_>, sql: &str) -> Cursor {
        Cursor {
            portal: tx.bind(sql, &[]).expect("bind portal"),
            rows: Vec::new().into_iter(),
            done: false,
        }
    }

    fn next(&mut self, tx: &mut Transaction<'_>) -> Option<Row> {
        loop {
            if let Some(r) = self.rows.next() {
                return Some(r);
            }
            if self.done {
                return None;
            }
            let page = tx.query_portal(&self.portal, PAGE).expect("fetch");
            self.done = page.len() < PAGE as usize;
            self.rows = page.into_iter();
        }
    }
}

fn events_sql(schema: &str) -> String {
    format!("SELECT {COLUMNS} FROM \"{schema}\".auditkit_events ORDER BY seq")
}

fn personal_sql(schema: &str) -> String {
    format!("SELECT seq, path, value, salt FROM \"{schema}\".auditkit_personal_values ORDER BY seq, path")
}

/// The floor for verify: every event row and its personal values in seq order, each row's
/// bytes SHA-256ed after the previous row's hash, each personal value SHA-256ed.
fn raw_verify(client: &mut Client, schema: &str) -> u64 {
    let mut tx = client.transaction().expect("begin");
    let mut ev = Cursor::open(&mut tx, &events_sql(schema));
    let mut pv = Cursor::open(&mut tx, &personal_sql(schema));
    let mut cur = pv.next(&mut tx);
    let mut chain = [0u8; 32];
    let mut n = 0;
    while let Some(r) = ev.next(&mut tx) {
        let seq: i64 = r.get(0);
        let mut h = Sha256::new();
        h.update(chain);
        for i in 0..r.len() {
            match wire(&r, i) {
                Some(b) => {
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
                None => h.update([0]),
            }
        }
        chain = h.finalize().into();
        while let Some(p) = &cur {
            if p.get::<_, i64>(0) != seq {
                break;
            }
            let mut h = Sha256::new();
            h.update(wire(p, 1).expect("path"));
            h.update(wire(p, 3).expect("salt"));
            h.update(wire(p, 2).expect("value"));
            std::hint::black_box(h.finalize());
            cur = pv.next(&mut tx);
        }
        n += 1;
    }
    tx.commit().expect("commit");
    std::hint::black_box(chain);
    n
}

/// The floor for export_jsonl: every event with its personal values, one JSON object per
/// line to a sink.
fn raw_export(client: &mut Client, schema: &str) -> u64 {
    let mut tx = client.transaction().expect("begin");
    let mut ev = Cursor::open(&mut tx, &events_sql(schema));
    let mut pv = Cursor::open(&mut tx, &personal_sql(schema));
    let mut cur = pv.next(&mut tx);
    let mut w = std::io::BufWriter::new(std::io::sink());
    let mut n = 0;
    while let Some(r) = ev.next(&mut tx) {
        let seq: i64 = r.get(0);
        let mut obj = serde_json::Map::new();
        for (i, col) in r.columns().iter().enumerate() {
            let ty = col.type_();
            let v = if *ty == Type::INT8 {
                r.get::<_, Option<i64>>(i).map_or(Value::Null, |v| json!(v))
            } else if *ty == Type::BYTEA {
                r.get::<_, Option<&[u8]>>(i)
                    .map_or(Value::Null, |b| Value::String(hex::encode(b)))
            } else {
                match r.get::<_, Option<&str>>(i) {
                    None => Value::Null,
                    Some(s) if JSON_COLUMNS.contains(&col.name()) => {
                        serde_json::from_str(s).expect("json")
                    }
                    Some(s) => Value::String(s.to_owned()),
                }
            };
            obj.insert(col.name().to_owned(), v);
        }
        while let Some(p) = &cur {
            if p.get::<_, i64>(0) != seq {
                break;
            }
            let path: String = p.get(1);
            let value: &str = p.get(2);
            obj.insert(path, serde_json::from_str(value).expect("json"));
            cur = pv.next(&mut tx);
        }
        serde_json::to_writer(&mut w, &obj).expect("write");
        w.write_all(b"\n").expect("write");
        n += 1;
    }
    w.flush().expect("flush");
    tx.commit().expect("commit");
    n
}

/// This process's CPU time so far (user + system, all threads).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // Clock ticks are 1/100 s on Linux.
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

/// One timed run: events per second, process CPU seconds per wall second.
struct Timed {
    rate: f64,
    cpu: f64,
}

fn timed(n: u64, f: impl FnOnce() -> u64) -> Timed {
    let (c, t) = (cpu(), Instant::now());
    let seen = f();
    let wall = t.elapsed().as_secs_f64();
    let used = (cpu() - c).as_secs_f64();
    assert_eq!(seen, n, "a read saw {seen} events of {n}");
    Timed {
        rate: n as f64 / wall,
        cpu: used / wall,
    }
}

/// The reads part: the table and its notes.
pub fn reads(url: &str, monitor: &mut Client) -> String {
    let started = Instant::now();
    let n: u64 = env_or("AUDITKIT_PG_BENCH_EVENTS", 100_000u64).max(1);
    let rounds: usize = env_or("AUDITKIT_PG_BENCH_ROUNDS", 3).max(1);
    let schema = pg_support::fresh_schema("reads");
    let trail = AuditTrail::new(PgStore::connect_with_schema(url, &schema).expect("store"));
    eprintln!("PostgreSQL reads: recording {n} events in batches of {BATCH}...");
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let hi = (i + BATCH).min(n);
        trail
            .record_batch((i..hi).map(event).collect())
            .expect("record_batch");
        i = hi;
    }
    let record_secs = t.elapsed().as_secs_f64();
    monitor
        .batch_execute(&format!(
            "VACUUM (ANALYZE) \"{schema}\".auditkit_events, \"{schema}\".auditkit_personal_values, \
             \"{schema}\".auditkit_event_targets, \"{schema}\".auditkit_event_changes"
        ))
        .expect("vacuum");
    let size: i64 = monitor
        .query_one(
            &format!(
                "SELECT pg_total_relation_size('\"{schema}\".auditkit_events') \
                      + pg_total_relation_size('\"{schema}\".auditkit_personal_values')"
            ),
            &[],
        )
        .expect("size")
        .get(0);
    let personal: i64 = monitor
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".auditkit_personal_values"),
            &[],
        )
        .expect("count")
        .get(0);
    let mut raw_client = pg_support::raw_client(url);
    let names = ["verify", "export_jsonl"];
    let mut runs: [[Vec<Timed>; 2]; 2] = Default::default();
    for round in 1..=rounds {
        for (k, what) in names.iter().enumerate() {
            let ak = timed(n, || match k {
                0 => {
                    let r = trail.verify().expect("verify");
                    assert!(r.is_ok(), "the log does not verify: {r}");
                    r.checked
                }
                _ => trail
                    .export_jsonl(&Query::new(), std::io::sink())
                    .expect("export"),
            });
            let raw = timed(n, || match k {
                0 => raw_verify(&mut raw_client, &schema),
                _ => raw_export(&mut raw_client, &schema),
            });
            eprintln!(
                "  round {round}, {what}: auditkit {:.0} events/s ({:.2} CPU), raw {:.0} events/s ({:.2} CPU)",
                ak.rate, ak.cpu, raw.rate, raw.cpu
            );
            runs[k][0].push(ak);
            runs[k][1].push(raw);
        }
    }
    monitor
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .expect("drop schema");

    let mut table = String::from(
        "| read | auditkit events/s | raw events/s | ratio | target | met |\n\
         |---|---:|---:|---:|---|---|\n",
    );
    let mut notes = Vec::new();
    for (k, what) in names.iter().enumerate() {
        let [ak, raw] = &runs[k];
        let rates = |v: &[Timed]| v.iter().map(|t| t.rate).collect::<Vec<_>>();
        let (a, b) = (median(rates(ak)), median(rates(raw)));
        let ratio = a / b;
        table.push_str(&format!(
            "| {what} over {n} events | {} | {} | {ratio:.2} | >= 0.8 | {} |\n",
            num(a),
            num(b),
            if ratio >= 0.8 { "yes" } else { "**no**" }
        ));
        let list = |v: &[Timed]| {
            v.iter()
                .map(|t| format!("{:.0}", t.rate))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let paired = ak
            .iter()
            .zip(raw)
            .map(|(a, b)| format!("{:.2}", a.rate / b.rate))
            .collect::<Vec<_>>()
            .join(", ");
        let mean_cpu = |v: &[Timed]| v.iter().map(|t| t.cpu).sum::<f64>() / v.len() as f64;
        notes.push(format!(
            "{what}, each round: auditkit {} events/s; raw {} events/s; ratio within each round {paired}; \
             this process's CPU per wall second: auditkit {:.2}, raw {:.2}",
            list(ak),
            list(raw),
            mean_cpu(ak),
            mean_cpu(raw)
        ));
    }
    let mut out = format!("\nReads: verify and export over {n} events\n\n{table}\n");
    for note in &notes {
        out.push_str(&format!("- {note}\n"));
    }
    out.push_str(&format!(
        "- the log: {n} events, {personal} personal values, {:.0} MiB (events and auditkit_personal_values with their indexes), recorded in {record_secs:.1} s ({:.0} events/s)\n",
        size as f64 / (1024.0 * 1024.0),
        n as f64 / record_secs
    ));
    out.push_str(&format!(
        "- {rounds} rounds; the reads part took {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    out
}
