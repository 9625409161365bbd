//! The PostgreSQL limit: how many events per second `AuditTrail<PgStore>` records with 1, 8 and
//! 32 concurrent writers, next to raw INSERTs of the same rows on the same server (one row per
//! transaction, into a table with only a primary key and the unique id index).
//!
//! `cargo bench --bench pg_limits --features postgres`. It starts its own throwaway cluster
//! (fsync on, as in production) or uses `AUDITKIT_PG_URL` (where it creates schemas and a
//! `raw_events` table, and leaves them). Each cell runs for
//! `AUDITKIT_BENCH_SECS` seconds (default 1).
//!
//! Columns: `shared trail` is one process with N threads on one trail (group commit merges
//! their events into shared transactions); `N app servers` is N trails, each with its own
//! store, all appending to one chain (compare-and-append, retrying on conflicts) as separate
//! app servers would; `raw` is N connections each committing single-row INSERTs.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auditkit::postgres::PgStore;
use auditkit::{Actor, AuditStore, AuditTrail, MemoryStore, NewEvent, SealedEvent, Source, Target};
use serde_json::json;

fn event(i: u64) -> NewEvent {
    NewEvent::new("booking.rescheduled")
        .tenant(format!("clinic-{}", i % 10))
        .actor(
            Actor::user(format!("u-{}", i % 50))
                .name("Sarah")
                .role("staff"),
        )
        .source(Source::Web)
        .target(Target::new("booking", format!("b-{i}")).label("Haircut with Sam"))
        .related(Target::new("customer", format!("c-{}", i % 500)))
        .before(json!({"start": "2026-01-10T14:00:00Z", "staff": "Sam"}))
        .after(json!({"start": "2026-01-15T09:00:00Z", "staff": "Sam"}))
        .context("reason", "customer asked")
}

/// Runs `f` on `n` threads for `secs`; returns events per second.
fn run_for(n: usize, secs: f64, f: impl Fn(usize, u64) + Sync) -> f64 {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    std::thread::scope(|s| {
        for t in 0..n {
            let (done, f) = (&done, &f);
            s.spawn(move || {
                let mut i = 0;
                while Instant::now() < deadline {
                    f(t, i);
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

const RAW_TABLE: &str = "CREATE TABLE IF NOT EXISTS raw_events (
    seq bigserial PRIMARY KEY, id bytea NOT NULL UNIQUE, occurred_at bigint NOT NULL,
    recorded_at bigint NOT NULL, tenant text, actor_kind text NOT NULL, actor_id text NOT NULL,
    actor_role text, impersonator text, source text NOT NULL, request text, action text NOT NULL,
    failure text, target_kind text, target_id text, related text, before text, after text,
    context text, idempotency_key text, payload_version bigint, personal text,
    prev_hash bytea NOT NULL, hash bytea NOT NULL)";

const RAW_INSERT: &str = "INSERT INTO raw_events (id, occurred_at, recorded_at, tenant,
    actor_kind, actor_id, actor_role, impersonator, source, request, action, failure,
    target_kind, target_id, related, before, after, context, idempotency_key, payload_version,
    personal, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
    $19, $20, $21, $22, $23)";

fn micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// One sealed row, inserted as a plain row would be (a fresh id each time).
fn raw_insert(client: &mut postgres::Client, stmt: &postgres::Statement, e: &SealedEvent) {
    let id = uuid::Uuid::now_v7();
    let personal: Option<String> = (!e.personal.is_empty()).then(|| "actor.name".to_string());
    client
        .execute(
            stmt,
            &[
                &id.as_bytes().as_slice(),
                &micros(e.occurred_at),
                &micros(e.recorded_at),
                &e.tenant,
                &e.actor_kind.as_str(),
                &e.actor_id,
                &e.actor_role,
                &e.impersonator,
                &e.source,
                &e.request,
                &e.action,
                &e.failure,
                &e.target_kind,
                &e.target_id,
                &e.related,
                &e.before,
                &e.after,
                &e.context,
                &e.idempotency_key,
                &e.payload_version.map(i64::from),
                &personal,
                &e.prev_hash.as_slice(),
                &e.hash.as_slice(),
            ],
        )
        .expect("raw insert");
}

fn main() {
    let secs: f64 = std::env::var("AUDITKIT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let mut _cluster = None;
    let url = match std::env::var("AUDITKIT_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => match pg_support::Cluster::start(true) {
            Ok(c) => {
                let url = c.url();
                _cluster = Some(c);
                url
            }
            Err(e) => {
                pg_support::skipped(&e);
                return;
            }
        },
    };

    // The rows raw INSERTs write: the same sealed events auditkit stores.
    let model = AuditTrail::new(MemoryStore::new());
    for i in 0..256 {
        model.record(event(i)).expect("model event");
    }
    let rows = model.store().read(1, 256).expect("model rows");

    println!("PostgreSQL record throughput, {secs} s per cell (events/s; higher is better)\n");
    println!(
        "| writers | auditkit, shared trail | auditkit, N app servers | raw INSERT | shared / raw | servers / raw |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in [1usize, 8, 32] {
        let trail = AuditTrail::new(
            PgStore::connect_with_schema(&url, &pg_support::fresh_schema("bench")).expect("store"),
        );
        let shared = run_for(n, secs, |_, i| {
            trail.record(event(i)).expect("record");
        });

        let schema = pg_support::fresh_schema("servers");
        let servers: Vec<AuditTrail<PgStore>> = (0..n)
            .map(|_| AuditTrail::new(PgStore::connect_with_schema(&url, &schema).expect("store")))
            .collect();
        let separate = run_for(n, secs, |t, i| {
            servers[t].record(event(i)).expect("record");
        });
        let check = servers[0].verify().expect("verify");
        assert!(
            check.is_ok(),
            "the app servers' chain does not verify: {check:?}"
        );

        let mut setup = pg_support::raw_client(&url);
        setup
            .batch_execute(&format!("DROP TABLE IF EXISTS raw_events; {RAW_TABLE}"))
            .expect("raw table");
        let clients: Vec<std::sync::Mutex<(postgres::Client, postgres::Statement)>> = (0..n)
            .map(|_| {
                let mut c = pg_support::raw_client(&url);
                let s = c.prepare(RAW_INSERT).expect("prepare");
                std::sync::Mutex::new((c, s))
            })
            .collect();
        let raw = run_for(n, secs, |t, i| {
            let mut guard = clients[t].lock().expect("client");
            let (c, s) = &mut *guard;
            raw_insert(c, s, &rows[i as usize % rows.len()]);
        });
        println!(
            "| {n} | {shared:.0} | {separate:.0} | {raw:.0} | {:.2} | {:.2} |",
            shared / raw,
            separate / raw
        );
    }
}
