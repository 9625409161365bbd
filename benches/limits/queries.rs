//! Query latencies: each kind of query, auditkit against the same query written by hand,
//! interleaved, at p50 and p99.

use std::path::Path;
use std::time::{Duration, Instant};

use auditkit::sqlite::Synchronous;
use auditkit::{AuditTrail, Query, Target};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection};

use crate::events::{
    at, Rng, ACTORS, BASE, CUSTOMERS_PER_TENANT, DAY, EVENTS_PER_BOOKING, SPAN, SURNAMES, TENANTS,
};
use crate::open_store;
use crate::raw::COLUMNS;
use crate::report::Report;

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
         LEFT JOIN auditkit_personal_values p ON p.seq = e.seq {order}"
    )
}

const DESC: &str = "ORDER BY e.occurred_at DESC, e.seq DESC";

pub fn query_latencies(ak_path: &Path, raw_path: &Path, n: u64, queries: usize, rep: &mut Report) {
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
                        &format!("SELECT {cols} FROM auditkit_events e WHERE e.target_kind = ?1 AND e.target_id = ?2"),
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
                        &format!("SELECT {cols} FROM auditkit_events e INDEXED BY auditkit_events_actor WHERE e.actor_id = ?2 AND e.tenant = ?1 AND e.occurred_at >= ?3 AND e.occurred_at < ?4 {DESC} LIMIT 51"),
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
                        &format!("SELECT {cols} FROM auditkit_events e INDEXED BY auditkit_events_tenant WHERE e.tenant = ?1 AND e.action >= 'booking.' AND e.action < 'booking/' AND e.occurred_at >= ?2 AND e.occurred_at < ?3 {DESC} LIMIT 51"),
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
                        &format!("SELECT {cols} FROM auditkit_event_targets t JOIN auditkit_events e ON e.seq = t.seq WHERE t.kind = ?1 AND t.id = ?2 {DESC} LIMIT 51"),
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
                raw.prepare_cached("SELECT COUNT(*) FROM auditkit_events INDEXED BY auditkit_events_tenant WHERE tenant = ?1 AND occurred_at >= ?2 AND occurred_at < ?3")
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
                        &format!("SELECT {cols} FROM auditkit_events e WHERE e.seq IN (SELECT rowid FROM auditkit_event_search WHERE auditkit_event_search MATCH ?2) AND e.tenant = ?1 {DESC} LIMIT 51"),
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
