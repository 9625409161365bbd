//! CSV export: the plain form stays byte-identical, and the options of `export_csv_with`.
#![cfg(feature = "sqlite")]

use auditkit::memory::MemoryStore;
use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, Event, NewEvent, Outcome, Query, RequestContext};
use auditkit::{Source, Target};
use serde_json::json;
use time::macros::datetime;

fn both() -> Vec<(&'static str, AuditTrail<Box<dyn AuditStore>>)> {
    vec![
        (
            "memory",
            AuditTrail::new(Box::new(MemoryStore::new()) as Box<dyn AuditStore>),
        ),
        (
            "sqlite",
            AuditTrail::new(Box::new(SqliteStore::open_in_memory().unwrap()) as Box<dyn AuditStore>),
        ),
    ]
}

/// Events with every column filled somewhere, formulas in the cells, and none.
fn record_sample<S: AuditStore>(trail: &AuditTrail<S>) -> Vec<Event> {
    let events = vec![
        NewEvent::new("booking.rescheduled")
            .tenant("clinic-42")
            .actor(Actor::user("u-17").name("Sarah").role("staff"))
            .source(Source::Web)
            .request(
                RequestContext::new()
                    .ip("203.0.113.9")
                    .user_agent("=cmd|' /C calc'!A0")
                    .request_id("-req-1"),
            )
            .target(Target::new("booking", "b-123").label("Haircut with Sam"))
            .related(Target::new("customer", "c-9").label("@Zoë"))
            .related(Target::new("order", "o-1"))
            .before(json!({"start": "2026-03-28T09:00:00Z"}))
            .after(json!({"start": "2026-03-30T08:30:00Z"}))
            .context("reason", "+customer asked, \"twice\"")
            .occurred_at(datetime!(2026-03-28 09:00:00 UTC)),
        NewEvent::new("payment.failed")
            .actor(Actor::system())
            .source(Source::Webhook)
            .outcome(Outcome::failure("card declined"))
            .occurred_at(datetime!(2026-03-29 01:30:00.123456 UTC)),
        NewEvent::new("account.login")
            .tenant("clinic-42")
            .actor(Actor::customer("c-9").name("Zoë, Martin"))
            .source(Source::Mobile)
            .request(RequestContext::new().user_agent("Mozilla/5.0\nnext line"))
            .occurred_at(datetime!(2026-10-25 00:30:00 UTC)),
    ];
    events
        .into_iter()
        .map(|e| trail.record(e).unwrap())
        .collect()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `csv` with the parts that differ from run to run (recording times, hashes) as placeholders.
fn stable(mut csv: String, events: &[Event]) -> String {
    for e in events {
        csv = csv.replace(&rfc3339(e.recorded_at), &format!("<recorded_at {}>", e.seq));
        csv = csv.replace(&e.hash_hex(), &format!("<hash {}>", e.seq));
    }
    csv
}

#[test]
fn plain_export_is_byte_identical_to_the_pinned_form() {
    let golden = include_str!("data/export_csv_plain.csv");
    for (name, trail) in both() {
        let events = record_sample(&trail);
        let mut out = Vec::new();
        assert_eq!(trail.export_csv(&Query::new(), &mut out).unwrap(), 3);
        let got = stable(String::from_utf8(out).unwrap(), &events);
        if std::env::var_os("AUDITKIT_BLESS").is_some() {
            std::fs::write("tests/data/export_csv_plain.csv", &got).unwrap();
        }
        assert_eq!(got, golden, "{name}");
    }
}
