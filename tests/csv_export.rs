//! CSV export: the plain form stays byte-identical, and the options of `export_csv_with`.
#![cfg(feature = "sqlite")]

use auditkit::memory::MemoryStore;
use auditkit::sqlite::SqliteStore;
use auditkit::{Actor, AuditStore, AuditTrail, Event, NewEvent, Outcome, Query, RequestContext};
use auditkit::{CsvColumn, CsvOptions, Source, Target};
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

fn export(trail: &AuditTrail<impl AuditStore>, options: &CsvOptions) -> auditkit::Result<String> {
    let mut out = Vec::new();
    trail.export_csv_with(&Query::new().oldest_first(), options, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn table(csv: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The cells of column `name`, top to bottom.
fn column(csv: &str, name: &str) -> Vec<String> {
    let (header, rows) = table(csv);
    let i = header.iter().position(|h| h == name).expect(name);
    rows.into_iter().map(|r| r[i].clone()).collect()
}

#[test]
fn default_options_are_the_plain_export() {
    for (name, trail) in both() {
        record_sample(&trail);
        let mut plain = Vec::new();
        trail.export_csv(&Query::new(), &mut plain).unwrap();
        let mut with = Vec::new();
        trail
            .export_csv_with(&Query::new(), &CsvOptions::new(), &mut with)
            .unwrap();
        assert_eq!(plain, with, "{name}");
        let columns: Vec<&str> = CsvColumn::DEFAULT.iter().map(|c| c.name()).collect();
        assert_eq!(columns, auditkit::CSV_COLUMNS);
    }
}

#[test]
fn a_zone_adds_local_times_with_their_offset_and_keeps_utc() {
    for (name, trail) in both() {
        let events = record_sample(&trail);
        let csv = export(&trail, &CsvOptions::new().zone("Europe/Berlin")).unwrap();
        let (header, _) = table(&csv);
        let mut want: Vec<String> = auditkit::CSV_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .collect();
        want.extend(["occurred_at_local".into(), "recorded_at_local".into()]);
        assert_eq!(header, want, "{name}");
        // Before, during and after the spring-forward night, and in the hour that repeats.
        assert_eq!(
            column(&csv, "occurred_at_local"),
            [
                "2026-03-28 10:00:00 +01:00",
                "2026-03-29 03:30:00.123456 +02:00",
                "2026-10-25 02:30:00 +02:00",
            ],
            "{name}"
        );
        assert_eq!(
            column(&csv, "occurred_at"),
            [
                "2026-03-28T09:00:00Z",
                "2026-03-29T01:30:00.123456Z",
                "2026-10-25T00:30:00Z"
            ],
            "{name}: the UTC column stays"
        );
        let recorded = column(&csv, "recorded_at_local");
        for (cell, e) in recorded.iter().zip(&events) {
            let back = time::OffsetDateTime::parse(
                cell,
                time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]] [offset_hour]:[offset_minute]"
                ),
            )
            .unwrap_or_else(|err| panic!("{name}: {cell:?}: {err}"));
            assert_eq!(back, e.recorded_at, "{name}: {cell}");
        }
        let new_york = export(&trail, &CsvOptions::new().zone("America/New_York")).unwrap();
        assert_eq!(
            column(&new_york, "occurred_at_local")[2],
            "2026-10-24 20:30:00 -04:00",
            "{name}"
        );
    }
}

#[test]
fn request_context_and_related_targets_add_their_columns_formula_safe() {
    for (name, trail) in both() {
        record_sample(&trail);
        let options = CsvOptions::new()
            .request_context(true)
            .related_targets(true);
        let csv = export(&trail, &options).unwrap();
        let (header, rows) = table(&csv);
        assert_eq!(
            &header[17..],
            [
                "client_ip",
                "user_agent",
                "request_id",
                "related",
                "related_labels"
            ],
            "{name}"
        );
        assert!(rows.iter().all(|r| r.len() == 22), "{name}");
        assert_eq!(column(&csv, "client_ip"), ["203.0.113.9", "", ""], "{name}");
        assert_eq!(
            column(&csv, "user_agent"),
            ["'=cmd|' /C calc'!A0", "", "Mozilla/5.0\nnext line"],
            "{name}: a user agent is neutralised like every cell"
        );
        assert_eq!(column(&csv, "request_id"), ["'-req-1", "", ""], "{name}");
        assert_eq!(
            column(&csv, "related"),
            ["customer:c-9; order:o-1", "", ""],
            "{name}"
        );
        assert_eq!(
            column(&csv, "related_labels"),
            ["'@Zoë; ", "", ""],
            "{name}"
        );
        // One option alone adds only its own columns.
        let only = export(&trail, &CsvOptions::new().related_targets(true)).unwrap();
        assert_eq!(
            &table(&only).0[17..],
            ["related", "related_labels"],
            "{name}"
        );
    }
}

#[test]
fn chosen_columns_come_in_the_order_given() {
    for (name, trail) in both() {
        let events = record_sample(&trail);
        let options = CsvOptions::new().zone("America/New_York").columns([
            CsvColumn::Action,
            CsvColumn::OccurredAtLocal,
            CsvColumn::UserAgent,
            CsvColumn::Seq,
            CsvColumn::Id,
            CsvColumn::Context,
        ]);
        assert_eq!(options.header().unwrap().len(), 6);
        let csv = export(&trail, &options).unwrap();
        let (header, rows) = table(&csv);
        assert_eq!(
            header,
            [
                "action",
                "occurred_at_local",
                "user_agent",
                "seq",
                "id",
                "context"
            ],
            "{name}"
        );
        assert_eq!(
            rows[0],
            [
                "booking.rescheduled".to_owned(),
                "2026-03-28 05:00:00 -04:00".to_owned(),
                "'=cmd|' /C calc'!A0".to_owned(),
                "1".to_owned(),
                events[0].id.to_string(),
                r#"{"reason":"+customer asked, \"twice\""}"#.to_owned(),
            ],
            "{name}"
        );
        // Parsed from text, as from a URL.
        let parsed: Vec<CsvColumn> = "seq,action"
            .split(',')
            .map(str::parse)
            .collect::<auditkit::Result<_>>()
            .unwrap();
        let csv = export(&trail, &CsvOptions::new().columns(parsed)).unwrap();
        assert!(
            csv.starts_with("seq,action\n1,booking.rescheduled\n"),
            "{name}: {csv}"
        );
    }
}

#[test]
fn every_column_round_trips_its_name() {
    for &c in CsvColumn::ALL {
        assert_eq!(c.name().parse::<CsvColumn>().unwrap(), c);
        assert_eq!(c.to_string(), c.name());
    }
    let err = "Seq".parse::<CsvColumn>().unwrap_err();
    assert!(
        matches!(&err, auditkit::Error::Invalid { field, .. } if field == "column"),
        "{err}"
    );
    assert!(err.to_string().contains("\"Seq\""), "{err}");
    assert!(err.to_string().contains("occurred_at_local"), "{err}");
}

#[test]
fn bad_options_are_invalid_and_write_nothing() {
    let trail = AuditTrail::new(MemoryStore::new());
    record_sample(&trail);
    let cases = [
        (
            CsvOptions::new().zone("Europe/Berlinn"),
            "zone",
            "Europe/Berlinn",
        ),
        (
            CsvOptions::new().columns([CsvColumn::Seq, CsvColumn::RecordedAtLocal]),
            "columns",
            "recorded_at_local` needs a time zone",
        ),
        (CsvOptions::new().columns([]), "columns", "empty"),
        (
            CsvOptions::new().columns([CsvColumn::Seq, CsvColumn::Action, CsvColumn::Seq]),
            "columns",
            "`seq` is listed twice",
        ),
        (
            CsvOptions::new()
                .columns([CsvColumn::Seq])
                .request_context(true),
            "columns",
            "request_context",
        ),
    ];
    for (options, want_field, want_text) in cases {
        let mut out = Vec::new();
        let err = trail
            .export_csv_with(&Query::new(), &options, &mut out)
            .unwrap_err();
        assert!(
            matches!(&err, auditkit::Error::Invalid { field, .. } if field == want_field),
            "{err}"
        );
        assert!(err.to_string().contains(want_text), "{err}");
        assert!(out.is_empty(), "{err}: wrote {out:?}");
    }
    // A bad query writes nothing either, not a lone header.
    let mut out = Vec::new();
    let bad = Query::new().on_local_day(time::macros::date!(2026 - 03 - 28), "Mars/Olympus");
    let err = trail.export_csv(&bad, &mut out).unwrap_err();
    assert!(err.is_invalid(), "{err}");
    assert!(out.is_empty());
}

#[test]
fn local_day_exports_stream_every_page() {
    for (name, trail) in both() {
        // 2,500 events a minute apart from 23:00 UTC on 28 March: 29 March in Berlin (a
        // 23-hour day) holds the first 1,380 of them.
        let start = datetime!(2026-03-28 23:00 UTC);
        let batch: Vec<NewEvent> = (0..2_500)
            .map(|i| {
                NewEvent::new("booking.created").occurred_at(start + time::Duration::minutes(i))
            })
            .collect();
        trail.record_batch(batch).unwrap();
        let q = Query::new().on_local_day(time::macros::date!(2026 - 03 - 29), "Europe/Berlin");
        let options = CsvOptions::new()
            .zone("Europe/Berlin")
            .columns([CsvColumn::Seq, CsvColumn::OccurredAtLocal]);
        let mut out = Vec::new();
        assert_eq!(
            trail.export_csv_with(&q, &options, &mut out).unwrap(),
            1_380,
            "{name}"
        );
        let csv = String::from_utf8(out).unwrap();
        let local = column(&csv, "occurred_at_local");
        assert_eq!(local.len(), 1_380, "{name}");
        assert_eq!(
            local.last().unwrap(),
            "2026-03-29 00:00:00 +01:00",
            "{name}"
        );
        assert_eq!(local[0], "2026-03-29 23:59:00 +02:00", "{name}");
        assert_eq!(trail.count(&q).unwrap(), 1_380, "{name}");
    }
}
