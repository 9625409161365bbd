//! Tests that need the store's private SQL: every filter and every summary runs on an index.

use rusqlite::params_from_iter;

use super::search::SQLITE;
use super::SqliteStore;
use crate::model::event::{ActorKind, Source, Target};
use crate::query::summary::GroupBy;
use crate::query::Query;
use crate::sql::filter::{order_by, SqlBuilder};
use crate::sql::Param;
use crate::sql::{codec, summary};
#[cfg(doc)]
use crate::store::AuditStore;
use time::macros::datetime;

fn plan(store: &SqliteStore, q: &Query) -> String {
    let mut b = SqlBuilder::new(&SQLITE);
    let filter = b.where_clause(q);
    let lim = b.bind(Param::Int(50));
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT {} FROM auditkit_events e{filter}{} LIMIT {lim}",
        codec::select_list(),
        order_by(q)
    );
    let conn = store.writer();
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map(params_from_iter(&b.params), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_filter_runs_on_an_index() {
    let store = SqliteStore::open_in_memory().unwrap();
    let from = datetime!(2026-01-01 0:00 UTC);
    let to = datetime!(2026-02-01 0:00 UTC);
    let booking = Target::new("booking", "b-1");
    let cases: Vec<(&str, Query, &str)> = vec![
        ("tenant", Query::new().tenant("t"), "auditkit_events_tenant"),
        (
            "between",
            Query::new().between(from, to),
            "auditkit_events_time",
        ),
        ("since", Query::new().since(from), "auditkit_events_time"),
        ("until", Query::new().until(to), "auditkit_events_time"),
        (
            "actor",
            Query::new().actor("u-1"),
            "auditkit_events_actor (",
        ),
        (
            "actor_kind",
            Query::new().actor_kind(ActorKind::Customer),
            "auditkit_events_actor_kind",
        ),
        (
            "action",
            Query::new().action("booking.created"),
            "auditkit_events_action",
        ),
        (
            "action prefix",
            Query::new().action("booking.*"),
            "auditkit_events_action",
        ),
        (
            "actions",
            Query::new().actions(["booking.created", "order.*"]),
            "auditkit_events_action",
        ),
        (
            "target",
            Query::new().target(&booking),
            "auditkit_events_target",
        ),
        (
            "target_kind",
            Query::new().target_kind("booking"),
            "auditkit_events_target",
        ),
        (
            "involving",
            Query::new().involving(&booking),
            "SEARCH t USING PRIMARY KEY",
        ),
        (
            "source",
            Query::new().source(Source::Web),
            "auditkit_events_source",
        ),
        (
            "failures",
            Query::new().failures(),
            "auditkit_events_failures",
        ),
        (
            "search",
            Query::new().search("haircut"),
            "auditkit_event_search VIRTUAL TABLE INDEX 0:M",
        ),
        (
            "changed",
            Query::new().changed("slot.start"),
            "SEARCH c USING PRIMARY KEY",
        ),
        (
            "oldest first",
            Query::new().oldest_first(),
            "auditkit_events_time",
        ),
        (
            "tenant + actor + window",
            Query::new().tenant("t").actor("u-1").between(from, to),
            "SEARCH e USING INDEX auditkit_events_",
        ),
    ];
    for (name, q, index) in cases {
        let plan = plan(&store, &q);
        assert!(plan.contains(index), "{name}: expected {index}:\n{plan}");
        assert_on_index(name, &plan);
    }
}

/// Fails unless `plan` scans no table whole and uses an index. The search tokens still
/// pending (`search.rs`) are the one table a search reads whole: it holds fewer than
/// `PENDING_BATCH` rows, however long the log.
fn assert_on_index(name: &str, plan: &str) {
    assert!(
        !plan.lines().any(|l| l.trim_start().starts_with("SCAN ")
            && !l.contains("USING")
            && !l.contains("VIRTUAL TABLE INDEX")
            && l.trim() != "SCAN auditkit_search_pending"),
        "{name}: full table scan:\n{plan}"
    );
    assert!(
        plan.contains("INDEX") || plan.contains("PRIMARY KEY") || plan.contains("VIRTUAL TABLE"),
        "{name}: no index used:\n{plan}"
    );
}

/// The plans of every statement [`AuditStore::summarize`] runs for `q` and `by` (each is run
/// too: the per-day statements depend on what the first one finds).
fn summary_plans(store: &SqliteStore, q: &Query, by: &GroupBy) -> Vec<String> {
    let conn = store.writer();
    let mut plans = Vec::new();
    summary::summarize(&SQLITE, q, by, &mut |sql, params, each| {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap();
        plans.push(rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n"));
        let mut stmt = conn.prepare(sql).unwrap();
        let mut rows = stmt.query(params_from_iter(params)).unwrap();
        while let Some(row) = rows.next().unwrap() {
            each(row)?;
        }
        Ok(())
    })
    .unwrap();
    plans
}

#[test]
fn every_summary_runs_on_an_index() {
    let trail = crate::AuditTrail::new(SqliteStore::open_in_memory().unwrap());
    for i in 0..20 {
        trail
            .record(
                crate::NewEvent::new(["booking.created", "order.paid"][i % 2])
                    .tenant("t")
                    .actor(crate::Actor::user(format!("u-{}", i % 3)))
                    .target(Target::new("booking", "b-1"))
                    .occurred_at(datetime!(2026-03-29 00:00 UTC) + time::Duration::hours(i as i64)),
            )
            .unwrap();
    }
    let store = trail.store();
    let from = datetime!(2026-01-01 0:00 UTC);
    let to = datetime!(2026-06-01 0:00 UTC);
    let queries = [
        ("all", Query::new()),
        ("tenant", Query::new().tenant("t")),
        ("between", Query::new().between(from, to)),
        ("actor", Query::new().actor("u-1")),
        ("action prefix", Query::new().action("booking.*")),
        (
            "involving",
            Query::new().involving(&Target::new("booking", "b-1")),
        ),
        ("search", Query::new().search("created")),
        ("failures", Query::new().failures()),
    ];
    for (name, q) in &queries {
        for by in [
            GroupBy::Action,
            GroupBy::Actor,
            GroupBy::day_in("Europe/Berlin"),
        ] {
            let plans = summary_plans(store, q, &by);
            assert!(!plans.is_empty(), "{by:?} over {name}: no statement");
            for plan in plans {
                assert_on_index(&format!("{by:?} over {name}"), &plan);
            }
        }
    }
}
