//! Verify and export over the whole large log, each in a child process, against their raw
//! floors: throughput and peak memory.

use std::path::Path;

use rusqlite::Connection;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::child::run_child;
use crate::raw::COLUMNS;
use crate::report::Report;

/// The floor for verify: read every event row and its personal values in seq order, and
/// SHA-256 the columns (chained) and each personal value.
pub fn raw_verify(db: &Path) -> u64 {
    let conn = Connection::open(db).expect("open");
    let mut ev = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM auditkit_events ORDER BY seq"
        ))
        .expect("prepare");
    let mut pv = conn
        .prepare("SELECT seq, path, value, salt FROM auditkit_personal_values ORDER BY seq, path")
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
pub fn raw_export(db: &Path) -> u64 {
    use std::io::Write;
    let conn = Connection::open(db).expect("open");
    let mut ev = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM auditkit_events ORDER BY seq"
        ))
        .expect("prepare");
    let mut pv = conn
        .prepare("SELECT seq, path, value FROM auditkit_personal_values ORDER BY seq, path")
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

pub fn streaming(ak_path: &Path, raw_path: &Path, n: u64, rep: &mut Report) {
    // The full verify (the chain and every derived row) has no target of its own yet: it
    // shows what checking the derived rows costs on top of the chain, against the same floor.
    for (what, ak_job, raw_job, target) in [
        (
            "verify_chain",
            "verify-chain-auditkit",
            "verify-raw",
            Some((">=", 0.7)),
        ),
        ("verify", "verify-auditkit", "verify-raw", None),
        (
            "export_jsonl",
            "export-auditkit",
            "export-raw",
            Some((">=", 0.7)),
        ),
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
            target,
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
    // Against the hand-written table's own verify (read every row, re-hash the chain):
    // alternating, the better of two runs each.
    let hand_path = ak_path.with_file_name("hand-large.db");
    if !hand_path.exists() {
        return;
    }
    eprintln!("verify against the hand-written table's read + re-hash (child processes)...");
    let best = |job: &str, path: &Path| {
        let (s, count, _) = run_child(job, path);
        assert_eq!(count, n, "{job} saw {count} events");
        s
    };
    let (mut chain, mut full, mut hand) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..2 {
        hand = hand.min(best("verify-hand", &hand_path));
        chain = chain.min(best("verify-chain-auditkit", ak_path));
        full = full.min(best("verify-auditkit", ak_path));
    }
    rep.add(
        format!("verify_chain vs hand-written read + re-hash, {n} events"),
        "events/s",
        n as f64 / chain,
        Some(n as f64 / hand),
        Some((">=", 1.0)),
    );
    rep.add(
        format!("verify (derived rows too) vs hand-written read + re-hash, {n} events"),
        "events/s",
        n as f64 / full,
        Some(n as f64 / hand),
        None,
    );
}
